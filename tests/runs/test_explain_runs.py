"""The explanation use cases: generators that yield progress and return the explanation, stoppable from outside."""

from __future__ import annotations

import numpy as np
import pytest

from desktop.engine import Engine, run_batch
from desktop.engine.errors import InputError
from desktop.runs.explain import check_explanation, explain_result, run_to_end
from tests.explain_models import conv_model, linear_table_model, quadrant_model, tiny_detector, write_image


def test_explain_result_yields_progress_and_returns_the_map(tmp_path, drive):
    image = write_image(tmp_path / "img.png")
    engine = Engine(str(quadrant_model(tmp_path / "q.onnx")))
    result = next(iter(run_batch(engine, [image])))
    events, ex = drive(explain_result(engine, result, "rise", {"n": 128, "batch": 32, "target": 1}))
    assert events == [("progress", d, 128) for d in (32, 64, 96, 128)]
    assert ex.method == "rise" and ex.map.shape == (40, 48) and not ex.cancelled


def test_closing_the_generator_stops_the_work(tmp_path):
    image = write_image(tmp_path / "img.png")
    engine = Engine(str(quadrant_model(tmp_path / "q.onnx")))
    gen = explain_result(engine, image, "rise", {"n": 4000, "batch": 8})
    assert next(gen)[0] == "progress"
    gen.close()  # the worker's quit(): returns once the engine has stopped at its next batch


def test_should_stop_returns_the_partial_result(tmp_path):
    image = write_image(tmp_path / "img.png")
    engine = Engine(str(quadrant_model(tmp_path / "q.onnx")))
    seen = []
    gen = explain_result(engine, image, "occlusion", {"patch": 2, "stride": 2, "batch": 8},
                         should_stop=lambda: len(seen) >= 2)
    ex = run_to_end(gen, lambda d, t: seen.append(d))
    assert ex.cancelled and ex.done < ex.total


def test_a_detector_result_explains_its_box_and_checks_it(tmp_path):
    image = write_image(tmp_path / "img.png")
    engine = Engine(str(tiny_detector(tmp_path / "d.onnx")))
    result = next(iter(run_batch(engine, [image])))
    ex = run_to_end(explain_result(engine, result, "auto", {"n": 64}))
    assert ex.method == "drise" and ex.target["label"] == result.detections[0].label
    with pytest.raises(InputError, match="no box 9"):
        run_to_end(explain_result(engine, result, "drise", {"box": 9}))


def test_check_explanation_reports_the_cascade(tmp_path, drive):
    image = write_image(tmp_path / "img.png")
    engine = Engine(str(conv_model(tmp_path / "c.onnx")))
    ex = run_to_end(explain_result(engine, image, "occlusion", {"patch": 8, "stride": 8, "target": 1}))
    events, report = drive(check_explanation(engine, ex, {"steps": [1, "all"]}))
    assert events[-1] == ("progress", 2 * ex.total + 42, 2 * ex.total + 42)  # two re-runs, then 2 × 21 AUC copies
    assert report["cancelled"] is False
    assert [s["layers"] for s in report["rank_correlation"]] == [1, 3]


def test_a_csv_row_is_explained_by_kernel_shap_against_its_own_file(tmp_path):
    engine, csv, data = linear_table_model(tmp_path)
    result = [r for r in run_batch(engine, [csv]) if r.row == 4][0]
    ex = run_to_end(explain_result(engine, result, "auto", {}))
    assert ex.method == "kernelshap" and ex.row == 4 and ex.features[0][0] == "f3"
    assert ex.params["reference"] == csv
    assert np.isclose(sum(a for _, _, a in ex.features), ex.prediction - ex.base_value)


def test_a_check_stopped_midway_says_it_proved_nothing(tmp_path):
    image = write_image(tmp_path / "img.png")
    engine = Engine(str(conv_model(tmp_path / "c.onnx")))
    ex = run_to_end(explain_result(engine, image, "rise", {"n": 64, "batch": 16, "target": 1}))
    seen = []
    report = run_to_end(check_explanation(engine, ex, {"steps": [1, "all"]}, should_stop=lambda: len(seen) >= 6),
                        lambda d, t: seen.append(d))
    assert report["cancelled"] and len(report["rank_correlation"]) == 1  # stopped inside the second re-run
    assert not report["reliable"] and "stopped" in report["verdict"]


def test_a_failed_result_is_refused_plainly(tmp_path):
    import dataclasses

    image = write_image(tmp_path / "img.png")
    engine = Engine(str(quadrant_model(tmp_path / "q.onnx")))
    result = dataclasses.replace(next(iter(run_batch(engine, [image]))), ok=False, error="cannot read the image")
    with pytest.raises(InputError, match="img.png: this result failed .cannot read the image."):
        run_to_end(explain_result(engine, result))
