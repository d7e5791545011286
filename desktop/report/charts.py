"""The report's charts, drawn with QPainter into a QImage and returned as PNG bytes (no pyqtgraph).

Each function takes the evaluation's plain lists (as the metrics engineer writes them) and
returns PNG bytes, or None when the data is too thin to draw (fewer than two points).
"""

from __future__ import annotations

import math

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPainter, QPainterPath, QPen

#: the axes of a rate (0 to 1), a little wider so that a curve along an edge is not hidden by the frame
_UNIT = (-0.02, 1.02)
#: pixels of the drawn image; the report shows it at half that width, so lines stay sharp in print
WIDTH, HEIGHT = 1000, 720
_MARGIN = dict(left=120, right=40, top=70, bottom=110)
_INK = QColor("#222222")
_GRID = QColor("#dddddd")
_LINE = QColor("#1f5fa8")
_ACCENT = QColor("#c0392b")
_MUTED = QColor("#888888")


def _png(image: QImage) -> bytes:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    buf.close()
    return bytes(data.data())


def _font(size: int, bold: bool = False) -> QFont:
    font = QFont("DejaVu Sans")
    font.setPixelSize(size)
    font.setBold(bold)
    return font


def _finite(values) -> list:
    out = []
    for v in values or ():
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = math.nan
        out.append(f)
    return out


