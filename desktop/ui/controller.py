"""What the window is doing and what it shows, apart from the widgets that show it.

:class:`WindowController` holds the window's state: the loaded model, the background jobs (one
per slot, :mod:`desktop.ui.jobs`), the queue check, and :class:`Shown`, which run, model and
columns the results table belongs to. It starts every use case through the Qt-free layers
(``desktop.runs``, ``desktop.engine``) and reports through signals; the window observes them
and updates its widgets. It creates no widget.
"""

from __future__ import annotations

import copy
import gc
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from desktop.engine import Engine
from desktop.engine.service import ScoringProcess
from desktop.runs import history as runs
from desktop.runs.bench import bench_settings
from desktop.runs.queue_check import check_items
from desktop.runs.scoring import LocalClusters, RunStarted, score_in_child

#: the slots of the window's jobs: a job started in a slot cancels and disconnects the one there
LOAD, CHECK, RUN, OPEN, RESUME, BENCH, UNFINISHED = "load", "check", "run", "open", "resume", "bench", "unfinished"
VALIDATE = "validate"


@dataclass
class Shown:
    """Whose results the table holds: the run, the model that scored them, and the CSV columns around them."""

    source: str = "empty"  # "empty" | "live" (being scored now) | "history" (opened from History)
    run_id: str | None = None  # the recorded run, once known
    run: object = None  # the RunSummary of a run opened from History
    model_sha256: str | None = None  # the model that produced them
    model_name: str | None = None  # its file name, to say whose results these are
    profile_sha256: str | None = None  # the profile they were scored with (live runs)
    profile_source: str | None = None  # where that profile came from, in words
    metadata: dict | None = None  # the producing model's metadata, when known (its disclaimer is shown)
    extra_columns: dict = field(default_factory=dict)  # CSV path -> its columns that are not model features
    summary: dict | None = None  # the run's summary once it ended
    offset: int = 0  # a resumed run continues the numbering of the results already shown
    total: int = 0
    watching: str | None = None  # the folder, while the run is a watch (Run ▸ Watch Folder…): no total


@dataclass(frozen=True)
class Origin:
    """What the strip above the results says of them: ``text`` (plain), ``detail`` (its tooltip) and
    ``foreign``: another model, or another profile of this one, produced them."""

    text: str
    detail: str
    foreign: bool = False


def _host_name() -> str:
    """This machine's name, as other machines would call it."""
    import socket

    return socket.getfqdn() or socket.gethostname()


def shown_origin(shown: Shown, engine, running: bool = False) -> Origin | None:
    """The words for whose results ``shown`` holds, against the loaded ``engine``: run, model, profile."""
    if shown.source == "empty":
        return None
    if shown.source == "history" and shown.run is None:  # still being read
        return Origin(f"Run {shown.run_id} · opening…", f"Run {shown.run_id}, being opened from History")
    model = shown.model_name or "an unknown model"
    run = shown.run
    if shown.source == "history" and run is not None:
        title = f"“{run.name}” (run {run.id})" if run.name else f"Run {run.id}"
        text = f"{title} · {model} · {runs.when_text(run.started_at)} · opened from History"
        detail = (f"Run {run.id}, started {runs.when_text(run.started_at)}, {run.status}: "
                  f"{run.ok:,} OK, {run.failed:,} failed, scored by {model} (SHA-256 {run.model_sha256[:12]}) "
                  f"on {run.provider}")
    else:
        what = "Scoring now" if running else (f"Run {shown.run_id}" if shown.run_id else "Results (not saved)")
        text = f"{what} · {model} · profile: {shown.profile_source or 'unknown'}"
        detail = f"Scored by {model} (SHA-256 {(shown.model_sha256 or '')[:12]}) with the profile " \
                 f"{shown.profile_source or 'unknown'}" + (f"; saved in History as run {shown.run_id}"
                                                             if shown.run_id else "")
    if engine is None:
        return Origin(text, detail)
    if shown.model_sha256 is not None and engine.info.sha256 != shown.model_sha256:
        same_name = engine.info.file_name == model
        loaded = f"another {model}" if same_name else engine.info.file_name
        return Origin(f"Not the loaded model's results: {text}",
                      f"{detail}. The loaded model is {loaded}: these results are shown as they were "
                      "recorded, not through its preprocessing or labels. Run the queue to score "
                      "with it, or clear them.", foreign=True)
    if shown.profile_sha256 is not None and engine.profile.sha256() != shown.profile_sha256:
        return Origin(f"Scored with an earlier profile: {text}",
                      f"{detail}. The profile has changed since ({engine.profile_source}): run the queue "
                      "again to score with it.", foreign=True)
    return Origin(text, detail)


