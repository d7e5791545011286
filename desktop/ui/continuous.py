"""The window's continuous modes: Run ▸ Watch Folder… and the Server tab (a mixin of MainWindow).

A watch is the window's run while it lasts: its results join the Results and Latency tabs file
by file and are one run in History; Cancel (Esc) ends it. The server answers other programs'
requests with the loaded model; its request latency shows live on the Server tab and on the
Latency tab, and what it answered is kept in History unless the Server tab says not to.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QTimer

from desktop.runs import fmt

from .errors import refuse, report_error
from .widgets.server import server_line


class ContinuousMixin:
    """Watching a folder and serving the model, for MainWindow (``self.controller``, ``self.settings``...)."""

    SERVER_REFRESH_MS = 500

    def _init_continuous(self) -> None:
        c = self.controller
        c.watch_progress.connect(self._on_watch_progress)
        c.serving_changed.connect(self._on_serving_changed)
        self.server_view.start_requested.connect(self.start_serving)
        self.server_view.stop_requested.connect(self.stop_serving)
        s = self.settings
        self.server_view.port.setValue(s.serve_port)
        self.server_view.network.setChecked(s.serve_network)
        self.server_view.record.setChecked(s.serve_record)
        self._server_timer = QTimer(self)
        self._server_timer.setInterval(self.SERVER_REFRESH_MS)
        self._server_timer.timeout.connect(self._refresh_server_stats)
        self._serving_url = ""

    # ================================================================== watching a folder
    def watch_folder_dialog(self):
        """Run ▸ Watch Folder…: ask for the folder and options, then start watching it."""
        from .widgets.watch_dialog import WatchDialog

        if self.engine is None:
            refuse("Load a model first: the watch scores each new file with it.", self.show_status_error)
            return None
        dialog = WatchDialog(self.settings, self.engine.info.file_name, self)
        if dialog.exec() != dialog.DialogCode.Accepted:
            return None
        dialog.remember(self.settings)
        self._save_settings()
        return self.start_watch(**dialog.options())

    def start_watch(self, folder: str, *, done_dir=None, failed_dir=None, move: bool = True, settle_s: float = 1.0,
                    poll: bool = False):
        """Watch ``folder`` (asks first when a run is going): a run whose results come as files arrive."""
        if self.engine is None:
            return None
        if not self._stop_run_first("Watching a folder", "Stop It and Watch"):
            return None
        self.status_error.clear_message()
        self.latency.reset(None)
        self.tabs.setCurrentIndex(0)
        return self.controller.start_watch(os.path.abspath(folder), self.settings.top_k, done_dir=done_dir,
                                           failed_dir=failed_dir, move=move, settle_s=settle_s, poll=poll)

    def _watch_text(self, w: dict | None = None) -> str:
        folder = self.controller.shown.watching or ""
        w = w or {"scored": 0, "ok": 0, "failed": 0}
        head = f"Watching {Path(folder).name or folder}"
        if not w["scored"]:
            return f"{head} · waiting for files"
        return (f"{head} · {fmt.plural(w['scored'], 'file')} scored ({fmt.count(w['ok'])} OK, "
                f"{fmt.count(w['failed'])} failed) · last: {w['last']}")

    def _on_watch_progress(self, w: dict) -> None:
        if w["scored"] == 1:
            self._update_origin()  # the run is known now: the strip names it
        self.progress_label.setText(self._watch_text(w))
        self.progress_label.setToolTip(f"Watching {self.controller.shown.watching}: each new file is scored once "
                                       "it is completely written. Cancel (Esc) stops the watch.")
        for problem in w.get("problems") or ():
            self.show_status_error(problem)

    def _watch_ended_message(self, summary: dict) -> str:
        skipped = summary.get("skipped") or 0
        return (f"Stopped watching {summary['watch']}: {fmt.plural(summary.get('files', 0), 'file')} scored, "
                f"{fmt.count(self.results.n_ok)} OK, {fmt.count(self.results.n_failed)} failed"
                + (f"; {fmt.plural(skipped, 'file')} an earlier watch scored left alone" if skipped else ""))

    # ================================================================== serving
    def start_serving(self, options: dict | None = None):
        """The Server tab's Start: serve the loaded model with ``{"port", "network", "record"}``."""
        from desktop.engine.errors import EngineError

        options = options or {"port": self.server_view.port.value(), "network": self.server_view.network.isChecked(),
                              "record": self.server_view.record.isChecked()}
        if self.engine is None:
            refuse("Load a model first: the server answers with it.", self.server_view.show_error)
            return None
        s = self.settings
        s.serve_port, s.serve_network, s.serve_record = options["port"], options["network"], options["record"]
        view = self.server_view
        view.port.setValue(options["port"])
        view.network.setChecked(options["network"])
        view.record.setChecked(options["record"])
        self._save_settings()
        try:
            return self.controller.start_serving(**options)
        except EngineError as exc:  # a port in use, History that cannot be written
            report_error(exc, inline=self.server_view.show_error)
            return None

    def stop_serving(self) -> None:
        self.controller.stop_serving()

    def _examples(self, url: str, token: bool = False) -> dict:
        from desktop.engine.serve import ServedModel, client_examples

        engine = self.engine
        name = Path(engine.info.file_name).stem or "model"
        takes = "table" if engine.profile.table is not None and engine.profile.image is None else "image"
        return client_examples(url, name, ServedModel(name, engine).metadata(), token=token, takes=takes)

    def _update_server_model(self, engine) -> None:
        """The Server tab for the model now loaded; a server going stops when it answered with another one."""
        if self.controller.server is not None:
            served = next(iter(self.controller.server.models.values())).engine
            if served is not engine:
                self._server_note = ("It stopped when another model (or profile) was loaded; start it again to "
                                     "serve this one.")
                self.controller.stop_serving()
        port = self.server_view.port.value() or 8000
        self.server_view.set_model(Path(engine.info.file_name).stem, self._examples(f"http://127.0.0.1:{port}"))

    def _on_serving_changed(self, info) -> None:
        if info is None:
            self._server_timer.stop()
            self._serving_url = ""
            note = getattr(self, "_server_note", "")
            self._server_note = ""
            self.server_view.set_serving(None, note=note)
            self.latency.set_server_line("")
            self.statusBar().showMessage("Stopped serving" + (f": {note}" if note else ""), 10000)
            self.history.refresh()
            return
        self._serving_url = info["url"]
        self.server_view.set_serving(info["url"], network=info["network"], token=info["token"],
                                     examples=self._examples(info["url"], token=info["token"] is not None))
        self.latency.set_server_line(server_line(None, info["url"]))
        self._server_timer.start()
        self.statusBar().showMessage(f"Serving {info['name']} at {info['url']}", 10000)

    def _refresh_server_stats(self) -> None:
        server = self.controller.server
        if server is None:
            return
        snap = server.stats.snapshot()
        history = self.controller.served_history
        recorded = ""
        if history is not None:
            run = ", ".join(f"run {r}" for r in history.run_ids.values())
            recorded = f"; {fmt.plural(history.recorded, 'result')} recorded in History" + (f" ({run})" if run else "")
            if history.error:
                self.server_view.show_error(history.error)
        else:
            recorded = "; not recorded in History"
        self.server_view.show_stats(snap, server.stats.latencies(), recorded)
        self.latency.set_server_line(server_line(snap, self._serving_url))
