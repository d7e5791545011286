"""The detail pane: the selected item's image with top-k bars, or its CSV features, plus the raw outputs."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QFrame, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QScrollArea, QSizePolicy, QSlider, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from desktop.engine.inputs import InputKind
from desktop.engine.decoders.raw import SMALL_OUTPUT, value_rows
from desktop.engine.decoders.classification import SCORE_KINDS
from desktop.engine.results import review_reason, tensor_summary

from desktop.runs import fmt
from desktop.runs.preview import load_preview
from desktop.runs.review import decision_text
from ..models import error_color
from .explain import ExplainPanel
from .overlay import Box, OverlayImage

#: the heat map choice that is the explanation's map
EXPLANATION = "\x00explanation"


def array_to_qimage(arr: np.ndarray) -> QImage:
    """(H, W) or (H, W, 3) uint8 as a QImage (copied)."""
    arr = np.ascontiguousarray(arr)
    h, w = arr.shape[:2]
    if arr.ndim == 2 or arr.shape[2] == 1:
        arr = np.ascontiguousarray(arr.reshape(h, w))
        return QImage(arr.data, w, h, arr.strides[0], QImage.Format_Grayscale8).copy()
    return QImage(arr.data, w, h, arr.strides[0], QImage.Format_RGB888).copy()


class ScaledImage(QLabel):
    """An image scaled to fit, crisp for tiny images (nearest neighbour when enlarging a lot)."""

    def __init__(self, placeholder: str = "", parent=None):
        super().__init__(parent)
        self._pix: QPixmap | None = None
        self._placeholder = placeholder
        self.setAlignment(Qt.AlignCenter)
        self.setMinimumSize(120, 120)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setFrameShape(QFrame.StyledPanel)
        self.setText(placeholder)
        self.setWordWrap(True)

    def set_image(self, image: QImage | None) -> None:
        self._pix = QPixmap.fromImage(image) if image is not None and not image.isNull() else None
        if self._pix is None:
            self.setPixmap(QPixmap())
            self.setText(self._placeholder)
        self._rescale()

    def has_image(self) -> bool:
        return self._pix is not None

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._rescale()

    def sizeHint(self):
        return QSize(260, 220)

    def _rescale(self):
        if self._pix is None:
            return
        area = self.contentsRect().size() - QSize(4, 4)
        if area.width() < 8 or area.height() < 8:
            return
        ratio = self.devicePixelRatioF()
        target = self._pix.size().scaled(area * ratio, Qt.KeepAspectRatio)
        enlarge = target.width() > 3 * self._pix.width()
        pix = self._pix.scaled(target, Qt.KeepAspectRatio,
                               Qt.FastTransformation if enlarge else Qt.SmoothTransformation)
        pix.setDevicePixelRatio(ratio)
        self.setPixmap(pix)


class TopKBars(QWidget):
    """Horizontal bars, one per label: name, bar proportional to the score, score to 3 digits."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.predictions: list = []
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)
        self.setToolTip("The best labels and their scores")

    def set_predictions(self, predictions) -> None:
        self.predictions = list(predictions)
        self.updateGeometry()
        self.setFixedHeight(self._row_h() * len(self.predictions) + 4)
        self.update()

    def _row_h(self) -> int:
        return QFontMetrics(self.font()).height() + 8

    def sizeHint(self):
        return QSize(240, self._row_h() * max(1, len(self.predictions)) + 4)

    def paintEvent(self, event):
        if not self.predictions:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        fm = QFontMetrics(self.font())
        pal = self.palette()
        label_w = min(max(fm.horizontalAdvance(pr.label) for pr in self.predictions) + 10, self.width() // 2)
        score_w = fm.horizontalAdvance("0.000e-00") + 8
        bar_w = max(10, self.width() - label_w - score_w - 4)
        rh = self._row_h()
        for n, pr in enumerate(self.predictions):
            y = n * rh + 2
            p.setPen(pal.color(QPalette.WindowText))
            text = fm.elidedText(pr.label, Qt.ElideRight, label_w - 8)
            p.drawText(QRectF(0, y, label_w - 6, rh), Qt.AlignVCenter | Qt.AlignRight, text)
            track = QRectF(label_w, y + 4, bar_w, rh - 8)
            bg = QColor(pal.color(QPalette.Mid))
            bg.setAlpha(60)
            p.fillRect(track, bg)
            score = float(pr.score) if pr.score == pr.score else 0.0
            frac = min(1.0, max(0.0, score))
            color = pal.color(QPalette.Highlight)
            if n:
                color.setAlpha(150)
            p.fillRect(QRectF(label_w, y + 4, bar_w * frac, rh - 8), color)
            p.setPen(pal.color(QPalette.WindowText))
            p.drawText(QRectF(label_w + bar_w + 6, y, score_w, rh), Qt.AlignVCenter | Qt.AlignLeft, fmt.score(score))
        p.end()


NUMBERED_CLASSES_HINT = ("Classes are numbered because the model names none: add labels in Preprocessing… "
                         "(profile key labels).")


def _section(text: str) -> QLabel:
    label = QLabel(text.upper())
    f = label.font()
    f.setBold(True)
    f.setPointSizeF(f.pointSizeF() * 0.9)
    label.setFont(f)
    label.setForegroundRole(QPalette.PlaceholderText)
    return label


def _table(headers, tip: str) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.verticalHeader().setVisible(False)
    t.setEditTriggers(QAbstractItemView.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectRows)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    t.setToolTip(tip)
    t.setSizeAdjustPolicy(QAbstractItemView.AdjustToContents)
    t.setVerticalScrollBarPolicy(Qt.ScrollBarAsNeeded)
    return t


def _fill(table: QTableWidget, rows, max_rows: int = 12) -> None:
    """Fill ``table`` with ``rows`` and make it as tall as its first ``max_rows`` rows (it scrolls past them)."""
    table.setRowCount(len(rows))
    for r, cells in enumerate(rows):
        for c, value in enumerate(cells):
            item = QTableWidgetItem(value if isinstance(value, str) else str(value))
            if c > 0 and not isinstance(value, str):
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            table.setItem(r, c, item)
    height = table.horizontalHeader().height() + sum(table.rowHeight(i) for i in range(min(len(rows), max_rows))) + 6
    table.setFixedHeight(max(height, 40))


class ReviewBar(QWidget):
    """The detail pane's review row: Accept, Override…, Flag… and the current decision, with reviewer and time."""

    review_requested = Signal(str)  # "accept" | "override" | "flag": a button was pressed

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        row = QHBoxLayout()
        self.buttons = {}
        for decision, text, tip in (
                ("accept", "Accept", "The result is right (A)"),
                ("override", "Override…", "The result is wrong: choose the correct label or value (O)"),
                ("flag", "Flag…", "Mark the result for someone to look at, with a reason (F)")):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.setMinimumWidth(48)  # may share a narrow pane's width, never push it into scrolling sideways
            b.clicked.connect(lambda _=False, d=decision: self.review_requested.emit(d))
            row.addWidget(b)
            self.buttons[decision] = b
        row.addStretch(1)
        lay.addLayout(row)
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.state.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.state.setToolTip("The current review decision on this result; every decision is kept in the audit "
                              "trail")
        lay.addWidget(self.state)
        self.show_decision(None, False)

    def show_decision(self, decision, enabled: bool, why: str = "") -> None:
        """Show ``decision`` (a Decision, or None: not reviewed); ``enabled``: whether the buttons decide now
        (else ``why`` says why not, in their tooltip)."""
        self.state.setText(decision_text(decision))
        for b in self.buttons.values():
            b.setEnabled(enabled)
        self.setToolTip("" if enabled else why)


class DetailPane(QScrollArea):
    """Everything about one Result: what was scored, the answer in full precision, the raw outputs.

    The image is decoded on a worker (``jobs``, the window's; the slot "preview": moving on to
    another result drops the one being decoded) and the last few are kept, so that the arrow
    keys never wait for a decoder; without ``jobs`` it is decoded at once.
    """

    image_shown = Signal(str)  # path: its preview is on screen (or cannot be)
    conf_changed = Signal(object)  # a detector's threshold to show (float), or None for the run's own
    CACHED = 8  # previews kept: the arrows back and forth need no decoding

    def __init__(self, jobs=None, parent=None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.NoFrame)
        self.result = None
        self.engine = None
        self.jobs = jobs
        self._previews: OrderedDict = OrderedDict()  # (path, engine id) -> QImage
        body = QWidget()
        self.setWidget(body)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addWidget(_section("Detail"))
        self.title = QLabel("Select a result to see its detail here.")
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.title)
        self.origin = QLabel()  # "From run X with model Y": shown when the loaded model did not produce the result
        self.origin.setObjectName("detailOrigin")
        self.origin.setWordWrap(True)
        self.origin.setVisible(False)
        lay.addWidget(self.origin)
        self.review_bar = ReviewBar()  # shown for a result of a recorded run (desktop.ui.review wires it)
        self.review_bar.setVisible(False)
        lay.addWidget(self.review_bar)
        self.image = OverlayImage("")
        self.image.setMinimumHeight(300)  # what the model found must be legible without enlarging the pane
        self.image.setToolTip("The scored image, with what the model found drawn on it")
        lay.addWidget(self.image, 2)
        self.overlay_bar = QWidget()
        rows = QVBoxLayout(self.overlay_bar)  # two rows: the pane is narrow at 1024 px
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(2)
        bar, second = QHBoxLayout(), QHBoxLayout()
        rows.addLayout(bar)
        rows.addLayout(second)
        self.show_boxes = QCheckBox("Boxes")
        self.show_boxes.setToolTip("Draw the detected boxes with their class and score")
        self.show_mask = QCheckBox("Mask")
        self.show_mask.setToolTip("Colour each pixel by the class the model gave it")
        self.heat_choice = QComboBox()
        self.heat_choice.setToolTip("Show one of the model's 2-D outputs as a heat map over the image")
        self.opacity = QSlider(Qt.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(45)
        self.opacity.setMaximumWidth(90)
        self.opacity.setToolTip("Opacity of the mask and heat map")
        for box in (self.show_boxes, self.show_mask):
            box.setChecked(True)
            bar.addWidget(box)
        self.conf_label = QLabel()
        self.conf = QSlider(Qt.Horizontal)
        self.conf.setRange(1, 99)
        self.conf.setMaximumWidth(110)
        self.conf.setToolTip("Confidence threshold: the boxes drawn and counted in the table are those scoring "
                             "over it, re-filtered from what the run kept (nothing is scored again). Exports and "
                             "the history keep the run's own threshold.")
        self.conf_label.setToolTip(self.conf.toolTip())
        bar.addWidget(self.conf_label)
        bar.addWidget(self.conf)
        self._run_conf: float | None = None  # the threshold of the run the shown result is from
        self.conf.valueChanged.connect(self._on_conf_moved)
        bar.addStretch(1)
        self.heat_choice.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.heat_choice.setMinimumContentsLength(8)
        second.addWidget(self.heat_choice, 1)
        self.opacity_label = QLabel("Opacity")
        second.addWidget(self.opacity_label)
        second.addWidget(self.opacity)
        self.show_boxes.toggled.connect(self._on_overlay_toggled)
        self.show_mask.toggled.connect(self._on_overlay_toggled)
        self.heat_choice.currentIndexChanged.connect(self._on_heat_chosen)
        self.opacity.valueChanged.connect(lambda v: self.image.set_opacity(v / 100.0))
        lay.addWidget(self.overlay_bar)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.error.setObjectName("detailError")
        lay.addWidget(self.error)
        self.answer_title = _section("Answer")
        lay.addWidget(self.answer_title)
        self.bars = TopKBars()
        lay.addWidget(self.bars)
        self.answer = QLabel()
        self.answer.setWordWrap(True)
        self.answer.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.answer.setToolTip("Full-precision scores or values")
        lay.addWidget(self.answer)
        self.score_note = QLabel()  # what the score is, whether it is marked for review, where labels are set
        self.score_note.setWordWrap(True)
        self.score_note.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.score_note)
        self.explain_title = _section("Explain")
        lay.addWidget(self.explain_title)
        self.explain = ExplainPanel()
        lay.addWidget(self.explain)
        self._explanation_map = None  # the explanation's map over the image, offered as a heat map
        self.passthrough_title = _section("Passed through")
        lay.addWidget(self.passthrough_title)
        self.passthrough = _table(["Column", "Value"], "The CSV row's other columns (not model features), "
                                                       "as they are in the file")
        lay.addWidget(self.passthrough)
        self._build_dicom_section(lay)
        self.features_title = _section("Row values")
        lay.addWidget(self.features_title)
        self.features = _table(["Column", "Value"], "The CSV row's values that were fed to the model")
        lay.addWidget(self.features)
        self.outputs_title = _section("Raw outputs")
        lay.addWidget(self.outputs_title)
        self.outputs = _table(["Output", "Shape", "Type", "Min", "Max", "Mean"],
                              "Every model output for this item, summarised")
        lay.addWidget(self.outputs)
        self.values_title = _section("Output values")
        lay.addWidget(self.values_title)
        self.values = _table(["Output", "Index", "Value"], "The values of each small model output, in full "
                             "precision (named by the profile's labels where one value stands for each)")
        lay.addWidget(self.values)
        self.values_note = QLabel()
        self.values_note.setWordWrap(True)
        lay.addWidget(self.values_note)
        self.timings = QLabel()
        self.timings.setWordWrap(True)
        self.timings.setToolTip("Milliseconds spent on this item in each stage")
        lay.addWidget(self.timings)
        lay.addStretch(0)
        self.show_result(None)

    def show_result(self, result, engine=None) -> None:
        """Show a Result (or the empty state for None)."""
        self._show_dicom(None, result.input if result is not None else None)  # its preview brings the facts
        self.result, self.engine = result, engine
        empty = result is None
        for w in (self.answer_title, self.bars, self.answer, self.score_note, self.passthrough_title, self.passthrough,
                  self.features_title, self.features,
                  self.outputs_title, self.outputs, self.values_title, self.values, self.values_note,
                  self.timings, self.error):
            w.setVisible(False)
        self.image.clear_overlays()
        self._explanation_map = None
        self._show_overlay_controls(result)
        self._offer_explain(result, engine)
        self.answer.setToolTip("Full-precision scores or values" if result is None or result.conf is None else
                               "Each detection: class, score, and its box (x1, y1, x2, y2) in the image's pixels")
        if empty:
            self.title.setText("Select a result to see its detail here. Use ↑ and ↓ to move through the results.")
            self.image.setVisible(False)
            self.image.set_image(None)
            return
        self.title.setText(f"<b>{_esc(result.display_name)}</b><br><span style='font-size:small'>"
                           f"{_esc(result.input)}</span>")
        self.title.setToolTip(result.input)
        self._show_image(result, engine)
        if not result.ok:
            self.error.setVisible(True)
            self.error.setText(f"<b>✖ Failed:</b> {_esc(result.error or '')}")
            self.error.setStyleSheet(f"color: {error_color(self.palette()).name()};")
        if result.top:
            self.answer_title.setVisible(True)
            self.bars.setVisible(True)
            self.bars.set_predictions(result.top)
            self.answer.setVisible(True)
            self.answer.setText("<br>".join(f"{_esc(p.label)} (#{p.index}): {float(p.score)!r}" for p in result.top))
            self._show_score_note(result, engine)
        elif result.conf is not None:
            self.answer_title.setVisible(True)
            self.answer.setVisible(True)
            self._show_detections()
        elif result.masks is not None and result.ok:
            self.answer_title.setVisible(True)
            self.answer.setVisible(True)
            self._show_mask()
        elif result.values:
            self.answer_title.setVisible(True)
            self.answer.setVisible(True)
            self.answer.setText("<span style='font-size:large'><b>" + ", ".join(fmt.score(v) for v in result.values)
                                + "</b></span><br>" + ", ".join(repr(float(v)) for v in result.values))
        if result.passthrough:
            self.passthrough_title.setVisible(True)
            self.passthrough.setVisible(True)
            _fill(self.passthrough, [(str(k), str(v)) for k, v in result.passthrough.items()])
        if result.features:
            self.features_title.setVisible(True)
            self.features.setVisible(True)
            _fill(self.features, [(str(k), v if isinstance(v, str) else _num(v)) for k, v in result.features.items()])
        if result.outputs:
            self.outputs_title.setVisible(True)
            self.outputs.setVisible(True)
            rows = []
            for name, value in result.outputs.items():
                s = tensor_summary(value)
                shape = "×".join(map(str, s["shape"])) or "scalar"
                rows.append((name, shape, s["dtype"], *(("—" if s[k] is None else repr(s[k])) for k in ("min", "max", "mean"))))
            _fill(self.outputs, rows)
            self._show_values(result, engine)
        t = result.timings
        self.timings.setVisible(True)
        if not result.ok and t.infer == 0:  # never reached the model: no "0.0000 ms = decode 0.0000 + …"
            spent = [f"{name} {ms:.4f} ms" for name, ms in (("decode", t.decode), ("preprocess", t.preprocess)) if ms]
            self.timings.setText("Not scored" + (f" · {' + '.join(spent)} before it failed" if spent else ""))
        else:
            self.timings.setText(f"<b>{t.total:.4f} ms</b> = decode {t.decode:.4f} + preprocess {t.preprocess:.4f}"
                                 f" + inference {t.infer:.4f} + postprocess {t.postprocess:.4f}")
        if getattr(result, "worker", None):  # a cluster run's: the machine that scored it
            self.timings.setText(self.timings.text() + f"<br>Scored by the cluster worker on <b>{_esc(result.worker)}</b>")

    def _show_score_note(self, result, engine) -> None:
        """Below a classifier's scores: the review mark and why, what the score is, and a hint when the classes
        are only numbered."""
        lines = []
        if result.needs_review:
            lines.append(f"<b>⚑ For review:</b> {_esc(review_reason(result.top_score, result.review_below))}.")
        meaning = SCORE_KINDS.get(result.score_kind or "")
        if meaning:
            lines.append(f"Score: {_esc(meaning)}.")
        labelled = engine is not None and getattr(engine, "profile", None) is not None and engine.profile.labels
        if not labelled and all(p.label == str(p.index) for p in result.top):
            lines.append(NUMBERED_CLASSES_HINT)
        if lines:
            self.score_note.setVisible(True)
            self.score_note.setText("<br>".join(lines))

    def _show_values(self, result, engine) -> None:
        """The Output values section: every value of the outputs with at most SMALL_OUTPUT of them, up to
        SMALL_OUTPUT rows in all (the larger outputs keep only their summary above)."""
        labels = tuple(engine.profile.labels) if engine is not None and getattr(engine, "profile", None) else ()
        rows, total = [], 0
        for name, value in result.outputs.items():
            n = len(value) if isinstance(value, dict) else int(np.asarray(value).size)
            if not n or n > SMALL_OUTPUT:
                continue
            total += n
            if len(rows) < SMALL_OUTPUT:
                found, _ = value_rows(value, labels, cap=SMALL_OUTPUT - len(rows))
                rows += [(name, key, v) for key, v in found]
        if not rows:
            return
        self.values_title.setVisible(True)
        self.values.setVisible(True)
        _fill(self.values, rows)
        if total > len(rows):
            self.values_note.setVisible(True)
            self.values_note.setText(f"Showing {len(rows):,} of {total:,} values.")

    def _show_image(self, result, engine):
        is_image = result.kind in (InputKind.IMAGE, InputKind.DICOM)
        self.image.setVisible(is_image)
        if not is_image:
            self.image.set_image(None)
            return
        key = (result.input, id(engine))
        cached = self._previews.get(key)
        if cached is not None:
            self._previews.move_to_end(key)
            self._set_preview(result.input, cached)
            return
        self.image.set_placeholder("Loading the image…")
        self.image.set_image(None)
        if self.jobs is None:
            try:
                self._on_preview(key, load_preview(result.input, result.kind, engine))
            except Exception:  # noqa: BLE001 - the row already carries the engine's error for this file
                self._on_preview_failed(key)
            return
        self.jobs.start("preview", load_preview, result.input, result.kind, engine,
                        on_returned=lambda preview: self._on_preview(key, preview),
                        on_errored=lambda exc: self._on_preview_failed(key))

    def _on_preview(self, key, preview) -> None:
        qimg = (array_to_qimage(preview.pixels), preview.original_size, getattr(preview, "dicom", None))
        self._previews[key] = qimg
        while len(self._previews) > self.CACHED:
            self._previews.popitem(last=False)
        if self.result is not None and self.result.input == key[0]:
            self._set_preview(key[0], qimg)

    def _on_preview_failed(self, key) -> None:
        if self.result is not None and self.result.input == key[0]:
            self.image.set_placeholder("The image cannot be shown")
            self.image.set_image(None)
            self.image_shown.emit(key[0])

    def _set_preview(self, path: str, shown) -> None:
        qimg, original_size = shown[:2]
        self._show_dicom(shown[2] if len(shown) > 2 else None, path)
        self.image.set_placeholder("")
        self.image.set_image(qimg, original_size)
        self._on_heat_chosen()
        self.image_shown.emit(path)

    # ------------------------------------------------------------------ DICOM
    def _build_dicom_section(self, lay) -> None:
        """The DICOM header's facts, the patient's behind a check box that starts unchecked for each file."""
        self._dicom = None  # the shown file's DicomFacts
        self._dicom_path = None  # and its path: the patient's details are hidden again for another file
        self.dicom_title = _section("DICOM")
        lay.addWidget(self.dicom_title)
        self.show_patient = QCheckBox("Show patient details")
        self.show_patient.setToolTip("Show the fields that identify the patient (name, ID, birth date, "
                                     "institution...); they are hidden again for the next file, and left out "
                                     "of exports unless asked for")
        self.show_patient.toggled.connect(self._on_show_patient_changed)
        lay.addWidget(self.show_patient)
        self.dicom_table = _table(["Field", "Value"], "What the DICOM file's header says about the image: for one "
                                  "frame of a multi-frame file, that frame's number, position and spacing (its "
                                  "functional groups); and the window used (the loaded profile's dicom.window, "
                                  "else the file's own)")
        lay.addWidget(self.dicom_table)
        self._show_dicom(None, None)

    def _show_dicom(self, facts, path) -> None:
        """Show the DicomFacts of the file ``path`` (None: hide the section); the patient's fields only when asked."""
        from desktop.engine.inputs.dicomseries import file_of

        self._dicom = facts
        if (file_of(path) if path else path) != self._dicom_path:  # a multi-frame file's frames are one file
            self._dicom_path = file_of(path) if path else path
            self.show_patient.blockSignals(True)
            self.show_patient.setChecked(False)  # another file: its patient's details stay hidden until asked
            self.show_patient.blockSignals(False)
        shown = facts is not None
        for w in (self.dicom_title, self.dicom_table):
            w.setVisible(shown)
        self.show_patient.setVisible(shown and bool(facts.identifying))
        if shown:
            rows = facts.rows(include_identifying=self.show_patient.isChecked())
            # every row at once, as a clinician reads them down (the pane itself scrolls)
            _fill(self.dicom_table, rows or [("—", "The header gives none of the usual fields")], max_rows=40)

    def _on_show_patient_changed(self, *_) -> None:
        if self._dicom is not None:
            self._show_dicom(self._dicom, self._dicom_path)  # the same file: the box keeps its state

    # ------------------------------------------------------------------ overlays
    def _show_overlay_controls(self, result) -> None:
        """The overlay controls that apply to this result: a heat map for each of its 2-D outputs."""
        maps = heat_map_outputs(result) if result is not None and result.ok else {}
        self.heat_choice.blockSignals(True)
        previous = self.heat_choice.currentData()
        self.heat_choice.clear()
        self.heat_choice.addItem("No heat map", None)
        for name, values in maps.items():
            self.heat_choice.addItem(f"Heat map: {name} ({values.shape[1]}×{values.shape[0]})", name)
        if previous in maps:
            self.heat_choice.setCurrentIndex(self.heat_choice.findData(previous))
        elif len(maps) == 1 and not (result.top or result.values):
            self.heat_choice.setCurrentIndex(1)  # a model whose answer is a map: shown as one
        self.heat_choice.blockSignals(False)
        self.heat_choice.setVisible(bool(maps))
        detector = result is not None and result.conf is not None
        for w in (self.show_boxes, self.conf_label, self.conf):
            w.setVisible(detector)
        masks = result is not None and result.ok and result.masks is not None
        self.show_mask.setVisible(masks)
        for w in (self.opacity_label, self.opacity):
            w.setVisible(bool(maps) or masks)
        if detector and result.conf != self._run_conf:  # another run: its own threshold to start with
            self._run_conf = result.conf
            self.conf.blockSignals(True)
            self.conf.setValue(max(1, min(99, round(result.conf * 100))))
            self.conf.blockSignals(False)
            self.conf_changed.emit(None)
        self.conf_label.setText(f"conf {self.conf.value() / 100:.2f}")
        self.overlay_bar.setVisible(bool(maps) or detector or masks)

    def shown_conf(self) -> float | None:
        """The threshold the detections are shown at (the slider's), or None for a result of no detector."""
        if self.result is None or self.result.conf is None:
            return None
        value = self.conf.value() / 100
        return self.result.conf if round(self.result.conf * 100) == self.conf.value() else value

    def _on_conf_moved(self, value: int) -> None:
        self.conf_label.setText(f"conf {value / 100:.2f}")
        if self.result is not None and self.result.conf is not None:
            self._show_detections()
            own = round(self.result.conf * 100) == value
            self.conf_changed.emit(None if own else value / 100)

    def _show_mask(self) -> None:
        """A segmenter's mask over the image (instances at the slider's threshold) and its areas per class."""
        r = self.result
        if r is None or r.masks is None or not r.ok:
            self.image.set_mask(None)
            return
        conf = self.shown_conf()
        labels, names = r.label_map(conf)
        kind = r.masks.kind
        plain_background = bool(names) and str(names[0]).lower() in ("background", "__background__", "bg")
        self.image.set_mask(labels, dict(enumerate(names)), background=0 if kind != "labels" or plain_background
                            else -1, shift=1 if kind == "instance" else 0)
        if r.conf is not None:
            return  # the detections' list says the rest
        areas = r.areas(conf)
        total = labels.size or 1
        lines = [f"<b>{_esc(name)}</b> {100.0 * a['pixels'] / total:.1f}% · {fmt.count(a['pixels'])} px"
                 + (f" · {a['mm2']:,.1f} mm²" if a.get("mm2") is not None else "") for name, a in areas.items()]
        self.answer.setText("<br>".join(lines) or "Nothing found")

    def _show_detections(self) -> None:
        """Boxes over the image and their list, at the slider's threshold."""
        found = self.result.detections_at(self.shown_conf()) if self.result.ok else ()
        self.image.set_boxes([Box(*d.box, d.label, d.index, d.score) for d in found])
        if self.result.masks is not None:
            self._show_mask()
        if not found:
            self.answer.setText(f"No detections over {self.shown_conf():.2f}")
            return
        lines = [f"<b>{_esc(d.label)}</b> {d.score:.3f} · ({', '.join(f'{v:.1f}' for v in d.box)})" for d in found[:50]]
        if len(found) > 50:
            lines.append(f"… {len(found) - 50} more")
        self.answer.setText(f"{fmt.plural(len(found), 'detection')} over {self.shown_conf():.2f}<br>" + "<br>".join(lines))

    def _offer_explain(self, result, engine) -> None:
        """The Explain section, with the methods that fit the result (none without the model that scored it)."""
        kind = None
        if result is not None and engine is not None:
            kind = "table" if result.row is not None else "detection" if result.conf is not None else (
                "image" if str(result.kind) in ("image", "dicom") else None)
        labels = tuple(engine.profile.labels) if engine is not None else ()
        boxes = [(d.label, d.score) for d in result.detections] if kind == "detection" else ()
        if kind == "detection" and not boxes:
            kind = None  # nothing detected: no box to explain
        self.explain.set_result(result if kind else None, labels, kind, boxes)
        self.explain_title.setVisible(self.explain.isVisibleTo(self))

    def show_explanation(self, explanation) -> None:
        """Show an explanation of the shown result: its map over the image (as the chosen heat map), or a
        row's attributions in the Explain section."""
        self.explain.show_explanation(explanation)
        values = getattr(explanation, "map", None)
        if values is None or self.result is None:
            return
        self._explanation_map = np.asarray(values, dtype=np.float32)
        name = f"Explanation: {explanation.method} for {explanation.target.get('label')}"
        self.heat_choice.blockSignals(True)
        old = self.heat_choice.findData(EXPLANATION)
        if old >= 0:
            self.heat_choice.removeItem(old)
        self.heat_choice.addItem(name, EXPLANATION)
        self.heat_choice.setCurrentIndex(self.heat_choice.count() - 1)
        self.heat_choice.blockSignals(False)
        self.heat_choice.setVisible(True)
        self.overlay_bar.setVisible(True)
        self._on_heat_chosen()

    def _on_heat_chosen(self, *_) -> None:
        name = self.heat_choice.currentData()
        if name == EXPLANATION and self._explanation_map is not None:  # in the original image's pixels already
            self.image.set_heat(self._explanation_map, self.heat_choice.currentText(), None)
            return
        values = heat_map_outputs(self.result).get(name) if name and self.result is not None else None
        self.image.set_heat(values, name or "", heat_region(values, self.engine, self.image.original_size))

    def _on_overlay_toggled(self, *_) -> None:
        self.image.show_boxes = self.show_boxes.isChecked()
        self.image.show_mask = self.show_mask.isChecked()
        self.image.update()


