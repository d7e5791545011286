"""Presets: each gives the tensor its library's own arithmetic gives, written out here from the cited source."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from PIL import Image

from desktop.engine.errors import ProfileError
from desktop.engine.model import inspect_model
from desktop.engine.preprocess import preprocess_image
from desktop.engine.presets import PRESET_NAMES, PRESETS
from desktop.engine.profile import default_profile, profile_from_dict, profile_from_json, resolve_profile

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
SIZES = [(1000, 563), (37, 23), (23, 37)]


def sharp(w, h, seed=0) -> Image.Image:
    """Noise with edges: every resize filter, rounding and offset shows in it."""
    rng = np.random.default_rng(seed + w * 7 + h)
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    a[h // 3: h // 2, :, 0] = 255
    return Image.fromarray(a, "RGB")


def same(got, want, atol=1e-6):
    """Equal pixels: InferDesk multiplies by float32(1/255) where a library may divide by 255 (one float32 ulp
    apart); a pixel off by one grey level would differ by 1/255 × 1/std, thousands of times more."""
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=atol, rtol=0)


def ours(preset, img, **image):
    spec = profile_from_dict({"image": {"preset": preset, **image}}).image
    return preprocess_image(img, spec)


# --------------------------------------------------------------------------- the libraries, written out

def torchvision_eval(img, shorter=256, crop=224, resample=Image.BILINEAR):
    """torchvision/transforms/functional.py: resize (_compute_resized_output_size: int(short * long / short), PIL
    resize, antialiased) then center_crop (int(round((h - ch) / 2.0))), to_tensor (/255), normalize."""
    w, h = img.size
    short, long = min(w, h), max(w, h)
    new_short, new_long = shorter, int(shorter * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    r = img.resize((new_w, new_h), resample)
    top, left = int(round((new_h - crop) / 2.0)), int(round((new_w - crop) / 2.0))
    a = np.asarray(r.crop((left, top, left + crop, top + crop)), dtype=np.float32) / 255
    return ((a - MEAN) / STD).transpose(2, 0, 1)


def ultralytics_letterbox(img, new=640, auto=False, stride=32):
    """ultralytics/data/augment.py LetterBox.__call__ on cv2.imread's BGR, then BasePredictor.preprocess."""
    a = np.ascontiguousarray(np.asarray(img)[..., ::-1])
    shape = a.shape[:2]
    r = min(new / shape[0], new / shape[1])
    new_unpad = int(round(shape[1] * r)), int(round(shape[0] * r))
    dw, dh = new - new_unpad[0], new - new_unpad[1]
    if auto:
        dw, dh = np.mod(dw, stride), np.mod(dh, stride)
    dw /= 2
    dh /= 2
    if shape[::-1] != new_unpad:
        a = cv2.resize(a, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    a = cv2.copyMakeBorder(a, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    x = np.ascontiguousarray(a[..., ::-1].transpose(2, 0, 1))
    return x.astype(np.float32) / 255


def paddle_normalise(a, mean=MEAN, std=STD):
    """NormalizeImage (ppocr/data/imaug/operators.py, ppcls/.../operators.py): float32 scale, mean, std."""
    scale = np.float32(1.0 / 255.0)
    return (a.astype("float32") * scale - mean.reshape(1, 1, 3)) / std.reshape(1, 1, 3)


def paddleocr_det(img, limit_side_len=960):
    """DetResizeForTest.resize_image_type0 (limit_type 'max') on the BGR image, NormalizeImage, ToCHWImage."""
    a = np.ascontiguousarray(np.asarray(img)[..., ::-1])
    h, w, _ = a.shape
    if max(h, w) > limit_side_len:
        ratio = float(limit_side_len) / h if h > w else float(limit_side_len) / w
    else:
        ratio = 1.0
    resize_h, resize_w = int(h * ratio), int(w * ratio)
    resize_h = max(int(round(resize_h / 32) * 32), 32)
    resize_w = max(int(round(resize_w / 32) * 32), 32)
    a = cv2.resize(a, (int(resize_w), int(resize_h)))
    return paddle_normalise(a).transpose(2, 0, 1)


def paddleocr_text(img, imgH, imgW, grow):
    """predict_cls.py / predict_rec.py resize_norm_img on the BGR image (rec: imgW = int(imgH * max_wh_ratio))."""
    a = np.ascontiguousarray(np.asarray(img)[..., ::-1])
    h, w = a.shape[:2]
    if grow:
        imgW = int(imgH * max(imgW / imgH, w * 1.0 / h))
    ratio = w / float(h)
    resized_w = imgW if math.ceil(imgH * ratio) > imgW else int(math.ceil(imgH * ratio))
    resized = cv2.resize(a, (resized_w, imgH)).astype("float32")
    resized = resized.transpose((2, 0, 1)) / 255
    resized -= 0.5
    resized /= 0.5
    padded = np.zeros((3, imgH, imgW), dtype=np.float32)
    padded[:, :, 0:resized_w] = resized
    return padded


def paddleclas(img, resize_short=256, size=224):
    """ppcls operators.py: DecodeImage(to_rgb) ResizeImage(resize_short) (round), CropImage (//2), NormalizeImage."""
    a = np.asarray(img)
    img_h, img_w = a.shape[:2]
    percent = float(resize_short) / min(img_w, img_h)
    w, h = int(round(img_w * percent)), int(round(img_h * percent))
    a = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
    w_start, h_start = (w - size) // 2, (h - size) // 2
    a = a[h_start:h_start + size, w_start:w_start + size, :]
    return paddle_normalise(a).transpose(2, 0, 1)


def tf_bilinear(img, out_w, out_h):
    """tf.image.resize(method='bilinear', antialias=False): half-pixel centres, float output (TensorFlow's
    resize_bilinear kernel: in = (i + 0.5) * scale - 0.5, lower = max(floor, 0), upper = min(ceil, n - 1))."""
    a = np.asarray(img).astype(np.float64)
    in_h, in_w = a.shape[:2]

    def axis(n_out, n_in):
        pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        lo_f = np.floor(pos)
        lerp = pos - lo_f
        lo = np.clip(lo_f, 0, n_in - 1).astype(int)
        hi = np.clip(np.ceil(pos), 0, n_in - 1).astype(int)
        return lo, hi, lerp

    y0, y1, ly = axis(out_h, in_h)
    x0, x1, lx = axis(out_w, in_w)
    top = a[y0][:, x0] * (1 - lx)[None, :, None] + a[y0][:, x1] * lx[None, :, None]
    bottom = a[y1][:, x0] * (1 - lx)[None, :, None] + a[y1][:, x1] * lx[None, :, None]
    return (top * (1 - ly)[:, None, None] + bottom * ly[:, None, None]).astype(np.float32)


def keras_applications(img, mode):
    """keras.utils.load_img(target_size=(224, 224)) (Pillow nearest) + imagenet_utils._preprocess_numpy_input."""
    x = np.asarray(img.resize((224, 224), Image.NEAREST), dtype=np.float32).copy()
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    else:  # caffe
        x = x[..., ::-1].copy()
        mean, std = [103.939, 116.779, 123.68], None
    for c in range(3):
        x[..., c] -= mean[c]
        if std is not None:
            x[..., c] /= std[c]
    return x


# --------------------------------------------------------------------------- each preset

@pytest.mark.parametrize("size", SIZES)
def test_torchvision_imagenet(size):
    img = sharp(*size)
    np.testing.assert_allclose(ours("torchvision-imagenet", img), torchvision_eval(img), atol=2e-6, rtol=0)


@pytest.mark.parametrize("size", SIZES)
def test_timm_eval_is_resize_floor_224_over_0875_bicubic(size):
    img = sharp(*size)
    scale_size = math.floor(224 / 0.875)  # timm transforms_imagenet_eval with resolve_data_config's defaults
    np.testing.assert_allclose(ours("timm-eval", img), torchvision_eval(img, scale_size, 224, Image.BICUBIC),
                               atol=2e-6, rtol=0)


@pytest.mark.parametrize("size", SIZES + [(640, 480), (2000, 40)])
def test_ultralytics_letterbox(size):
    img = sharp(*size)
    same(ours("ultralytics-letterbox", img), ultralytics_letterbox(img))


@pytest.mark.parametrize("size", SIZES + [(640, 480)])
def test_ultralytics_letterbox_auto(size):
    img = sharp(*size)
    want = ultralytics_letterbox(img, auto=True)
    got = ours("ultralytics-letterbox-auto", img)
    assert got.shape == want.shape and got.shape[1] % 32 == 0 and got.shape[2] % 32 == 0
    same(got, want)


@pytest.mark.parametrize("size", SIZES + [(1500, 2100)])
def test_paddleocr_det(size):
    img = sharp(*size)
    want = paddleocr_det(img)
    got = ours("paddleocr-det", img)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)  # the same float32 operations in the same order


@pytest.mark.parametrize("size", SIZES + [(400, 20), (100, 3)])
def test_paddleocr_cls(size):
    img = sharp(*size)
    want = paddleocr_text(img, 48, 192, grow=False)
    got = ours("paddleocr-cls", img)
    assert got.shape == (3, 48, 192)
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("size", SIZES + [(1000, 23), (100, 3)])
def test_paddleocr_rec_width_grows_with_the_line(size):
    img = sharp(*size)
    want = paddleocr_text(img, 48, 320, grow=True)
    got = ours("paddleocr-rec", img)
    assert got.shape == want.shape and got.shape[2] >= 320
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_paddleocr_rec_v2_shape_by_override():
    img = sharp(300, 20)
    got = ours("paddleocr-rec", img, resize={"size": [320, 32]})
    np.testing.assert_allclose(got, paddleocr_text(img, 32, 320, grow=True), atol=1e-6, rtol=0)


@pytest.mark.parametrize("size", SIZES + [(301, 299)])
def test_paddleclas(size):
    img = sharp(*size)
    got = ours("paddleclas", img)
    np.testing.assert_array_equal(got, paddleclas(img))


@pytest.mark.parametrize("size", SIZES)
def test_keras_directory_is_tensorflow_bilinear_in_floats(size):
    img = sharp(*size)
    got = ours("keras-directory", img)
    assert got.shape == (256, 256, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, tf_bilinear(img, 256, 256), atol=2e-3, rtol=0)
    assert not np.array_equal(got, np.round(got))  # not rounded to 8 bits


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("size", SIZES)
def test_keras_applications_modes(mode, size):
    img = sharp(*size)
    np.testing.assert_allclose(ours(f"keras-{mode}", img), keras_applications(img, mode), atol=2e-5, rtol=0)


def test_every_preset_is_tested_and_cites_a_source():
    assert set(PRESET_NAMES) == {
        "torchvision-imagenet", "timm-eval", "ultralytics-letterbox", "ultralytics-letterbox-auto", "paddleocr-det",
        "paddleocr-cls", "paddleocr-rec", "paddleclas", "keras-directory", "keras-caffe", "keras-tf", "keras-torch"}
    for p in PRESETS.values():
        assert ".py::" in p.source


# --------------------------------------------------------------------------- the key itself

def test_keys_beside_the_preset_override_it():
    img = sharp(1000, 563)
    got = ours("torchvision-imagenet", img, crop=[299, 299], resize={"shorter": 342})
    np.testing.assert_allclose(got, torchvision_eval(img, 342, 299), atol=2e-6, rtol=0)
    spec = profile_from_dict({"image": {"preset": "ultralytics-letterbox", "resize": {"size": [320, 320]},
                                        "layout": "NHWC"}}).image
    assert (spec.resize.size, spec.resize.library, spec.resize.pad_value, spec.layout) == \
        ((320, 320), "opencv", (114.0,), "NHWC")


def test_another_mode_replaces_the_presets_resize():
    spec = profile_from_dict({"image": {"preset": "paddleocr-det",
                                        "resize": {"mode": "stretch", "size": [64, 64]}}}).image
    assert (spec.resize.mode, spec.resize.size, spec.resize.limit, spec.resize.library) == \
        ("stretch", (64, 64), None, "pillow")
    assert spec.color == "BGR"


def test_the_profile_keeps_the_name_and_the_overrides_and_its_hash():
    plain = profile_from_dict({"image": {"preset": "timm-eval"}})
    assert plain.to_dict()["image"] == {"preset": "timm-eval"}
    changed = profile_from_dict({"image": {"preset": "timm-eval", "crop": None, "resize": {"shorter": 240}}})
    assert changed.to_dict()["image"] == {"preset": "timm-eval", "resize": {"shorter": 240}, "crop": None}
    again = profile_from_json(changed.to_json())
    assert again == changed and again.sha256() == changed.sha256()
    # the same values written out are another profile (no preset), with the same tensor
    spelled = profile_from_dict({"image": plain.image.to_dict(expand=True)})
    assert spelled.image.preset is None and spelled.sha256() != plain.sha256()
    img = sharp(37, 23)
    np.testing.assert_array_equal(preprocess_image(img, spelled.image), preprocess_image(img, plain.image))


def test_describe_shows_the_preset_and_what_it_overrides():
    text = profile_from_dict({"image": {"preset": "torchvision-imagenet", "crop": [256, 256]}}).describe()
    assert text.startswith("preset torchvision-imagenet (crop overridden), RGB, shorter side 256 (bilinear)")
    assert "centre crop 256×256" in text and "ImageNet mean/std" in text


def test_an_unknown_preset_is_refused_with_the_list():
    with pytest.raises(ProfileError) as err:
        profile_from_dict({"image": {"preset": "torchvision"}})
    message = str(err.value)
    assert "'torchvision' is not a preset" in message
    assert all(name in message for name in PRESET_NAMES)


def test_a_bad_override_is_still_refused():
    with pytest.raises(ProfileError, match="image.resize.interpolation"):
        profile_from_dict({"image": {"preset": "paddleclas", "resize": {"interpolation": "bilinear"}}})
    with pytest.raises(ProfileError, match="unknown key 'image.colour'"):
        profile_from_dict({"image": {"preset": "paddleclas", "colour": "RGB"}})


# --------------------------------------------------------------------------- chosen from a model's metadata

def test_ultralytics_metadata_chooses_the_letterbox_preset(tmp_path):
    from tests.engine.test_detection import FAMILIES

    model = FAMILIES["yolov8"](tmp_path / "v8.onnx")  # task detect, imgsz [320, 320], stride 32
    info = inspect_model(model)
    p = default_profile(info)
    assert p.image.preset == "ultralytics-letterbox"
    assert p.to_dict()["image"] == {"preset": "ultralytics-letterbox", "resize": {"size": [320, 320]}}
    img = sharp(1000, 563)
    same(preprocess_image(img, p.image), ultralytics_letterbox(img, new=320))
    profile, source = resolve_profile(model, info)
    assert source == "preset ultralytics-letterbox, chosen from the model's Ultralytics metadata"


def test_a_model_without_ultralytics_metadata_gets_no_preset(tmp_path):
    from tests.engine.test_detection import FAMILIES

    p = default_profile(inspect_model(FAMILIES["yolov5"](tmp_path / "v5.onnx")))  # stride and names only
    assert p.image.preset is None and p.image.resize.mode == "fit"
