"""The Server tab: serve the loaded model to other programs over HTTP (KServe v2), and watch its requests.

The view only displays and asks: Start asks the window (``start_requested``), which starts the
server through ``desktop.runs.serve``; while it serves, the window passes the server's request
statistics to :meth:`ServerView.show_stats` twice a second. It shows the address with a
"this machine only" or "on the network, token required" badge, requests per second with live
p50 / p95 / p99, a chart of each request's latency, and copyable ``curl`` and ``tritonclient``
calls for the loaded model.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QSpinBox,
                               QTabWidget, QVBoxLayout, QWidget)

from desktop.runs import fmt

from .latency import STAGE_COLORS, add_plot, theme_plot
from .panels import InlineMessage

_BADGE = "border-radius: 4px; padding: 2px 8px; font-weight: bold; color: white; background: {};"
LOOPBACK_COLOR, NETWORK_COLOR = "#3a7d44", "#b8720a"


class ServerView(QWidget):
    """See the module docstring."""

    start_requested = Signal(object)  # {"port": int, "network": bool, "record": bool}
    stop_requested = Signal()

    MAX_POINTS = 2000  # the chart shows the latest requests

    def __init__(self, parent=None):
        super().__init__(parent)
        self.serving = False
        self.url = ""
        self.token: str | None = None
        lay = QVBoxLayout(self)
        intro = QLabel("Let other programs on this machine, such as a PACS router or a script, ask the loaded model "
                       "over HTTP. The server speaks the Open Inference Protocol (KServe v2), which Triton's "
                       "clients use, and has an endpoint that takes an image or a CSV row.")
        intro.setWordWrap(True)
        lay.addWidget(intro)

        form = QHBoxLayout()
        lay.addLayout(form)
        form.addWidget(QLabel("Port"))
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setValue(8000)
        self.port.setToolTip("The TCP port (0: any free one)")
        form.addWidget(self.port)
        self.network = QCheckBox("Serve on the network")
        self.network.setToolTip("Listen on every address of this machine, so that other machines can call it. "
                                "Every request must then send a bearer token, made when the server starts.")
        form.addStretch(1)
        options = QHBoxLayout()
        lay.addLayout(options)
        options.addWidget(self.network)
        self.record = QCheckBox("Record requests in History")
        self.record.setChecked(True)
        self.record.setToolTip("Keep each answered request's result in History and the audit trail, as one run per "
                               "model named “served …”")
        options.addWidget(self.record)
        options.addStretch(1)
        self.button = QPushButton("Start Serving  ▶")
        self.button.setToolTip("Serve the loaded model")
        self.button.clicked.connect(self._on_button)
        form.addWidget(self.button)

        status = QHBoxLayout()
        lay.addLayout(status)
        self.address = QLabel("Not serving.")
        self.address.setTextInteractionFlags(Qt.TextSelectableByMouse)
        status.addWidget(self.address, 1)
        self.badge = QLabel()
        self.badge.setVisible(False)
        status.addWidget(self.badge)

        token_row = QHBoxLayout()
        lay.addLayout(token_row)
        self.token_label = QLabel("Bearer token")
        token_row.addWidget(self.token_label)
        self.token_field = QLineEdit()
        self.token_field.setReadOnly(True)
        self.token_field.setEchoMode(QLineEdit.Password)
        self.token_field.setToolTip("Clients send it as “Authorization: Bearer <token>”; it changes each time the "
                                    "server starts")
        token_row.addWidget(self.token_field, 1)
        self.token_copy = QPushButton("Copy Token")
        self.token_copy.setToolTip("Put the token on the clipboard, to give to the program that calls the server")
        self.token_copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.token or ""))
        token_row.addWidget(self.token_copy)
        self._token_widgets = (self.token_label, self.token_field, self.token_copy)
        for w in self._token_widgets:
            w.setVisible(False)

        self.message = InlineMessage()
        lay.addWidget(self.message)

        self.readout = QLabel()
        self.readout.setObjectName("serverReadout")
        self.readout.setWordWrap(True)
        self.readout.setTextInteractionFlags(Qt.TextSelectableByMouse)
        f = self.readout.font()
        f.setPointSizeF(f.pointSizeF() * 1.15)
        self.readout.setFont(f)
        lay.addWidget(self.readout)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(140)
        self.chart = add_plot(self.graphics, self.palette(), row=0, col=0, title="Latency per request")
        self.chart.setLabel("left", "ms")
        self.chart.setLabel("bottom", "request #")
        theme_plot(self.chart, self.palette())
        self.graphics.setBackground(self.palette().color(self.palette().ColorRole.Base))
        self.curve = self.chart.plot([], [], pen=pg.mkPen(STAGE_COLORS[0], width=1))
        lay.addWidget(self.graphics, 1)

        self.examples = QTabWidget()
        self.examples.setDocumentMode(True)
        mono = QFontDatabase.systemFont(QFontDatabase.FixedFont)
        self.example_text: dict[str, QPlainTextEdit] = {}
        for key, title in (("curl", "curl"), ("python", "Python (tritonclient)")):
            box = QWidget()
            bl = QVBoxLayout(box)
            bl.setContentsMargins(0, 4, 0, 0)
            text = QPlainTextEdit()
            text.setReadOnly(True)
            text.setFont(mono)
            text.setLineWrapMode(QPlainTextEdit.NoWrap)
            text.setMaximumHeight(170)
            bl.addWidget(text)
            copy = QPushButton(f"Copy the {title} Example")
            copy.setToolTip(f"Put the {title} example on the clipboard")
            copy.clicked.connect(lambda _=False, t=text: QGuiApplication.clipboard().setText(t.toPlainText()))
            row = QHBoxLayout()
            row.addStretch(1)
            row.addWidget(copy)
            bl.addLayout(row)
            self.example_text[key] = text
            self.examples.addTab(box, title)
        lay.addWidget(self.examples)
        self.set_model(None)
        self.show_stats(None)

    # ------------------------------------------------------------------ what the window tells it
    def set_model(self, name: str | None, examples: dict | None = None) -> None:
        """The model Start would serve (None: none loaded), and its example calls."""
        self.model_name = name
        self.button.setEnabled(self.serving or name is not None)
        if not self.serving:
            self.button.setToolTip(f"Serve {name}" if name else "Load a model first: File ▸ Open Model (Ctrl+O)")
        for key, text in self.example_text.items():
            text.setPlainText((examples or {}).get(key, "") if name else "Load a model to see how to call it.")

    def set_serving(self, url: str | None, *, network: bool = False, token: str | None = None,
                    examples: dict | None = None, note: str = "") -> None:
        """Serving at ``url`` now, or stopped (None; ``note`` says why, when it was not asked)."""
        self.serving = url is not None
        self.url, self.token = url or "", token
        for w in (self.port, self.network, self.record):
            w.setEnabled(not self.serving)
        self.button.setText("Stop Serving  ■" if self.serving else "Start Serving  ▶")
        self.button.setEnabled(self.serving or self.model_name is not None)
        self.button.setToolTip("Stop answering requests; what was answered stays in History" if self.serving
                               else f"Serve {self.model_name}" if self.model_name else "Load a model first")
        for w in self._token_widgets:
            w.setVisible(self.serving and token is not None)
        self.token_field.setText(token or "")
        if self.serving:
            self.address.setText(f"Serving <b>{html.escape(self.model_name or '')}</b> at "
                                 f"<a href='{html.escape(url)}/v2/models/{html.escape(self.model_name or '')}'>"
                                 f"{html.escape(url)}</a>")
            self.address.setOpenExternalLinks(True)
            self.badge.setText("On the network · token required" if network else "This machine only")
            self.badge.setToolTip("Other machines can call it, with the bearer token" if network else
                                  "Listening on the loopback address: only programs on this machine can call it")
            self.badge.setStyleSheet(_BADGE.format(NETWORK_COLOR if network else LOOPBACK_COLOR))
            self.badge.setVisible(True)
            self.message.clear_message()
            self.curve.setData([], [])
        else:
            self.address.setText("Not serving." + (f" {html.escape(note)}" if note else ""))
            self.badge.setVisible(False)
        if examples is not None:
            for key, text in self.example_text.items():
                text.setPlainText(examples.get(key, ""))

    def show_error(self, text: str) -> None:
        self.message.show_error(text)

    def show_stats(self, snapshot: dict | None, latencies=None, recorded: str = "") -> None:
        """The server's RequestStats snapshot (None: no server yet) and its kept latencies for the chart."""
        if snapshot is None or not snapshot.get("requests"):
            self.readout.setText("Requests and their latency appear here while serving." if not self.serving else
                                 "Waiting for the first request…")
            return
        s = snapshot
        self.readout.setText(
            f"<b>{fmt.rate(s['per_s']).removesuffix('/s')} requests/s</b> · <b>p50 {fmt.ms(s['p50'])} ms</b> · "
            f"p95 {fmt.ms(s['p95'])} ms · p99 {fmt.ms(s['p99'])} ms"
            f"<br><span style='font-size:small'>{fmt.plural(s['requests'], 'request')} answered, "
            f"{fmt.count(s['failed'])} refused; latency from the request read to the answer written"
            f"{html.escape(recorded)}</span>")
        if latencies is not None and len(latencies):
            y = np.asarray(latencies)[-self.MAX_POINTS:]
            first = s["requests"] - len(y)
            self.curve.setData(np.arange(first + 1, first + len(y) + 1), y)

    # ------------------------------------------------------------------ inside
    def _on_button(self) -> None:
        if self.serving:
            self.stop_requested.emit()
        else:
            self.message.clear_message()
            self.start_requested.emit({"port": self.port.value(), "network": self.network.isChecked(),
                                       "record": self.record.isChecked()})


def server_line(snapshot: dict | None, url: str) -> str:
    """The Latency tab's line for the server while it serves (HTML; empty when not serving)."""
    if not url:
        return ""
    if snapshot is None or not snapshot.get("requests"):
        return f"Serving at {html.escape(url)}: no request yet."
    s = snapshot
    rate = s["per_s"]
    return (f"Requests to {html.escape(url)}: <b>p50 {fmt.ms(s['p50'])} ms</b> · p95 {fmt.ms(s['p95'])} ms · "
            f"p99 {fmt.ms(s['p99'])} ms · {fmt.rate(rate).removesuffix('/s') if math.isfinite(rate) else '—'} "
            f"requests/s · {fmt.plural(s['requests'], 'request')}")
