"""``inferdesk --self-test``: score every bundled sample model's sample inputs and compare with stored answers.

It needs no window and imports no Qt, so it runs the same from a checkout, an installed
package or a frozen PyInstaller bundle (where the samples sit under ``sys._MEIPASS``).
The expected answers live in ``resources/samples/expected/<model>.json``; regenerate them
with ``python -m desktop.selftest --write-expected`` after changing a sample model or input.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

# model file -> (sample inputs relative to the resource root, tolerance). scene.onnx has untrained
# but fixed weights, so its outputs are deterministic; a deeper network sums more terms, hence the
# looser tolerance. A detector's answer is its detections (label, score, box), not its raw outputs:
# box_px is how far a box side may move (original-image pixels), score how far a score.
SAMPLES = {
    "digits.onnx": (["resources/samples/digits"], {"rtol": 1e-4, "atol": 1e-5}),
    "breast_cancer.onnx": (["resources/samples/breast_cancer.csv"], {"rtol": 1e-4, "atol": 1e-5}),
    "diabetes.onnx": (["resources/samples/diabetes.csv"], {"rtol": 1e-4, "atol": 1e-5}),
    "scene.onnx": (["resources/samples/photos"], {"rtol": 1e-3, "atol": 1e-4}),
    "layout_cdla.onnx": (["resources/samples/layout"], {"box_px": 0.5, "score": 1e-3}),
}
EXPECTED_DIR = "resources/samples/expected"
FORMAT = 1


class Mismatch(Exception):
    """One item's answer differs from the stored one; the message says how."""


def _root(root) -> Path:
    if root is not None:
        return Path(root)
    from .resources import resource_root

    return resource_root()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rel(path: str, root: Path) -> str:
    p = Path(path).resolve()
    try:
        return p.relative_to(root.resolve()).as_posix()
    except ValueError:
        return p.as_posix()


def _score(root: Path, model: str, inputs: list[str]) -> list[dict]:
    """Score one model's samples: a list of plain records, in input order.

    Each is the part of the command line's jsonl record (the writers' projection) that the
    expected answers keep: input (relative to the root), row, ok, and the error or the
    outputs, the top label and the values; for a detector, its detections instead of the outputs.
    """
    from .engine import Engine, SessionSettings, writers
    from .engine.batch import run_batches

    engine = Engine(str(root / "models" / model), settings=SessionSettings(provider="CPUExecutionProvider", threads=1))
    records = []
    for batch in run_batches(engine, [str(root / i) for i in inputs], top_k=1, workers=0):
        records += [_kept(rec, root) for rec in writers.records(batch)]
    return records


def _kept(record: dict, root: Path) -> dict:
    rec = {"input": _rel(record["input"], root), "row": record["row"], "ok": record["ok"]}
    if not record["ok"]:
        rec["error"] = record["error"]
        return rec
    if "detections" in record:  # a detector's raw outputs are large and say less than its boxes
        rec["detections"] = [{"label": d["label"], "score": d["score"], "box": d["box"]}
                             for d in record["detections"]]
        return rec
    rec["outputs"] = record["outputs"]
    if record["top"]:
        rec["top"] = {"label": record["top"][0]["label"], "score": record["top"][0]["score"]}
    if record.get("values"):
        rec["values"] = record["values"]
    return rec


def write_expected(root=None) -> list[Path]:
    """Score every sample model and write ``resources/samples/expected/<model>.json``; return the paths."""
    root = _root(root)
    out_dir = root / EXPECTED_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for model, (inputs, tol) in SAMPLES.items():
        records = _score(root, model, inputs)
        bad = [r for r in records if not r["ok"]]
        if bad:
            raise RuntimeError(f"{model}: {bad[0]['input']}: {bad[0].get('error')}")
        doc = {"format": FORMAT, "model": model, "sha256": _sha256(root / "models" / model),
               "inputs": inputs, "tolerance": tol, "items": records}
        path = out_dir / (Path(model).stem + ".json")
        path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


def _close(a, b, rtol, atol) -> bool:
    if a is None or b is None:
        return a is b
    return abs(float(a) - float(b)) <= atol + rtol * abs(float(b))  # numpy.isclose's rule