def heat_region(values, engine, original_size) -> tuple | None:
    """The cells of a heat map (laid over the model's input) that the original image covers, or None for all.

    A letterboxed image fills only part of the input; the map is cut to that part before it is
    stretched over the image (through the engine's own ``geometry.placement``).
    """
    if values is None or engine is None or engine.profile.image is None or not all(original_size):
        return None
    from desktop.engine.geometry import placement

    try:
        pl = placement(int(original_size[0]), int(original_size[1]), engine.profile.image)
    except Exception:  # noqa: BLE001 - a profile that does not place this image: the map is shown whole
        return None
    h, w = values.shape
    sx, sy = w / pl.input_w, h / pl.input_h
    x0, y0 = pl.offset_x * sx, pl.offset_y * sy
    x1, y1 = (pl.offset_x + pl.width * pl.gain_x) * sx, (pl.offset_y + pl.height * pl.gain_y) * sy
    if (x0, y0) == (0, 0) and abs(x1 - w) < 1e-6 and abs(y1 - h) < 1e-6:
        return None
    return (x0, y0, x1, y1)


def heat_map_outputs(result) -> dict:
    """The result's outputs that can be shown as a heat map: 2-D float arrays (axes of 1 dropped), by name."""
    found = {}
    for name, value in (result.outputs or {}).items():
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            continue
        squeezed = value.reshape([d for d in value.shape if d != 1])
        if squeezed.ndim == 2 and min(squeezed.shape) >= 2:
            found[name] = squeezed
    return found


def _num(v) -> str:
    return repr(float(v)) if isinstance(v, (float, np.floating)) else str(v)


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")



def set_detail_origin(pane: DetailPane, origin) -> None:
    """Say above the detail which run and model produced it, when they are not the loaded model's
    (``origin``: a :class:`~desktop.ui.controller.Origin`, or None)."""
    from .history import warning_color

    foreign = origin is not None and origin.foreign and pane.result is not None
    pane.origin.setVisible(foreign)
    if foreign:
        pane.origin.setText(f"⚠ {_esc(origin.text)}")
        pane.origin.setToolTip(origin.detail)
        pane.origin.setStyleSheet(f"color: {warning_color(pane.palette()).name()};")
