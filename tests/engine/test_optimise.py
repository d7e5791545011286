"""The optimisation lab: variants of the bundled samples, compared with their originals against onnxruntime itself."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image, ImageOps

from desktop.cli import main
from desktop.engine import Cancelled, Engine
from desktop.engine.errors import InputError
from desktop.engine.optimise import (Comparison, Side, calibration_set_sha256, compare, make_variant, match_boxes,
                                     read_note, recommend_dynamic, suggest_keep_float, verdict)
from desktop.engine.results import Detection
from desktop.runs.optimise import make_variant_steps

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
SAMPLES = ROOT / "resources" / "samples"


def _copy_model(name: str, folder: Path) -> Path:
    for p in MODELS.glob(f"{name}.*"):
        if p.name in (f"{name}.onnx", f"{name}.profile.json"):
            shutil.copy(p, folder / p.name)
    return folder / f"{name}.onnx"


def _augmented(source: Path, folder: Path, pattern: str) -> Path:
    """The samples, each also mirrored, rotated a little and cropped: more items than the few bundled."""
    folder.mkdir()
    for p in sorted(source.glob(pattern)):
        img = Image.open(p)
        img.save(folder / f"{p.stem}_0.png")
        ImageOps.mirror(img).save(folder / f"{p.stem}_1.png")
        img.rotate(8).save(folder / f"{p.stem}_2.png")
        w, h = img.size
        img.crop((w // 10, h // 10, w - w // 10, h - h // 10)).resize((w, h)).save(folder / f"{p.stem}_3.png")
    return folder


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lab")
    return {"scene": _copy_model("scene", tmp), "digits": _copy_model("digits", tmp),
            "photos": _augmented(SAMPLES / "photos", tmp / "photos", "*.jpg"),
            "digit_images": _augmented(SAMPLES / "digits", tmp / "digit_images", "*.png")}


def _recomputed(engine, path_a, path_b, folder):
    """Top-1 agreement and max/mean absolute differences, straight from onnxruntime on the engine's tensors."""
    sa, sb = ort.InferenceSession(str(path_a)), ort.InferenceSession(str(path_b))
    name = sa.get_inputs()[0].name
    tops, diffs = [], []
    for p in sorted(Path(folder).iterdir()):
        x, _ = engine.preprocess(engine.load_image(str(p))[0])
        ya = sa.run(None, {name: x[None].astype(np.float32)})[0]
        yb = sb.run(None, {name: x[None].astype(np.float32)})[0]
        tops.append(int(np.argmax(ya)) == int(np.argmax(yb)))
        diffs.append(np.abs(ya.astype(np.float64) - yb.astype(np.float64)))
    d = np.concatenate([x.ravel() for x in diffs])
    return float(np.mean(tops)), float(d.max()), float(d.mean()), len(tops)


def _check_against_onnxruntime(c, engine, path_a, path_b, folder):
    agreement, largest, mean, n = _recomputed(engine, path_a, path_b, folder)
    assert c.n == n
    assert c.top1_agreement == pytest.approx(agreement)
    (out,) = c.outputs
    assert out["max_abs_diff"] == pytest.approx(largest, rel=1e-6, abs=1e-7)
    assert out["mean_abs_diff"] == pytest.approx(mean, rel=1e-6, abs=1e-9)
    assert largest > 0  # the variant really is another model


def test_static_int8_of_the_convolutional_scene_sample_matches_onnxruntime(lab):
    engine = Engine(str(lab["scene"]))
    variant = make_variant(engine, "static", calibrate=[str(lab["photos"])], n_calibrate=12, calibration="minmax")
    path = Path(variant.path)
    assert path.name == "scene.static.onnx" and path.parent == lab["scene"].parent
    assert Path(variant.profile_path).name == "scene.static.profile.json"
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ format
    note = read_note(path)
    used = sorted(str(p) for p in lab["photos"].iterdir())[:12]
    assert note["source_sha256"] == engine.info.sha256 and note["method"] == "static"
    assert note["calibration"] == "minmax" and note["n_calibration"] == 12 and note["per_channel"] is True
    assert note["calibration_set_sha256"] == calibration_set_sha256(used)
    assert note["onnxruntime"] == ort.__version__
    c = compare(engine, Engine(str(path)), [str(lab["photos"])], rounds=1)
    _check_against_onnxruntime(c, engine, lab["scene"], path, lab["photos"])
    d = c.to_dict()
    assert d["b"]["size_bytes"] == path.stat().st_size < d["a"]["size_bytes"]
    assert d["speedup"] == pytest.approx(d["a"]["p50_ms"] / d["b"]["p50_ms"])
    assert d["verdict"]["text"].startswith("Static INT8: ")
    json.dumps(d, allow_nan=False)