def _compare_value(expected, got, where: str, rtol: float, atol: float):
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(expected) != set(got):
            raise Mismatch(f"{where}: expected keys {sorted(expected)}, got {sorted(got) if isinstance(got, dict) else type(got).__name__}")
        for k in expected:
            _compare_value(expected[k], got[k], f"{where}[{k}]", rtol, atol)
        return
    if isinstance(expected, list):
        if not isinstance(got, list) or len(expected) != len(got):
            raise Mismatch(f"{where}: expected {len(expected)} values, got "
                           f"{len(got) if isinstance(got, list) else type(got).__name__}")
        for i, (e, g) in enumerate(zip(expected, got)):
            _compare_value(e, g, f"{where}[{i}]", rtol, atol)
        return
    if isinstance(expected, str) or isinstance(got, str):
        if expected != got:
            raise Mismatch(f"{where}: expected {expected!r}, got {got!r}")
        return
    if not _close(expected, got, rtol, atol):
        raise Mismatch(f"{where}: expected {expected:.6g}, got {got:.6g}" if None not in (expected, got)
                       else f"{where}: expected {expected}, got {got}")


def _name(rec: dict) -> str:
    base = rec["input"].rsplit("/", 1)[-1]
    return f"{base} row {rec['row']}" if rec.get("row") is not None else base


def _compare_detections(exp: list, got: list, name: str, box_px: float, score_tol: float):
    """Each expected detection has one of its own among ``got``: the same label, every box side within
    ``box_px`` and the score within ``score_tol``; none is left over. Matched nearest box first, so
    two detections that swap places in the score order still match."""
    if len(got) != len(exp):
        raise Mismatch(f"{name}: expected {len(exp)} detections, got {len(got)}")
    left = list(range(len(got)))
    for e in exp:
        same = [j for j in left if got[j]["label"] == e["label"]]
        if not same:
            raise Mismatch(f"{name}: expected a {e['label']!r} detection at {e['box']}, got none with that label")
        err = {j: max(abs(float(a) - float(b)) for a, b in zip(e["box"], got[j]["box"])) for j in same}
        j = min(same, key=err.get)
        g = got[j]
        if err[j] > box_px:
            raise Mismatch(f"{name}: expected {e['label']!r} at {e['box']}, the nearest is at {g['box']} "
                           f"({err[j]:.2f} px off, {box_px:g} allowed)")
        if abs(float(g["score"]) - float(e["score"])) > score_tol:
            raise Mismatch(f"{name}: expected {e['label']!r} at {e['box']} to score {e['score']:.4f}, "
                           f"got {g['score']:.4f}")
        left.remove(j)


def _compare_item(exp: dict, got: dict, rtol: float, atol: float, tol: dict | None = None):
    name = _name(exp)
    if not got["ok"]:
        raise Mismatch(f"{name}: could not be scored: {got.get('error')}")
    if "detections" in exp:
        tol = tol or {}
        _compare_detections(exp["detections"], got.get("detections", []), name,
                            float(tol.get("box_px", 0.5)), float(tol.get("score", 1e-3)))
    if "top" in exp:
        e, g = exp["top"], got.get("top")
        if g is None:
            raise Mismatch(f"{name}: expected label {e['label']!r}, got no label")
        if e["label"] != g["label"] or not _close(e["score"], g["score"], rtol, atol):
            raise Mismatch(f"{name}: expected {e['label']!r} {e['score']:.3f}, got {g['label']!r} {g['score']:.3f}")
    if "values" in exp:
        _compare_value(exp["values"], got.get("values", []), f"{name}: value", rtol, atol)
    for out, value in exp.get("outputs", {}).items():
        if out not in got.get("outputs", {}):
            raise Mismatch(f"{name}: output '{out}' is missing")
        _compare_value(value, got["outputs"][out], f"{name}: {out}", rtol, atol)


def check_model(root: Path, expected: dict) -> int:
    """Score one model's samples and compare; return the number of items checked or raise Mismatch."""
    model = expected["model"]
    path = root / "models" / model
    if not path.is_file():
        raise Mismatch(f"is missing from {root / 'models'}")
    if expected.get("sha256") and _sha256(path) != expected["sha256"]:
        raise Mismatch(f"differs from the model the expected results were made with "
                       f"(sha256 {_sha256(path)[:12]}…, expected {expected['sha256'][:12]}…; after rebuilding the "
                       f"samples, run python -m desktop.selftest --write-expected)")
    tol = expected.get("tolerance", {})
    rtol, atol = float(tol.get("rtol", 1e-4)), float(tol.get("atol", 1e-5))
    got = _score(root, model, expected["inputs"])
    want = expected["items"]
    by_key = {(g["input"], g["row"]): g for g in got}
    for exp in want:
        g = by_key.get((exp["input"], exp["row"]))
        if g is None:
            raise Mismatch(f"{_name(exp)}: not found among the scored samples")
        _compare_item(exp, g, rtol, atol, tol)
    if len(got) != len(want):
        extra = [g for g in got if (g["input"], g["row"]) not in {(e["input"], e["row"]) for e in want}]
        raise Mismatch(f"{len(got)} items scored but {len(want)} expected"
                       + (f" (unexpected: {_name(extra[0])})" if extra else ""))
    return len(want)


