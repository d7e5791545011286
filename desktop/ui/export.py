"""Export results to CSV or JSON with the command line's fields (no Qt)."""

from __future__ import annotations

import csv
import json
import os

from desktop.engine.results import STAGES


def export_json(results, path, lines: bool | None = None) -> int:
    """Write each Result's ``to_json()`` record (the CLI's jsonl); ``.jsonl`` gives one per line, else a list."""
    if lines is None:
        lines = str(path).lower().endswith(".jsonl")
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        if lines:
            for r in results:
                fh.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
        else:
            json.dump([r.to_json() for r in results], fh, ensure_ascii=False, indent=1)
            fh.write("\n")
    return len(results)


def csv_columns(records, top_k: int) -> list[str]:
    cols = ["input", "row", "ok", "error", "label", "score"]
    for k in range(2, top_k + 1):
        cols += [f"label_{k}", f"score_{k}"]
    n_values = max((len(r.get("values") or []) for r in records), default=0)
    cols += ["value"] if n_values == 1 else [f"value_{i + 1}" for i in range(n_values)]
    cols += [f"{s}_ms" for s in STAGES] + ["total_ms"]
    return cols


def csv_row(record: dict) -> dict:
    """One CSV row from a ``to_json()`` record: full precision, empty cells where there is nothing."""
    row = {"input": record["input"], "row": "" if record["row"] is None else record["row"], "ok": record["ok"],
           "error": record["error"] or ""}
    for k, p in enumerate(record["top"], start=1):
        row["label" if k == 1 else f"label_{k}"] = p["label"]
        row["score" if k == 1 else f"score_{k}"] = p["score"]
    values = record.get("values") or []
    if len(values) == 1:
        row["value"] = values[0]
    else:
        for i, v in enumerate(values):
            row[f"value_{i + 1}"] = v
    t = record["timings_ms"]
    for s in STAGES:
        row[f"{s}_ms"] = t[s]
    row["total_ms"] = round(sum(t[s] for s in STAGES), 4)
    return row


def export_csv(results, path, top_k: int | None = None) -> int:
    """Write one CSV row per Result: input, row, ok, error, top-k labels and scores, values, stage timings."""
    records = [r.to_json() for r in results]
    top_k = top_k or max((len(r["top"]) for r in records), default=1) or 1
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=csv_columns(records, top_k), extrasaction="ignore")
        writer.writeheader()
        for rec in records:
            writer.writerow(csv_row(rec))
    return len(records)


def export(results, path) -> int:
    """CSV for ``.csv``, else JSON (``.jsonl`` one record per line)."""
    ext = os.path.splitext(str(path))[1].lower()
    return export_csv(results, path) if ext in (".csv", ".tsv") else export_json(results, path)
