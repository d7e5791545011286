"""The left-hand panels: the model card (with its empty and error states) and the input queue."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QKeySequence, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QHBoxLayout, QLabel, QListView, QPushButton, QScrollArea,
                               QSizePolicy, QStackedWidget, QToolButton, QVBoxLayout, QWidget)

from desktop.engine.inputs import InputKind
from desktop.runs import fmt

from ..models import QueueModel, error_color


def section_label(text: str) -> QLabel:
    label = QLabel(text)
    f = label.font()
    f.setBold(True)
    label.setFont(f)
    return label


def _esc(text) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class InlineMessage(QLabel):
    """A message shown where something happened (a refused model, a refused profile); hidden when empty."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.setVisible(False)
        self.setObjectName("inlineMessage")

    def show_error(self, text: str) -> None:
        self.setStyleSheet(f"color: {error_color(self.palette()).name()}; padding: 4px;"
                           f"border: 1px solid {error_color(self.palette()).name()}; border-radius: 4px;")
        self.setText("✖ " + _esc(text))
        self.setToolTip(text)
        self.setVisible(True)

    def show_info(self, text: str) -> None:
        self.setStyleSheet("padding: 4px;")
        self.setText(_esc(text))
        self.setToolTip(text)
        self.setVisible(True)

    def clear_message(self) -> None:
        self.setText("")
        self.setVisible(False)


class ModelPanel(QWidget):
    """Shows the loaded model: file, size, SHA-256, inputs/outputs, labels, profile in words, provider."""

    open_requested = Signal()
    sample_requested = Signal()
    edit_profile_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(section_label("MODEL"))
        head.addStretch(1)
        self.open_button = QToolButton()
        self.open_button.setText("Open…")
        self.open_button.setToolTip("Open an .onnx model file (Ctrl+O)")
        self.open_button.clicked.connect(self.open_requested)
        self.recent_button = QToolButton()
        self.recent_button.setText("Recent")
        self.recent_button.setPopupMode(QToolButton.InstantPopup)
        self.recent_button.setToolTip("Open a model you used before")
        head.addWidget(self.open_button)
        head.addWidget(self.recent_button)
        lay.addLayout(head)
        self.message = InlineMessage()
        lay.addWidget(self.message)
        self.stack = QStackedWidget()
        lay.addWidget(self.stack, 1)
        # empty state
        empty = QWidget()
        el = QVBoxLayout(empty)
        hint = QLabel("Drop an <b>.onnx</b> model anywhere on this window, or open the sample to try InferDesk.")
        hint.setWordWrap(True)
        el.addWidget(hint)
        self.sample_button = QPushButton("Open the sample model")
        self.sample_button.setToolTip("Load the bundled digit classifier and queue its sample images")
        self.sample_button.clicked.connect(self.sample_requested)
        el.addWidget(self.sample_button)
        el.addStretch(1)
        self.stack.addWidget(empty)
        # loading state
        self.loading = QLabel("Loading…")
        self.loading.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.loading.setWordWrap(True)
        self.stack.addWidget(self.loading)
        # card
        card = QWidget()
        cl = QVBoxLayout(card)
        cl.setContentsMargins(0, 0, 0, 0)
        self.card = QLabel()
        self.card.setObjectName("modelCard")
        self.card.setWordWrap(True)
        self.card.setTextFormat(Qt.RichText)
        self.card.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.card.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.card.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        cl.addWidget(self.card)
        self.guess = GuessNotice()
        self.guess.edit_requested.connect(self.edit_profile_requested)
        cl.addWidget(self.guess)
        self.profile_button = QPushButton("Preprocessing…")
        self.profile_button.setToolTip("Edit how images or CSV rows are turned into the model's input")
        self.profile_button.clicked.connect(self.edit_profile_requested)
        cl.addWidget(self.profile_button)
        cl.addStretch(1)
        # the card scrolls: a long description, many outputs or the guess notice never squash its lines
        scroll = QScrollArea()
        scroll.setObjectName("modelCardScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(card)
        self.stack.addWidget(scroll)
        self.engine = None

    def set_loading(self, name: str) -> None:
        self.message.clear_message()
        self.loading.setText(f"Loading {_esc(name)}…")
        self.stack.setCurrentIndex(1)

    def set_empty(self) -> None:
        self.engine = None
        self.stack.setCurrentIndex(0)

    def show_error(self, text: str) -> None:
        self.message.show_error(text)
        self.stack.setCurrentIndex(2 if self.engine is not None else 0)

    def set_engine(self, engine) -> None:
        self.engine = engine
        self.message.clear_message()
        self.card.setText(model_card_html(engine))
        about = f"\n\n{engine.info.description}" if engine.info.description else ""
        self.card.setToolTip(f"{engine.model_path}\nSHA-256 {engine.info.sha256}{about}\n\n{spec_tooltip(engine.info)}")
        from desktop.engine.profile import is_guessed, profile_guess_reasons

        guessed = is_guessed(engine.profile_source)
        self.guess.set_reasons(profile_guess_reasons(engine.info, engine.profile) if guessed else None)
        self.stack.setCurrentIndex(2)

    def card_text(self) -> str:
        """The card as plain text (for tests and copying)."""
        from PySide6.QtGui import QTextDocument

        doc = QTextDocument()
        doc.setHtml(self.card.text())
        return doc.toPlainText()


#: the metadata keys the card shows under "About", in this order, and what it calls them
CARD_FACTS = (("intended_use", "Intended use"), ("license", "Licence"), ("author", "Author"),
              ("version", "Version"), ("date", "Date"), ("task", "Task"), ("imgsz", "Image size"))
_FACT_ALIASES = {"intended use": "intended_use", "intended_purpose": "intended_use", "use": "intended_use",
                 "licence": "license", "license_name": "license", "authors": "author", "model_version": "version"}
_CARD_SPECS = 5  # inputs or outputs listed on the card; the rest are counted (all in the tooltip)
_SYMBOL_WORDS = {"floor", "ceil", "min", "max", "mod", "abs", "sqrt"}


def short_dim(d) -> str:
    """A dimension as the card shows it: a number, a name (``batch``), ``?``, or for a symbolic expression
    such as ``(floor(floor(height/2 - 1/2)/2) + 1)*…`` the names it is made of: ``f(height)``."""
    import re

    if d is None:
        return "?"
    text = str(d)
    if isinstance(d, int):
        return text
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.:-]*", text):
        # a name a person gave (batch, height) stays; an exporter's own (p2o.DynamicDimension.0,
        # unk__123) says no more than "?" does
        generated = "." in text or text.startswith("unk__") or len(text) > 14
        return "?" if generated else text
    names = list(dict.fromkeys(w for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)
                               if w.lower() not in _SYMBOL_WORDS))
    return f"f({', '.join(names)})" if names else "?"


