"""Run ▸ Run on Cluster…: the dialog, and a run on the window's own local workers into Results and History."""

from __future__ import annotations

from desktop.engine.resultbatch import ResultBatch
from desktop.engine.store import ResultStore
from tests.ui.uihelpers import DIGITS_DIR, DIGITS_MODEL, load


def test_the_dialog_gives_local_or_a_scheduler(qtbot):
    from desktop.settings import Settings
    from desktop.ui.widgets.cluster_dialog import ClusterDialog

    s = Settings()
    d = ClusterDialog(s, "digits.onnx", 10)
    qtbot.addWidget(d)
    d.workers.setValue(3)
    assert d.address() == "local:3" and d.problem() is None
    d.remote.setChecked(True)
    assert d.problem() == "Type the scheduler's address, such as tcp://scheduler:8786."
    d.scheduler.setText("not an address")
    assert "scheduler's address" in d.problem()
    d.scheduler.setText("tcp://10.1.2.3:8786")
    assert d.problem() is None and d.address() == "tcp://10.1.2.3:8786"
    d.remember(s)
    assert (s.cluster_local, s.cluster_workers, s.cluster_address) == (False, 3, "tcp://10.1.2.3:8786")
    assert d.run_button.toolTip() and not d.workers.isEnabled()


def test_a_queue_scored_on_local_workers(window, qtbot):
    load(qtbot, window, DIGITS_MODEL, [DIGITS_DIR])
    assert window.act_cluster.isEnabled()
    with qtbot.waitSignal(window.run_finished, timeout=150000) as ended:
        window.start_run(cluster="local:2")
    assert window.results.total == 10
    assert ended.args[0]["cluster"] == "local:2: 2 workers on 1 host, 2 threads"
    assert window.statusBar().currentMessage().endswith("· on the cluster local:2: 2 workers on 1 host, 2 threads")
    run_id = window.controller.shown.run_id
    with ResultStore(window.controller.store_path) as store:
        meta = store.run_metadata(run_id)
        batch = ResultBatch.concat(list(store.batches(run_id)))
        assert store.run(run_id).status == "finished"
    assert meta["output"]["cluster"] == "local:2"
    assert batch.hosts and batch.n_ok == 10 and batch.record(0)["worker"]
    assert window.controller.clusters._cluster is not None  # kept for the next run, closed with the window
    qtbot.waitUntil(lambda: "Scored by the cluster worker on" in window.detail.timings.text(), timeout=5000)


def test_an_interrupted_cluster_run_resumes_on_its_cluster(qtbot, settings_file):
    import sqlite3

    from desktop.engine import Engine, run_batch
    from tests.ui.test_history import DEAD_PID, _new_window

    engine = Engine(DIGITS_MODEL)
    with ResultStore() as store:
        rec = store.start_run(engine, [str(DIGITS_DIR)], total=10, output={"top_k": 5, "cluster": "local:2"})
        for i, r in enumerate(run_batch(engine, [str(DIGITS_DIR)])):
            if i == 3:
                break
            rec.add(r)
        rec.commit()
    with sqlite3.connect(str(store.path)) as db:
        db.execute("UPDATE runs SET pid=? WHERE id=?", (DEAD_PID, rec.run_id))
    window = _new_window(qtbot, settings_file)
    try:
        with qtbot.waitSignal(window.run_finished, timeout=150000) as ended:
            window.banner.resume_button.click()
        assert ended.args[0]["done"] == 7 and not ended.args[0]["cancelled"]
        with ResultStore() as store:
            stored = ResultBatch.concat(list(store.batches(rec.run_id)))
            assert store.run(rec.run_id).status == "finished"
        assert len(stored) == 10 and len(set(stored.source.tolist())) == 10
        workers = [stored.worker_of(i) for i in range(10)]
        assert workers[3:] == [workers[3]] * 7 and workers[3]  # the rest was scored on the cluster's workers
    finally:
        window.close()