def nice_ticks(lo: float, hi: float, n: int = 6) -> list:
    """About ``n`` round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, t = [], first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    return ticks


def _tick_text(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000 or abs(v) < 0.01:
        return f"{v:.2g}"
    return f"{v:.2f}".rstrip("0").rstrip(".")


class _Axes:
    """A plot area with data ranges, grid, ticks, axis labels and a title, on a white QImage."""

    def __init__(self, title: str, x_label: str, y_label: str, x_range, y_range):
        self.image = QImage(WIDTH, HEIGHT, QImage.Format.Format_ARGB32)
        self.image.fill(QColor("white"))
        self.p = QPainter(self.image)
        self.p.setRenderHint(QPainter.RenderHint.Antialiasing)
        m = _MARGIN
        self.area = QRectF(m["left"], m["top"], WIDTH - m["left"] - m["right"], HEIGHT - m["top"] - m["bottom"])
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        if self.x1 <= self.x0:
            self.x0, self.x1 = self.x0 - 0.5, self.x0 + 0.5
        if self.y1 <= self.y0:
            self.y0, self.y1 = self.y0 - 0.5, self.y0 + 0.5
        self._frame(title, x_label, y_label)

    def pt(self, x: float, y: float) -> QPointF:
        a = self.area
        return QPointF(a.left() + (x - self.x0) / (self.x1 - self.x0) * a.width(),
                       a.bottom() - (y - self.y0) / (self.y1 - self.y0) * a.height())

    def _frame(self, title, x_label, y_label) -> None:
        p, a = self.p, self.area
        p.setFont(_font(22))
        for t in nice_ticks(self.x0, self.x1):
            x = self.pt(t, self.y0).x()
            p.setPen(QPen(_GRID, 1))
            p.drawLine(QPointF(x, a.top()), QPointF(x, a.bottom()))
            p.setPen(QPen(_INK, 2))
            p.drawLine(QPointF(x, a.bottom()), QPointF(x, a.bottom() + 8))
            p.drawText(QRectF(x - 60, a.bottom() + 10, 120, 30), Qt.AlignmentFlag.AlignHCenter, _tick_text(t))
        for t in nice_ticks(self.y0, self.y1):
            y = self.pt(self.x0, t).y()
            p.setPen(QPen(_GRID, 1))
            p.drawLine(QPointF(a.left(), y), QPointF(a.right(), y))
            p.setPen(QPen(_INK, 2))
            p.drawLine(QPointF(a.left() - 8, y), QPointF(a.left(), y))
            p.drawText(QRectF(a.left() - 110, y - 15, 96, 30),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, _tick_text(t))
        p.setPen(QPen(_INK, 2))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(a)
        p.setFont(_font(24))
        p.drawText(QRectF(a.left(), HEIGHT - 55, a.width(), 40), Qt.AlignmentFlag.AlignHCenter, x_label)
        p.save()
        p.translate(28, a.center().y())
        p.rotate(-90)
        p.drawText(QRectF(-a.height() / 2, -14, a.height(), 40), Qt.AlignmentFlag.AlignHCenter, y_label)
        p.restore()
        p.setFont(_font(28, bold=True))
        p.drawText(QRectF(0, 12, WIDTH, 44), Qt.AlignmentFlag.AlignHCenter, title)

    def line(self, xs, ys, color=_LINE, width=4, style=Qt.PenStyle.SolidLine) -> None:
        path = QPainterPath()
        started = False
        for x, y in zip(xs, ys):
            if not (math.isfinite(x) and math.isfinite(y)):
                started = False
                continue
            point = self.pt(x, y)
            path.lineTo(point) if started else path.moveTo(point)
            started = True
        self.p.save()
        self.p.setClipRect(self.area)
        self.p.setPen(QPen(color, width, style))
        self.p.setBrush(Qt.BrushStyle.NoBrush)
        self.p.drawPath(path)
        self.p.restore()

    def dots(self, xs, ys, color=_LINE, radius=6, clip: bool = True) -> None:
        self.p.save()
        if clip:
            self.p.setClipRect(self.area)
        self.p.setPen(QPen(color.darker(130), 1.5))
        fill = QColor(color)
        fill.setAlpha(150)
        self.p.setBrush(QBrush(fill))
        for x, y in zip(xs, ys):
            if math.isfinite(x) and math.isfinite(y):
                self.p.drawEllipse(self.pt(x, y), radius, radius)
        self.p.restore()

    def hline(self, y: float, color, text: str, style=Qt.PenStyle.DashLine) -> None:
        if not math.isfinite(y):
            return
        self.line([self.x0, self.x1], [y, y], color, 3, style)
        self.p.setPen(QPen(color))
        self.p.setFont(_font(21))
        at = self.pt(self.x1, y)
        self.p.drawText(QRectF(at.x() - 420, at.y() - 30, 410, 28),
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom, text)

    def note(self, text: str, corner: str = "bottom-right") -> None:
        """A line of text inside the plot area (the AUC, the AP, the slope...)."""
        a = self.area.adjusted(16, 12, -16, -12)
        flags = {"bottom-right": Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
                 "top-right": Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
                 "bottom-left": Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom}[corner]
        self.p.setFont(_font(24, bold=True))
        self.p.setPen(QPen(_INK))
        self.p.drawText(a, flags, text)

    def done(self) -> bytes:
        self.p.end()
        return _png(self.image)


def _pairs(xs, ys) -> tuple[list, list]:
    xs, ys = _finite(xs), _finite(ys)
    n = min(len(xs), len(ys))
    return xs[:n], ys[:n]


def roc_chart(roc: dict, operating_point: dict | None = None) -> bytes | None:
    """The ROC curve with the chance diagonal, the AUC, and the operating point's threshold marked."""
    fpr, tpr = _pairs(roc.get("fpr"), roc.get("tpr"))
    if len(fpr) < 2:
        return None
    ax = _Axes("ROC curve", "False positive rate (1 − specificity)", "True positive rate (sensitivity)",
               _UNIT, _UNIT)
    ax.line([0, 1], [0, 1], _MUTED, 2, Qt.PenStyle.DashLine)
    ax.line(fpr, tpr)
    auc = roc.get("auc")
    if isinstance(auc, (int, float)) and math.isfinite(auc):
        ax.note(f"AUC {auc:.3f}")
    threshold = (operating_point or {}).get("threshold")
    thresholds = _finite(roc.get("thresholds"))
    if isinstance(threshold, (int, float)) and len(thresholds) == len(fpr):
        # a point's threshold calls positive the scores at or above it (roc_curve's thresholds): the
        # operating point is the lowest threshold not under the chosen one, else the nearest
        usable = [i for i, t in enumerate(thresholds) if math.isfinite(t)]
        above = [i for i in usable if thresholds[i] >= threshold]
        if usable:
            i = (min(above, key=lambda k: thresholds[k]) if above
                 else min(usable, key=lambda k: abs(thresholds[k] - threshold)))
            ax.dots([fpr[i]], [tpr[i]], _ACCENT, radius=11, clip=False)
            ax.p.setPen(QPen(_ACCENT))
            ax.p.setFont(_font(22, bold=True))
            at = ax.pt(fpr[i], tpr[i])
            ax.p.drawText(QRectF(at.x() + 16, at.y() + 4, 330, 30), Qt.AlignmentFlag.AlignLeft,
                          f"threshold {threshold:.3g}")
    return ax.done()


def pr_chart(pr: dict) -> bytes | None:
    """Precision against recall, with the average precision."""
    recall, precision = _pairs(pr.get("recall"), pr.get("precision"))
    if len(recall) < 2:
        return None
    ax = _Axes("Precision–recall curve", "Recall (sensitivity)", "Precision (PPV)", _UNIT, _UNIT)
    ax.line(recall, precision)
    ap = pr.get("ap")
    if isinstance(ap, (int, float)) and math.isfinite(ap):
        ax.note(f"AP {ap:.3f}", "bottom-left")
    return ax.done()


