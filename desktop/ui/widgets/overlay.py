"""The scored image with what the model found drawn on it: boxes, a mask, a heat map, and a legend.

Everything to draw is given in the original image's pixels (the engine maps boxes and masks
back through the resize or letterbox), so the widget only scales: one factor from original
pixels to the screen rectangle the image is drawn in. The preview it shows may be smaller than
the original (``original_size`` says how large the original is).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QImage, QLinearGradient, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QFrame, QSizePolicy

from desktop.engine.palette import PALETTE, class_hex  # noqa: F401 - PALETTE is part of this module's interface


def class_colour(index: int) -> QColor:
    return QColor(class_hex(index))


@dataclass(frozen=True)
class Box:
    """One detection to draw: corners in original pixels, its class's label and index, and its score."""

    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    index: int
    score: float


def _viridis_lut() -> np.ndarray:
    """256 RGB rows of matplotlib's viridis (from pyqtgraph's copy), for heat maps."""
    import pyqtgraph as pg

    lut = pg.colormap.get("viridis").getLookupTable(0.0, 1.0, 256, alpha=False)
    return np.asarray(lut, dtype=np.uint8)[:, :3]


_LUT: np.ndarray | None = None


def heat_image(values: np.ndarray, opacity: float) -> tuple[QImage, float, float]:
    """A 2-D float array as a viridis ARGB image with ``opacity``; also the range it was scaled over.

    Non-finite values are transparent. The range is the array's own (a probability map from 0
    to 1 is shown over 0..1 when its values lie within it). Low values are drawn fainter (a
    quarter of ``opacity`` at the bottom of the range, all of it at the top), so that a sparse
    map, such as a text detector's, leaves the image readable where it found nothing.
    """
    global _LUT
    if _LUT is None:
        _LUT = _viridis_lut()
    a = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(a)
    lo, hi = (float(a[finite].min()), float(a[finite].max())) if finite.any() else (0.0, 1.0)
    if lo >= 0.0 and hi <= 1.0:
        lo, hi = 0.0, 1.0
    span = hi - lo if hi > lo else 1.0
    idx = np.clip((np.where(finite, a, lo) - lo) * (255.0 / span), 0, 255).astype(np.uint8)
    h, w = a.shape
    argb = np.empty((h, w, 4), dtype=np.uint8)  # QImage.Format_ARGB32 is B, G, R, A in memory
    rgb = _LUT[idx]
    argb[..., 0], argb[..., 1], argb[..., 2] = rgb[..., 2], rgb[..., 1], rgb[..., 0]
    alpha = (255.0 * opacity) * (0.25 + 0.75 * idx / 255.0)
    argb[..., 3] = np.where(finite, np.round(alpha), 0).astype(np.uint8)
    return QImage(argb.data, w, h, 4 * w, QImage.Format_ARGB32).copy(), lo, hi


def mask_image(labels: np.ndarray, opacity: float, background: int = 0, shift: int = 0) -> QImage:
    """A label map (a value per pixel) as an ARGB image: value ``v`` in class ``v - shift``'s colour (so that
    an instance painted with its class + 1 has its box's colour), ``background`` clear (-1: none)."""
    lab = np.asarray(labels)
    h, w = lab.shape
    table = np.zeros((max(int(lab.max(initial=0)) + 1, 1), 4), dtype=np.uint8)
    for k in range(table.shape[0]):
        c = class_colour(k - shift)
        table[k] = (c.blue(), c.green(), c.red(), 0 if k == background else int(round(255 * opacity)))
    argb = table[np.clip(lab, 0, table.shape[0] - 1).astype(np.intp)]
    argb = np.ascontiguousarray(argb)
    return QImage(argb.data, w, h, 4 * w, QImage.Format_ARGB32).copy()