def test_dynamic_int8_of_the_digits_mlp_matches_onnxruntime(lab):
    engine = Engine(str(lab["digits"]))
    ok, why = recommend_dynamic(engine.model_path)
    assert ok and "MatMul/Gemm" in why
    variant = make_variant(engine, "dynamic")
    assert not variant.warnings
    ops = {n.op_type for n in onnx.load(variant.path).graph.node}
    assert "MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops or "DynamicQuantizeLinear" in ops
    c = compare(engine, Engine(variant.path), [str(lab["digit_images"])], rounds=2)
    _check_against_onnxruntime(c, engine, lab["digits"], variant.path, lab["digit_images"])
    assert c.method == "dynamic" and c.n == 40


def test_ground_truth_turns_the_bound_into_a_relative_accuracy_loss(lab, tmp_path):
    engine = Engine(str(lab["digits"]))
    variant = make_variant(engine, "dynamic", out=tmp_path / "d.onnx")
    truth = {p.name: int(p.name.split("_")[1]) for p in lab["digit_images"].iterdir()}  # digit_<class>_...
    c = compare(engine, Engine(variant.path), [str(lab["digit_images"])], rounds=1, truth=truth)
    sa, sb = ort.InferenceSession(str(lab["digits"])), ort.InferenceSession(variant.path)
    right_a = right_b = 0
    for p in lab["digit_images"].iterdir():
        x = engine.preprocess(engine.load_image(str(p))[0])[0][None]
        right_a += int(np.argmax(sa.run(None, {"image": x})[0])) == truth[p.name]
        right_b += int(np.argmax(sb.run(None, {"image": x})[0])) == truth[p.name]
    assert c.accuracy["n"] == 40
    assert c.accuracy["a"] == pytest.approx(right_a / 40) and c.accuracy["b"] == pytest.approx(right_b / 40)
    assert c.accuracy["relative_loss"] == pytest.approx((right_a - right_b) / right_a)
    faster = verdict(dataclasses.replace(c, speedup=2.0))  # the sentence when speed does not decide it
    assert "relative accuracy loss on 40 of your images" in faster.text
    assert faster.recommended == (c.accuracy["relative_loss"] <= 0.01)


def test_a_detector_against_its_graph_variant_agrees_box_for_box(tmp_path):
    source = _copy_model("layout_cdla", tmp_path)
    engine = Engine(str(source))
    variant = make_variant(engine, "graph")
    page = str(SAMPLES / "layout" / "report_page.png")
    c = compare(engine, Engine(variant.path), [page], rounds=1)
    (result,) = list(__import__("desktop.engine", fromlist=["run_batch"]).run_batch(engine, [page], workers=0))
    n = len(result.detections)
    assert n and c.boxes["count_a"] == c.boxes["count_b"] == n and c.boxes["matched"] == n
    assert c.boxes["agreement"] == 1.0 and c.boxes["mean_iou"] == pytest.approx(1.0, abs=1e-4)
    assert c.top1_agreement is None and c.to_dict()["boxes"] == c.boxes


def test_dynamic_int8_is_not_recommended_for_a_conv_net_and_says_why(lab):
    ok, why = recommend_dynamic(str(lab["scene"]))
    assert not ok and "ConvInteger" in why and "static" in why


def test_float16_keeps_float32_inputs_and_outputs_and_warns_on_cpu(lab, tmp_path):
    engine = Engine(str(lab["digits"]))
    variant = make_variant(engine, "fp16", out=tmp_path / "half.onnx")
    model = onnx.load(variant.path)
    assert all(v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for v in [*model.graph.input, *model.graph.output])
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in model.graph.initializer)
    assert any("slower on a CPU" in w for w in variant.warnings)
    assert (tmp_path / "half.profile.json").is_file()
    Engine(variant.path)  # loads and runs with the copied profile


def test_graph_variant_loads_and_records_this_machine(lab, tmp_path):
    engine = Engine(str(lab["scene"]))
    variant = make_variant(engine, "graph", out=tmp_path / "scene.graph.onnx")
    note = read_note(variant.path)
    assert note["provider"] == "CPUExecutionProvider" and "cpu_flags" in note and note["cpu"]
    assert any("tied to this machine" in w for w in variant.warnings)
    b = Engine(variant.path)
    x, _ = engine.preprocess(engine.load_image(str(SAMPLES / "photos" / "coffee.jpg"))[0])
    np.testing.assert_allclose(b.run(b.image_feeds([x]))[0][0], engine.run(engine.image_feeds([x]))[0][0],
                               rtol=1e-4, atol=1e-5)


def test_static_needs_calibration_inputs(lab):
    with pytest.raises(InputError, match="needs calibration inputs"):
        make_variant(Engine(str(lab["scene"])), "static")


def test_variant_steps_report_progress_and_stop(lab, tmp_path):
    engine = Engine(str(lab["scene"]))
    steps = make_variant_steps(engine, "static", calibrate=[str(lab["photos"])], n_calibrate=4,
                               out=tmp_path / "s.onnx")
    events = []
    while True:
        try:
            events.append(next(steps))
        except StopIteration as done:
            variant = done.value
            break
    assert events and events[-1][0] == "progress" and events[-1][2] == 4
    assert Path(variant.path).is_file()
    with pytest.raises(Cancelled):
        list(make_variant_steps(engine, "static", calibrate=[str(lab["photos"])], n_calibrate=4,
                                out=tmp_path / "t.onnx", should_stop=lambda: True))
    assert not (tmp_path / "t.onnx").exists()