def calibration_chart(cal: dict) -> bytes | None:
    """The reliability curve (observed against predicted probability) with the diagonal of perfect calibration."""
    pred, true = _pairs(cal.get("prob_pred"), cal.get("prob_true"))
    if len(pred) < 2:
        return None
    ax = _Axes("Reliability (calibration)", "Mean predicted probability", "Observed fraction positive",
               _UNIT, _UNIT)
    ax.line([0, 1], [0, 1], _MUTED, 2, Qt.PenStyle.DashLine)
    ax.line(pred, true)
    ax.dots(pred, true)
    parts = []
    for key, name in (("slope", "slope"), ("intercept", "intercept"), ("brier", "Brier")):
        v = cal.get(key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            parts.append(f"{name} {v:.3f}")
    if parts:
        ax.note(" · ".join(parts))
    return ax.done()


def bland_altman_chart(ba: dict) -> bytes | None:
    """Differences against means, with the bias and the 95% limits of agreement as lines."""
    mean, diff = _pairs(ba.get("mean"), ba.get("diff"))
    points = [(m, d) for m, d in zip(mean, diff) if math.isfinite(m) and math.isfinite(d)]
    if len(points) < 2:
        return None
    bias = ba.get("bias")
    loa = list(ba.get("loa") or [])
    ys = [d for _, d in points] + [v for v in [bias, *loa] if isinstance(v, (int, float)) and math.isfinite(v)]
    xs = [m for m, _ in points]
    pad_x = (max(xs) - min(xs)) * 0.05 or 1.0
    pad_y = (max(ys) - min(ys)) * 0.1 or 1.0
    ax = _Axes("Bland–Altman", "Mean of prediction and truth", "Prediction − truth",
               (min(xs) - pad_x, max(xs) + pad_x), (min(ys) - pad_y, max(ys) + pad_y))
    ax.dots(xs, [d for _, d in points])
    if isinstance(bias, (int, float)):
        ax.hline(float(bias), _INK, f"bias {bias:.3g}", Qt.PenStyle.SolidLine)
    if len(loa) == 2:
        for v, name in zip(loa, ("lower", "upper")):
            if isinstance(v, (int, float)):
                ax.hline(float(v), _ACCENT, f"{name} limit {v:.3g}")
    return ax.done()


def confusion_chart(confusion: dict) -> bytes | None:
    """The confusion matrix as a heat map, each cell's count written in it (rows: truth, columns: predicted)."""
    labels = [str(x) for x in confusion.get("labels") or ()]
    counts = confusion.get("counts") or ()
    n = len(labels)
    if n == 0 or len(counts) != n or any(len(row) != n for row in counts):
        return None
    cells = [[int(c) for c in row] for row in counts]
    top = max((c for row in cells for c in row), default=0) or 1
    size = 900 if n <= 12 else 1200
    image = QImage(size + 260, size + 240, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    left, top_y = 230, 110
    side = size / n
    p.setFont(_font(28, bold=True))
    p.setPen(QPen(_INK))
    p.drawText(QRectF(0, 10, image.width(), 44), Qt.AlignmentFlag.AlignHCenter, "Confusion matrix")
    p.setFont(_font(24))
    p.drawText(QRectF(left, 60, size, 40), Qt.AlignmentFlag.AlignHCenter, "Predicted")
    p.save()
    p.translate(30, top_y + size / 2)
    p.rotate(-90)
    p.drawText(QRectF(-size / 2, -16, size, 40), Qt.AlignmentFlag.AlignHCenter, "Truth")
    p.restore()
    count_font = _font(max(14, min(40, int(side / 3))), bold=True)
    label_font = _font(max(12, min(24, int(side / 4))))
    for r in range(n):
        for c in range(n):
            frac = cells[r][c] / top
            colour = QColor.fromRgbF(1 - 0.8 * frac, 1 - 0.55 * frac, 1 - 0.2 * frac)
            rect = QRectF(left + c * side, top_y + r * side, side, side)
            p.fillRect(rect, colour)
            p.setPen(QPen(QColor("#999999"), 1))
            p.drawRect(rect)
            p.setPen(QPen(QColor("white") if frac > 0.55 else _INK))
            p.setFont(count_font)
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, f"{cells[r][c]:,}")
    p.setPen(QPen(_INK))
    p.setFont(label_font)
    for i, label in enumerate(labels):
        text = label if len(label) <= 14 else label[:13] + "…"
        p.drawText(QRectF(60, top_y + i * side, left - 70, side),
                   Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)
        p.drawText(QRectF(left + i * side, top_y + size + 8, side, 60),
                   Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap, text)
    p.end()
    return _png(image)
