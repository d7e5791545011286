"""The preprocessing editor: the profile as a form, with a live preview of the image as the model sees it."""

from __future__ import annotations

import html
import os
from dataclasses import replace

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QApplication, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QPlainTextEdit, QPushButton, QScrollArea, QSpinBox, QTableWidget, QVBoxLayout, QWidget)

from desktop.engine.errors import EngineError, ProfileError
from desktop.engine.preprocess import image_to_array
from desktop.engine.presets import PRESETS as LIBRARY_PRESETS
from desktop.engine.profile import (ANCHORS, CAFFE_MEAN_BGR, COLORS, CROP_ROUNDINGS, DETECTION_FAMILIES, DTYPES,
                                    EXIF_MODES, IMAGENET_MEAN, IMAGENET_STD, LAYOUTS, LIBRARY_INTERPOLATIONS,
                                    LIMIT_TYPES, RESIZE_LIBRARIES, RESIZE_MODES, RESIZE_OUTPUTS, ROUNDINGS, TASKS,
                                    _parse_image, check_profile, preset_spec, profile_from_dict, save_profile,
                                    sidecar_paths)

from ..errors import report_error
from .detail import ScaledImage, array_to_qimage
from .overlay import OverlayImage
from .panels import InlineMessage

COLOR_NAMES = {"RGB": "RGB (red, green, blue)", "BGR": "BGR (blue, green, red — OpenCV/Caffe)",
               "L": "Greyscale (one channel)"}
RESIZE_NAMES = {"": "No resize (images must already fit)", "stretch": "Stretch to width × height",
                "shorter-side": "Shorter side to a length, keep aspect", "fit": "Fit inside, pad the rest",
                "height": "Height fixed, width up to, pad right",
                "limit-side": "Limit a side, sides multiples of N (PaddleOCR detector)"}
#: each interpolation's nearest name in the other library, offered when the library is changed
COUNTERPARTS = {"bilinear": "linear", "bicubic": "cubic", "lanczos": "lanczos4", "box": "area",
                "linear": "bilinear", "cubic": "bicubic", "lanczos4": "lanczos", "area": "box"}
LIBRARY_NAMES = {"pillow": "Pillow (antialiased when shrinking)", "opencv": "OpenCV cv2.resize (no antialias)"}
#: what each library means by its interpolation names, for the combo's tooltip
INTERP_TIPS = {"pillow": "Pillow's filters, antialiased when shrinking (torchvision's Resize on PIL images)",
               "opencv": "OpenCV's cv2.INTER_* flags, no antialias, pixel-centre sampling (Ultralytics, PaddleOCR, "
                         "albumentations); with float output also torch's F.interpolate and TensorFlow's "
                         "tf.image.resize without antialias"}
PRESETS = {
    "0–1 (pixel / 255)": (1 / 255, (0.0,), (1.0,)),
    "ImageNet mean/std": (1 / 255, IMAGENET_MEAN, IMAGENET_STD),
    "Caffe mean subtraction (0–255, BGR mean)": (1.0, CAFFE_MEAN_BGR, (1.0,)),
    "−1–1 (pixel / 127.5 − 1)": (1 / 127.5, (1.0,), (1.0,)),
    "Raw 0–255 pixels": (1.0, (0.0,), (1.0,)),
}
CUSTOM = "Custom values"
CUSTOM_WINDOW = "custom"  # the DICOM window combo's entry for a level and width of one's own
NO_PRESET = "None (as below)"


def _numbers(text: str, what: str) -> list:
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p.strip()]
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise ProfileError(f"{what}: write numbers separated by commas, e.g. 0.485, 0.456, 0.406") from None


def _fmt_numbers(values) -> str:
    return ", ".join(f"{v:.6g}" for v in values)


def sidecar_for(model_path) -> str:
    """The sidecar the editor writes: the existing one, or ``name.profile.json`` beside the model."""
    for p in sidecar_paths(model_path):
        if p.is_file():
            return str(p)
    return str(sidecar_paths(model_path)[0])


