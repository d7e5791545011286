"""Scoring on a Dask LocalCluster: the same answers as a local run, faults, resume, a worker that cannot load."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import onnx
import pytest

from desktop.engine import Engine
from desktop.engine.batch import run_batches
from desktop.engine.cluster import Cluster, ClusterError, parse_address, plan_partitions, run_cluster_batches
from desktop.engine.inputs import expand_inputs
from desktop.engine.inputs.tabular import TableReader, count_rows, span_piece, table_spans
from desktop.engine.resultbatch import ResultBatch
from desktop.engine.store import ResultStore
from tests.conftest import MODELS, SAMPLES, table_model


def _csv(path, rows=700, seed=0, bad=True):
    """A CSV with the sum model's three features, a pass-through id, and the rows a user's file has wrong."""
    rng = np.random.default_rng(seed)
    lines = ["a,b,c,id"]
    for i in range(rows):
        a, b, c = rng.normal(size=3)
        if bad and i % 97 == 13:
            lines.append(f"{a:.9g},not a number,{c:.9g},r{i}")
        elif bad and i % 131 == 7:
            lines.append(f"{a:.9g}")  # cells missing
        elif bad and i % 89 == 5:
            lines.append("")  # a blank line: not a row
        elif bad and i % 113 == 3:
            lines.append(f'{a:.9g},{b:.9g},{c:.9g},"r{i}\nsecond line"')  # a quoted line break
        else:
            lines.append(f"{a:.9g},{b:.9g},{c:.9g},r{i}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _same(a: ResultBatch, b: ResultBatch) -> None:
    """Bit for bit: positions, inputs, rows, ok, messages, answers and outputs (not the timings)."""
    assert len(a) == len(b)
    assert a.position.tolist() == b.position.tolist()
    assert [a.input_of(i) for i in range(len(a))] == [b.input_of(i) for i in range(len(b))]
    assert a.row.tolist() == b.row.tolist()
    assert a.ok.tolist() == b.ok.tolist()
    assert a.errors == b.errors
    assert sorted(a.answer) == sorted(b.answer)
    for k in a.answer:
        assert np.array_equal(a.answer[k], b.answer[k]), k
    assert sorted(a.outputs) == sorted(b.outputs)
    for k in a.outputs:
        assert a.outputs[k].dtype == b.outputs[k].dtype and np.array_equal(a.outputs[k], b.outputs[k]), k
    assert a.passthrough == b.passthrough


# ------------------------------------------------------------------------------------------ no cluster needed

def test_spans_cut_whole_records_and_number_the_rows(tmp_path):
    path = _csv(tmp_path / "t.csv", rows=500)
    spans = table_spans(path, 64)
    raw = path.read_bytes()
    assert sum(s.rows for s in spans) == count_rows(path)
    assert spans[0].start == spans[0].header_end == raw.index(b"\n") + 1
    for s, t in zip(spans, spans[1:]):
        assert s.stop == t.start and t.first_row == s.first_row + s.rows
        assert raw[:t.start].count(b"\n") == t.lines_before
    assert spans[-1].stop == len(raw)
    # each piece is read as the rows of the whole file it came from, with their numbers and messages
    with TableReader(path, ["a", "b", "c"], 3) as whole:
        want = [(r, e) for c in whole.chunks(1000) for r, e in zip(c.rows, c.errors)]
    got = []
    for s in spans:
        piece = tmp_path / "piece" / "t.csv"
        piece.parent.mkdir(exist_ok=True)
        span_piece(path, s, piece)
        with TableReader(piece, ["a", "b", "c"], 3, first_row=s.first_row, parser="csv") as reader:
            got += [(r, e) for c in reader.chunks(1000) for r, e in zip(c.rows, c.errors)]
    assert got == want
    assert any(e and "line" in e for _, e in want)  # the messages name lines, which the pieces kept


def test_spans_of_a_file_with_a_byte_order_mark_and_no_header(tmp_path):
    path = tmp_path / "n.csv"
    path.write_bytes(b"\xef\xbb\xbf" + b"".join(b"%d,%d,%d\r\n" % (i, i, i) for i in range(10)))
    spans = table_spans(path, 4, header=False)
    assert [s.rows for s in spans] == [4, 4, 2]
    assert spans[0].start == spans[0].header_end == 0  # the first piece keeps the mark, which readers skip
    rows = []
    for s in spans:
        piece = tmp_path / "p" / "n.csv"
        piece.parent.mkdir(exist_ok=True)
        span_piece(path, s, piece)
        with TableReader(piece, None, 3, first_row=s.first_row, parser="csv", encoding="utf-8-sig") as reader:
            rows += [(r, v.tolist()) for c in reader.chunks() for r, v in zip(c.rows, c.values)]
    assert rows == [(i + 1, [float(i)] * 3) for i in range(10)]


def test_parse_address():
    assert parse_address("local:3").workers == 3
    assert parse_address("tcp://10.0.0.5:8786").address == "tcp://10.0.0.5:8786"
    assert parse_address("scheduler.example.org:8786").address == "scheduler.example.org:8786"
    for bad in ("local:0", "local:two", "my cluster", ""):
        with pytest.raises(ClusterError, match="local:N"):
            parse_address(bad)


def test_plan_skips_what_a_resume_has(tmp_path, sum_model):
    engine = Engine(sum_model)
    path = _csv(tmp_path / "t.csv", rows=300, bad=False)
    items = expand_inputs([str(path)])
    parts = plan_partitions(engine, items, plugin="p", span_rows=100)
    assert [p.span.rows for p in parts] == [100, 100, 100]
    skip = {(str(path), r) for r in range(1, 151)}
    parts = plan_partitions(engine, items, plugin="p", skip=skip, span_rows=100)
    assert [p.units for p in parts] == [50, 100]  # the first span done, half the second
    assert all(p.table == str(path) for p in parts)


# ------------------------------------------------------------------------------------------ a LocalCluster

@pytest.fixture(scope="module")
def cluster():
    with Cluster("local:2") as c:
        yield c


def test_csv_on_the_cluster_equals_a_local_run(tmp_path, sum_model, cluster):
    engine = Engine(sum_model)
    path = _csv(tmp_path / "t.csv", rows=900)
    items = expand_inputs([str(path)])
    local = ResultBatch.concat(list(run_batches(engine, items)))
    seen = []
    batches = list(run_cluster_batches(cluster, engine, items, span_rows=100,
                                       progress=lambda done, total: seen.append((done, total))))
    got = ResultBatch.concat(batches)
    _same(local, got)
    assert 5 < got.n_failed < 40 and got.n_ok > 800  # the bad rows failed, each with its own message
    assert got.hosts and all(got.worker_of(i) for i in range(len(got)))
    assert got.record(0)["worker"] == got.hosts[0]
    assert seen[-1][0] == seen[-1][1] == sum(i.rows for i in items)


def test_a_csv_read_by_pandas_on_the_cluster_equals_a_local_run(tmp_path, sum_model, cluster, monkeypatch):
    # a large file's reader (pandas' C parser) for this small one, here and (told by the plan) on the workers
    monkeypatch.setattr("desktop.engine.inputs.tabular.SMALL_FILE_BYTES", 1000)
    engine = Engine(sum_model)
    path = _csv(tmp_path / "t.csv", rows=3000)
    items = expand_inputs([str(path)])
    local = ResultBatch.concat(list(run_batches(engine, items)))
    parts = plan_partitions(engine, items, plugin="p", span_rows=500)
    assert {p.reader["parser"] for p in parts} == {"pandas"}
    got = ResultBatch.concat(list(run_cluster_batches(cluster, engine, items, span_rows=500)))
    _same(local, got)
    assert 20 < got.n_failed < 100 and got.n_ok > 2800
    assert "line" in got.errors[int(np.flatnonzero(~got.ok)[-1])]


def test_images_on_the_cluster_equal_a_local_run(cluster):
    engine = Engine(MODELS / "digits.onnx")
    items = expand_inputs([str(SAMPLES / "digits")])
    local = ResultBatch.concat(list(run_batches(engine, items, hash_inputs=True)))
    got = ResultBatch.concat(list(run_cluster_batches(cluster, engine, items, hash_inputs=True,
                                                      files_per_partition=3)))
    _same(local, got)
    assert got.source_sha256 == local.source_sha256


def test_a_worker_killed_mid_run_loses_and_doubles_nothing(tmp_path, sum_model, cluster):
    engine = Engine(sum_model)
    path = _csv(tmp_path / "t.csv", rows=3000, bad=False)
    items = expand_inputs([str(path)])
    local = ResultBatch.concat(list(run_batches(engine, items)))
    pids = cluster.client.run(os.getpid)  # {worker address: its process}
    victim = sorted(pids.values())[0]
    store = ResultStore(tmp_path / "h.db")
    recorder = store.start_run(engine, [str(path)], total=3000)
    killed = False
    for k, batch in enumerate(run_cluster_batches(cluster, engine, items, span_rows=50)):
        recorder.add_batch(batch)
        recorder.commit()
        if k == 2 and not killed:
            os.kill(victim, signal.SIGKILL)  # its partitions in flight are run again by the other worker
            killed = True
    recorder.finish()
    stored = ResultBatch.concat(list(store.batches(recorder.run_id)))
    assert killed
    _same(local, stored.replace(host=None, hosts=()))
    assert len(store.done_keys(recorder.run_id)) == 3000
    assert store.verify().ok
    store.close()
    cluster.wait_for_workers(2, timeout_s=60)  # the nanny starts it again, for the tests after this one


def test_an_interrupted_cluster_run_resumes(tmp_path, sum_model, cluster, monkeypatch):
    from desktop import cli

    engine = Engine(sum_model)
    path = _csv(tmp_path / "t.csv", rows=600)
    items = expand_inputs([str(path)])
    store = ResultStore()
    recorder = store.start_run(engine, [str(path)], total=sum(i.rows for i in items),
                               output={"format": "jsonl", "top_k": 5, "cluster": cluster.address})
    for k, batch in enumerate(run_cluster_batches(cluster, engine, items, span_rows=100)):
        recorder.add_batch(batch)
        if k == 2:
            break
    recorder.commit()
    recorder.finish("cancelled")
    run_id = recorder.run_id
    store.close()
    out = tmp_path / "rest.jsonl"
    monkeypatch.setattr("desktop.engine.cluster.SPAN_ROWS", 100)
    assert cli.main(["resume", run_id, "--out", str(out), "--quiet"]) in (0, 1)  # 1: the bad rows failed
    with ResultStore() as again:
        stored = ResultBatch.concat(list(again.batches(run_id)))
        assert again.run(run_id).status == "finished"
    local = ResultBatch.concat(list(run_batches(engine, items)))
    stored_rows = stored.row.tolist()
    assert sorted(stored_rows) == sorted(local.row.tolist()) and len(set(stored_rows)) == len(stored_rows)
    order = np.argsort(stored.row, kind="stable")
    _same(local.replace(position=np.arange(len(local))),
          stored.take(order).replace(position=np.arange(len(stored)), host=None, hosts=()))


def test_a_worker_that_cannot_load_the_model_fails_the_run_with_its_message(tmp_path, cluster):
    from onnx import helper, numpy_helper, TensorProto

    w = numpy_helper.from_array(np.ones((3, 1), dtype=np.float32), "w")
    model = helper.make_model(helper.make_graph(
        [helper.make_node("MatMul", ["features", "w"], ["variable"])], "g",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, ["N", 1])], [w]),
        opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path = tmp_path / "ext.onnx"
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin",
              size_threshold=0)
    engine = Engine(path)
    (tmp_path / "w.bin").rename(tmp_path / "moved.bin")  # the workers read the model from its path: gone
    rows = _csv(tmp_path / "t.csv", rows=10, bad=False)
    with pytest.raises(ClusterError, match=r"worker \S+ \(tcp://.*cannot load ext\.onnx"):
        list(run_cluster_batches(cluster, engine, expand_inputs([str(rows)])))


def test_a_stop_cancels_what_is_in_flight(tmp_path, sum_model, cluster):
    engine = Engine(sum_model)
    path = _csv(tmp_path / "t.csv", rows=2000, bad=False)
    got = []
    for batch in run_cluster_batches(cluster, engine, expand_inputs([str(path)]), span_rows=100,
                                     should_stop=lambda: len(got) >= 2):
        got.append(batch)
    assert len(got) == 2
    assert ResultBatch.concat(got).row.tolist() == list(range(1, 201))


def test_a_csv_gone_before_the_workers_read_it_fails_each_span_with_its_reason(tmp_path, sum_model, cluster,
                                                                              monkeypatch):
    import desktop.engine.cluster as cl

    engine = Engine(sum_model)
    path = _csv(tmp_path / "gone.csv", rows=300, bad=False)
    planned = cl.plan_partitions

    def plan_then_delete(*args, **kwargs):
        parts = planned(*args, **kwargs)
        path.unlink()  # the share went away after the run was planned
        return parts

    monkeypatch.setattr(cl, "plan_partitions", plan_then_delete)
    got = ResultBatch.concat(list(run_cluster_batches(cluster, engine, expand_inputs([str(path)]), span_rows=100)))
    assert got.n_ok == 0 and len(got) == 3
    assert [got.errors[i] for i in range(3)] == [
        f"gone.csv: rows {a:,}-{b:,} cannot be read on worker {got.worker_of(i)} (No such file or directory)"
        for i, (a, b) in enumerate(((1, 100), (101, 200), (201, 300)))]