def check_scoring_process(root: Path, expected: dict) -> int:
    """Score one model's samples through the window's scoring child process; compare top labels.

    In a frozen app the child is the app's own executable started again, so this proves the
    bundle can score the way the window does (not only in-process).
    """
    from .engine import Engine, SessionSettings
    from .engine.service import Job, ScoringProcess

    engine = Engine(str(root / "models" / expected["model"]),
                    settings=SessionSettings(provider="CPUExecutionProvider", threads=1))
    job = Job(engine.model_path, engine.profile.to_dict(), engine.settings.to_dict(),
              [str(root / i) for i in expected["inputs"]], top_k=1, workers=1, record=False)
    service = ScoringProcess()
    got = []
    try:
        for msg in service.run(job):
            if msg[0] == "error":
                raise Mismatch(f"scoring process: {msg[1]}")
            got += _records_in(msg)
    finally:
        service.close()
    want = [e for e in expected["items"] if "top" in e]
    labels = {(_rel(r["input"], root), r["row"]): (r["top"][0]["label"] if r["top"] else None) for r in got}
    for exp in want:
        label = labels.get((exp["input"], exp["row"]))
        if label != exp["top"]["label"]:
            raise Mismatch(f"scoring process: {_name(exp)}: expected {exp['top']['label']!r}, got {label!r}")
    return len(want)


def _records_in(msg) -> list[dict]:
    """The jsonl records a scoring-process message carries: ResultBatches, or (Result, time) pairs."""
    from .engine import writers
    from .engine.resultbatch import ResultBatch

    found = []
    for part in msg[1:]:
        if isinstance(part, ResultBatch):
            found += list(writers.records(part))
        elif isinstance(part, list) and msg[0] == "results":
            for item in part:
                item = item[0] if isinstance(item, tuple) else item
                found += (list(writers.records(item)) if isinstance(item, ResultBatch) else [item.to_json()])
    return found


def run_self_test(root=None, out=None) -> int:
    """Check every bundled sample model against its expected results; print one line; return 0 or 1.

    Parameters
    ----------
    root
        The folder holding ``models/`` and ``resources/``; the bundle's or checkout's when None.
    out
        Where the verdict goes (standard output when None).

    Returns
    -------
    int
        0 when every model's outputs match, 1 otherwise.
    """
    out = out or sys.stdout
    t0 = time.perf_counter()
    try:
        root = _root(root)
        exp_dir = root / EXPECTED_DIR
        files = sorted(exp_dir.glob("*.json")) if exp_dir.is_dir() else []
        missing = [m for m in SAMPLES if not (exp_dir / (Path(m).stem + ".json")).is_file()]
        if missing:
            raise Mismatch(f"no expected results for {', '.join(missing)} in {exp_dir}")
        items = 0
        for f in files:
            try:
                expected = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise Mismatch(f"{f.name}: unreadable expected results ({exc})") from exc
            try:
                items += check_model(root, expected)
                if expected.get("model") == "digits.onnx":
                    check_scoring_process(root, expected)
            except Mismatch as exc:
                raise Mismatch(f"{expected.get('model', f.name)} {exc}") from exc
    except Mismatch as exc:
        out.write(f"self-test FAILED: {exc}\n")
        out.flush()
        return 1
    except Exception as exc:  # noqa: BLE001 - any crash is a failed self-test, said on one line
        out.write(f"self-test FAILED: {type(exc).__name__}: {exc}\n")
        out.flush()
        return 1
    out.write(f"self-test passed: {len(files)} models, {items} items, all match, also in a scoring process "
              f"({time.perf_counter() - t0:.1f} s)\n")
    out.flush()
    return 0


def main(argv=None) -> int:
    """``python -m desktop.selftest [--write-expected] [--root DIR]``."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m desktop.selftest", description=__doc__.splitlines()[0])
    p.add_argument("--write-expected", action="store_true", help="score the samples and (re)write the expected files")
    p.add_argument("--root", help="folder holding models/ and resources/ (default: this checkout or bundle)")
    args = p.parse_args(argv)
    if args.write_expected:
        for path in write_expected(args.root):
            print(f"wrote {path} ({path.stat().st_size:,} bytes)")
        return 0
    return run_self_test(args.root)


if __name__ == "__main__":
    sys.exit(main())