def _comparison(speedup: float, agreement: float | None, method: str, reason=None, n=300) -> Comparison:
    a = Side("a.onnx", "a.onnx", "0" * 64, 100, 0.01, 10.0, 12.0, 100.0)
    b = Side("b.onnx", "b.onnx", "1" * 64, 50, 0.01, 10.0 / speedup, 12.0 / speedup, 100.0 * speedup)
    return Comparison(a=a, b=b, n=n, top1_agreement=agreement, boxes=None, outputs=[], speedup=speedup,
                      words="images", method=method, reason=reason)


def test_verdict_sentences():
    v = verdict(_comparison(2.9, 0.996, "static"))
    assert v.recommended and v.text == "Static INT8: 2.9× faster, 99.6% top-1 agreement on 300 of your images — recommended"
    v = verdict(_comparison(1 / 7.9, 1.0, "dynamic", reason="ConvInteger"))
    assert not v.recommended and v.text == "INT8 dynamic: 7.9× slower on this CPU (ConvInteger); not recommended"
    v = verdict(_comparison(2.1, 0.95, "static"))
    assert not v.recommended
    assert v.text == "Static INT8: 2.1× faster, but 95.0% top-1 agreement on 300 of your images is under the 99% bound; " \
                     "not recommended"
    assert verdict(_comparison(2.1, 0.95, "static"), bound=0.9).recommended
    v = verdict(_comparison(1.03, 1.0, "graph"))  # within the timing noise of one model timed twice
    assert not v.recommended and v.text.startswith("Graph-optimised: only 1.03× faster on this CPU, under the 5%")


def test_box_matching_by_class_and_iou():
    a = [Detection("text", 0, 0.9, (0, 0, 10, 10)), Detection("table", 1, 0.8, (20, 20, 40, 40))]
    b = [Detection("text", 0, 0.9, (1, 0, 10, 10)), Detection("text", 0, 0.7, (20, 20, 40, 40))]
    matched, ious = match_boxes(a, b)
    assert matched == 1 and ious == [pytest.approx(0.9)]


def test_detector_head_nodes_are_offered_to_keep_in_float():
    nodes = suggest_keep_float(str(MODELS / "layout_cdla.onnx"))
    model = onnx.load(str(MODELS / "layout_cdla.onnx"))
    last_conv = max(i for i, n in enumerate(model.graph.node) if n.op_type == "Conv")
    after = {n.name for n in model.graph.node[last_conv + 1:]}
    assert nodes and set(nodes) <= after


def test_cli_optimise_and_compare(lab, tmp_path, capsys):
    assert main(["optimise", str(lab["scene"]), "--method", "static"]) == 2
    assert "static quantization needs calibration inputs (--calibrate FOLDER|CSV)" in capsys.readouterr().err
    assert main(["optimise", str(lab["digits"]), "--method", "dynamic", "--out", str(tmp_path / "d.onnx"),
                 "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["note"]["method"] == "dynamic" and Path(made["path"]).is_file()
    assert main(["compare", str(lab["digits"]), made["path"], str(lab["digit_images"]), "--json", "--rounds", "1"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n"] == 40 and set(d["a"]) == {"name", "path", "sha256", "size_bytes", "load_s", "p50_ms", "p95_ms",
                                            "items_per_s"}
    assert d["verdict"]["text"].startswith("INT8 dynamic: ")
    assert main(["compare", str(lab["digits"]), made["path"], str(lab["digit_images"]), "--rounds", "1"]) == 0
    text = capsys.readouterr().out
    assert "top-1 agreement" in text and "INT8 dynamic: " in text
    assert main(["compare", str(lab["digits"]), made["path"], str(tmp_path / "missing")]) == 2
    assert main(["compare", str(lab["digits"]), made["path"], str(lab["digit_images"]), "--bound", "5"]) == 2


def test_an_unreadable_input_is_named_and_too_few_items_are_no_speed_claim(tmp_path):
    import shutil

    from desktop.engine import Engine
    from desktop.engine.optimise import compare

    folder = tmp_path / "scans"
    folder.mkdir()
    shutil.copy(sorted((ROOT / "resources" / "samples" / "digits").glob("*.png"))[0], folder / "a.png")
    (folder / "bad.png").write_bytes(b"x")
    engine = Engine(ROOT / "models" / "digits.onnx")
    c = compare(engine, Engine(ROOT / "models" / "digits.onnx"), [folder])
    assert c.n == 1 and len(c.skipped) == 1 and "bad.png: not a readable image" in c.skipped[0]
    assert not c.verdict.recommended and "too few to tell whether it is faster" in c.verdict.text
    assert c.to_dict()["skipped"] == c.skipped
