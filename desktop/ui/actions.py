"""The window's menus and keyboard shortcuts; every action calls a method of the window."""

from __future__ import annotations

import os

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QAbstractSpinBox, QLineEdit


def _action(window, text, slot, shortcut=None, tip="", menu=None) -> QAction:
    act = QAction(text, window)
    if shortcut is not None:
        act.setShortcut(QKeySequence(shortcut))
    act.setToolTip(tip or text)
    act.setStatusTip(tip or text)
    act.triggered.connect(slot)
    if menu is not None:
        menu.addAction(act)
    window.addAction(act)
    return act


def build_actions(w) -> None:
    """The File, Edit, Run, View and Help menus of MainWindow ``w``; sets its ``act_*`` attributes."""
    mb = w.menuBar()
    m = mb.addMenu("&File")
    w.act_open = _action(w, "&Open Model…", w.open_model_dialog, QKeySequence.Open, "Open an .onnx model file", m)
    w.recent_menu = m.addMenu("Open &Recent")
    w.recent_menu.setToolTipsVisible(True)
    _action(w, "Open the &Sample", w.open_sample, None,
            "Load the bundled digit classifier and queue its sample images", m)
    m.addSeparator()
    w.act_add = _action(w, "&Add Inputs…", w.add_inputs_dialog, "Ctrl+I",
                        "Add images, DICOM or CSV files to the queue", m)
    _action(w, "Add &Folder…", w.add_folder_dialog, "Ctrl+Shift+I", "Add every image and DICOM file in a folder (its CSV files too, for a model that takes tables)", m)
    m.addSeparator()
    w.act_export = _action(w, "&Export Results…", w.export_dialog, "Ctrl+E",
                           "Save the results shown in the table as CSV or JSON", m)
    w.act_export_phi = _action(w, "Export with &Patient Details…", w.export_with_patient_details, None,
                               "Export as Export Results does, keeping the DICOM inputs' patient-identifying "
                               "fields (asked first)", m)
    w.act_report = _action(w, "Save &Report…", w.report_dialog, "Ctrl+Shift+R",
                           "A PDF or HTML report of the run shown: the model, its profile, where it ran, the "
                           "Validation tab's metrics, the cases the table shows with their review decisions", m)
    m.addSeparator()
    _action(w, "&Quit", w.close, QKeySequence.Quit, "Close InferDesk", m)

    m = mb.addMenu("&Edit")
    w.act_paste = _action(w, "&Paste File Paths", w.paste_paths, QKeySequence.Paste,
                          "Add the files whose paths are on the clipboard", m)
    _action(w, "&Remove Selected Inputs", w.queue.remove_selected, None,
            "Remove the selected inputs from the queue (Delete in the queue)", m)
    _action(w, "&Clear Queue", w.queue.clear, None, "Empty the input queue", m)
    m.addSeparator()
    w.act_filter = _action(w, "&Filter Results", w.focus_filter, QKeySequence.Find,
                           "Type to filter the results table", m)
    m.addSeparator()
    w.act_profile = _action(w, "Pre&processing…", w.edit_profile, "Ctrl+P",
                            "Edit how inputs are turned into the model's input", m)
    preferences = (QKeySequence.Preferences if not QKeySequence(QKeySequence.Preferences).isEmpty() else "Ctrl+,")
    _action(w, "&Settings…", w.settings_dialog, preferences,
            "Execution provider, threads, optimisation, labels per result", m)

    m = mb.addMenu("&Run")
    w.act_run = _action(w, "&Run", w.start_run, "Ctrl+R", "Score the queue", m)
    w.act_cancel = _action(w, "&Cancel", w.cancel, "Esc", "Stop after the current item", m)
    w.act_cluster = _action(w, "Run on C&luster…", w.run_on_cluster_dialog, "Ctrl+Shift+R",
                            "Score the queue on Dask workers: processes on this computer, or a cluster's machines", m)
    m.addSeparator()
    w.act_watch = _action(w, "&Watch Folder…", w.watch_folder_dialog, "Ctrl+Shift+W",
                          "Score each new file in a folder as soon as it is completely written, until you stop it", m)
    _action(w, "&Serve the Model…", lambda: w.tabs.setCurrentWidget(w.server_view), None,
            "Let other programs call the loaded model over HTTP: the Server tab", m)
    m.addSeparator()
    w.act_bench = _action(w, "&Benchmark", w.bench_from_menu, "Ctrl+B",
                          "Time the model alone with the Benchmark tab's settings", m)

    m = mb.addMenu("&View")
    for n, name in enumerate(("Results", "Latency", "Benchmark", "History", "Validation", "Drift", "Lab", "Server")):
        _action(w, f"&{name}", lambda _=False, n=n: w.tabs.setCurrentIndex(n), f"Ctrl+{n + 1}",
                f"Show the {name} tab", m)

    m = mb.addMenu("&Help")
    _action(w, "&About InferDesk", w.about, None, "Versions of InferDesk, onnxruntime and Qt", m)
    w.act_providers = _action(w, "&Execution Providers…", w.providers_dialog, None,
                              "The providers this onnxruntime offers, the one asked for and the one running the model", m)
    _action(w, "&Open Settings Folder", w.open_settings_folder, None, "Show where preferences are kept", m)
    for menu in mb.findChildren(type(w.recent_menu)):
        menu.setToolTipsVisible(True)
    w.model_panel.recent_button.setMenu(w.recent_menu)
    pass_shortcuts(w)


