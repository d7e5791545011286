"""Explanations from forward passes: maps and attributions find what the model looks at, and the sanity checks catch the rest."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from desktop.engine import Engine
from desktop.engine.errors import InputError
from desktop.engine.explain import kernel_shap, occlusion, randomised_copy, rise, sanity_check
from desktop.engine.explain.sanity import layer_count
from tests.conftest import make_model

F = TensorProto.FLOAT
W, H = 48, 40  # the test image (stretched to the model's 32×32)


def _profile(path, **extra):
    profile = {"input": "image", "task": "classification", "labels": ["off", "on"],
               "image": {"color": "RGB", "layout": "NCHW", "dtype": "float32",
                         "resize": {"mode": "stretch", "size": [32, 32], "interpolation": "bilinear"},
                         "scale": 1 / 255, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}}
    profile.update(extra)
    path.with_suffix(".profile.json").write_text(json.dumps(profile))


def _ints(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def _floats(name, values):
    return numpy_helper.from_array(np.asarray(values, dtype=np.float32), name)


def quadrant_model(path, batch="N", gain=None):
    """logit 'on' = mean of the input's top-left 16×16 (× ``gain``, an initialiser, when given); 'off' = 0.5."""
    nodes = [helper.make_node("Slice", ["image", "starts", "ends", "axes"], ["tl"]),
             helper.make_node("ReduceMean", ["tl"], ["m"], axes=[1, 2, 3], keepdims=1),  # (N, 1, 1, 1)
             helper.make_node("Reshape", ["m", "shape"], ["on0"])]
    inits = [_ints("starts", [0, 0]), _ints("ends", [16, 16]), _ints("axes", [2, 3]), _ints("shape", [-1, 1]),
             _floats("half", [0.5])]
    on = "on0"
    if gain is not None:
        nodes.append(helper.make_node("Mul", ["on0", "gain"], ["on"]))
        inits.append(_floats("gain", [gain]))
        on = "on"
    nodes += [helper.make_node("Mul", [on, "zero"], ["z"]), helper.make_node("Add", ["z", "half"], ["off"]),
              helper.make_node("Concat", ["off", on], ["logits"], axis=1)]
    inits.append(numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"))
    make_model(path, nodes, [("image", F, [batch, 3, 32, 32])], [("logits", F, [batch, 2])], inits)
    _profile(path)
    return path


def conv_model(path):
    """Conv 3→4 → Relu → × a spatial weight that is 1 on the top-left quadrant, 0 elsewhere → mean → Gemm → logits."""
    rng = np.random.default_rng(1)
    spatial = np.zeros((1, 1, 32, 32), dtype=np.float32)
    spatial[..., :16, :16] = 1
    gemm = np.zeros((4, 2), dtype=np.float32)
    gemm[:, 1] = 1.0
    nodes = [helper.make_node("Conv", ["image", "cw", "cb"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Mul", ["r", "spatial"], ["s"]),
             helper.make_node("ReduceMean", ["s"], ["f"], axes=[2, 3], keepdims=0),
             helper.make_node("Gemm", ["f", "gw", "gb"], ["logits"])]
    inits = [_floats("cw", np.abs(rng.normal(0, 0.3, (4, 3, 3, 3)))), _floats("cb", np.zeros(4)),
             _floats("spatial", spatial), _floats("gw", gemm), _floats("gb", [0.3, 0.0])]
    make_model(path, nodes, [("image", F, ["N", 3, 32, 32])], [("logits", F, ["N", 2])], inits)
    _profile(path)
    return path


@pytest.fixture
def image_path(tmp_path):
    """Bright in the top-left quarter, dark elsewhere, with some noise."""
    rng = np.random.default_rng(0)
    a = rng.integers(30, 70, (H, W, 3))
    a[: H // 2, : W // 2] = rng.integers(180, 230, (H // 2, W // 2, 3))
    path = tmp_path / "img.png"
    Image.fromarray(a.astype(np.uint8)).save(path)
    return str(path)


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


def linear_table_model(tmp_path, m=5, which=3, classify=False):
    """x [N, m] -> x @ w + b with only feature ``which`` weighted (a regressor), or logits [0, that] (a classifier)."""
    w = np.zeros((m, 2 if classify else 1), dtype=np.float32)
    w[which, -1] = 2.0
    b = np.array([0.0, -1.0] if classify else [0.5], dtype=np.float32)
    path = tmp_path / ("cls.onnx" if classify else "reg.onnx")
    make_model(path, [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
               [("x", F, ["N", m])], [("y", F, ["N", w.shape[1]])], [_floats("w", w), _floats("b", b)])
    columns = [f"f{j}" for j in range(m)]
    profile = {"input": "x", "task": "classification" if classify else "regression", "table": {"columns": columns}}
    if classify:
        profile["labels"] = ["no", "yes"]
    path.with_suffix(".profile.json").write_text(json.dumps(profile))
    rng = np.random.default_rng(0)
    data = rng.normal(0, 1, (40, m))
    csv = tmp_path / "rows.csv"
    csv.write_text(",".join(columns) + "\n" + "\n".join(",".join(f"{v:.4f}" for v in r) for r in data) + "\n")
    return Engine(str(path)), str(csv), np.round(data, 4)


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


def tiny_detector(path):
    """Two boxes (end2end rows x1, y1, x2, y2, score, class, in input pixels): class 0 over the top-left
    quadrant scoring the mean of its pixels, and class 1 over the bottom-right at a constant 0.3."""
    nodes = [helper.make_node("Slice", ["image", "starts", "ends", "axes"], ["tl"]),
             helper.make_node("ReduceMean", ["tl"], ["m4"], axes=[1, 2, 3], keepdims=1),
             helper.make_node("Reshape", ["m4", "shape"], ["m"]),  # (N, 1)
             helper.make_node("Mul", ["m", "zeros6"], ["z6"]),  # (N, 6) zeros, to broadcast the constants
             helper.make_node("Add", ["z6", "row_a"], ["a0"]),
             helper.make_node("Mul", ["m", "score_col"], ["a1"]),
             helper.make_node("Add", ["a0", "a1"], ["a"]),  # [0, 0, 16, 16, m, 0]
             helper.make_node("Add", ["z6", "row_b"], ["b"]),  # [16, 16, 32, 32, 0.3, 1]
             helper.make_node("Unsqueeze", ["a", "one"], ["a3"]),
             helper.make_node("Unsqueeze", ["b", "one"], ["b3"]),
             helper.make_node("Concat", ["a3", "b3"], ["output0"], axis=1)]
    inits = [_ints("starts", [0, 0]), _ints("ends", [16, 16]), _ints("axes", [2, 3]), _ints("shape", [-1, 1]),
             _ints("one", [1]), _floats("zeros6", np.zeros((1, 6))), _floats("row_a", [[0, 0, 16, 16, 0, 0]]),
             _floats("score_col", [[0, 0, 0, 0, 1, 0]]), _floats("row_b", [[16, 16, 32, 32, 0.3, 1]])]
    make_model(path, nodes, [("image", F, ["N", 3, 32, 32])], [("output0", F, ["N", 2, 6])], inits)
    _profile(path, task="detection", labels=["a", "b"], detection={"family": "end2end"})
    return path


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