def short_shape(spec) -> tuple[str, bool]:
    """The shape as the card shows it, and whether it was shortened (the full form goes in the tooltip)."""
    full = spec.shape_text
    if not spec.type.startswith("tensor") or not spec.rank_known or not spec.shape:
        return full, False
    text = "[" + ", ".join(short_dim(d) for d in spec.shape) + "]"
    return text, text != full


def short_type(spec) -> str:
    """``float`` for a float tensor; ``map int64→float``, ``list of map int64→float`` for scikit-learn's
    ZipMap outputs; the ONNX type otherwise."""
    import re

    if spec.is_tensor:
        return spec.elem_type or spec.type
    t = spec.type.replace(" ", "")
    m = re.fullmatch(r"(seq\()?map\((\w+),tensor\((\w+)\)\)\)?", t)
    if m:
        return ("list of " if m.group(1) else "") + f"map {m.group(2)}→{m.group(3)}"
    return spec.type


def _spec_rows(specs) -> str:
    rows = []
    for s in specs[:_CARD_SPECS]:
        shape, _ = short_shape(s)
        rows.append(f"<tr><td>{_esc(s.name)}</td><td nowrap>&nbsp;{_esc(shape)} {_esc(short_type(s))}</td></tr>")
    more = len(specs) - _CARD_SPECS
    if more > 0:
        rows.append(f"<tr><td colspan='2'><i>… and {more} more (hover for all)</i></td></tr>")
    return "<table cellspacing='0' cellpadding='1'>" + "".join(rows) + "</table>"


def spec_tooltip(info) -> str:
    """Every input and output with its full shape and type, for the card's tooltip."""
    lines = []
    for title, specs in (("Inputs", info.inputs), ("Outputs", info.outputs)):
        lines.append(title + ":")
        lines += [f"  {s.name}  {s.shape_text}  {s.type}" for s in specs]
    return "\n".join(lines)


