"""The pattern of the run dialogs (Watch a Folder, Run on Cluster): a line of what will happen, a form, a red
line saying why the choices cannot be taken, and Cancel beside the action's own button."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout


class OptionDialog(QDialog):
    """Subclasses fill ``self.form``, call :meth:`finish` with their button's text, and say :meth:`problem`."""

    def __init__(self, title: str, intro: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.lay = QVBoxLayout(self)
        self.intro = QLabel(intro)
        self.intro.setWordWrap(True)
        self.lay.addWidget(self.intro)
        self.form = QFormLayout()
        self.lay.addLayout(self.form)

    def finish(self, action: str, tip: str = "", width: int = 600):
        """Add the error line and the buttons; the action's button, returned, accepts once :meth:`problem` is None."""
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b;")
        self.error.setVisible(False)
        self.lay.addWidget(self.error)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Cancel)
        button = self.buttons.addButton(action, QDialogButtonBox.AcceptRole)
        if tip:
            button.setToolTip(tip)
        self.buttons.button(QDialogButtonBox.Cancel).setToolTip("Close without starting")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        self.lay.addWidget(self.buttons)
        self.resize(width, self.sizeHint().height())
        return button

    def problem(self) -> str | None:
        """Why the choices cannot be taken (None: they can)."""
        return None

    def _accept(self) -> None:
        problem = self.problem()
        if problem:
            self.error.setText(problem)
            self.error.setVisible(True)
            return
        self.accept()
