"""Explanations from forward passes: maps and attributions find what the model looks at, and the sanity checks catch the rest."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import numpy_helper
from PIL import Image

from desktop.engine import Engine
from desktop.engine.errors import InputError
from desktop.engine.explain import kernel_shap, occlusion, randomised_copy, rise, sanity_check
from desktop.engine.explain.sanity import layer_count
from tests.explain_models import H, W, conv_model, linear_table_model, quadrant_model, tiny_detector, write_image


@pytest.fixture
def image_path(tmp_path):
    return write_image(tmp_path / "img.png")


def _top_left_first(m: np.ndarray):
    assert m.shape == (H, W)  # in the original image's pixels
    inside = m[: H // 2, : W // 2].mean()
    outside = np.concatenate([m[H // 2:].ravel(), m[: H // 2, W // 2:].ravel()]).mean()
    assert inside > outside
    return inside, outside


def test_occlusion_puts_the_region_that_matters_first(tmp_path, image_path):
    engine = Engine(str(quadrant_model(tmp_path / "q.onnx")))
    ex = occlusion(engine, image_path, target=1)
    assert ex.method == "occlusion" and ex.target == {"index": 1, "label": "on"}
    assert ex.params["patch"] == 4 and ex.params["stride"] == 2  # 1/8 of 32, then half of it
    inside, outside = _top_left_first(ex.map)
    assert abs(outside) < 1e-3 < inside  # covering what the model ignores changes nothing
    assert not ex.cancelled and ex.done == ex.total
    d = json.loads(json.dumps(ex.to_dict()))
    assert d["params"]["baseline"] == "mean" and d["map_size"] == [W, H] and len(d["map"]) <= 32


def test_occlusion_on_a_model_fixed_at_batch_one(tmp_path, image_path):
    engine = Engine(str(quadrant_model(tmp_path / "q1.onnx", batch=1)))
    ex = occlusion(engine, image_path, target=1, patch=8, stride=8, baseline="blur")
    _top_left_first(ex.map)
    assert ex.total == 16


def test_rise_puts_the_region_that_matters_first_and_is_reproducible(tmp_path, image_path):
    # a gain of 6 on the logit: at n=500 the masks' own variance would drown a weak score change
    engine = Engine(str(quadrant_model(tmp_path / "q.onnx", gain=6.0)))
    seen = []
    ex = rise(engine, image_path, target="on", n=500, seed=3, progress=lambda d, t: seen.append((d, t)))
    _top_left_first(ex.map)
    assert 0.0 <= ex.map.min() and ex.map.max() <= 1.0
    assert seen[-1] == (500, 500) and ex.params["seed"] == 3 and ex.params["grid"] == 7
    again = rise(engine, image_path, target=1, n=500, seed=3, batch=7)  # another batch size: the same masks
    np.testing.assert_allclose(again.map, ex.map, atol=1e-5)


def test_a_stopped_explanation_comes_back_partial_and_marked(tmp_path, image_path):
    engine = Engine(str(quadrant_model(tmp_path / "q.onnx")))
    calls = iter(range(100))
    ex = rise(engine, image_path, target=1, n=500, batch=50, should_stop=lambda: next(calls) >= 2)
    assert ex.cancelled and ex.done == 100 and ex.total == 500
    assert ex.to_dict()["cancelled"] is True


def test_an_unknown_class_is_refused_plainly(tmp_path, image_path):
    engine = Engine(str(quadrant_model(tmp_path / "q.onnx")))
    with pytest.raises(InputError, match="no class 'cat'"):
        occlusion(engine, image_path, target="cat")


def test_deletion_auc_is_below_insertion_auc_and_randomising_destroys_the_map(tmp_path, image_path):
    path = conv_model(tmp_path / "c.onnx")
    engine = Engine(str(path))
    assert layer_count(path) == 3  # Gemm, the spatial Mul, Conv
    ex = occlusion(engine, image_path, target=1, patch=4, stride=4)
    _top_left_first(ex.map)
    report = sanity_check(engine, ex, steps=[1, 2, 3], seed=0)
    rhos = [step["rho"] for step in report["rank_correlation"]]
    assert [step["layers"] for step in report["rank_correlation"]] == [1, 2, 3]
    assert rhos[0] is not None and abs(rhos[0]) > 0.5  # the output layer alone: the region still shows
    assert abs(rhos[-1] or 0.0) < 0.3 < abs(rhos[0])  # every layer: the map is gone
    assert report["reliable"] and "depends on the model" in report["verdict"]
    assert report["deletion_auc"] < report["insertion_auc"]
    json.dumps(report)


def test_a_map_that_survives_randomisation_is_unreliable(tmp_path, image_path):
    # the only weight is a gain in front of the logit: randomised, it rescales the map but keeps its ranks
    engine = Engine(str(quadrant_model(tmp_path / "g.onnx", gain=1.0)))
    ex = occlusion(engine, image_path, target=1, patch=8, stride=8)
    report = sanity_check(engine, ex, auc=False)
    assert report["layers"] == 2 and not report["reliable"]  # the gain's Mul and the constant's Add
    assert report["verdict"].startswith("Unreliable")


def test_randomised_copy_starts_from_the_output_end(tmp_path):
    import onnx

    path = conv_model(tmp_path / "c.onnx")
    before = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    after = {t.name: numpy_helper.to_array(t)
             for t in onnx.load(randomised_copy(path, 1, seed=0, out_dir=tmp_path)).graph.initializer}
    changed = {n for n in before if not np.array_equal(before[n], after[n])}
    assert changed == {"gw", "gb"}
    assert after["gw"].shape == before["gw"].shape


def test_a_scikit_learn_model_has_its_attribute_weights_randomised(tmp_path):
    import onnx

    from tests.conftest import MODELS, SAMPLES

    model = MODELS / "breast_cancer.onnx"  # Scaler -> LinearClassifier, weights in node attributes
    assert layer_count(model) == 2
    copy = onnx.load(randomised_copy(model, 1, seed=0, out_dir=tmp_path))
    nodes = {n.op_type: n for n in onnx.load(str(model)).graph.node}
    again = {n.op_type: n for n in copy.graph.node}
    coefficients = [list(next(a.floats for a in d["LinearClassifier"].attribute if a.name == "coefficients"))
                    for d in (nodes, again)]
    assert coefficients[0] != coefficients[1]
    assert nodes["Scaler"] == again["Scaler"]  # the layer nearer the input waits for the next step
    engine = Engine(str(model))
    csv = str(SAMPLES / "breast_cancer.csv")
    ex = kernel_shap(engine, csv, 3, reference_rows=csv, n_samples=256, baselines=4)
    report = sanity_check(engine, ex)
    assert [s["layers"] for s in report["rank_correlation"]] == [1, 2]


def test_kernel_shap_ranks_the_feature_that_matters_first(tmp_path):
    engine, csv, data = linear_table_model(tmp_path, classify=True)
    ex = kernel_shap(engine, csv, 2, reference_rows=csv, seed=0, target="yes")
    assert ex.features[0][0] == "f3" and ex.target == {"index": 1, "label": "yes"}
    assert ex.params["exact"]  # 5 features: all 30 coalitions
    attributions = [a for _, _, a in ex.features]
    assert sum(attributions) == pytest.approx(ex.prediction - ex.base_value, abs=1e-9)  # efficiency
    assert max(abs(a) for a in attributions[1:]) < 1e-6
    assert ex.features[0][1] == pytest.approx(data[1, 3])
    json.dumps(ex.to_dict())


def test_kernel_shap_sampled_recovers_a_linear_model(tmp_path):
    engine, csv, data = linear_table_model(tmp_path, m=12, which=7)
    ex = kernel_shap(engine, csv, 5, reference_rows=data[10:], n_samples=512, baselines=8, seed=1)
    assert not ex.params["exact"] and ex.params["coalitions"] == 512
    assert ex.features[0][0] == "f7"
    assert sum(a for _, _, a in ex.features) == pytest.approx(ex.prediction - ex.base_value, abs=1e-9)
    by_name = dict((n, a) for n, _, a in ex.features)
    assert by_name["f7"] == pytest.approx(ex.prediction - ex.base_value, abs=1e-6)  # the only feature that moves it


def test_kernel_shap_attributions_are_destroyed_by_randomising(tmp_path):
    engine, csv, data = linear_table_model(tmp_path, m=6, which=1)
    ex = kernel_shap(engine, csv, 3, reference_rows=data)
    report = sanity_check(engine, ex)
    assert "deletion_auc" not in report and report["rank_correlation"][-1]["layers"] == 2
    assert abs(report["rank_correlation"][-1]["rho"] or 0.0) < 0.99  # other features now matter


def test_drise_puts_the_region_behind_the_box_first(tmp_path, image_path):
    from desktop.engine.explain import drise

    engine = Engine(str(tiny_detector(tmp_path / "det.onnx")))
    ex = drise(engine, image_path, 0, n=300, grid=7, seed=0)
    assert ex.method == "drise" and ex.target["label"] == "a"
    assert ex.target["box"] == pytest.approx([0, 0, W / 2, H / 2])  # in the original image's pixels
    _top_left_first(ex.map)
    boxed = occlusion(engine, image_path, patch=8, stride=8)  # a detector's default: its best box
    assert boxed.target["label"] == "a" and "box" in boxed.params
    _top_left_first(boxed.map)
    with pytest.raises(InputError, match="no box 5"):
        drise(engine, image_path, 5, n=10)


def test_drise_on_the_bundled_layout_detector_maps_the_page(tmp_path):
    """A real PicoDet (batch fixed at 1, 800×608 input): a few masks only, for the plumbing, not the map."""
    from desktop.engine import run_batch
    from desktop.engine.explain import drise
    from tests.conftest import MODELS, SAMPLES

    engine = Engine(str(MODELS / "layout_cdla.onnx"))
    page = str(SAMPLES / "layout" / "report_page.png")
    first = next(iter(run_batch(engine, [page]))).detections[0]
    ex = drise(engine, page, first, n=4, grid=16)
    with Image.open(page) as img:
        assert ex.map.shape == (img.height, img.width)
    assert ex.target["box"] == pytest.approx(list(first.box), abs=1e-3) and ex.done == 4
