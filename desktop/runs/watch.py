"""Watching a folder as one long-running recorded run: each new file scored once, when complete (no Qt).

:func:`watch` is shared by ``inferdesk watch`` and (later) the window's Run → Watch folder…. A
file is scored once :class:`~desktop.engine.watch.FolderWatcher` says it is completely written;
its result is committed to the history before the file is moved or copied to the done or failed
folder, so no result is lost if the move fails or the process is killed. A restart skips every
file that an earlier watch run of the same model on the same folder scored, known by its path
and SHA-256: a file rewritten with other content is scored again.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class WatchStarted:
    """The watch has begun: its run id in the history (None when not recorded) and the folder."""

    run_id: str | None
    folder: str


@dataclass
class Scored:
    """One file's results (a ResultBatch, committed), where the file went, and what went wrong moving it."""

    batch: object
    path: str
    placed: str | None = None
    problems: list = field(default_factory=list)


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/stem (2).ext`` and so on when that is taken: nothing is overwritten."""
    dest = folder / name
    n = 2
    while dest.exists():
        p = Path(name)
        dest = folder / f"{p.stem} ({n}){p.suffix}"
        n += 1
    return dest


def place(path: str, folder: str | os.PathLike, move: bool = True) -> str:
    """Move (or copy) ``path`` into ``folder``, under a free name; returns where it went.

    Raises
    ------
    OSError
        The folder could not be made, or the file could not be moved or copied.
    """
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    dest = _free_name(target, Path(path).name)
    if move:
        shutil.move(path, dest)
    else:
        shutil.copy2(path, dest)
    return str(dest)


def watch(engine, folder, *, done_dir=None, failed_dir=None, move: bool = True, settle_s: float = 1.0,
          poll: bool = False, store_path=None, record: bool = True, should_stop=None, max_items: int | None = None,
          top_k: int = 5, timeout_s: float = 0.2):
    """Score each new file in ``folder`` once it is completely written; yields WatchStarted, then a Scored per file.

    Parameters
    ----------
    engine
        A loaded Engine.
    folder
        The folder watched (its files already there count as new, unless scored before).
    done_dir, failed_dir
        Where a file goes after its result is committed: done when it scored, failed when not;
        None leaves it where it is.
    move
        Move the file there (True) or copy it (False).
    settle_s, poll
        How long a file's size and time must stay the same before it is scored, and whether to
        poll the folder (for a network share); see :class:`~desktop.engine.watch.FolderWatcher`.
    store_path
        The history database (None: the default one); with ``record=False`` nothing is recorded
        and nothing is skipped.
    should_stop
        Called between files and while waiting; True ends the watch.
    max_items
        End the watch after this many files were scored.
    top_k, timeout_s
        Labels kept per result; how long a wait for a ready file lasts before ``should_stop`` is asked again.

    The run is recorded as finished when the watch ends (stopped, ``max_items`` reached, or the
    generator closed) and as cancelled when an error ends it. Returns
    ``{"run_id", "scored", "ok", "failed", "skipped"}``.

    Raises
    ------
    EngineError
        The folder cannot be watched; StoreError when the history cannot be written.
    """
    from desktop.engine.batch import run_batches
    from desktop.engine.model import sha256_file
    from desktop.engine.resultbatch import ResultBatch
    from desktop.engine.store import ResultStore
    from desktop.engine.watch import FolderWatcher

    folder = os.path.abspath(folder)
    done_dir = os.path.abspath(done_dir) if done_dir else None
    failed_dir = os.path.abspath(failed_dir) if failed_dir else None
    should_stop = should_stop or (lambda: False)
    watcher = FolderWatcher(folder, settle_s=settle_s, poll=poll, ignore=[d for d in (done_dir, failed_dir) if d])
    store = ResultStore(store_path) if record else None
    summary = {"run_id": None, "scored": 0, "ok": 0, "failed": 0, "skipped": 0}
    recorder = None
    status = "cancelled"
    try:
        scored = store.scored_inputs(engine.info.sha256, [folder]) if store else set()
        if store:
            recorder = store.start_run(engine, [folder], name=f"watch {Path(folder).name}",
                                       output={"watch": folder, "done": done_dir, "failed": failed_dir,
                                               "move": move, "settle_s": settle_s, "poll": poll, "top_k": top_k})
            summary["run_id"] = recorder.run_id
        yield WatchStarted(summary["run_id"], folder)
        with watcher:
            while not should_stop() and (max_items is None or summary["scored"] < max_items):
                for path in watcher.ready_files(timeout=timeout_s):
                    if should_stop() or (max_items is not None and summary["scored"] >= max_items):
                        break
                    try:
                        sha = sha256_file(path)
                    except OSError:
                        continue  # gone or unreadable since it was ready; a new event brings it back
                    if (path, sha) in scored:
                        summary["skipped"] += 1
                        continue
                    batches = list(run_batches(engine, [path], top_k=top_k, workers=0))
                    batch = ResultBatch.concat(batches) if len(batches) > 1 else batches[0]
                    batch = batch.replace(source_sha256=tuple(sha for _ in batch.sources))
                    if recorder is not None:
                        recorder.add_batch(batch)
                        recorder.commit()  # on disk before the file moves: its result is never lost
                    scored.add((path, sha))
                    good = batch.n_ok == len(batch)
                    summary["scored"] += 1
                    summary["ok" if good else "failed"] += 1
                    item = Scored(batch, path)
                    target = done_dir if good else failed_dir
                    if target:
                        try:
                            item.placed = place(path, target, move)
                        except OSError as exc:
                            item.problems.append(f"{Path(path).name} was scored but could not be "
                                                 f"{'moved' if move else 'copied'} to {target}: "
                                                 f"{exc.strerror or exc}")
                    yield item
        status = "finished"
    except GeneratorExit:
        status = "finished"  # the consumer closed the watch: its normal end
        raise
    finally:
        try:
            if recorder is not None:
                recorder.finish(status)
        finally:
            if store is not None:
                store.close()
    return summary
