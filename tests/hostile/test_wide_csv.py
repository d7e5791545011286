"""A CSV of 20,000 columns of which the model needs three: memory follows the needed columns, not the width."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.hostile.conftest import peak_memory

COLUMNS = 20_000
ROWS = 1_000


def _wide_csv(path, quoted: bool = False):
    """id, a, b, c, then 19,996 columns of zeros: about 40 MB. ``quoted``: one cell in quotes."""
    filler = ",0" * (COLUMNS - 4)
    with open(path, "w", newline="") as fh:
        fh.write("id,a,b,c," + ",".join(f"x{i}" for i in range(COLUMNS - 4)) + "\n")
        for r in range(ROWS):
            first = '"P0"' if quoted and r == 0 else f"P{r}"
            fh.write(f"{first},1,2,{r}{filler}\n")
    return path


@pytest.fixture
def model(corpus, tmp_path):
    """sum3.onnx with a profile that passes the id through (and nothing else)."""
    path = shutil.copy(corpus["models/sum3.onnx"], tmp_path / "sum3.onnx")
    (tmp_path / "sum3.profile.json").write_text(json.dumps(
        {"input": "features", "task": "regression", "table": {"columns": ["a", "b", "c"], "passthrough": ["id"]}}))
    return path


@pytest.fixture
def warm(tmp_path):
    """A narrow CSV over SMALL_FILE_BYTES: scoring it first imports pandas, before memory is measured."""
    path = tmp_path / "warm.csv"
    path.write_text("id,a,b,c\n" + "P,1,2,3\n" * 140_000)
    return path


@pytest.mark.parametrize("quoted", [False, True], ids=["pandas", "csv-module"])
def test_a_wide_csv_is_read_in_memory_well_under_its_size(model, warm, tmp_path, quoted):
    # a quoted cell sends the file to the csv module (a quote may hide a delimiter or a line break)
    wide = _wide_csv(tmp_path / "wide.csv", quoted)
    size_mb = wide.stat().st_size / 1e6
    got = peak_memory(model, warm, [wide], timeout=300)
    results = got["results"]
    assert [(r["row"], r["ok"], r["values"]) for r in results] == [(r + 1, True, [3.0 + r]) for r in range(ROWS)]
    # every column read as text held 28 times the file's size; the three features and the id are small
    assert got["growth_mb"] < 0.5 * size_mb, (got["growth_mb"], size_mb)
