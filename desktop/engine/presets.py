"""Whole-profile presets: one name in a profile's ``image`` section for a training library's preprocessing.

``{"image": {"preset": "torchvision-imagenet"}}`` fills the image section with the values below;
any key given beside ``preset`` overrides the preset's (``resize`` key by key, unless it names
another ``mode``, which replaces the preset's resize as a whole). The profile keeps the name and
only the keys that differ from it (``ImageSpec.to_dict``), so its hash does not change when a
preset's values are written out, and ``describe()`` and ``inferdesk info`` show the effective values.

Each preset reproduces the arithmetic of the library function cited beside it: sizes, crop and pad
offsets, the resize library and interpolation, rounding, colour order, normalisation and layout.
This module holds data only and imports nothing from the profile, so ``profile`` can use it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from .errors import ProfileError

_IMAGENET = {"scale": 1.0 / 255.0, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


@dataclass(frozen=True)
class Preset:
    """A preset: its image section (``image``, as a profile writes it), what it is for and its cited source."""

    name: str
    image: dict
    about: str
    source: str


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset(
        "torchvision-imagenet",
        {"color": "RGB", "layout": "NCHW", "dtype": "float32", "exif": "ignore",
         "resize": {"mode": "shorter-side", "shorter": 256, "library": "pillow", "interpolation": "bilinear"},
         "crop": [224, 224], "crop_rounding": "round", **_IMAGENET},
        "torchvision's ImageNet evaluation: Resize(256) (Pillow bilinear, antialiased; longer side int()), "
        "CenterCrop(224) (offsets round()), ToTensor, Normalize(ImageNet mean/std); images read with PIL.Image.open "
        "(EXIF ignored)",
        "torchvision/transforms/functional.py::resize (_compute_resized_output_size: int(size * long / short)) and "
        "::center_crop (int(round((h - ch) / 2.0))), ::normalize; torchvision/datasets/folder.py::pil_loader"),
    Preset(
        "timm-eval",
        {"color": "RGB", "layout": "NCHW", "dtype": "float32", "exif": "ignore",
         "resize": {"mode": "shorter-side", "shorter": 256, "library": "pillow", "interpolation": "bicubic"},
         "crop": [224, 224], "crop_rounding": "round", **_IMAGENET},
        "timm's default evaluation: resolve_data_config's defaults (input 224, crop_pct 0.875, bicubic, ImageNet "
        "mean/std), so Resize(floor(224 / 0.875) = 256, bicubic) + CenterCrop(224) + Normalize",
        "timm/data/config.py::resolve_data_config and timm/data/transforms_factory.py::transforms_imagenet_eval "
        "(scale_size = math.floor(img_size / crop_pct), crop_mode 'center')"),
    Preset(
        "ultralytics-letterbox",
        {"color": "RGB", "layout": "NCHW", "dtype": "float32", "exif": "apply",
         "resize": {"mode": "fit", "size": [640, 640], "library": "opencv", "interpolation": "linear",
                    "pad": {"anchor": "center", "value": 114}},
         "scale": 1.0 / 255.0, "mean": [0.0], "std": [1.0]},
        "Ultralytics' letterbox for a fixed-size export: LetterBox(640, auto=False, scaleup=True), "
        "new size (round(w·r), round(h·r)), cv2.resize INTER_LINEAR, padding 114 split "
        "round(d − 0.1) / round(d + 0.1), BGR → RGB, /255; images read with cv2.imread (EXIF applied)",
        "ultralytics/data/augment.py::LetterBox.__call__; ultralytics/engine/predictor.py::BasePredictor.preprocess "
        "(im[..., ::-1], / 255)"),
    Preset(
        "ultralytics-letterbox-auto",
        {"color": "RGB", "layout": "NCHW", "dtype": "float32", "exif": "apply",
         "resize": {"mode": "fit", "size": [640, 640], "library": "opencv", "interpolation": "linear",
                    "pad": {"anchor": "center", "value": 114}, "auto": True, "stride": 32},
         "scale": 1.0 / 255.0, "mean": [0.0], "std": [1.0]},
        "Ultralytics' minimum-rectangle letterbox (PyTorch or dynamic exports): LetterBox(640, auto=True, "
        "stride=32): the padding taken modulo 32, so the tensor follows the image's shape",
        "ultralytics/data/augment.py::LetterBox.__call__ (dw, dh = np.mod(dw, stride), np.mod(dh, stride))"),
    Preset(
        "paddleocr-det",
        {"color": "BGR", "layout": "NCHW", "dtype": "float32", "exif": "apply",
         "resize": {"mode": "limit-side", "limit": 960, "limit_type": "max", "multiple": 32, "min_size": 32,
                    "library": "opencv", "interpolation": "linear"},
         **_IMAGENET},
        "PaddleOCR's text detector: DetResizeForTest(limit_side_len=960, limit_type='max'): sides int(), then "
        "round to multiples of 32 (at least 32), cv2.resize INTER_LINEAR; NormalizeImage(1/255, ImageNet mean/std) "
        "applied to the BGR image as cv2.imread gives it (the means in that order, as PaddleOCR does)",
        "ppocr/data/imaug/operators.py::DetResizeForTest.resize_image_type0 and ::NormalizeImage; "
        "tools/infer/predict_det.py (det_limit_side_len 960, det_limit_type 'max')"),
    Preset(
        "paddleocr-cls",
        {"color": "BGR", "layout": "NCHW", "dtype": "float32", "exif": "apply",
         "resize": {"mode": "height", "size": [192, 48], "library": "opencv", "interpolation": "linear",
                    "rounding": "ceil", "grow": True, "max_width": 192,
                    "pad": {"anchor": "top-left", "value": 127.5}},
         "scale": 1.0 / 255.0, "mean": [0.5], "std": [0.5]},
        "PaddleOCR's text-direction classifier: 3×48×192, height 48, width ceil(48 · w/h) capped at 192, "
        "cv2.resize INTER_LINEAR, (x/255 − 0.5)/0.5, padded right with 0 after normalising (pixel 127.5 before)",
        "ppocr/data/imaug/rec_img_aug.py::resize_norm_img (ClsResizeImg); tools/infer/predict_cls.py::"
        "TextClassifier.resize_norm_img (cls_image_shape '3, 48, 192')"),
    Preset(
        "paddleocr-rec",
        {"color": "BGR", "layout": "NCHW", "dtype": "float32", "exif": "apply",
         "resize": {"mode": "height", "size": [320, 48], "library": "opencv", "interpolation": "linear",
                    "rounding": "ceil", "grow": True, "pad": {"anchor": "top-left", "value": 127.5}},
         "scale": 1.0 / 255.0, "mean": [0.5], "std": [0.5]},
        "PaddleOCR's text recogniser (PP-OCRv3 and later, rec_image_shape 3×48×320): height 48, tensor width "
        "int(48 · max(320/48, w/h)) so a long line is not squashed, content ceil(48 · w/h), cv2.resize "
        "INTER_LINEAR, (x/255 − 0.5)/0.5, padded right with 0 after normalising; for PP-OCRv2's 3×32×320 "
        "override resize.size with [320, 32]",
        "tools/infer/predict_rec.py::TextRecognizer.resize_norm_img (imgW = int(imgH * max_wh_ratio)); "
        "ppocr/data/imaug/rec_img_aug.py::resize_norm_img"),
    Preset(
        "paddleclas",
        {"color": "RGB", "layout": "NCHW", "dtype": "float32", "exif": "apply",
         "resize": {"mode": "shorter-side", "shorter": 256, "library": "opencv", "interpolation": "linear",
                    "rounding": "round"},
         "crop": [224, 224], "crop_rounding": "floor", **_IMAGENET},
        "PaddleClas' evaluation: DecodeImage(to_rgb=True), ResizeImage(resize_short=256) (percent = 256 / short, "
        "each side int(round(side · percent)), cv2 INTER_LINEAR), CropImage(224) (offsets (w − 224) // 2), "
        "NormalizeImage(1/255, ImageNet mean/std)",
        "ppcls/data/preprocess/ops/operators.py::ResizeImage, ::UnifiedResize (cv2 backend), ::CropImage, "
        "::NormalizeImage"),
    Preset(
        "keras-directory",
        {"color": "RGB", "layout": "NHWC", "dtype": "float32", "exif": "ignore",
         "resize": {"mode": "stretch", "size": [256, 256], "library": "opencv", "interpolation": "linear",
                    "output": "float"},
         "scale": 1.0, "mean": [0.0], "std": [1.0]},
        "Keras' image_dataset_from_directory: tf.image.resize to 256×256, bilinear without antialias "
        "(half-pixel centres, as cv2 INTER_LINEAR), float pixels not rounded, no normalisation, channels last; "
        "TensorFlow's decoder ignores EXIF. OpenCV's float bilinear equals TensorFlow's to about 1e-4 grey levels",
        "keras/src/utils/image_dataset_utils.py::image_dataset_from_directory and ::load_image "
        "(tf.image.resize(img, image_size, method=interpolation))"),
    Preset(
        "keras-caffe",
        {"color": "BGR", "layout": "NHWC", "dtype": "float32", "exif": "ignore",
         "resize": {"mode": "stretch", "size": [224, 224], "library": "pillow", "interpolation": "nearest"},
         "scale": 1.0, "mean": [103.939, 116.779, 123.68], "std": [1.0]},
        "keras.applications preprocess_input mode 'caffe' (ResNet50, VGG): RGB → BGR, subtract the BGR means "
        "103.939, 116.779, 123.68, no scaling; the image loaded with keras.utils.load_img(target_size=(224, 224)) "
        "(Pillow nearest, EXIF ignored)",
        "keras/src/applications/imagenet_utils.py::preprocess_input and ::_preprocess_numpy_input (mode 'caffe'); "
        "keras/src/utils/image_utils.py::load_img (interpolation 'nearest')"),
    Preset(
        "keras-tf",
        {"color": "RGB", "layout": "NHWC", "dtype": "float32", "exif": "ignore",
         "resize": {"mode": "stretch", "size": [224, 224], "library": "pillow", "interpolation": "nearest"},
         "scale": 1.0 / 127.5, "mean": [1.0], "std": [1.0]},
        "keras.applications preprocess_input mode 'tf' (MobileNet, Inception, Xception): x / 127.5 − 1, RGB; "
        "loaded with keras.utils.load_img(target_size=(224, 224)) (Pillow nearest)",
        "keras/src/applications/imagenet_utils.py::_preprocess_numpy_input (mode 'tf'); "
        "keras/src/utils/image_utils.py::load_img"),
    Preset(
        "keras-torch",
        {"color": "RGB", "layout": "NHWC", "dtype": "float32", "exif": "ignore",
         "resize": {"mode": "stretch", "size": [224, 224], "library": "pillow", "interpolation": "nearest"},
         **_IMAGENET},
        "keras.applications preprocess_input mode 'torch' (DenseNet): x / 255, then (x − ImageNet mean) / std, "
        "RGB; loaded with keras.utils.load_img(target_size=(224, 224)) (Pillow nearest)",
        "keras/src/applications/imagenet_utils.py::_preprocess_numpy_input (mode 'torch'); "
        "keras/src/utils/image_utils.py::load_img"),
)}

PRESET_NAMES = tuple(PRESETS)


def get_preset(name) -> Preset:
    """The preset called ``name``; an unknown one is refused with the list of names."""
    if not isinstance(name, str) or name.strip().lower() not in PRESETS:
        raise ProfileError(f"Profile: image.preset {name!r} is not a preset; the presets are: {', '.join(PRESET_NAMES)}")
    return PRESETS[name.strip().lower()]


def expand(raw: dict) -> tuple[str, dict]:
    """An image section with ``preset`` as (the preset's name, the preset's keys overridden by those given).

    ``resize`` merges key by key (and its ``pad`` likewise), unless the section's ``resize`` names a
    different ``mode`` or is ``null``: then it replaces the preset's. Any other key given replaces the
    preset's value, ``null`` included (``"crop": null`` removes the preset's crop).
    """
    preset = get_preset(raw.get("preset"))
    merged = copy.deepcopy(preset.image)
    for key, value in raw.items():
        if key == "preset":
            continue
        base = merged.get(key)
        if key == "resize" and isinstance(value, dict) and isinstance(base, dict) and \
                value.get("mode", base.get("mode")) == base.get("mode"):
            resize = dict(base)
            for rkey, rvalue in value.items():
                if rkey == "pad" and isinstance(rvalue, dict) and isinstance(resize.get("pad"), dict):
                    resize["pad"] = {**resize["pad"], **rvalue}
                else:
                    resize[rkey] = rvalue
            merged["resize"] = resize
        else:
            merged[key] = copy.deepcopy(value)
    return preset.name, merged


def overrides(full: dict, base: dict) -> dict:
    """The keys of ``full`` (an image section with every key written) that differ from ``base`` (the preset's):
    what a profile writes beside ``preset`` so that :func:`expand` gives ``full`` back."""
    out: dict = {}
    for key in list(base) + [k for k in full if k not in base]:
        mine, theirs = full.get(key), base.get(key)
        if mine == theirs:
            continue
        if key == "resize" and isinstance(mine, dict) and isinstance(theirs, dict) and mine.get("mode") == theirs.get("mode"):
            out[key] = {k: mine.get(k) for k in list(theirs) + [k for k in mine if k not in theirs]
                        if mine.get(k) != theirs.get(k)}
        else:
            out[key] = mine
    return out


def ultralytics_preset(metadata) -> str | None:
    """The preset for a model whose metadata says it is an Ultralytics detector or segmenter, else None.

    Ultralytics writes ``task``, ``imgsz`` and ``stride`` into every export's metadata
    (``ultralytics/engine/exporter.py``); detectors and segmenters are letterboxed, and a fixed-size
    ONNX export is fed ``LetterBox(auto=False)`` (classifiers use torchvision-style transforms instead).
    """
    task = str(metadata.get("task", "")).strip().lower()
    if task in ("detect", "segment") and ("imgsz" in metadata or "stride" in metadata):
        return "ultralytics-letterbox"
    return None