def card_facts(metadata) -> list[tuple[str, str]]:
    """The model's own statements worth a user's eye (intended use, licence, author...), from its metadata."""
    found = {}
    for key, value in metadata.items():
        k = _FACT_ALIASES.get(key.strip().lower(), key.strip().lower())
        if k in dict(CARD_FACTS) and k not in found and str(value).strip():
            found[k] = " ".join(str(value).split())
    return [(title, found[k]) for k, title in CARD_FACTS if k in found]


#: metadata keys whose text is the model maker's word on how (not) to use it: shown above the results too
USE_NOTICE_KEYS = ("disclaimer", "intended_use", "intended use", "intended_purpose", "warning")


def use_notice(metadata) -> str | None:
    """The model's disclaimer or intended-use text (the first of :data:`USE_NOTICE_KEYS` it has), or None."""
    folded = {str(k).strip().lower(): v for k, v in metadata.items()}
    for key in USE_NOTICE_KEYS:
        text = " ".join(str(folded.get(key, "")).split())
        if text:
            return text
    return None


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1].rstrip() + "…"


def model_card_html(engine) -> str:
    info, profile = engine.info, engine.profile
    labels = list(profile.labels)
    if labels:
        shown = ", ".join(_esc(x) for x in labels[:12]) + (f", … ({len(labels)} in all)" if len(labels) > 12 else "")
    else:
        shown = "<i>none</i>: classes are shown as numbers; add names in Preprocessing… (labels)"
    provider = engine.provider.replace("ExecutionProvider", "")
    warned = "".join(f"<p style='color:{error_color().name()}'>⚠ {_esc(w)}</p>" for w in engine.warnings)
    about = ""
    if info.description:
        about += f"<p style='margin-top:0'>{_esc(_clip(info.description, 400))}</p>"
    facts = card_facts(info.metadata)
    if facts:
        about += "<p style='margin-top:0'>" + "<br>".join(
            f"<b>{_esc(title)}</b>: {_esc(_clip(value, 160))}" for title, value in facts) + "</p>"
    return (
        f"<p style='margin-bottom:2px'><b style='font-size:large'>{_esc(info.file_name)}</b></p>"
        f"<p style='margin-top:0'>{fmt.size(info.size_bytes)} · SHA-256 <tt>{info.sha256[:12]}</tt><br>"
        f"{_esc(profile.task)} · runs on <b>{_esc(provider)}</b></p>{about}"
        f"<p style='margin-bottom:0'><b>Inputs</b></p>{_spec_rows(info.inputs)}"
        f"<p style='margin-bottom:0'><b>Outputs</b></p>{_spec_rows(info.outputs)}"
        f"<p><b>Labels</b>: {shown}</p>"
        f"<p><b>Preprocessing</b>: {_esc(profile.describe())}<br>"
        f"<span style='font-size:small'>profile: {_esc(engine.profile_source)}</span></p>{warned}"
    )


class GuessNotice(QFrame):
    """A strip on the model card when the preprocessing was guessed, saying what was assumed, with one
    button to the editor: results from a wrong guess look just as confident as right ones."""

    edit_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("guessNotice")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.RichText)
        lay.addWidget(self.text)
        self.button = QPushButton("Check the preprocessing…")
        self.button.setToolTip("Open the preprocessing editor: compare the guess with how the model was trained")
        self.button.clicked.connect(self.edit_requested)
        lay.addWidget(self.button, 0, Qt.AlignLeft)
        self.setVisible(False)

    def set_reasons(self, reasons) -> None:
        """Show the guess's reasons (None: the profile was not guessed, hide)."""
        self.setVisible(reasons is not None)
        if reasons is None:
            return
        from .history import strip_style

        self.setStyleSheet(strip_style(self))
        items = "".join(f"<li>{_esc(r)}</li>" for r in reasons)
        self.text.setText("<b>⚠ Preprocessing guessed</b>: the model names none. Check it before trusting "
                          f"the results.<ul style='margin-left:-20px'>{items}</ul>")


