"""One run, exported three ways (score --out, history export, the window's export): the same columns and values."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil

import numpy as np
import pytest
from onnx import TensorProto, helper

from desktop.cli import main
from desktop.engine import Engine, run_batch, writers
from desktop.engine.store import ResultStore
from desktop.runs.export import export as window_export
from tests.conftest import MODELS, SAMPLES, make_model

VARYING = ("exported_at", "exported_by", "file")  # what differs between two exports of one run


@pytest.fixture
def cancer_csv(tmp_path):
    """The sample CSV (patient_id and diagnosis are not features) with one row that cannot be scored."""
    lines = (SAMPLES / "breast_cancer.csv").read_text(encoding="utf-8").splitlines()
    cells = lines[3].split(",")
    cells[1] = "abc"
    lines[3] = ",".join(cells)
    path = tmp_path / "ward, 3.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def digits_folder(tmp_path):
    folder = tmp_path / "scans"
    shutil.copytree(SAMPLES / "digits", folder)
    (folder / "digit_5_zz_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    return folder


def _scenario(name, cancer_csv, digits_folder):
    if name == "table":
        return MODELS / "breast_cancer.onnx", [cancer_csv]
    if name == "images":
        return MODELS / "digits.onnx", [digits_folder]
    return MODELS / "breast_cancer.onnx", [cancer_csv, digits_folder]  # the images fail: wrong kind of input


def _newest_run() -> str:
    with ResultStore() as store:
        return store.runs(1)[0].id


def _sidecar(path):
    with open(writers.sidecar_path(path), encoding="utf-8") as fh:
        doc = json.load(fh)
    return {k: v for k, v in doc.items() if k not in VARYING}


@pytest.mark.parametrize("scenario", ["table", "images", "mixed"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_score_history_and_window_exports_agree(scenario, fmt, cancer_csv, digits_folder, tmp_path, capsys):
    model, inputs = _scenario(scenario, cancer_csv, digits_folder)
    scored, history, window = (tmp_path / f"{who}.{fmt}" for who in ("score", "history", "window"))
    assert main(["score", str(model), *map(str, inputs), "--format", fmt, "--out", str(scored), "-q"]) == 1
    run_id = _newest_run()
    assert main(["history", "export", run_id, "--format", fmt, "--out", str(history)]) == 0
    with ResultStore() as store:
        batches = list(store.batches(run_id))
        prov = writers.run_provenance(store.run_metadata(run_id), "InferDesk window")
    assert window_export(batches, window, prov) == sum(len(b) for b in batches)
    capsys.readouterr()

    texts = [p.read_text(encoding="utf-8") for p in (scored, history, window)]
    if fmt == "json":
        docs = [json.loads(t) for t in texts]
        assert docs[0]["results"] == docs[1]["results"] == docs[2]["results"]
        heads = [{k: v for k, v in d["provenance"].items() if k not in VARYING} for d in docs]
        assert heads[0] == heads[1] == heads[2] and heads[0]["run_id"] == run_id
        records = docs[0]["results"]
    else:
        assert texts[0] == texts[1] == texts[2]
        assert _sidecar(scored) == _sidecar(history) == _sidecar(window)
        side = _sidecar(scored)
        assert side["run_id"] == run_id and side["rows"] == sum(len(b) for b in batches)
        assert side["model"]["file_name"] == model.name and len(side["model"]["sha256"]) == 64
        records = None
    if fmt == "csv":
        header, *rows = list(csv.reader(io.StringIO(texts[0], newline="")))
        assert len(header) == len(set(header)) and len(rows) == side["rows"]
        cells = [dict(zip(header, r)) for r in rows]
        assert {c["ok"] for c in cells} == {"true", "false"}
        bad = [c for c in cells if c["ok"] == "false"]
        assert bad and all(c["error"] and c["label"] == "" and c["score"] == "" for c in bad)
        good = next(c for c in cells if c["ok"] == "true")
        assert float(good["score"]) > 0 and good["input_sha256"] == hashlib.sha256(
            open(good["input"], "rb").read()).hexdigest()
        if scenario != "images":
            assert "label_3" not in header  # a two-class model: two label/score pairs, even with --top-k 5
            assert header[header.index("error") + 1:header.index("error") + 5] == ["label", "score", "label_2",
                                                                                  "score_2"]
    if records is None and fmt == "jsonl":
        records = [json.loads(line) for line in texts[0].splitlines()]
    if records is not None:
        assert any(not r["ok"] for r in records) and all({"input", "row", "ok", "error", "outputs", "top",
                                                          "timings_ms"} <= set(r) for r in records)


def test_passthrough_columns_in_every_export(cancer_csv, tmp_path, capsys):
    model = MODELS / "breast_cancer.onnx"
    for fmt in ("csv", "jsonl", "json"):
        out = tmp_path / f"score.{fmt}"
        main(["score", str(model), str(cancer_csv), "--format", fmt, "--out", str(out), "-q"])
        text = out.read_text(encoding="utf-8")
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(text, newline="")))
            assert [r["patient_id"] for r in rows[:3]] == ["P0001", "P0002", "P0003"]  # the failed row too
        else:
            recs = json.loads(text)["results"] if fmt == "json" else [json.loads(x) for x in text.splitlines()]
            assert [r["passthrough"]["patient_id"] for r in recs[:3]] == ["P0001", "P0002", "P0003"]


def test_header_line_names_the_csv_columns_that_are_not_features(cancer_csv, capsys):
    main(["score", str(MODELS / "breast_cancer.onnx"), str(cancer_csv), "--no-history"])
    header = capsys.readouterr().err.splitlines()[0]
    assert "ward, 3.csv: " in header and "patient_id" in header and "diagnosis" in header


def test_an_output_called_label_does_not_clash(tmp_path, capsys):
    model = make_model(
        tmp_path / "labelled.onnx",
        [helper.make_node("Softmax", ["features"], ["probabilities"], axis=1),
         helper.make_node("ArgMax", ["features"], ["label"], axis=1, keepdims=0)],
        [("features", TensorProto.FLOAT, ["N", 3])],
        [("probabilities", TensorProto.FLOAT, ["N", 3]), ("label", TensorProto.INT64, ["N"])],
        metadata={"labels": '["red", "green", "blue"]'})
    data = tmp_path / "x.csv"
    data.write_text("a,b,c\n1,5,2\n9,0,0\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    assert main(["score", str(model), str(data), "--format", "csv", "--out", str(out), "-q", "--top-k", "5"]) == 0
    header, *rows = list(csv.reader(open(out, newline="", encoding="utf-8")))
    assert header.count("label") == 1 and "output.label" in header and "label_3" in header
    assert "label_4" not in header  # three classes: three pairs
    cells = [dict(zip(header, r)) for r in rows]
    assert [(c["label"], c["output.label"]) for c in cells] == [("green", "1"), ("red", "0")]
    assert [c["probabilities[1]"] for c in cells][0] == cells[0]["score"]


def test_score_jsonl_keeps_every_field_and_value_of_the_record(digits_folder, tmp_path, capsys):
    model = MODELS / "digits.onnx"
    out = tmp_path / "out.jsonl"
    assert main(["score", str(model), str(digits_folder), "--out", str(out), "-q", "--top-k", "3"]) == 1
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    want = [r.to_json() for r in run_batch(Engine(model), [str(digits_folder)], top_k=3)]
    assert len(got) == len(want) == 11
    for g, w in zip(got, want):
        sha = g.pop("input_sha256", None)  # added: the history hashes every input
        if g["ok"]:
            assert sha == hashlib.sha256(open(g["input"], "rb").read()).hexdigest()
        assert list(g) == list(w)
        assert set(g["timings_ms"]) == set(w["timings_ms"])
        g.pop("timings_ms"), w.pop("timings_ms")  # measured again: not the same numbers
        assert g == json.loads(json.dumps(w))
    assert main(["score", str(model), str(digits_folder), "--no-history", "-q", "--top-k", "3"]) == 1
    plain = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all("input_sha256" not in r for r in plain) and len(plain) == 11


def test_stdout_gets_no_sidecar_and_json_is_one_document(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["score", str(MODELS / "breast_cancer.onnx"), str(SAMPLES / "breast_cancer.csv"),
                 "--format", "json", "-q"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["provenance"]["model"]["file_name"] == "breast_cancer.onnx" and len(doc["results"]) == 20
    assert doc["provenance"]["run_id"] == _newest_run() and doc["provenance"]["run_started_at"]
    assert list(tmp_path.iterdir()) == []
    assert main(["score", str(MODELS / "breast_cancer.onnx"), str(SAMPLES / "breast_cancer.csv"),
                 "--format", "csv", "--no-history", "-q"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out, newline="")))
    assert len(rows) == 20 and rows[0]["input_sha256"] == "" and np.isclose(
        float(rows[0]["score"]) + float(rows[0]["score_2"]), 1.0)


def test_resume_appends_to_the_csv_and_matches_the_history(monkeypatch, tmp_path, capsys):
    import itertools

    import desktop.engine.batch as batch_module

    real = batch_module.run_batches

    def interrupted(engine, items, **options):  # two chunks of five rows, then Ctrl+C
        yield from itertools.islice(real(engine, items, chunk_rows=5, **options), 2)
        raise KeyboardInterrupt

    out = tmp_path / "out.csv"
    model, data = MODELS / "breast_cancer.onnx", SAMPLES / "breast_cancer.csv"
    monkeypatch.setattr(batch_module, "run_batches", interrupted)
    assert main(["score", str(model), str(data), "--format", "csv", "--out", str(out), "-q"]) == 130
    monkeypatch.setattr(batch_module, "run_batches", real)
    run_id = _newest_run()
    assert len(out.read_text(encoding="utf-8").splitlines()) == 11
    assert main(["resume", run_id, "--format", "csv", "--out", str(out), "-q"]) == 0
    rows = list(csv.reader(open(out, newline="", encoding="utf-8")))
    assert rows[0][0] == "input" and [r[1] for r in rows[1:]] == [str(i) for i in range(1, 21)]  # one header
    assert _sidecar(out)["rows"] == 20 and _sidecar(out)["run_id"] == run_id
    history = tmp_path / "history.csv"
    assert main(["history", "export", run_id, "--format", "csv", "--out", str(history)]) == 0
    assert history.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_a_large_run_written_by_a_writing_process_reads_the_same(cancer_csv, tmp_path, monkeypatch, fmt):
    """Large CSV inputs get a writing process started before the model loads: the file is the same."""
    import desktop.cli as cli

    model = MODELS / "breast_cancer.onnx"
    by_thread, by_process = tmp_path / f"thread.{fmt}", tmp_path / f"process.{fmt}"
    assert main(["score", str(model), str(cancer_csv), "--format", fmt, "--out", str(by_thread), "-q",
                 "--no-history"]) == 1
    monkeypatch.setattr(cli, "PROCESS_WRITER_BYTES", 0)
    started = []
    real_start = writers.ProcessWriter.start
    monkeypatch.setattr(writers.ProcessWriter, "start", classmethod(lambda cls: started.append(1) or real_start()))
    assert main(["score", str(model), str(cancer_csv), "--format", fmt, "--out", str(by_process), "-q",
                 "--no-history"]) == 1
    assert started == [1]

    def without_timings(text):
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(text, newline="")))
            return [{k: v for k, v in r.items() if not k.endswith("_ms")} for r in rows]
        recs = json.loads(text)["results"] if fmt == "json" else [json.loads(x) for x in text.splitlines()]
        return [{k: v for k, v in r.items() if k != "timings_ms"} for r in recs]

    assert without_timings(by_process.read_text(encoding="utf-8")) == without_timings(by_thread.read_text(encoding="utf-8"))
    sidecar = json.loads(open(writers.sidecar_path(by_process)).read()) if fmt != "json" else None
    assert sidecar is None or sidecar["rows"] == 20


def test_a_writing_process_started_for_a_model_that_cannot_load_ends_cleanly(cancer_csv, tmp_path, monkeypatch,
                                                                             capsys):
    import desktop.cli as cli

    monkeypatch.setattr(cli, "PROCESS_WRITER_BYTES", 0)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    out = tmp_path / "out.csv"
    assert main(["score", str(bad), str(cancer_csv), "--format", "csv", "--out", str(out), "-q"]) == 2
    assert not out.exists() and "bad.onnx" in capsys.readouterr().err


def test_header_line_follows_the_profiles_passthrough_choice(cancer_csv, tmp_path, capsys):
    profile = json.loads((MODELS / "breast_cancer.profile.json").read_text())
    profile["table"]["passthrough"] = ["patient_id"]
    path = tmp_path / "keep_id.profile.json"
    path.write_text(json.dumps(profile))
    out = tmp_path / "out.csv"
    main(["score", str(MODELS / "breast_cancer.onnx"), str(cancer_csv), "--profile", str(path), "--no-history",
          "--format", "csv", "--out", str(out)])
    header = capsys.readouterr().err.splitlines()[0]
    assert "pass-through patient_id; ignored diagnosis" in header
    columns = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert "patient_id" in columns and "diagnosis" not in columns
