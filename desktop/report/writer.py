"""write_report(): the report as a PDF (Qt's QPdfWriter, A4, a title and page numbers on each page) or one HTML file."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from PySide6.QtCore import QMarginsF, QRectF, QSizeF, Qt, QUrl
from PySide6.QtGui import (QFont, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter, QPen,
                           QColor, QTextDocument)

from desktop.engine.errors import EngineError

from .document import IMAGE_SCHEME, build
from .gui import ensure_gui_application

#: the PDF's resolution: the HTML's pixel sizes (image widths) are read at this many per inch
_DPI = 96
_MARGIN_MM = 16
_HEADER_PX = 28  # the title line above the text, and the page number below it

class ReportError(EngineError):
    """The report could not be written (an unknown file type, a folder that cannot be written)."""


def write_report(path, context: dict) -> Path:
    """Write the report of ``context`` to ``path``: a PDF for ``.pdf``, one self-contained HTML file for ``.html``.

    Parameters
    ----------
    path
        The file to write; its suffix chooses the format (``.pdf``, ``.html`` or ``.htm``). It is
        written under a temporary name beside it and renamed into place when complete.
    context
        What the report shows (see the package docstring); a missing key leaves its section out.

    Returns
    -------
    Path
        ``path``, as written.

    Raises
    ------
    ReportError
        When the suffix is neither, or the PDF could not be written.
    """
    path = Path(path)
    kind = path.suffix.lower()
    if kind not in (".pdf", ".html", ".htm"):
        raise ReportError(f"A report is written as .pdf or .html, not '{path.suffix or path.name}': {path}")
    built = build(context or {})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if kind == ".pdf":
            _write_pdf(tmp, built, str((context or {}).get("title") or "InferDesk report"), path)
        else:
            tmp.write_text(_inline_images(built.html, built.images), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _inline_images(html: str, images: list) -> str:
    """The HTML with each image's name replaced by a ``data:`` URI of its PNG bytes (highest index first)."""
    for i in range(len(images) - 1, -1, -1):
        uri = "data:image/png;base64," + base64.b64encode(images[i]).decode("ascii")
        html = html.replace(f'src="{IMAGE_SCHEME}{i}"', f'src="{uri}"')
    return html


def _write_pdf(target: Path, built, title: str, shown: Path) -> None:
    ensure_gui_application()
    writer = QPdfWriter(str(target))
    writer.setResolution(_DPI)
    writer.setTitle(title)
    writer.setCreator("InferDesk")
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     QMarginsF(_MARGIN_MM, _MARGIN_MM, _MARGIN_MM, _MARGIN_MM),
                                     QPageLayout.Unit.Millimeter))
    page = writer.pageLayout().paintRectPixels(_DPI)
    body = QRectF(0, _HEADER_PX, page.width(), page.height() - 2 * _HEADER_PX)

    doc = QTextDocument()
    doc.documentLayout().setPaintDevice(writer)
    font = QFont("DejaVu Sans")
    font.setPointSizeF(10)
    doc.setDefaultFont(font)
    for i, png in enumerate(built.images):
        image = QImage()
        image.loadFromData(png, "PNG")
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(f"{IMAGE_SCHEME}{i}"), image)
    doc.setHtml(built.html)
    doc.setPageSize(QSizeF(body.width(), body.height()))
    pages = doc.pageCount()

    painter = QPainter()
    if not painter.begin(writer):
        raise ReportError(f"The PDF could not be written (is its folder writable?): {shown}")
    try:
        small = QFont("DejaVu Sans")
        small.setPointSizeF(8)
        for n in range(pages):
            if n:
                writer.newPage()
            painter.save()
            painter.setFont(small)
            painter.setPen(QPen(QColor("#555555")))
            painter.drawText(QRectF(0, 0, page.width(), _HEADER_PX - 6),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
            painter.drawLine(0, _HEADER_PX - 4, int(page.width()), _HEADER_PX - 4)
            painter.drawText(QRectF(0, page.height() - _HEADER_PX + 6, page.width(), _HEADER_PX - 6),
                             Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter,
                             f"page {n + 1} of {pages}")
            painter.restore()
            painter.save()
            painter.translate(0, body.top() - n * body.height())
            doc.drawContents(painter, QRectF(0, n * body.height(), body.width(), body.height()))
            painter.restore()
    finally:
        painter.end()
