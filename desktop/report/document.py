"""The report as one HTML text, built once from the context dict; the PDF prints it, the HTML file inlines its images.

Every text taken from the context (model metadata, file names, labels, a reviewer's reason) is
anyone's text and goes through :func:`html.escape`. Images are referred to by the names in
:data:`IMAGE_SCHEME` and handed back beside the text, as PNG bytes, so the PDF can add them
as document resources and the HTML file as ``data:`` URIs: the same content either way.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from html import escape

from . import charts
from .gui import ensure_gui_application

#: the src of an image in the built text: ``inferdesk-image:<n>``, replaced or resolved by the writers
IMAGE_SCHEME = "inferdesk-image:"
#: metadata keys (compared case-insensitively) whose text is the intended-use banner
BANNER_KEYS = ("intended_use", "intended use", "disclaimer", "intended_purpose")
#: the longest side of a case's image once embedded, in pixels
MAX_IMAGE_SIDE = 1200
#: metadata values longer than this are cut in the model card (the whole text stays in the model)
_MAX_META_CHARS = 600
_BREAK = ' style="page-break-before: always"'

STYLE = """
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 10pt; color: #222; }
h1 { font-size: 18pt; margin: 0 0 4px 0; }
h2 { font-size: 14pt; margin: 14px 0 6px 0; color: #1f3f68; }
h3 { font-size: 11pt; margin: 10px 0 4px 0; }
table.grid { border-collapse: collapse; margin: 4px 0 8px 0; }
table.grid td, table.grid th { border: 1px solid #999; padding: 3px 6px; text-align: left; }
table.grid th { background-color: #e8eef5; }
td.num { text-align: right; }
.muted { color: #666; }
.mono { font-family: 'DejaVu Sans Mono', monospace; font-size: 9pt; }
table.banner { border: 2px solid #b9770e; background-color: #fff4dc; margin: 6px 0 10px 0; width: 100%; }
table.banner td { padding: 6px 8px; }
.case-image { border: 1px solid #999; }
"""


@dataclass
class Built:
    """The report's HTML text and the PNG images it names (``IMAGE_SCHEME`` + index)."""

    html: str
    images: list = field(default_factory=list)

    def add_image(self, png: bytes) -> str:
        self.images.append(png)
        return f"{IMAGE_SCHEME}{len(self.images) - 1}"


def _t(value) -> str:
    """Any value as escaped text ('—' for None)."""
    if value is None:
        return "—"
    return escape(str(value))


def format_value(value) -> str:
    """A metric as the report writes it: whole numbers as they are, others with three decimals."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(v):
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.1f}"
    return f"{v:.3f}"


def format_ci(ci) -> str:
    if not ci or len(ci) != 2 or any(c is None for c in ci):
        return ""
    return f"{format_value(ci[0])} – {format_value(ci[1])}"


def banner_text(metadata: dict | None) -> list:
    """The intended-use and disclaimer texts from a model's metadata, as (key, text) pairs."""
    out = []
    for key, value in (metadata or {}).items():
        if str(key).strip().lower() in BANNER_KEYS and str(value).strip():
            out.append((str(key), str(value).strip()))
    return out


def _banner(texts: list) -> str:
    if not texts:
        return ""
    body = "<br/>".join(f"<b>{_t(k.replace('_', ' ').capitalize())}:</b> {_t(v)}" for k, v in texts)
    return (f'<table class="banner" border="1" cellpadding="6" cellspacing="0" width="100%" '
            f'bgcolor="#fff4dc"><tr><td>{body}</td></tr></table>')


def _rows(pairs) -> str:
    """A two-column table of (name, already escaped html) pairs; empty values are left out."""
    body = "".join(f"<tr><th>{_t(k)}</th><td>{v}</td></tr>" for k, v in pairs if v not in (None, ""))
    return f'<table class="grid" border="1" cellpadding="3" cellspacing="0">{body}</table>' if body else ""


def _table(header, rows) -> str:
    head = "".join(f"<th>{_t(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell for cell in row) + "</tr>" for row in rows)
    return f'<table class="grid" border="1" cellpadding="3" cellspacing="0"><tr>{head}</tr>{body}</table>'


def _num(text: str) -> str:
    return f'<td class="num" align="right">{text}</td>'


def metric_name(m: dict) -> str:
    """A metric's name as the report prints it: ``Sensitivity (benign)`` when it is one class's (its ``label``)."""
    from desktop.engine.validation.metrics import metric_title

    return metric_title(m.get("name") or "?", m.get("label"))


def _metrics_table(metrics) -> str:
    """Name, value and (when any metric has one) the 95% interval."""
    metrics = [m for m in metrics or () if isinstance(m, dict)]
    with_ci = any(format_ci(m.get("ci")) for m in metrics)
    rows = []
    for m in metrics:
        row = [f"<td>{_t(metric_name(m))}</td>", _num(_t(format_value(m.get("value"))))]
        if with_ci:
            row.append(_num(_t(format_ci(m.get("ci")))))
        rows.append(row)
    header = ("Metric", "Value", "95% interval") if with_ci else ("Metric", "Value")
    return _table(header, rows) if rows else ""


def _image_tag(built: Built, png: bytes | None, width: int, alt: str, cls: str = "") -> str:
    if not png:
        return ""
    src = built.add_image(png)
    klass = f' class="{cls}"' if cls else ""
    return f'<img src="{src}" width="{width}" alt="{_t(alt)}"{klass}/>'


# ----------------------------------------------------------------------------------------- sections
def _front(ctx: dict, built: Built) -> str:
    model = ctx.get("model") or {}
    meta = model.get("metadata") or {}
    parts = [f"<h1>{_t(ctx.get('title') or 'InferDesk report')}</h1>"]
    sub = [f"Created {_t(ctx['created'])}" if ctx.get("created") else "",
           f"run <span class=\"mono\">{_t(ctx['run_id'])}</span>" if ctx.get("run_id") else ""]
    sub = " · ".join(s for s in sub if s)
    if sub:
        parts.append(f'<p class="muted">{sub}</p>')
    parts.append(_banner(banner_text(meta)))
    if model:
        parts.append("<h2>Model</h2>")
        card = [("Name", _t(model.get("name"))),
                ("SHA-256", f'<span class="mono">{_t(model.get("sha256"))}</span>' if model.get("sha256") else ""),
                ("Description", _t(model.get("description")) if model.get("description") else ""),
                ("File", _t(model.get("path")) if model.get("path") else "")]
        for key, text in banner_text(meta):
            card.append((key.replace("_", " ").capitalize(), _t(text)))
        shown = {k for k, _ in banner_text(meta)}
        for key, value in meta.items():
            if key in shown or (str(key).lower() == "description" and str(value) == model.get("description")):
                continue
            text = str(value)
            if len(text) > _MAX_META_CHARS:
                text = text[:_MAX_META_CHARS] + f"… ({len(str(value)):,} characters)"
            card.append((f"metadata: {key}", _t(text)))
        parts.append(_rows(card))
    run = ctx.get("run") or {}
    if run:
        parts.append("<h2>Run</h2>")
        done = (f"{run['ok']:,} scored, {run['failed']:,} failed"
                if isinstance(run.get("ok"), int) and isinstance(run.get("failed"), int) else "")
        parts.append(_rows([("Name", _t(run.get("title")) if run.get("title") else ""),
                            ("Status", _t(run.get("status")) if run.get("status") else ""),
                            ("Started", _t(run.get("started_at")) if run.get("started_at") else ""),
                            ("Finished", _t(run.get("finished_at")) if run.get("finished_at") else ""),
                            ("Results", _t(done))]))
    if ctx.get("profile"):
        parts.append("<h2>Preprocessing</h2>")
        parts.append(f"<p>{_t(ctx['profile'])}</p>")
    env = ctx.get("environment") or {}
    if env:
        parts.append("<h2>Environment</h2>")
        names = {"app": "App", "onnxruntime": "onnxruntime", "provider": "Provider", "machine": "Machine",
                 "os": "Operating system", "python": "Python"}
        order = [k for k in names if k in env] + [k for k in env if k not in names]
        parts.append(_rows([(names.get(k, k), _t(env[k])) for k in order]))
    return "".join(parts)


def _evaluation(ctx: dict, built: Built) -> str:
    ev = ctx.get("evaluation") or {}
    if not ev:
        return ""
    meta = (ctx.get("model") or {}).get("metadata") or {}
    parts = [f"<h2{_BREAK}>Results</h2>", _banner(banner_text(meta))]
    facts = [("Task", _t(ev.get("task")) if ev.get("task") else ""),
             ("Cases", _t(format_value(ev["n"])) if "n" in ev else ""),
             ("Truth from", _t(ev.get("truth_source")) if ev.get("truth_source") else "")]
    unmatched = ev.get("unmatched") or {}
    if unmatched.get("count"):
        values = ", ".join(str(v) for v in (unmatched.get("values") or [])[:10])
        facts.append(("Truth values not among the model's labels",
                      _t(f"{unmatched['count']:,}" + (f" ({values})" if values else ""))))
    if ev.get("missing_truth"):
        facts.append(("Cases without a truth", _t(format_value(ev["missing_truth"]))))
    op = ev.get("operating_point") or {}
    if op:
        how = op.get("method") or ""
        if op.get("target") is not None:
            how += f" (target {format_value(op['target'])})"
        facts.append(("Operating point",
                      _t(f"threshold {format_value(op.get('threshold'))} for '{op.get('positive', '?')}'"
                         + (f" (method: {how})" if how else ""))))
    parts.append(_rows(facts))
    if ev.get("metrics"):
        parts.append("<h3>Metrics</h3>")
        parts.append(_metrics_table(ev["metrics"]))
    pictures = []
    if ev.get("roc"):
        pictures.append(charts.roc_chart(ev["roc"], op))
    if ev.get("pr"):
        pictures.append(charts.pr_chart(ev["pr"]))
    if ev.get("calibration"):
        pictures.append(charts.calibration_chart(ev["calibration"]))
    if ev.get("bland_altman"):
        pictures.append(charts.bland_altman_chart(ev["bland_altman"]))
    pictures = [p for p in pictures if p]
    if pictures:
        parts.append("<h3>Charts</h3>")
        # 500 px of the page's ~650: two to a page; a chart that does not fit goes to the next one
        parts.append("".join(f"<p>{_image_tag(built, png, 500, 'chart')}</p>" for png in pictures))
    confusion = ev.get("confusion")
    if confusion:
        png = charts.confusion_chart(confusion)
        if png:
            parts.append("<h3>Confusion matrix</h3>")
            parts.append(f"<p>{_image_tag(built, png, 480, 'confusion matrix')}</p>")
    per_class = ev.get("per_class") or []
    if per_class:
        names = []
        for entry in per_class:  # the class is the row: a column is the metric's name alone
            for m in entry.get("metrics") or ():
                name = metric_name({"name": m.get("name")})
                if name not in names:
                    names.append(name)
        rows = []
        for entry in per_class:
            by = {metric_name({"name": m.get("name")}): m for m in entry.get("metrics") or ()}
            rows.append([f"<td>{_t(entry.get('label'))}</td>"]
                        + [_num(_t(format_value(by[n].get("value"))) if n in by else "—") for n in names])
        parts.append("<h3>Per class</h3>")
        parts.append(_table(["Class"] + names, rows))
    return "".join(parts)


def _subgroups(ctx: dict) -> str:
    subgroups = (ctx.get("evaluation") or {}).get("subgroups") or []
    if not subgroups:
        return ""
    parts = [f"<h2{_BREAK}>Subgroups</h2>"]
    for sg in subgroups:
        groups = sg.get("groups") or []
        names = []
        for g in groups:
            for m in g.get("metrics") or ():
                name = metric_name(m)
                if name not in names:
                    names.append(name)
        rows = []
        for g in groups:
            by = {metric_name(m): m for m in g.get("metrics") or ()}
            cells = [f"<td>{_t(g.get('value'))}</td>", _num(_t(format_value(g.get("n"))))]
            if g.get("too_few"):
                cells.append(f'<td colspan="{max(len(names), 1)}" class="muted">too few cases to say</td>')
            else:
                for n in names:
                    m = by.get(n)
                    text = "—" if m is None else format_value(m.get("value"))
                    ci = format_ci(m.get("ci")) if m else ""
                    cells.append(_num(_t(text + (f" ({ci})" if ci else ""))))
            rows.append(cells)
        parts.append(f"<h3>By {_t(sg.get('column'))}</h3>")
        parts.append(_table(["Group", "n"] + (names or ["Metrics"]), rows))
    return "".join(parts)


def _comparison(ctx: dict) -> str:
    """The optimisation lab's comparison of two models (context key ``comparison``: ``Comparison.to_dict()``)."""
    c = ctx.get("comparison")
    if not isinstance(c, dict) or not isinstance(c.get("a"), dict) or not isinstance(c.get("b"), dict):
        return ""
    a, b = c["a"], c["b"]
    parts = [f"<h2{_BREAK}>Model comparison</h2>"]
    verdict = (c.get("verdict") or {}).get("text")
    if verdict:
        parts.append(f"<p><b>{_t(verdict)}</b></p>")

    def both(key, unit=""):
        return [_num(_t(format_value(a.get(key)) + unit)), _num(_t(format_value(b.get(key)) + unit))]

    rows = [[f"<td>Model</td><td>{_t(a.get('name'))}</td><td>{_t(b.get('name'))}</td>"],
            [f"<td>SHA-256</td><td>{_t(str(a.get('sha256') or '')[:16])}</td>"
             f"<td>{_t(str(b.get('sha256') or '')[:16])}</td>"],
            ["<td>File size (bytes)</td>", *both("size_bytes")], ["<td>Load time</td>", *both("load_s", " s")],
            ["<td>Latency p50</td>", *both("p50_ms", " ms")], ["<td>Latency p95</td>", *both("p95_ms", " ms")],
            ["<td>Items per second</td>", *both("items_per_s")]]
    parts.append(_table(["", "A", "B"], rows))
    facts = [("Items compared", _t(format_value(c.get("n")))),
             ("Speed-up of B (A's p50 / B's p50)", _t(format_value(c.get("speedup")) + "×")),
             ("Top-1 agreement", _t(f"{100 * float(c['top1_agreement']):.1f}%")
              if c.get("top1_agreement") is not None else ""),
             ("Agreement needed", _t(f"{100 * float(c['bound']):.1f}%") if c.get("bound") is not None else "")]
    boxes = c.get("boxes") or {}
    if boxes:
        facts.append(("Boxes matched", _t(f"{100 * float(boxes.get('agreement') or 0):.1f}%, mean IoU "
                                          f"{format_value(boxes.get('mean_iou'))}")))
    accuracy = c.get("accuracy") or {}
    if accuracy:
        facts.append(("Accuracy against the truth", _t(f"A {format_value(accuracy.get('a'))}, B "
                                                       f"{format_value(accuracy.get('b'))}, relative loss "
                                                       f"{format_value(accuracy.get('relative_loss'))}")))
    parts.append(_rows(facts))
    outputs = [o for o in c.get("outputs") or () if isinstance(o, dict)]
    if outputs:
        parts.append(_table(["Output", "Largest |difference|", "Mean |difference|"],
                            [[f"<td>{_t(o.get('name'))}</td>", _num(_t(format_value(o.get('max_abs_diff')))),
                              _num(_t(format_value(o.get('mean_abs_diff'))))] for o in outputs]))
    return "".join(parts)


def case_image_png(case: dict) -> tuple[bytes | None, str | None]:
    """A case's image (with its overlay on top) as PNG bytes of at most MAX_IMAGE_SIDE, or (None, why not)."""
    from PIL import Image

    path = case.get("image")
    if not path:
        return None, None
    try:
        from desktop.engine.inputs.images import decode_dicom, decode_image

        img = decode_dicom(path) if str(path).lower().endswith((".dcm", ".dicom")) else decode_image(path)
        if img.mode not in ("RGB", "RGBA", "L"):
            img = _to_8bit(img)
        img = img.convert("RGBA")
    except Exception as exc:  # an unreadable file is said on its page, not a failed report
        return None, f"The image could not be shown: {exc}"
    overlay = case.get("overlay_png")
    if overlay:
        try:
            over = Image.open(io.BytesIO(overlay)).convert("RGBA")
            if over.size != img.size:
                over = over.resize(img.size)
            img = Image.alpha_composite(img, over)
        except Exception as exc:  # the image without it, and why
            return _encode(img), f"The overlay could not be drawn: {exc}"
    return _encode(img), None


def _to_8bit(img):
    """A 16-bit or float image (DICOM's I;16, F) stretched to 8-bit grey."""
    import numpy as np
    from PIL import Image

    a = np.asarray(img, dtype=np.float64)
    lo, hi = np.nanmin(a), np.nanmax(a)
    a = (a - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(a)
    return Image.fromarray(np.nan_to_num(a).astype(np.uint8))


def _encode(img) -> bytes:
    if max(img.size) > MAX_IMAGE_SIDE:
        img = img.copy()
        img.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _score_text(score) -> str:
    try:
        return f"{float(score):.3f}"
    except (TypeError, ValueError):
        return str(score)


def _case(case: dict, n: int, total: int, built: Built) -> str:
    parts = [f"<h2{_BREAK}>Case {n} of {total}</h2>", f"<p class=\"mono\">{_t(case.get('input'))}</p>"]
    png, problem = case_image_png(case)
    if png:
        from PIL import Image

        w, h = Image.open(io.BytesIO(png)).size
        width = min(560, max(200, w)) if h <= w * 1.2 else min(420, max(160, w))
        parts.append(f"<p>{_image_tag(built, png, width, 'case image', 'case-image')}</p>")
    if problem:
        parts.append(f'<p class="muted">{_t(problem)}</p>')
    top = case.get("top") or []
    if top:
        rows = [[f"<td>{_t(label)}</td>", _num(_t(_score_text(score)))] for label, score in
                (tuple(t)[:2] for t in top)]
        parts.append("<h3>Top results</h3>" + _table(("Label", "Score"), rows))
    if case.get("values"):
        parts.append("<h3>Values</h3><p>" + _t(", ".join(format_value(v) for v in case["values"])) + "</p>")
    if "truth" in case and case["truth"] is not None:
        parts.append(_rows([("Truth", _t(case["truth"]))]))
    decision = case.get("decision")
    parts.append("<h3>Review</h3>")
    if decision:
        words = {"accept": "accepted", "override": "overridden", "flag": "flagged"}
        parts.append(_rows([("Decision", _t(words.get(decision.get("decision"), decision.get("decision")))),
                            ("Label", _t(decision["label"]) if decision.get("label") is not None else ""),
                            ("Reason", _t(decision["reason"]) if decision.get("reason") else ""),
                            ("Reviewer", _t(decision["reviewer"]) if decision.get("reviewer") else ""),
                            ("When", _t(decision["at"]) if decision.get("at") else "")]))
    else:
        parts.append('<p class="muted">not reviewed</p>')
    return "".join(parts)


def _latency(ctx: dict) -> str:
    lat = ctx.get("latency") or {}
    if not lat:
        return ""
    ms = lambda k: _t(f"{lat[k]:.2f} ms") if isinstance(lat.get(k), (int, float)) else ""  # noqa: E731
    rate = lat.get("items_per_s")
    return ("<h2>Latency</h2>" + _rows([
        ("Items timed", _t(format_value(lat.get("n"))) if lat.get("n") is not None else ""),
        ("Median (p50)", ms("p50")), ("p95", ms("p95")), ("p99", ms("p99")), ("Mean", ms("mean")),
        ("Throughput", _t(f"{rate:.1f} items/s") if isinstance(rate, (int, float)) else ""),
        ("Provider", _t(lat.get("provider")) if lat.get("provider") else "")]))


def _audit(ctx: dict) -> str:
    head = ctx.get("audit_head")
    if not head:
        return ""
    return ("<h2>Audit trail</h2><p>Head hash of the results database's audit trail when this report was made "
            f"('inferdesk audit verify' checks it):</p><p class=\"mono\">{_t(head)}</p>")


def build(ctx: dict) -> Built:
    """The report's HTML for ``ctx`` (see :func:`desktop.report.write_report`); missing keys skip their sections."""
    ensure_gui_application()  # the charts are painted with Qt
    ctx = ctx or {}
    built = Built(html="")
    sections = [_front(ctx, built), _evaluation(ctx, built), _subgroups(ctx), _comparison(ctx)]
    cases = [c for c in ctx.get("cases") or () if isinstance(c, dict)]
    for n, case in enumerate(cases, 1):
        sections.append(_case(case, n, len(cases), built))
    tail = _latency(ctx) + _audit(ctx)
    if tail:
        # latency and the audit head share a last page after the cases
        sections.append(tail.replace("<h2>", f"<h2{_BREAK}>", 1))
    title = _t(ctx.get("title") or "InferDesk report")
    built.html = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"/>"
                  f"<title>{title}</title><style>{STYLE}</style></head><body>"
                  + "".join(s for s in sections if s) + "</body></html>")
    return built