class OverlayImage(QFrame):
    """An image scaled to fit (crisp when enlarged a lot) with boxes, a mask and a heat map over it."""

    def __init__(self, placeholder: str = "", parent=None):
        super().__init__(parent)
        self._pix: QPixmap | None = None
        self._placeholder = placeholder
        self.original_size: tuple = (0, 0)
        self.boxes: list[Box] = []
        self.show_boxes = True
        self.mask: np.ndarray | None = None  # label map, any size: stretched over the image
        self.mask_labels: dict = {}  # value -> label, for the legend
        self.mask_background = 0  # the value drawn clear (-1: none)
        self.mask_shift = 0  # value v is drawn in class v - shift's colour
        self.show_mask = True
        self.heat: np.ndarray | None = None
        self.heat_name = ""
        self.heat_region: tuple | None = None  # (x0, y0, x1, y1) of the heat map covering the image; None: all
        self.show_heat = True
        self.opacity = 0.45
        self._heat_img: QImage | None = None
        self._heat_range = (0.0, 1.0)
        self._mask_img: QImage | None = None
        self.setMinimumSize(120, 120)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setFrameShape(QFrame.StyledPanel)

    # ------------------------------------------------------------------ what to show
    def set_image(self, image: QImage | None, original_size: tuple | None = None) -> None:
        self._pix = QPixmap.fromImage(image) if image is not None and not image.isNull() else None
        if self._pix is not None:
            self.original_size = tuple(original_size or (self._pix.width(), self._pix.height()))
        self.update()

    def has_image(self) -> bool:
        return self._pix is not None

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    @property
    def placeholder(self) -> str:
        return self._placeholder

    def set_boxes(self, boxes) -> None:
        self.boxes = list(boxes)
        self.update()

    def set_mask(self, labels: np.ndarray | None, names: dict | None = None, background: int = 0,
                 shift: int = 0) -> None:
        self.mask = None if labels is None else np.asarray(labels)
        self.mask_labels = dict(names or {})
        self.mask_background, self.mask_shift = background, shift
        self._mask_img = None
        self.update()

    def set_heat(self, values: np.ndarray | None, name: str = "", region: tuple | None = None) -> None:
        """A heat map over the image; ``region``: the part of it (in its own cells) the image covers,
        when the model's input had padding (a letterbox) around the image."""
        self.heat = None if values is None else np.asarray(values)
        self.heat_name = name
        self.heat_region = region
        self._heat_img = None
        self.update()

    def set_opacity(self, opacity: float) -> None:
        self.opacity = float(min(max(opacity, 0.0), 1.0))
        self._heat_img = self._mask_img = None
        self.update()

    def clear_overlays(self) -> None:
        self.boxes, self.mask, self.heat = [], None, None
        self._heat_img = self._mask_img = None
        self.update()

    # ------------------------------------------------------------------ geometry
    def sizeHint(self):
        return QSize(260, 220)

    def image_rect(self) -> QRectF:
        """Where the image is drawn, in widget coordinates (aspect kept, centred)."""
        if self._pix is None:
            return QRectF()
        area = QRectF(self.contentsRect()).adjusted(2, 2, -2, -2)
        w, h = self._pix.width(), self._pix.height()
        s = min(area.width() / w, area.height() / h) if w and h else 1.0
        return QRectF(area.center().x() - w * s / 2, area.center().y() - h * s / 2, w * s, h * s)

    def to_widget(self, x: float, y: float) -> QPointF:
        """A point in original-image pixels, in widget coordinates."""
        r = self.image_rect()
        ow, oh = self.original_size
        return QPointF(r.x() + x * r.width() / (ow or 1), r.y() + y * r.height() / (oh or 1))

    # ------------------------------------------------------------------ painting
    def paintEvent(self, event):
        super().paintEvent(event)
        p = QPainter(self)
        try:
            if self._pix is None:
                p.setPen(self.palette().placeholderText().color())
                p.drawText(QRectF(self.contentsRect()).adjusted(6, 6, -6, -6),
                           Qt.AlignCenter | Qt.TextWordWrap, self._placeholder)
                return
            r = self.image_rect()
            enlarge = r.width() > 3 * self._pix.width()
            p.setRenderHint(QPainter.SmoothPixmapTransform, not enlarge)
            p.drawPixmap(r, self._pix, QRectF(self._pix.rect()))
            if self.heat is not None and self.show_heat and self.heat.ndim == 2 and self.heat.size:
                if self._heat_img is None:
                    self._heat_img, lo, hi = heat_image(self.heat, self.opacity)
                    self._heat_range = (lo, hi)
                p.setRenderHint(QPainter.SmoothPixmapTransform, True)
                if self.heat_region is None:
                    p.drawImage(r, self._heat_img)
                else:
                    x0, y0, x1, y1 = self.heat_region
                    p.drawImage(r, self._heat_img, QRectF(x0, y0, x1 - x0, y1 - y0))
            if self.mask is not None and self.show_mask and self.mask.ndim == 2 and self.mask.size:
                if self._mask_img is None:
                    self._mask_img = mask_image(self.mask, self.opacity, self.mask_background, self.mask_shift)
                p.setRenderHint(QPainter.SmoothPixmapTransform, False)  # a label map stays crisp
                p.drawImage(r, self._mask_img)
            if self.show_boxes:
                self._paint_boxes(p)
            self._paint_legend(p, r)
        finally:
            p.end()

    def _paint_boxes(self, p: QPainter) -> None:
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        p.setFont(font)
        fm = QFontMetricsF(font)
        p.setRenderHint(QPainter.Antialiasing, True)
        for b in self.boxes:
            colour = class_colour(b.index)
            a, c = self.to_widget(b.x1, b.y1), self.to_widget(b.x2, b.y2)
            p.setPen(QPen(colour, 2))
            p.setBrush(Qt.NoBrush)
            p.drawRect(QRectF(a, c))
            text = f"{b.label} {b.score:.2f}"
            tw, th = fm.horizontalAdvance(text) + 6, fm.height() + 2
            top = a.y() - th if a.y() - th >= 0 else a.y()
            p.fillRect(QRectF(a.x(), top, tw, th), colour)
            p.setPen(QColor("black") if colour.lightnessF() > 0.55 else QColor("white"))
            p.drawText(QRectF(a.x() + 3, top, tw, th), Qt.AlignVCenter | Qt.AlignLeft, text)

    def legend_entries(self) -> list[tuple[QColor, str, str]]:
        """What the legend lists: each class drawn, with its colour and how much of it (boxes, or % of the mask)."""
        seen: dict = {}
        if self.show_boxes:
            for b in self.boxes:
                label, n = seen.get(b.index, (b.label, 0))
                seen[b.index] = (label, n + 1)
        entries = [(class_colour(k), label, f"×{n}") for k, (label, n) in sorted(seen.items())]
        if self.mask is not None and self.show_mask and self.mask.size:
            classes, counts = np.unique(self.mask, return_counts=True)
            for k, n in zip(classes.tolist(), counts.tolist()):
                if k != self.mask_background and k - self.mask_shift not in seen:
                    entries.append((class_colour(k - self.mask_shift), self.mask_labels.get(int(k), str(k)),
                                    f"{100.0 * n / self.mask.size:.1f}%"))
        return entries

    def _paint_legend(self, p: QPainter, r: QRectF) -> None:
        entries = self.legend_entries()
        heat = self.heat is not None and self.show_heat and self._heat_img is not None
        if not entries and not heat:
            return
        fm = QFontMetricsF(p.font())
        rows = [(colour, f"{label}  {amount}") for colour, label, amount in entries[:12]]
        if len(entries) > 12:
            rows.append((None, f"… {len(entries) - 12} more"))
        lo, hi = self._heat_range
        bar_w = 90.0
        texts = [t for _, t in rows] + ([self.heat_name] if heat else [])
        w = max([fm.horizontalAdvance(t) + 24 for t in texts] + ([bar_w + fm.horizontalAdvance(f"{hi:.3g}") + 16]
                                                                 if heat else []))
        h = fm.height() * (len(rows) + (2 if heat else 0)) + 6
        area = QRectF(self.contentsRect())
        if area.right() - r.right() >= w + 8:  # room beside the image (a page in a wide pane): the legend covers nothing
            box = QRectF(r.right() + 4, r.top(), w, h)
        elif r.left() - area.left() >= w + 8:
            box = QRectF(r.left() - w - 4, r.top(), w, h)
        else:
            box = QRectF(r.right() - w - 4, r.top() + 4, w, h)
        p.setPen(Qt.NoPen)
        p.setBrush(QBrush(QColor(0, 0, 0, 150)))
        p.drawRoundedRect(box, 3, 3)
        y = box.top() + 3
        p.setPen(QColor("white"))
        for colour, text in rows:
            if colour is not None:
                p.fillRect(QRectF(box.left() + 5, y + fm.height() * 0.2, 10, fm.height() * 0.6), colour)
            p.drawText(QRectF(box.left() + 19, y, w - 20, fm.height()), Qt.AlignVCenter | Qt.AlignLeft, text)
            y += fm.height()
        if heat:  # the colour bar: the map's colours from its lowest value to its highest
            p.drawText(QRectF(box.left() + 5, y, w - 10, fm.height()), Qt.AlignVCenter | Qt.AlignLeft, self.heat_name)
            y += fm.height()
            gradient = QLinearGradient(box.left() + 5, 0, box.left() + 5 + bar_w, 0)
            for stop in (0.0, 0.25, 0.5, 0.75, 1.0):
                rgb = _LUT[int(stop * 255)]
                gradient.setColorAt(stop, QColor(int(rgb[0]), int(rgb[1]), int(rgb[2])))
            p.fillRect(QRectF(box.left() + 5, y + fm.height() * 0.15, bar_w, fm.height() * 0.7), QBrush(gradient))
            p.drawText(QRectF(box.left() + 5, y, bar_w, fm.height()), Qt.AlignVCenter | Qt.AlignLeft, f" {lo:.3g}")
            p.drawText(QRectF(box.left() + 9 + bar_w, y, w - bar_w - 12, fm.height()), Qt.AlignVCenter | Qt.AlignLeft,
                       f"{hi:.3g}")
