"""``inferdesk explain``: a map or attributions, written and printed; --check adds the sanity checks."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from desktop.cli import main
from tests.explain_models import conv_model, linear_table_model, quadrant_model, write_image


def test_explain_writes_the_map_in_original_pixels(tmp_path, capsys):
    image = write_image(tmp_path / "img.png")
    model = str(quadrant_model(tmp_path / "q.onnx"))
    out = tmp_path / "map.npy"
    assert main(["explain", model, image, "--method", "occlusion", "--target", "on", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "occlusion" in text and "target on (1)" in text
    m = np.load(out)
    assert m.shape == (40, 48) and m[:20, :24].mean() > m[20:].mean()
    png = tmp_path / "map.png"
    assert main(["explain", model, image, "--n", "64", "--out", str(png), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["method"] == "rise" and d["params"]["n"] == 64 and d["params"]["seed"] == 0
    assert Image.open(png).size == (48, 40)


def test_explain_check_reports_rank_correlation_and_aucs(tmp_path, capsys):
    image = write_image(tmp_path / "img.png")
    model = str(conv_model(tmp_path / "c.onnx"))
    assert main(["explain", model, image, "--method", "occlusion", "--patch", "8", "--target", "1", "--check",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["check"]["rank_correlation"] and "deletion_auc" in d["check"] and d["check"]["verdict"]


def test_explain_a_csv_row(tmp_path, capsys):
    engine, csv, _ = linear_table_model(tmp_path)
    assert main(["explain", engine.model_path, csv, "--row", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "kernelshap" in lines[0] and "row 3" in lines[0]
    assert lines[2].strip().startswith("f3")


def test_explain_refuses_a_method_that_does_not_fit_the_input(tmp_path, capsys):
    engine, csv, _ = linear_table_model(tmp_path)
    assert main(["explain", engine.model_path, csv, "--method", "rise"]) == 2
    assert "rise explains an image" in capsys.readouterr().err
    image = write_image(tmp_path / "img.png")
    assert main(["explain", engine.model_path, image]) == 2  # an image for a table model
    assert capsys.readouterr().err.startswith("inferdesk: ")
