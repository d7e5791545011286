"""Serving models as a recorded use case: each answered request kept in the history (no Qt).

:class:`ServedHistory` is the server's ``on_result``: each served model gets one run in the
history, named ``served <model>``, started at its first request and finished when serving stops,
so its results sit in the History tab and the audit trail like any other run's. A request's
result is queued on the request's thread and made and written on the history's own thread, so
a request never waits for the disk; the queue is committed every ``flush_s`` seconds (and when
serving stops), so at most that much is lost if the process is killed.

``inferdesk serve`` and the window's Server panel share :func:`start_serving`.
"""

from __future__ import annotations

import queue
import threading
import time

_STOP = object()


class ServedHistory:
    """Records served requests' results as runs of the history, one run per model.

    Parameters
    ----------
    engines
        ``{served name: Engine}``.
    store_path
        The history database (None: the default one).
    flush_s
        At most this many seconds between commits.
    on_batch
        Called on the history's thread as ``on_batch(model_name, run_id, batch)`` after each
        batch is committed (the window appends it to its table); None: not called.
    """

    def __init__(self, engines: dict, store_path=None, flush_s: float = 0.5, on_batch=None):
        self.engines = dict(engines)
        self.store_path = store_path
        self.flush_s = flush_s
        self.on_batch = on_batch
        self.run_ids: dict[str, str] = {}
        self.recorded = 0
        self.error: str | None = None  # the first write that failed: the server goes on answering
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def __call__(self, model_name: str, make_batch) -> None:
        """The server's ``on_result``: queue a request's result (returns at once)."""
        self._queue.put((model_name, make_batch))

    def start(self) -> "ServedHistory":
        self._thread = threading.Thread(target=self._run, name="inferdesk-served-history", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self.error and not self._thread.is_alive():
            from desktop.engine.store import StoreError

            raise StoreError(self.error)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, finish the runs and close the history."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        from desktop.engine.store import ResultStore, StoreError

        try:
            store = ResultStore(self.store_path)
        except StoreError as exc:
            self.error = str(exc)
            self._ready.set()
            return
        self._ready.set()
        recorders: dict = {}
        unsent: list = []  # (model, run id, batch) committed since the last on_batch
        last = time.monotonic()
        stopping = False
        try:
            while not stopping:
                try:
                    got = self._queue.get(timeout=self.flush_s)
                except queue.Empty:
                    got = None
                if got is _STOP:
                    stopping = True
                elif got is not None:
                    name, make = got
                    try:
                        batch = make()
                        recorder = recorders.get(name)
                        if recorder is None:
                            recorder = recorders[name] = store.start_run(
                                self.engines[name], [], name=f"served {name}", output={"served": name})
                            self.run_ids[name] = recorder.run_id
                        recorder.add_batch(batch)
                        unsent.append((name, recorder.run_id, batch))
                    except Exception as exc:  # a result that cannot be made or a run that cannot start
                        self.error = self.error or f"a served result was not recorded: {exc}"
                if stopping or time.monotonic() - last >= self.flush_s or len(unsent) >= 256:
                    last = time.monotonic()
                    self._commit(recorders, unsent)
                    unsent = []
        finally:
            for recorder in recorders.values():
                try:
                    recorder.finish("finished")
                except StoreError as exc:
                    self.error = self.error or str(exc)
            store.close()

    def _commit(self, recorders: dict, unsent: list) -> None:
        from desktop.engine.store import StoreError

        for recorder in recorders.values():
            try:
                recorder.commit()
            except StoreError as exc:  # kept pending, tried again at the next commit
                self.error = self.error or f"served results wait to be recorded: {exc}"
                return
        self.recorded += sum(len(b) for _, _, b in unsent)
        if self.on_batch is not None:
            for name, run_id, batch in unsent:
                self.on_batch(name, run_id, batch)


def start_serving(engines: dict, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                  max_body: int | None = None, record: bool = True, store_path=None, log=None, on_batch=None):
    """Start an InferenceServer for ``engines`` with, when ``record``, its ServedHistory.

    Returns ``(server, history)``; history is None when not recording. Stop with
    :func:`stop_serving`. Raises ServeError when the server cannot listen, StoreError when the
    history cannot be opened.
    """
    from desktop.engine.serve import DEFAULT_MAX_BODY, InferenceServer

    history = ServedHistory(engines, store_path, on_batch=on_batch).start() if record else None
    try:
        server = InferenceServer(engines, host=host, port=port, token=token,
                                 max_body=DEFAULT_MAX_BODY if max_body is None else max_body, log=log,
                                 on_result=history).start()
    except BaseException:
        if history is not None:
            history.stop()
        raise
    return server, history


def stop_serving(server, history) -> None:
    """Stop answering, then write the last results and finish the runs."""
    try:
        server.stop()
    finally:
        if history is not None:
            history.stop()
