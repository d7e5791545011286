"""``inferdesk score`` counts the results marked for review when the profile sets review_below."""

from __future__ import annotations

import json
import re

from desktop.cli import main
from tests.conftest import MODELS, SAMPLES


def _profile(tmp_path, **extra):
    raw = json.loads((MODELS / "digits.profile.json").read_text(encoding="utf-8"))
    raw.update(extra)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


def test_the_summary_counts_results_for_review(tmp_path, capsys):
    code = main(["score", str(MODELS / "digits.onnx"), str(SAMPLES / "digits"), "--profile",
                 str(_profile(tmp_path, review_below=0.999999))])
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines() if line.strip()]
    expected = sum(r["review"] for r in records)
    assert code == 0 and 0 < expected < len(records)
    assert re.search(rf"{len(records)} scored \({expected} for review: top score under 0\.999999, the profile's "
                     r"review_below\), 0 failed", captured.err), captured.err


def test_without_review_below_the_summary_is_as_before(tmp_path, capsys):
    assert main(["score", str(MODELS / "digits.onnx"), str(SAMPLES / "digits"), "--profile",
                 str(_profile(tmp_path))]) == 0
    err = capsys.readouterr().err
    assert "for review" not in err and re.search(r"\d+ scored, 0 failed", err)