class QueuePanel(QWidget):
    """The inputs to score: thumbnails for images, row counts for CSVs, problems flagged in red."""

    add_requested = Signal()
    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = QueueModel(self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.title = section_label("INPUTS")
        head.addWidget(self.title)
        head.addStretch(1)
        self.add_button = QToolButton()
        self.add_button.setText("Add…")
        self.add_button.setToolTip("Add images, folders or CSV files to score (Ctrl+I)")
        self.add_button.clicked.connect(self.add_requested)
        self.remove_button = QToolButton()
        self.remove_button.setText("Remove")
        self.remove_button.setToolTip("Remove the selected inputs from the queue (Delete)")
        self.remove_button.clicked.connect(self.remove_selected)
        self.clear_button = QToolButton()
        self.clear_button.setText("Clear")
        self.clear_button.setToolTip("Empty the queue")
        self.clear_button.clicked.connect(self.clear)
        # the buttons under the list, the title alone above it: side by side, a 236-pixel panel cut
        # both ("INP…", "Re…ve")
        buttons = QHBoxLayout()
        for b in (self.add_button, self.remove_button, self.clear_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay.addLayout(head)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        from .series import SeriesPanel

        self.series_panel = SeriesPanel()  # hidden until a DICOM series is queued
        self.series_panel.toggled.connect(self._on_series_toggled)
        self.series_frames = None  # the profile's dicom.frames when the series were queued
        lay.addWidget(self.series_panel)
        self.stack = QStackedWidget()
        lay.addWidget(self.stack, 1)
        self.hint = QLabel("Drop images, folders or CSV files here,\nor use Add… (Ctrl+I),\n"
                           "or paste file paths (Ctrl+V).")
        self.hint.setAlignment(Qt.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setFrameShape(QFrame.StyledPanel)
        self.hint.setForegroundRole(QPalette.PlaceholderText)
        self.stack.addWidget(self.hint)
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setUniformItemSizes(True)
        self.view.setIconSize(QSize(QueueModel.THUMB, QueueModel.THUMB))
        self.view.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.view.setToolTip("The queue: what Run will score, in this order")
        self.view.setTextElideMode(Qt.ElideMiddle)
        self.stack.addWidget(self.view)
        lay.addLayout(buttons)
        self.model.rowsInserted.connect(self._on_model_changed)
        self.model.rowsRemoved.connect(self._on_model_changed)
        self.model.modelReset.connect(self._on_model_changed)
        self.model.dataChanged.connect(lambda *_: self._update_summary())
        from PySide6.QtGui import QShortcut

        delete = QShortcut(QKeySequence.Delete, self.view, activated=self.remove_selected)
        delete.setContext(Qt.WidgetShortcut)
        self._on_model_changed()

    def add_items(self, items) -> None:
        self.model.add(items)

    def remove_selected(self) -> None:
        rows = [ix.row() for ix in self.view.selectionModel().selectedIndexes()]
        if rows:
            self.model.remove_rows(rows)

    def clear(self) -> None:
        self.model.clear()
        self.series_panel.clear()

    def add_series(self, series_list, chosen_items, frames=None) -> None:
        """Show DICOM series in the series list, ticked where ``chosen_items`` (already queued, or about to
        be) hold their slices; ``frames`` (the profile's range) is what ticking one again queues."""
        self.series_frames = frames
        self.series_panel.add_series(series_list, {id(i.series) for i in chosen_items if i.series is not None})

    def _on_series_toggled(self, series, ticked: bool) -> None:
        if ticked:
            from desktop.engine.inputs.dicomseries import select_series

            items, _ = select_series([series], None, self.series_frames)
            self.model.add(items)
        else:
            self.model.remove_rows([n for n, item in enumerate(self.model.items) if item.series is series])

    def _on_model_changed(self, *_):
        self.stack.setCurrentIndex(1 if self.model.items else 0)
        self.remove_button.setEnabled(bool(self.model.items))
        self.clear_button.setEnabled(bool(self.model.items))
        self.series_panel.sync({id(i.series) for i in self.model.items if i.series is not None})
        self._update_summary()
        self.changed.emit()

    def _update_summary(self):
        n_items = len(self.model.items)
        # one count everywhere: an input the model cannot take is one (failed) item, not its rows
        self.title.setText(f"INPUTS ({fmt.count(self.model.expected_results)})" if n_items else "INPUTS")
        problems = self.model.problem_items()
        if not n_items:
            self.summary.setVisible(False)
            return
        text = fmt.plural(self.model.scoreable_rows, "item") + " to score"
        tables = sum(1 for n, i in enumerate(self.model.items) if i.kind == InputKind.TABLE
                     and n not in self.model.problems)
        if tables:
            text += f" ({fmt.plural(tables, 'CSV file')})"
        if problems:
            text += (f" · <span style='color:{error_color(self.palette()).name()}'>"
                     f"{fmt.plural(len(problems), 'input')} the model cannot take</span> (each listed as failed)")
        self.summary.setText(text)
        self.summary.setVisible(True)