class ProfileEditor(QDialog):
    """Edit an engine's profile. ``saved(profile, path)`` after Save; ``applied(profile)`` for Apply."""

    saved = Signal(object, str)
    applied = Signal(object)

    def __init__(self, engine, images=(), tables=(), parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Preprocessing — {engine.info.file_name}")
        self.engine = engine
        self.profile = engine.profile
        self.images = [p for p in images][:200]
        self.tables = list(tables)
        self._image_cache: dict = {}
        self._loading = True
        #: the library preset (presets.PRESETS) the image section is based on: Save writes its name and the overrides
        self.preset_name: str | None = self.profile.image.preset if self.profile.image else None
        #: resize stages before the one the form edits, travelling as they were (a preset chosen drops them)
        self._before = self.profile.image.resize_before if self.profile.image else ()
        self.check_report = None
        outer = QVBoxLayout(self)
        body = QHBoxLayout()
        outer.addLayout(body, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        form_host = QWidget()
        scroll.setWidget(form_host)
        self.form_layout = QVBoxLayout(form_host)
        body.addWidget(scroll, 3)
        self._build_general()
        self._build_detection()
        self._build_image()
        self._build_resize_advanced()
        self._build_dicom()
        self._build_table()
        self.form_layout.addStretch(1)
        body.addWidget(self._build_preview(), 2)
        self.words = QLabel()
        self.words.setWordWrap(True)
        self.words.setToolTip("The profile in words, as the model card will show it")
        outer.addWidget(self.words)
        self.message = InlineMessage()
        outer.addWidget(self.message)
        buttons = QDialogButtonBox()
        self.save_button = buttons.addButton("Save", QDialogButtonBox.AcceptRole)
        self.save_button.setToolTip(f"Save beside the model as {os.path.basename(sidecar_for(engine.model_path))} "
                                    "and use it now")
        self.apply_button = buttons.addButton("Use without saving", QDialogButtonBox.ApplyRole)
        self.apply_button.setToolTip("Use this profile until the model is closed, without writing a file")
        cancel = buttons.addButton(QDialogButtonBox.Cancel)
        cancel.setToolTip("Close without changing anything")
        self.save_button.clicked.connect(self._on_save_clicked)
        self.apply_button.clicked.connect(self._on_apply_clicked)
        cancel.clicked.connect(self.reject)
        outer.addWidget(buttons)
        self._load(self.profile)
        self._loading = False
        self._on_changed()
        self.resize(980, 680)

    # ------------------------------------------------------------------ building
    def _combo(self, items, tip, names=None) -> QComboBox:
        c = QComboBox()
        for it in items:
            c.addItem((names or {}).get(it, it), it)
        c.setToolTip(tip)
        c.currentIndexChanged.connect(self._on_changed)
        return c

    def _spin(self, tip, lo=1, hi=16384) -> QSpinBox:
        s = QSpinBox()
        s.setRange(lo, hi)
        s.setToolTip(tip)
        s.valueChanged.connect(self._on_changed)
        return s

    def _line(self, tip) -> QLineEdit:
        e = QLineEdit()
        e.setToolTip(tip)
        e.textChanged.connect(self._on_changed)
        return e

    def _build_general(self):
        box = QGroupBox("What the model does")
        form = QFormLayout(box)
        self.task = self._combo(TASKS, "How the output is read: classification gives labels and scores")
        form.addRow("Task", self.task)
        self.input_name = self._combo([s.name for s in self.engine.info.inputs], "The model input that is fed")
        form.addRow("Model input", self.input_name)
        self.kind = self._combo(["image", "table"], "Whether the model takes images or CSV rows",
                                {"image": "Images", "table": "Table rows (CSV)"})
        form.addRow("Input is", self.kind)
        self.labels = QPlainTextEdit()
        self.labels.setToolTip("Class names, one per line, in the order of the model's output")
        self.labels.setPlaceholderText("one label per line")
        self.labels.setMaximumHeight(110)
        self.labels.textChanged.connect(self._on_changed)
        form.addRow("Labels", self.labels)
        self.review_below = QDoubleSpinBox()
        self.review_below.setRange(0, 1)
        self.review_below.setSingleStep(0.05)
        self.review_below.setDecimals(3)
        self.review_below.setSpecialValueText("off")  # 0: no result is marked (the key is left out)
        self.review_below.setToolTip("A classifier's result whose top score is under this is marked for review in "
                                     "the table and the exports (profile key review_below); 0 turns it off")
        self.review_below.valueChanged.connect(self._on_changed)
        form.addRow("Review results below", self.review_below)
        self.form_layout.addWidget(box)

    def _build_detection(self):
        """How boxes are read: family, thresholds, NMS; shown for the detection task. 'default': the family's."""
        self.detection_box = QGroupBox("Detection")
        form = QFormLayout(self.detection_box)
        self.family = self._combo(("",) + DETECTION_FAMILIES, "The detector's output layout",
                                  {"": "recognised from the model", "yolov8": "YOLOv8 / YOLO11",
                                   "yolov5": "YOLOv5", "end2end": "end-to-end (x1, y1, x2, y2, score, class)",
                                   "rtdetr": "RT-DETR", "torchvision": "boxes, scores, labels"})
        form.addRow("Output layout", self.family)

        def number(tip, lo, hi, step, decimals=2):
            s = QDoubleSpinBox()
            s.setRange(lo, hi)
            s.setSingleStep(step)
            s.setDecimals(decimals)
            s.setSpecialValueText("family default")  # the minimum: left out of the profile
            s.setToolTip(tip)
            s.valueChanged.connect(self._on_changed)
            return s

        self.det_conf = number("A box counts when its score is over this (YOLOv8/v11 and YOLOv5: 0.25)", 0, 1, 0.05)
        form.addRow("Confidence", self.det_conf)
        self.det_iou = number("Non-maximum suppression: a box overlapping a better one by more than this IoU is "
                              "dropped (YOLOv8/v11: 0.7, YOLOv5: 0.45; the other layouts' boxes are final)", 0, 1, 0.05)
        form.addRow("NMS IoU", self.det_iou)
        self.det_max = self._spin("At most this many boxes per image (YOLOv8/v11: 300)", 0, 100000)
        self.det_max.setSpecialValueText("family default")
        form.addRow("Most boxes", self.det_max)
        self.det_agnostic = QCheckBox("Across classes")
        self.det_agnostic.setToolTip("A box suppresses overlapping boxes of any class, not only its own")
        self.det_agnostic.toggled.connect(self._on_changed)
        form.addRow("NMS", self.det_agnostic)
        self.form_layout.addWidget(self.detection_box)

    def _detection_dict(self) -> dict | None:
        d: dict = {}
        if self.family.currentData():
            d["family"] = self.family.currentData()
        if self.det_conf.value() > 0:
            d["conf"] = round(self.det_conf.value(), 4)
        if self.det_iou.value() > 0:
            d["iou"] = round(self.det_iou.value(), 4)
        if self.det_max.value() > 0:
            d["max_det"] = self.det_max.value()
        if self.det_agnostic.isChecked():
            d["class_agnostic"] = True
        kept = self.profile.detection
        if kept is not None and kept.floor is not None:
            d["floor"] = kept.floor
        return d or None

    def _build_image(self):
        self.image_box = QGroupBox("Image preprocessing")
        form = QFormLayout(self.image_box)
        self._build_presets(form)
        self.color = self._combo(COLORS, "Colour order the model expects", COLOR_NAMES)
        form.addRow("Colour", self.color)
        self.layout_combo = self._combo(LAYOUTS, "NCHW: channels first (PyTorch); NHWC: channels last (TensorFlow)")
        form.addRow("Layout", self.layout_combo)
        self.dtype = self._combo(DTYPES, "Number type of the tensor")
        form.addRow("Data type", self.dtype)
        self.resize_mode = self._combo(("",) + RESIZE_MODES, "How the image is brought to the model's size",
                                       RESIZE_NAMES)
        form.addRow("Resize", self.resize_mode)
        size_row = QHBoxLayout()
        self.width_spin = self._spin("Target width in pixels")
        self.height_spin = self._spin("Target height in pixels")
        size_row.addWidget(self.width_spin)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height_spin)
        self.size_label = QLabel("Width × height")
        form.addRow(self.size_label, size_row)
        self.shorter = self._spin("Length of the shorter side after resizing, in pixels")
        self.shorter_label = QLabel("Shorter side")
        form.addRow(self.shorter_label, self.shorter)
        # the names of the library chosen under "Resize details" (filled by _fill_interpolations)
        self.interp = self._combo((), "How pixels are interpolated when resizing")
        form.addRow("Interpolation", self.interp)
        self.anchor = self._combo(ANCHORS, "Where the image sits in the padded area", {"center": "centre",
                                                                                       "top-left": "top-left"})
        self.anchor_label = QLabel("Pad position")
        form.addRow(self.anchor_label, self.anchor)
        self.pad_value = self._line("Pixel value of the padding (0–255; one value or one per channel)")
        self.pad_label = QLabel("Pad value")
        form.addRow(self.pad_label, self.pad_value)
        crop_row = QHBoxLayout()
        self.crop = QCheckBox("Centre crop")
        self.crop.setToolTip("Cut the centre of the resized image to this size")
        self.crop.toggled.connect(self._on_changed)
        self.crop_w = self._spin("Crop width in pixels")
        self.crop_h = self._spin("Crop height in pixels")
        crop_row.addWidget(self.crop)
        crop_row.addWidget(self.crop_w)
        crop_row.addWidget(QLabel("×"))
        crop_row.addWidget(self.crop_h)
        form.addRow("Crop", crop_row)
        self.preset = QComboBox()
        for name in list(PRESETS) + [CUSTOM]:
            self.preset.addItem(name, name)
        self.preset.setToolTip("Common ways to scale pixel values; choosing one fills in scale, mean and std")
        self.preset.currentIndexChanged.connect(self._on_preset_changed)
        form.addRow("Pixel values", self.preset)
        self.scale = self._line("Each pixel (0–255) is multiplied by this first")
        self.mean = self._line("Subtracted after scaling: one value, or one per channel")
        self.std = self._line("Divided by after subtracting the mean: one value, or one per channel")
        form.addRow("Scale", self.scale)
        form.addRow("Mean", self.mean)
        form.addRow("Std", self.std)
        formula = QLabel("x = (pixel × scale − mean) / std")
        formula.setToolTip("How each tensor value is computed from a pixel")
        form.addRow("", formula)
        self.form_layout.addWidget(self.image_box)

    def _build_presets(self, form: QFormLayout) -> None:
        """'Library preset': a training library's whole image preprocessing, filled into the form below."""
        self.library_preset = QComboBox()
        self.library_preset.addItem(NO_PRESET, "")
        self.library_preset.setItemData(0, "The values below, written out in full", Qt.ToolTipRole)
        for name, preset in LIBRARY_PRESETS.items():
            self.library_preset.addItem(name, name)
            self.library_preset.setItemData(self.library_preset.count() - 1,
                                            f"{preset.about}\n\nSource: {preset.source}", Qt.ToolTipRole)
        self.library_preset.setToolTip("A training library's preprocessing: choosing one fills in the form; the "
                                       "profile keeps the preset's name and only the values changed below")
        self.library_preset.currentIndexChanged.connect(self._on_library_preset_changed)
        form.addRow("Library preset", self.library_preset)

    def _set_library_preset(self, name: str | None) -> None:
        self.library_preset.blockSignals(True)
        self._set_combo(self.library_preset, name or "")
        self.library_preset.blockSignals(False)
        p = LIBRARY_PRESETS.get(name or "")
        self.library_preset.setToolTip(f"{p.about}\n\nSource: {p.source}" if p else
                                       "A training library's preprocessing: choosing one fills in the form; the "
                                       "profile keeps the preset's name and only the values changed below")

    def _on_library_preset_changed(self, *_):
        if self._loading:
            return
        name = self.library_preset.currentData() or None
        self.preset_name = name
        if name:
            self._before = ()  # a preset's section takes its stages whole
            self._loading = True
            try:
                self._load_image(preset_spec(name))
            finally:
                self._loading = False
        self._set_library_preset(name)
        self._on_changed()

    def _build_resize_advanced(self):
        """'Resize details': library, rounding, output, the mode's own keys, crop rounding and EXIF; each row is
        shown only for the resize mode (or crop) it applies to."""
        self.resize_box = QGroupBox("Resize details")
        self.resize_box.setCheckable(True)  # unchecked: the rows are folded away, their values still apply
        self.resize_box.setChecked(True)
        self.resize_box.setToolTip("How the resize is computed, to match the library the model was trained with")
        self.resize_box.toggled.connect(self._on_changed)
        form = QFormLayout(self.resize_box)
        self.resize_form = form
        self.library = self._combo(RESIZE_LIBRARIES, "Which library resizes: Pillow antialiases when shrinking; "
                                   "OpenCV (cv2.resize itself) does not, as Ultralytics, PaddleOCR and "
                                   "albumentations train", LIBRARY_NAMES)
        self.library.currentIndexChanged.connect(self._on_library_changed)
        form.addRow("Library", self.library)
        self.rounding = self._combo(("",) + ROUNDINGS, "How a computed size is made whole. Shorter side: torchvision "
                                    "int() (floor); PaddleClas round(). Fit: Ultralytics round(). Height: PaddleOCR's "
                                    "recogniser ceil", {"": "the mode's own", "floor": "floor (int())",
                                                        "round": "round (Python's round())", "ceil": "ceil"})
        form.addRow("Rounding", self.rounding)
        self.output = self._combo(RESIZE_OUTPUTS, "uint8: resized pixels are whole 8-bit values, as Pillow and "
                                  "OpenCV give them for 8-bit images; float: resized in floats, not rounded (torch "
                                  "and TensorFlow resizing tensors)", {"uint8": "whole 8-bit values (uint8)",
                                                                       "float": "floats, not rounded"})
        form.addRow("Resize output", self.output)
        self.pad_first = QCheckBox("Pad to the target's aspect first (a square for shorter side)")
        self.pad_first.setToolTip("Pad with the pad position and value, then resize: LLaVA's expand2square, "
                                  "square classification exports")
        self.pad_first.toggled.connect(self._on_changed)
        form.addRow("Pad first", self.pad_first)
        self.grow = QCheckBox("Width grows with the line")
        self.grow.setToolTip("PaddleOCR's recogniser (predict_rec.py): the tensor is int(h × max(width/height, w/h)) "
                             "wide instead of capped at the width, so a long line is not squashed")
        self.grow.toggled.connect(self._on_changed)
        form.addRow("Grow", self.grow)
        self.max_width = self._spin("The widest tensor when the width grows (none: unlimited)", 0, 65536)
        self.max_width.setSpecialValueText("none")
        form.addRow("Most width", self.max_width)
        self.limit = self._spin("PaddleOCR's limit_side_len (e.g. 960 for the detector)", 1, 65536)
        form.addRow("Side limit", self.limit)
        self.limit_type = self._combo(LIMIT_TYPES, "PaddleOCR's limit_type: max brings the longer side down to the "
                                      "limit, min the shorter side up to it, long the longer side to it always",
                                      {"max": "longer side at most", "min": "shorter side at least",
                                       "long": "longer side to it (resize_long)"})
        form.addRow("Limit type", self.limit_type)
        self.multiple = self._spin("Each side rounded to a multiple of this (PaddleOCR: 32)", 1, 4096)
        form.addRow("Multiple of", self.multiple)
        self.min_size = self._spin("Each side at least this (PaddleOCR: 32)", 1, 4096)
        form.addRow("Smallest side", self.min_size)
        self.auto = QCheckBox("Minimum rectangle")
        self.auto.setToolTip("Ultralytics' LetterBox(auto=True): pad only up to a multiple of the stride (the model "
                             "must take a dynamic size)")
        self.auto.toggled.connect(self._on_changed)
        form.addRow("Auto", self.auto)
        self.stride = self._spin("The stride the minimum rectangle pads to a multiple of (Ultralytics: 32)", 1, 4096)
        form.addRow("Stride", self.stride)
        self.scaleup = QCheckBox("Enlarge smaller images")
        self.scaleup.setToolTip("Ultralytics' scaleup: unchecked, an image smaller than the size is padded as it is")
        self.scaleup.toggled.connect(self._on_changed)
        form.addRow("Scale up", self.scaleup)
        self.crop_rounding = self._combo(CROP_ROUNDINGS, "The centre crop's offsets: torchvision's CenterCrop "
                                         "int(round((h − ch) / 2)), or a plain slice's (h − ch) // 2",
                                         {"round": "round (torchvision)", "floor": "floor (h − ch) // 2"})
        form.addRow("Crop offsets", self.crop_rounding)
        self.exif = self._combo(EXIF_MODES, "EXIF orientation: applied as cv2.imread does, or ignored as "
                                "PIL.Image.open gives the pixels", {"apply": "apply (cv2.imread)",
                                                                     "ignore": "ignore (PIL.Image.open)"})
        form.addRow("EXIF orientation", self.exif)
        self.form_layout.addWidget(self.resize_box)

    def _fill_interpolations(self, library: str, current: str | None) -> None:
        """The interpolation combo lists the library's own names; keeps ``current`` when that library has it."""
        names = LIBRARY_INTERPOLATIONS[library]
        self.interp.blockSignals(True)
        self.interp.clear()
        for name in names:
            self.interp.addItem(name, name)
        self._set_combo(self.interp, current if current in names else names[1])
        self.interp.setToolTip(INTERP_TIPS[library])
        self.interp.blockSignals(False)

    def _on_library_changed(self, *_):
        current = self.interp.currentData()
        self._fill_interpolations(self.library.currentData(), COUNTERPARTS.get(current, current))
        self._on_changed()  # after the refill: the combo's own _on_changed saw the old names

    def _resize_details(self, mode: str) -> dict:
        """The resize keys 'Resize details' sets for ``mode``: only those the mode takes, so none is refused."""
        r: dict = {"library": self.library.currentData(), "output": self.output.currentData()}
        if self.rounding.currentData() and mode in ("shorter-side", "fit", "height"):
            r["rounding"] = self.rounding.currentData()
        if mode in ("stretch", "shorter-side") and self.pad_first.isChecked():
            r["pad_first"] = True
        if mode == "height" and self.grow.isChecked():
            r["grow"] = True
            if self.max_width.value():
                r["max_width"] = self.max_width.value()
        if mode == "limit-side":
            r.update(limit=self.limit.value(), limit_type=self.limit_type.currentData(),
                     multiple=self.multiple.value(), min_size=self.min_size.value())
        if mode == "fit":
            r.update(auto=self.auto.isChecked(), stride=self.stride.value(), scaleup=self.scaleup.isChecked())
        return r

    def _build_dicom(self):
        """The profile's ``dicom`` section: which series and frames of a DICOM folder are scored, and the window."""
        from desktop.engine.inputs.dicomseries import RULE_FIELDS
        from desktop.engine.inputs.windowing import FILE_WINDOW, NO_WINDOW, VOI_FUNCTIONS, WINDOW_PRESETS

        self.dicom_box = QGroupBox("DICOM")
        self.dicom_box.setToolTip("For DICOM inputs only: which series and frames are scored, and how their pixel "
                                  "values are windowed (profile key dicom)")
        form = QFormLayout(self.dicom_box)
        self.dicom_window = QComboBox()
        self.dicom_window.addItem("The file's own window", FILE_WINDOW)
        for name, (center, width) in WINDOW_PRESETS.items():
            self.dicom_window.addItem(f"{name.replace('-', ' ').capitalize()} (level {center:g}, width {width:g})",
                                      name)
        self.dicom_window.addItem("None: each frame's full range", NO_WINDOW)
        self.dicom_window.addItem("Custom level and width", CUSTOM_WINDOW)
        self.dicom_window.setToolTip("The VOI window applied after the modality LUT (HU for CT): the file's own "
                                     "first WindowCenter/WindowWidth, a CT preset (the README cites its values), "
                                     "none (the frame's full range), or a level and width of your own")
        self.dicom_window.currentIndexChanged.connect(self._on_changed)
        form.addRow("Window", self.dicom_window)
        self.window_custom = QWidget()
        custom = QHBoxLayout(self.window_custom)
        custom.setContentsMargins(0, 0, 0, 0)
        self.window_center = QDoubleSpinBox()
        self.window_center.setRange(-100000, 100000)
        self.window_center.setDecimals(1)
        self.window_center.setToolTip("Window level (centre), in the modality LUT's units (HU for CT)")
        self.window_width = QDoubleSpinBox()
        self.window_width.setRange(0.1, 200000)
        self.window_width.setDecimals(1)
        self.window_width.setToolTip("Window width, in the modality LUT's units (at least 1 for a LINEAR window)")
        self.window_function = self._combo(VOI_FUNCTIONS, "The VOI function (DICOM PS3.3 C.11.2.1.2)")
        for w in (self.window_center, self.window_width):
            w.valueChanged.connect(self._on_changed)
        custom.addWidget(self.window_center)
        custom.addWidget(QLabel("width"))
        custom.addWidget(self.window_width)
        custom.addWidget(self.window_function)
        form.addRow("Level", self.window_custom)
        self.dicom_form = form
        self.dicom_series = self._line("Only the series whose header passes this rule are scored, e.g. "
                                       "\"Modality CT, ImageType ORIGINAL\": clauses separated by commas, each a "
                                       f"DICOM keyword ({', '.join(RULE_FIELDS)}) and its value, alternatives "
                                       "separated by \"or\" (\"Modality CT or MR\"), a value with a comma in "
                                       "double quotes. ImageType passes when any of its values matches, "
                                       "SeriesDescription, ProtocolName and Manufacturer when they contain the "
                                       "text; case is ignored. Empty: every series")
        self.dicom_series.setPlaceholderText("every series, e.g. Modality CT, ImageType ORIGINAL")
        form.addRow("Series", self.dicom_series)
        self.dicom_frames = self._line("Which of each chosen series' slices (in position order) or a multi-frame "
                                       "file's frames are scored, counting from 1: \"1-10\", \"5-\" (5 to the "
                                       "end) or \"3\". Empty: every frame")
        self.dicom_frames.setPlaceholderText("every frame, e.g. 1-10")
        form.addRow("Frames", self.dicom_frames)
        self.form_layout.addWidget(self.dicom_box)

    def _load_dicom(self, spec) -> None:
        from desktop.engine.inputs.dicomseries import rule_text
        from desktop.engine.inputs.windowing import FILE_WINDOW

        window = spec.window if spec is not None else None
        if window is None or isinstance(window, str):
            self._set_combo(self.dicom_window, window or FILE_WINDOW)
            self.window_center.setValue(40)
            self.window_width.setValue(400)
            self._set_combo(self.window_function, "LINEAR")
        else:
            self._set_combo(self.dicom_window, CUSTOM_WINDOW)
            self.window_center.setValue(window.center)
            self.window_width.setValue(window.width)
            self._set_combo(self.window_function, window.function)
        self.dicom_series.setText(rule_text(spec.rule) if spec is not None else "")
        self.dicom_frames.setText(spec.frames or "" if spec is not None else "")

    def _dicom_dict(self) -> dict | None:
        """The ``dicom`` section the form gives; None when it says nothing (and the profile had none)."""
        from desktop.engine.inputs.dicomseries import parse_rule_text
        from desktop.engine.inputs.windowing import FILE_WINDOW

        d: dict = {}
        try:
            rule = parse_rule_text(self.dicom_series.text())
        except ValueError as exc:
            raise ProfileError(f"DICOM series: {exc}") from None
        if rule:
            d["series"] = rule
        if self.dicom_frames.text().strip():
            d["frames"] = self.dicom_frames.text().strip()
        window = self.dicom_window.currentData()
        if window == CUSTOM_WINDOW:
            d["window"] = {"center": round(self.window_center.value(), 4), "width": round(self.window_width.value(), 4)}
            if self.window_function.currentData() != "LINEAR":
                d["window"]["function"] = self.window_function.currentData()
        elif window != FILE_WINDOW:
            d["window"] = window
        if not d and self.profile.dicom is None:
            return None  # a profile without the section is saved without it (its hash stays)
        return d

    def _build_table(self):
        self.table_box = QGroupBox("CSV column mapping")
        lay = QVBoxLayout(self.table_box)
        self.first_numeric = QCheckBox("Use the first numeric columns, in file order")
        self.first_numeric.setToolTip("Ignore column names and feed the first numeric columns of the CSV")
        self.first_numeric.toggled.connect(self._on_changed)
        lay.addWidget(self.first_numeric)
        header = []
        from desktop.engine.inputs.tabular import sniff_table_header

        for t in self.tables:
            header = sniff_table_header(t)
            if header:
                note = QLabel(f"Column names offered from {os.path.basename(t)}")
                lay.addWidget(note)
                break
        self.csv_header = header
        self.columns = QTableWidget(0, 1)
        self.columns.setHorizontalHeaderLabels(["CSV column"])
        self.columns.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.columns.setToolTip("For each model feature (in the model's order), the CSV column that feeds it")
        lay.addWidget(self.columns)
        self.form_layout.addWidget(self.table_box)

    def _build_preview(self) -> QWidget:
        box = QGroupBox("Preview: the image as the model sees it")
        lay = QVBoxLayout(box)
        self.preview_pick = QComboBox()
        self.preview_pick.setToolTip("Which queued image to preview")
        for p in self.images:
            self.preview_pick.addItem(os.path.basename(p), p)
        self.preview_pick.currentIndexChanged.connect(self._update_preview)
        lay.addWidget(self.preview_pick)
        self.preview = ScaledImage("Queue an image to preview the preprocessing.")
        self.preview.setToolTip("After colour, resize, padding and crop (before scaling values)")
        lay.addWidget(self.preview, 1)
        self.preview_info = QLabel()
        self.preview_info.setWordWrap(True)
        self.preview_info.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.preview_info)
        self._build_check(lay)
        self.preview_box = box
        return box

    def _build_check(self, lay: QVBoxLayout) -> None:
        """'Check against a tensor…': compare the previewed image's tensor with one made by the user's own code."""
        row = QHBoxLayout()
        self.check_button = QPushButton("Check against a tensor…")
        self.check_button.setToolTip("Compare the tensor for the previewed image with a reference .npy your own "
                                     "code made for the same image, and find the preset or setting that matches it")
        self.check_button.clicked.connect(self._on_check_clicked)
        row.addWidget(self.check_button)
        self.check_apply = QPushButton("Apply")
        self.check_apply.setToolTip("Change the form to the closest candidate found by the check")
        self.check_apply.clicked.connect(self.apply_best_candidate)
        self.check_apply.setVisible(False)
        row.addWidget(self.check_apply)
        row.addStretch(1)
        lay.addLayout(row)
        self.check_info = QLabel()
        self.check_info.setWordWrap(True)
        self.check_info.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.check_info)
        self.check_heat = OverlayImage("The difference from the reference tensor is shown here after a check.")
        self.check_heat.setToolTip("Where the tensor differs from the reference: the mean absolute difference over "
                                   "the channels, brighter where it is larger")
        self.check_heat.setVisible(False)
        lay.addWidget(self.check_heat, 1)

    def _on_check_clicked(self):
        path, _ = QFileDialog.getOpenFileName(self, "Reference tensor for the previewed image", "",
                                              "NumPy tensors (*.npy);;All files (*)")
        if path:
            self.check_against(path)

    def check_against(self, path):
        """Check the previewed image's tensor (the form's profile) against the reference tensor in ``path``.

        Shows the difference (max, mean, the best candidate and its change) and a heat map of where it lies;
        returns the CheckReport, or None when the check could not run (the reason shown)."""
        from desktop.engine.checkprep import check_preprocessing, load_reference

        self.check_report = None
        self.check_apply.setVisible(False)
        image_path = self.preview_pick.currentData()
        if not image_path:
            self.check_info.setText("Queue an image first: the reference is compared with that image's tensor.")
            return None
        QApplication.setOverrideCursor(Qt.WaitCursor)
        try:
            profile = self.build_profile()
            reference = load_reference(path)
            dicom = _is_dicom(image_path)
            source = self._pil(image_path, profile) if dicom else image_path  # a path: decoded as scoring does
            report = check_preprocessing(source, profile.image, reference)
            arr = image_to_array(self._pil(image_path, profile), profile.image)
        except EngineError as exc:
            self.check_info.setText(str(exc))
            self.check_heat.setVisible(False)
            return None
        finally:
            QApplication.restoreOverrideCursor()
        self.check_report = report
        cur = report.current
        lines = [f"<b>{os.path.basename(str(path))}</b>: max difference {cur.max_abs:.4g}, mean {cur.mean_abs:.4g} "
                 f"({'matches' if report.matches else 'does not match'}; tolerance {report.threshold:.3g})"]
        best = report.candidates[0] if report.candidates else None
        if best is not None:
            import json

            lines.append(f"Best candidate: {best.label} (max {best.max_abs:.4g}, mean {best.mean_abs:.4g}"
                         f"{', matches' if best.matches else ''}); change: <code>{json.dumps(best.change)}</code>")
        self.check_info.setText("<br>".join(lines))
        shown = arr[:, :, ::-1] if profile.image.color == "BGR" else arr
        shown = np.clip(shown, 0, 255).astype(np.uint8)
        self.check_heat.set_image(array_to_qimage(shown[:, :, 0] if shown.shape[2] == 1 else shown))
        self.check_heat.set_heat(cur.heat, "difference")
        self.check_heat.setVisible(True)
        self.check_apply.setVisible(report.better is not None)
        return report

    def apply_best_candidate(self):
        """Change the form to the check's best candidate: a preset's replaces the image section, a variant's
        keys are merged into it."""
        report = self.check_report
        best = report.better if report is not None else None
        if best is None:
            return
        from desktop.engine.checkprep import _merge

        current = self.to_dict().get("image", {})
        change = best.change.get("image", {})
        image = dict(change) if "preset" in change else _merge(current, change)
        try:
            spec = _parse_image(image)
        except EngineError as exc:
            report_error(exc, inline=self.message.show_error)
            return
        self.preset_name = spec.preset
        if spec.preset:
            self._before = ()
        self._loading = True
        try:
            self._load_image(spec)
            self._set_library_preset(spec.preset)
        finally:
            self._loading = False
        self._on_changed()

    # ------------------------------------------------------------------ profile <-> form
    def _set_combo(self, combo: QComboBox, value) -> None:
        i = combo.findData(value)
        combo.setCurrentIndex(max(i, 0))

    def _load(self, profile) -> None:
        self._set_combo(self.task, profile.task)
        det = profile.detection
        self._set_combo(self.family, det.family if det and det.family else "")
        self.det_conf.setValue(det.conf if det and det.conf is not None else 0)
        self.det_iou.setValue(det.iou if det and det.iou is not None else 0)
        self.det_max.setValue(det.max_det if det and det.max_det is not None else 0)
        self.det_agnostic.setChecked(bool(det and det.class_agnostic))
        self._set_combo(self.input_name, profile.input)
        self._set_combo(self.kind, "table" if profile.table is not None or profile.image is None and
                        len(self.engine.input_spec.shape) <= 2 else "image")
        self.labels.setPlainText("\n".join(profile.labels))
        self.review_below.setValue(profile.review_below or 0)
        spec = profile.image
        if spec is None:
            from desktop.engine.profile import default_profile

            guess = default_profile(self.engine.info).image
            from desktop.engine.profile import ImageSpec, Resize

            spec = guess or ImageSpec(resize=Resize("stretch", (224, 224)))
        self._load_image(spec)
        self._set_library_preset(profile.image.preset if profile.image else None)
        self._load_dicom(profile.dicom)
        self._load_table(profile)

    def _load_image(self, spec) -> None:
        """Fill the image section of the form from an ImageSpec (the last resize stage)."""
        self._set_combo(self.color, spec.color)
        self._set_combo(self.layout_combo, spec.layout)
        self._set_combo(self.dtype, spec.dtype)
        r = spec.resize
        self._set_combo(self.resize_mode, r.mode if r else "")
        size = (r.size if r and r.size else None) or spec.output_size() or (224, 224)
        self.width_spin.setValue(size[0])
        self.height_spin.setValue(size[1])
        self.shorter.setValue((r.shorter if r and r.shorter else None) or 256)
        self._set_combo(self.library, r.library if r else "pillow")
        self._fill_interpolations(r.library if r else "pillow", r.interpolation if r else None)
        self._set_combo(self.rounding, (r.rounding if r else None) or "")
        self._set_combo(self.output, r.output if r else "uint8")
        self.pad_first.setChecked(bool(r and r.pad_first))
        self.grow.setChecked(bool(r and r.grow))
        self.max_width.setValue((r.max_width if r else None) or 0)
        self.limit.setValue((r.limit if r else None) or max(size))
        self._set_combo(self.limit_type, r.limit_type if r else "max")
        self.multiple.setValue(r.multiple if r else 32)
        self.min_size.setValue(r.min_size if r else 32)
        self.auto.setChecked(bool(r and r.auto))
        self.stride.setValue(r.stride if r else 32)
        self.scaleup.setChecked(r.scaleup if r else True)
        self._set_combo(self.crop_rounding, spec.crop_rounding)
        self._set_combo(self.exif, spec.exif)
        self._set_combo(self.anchor, r.pad_anchor if r else "center")
        self.pad_value.setText(_fmt_numbers(r.pad_value if r else (0.0,)))
        self.crop.setChecked(spec.crop is not None)
        crop = spec.crop or size
        self.crop_w.setValue(crop[0])
        self.crop_h.setValue(crop[1])
        self.scale.setText(repr(float(spec.scale)))  # every digit, so a save keeps the value
        self.mean.setText(_fmt_numbers(spec.mean))
        self.std.setText(_fmt_numbers(spec.std))
        self._match_preset()

    def _load_table(self, profile) -> None:
        cols = profile.table.columns if profile.table else None
        self.first_numeric.setChecked(profile.table is not None and cols is None)
        n = self.engine.n_features or (len(cols) if cols else 0)
        names = list(cols) if cols else []
        self.columns.setRowCount(n)
        self.columns.setVerticalHeaderLabels([f"feature {i + 1}" for i in range(n)])
        for i in range(n):
            combo = QComboBox()
            combo.setEditable(True)
            combo.addItems(self.csv_header)
            combo.setCurrentText(names[i] if i < len(names) else (self.csv_header[i] if i < len(self.csv_header) else ""))
            combo.setToolTip(f"The CSV column for the model's feature {i + 1}")
            combo.currentTextChanged.connect(self._on_changed)
            self.columns.setCellWidget(i, 0, combo)

    def _match_preset(self):
        try:
            scale = float(self.scale.text())
            mean, std = _numbers(self.mean.text(), "Mean"), _numbers(self.std.text(), "Std")
        except (ValueError, ProfileError):
            self._set_preset(CUSTOM)
            return
        for name, (s, m, d) in PRESETS.items():
            if abs(s - scale) < 1e-6 and _same(m, mean) and _same(d, std):
                self._set_preset(name)
                return
        self._set_preset(CUSTOM)

    def _set_preset(self, name):
        self.preset.blockSignals(True)
        self.preset.setCurrentIndex(self.preset.findData(name))
        self.preset.blockSignals(False)

    def _on_preset_changed(self):
        name = self.preset.currentData()
        if name not in PRESETS or self._loading:
            return
        s, m, d = PRESETS[name]
        self._loading = True
        self.scale.setText(f"{s:.10g}")
        channels = 1 if self.color.currentData() == "L" else 3
        self.mean.setText(_fmt_numbers(m if len(m) in (1, channels) else m[:1]))
        self.std.setText(_fmt_numbers(d if len(d) in (1, channels) else d[:1]))
        self._loading = False
        self._on_changed()

    def to_dict(self) -> dict:
        d: dict = {"input": self.input_name.currentData(), "task": self.task.currentData()}
        labels = [x.strip() for x in self.labels.toPlainText().splitlines() if x.strip()]
        if labels:
            d["labels"] = labels
        if self.review_below.value() > 0:
            d["review_below"] = round(self.review_below.value(), 4)
        for k, v in self.profile.extra.items():
            d[k] = v
        if d["task"] == "detection":
            detection = self._detection_dict()
            if detection:
                d["detection"] = detection
        # sections this form does not edit travel as they were
        for k, v in self.profile.to_dict().items():
            if k not in d and k not in ("input", "task", "labels", "review_below", "image", "table", "detection"):
                if k == "dicom" and self.kind.currentData() == "image":
                    continue  # the form's DICOM group edits it (a table model's travels as it was)
                d[k] = v
        if self.kind.currentData() == "image":
            dicom = self._dicom_dict()
            if dicom is not None:
                d["dicom"] = dicom
            img: dict = {"color": self.color.currentData(), "layout": self.layout_combo.currentData(),
                         "dtype": self.dtype.currentData()}
            mode = self.resize_mode.currentData()
            if mode:
                r: dict = {"mode": mode, "interpolation": self.interp.currentData()}
                if mode == "shorter-side":
                    r["shorter"] = self.shorter.value()
                elif mode != "limit-side":
                    r["size"] = [self.width_spin.value(), self.height_spin.value()]
                r.update(self._resize_details(mode))
                # fit, height and pad_first pad with it; a crop larger than the image does in every mode
                r["pad"] = {"anchor": self.anchor.currentData(), "value": _numbers(self.pad_value.text() or "0",
                                                                                    "Pad value")}
                # the form edits the last stage; the stages before it travel as they were
                before = self._before
                img["resize"] = [s.to_dict() for s in before] + [r] if before else r
            if self.crop.isChecked():
                img["crop"] = [self.crop_w.value(), self.crop_h.value()]
            img["crop_rounding"] = self.crop_rounding.currentData()
            img["exif"] = self.exif.currentData()
            try:
                img["scale"] = float(self.scale.text())
            except ValueError:
                raise ProfileError("Scale: write a number, e.g. 0.00392157 (= 1/255)") from None
            img["mean"] = _numbers(self.mean.text(), "Mean")
            img["std"] = _numbers(self.std.text(), "Std")
            if self.preset_name:  # the preset's name and only the keys the form changes from it
                img = replace(_parse_image(img), preset=self.preset_name).to_dict()
            d["image"] = img
        else:
            if self.first_numeric.isChecked() or self.columns.rowCount() == 0:
                d["table"] = {"columns": None}
            else:
                cols = [self.columns.cellWidget(i, 0).currentText().strip() for i in range(self.columns.rowCount())]
                missing = [str(i + 1) for i, c in enumerate(cols) if not c]
                if missing:
                    raise ProfileError(f"Choose a CSV column for feature {', '.join(missing)}")
                d["table"] = {"columns": cols}
        return d

    def build_profile(self):
        """The profile in the form, checked against the model; raises ProfileError naming the problem."""
        profile = profile_from_dict(self.to_dict())
        profile = replace(profile, extra=dict(self.profile.extra))
        return check_profile(profile, self.engine.info)

    # ------------------------------------------------------------------ reacting
    def _on_changed(self, *_):
        if self._loading:
            return
        image = self.kind.currentData() == "image"
        self.detection_box.setVisible(self.task.currentData() == "detection")
        self.image_box.setVisible(image)
        self.dicom_box.setVisible(image)
        self.dicom_form.setRowVisible(self.window_custom, self.dicom_window.currentData() == CUSTOM_WINDOW)
        self.table_box.setVisible(not image)
        self.preview_box.setVisible(image)
        mode = self.resize_mode.currentData()
        for w in (self.width_spin, self.height_spin, self.size_label):
            w.setEnabled(mode in ("stretch", "fit", "height"))
        for w in (self.shorter, self.shorter_label):
            w.setEnabled(mode == "shorter-side")
        pads = mode in ("fit", "height") or (mode in ("stretch", "shorter-side") and self.pad_first.isChecked())
        for w in (self.anchor, self.anchor_label, self.pad_value, self.pad_label):
            w.setEnabled(pads)
        self.interp.setEnabled(bool(mode))
        self._show_resize_details(mode)
        for w in (self.crop_w, self.crop_h):
            w.setEnabled(self.crop.isChecked())
        self.columns.setEnabled(not self.first_numeric.isChecked())
        self._match_preset()
        try:
            profile = self.build_profile()
            self._check_fit(profile)
        except EngineError as exc:
            report_error(exc, inline=self.message.show_error)
            self.save_button.setEnabled(False)
            self.apply_button.setEnabled(False)
            self.words.setText("")
            self._update_preview()
            return
        self.message.clear_message()
        self.save_button.setEnabled(True)
        self.apply_button.setEnabled(True)
        words = profile.describe()
        if profile.dicom is not None and profile.image is not None:
            from desktop.engine.profile import describe_dicom

            words += f"; DICOM: {describe_dicom(profile.dicom)}"
        self.words.setText(f"<b>In words:</b> {html.escape(words, quote=False)}")
        self._update_preview()

    def _show_resize_details(self, mode: str) -> None:
        """Each 'Resize details' row only where it applies: its mode, a crop, an image at all."""
        shown = {self.library: bool(mode), self.output: bool(mode),
                 self.rounding: mode in ("shorter-side", "fit", "height"),
                 self.pad_first: mode in ("stretch", "shorter-side"),
                 self.grow: mode == "height", self.max_width: mode == "height" and self.grow.isChecked(),
                 self.crop_rounding: self.crop.isChecked(), self.exif: True}
        for w in (self.limit, self.limit_type, self.multiple, self.min_size):
            shown[w] = mode == "limit-side"
        for w in (self.auto, self.scaleup):
            shown[w] = mode == "fit"
        shown[self.stride] = mode == "fit" and self.auto.isChecked()
        folded = not self.resize_box.isChecked()
        for w, visible in shown.items():
            self.resize_form.setRowVisible(w, visible and not folded)

    def _check_fit(self, profile) -> None:
        """Preprocess the previewed image (or a blank one) with the engine: a size the model refuses raises."""
        if profile.image is None:
            return
        from PIL import Image

        path = self.preview_pick.currentData()
        try:
            img = self._pil(path, profile) if path else Image.new("RGB", (64, 48), (128, 128, 128))
        except EngineError:
            img = Image.new("RGB", (64, 48), (128, 128, 128))
        self.engine.with_profile(profile).preprocess(img)

    def _pil(self, path, profile=None):
        """The decoded image; a DICOM file's through ``profile``'s window (the form's), else the engine's."""
        dicom = _is_dicom(path)
        engine = self.engine.with_profile(profile) if dicom and profile is not None else self.engine
        key = (path, repr(engine.profile.dicom.window) if dicom and engine.profile.dicom else None)
        if key not in self._image_cache:
            img, _ = engine.load_image(path, "dicom" if dicom else "image")
            if max(img.size) > 1600:
                img = img.copy()
                img.thumbnail((1600, 1600))
            self._image_cache[key] = img
        return self._image_cache[key]

    def _update_preview(self, *_):
        if self.kind.currentData() != "image":
            return
        path = self.preview_pick.currentData()
        if not path:
            self.preview.set_image(None)
            self.preview_info.setText("")
            return
        try:
            profile = self.build_profile()
            img = self._pil(path, profile)
            arr = image_to_array(img, profile.image)
            tensor, _ms = self.engine.with_profile(profile).preprocess(img)
        except EngineError as exc:
            self.preview.set_image(None)
            self.preview_info.setText(str(exc))
            return
        shown = arr[:, :, ::-1] if profile.image.color == "BGR" else arr
        shown = np.clip(shown, 0, 255).astype(np.uint8)
        self.preview.set_image(array_to_qimage(shown[:, :, 0] if shown.shape[2] == 1 else shown))
        t = tensor.astype(np.float64)
        self.preview_info.setText(
            f"{img.size[0]}×{img.size[1]} → {arr.shape[1]}×{arr.shape[0]} pixels · tensor "
            f"{'×'.join(map(str, tensor.shape))} {tensor.dtype} ({profile.image.layout}, batch axis added when scored)"
            f" · values {t.min():.4g} to {t.max():.4g}, mean {t.mean():.4g}"
            + (" · shown in RGB; the model receives BGR" if profile.image.color == "BGR" else ""))

    def preview_tensor(self):
        """The tensor the preview shows (for tests): the engine's preprocessing of the selected image."""
        path = self.preview_pick.currentData()
        profile = self.build_profile()
        return self.engine.with_profile(profile).preprocess(self._pil(path, profile))[0]

    def _on_save_clicked(self):
        try:
            profile = self.build_profile()
        except EngineError as exc:
            report_error(exc, inline=self.message.show_error)
            return
        path = sidecar_for(self.engine.model_path)
        try:
            save_profile(profile, path)
        except OSError as exc:  # the message names the file; the dialog stays open
            report_error(exc, inline=self.message.show_error)
            return
        self.saved.emit(profile, path)
        self.accept()

    def _on_apply_clicked(self):
        try:
            profile = self.build_profile()
        except EngineError as exc:
            report_error(exc, inline=self.message.show_error)
            return
        self.applied.emit(profile)
        self.accept()


def _is_dicom(path: str) -> bool:
    """Whether a queued path is DICOM: a .dcm file, a frame of one (``file.dcm#frame=3``), or a file named
    without the extension (a scanner's IM0001, a UID) that holds the DICM preamble, as the queue decides."""
    from desktop.engine.inputs.dicomseries import file_of, has_dicom_preamble

    file = file_of(path)
    return file.lower().endswith((".dcm", ".dicom")) or has_dicom_preamble(file)


def _same(a, b, tol=1e-4) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tol * max(1.0, abs(y)) for x, y in zip(a, b))

