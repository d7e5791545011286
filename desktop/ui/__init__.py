"""The desktop window: the only package that imports PySide6, pyqtgraph and superqt."""

import os

# superqt reaches Qt through qtpy, which would try PyQt5 first: this app's binding is PySide6
os.environ.setdefault("QT_API", "pyside6")
