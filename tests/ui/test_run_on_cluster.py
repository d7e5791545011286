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
    with qtbot.waitSignal(window.run_finished, timeout=150000):
        window.start_run(cluster="local:2")
    assert window.results.total == 10
    run_id = window.controller.shown.run_id
    with ResultStore(window.controller.store_path) as store:
        meta = store.run_metadata(run_id)
        batch = ResultBatch.concat(list(store.batches(run_id)))
        assert store.run(run_id).status == "finished"
    assert meta["output"]["cluster"] == "local:2"
    assert batch.hosts and batch.n_ok == 10 and batch.record(0)["worker"]
    assert window.controller.clusters._cluster is not None  # kept for the next run, closed with the window