class WindowController(QObject):
    """The window's model of what is loaded, running and shown. See the module docstring."""

    model_loading = Signal(str)  # the model's file name: loading began
    engine_changed = Signal(object, str)  # the Engine now loaded, and how: "loaded", "profile" or "resumed"
    model_refused = Signal(object)  # the exception that stopped a model from loading
    queue_checked = Signal(object)  # {queue position: reason} for the queue as it is now
    shown_changed = Signal(object)  # Shown: the table was cleared for these results
    results_arrived = Signal(object, object)  # (ResultBatch, arrival times or None), in run order
    progress = Signal(int, int)  # done, total of the run or the opening
    run_ended = Signal(object)  # the summary dict (cancelled, done, total, seconds, run_id; failed when it broke)
    run_failed = Signal(object)  # the exception that ended the run
    run_opened = Signal(object)  # {"run", "done", "total", "cancelled"}: a past run is shown
    open_failed = Signal(object)  # the exception that stopped a past run from opening
    resume_ready = Signal(object)  # the ResumePlan: its model is loaded; its results so far are opened next
    resume_refused = Signal(object)  # the exception that stopped a resume (its message says why)
    unfinished_found = Signal(object)  # list of RunSummary
    bench_points = Signal(object)  # [(config index, run index, ms), ...]
    bench_ended = Signal(object)  # [(label, BenchReport)], or None when it failed
    bench_failed = Signal(object)
    watch_progress = Signal(object)  # {"scored", "ok", "failed", "last", "problems"} after each watched file
    serving_changed = Signal(object)  # {"url", "network", "token", "name"} when serving began, None when it ended
    validated = Signal(object)  # the Evaluation's dict
    validation_failed = Signal(object)  # the exception (a TruthError says what is wrong with the truth)
    busy_changed = Signal()  # a job started or ended

    def __init__(self, settings, store_path=None, parent: QObject | None = None):
        from .jobs import Jobs

        super().__init__(parent)
        self.settings = settings
        self.store_path = Path(store_path) if store_path else runs.default_store_path()
        self.jobs = Jobs(self)
        self.jobs.changed.connect(self.busy_changed)
        self.scoring = ScoringProcess()  # runs the batches, so this process keeps its interpreter lock
        self.clusters = LocalClusters()  # Run on Cluster's local workers, kept between runs
        self.engine: Engine | None = None
        self.shown = Shown()
        self.table_columns: dict = {}  # CSV path -> columns that are not model features (the queue check)
        self.t_start: float | None = None
        self.server = None  # the InferenceServer while the Server tab serves
        self.served_history = None  # its ServedHistory (None: not recording)
        self._watched = {"scored": 0, "ok": 0, "failed": 0}

    # ================================================================== state
    def is_running(self) -> bool:
        return self.jobs.busy(RUN)

    def is_opening(self) -> bool:
        return self.jobs.busy(OPEN)

    def is_loading(self) -> bool:
        return self.jobs.busy(LOAD)

    def is_benching(self) -> bool:
        return self.jobs.busy(BENCH)

    def shown_engine(self):
        """The engine to show the table's results through: None when another model produced them.

        A model loaded after a run, or a past run of another model opened from History, must not
        show those results through its own preprocessing and labels.
        """
        engine = self.engine
        if engine is None or (self.shown.model_sha256 is not None and engine.info.sha256 != self.shown.model_sha256):
            return None
        return engine

    def origin(self) -> "Origin | None":
        """Whose results the table shows, in words, and whether they are not the loaded model's (None: empty)."""
        return shown_origin(self.shown, self.engine, running=self.is_running())

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Stop all background work and wait for it; False if something is still running.

        A run going now is interrupted, not cancelled: it stays resumable, and the next start offers it.
        """
        if self.is_running():
            self.scoring.interrupt()
        self.stop_serving(wait=True)
        ok = self.jobs.shutdown(timeout_ms)
        self.scoring.close()
        self.clusters.close()
        return ok

    # ================================================================== the model
    def load_model(self, path: str, session_settings):
        """Load a model off the GUI thread; ``engine_changed`` or ``model_refused`` follows."""
        import os

        self.cancel()
        self.model_loading.emit(os.path.basename(path))
        return self.jobs.start(LOAD, Engine, str(path), settings=session_settings,
                               on_returned=self._on_model_loaded, on_errored=self.model_refused.emit)

    def _on_model_loaded(self, engine) -> None:
        self.set_engine(engine, "loaded")
        self.scoring.start()  # warm up the scoring process while the user looks at the model card

    def set_engine(self, engine, how: str = "profile") -> None:
        self.engine = engine
        self.engine_changed.emit(engine, how)

    # ================================================================== the queue
    def check_queue(self, items) -> None:
        """Flag the queued inputs the model cannot take (CSV and image headers are read on a worker)."""
        items = list(items)
        if self.engine is None or not items:
            self.jobs.cancel(CHECK)
            self.queue_checked.emit({})
            return
        self.jobs.start(CHECK, check_items, self.engine, items, on_returned=self._on_queue_checked)

    def _on_queue_checked(self, checked) -> None:
        problems, self.table_columns = checked
        self.queue_checked.emit(problems)

    # ================================================================== scoring
    def start_run(self, items, top_k: int, resume=None, offset: int = 0, expected: int | None = None,
                  cluster: str | None = None):
        """Score ``items`` in the scoring process; a run already going is cancelled first.

        ``expected``: the rows the run will show (an input the queue check refused is one failed
        row, not its CSV rows); the progress counts those. Default: every item's rows.
        ``cluster``: score on a Dask cluster (``local:N`` or a scheduler's address; Run ▸ Run on Cluster…).
        """
        # Objects alive now (Qt wrappers, modules, earlier results) need no more scanning by the
        # cycle collector: frozen, its full collections while results stream in stay short
        gc.freeze()
        items = list(items)
        self.jobs.cancel(RUN)
        self.jobs.cancel(OPEN)
        self.t_start = time.perf_counter()
        extra = {i.path: self.table_columns[i.path] for i in items if i.path in self.table_columns}
        made_by = dict(model_sha256=self.engine.info.sha256, model_name=self.engine.info.file_name,
                       profile_sha256=self.engine.profile.sha256(), profile_source=self.engine.profile_source,
                       metadata=dict(self.engine.info.metadata))
        rows = sum(i.rows for i in items) if expected is None else expected
        if resume is None:
            self.shown = Shown("live", extra_columns=extra, total=rows, **made_by)
        else:  # the results recorded so far are in the table already: keep them, continue the numbering
            self.shown = Shown("live", run_id=resume.run.id, extra_columns=extra, offset=offset,
                               total=offset + rows, **made_by)
        self.shown_changed.emit(self.shown)
        job = self.jobs.start(RUN, score_in_child, self.scoring, self.engine, items, top_k=top_k, record=True,
                              resume_run=resume.run.id if resume is not None else None,
                              store_path=str(self.store_path), paced=True, pace_timeout_s=0.25,
                              cluster=cluster, clusters=self.clusters,
                              on_cancel=self.scoring.cancel, on_yielded=self._on_run_step,
                              on_returned=self._on_run_returned, on_errored=self._on_run_failed,
                              on_finished=self._on_run_finished)
        return job

    def _on_run_step(self, step) -> None:
        if isinstance(step, RunStarted):
            self.shown.run_id = step.run_id or self.shown.run_id
            return
        batch = step.batch
        if self.shown.offset:
            batch = copy.copy(batch)
            batch.position = batch.position + self.shown.offset
        self.results_arrived.emit(batch, step.produced)
        self.progress.emit(step.done, step.total)

    def _on_run_returned(self, summary) -> None:
        self.shown.summary = summary
        if summary.get("run_id"):
            self.shown.run_id = summary["run_id"]

    def _on_run_failed(self, exc) -> None:
        self.run_failed.emit(exc)

    def _on_run_finished(self) -> None:
        summary = self.shown.summary or {"cancelled": True, "done": 0, "total": self.shown.total,
                                         "seconds": 0.0, "failed": True}
        summary = dict(summary, resumed=bool(self.shown.offset))
        self.run_ended.emit(summary)

    # ================================================================== watching a folder
    def start_watch(self, folder: str, top_k: int, *, done_dir=None, failed_dir=None, move: bool = True,
                    settle_s: float = 1.0, poll: bool = False):
        """Watch ``folder`` as the window's run: each new file scored once, its results appended as they come.

        It runs in the run slot, in this process (one file at a time); Cancel ends the watch
        and the run is recorded as finished. ``watch_progress`` follows each file.
        """
        from desktop.runs.watch import watch

        gc.freeze()
        self.jobs.cancel(RUN)
        self.jobs.cancel(OPEN)
        self.t_start = time.perf_counter()
        self._watched = {"scored": 0, "ok": 0, "failed": 0}
        self._watch_moves = move
        self.shown = Shown("live", model_sha256=self.engine.info.sha256, model_name=self.engine.info.file_name,
                           profile_sha256=self.engine.profile.sha256(), profile_source=self.engine.profile_source,
                           metadata=dict(self.engine.info.metadata), watching=folder)
        self.shown_changed.emit(self.shown)
        return self.jobs.start(RUN, watch, self.engine, folder, done_dir=done_dir, failed_dir=failed_dir, move=move,
                               settle_s=settle_s, poll=poll, store_path=self.store_path, top_k=top_k,
                               on_yielded=self._on_watch_step, on_returned=self._on_watch_returned,
                               on_errored=self._on_run_failed, on_finished=self._on_run_finished)

    def _on_watch_step(self, step) -> None:
        from desktop.runs.watch import WatchStarted

        if isinstance(step, WatchStarted):
            self.shown.run_id = step.run_id
            return
        n = len(step.batch)
        changes = {"position": np.arange(self.shown.total, self.shown.total + n, dtype=np.int64)}
        if step.placed and self._watch_moves:  # moved: the table and the preview follow the file to where it is now
            changes["sources"] = tuple(step.placed if os.path.abspath(s) == os.path.abspath(step.path) else s
                                       for s in step.batch.sources)
        batch = step.batch.replace(**changes)
        self.shown.total += n
        w = self._watched
        w["scored"] += 1
        w["ok" if step.batch.n_ok == n else "failed"] += 1
        self.results_arrived.emit(batch, np.full(n, time.perf_counter()))
        self.watch_progress.emit(dict(w, last=os.path.basename(step.path), problems=list(step.problems)))

    def _on_watch_returned(self, summary) -> None:
        summary = summary or {}
        self.shown.summary = {"cancelled": False, "done": self.shown.total, "total": self.shown.total,
                              "seconds": time.perf_counter() - (self.t_start or time.perf_counter()),
                              "run_id": summary.get("run_id") or self.shown.run_id, "watch": self.shown.watching,
                              "files": summary.get("scored", 0), "skipped": summary.get("skipped", 0)}
        if self.shown.summary["run_id"]:
            self.shown.run_id = self.shown.summary["run_id"]

    def is_watching(self) -> bool:
        return self.is_running() and self.shown.watching is not None

    # ================================================================== serving
    def start_serving(self, *, port: int, network: bool, record: bool):
        """Serve the loaded model (KServe v2) under its file name; ``serving_changed`` says where.

        On the network a bearer token is made (``secrets.token_urlsafe``) and must be sent.
        Raises ServeError (a port in use) or StoreError (History cannot be written).
        """
        import secrets

        from desktop.runs.serve import start_serving

        self.stop_serving(wait=True)
        name = Path(self.engine.info.file_name).stem or "model"
        token = secrets.token_urlsafe(24) if network else None
        self.server, self.served_history = start_serving({name: self.engine}, host="0.0.0.0" if network else "127.0.0.1",
                                                         port=port, token=token, record=record,
                                                         store_path=self.store_path)
        url = self.server.url if not network else f"http://{_host_name()}:{self.server.port}"
        self.serving_changed.emit({"url": url, "network": network, "token": token, "name": name,
                                   "local_url": self.server.url})
        return self.server

    def stop_serving(self, wait: bool = False) -> None:
        """Stop the server (on a worker unless ``wait``); its runs are finished in History."""
        from desktop.runs.serve import stop_serving

        server, history = self.server, self.served_history
        if server is None:
            return
        self.server = self.served_history = None
        if wait:
            stop_serving(server, history)
        else:
            self.jobs.start("serve", stop_serving, server, history)
        self.serving_changed.emit(None)

    def cancel(self) -> None:
        """Stop the run, the opening of a past run and a benchmark, between items (their summaries still come)."""
        self.jobs.stop(RUN)
        self.jobs.stop(OPEN)  # what was read stays shown; a resume waiting for it does not start
        self.jobs.stop(BENCH)

    def clear_shown(self) -> None:
        """Show no results: the table is emptied (what was recorded stays in History)."""
        self.shown = Shown()
        self.shown_changed.emit(self.shown)

    # ================================================================== past runs
    def open_run(self, run_id: str, resume=None):
        """Show a recorded run's results: cleared now, then read on a worker and added chunk by chunk."""
        self.jobs.cancel(OPEN)
        self.shown = Shown("history", run_id=run_id)
        self.shown_changed.emit(self.shown)
        job = self.jobs.start(OPEN, runs.open_run, run_id, store_path=self.store_path, paced=True,
                              on_yielded=self._on_open_step,
                              on_returned=lambda opened: self._on_run_opened(opened, resume),
                              on_errored=self.open_failed.emit)
        return job

    def _on_open_step(self, step) -> None:
        self.results_arrived.emit(step.batch, None)  # no arrival times: items/s stays out of the readout
        self.progress.emit(step.done, step.total)

    def _on_run_opened(self, opened, resume=None) -> None:
        run = opened.run
        self.shown.run, self.shown.model_sha256, self.shown.model_name = run, run.model_sha256, run.model_name
        self.shown.summary = {"cancelled": run.status != "finished", "done": opened.done, "total": opened.done,
                              "seconds": 0.0, "run_id": run.id, "reopened": True}
        self.run_opened.emit({"run": run, "done": opened.done, "total": opened.total,
                              "cancelled": opened.cancelled})
        if resume is not None and not opened.cancelled:
            output = runs.resume_output(resume.meta)
            # the run's own top-k (one run, one shape of results), and its cluster: a local:N one starts again
            self.start_run(resume.items, output.top_k, resume=resume, offset=opened.done, cluster=output.cluster)

    def resume_run(self, run_id: str):
        """Take up an interrupted run: its model as recorded, its results so far, then only what is left."""
        return self.jobs.start(RESUME, runs.prepare_resume, run_id, store_path=self.store_path,
                               on_returned=self._on_resume_ready, on_errored=self.resume_refused.emit)

    def _on_resume_ready(self, plan) -> None:
        self.jobs.cancel(LOAD)  # a model still loading would replace the run's model
        self.set_engine(plan.engine, "resumed")
        self.scoring.start()
        self.resume_ready.emit(plan)
        self.open_run(plan.run.id, resume=plan)

    def offer_resume(self):
        """Look for interrupted runs on a worker; ``unfinished_found`` follows (empty when it failed)."""
        def failed(exc):
            from .errors import report_error

            report_error(exc)
            self.unfinished_found.emit([])

        return self.jobs.start(UNFINISHED, runs.unfinished_runs, store_path=self.store_path,
                               on_returned=self.unfinished_found.emit, on_errored=failed)

    # ================================================================== benchmark
    def start_bench(self, configs, runs_: int, warmup: int):
        return self.jobs.start(BENCH, bench_settings, self.engine, list(configs), runs=runs_, warmup=warmup,
                               on_yielded=self.bench_points.emit, on_returned=self.bench_ended.emit,
                               on_errored=self._on_bench_failed)

    def _on_bench_failed(self, exc) -> None:
        self.bench_failed.emit(exc)
        self.bench_ended.emit(None)

    # ================================================================== validation
    def start_validation(self, truth, operating_point=None, subgroups=(), overrides: bool = False):
        """Evaluate the shown (recorded) run against ``truth`` (a --truth value) on a worker."""
        from desktop.engine.validation import OperatingPoint
        from desktop.runs.validation import evaluate_run

        op = OperatingPoint(*operating_point) if operating_point else None
        return self.jobs.start(VALIDATE, evaluate_run, self.shown.run_id, truth, operating_point=op,
                               subgroups=tuple(subgroups), store_path=self.store_path, overrides=overrides,
                               on_returned=lambda ev: self.validated.emit(ev.to_dict()),
                               on_errored=self.validation_failed.emit)

    def write_report(self, path, evaluation: dict | None, results, on_written, on_failed, comparison=None):
        """Write the shown run's report (with ``evaluation``, ``results`` as its case pages and the lab's
        ``comparison`` of the model with a variant) on a worker."""
        from desktop.runs.report_context import build_context, shown_cases

        run_id, engine, store = self.shown.run_id, self.shown_engine(), self.store_path

        def write():
            from desktop.report import write_report

            context = build_context(engine=engine, run_id=run_id, store_path=store, evaluation=evaluation,
                                    cases=shown_cases(results, run_id, store_path=store))
            if comparison:
                context["comparison"] = comparison
            return write_report(path, context)

        return self.jobs.start("report", write, on_returned=on_written, on_errored=on_failed)

    def export_dicom(self, folder, export_format: str, on_done, on_failed, *, include_phi: bool = False,
                     options=None):
        """Write the shown run's results as DICOM objects (``dicom-seg``, ``dicom-sr``, ``dicom-sc``) into
        ``folder`` on a worker (:func:`desktop.runs.dicom_export.export_dicom`); ``on_done`` gets what it did."""
        from desktop.engine.dicom_deid import DeidOptions
        from desktop.runs.dicom_export import export_dicom

        return self.jobs.start("dicom-export", export_dicom, self.shown.run_id, str(folder), export_format,
                               options=options or DeidOptions(), include_phi=include_phi,
                               store_path=self.store_path, on_returned=on_done, on_errored=on_failed)

    # ================================================================== explanations
    def start_explain(self, result, method: str, params: dict, on_progress, on_done, on_failed):
        """Explain ``result`` with the model that scored it, on a worker (``desktop.runs.explain``)."""
        from desktop.runs.explain import explain_result

        return self.jobs.start("explain", explain_result, self.shown_engine(), result, method, params,
                               on_yielded=lambda event: on_progress(*event[1:]), on_returned=on_done,
                               on_errored=on_failed)

    def check_explanation(self, explanation, on_progress, on_done, on_failed):
        """The "check this explanation" sanity check on a worker (randomised copies of the model)."""
        from desktop.runs.explain import check_explanation

        return self.jobs.start("explain", check_explanation, self.shown_engine(), explanation,
                               on_yielded=lambda event: on_progress(*event[1:]), on_returned=on_done,
                               on_errored=on_failed)

    # ================================================================== the optimisation lab
    def make_variant(self, method: str, options: dict, on_progress, on_done, on_failed):
        """Make an optimised variant of the loaded model on a worker (``desktop.runs.optimise``)."""
        from desktop.runs.optimise import make_variant_steps

        return self.jobs.start("lab", make_variant_steps, self.engine, method, on_yielded=lambda e: on_progress(*e[1:]),
                               on_returned=on_done, on_errored=on_failed, **options)

    def compare_models(self, model_b: str, inputs, bound: float, on_progress, on_done, on_failed):
        """Compare the loaded model with ``model_b`` on ``inputs`` (interleaved) on a worker."""
        from desktop.runs.optimise import compare_with

        return self.jobs.start("lab", compare_with, self.engine, model_b, list(inputs), bound=bound,
                               on_yielded=lambda e: on_progress(*e[1:]), on_returned=on_done, on_errored=on_failed)

    # ================================================================== drift
    def start_drift(self, reference: str, on_checked, on_failed):
        """Check the shown (recorded) run's drift against ``reference`` on a worker (see runs.drift.check_run)."""
        from desktop.runs.drift import check_run

        return self.jobs.start("drift", check_run, self.shown.run_id, reference, self.shown_engine(),
                               store_path=self.store_path, on_returned=on_checked, on_errored=on_failed)

    # ================================================================== exporting what is shown
    def provenance(self) -> dict | None:
        """Where the table's results come from (run, model, profile, app version), for an export's header."""
        return runs.results_provenance(self.shown.run_id, self.shown_engine(), store_path=self.store_path)

    def note_export(self, path, export_format: str | None = None) -> None:
        """Record an export of the shown run's results in its audit trail, once the run is not going."""
        if self.shown.run_id and not self.is_running():
            runs.note_export(self.shown.run_id, path, store_path=self.store_path, fmt=export_format)