#: what a text field keeps even when a window shortcut has the same keys: the clipboard, undo, select all
_EDITING_KEYS = (QKeySequence.Copy, QKeySequence.Cut, QKeySequence.Paste, QKeySequence.SelectAll,
                 QKeySequence.Undo, QKeySequence.Redo)


class ShortcutPassThrough(QObject):
    """Lets the window's own shortcuts through a text field that has the focus.

    On X11 a line edit takes Ctrl+E (end of line), Ctrl+B and Ctrl+F (move by a character) and
    more for itself, as Emacs does, so with the focus in the Filter box Ctrl+E did nothing. The
    field still keeps plain typing and the clipboard, undo and select-all keys.
    """

    def __init__(self, window):
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj, event) -> bool:
        if event.type() != QEvent.ShortcutOverride or event.modifiers() & ~(Qt.ShiftModifier | Qt.KeypadModifier) \
                == Qt.NoModifier:
            return False  # plain typing stays the field's
        if any(event.matches(key) for key in _EDITING_KEYS):
            return False
        pressed = QKeySequence(event.keyCombination())
        for act in self.window.actions():
            if act.isEnabled() and any(pressed.matches(k) == QKeySequence.ExactMatch for k in act.shortcuts()):
                event.ignore()  # not the field's: the shortcut map gives it to the action
                return True
        return False


def pass_shortcuts(window, widgets=None) -> ShortcutPassThrough:
    """Let ``window``'s shortcuts through its text fields (``widgets``; default: every line edit (an
    editable combo box's among them) and spin box in it now)."""
    through = getattr(window, "_shortcut_pass_through", None) or ShortcutPassThrough(window)
    window._shortcut_pass_through = through
    if widgets is None:
        widgets = [w for kind in (QLineEdit, QAbstractSpinBox) for w in window.findChildren(kind)]
    for widget in widgets:
        widget.installEventFilter(through)
        widget.setProperty("passesShortcuts", True)
    return through


def rebuild_recent(w) -> None:
    """The Open Recent menu from the settings' existing recent models."""
    w.recent_menu.clear()
    recent = w.settings.existing_recent()
    for n, path in enumerate(recent):
        act = w.recent_menu.addAction(f"&{n + 1}  {os.path.basename(path)}")
        act.setToolTip(path)
        act.setStatusTip(path)
        act.triggered.connect(lambda _=False, p=path: w.load_model(p))
    if not recent:
        act = w.recent_menu.addAction("No recent models")
        act.setEnabled(False)
    w.model_panel.recent_button.setEnabled(bool(recent))
