"""The writers: csv columns and cells, jsonl and json records, provenance sidecars, from hand-made ResultBatches."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from desktop.engine import writers
from desktop.engine.resultbatch import NO_ROW, ResultBatch

LABELS = ["cat", "dog", "eel"]


def cls_batch(scores, *, ok=None, errors=None, k=2, path="data.csv", rows=None, outputs=None, maps=None,
              passthrough=None, timings=None, sha="ab" * 32, output_names=None, shared=None):
    """A classification batch over ``scores`` (n, 3): top-k columns, the scores as output 'probs'."""
    scores = np.asarray(scores, dtype=np.float32)
    n = len(scores)
    wide = scores.astype(np.float64)
    order = (-wide).argsort(axis=1, kind="stable")[:, :k]
    outputs = {"probs": scores} if outputs is None else outputs
    return ResultBatch(
        task="classification", position=np.arange(n), source=np.zeros(n), row=np.arange(1, n + 1) if rows is None
        else rows, ok=np.ones(n, bool) if ok is None else ok,
        timings=np.tile([0.25, 0.0, 0.0123456, 0.001], (n, 1)) if timings is None else timings,
        sources=[path], source_kinds=["table"], source_sha256=[sha], errors=errors,
        answer={"top_col": order.astype(np.int32), "top_score": wide[np.arange(n)[:, None], order]},
        meta={"labels": LABELS, "indices": [0, 1, 2]}, outputs=outputs, maps=maps, passthrough=passthrough,
        output_names=list(outputs) + list(maps or {}) if output_names is None else output_names, shared=shared)


def write_csv(batches, **kw) -> str:
    buf = io.StringIO()
    w = writers.CsvWriter(buf, **kw)
    for b in batches:
        w.write(b)
    w.close()
    return buf.getvalue()


def rows_of(text, delimiter=","):
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


SCORES = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]]


def test_csv_columns_in_order_with_at_most_k_pairs_and_true_false():
    text = write_csv([cls_batch(SCORES, passthrough={"patient_id": ["P1", "P2", "P3"]})])
    header, *body = rows_of(text)
    assert header == ["input", "row", "ok", "error", "label", "score", "label_2", "score_2",
                      "probs[0]", "probs[1]", "probs[2]", "patient_id",
                      "decode_ms", "preprocess_ms", "infer_ms", "postprocess_ms", "total_ms", "saved_input",
                      "input_sha256"]
    assert len(body) == 3
    first = dict(zip(header, body[0]))
    assert first["ok"] == "true" and first["error"] == "" and first["row"] == "1"
    assert (first["label"], first["label_2"]) == ("cat", "dog")
    assert first["score"] == repr(float(np.float32(0.7))) == first["probs[0]"]
    assert first["patient_id"] == "P1" and first["input_sha256"] == "ab" * 32
    assert (first["decode_ms"], first["infer_ms"], first["total_ms"]) == ("0.25", "0.0123", "0.2633")
    assert [r[header.index("label")] for r in body] == ["cat", "eel", "dog"]
    assert text.endswith("\r\n") and "True" not in text


def test_failed_rows_leave_answer_and_outputs_empty_but_keep_their_identity():
    ok = np.array([True, False, True])
    t = np.tile([0.25, 0.5, 0.75, 1.0], (3, 1))
    t[1, 2:] = 0
    b = cls_batch(SCORES, ok=ok, errors={1: "data.csv: row 2, column 'x': 'abc' is not a number"}, timings=t,
                  passthrough={"patient_id": ["P1", "P2", "P3"]})
    header, *body = rows_of(write_csv([b]))
    bad = dict(zip(header, body[1]))
    assert bad["ok"] == "false" and bad["error"].startswith("data.csv: row 2, column 'x'")
    for col in ("label", "score", "label_2", "score_2", "probs[0]", "probs[1]", "probs[2]"):
        assert bad[col] == "", col
    assert bad["patient_id"] == "P2" and bad["row"] == "2" and bad["input"] == "data.csv"
    assert (bad["decode_ms"], bad["infer_ms"], bad["total_ms"]) == ("0.25", "0.0", "0.75")
    assert dict(zip(header, body[2]))["label"] == "dog" and dict(zip(header, body[2]))["total_ms"] == "2.5"


def test_columns_come_from_the_first_scored_batch_not_the_first_item():
    failed = ResultBatch.failed("classification", 0, "broken.png", "image", "broken.png: not an image")
    header, *body = rows_of(write_csv([failed, cls_batch(SCORES[:1])]))
    assert header[4:11] == ["label", "score", "label_2", "score_2", "probs[0]", "probs[1]", "probs[2]"]
    assert [r[0] for r in body] == ["broken.png", "data.csv"]  # in run order
    assert body[0][2] == "false" and body[0][1] == "" and set(body[0][4:11]) == {""}
    only_failures = rows_of(write_csv([failed]))
    assert only_failures[0] == list(writers.HEAD_COLUMNS + writers.TAIL_COLUMNS)
    assert only_failures[1][3] == "broken.png: not an image"


def test_clashing_output_and_passthrough_names_are_prefixed_only_where_they_clash():
    scores = np.asarray(SCORES, np.float32)
    outputs = {"label": np.array([0, 2, 1], np.int64), "score": scores[:, :1], "probs": scores}
    b = cls_batch(SCORES, outputs=outputs,
                  passthrough={"row": ["a", "b", "c"], "label": ["x", "y", "z"], "patient_id": ["1", "2", "3"],
                               "output.label": ["p", "q", "r"]})
    header, *body = rows_of(write_csv([b]))
    assert len(header) == len(set(header))
    assert header[:8] == ["input", "row", "ok", "error", "label", "score", "label_2", "score_2"]
    assert header[8:12] == ["output.label", "output.score", "probs[0]", "probs[1]"]
    assert header[13:17] == ["input.row", "input.label", "patient_id", "input.output.label"]
    first = dict(zip(header, body[0]))
    assert first["row"] == "1" and first["input.row"] == "a" and first["output.label"] == "0"
    assert first["label"] == "cat" and first["input.label"] == "x" and first["input.output.label"] == "p"


def test_floats_round_trip_exactly():
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.standard_normal(500) * 10.0 ** rng.integers(-30, 30, 500),
                             [0.0, -0.0, 1.0, 1e16, 1e-5, 5e-324, np.inf, -np.inf, np.nan, 0.1]])
    n = len(values)
    b = ResultBatch(task="regression", position=np.arange(n), source=np.zeros(n), row=np.arange(1, n + 1),
                    ok=np.ones(n, bool), timings=np.zeros((n, 4)), sources=["r.csv"], source_kinds=["table"],
                    answer={"values": values[:, None]}, outputs={"y": values.astype(np.float32)},
                    output_names=["y"])
    header, *body = rows_of(write_csv([b]))
    assert header[4:6] == ["value", "y"]
    for v, row in zip(values.tolist(), body):
        assert row[4] == repr(v)
        got = float(row[4])
        assert (math.isnan(v) and math.isnan(got)) or (got == v and math.copysign(1, got) == math.copysign(1, v))
        assert float(row[5]) == float(np.float32(v)) or (math.isnan(v) and row[5] == "nan")


def test_reused_float_text_is_the_text_of_the_same_value():
    # the top score equals one of the probabilities in each row: the writer reuses that text, which must be exact
    rng = np.random.default_rng(3)
    p = rng.random((5000, 3)).astype(np.float32)
    p[::7, 1] = -0.0
    p[::5, 2] = 0.0
    header, *body = rows_of(write_csv([cls_batch(p, k=3)]))
    wide = p.astype(np.float64)
    for i, row in enumerate(body):
        cells = dict(zip(header, row))
        for j in range(3):
            assert cells[f"probs[{j}]"] == repr(float(wide[i, j]))
        top = sorted(range(3), key=lambda c: -wide[i, c])  # ties keep column order, as argsort(stable)
        assert cells["score"] == repr(float(wide[i, top[0]])) and cells["label"] == LABELS[top[0]]


def test_quoting_labels_paths_errors_and_passthrough():
    b = cls_batch(SCORES, path='C:\\data\\ward 3, "morning".csv', ok=np.array([True, False, True]),
                  errors={1: 'bad value "1,5"\nline 3'}, passthrough={"note": ["a,b", 'say "hi"', "plain"]})
    b.meta = {"labels": ["cat, big", 'dog "rex"', "eel"], "indices": [0, 1, 2]}
    header, *body = rows_of(write_csv([b]))
    cells = [dict(zip(header, r)) for r in body]
    assert cells[0]["input"] == 'C:\\data\\ward 3, "morning".csv'
    assert cells[0]["label"] == "cat, big" and cells[2]["label"] == 'dog "rex"'
    assert cells[1]["error"] == 'bad value "1,5"\nline 3'
    assert [c["note"] for c in cells] == ["a,b", 'say "hi"', "plain"]


def test_tsv_by_extension(tmp_path):
    path = tmp_path / "out.tsv"
    assert writers.export([cls_batch(SCORES, passthrough={"note": ["a\tb", "c", "d"]})], path) == 3
    rows = rows_of(path.read_text(encoding="utf-8"), delimiter="\t")
    assert rows[0][:3] == ["input", "row", "ok"] and rows[1][rows[0].index("note")] == "a\tb"


def test_outputs_flattened_summarised_mapped_and_shared():
    n = 2
    outputs = {"one": np.array([[1.5], [2.5]], np.float32), "grid": np.arange(12, dtype=np.int32).reshape(2, 2, 3),
               "boxes": np.zeros((2, 84, 8400), np.float32), "flag": np.array([True, False])}
    maps = {"zip": (["b", "a"], np.array([[0.25, 0.75], [0.5, 0.5]]))}
    b = cls_batch(SCORES[:n], outputs=outputs, maps=maps, shared={"version": np.array([3, 4], np.int64)},
                  output_names=["one", "grid", "boxes", "zip", "flag", "version"])
    header, *body = rows_of(write_csv([b]))
    out_cols = header[8:header.index("decode_ms")]
    assert out_cols == ["one", "grid[0,0]", "grid[0,1]", "grid[0,2]", "grid[1,0]", "grid[1,1]", "grid[1,2]",
                        "boxes", "zip[b]", "zip[a]", "flag", "version[0]", "version[1]"]
    second = dict(zip(header, body[1]))
    assert second["one"] == "2.5" and second["grid[1,2]"] == "11" and second["boxes"] == "<float32 84x8400>"
    assert (second["zip[b]"], second["zip[a]"]) == ("0.5", "0.5") and second["flag"] == "false"
    assert (second["version[0]"], second["version[1]"]) == ("3", "4")


def test_later_batches_fill_the_first_batches_columns():
    first = cls_batch(SCORES[:2], maps={"zip": (["a", "b"], np.array([[0.25, 0.75], [0.5, 0.5]]))})
    later = cls_batch(SCORES[2:], maps={"zip": (["b", "c"], np.array([[0.125, 0.875]]))},
                      passthrough={"patient_id": ["P3"]})
    header, *body = rows_of(write_csv([first, later]))
    assert "patient_id" not in header  # decided by the first batch
    last = dict(zip(header, body[2]))
    assert (last["zip[a]"], last["zip[b]"]) == ("", "0.125")


def test_ragged_outputs_are_written_item_by_item():
    col = np.empty(3, dtype=object)
    col[0], col[1], col[2] = np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0]), np.array([6.0, 7.0])
    header, *body = rows_of(write_csv([cls_batch(SCORES, outputs={"r": col})]))
    cells = [dict(zip(header, r)) for r in body]
    assert [(c["r[0]"], c["r[1]"]) for c in cells] == [("1.0", "2.0"), ("", ""), ("6.0", "7.0")]


def test_images_have_no_row_and_each_their_own_hash():
    n = 3
    b = ResultBatch(task="raw", position=np.arange(n), source=[0, 1, 2], row=[NO_ROW] * n, ok=[True] * n,
                    timings=np.arange(12, dtype=float).reshape(3, 4) / 7, sources=["a.png", "b.png", "c.png"],
                    source_kinds=["image"] * 3, source_sha256=["1" * 64, None, "3" * 64],
                    outputs={"y": np.array([1, 2, 3], np.uint8)}, output_names=["y"],
                    saved_input={1: "seen/b.npy"})
    header, *body = rows_of(write_csv([b]))
    cells = [dict(zip(header, r)) for r in body]
    assert [c["row"] for c in cells] == ["", "", ""] and [c["input"] for c in cells] == ["a.png", "b.png", "c.png"]
    assert [c["input_sha256"] for c in cells] == ["1" * 64, "", "3" * 64]
    assert [c["saved_input"] for c in cells] == ["", "seen/b.npy", ""]
    assert [c["y"] for c in cells] == ["1", "2", "3"]
    assert cells[2]["decode_ms"] == repr(round(8 / 7, 4))


def test_long_batches_with_repeating_columns_match_short_ones():
    # runs of equal values are formatted once; the text must not depend on how a column was made
    rng = np.random.default_rng(0)
    n = 4000
    p = rng.random((n, 3)).astype(np.float32)
    t = np.repeat(rng.random((4, 4)), n // 4, axis=0)
    ok = np.ones(n, bool)
    ok[[5, 6, 1999, 3999]] = False
    big = cls_batch(p, ok=ok, timings=t, errors={i: f"e{i}" for i in np.flatnonzero(~ok).tolist()},
                    outputs={"probs": p, "cls": np.repeat(np.arange(4), n // 4)})
    one_by_one = [big.take(np.array([i])) for i in range(n)]
    assert write_csv([big]) == write_csv(one_by_one)


def test_jsonl_is_the_record_plus_the_input_hash():
    b = cls_batch(SCORES, ok=np.array([True, False, True]), errors={1: "nope"},
                  passthrough={"patient_id": ["P1", "P2", "P3"]})
    buf = io.StringIO()
    w = writers.JsonlWriter(buf)
    w.write(b)
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert len(lines) == 3 and w.rows == 3
    for i, rec in enumerate(lines):
        assert rec.pop("input_sha256") == "ab" * 32
        assert rec == json.loads(json.dumps(b.record(i)))
    assert lines[1]["ok"] is False and lines[1]["top"] == [] and lines[1]["passthrough"] == {"patient_id": "P2"}


def test_json_document_has_provenance_then_results():
    prov = writers.provenance(run_id="r1", started_at="then", model_file="m.onnx", model_sha256="c" * 64,
                              profile_sha256="d" * 64, exported_by="test")
    buf = io.StringIO()
    w = writers.JsonWriter(buf, prov)
    w.write(cls_batch(SCORES[:2]))
    w.write(cls_batch(SCORES[2:]))
    w.close()
    doc = json.loads(buf.getvalue())
    assert list(doc) == ["provenance", "results"] and doc["provenance"] == prov
    assert [r["top"][0]["label"] for r in doc["results"]] == ["cat", "eel", "dog"]
    empty = io.StringIO()
    writers.JsonWriter(empty, prov).close()
    assert json.loads(empty.getvalue())["results"] == []


def test_export_writes_a_provenance_sidecar_for_csv_and_jsonl_and_appends(tmp_path):
    prov = writers.provenance(run_id="r1", started_at="then", model_file="m.onnx", model_sha256="c" * 64,
                              profile_sha256="d" * 64, exported_by="test")
    out = tmp_path / "out.csv"
    assert writers.export([cls_batch(SCORES)], out, provenance=prov) == 3
    side = json.loads((tmp_path / "out.csv.provenance.json").read_text())
    assert side["run_id"] == "r1" and side["model"] == {"file_name": "m.onnx", "sha256": "c" * 64}
    assert side["rows"] == 3 and side["format"] == "csv" and side["file"] == "out.csv"
    assert side["columns"] == rows_of(out.read_text())[0]
    assert {"app_version", "exported_at", "run_started_at", "profile_sha256"} <= set(side)
    assert writers.export([cls_batch(SCORES[:1])], out, provenance=prov, append=True) == 1
    rows = rows_of(out.read_text())
    assert len(rows) == 5 and rows.count(rows[0]) == 1  # one header
    assert json.loads((tmp_path / "out.csv.provenance.json").read_text())["rows"] == 4
    jl = tmp_path / "out.jsonl"
    writers.export([cls_batch(SCORES)], jl, provenance=prov)
    assert json.loads((tmp_path / "out.jsonl.provenance.json").read_text())["format"] == "jsonl"
    js = tmp_path / "out.json"
    writers.export([cls_batch(SCORES)], js, provenance=prov)
    assert not (tmp_path / "out.json.provenance.json").exists()
    assert json.loads(js.read_text())["provenance"] == prov
    with pytest.raises(ValueError):
        writers.export([cls_batch(SCORES)], js, append=True)


def test_export_to_an_open_file_writes_no_sidecar(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    buf = io.StringIO()
    assert writers.export([cls_batch(SCORES)], buf, "csv") == 3
    assert rows_of(buf.getvalue())[0][0] == "input" and list(tmp_path.iterdir()) == []


def test_format_for_extension():
    assert [writers.format_for(p) for p in ("a.csv", "b.TSV", "c.jsonl", "d.json", "e.ndjson", "f")] == [
        "csv", "csv", "jsonl", "json", "jsonl", "json"]


def test_background_writer_writes_in_order_and_hands_back_errors():
    buf = io.StringIO()
    w = writers.BackgroundWriter(writers.CsvWriter(buf), buf)
    batches = [cls_batch(SCORES, rows=np.arange(1, 4) + 3 * k) for k in range(20)]
    for b in batches:
        w.write(b)
    w.close()
    assert buf.getvalue() == write_csv(batches) and w.rows == 60

    class Full(io.StringIO):
        def write(self, text):
            raise OSError(28, "No space left on device")

    full = Full()
    w = writers.BackgroundWriter(writers.JsonlWriter(full), full)
    w.write(cls_batch(SCORES))
    with pytest.raises(OSError, match="No space"):
        for _ in range(100):  # raised by a later write once the thread has met it, else by close
            w.write(cls_batch(SCORES))
        w.close()
    w.close()  # after the error was handed over: nothing left to raise


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_a_writing_process_writes_what_the_writer_thread_writes(tmp_path, fmt):
    batches = [cls_batch([[0.25, 0.75], [0.9, 0.1]]), cls_batch([[0.5, 0.5]], ok=[False], errors={0: "data.csv: bad"})]
    thread_out = tmp_path / f"thread.{fmt}"
    with open(thread_out, "w", encoding="utf-8", newline="") as fh:
        w = writers.BackgroundWriter(writers.open_writer(fmt, fh, {"run_id": "r1"}), fh)
        for b in batches:
            w.write(b)
        w.close()
    proc = writers.ProcessWriter(fmt, tmp_path / f"process.{fmt}", "w", {"run_id": "r1"})
    for b in batches:
        proc.write(b)
    proc.close()
    assert (tmp_path / f"process.{fmt}").read_bytes() == thread_out.read_bytes()
    assert proc.rows == w.rows == 3 and proc.columns == w.columns


def test_a_writing_process_reports_a_full_disk_and_a_missing_folder(tmp_path):
    full = writers.ProcessWriter("csv", "/dev/full", "w")
    with pytest.raises(OSError) as caught:
        try:
            for _ in range(50):  # the error comes back with a later write, or at close
                full.write(cls_batch([[0.25, 0.75]] * 2000))
        finally:
            full.close()
    assert caught.value.errno == 28  # ENOSPC: no space left on device
    missing = writers.ProcessWriter("csv", tmp_path / "no" / "such" / "out.csv", "w")
    with pytest.raises(OSError) as caught:
        try:
            missing.write(cls_batch([[0.25, 0.75]]))
        finally:
            missing.close()
    assert "No such file or directory" in str(caught.value)


def test_a_program_that_never_closes_its_writing_process_still_exits(tmp_path):
    """The writing process ignores SIGTERM (the parent ends the run); multiprocessing's exit hook
    sends SIGTERM to a daemonic child and then waits for it, so an unclosed writer hung the exit."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    script = ("from desktop.engine import writers\n"
              f"w = writers.ProcessWriter('jsonl', {str(tmp_path / 'out.jsonl')!r}, 'w')\n"
              "import time; time.sleep(3)\n"  # the child is running, and ignoring SIGTERM
              "print('left open')\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "left open\n", done.stderr
