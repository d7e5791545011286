"""The context dict a report is written from (``desktop.report.write_report``), built from what exists: no Qt here.

The command line (``inferdesk report``, ``inferdesk evaluate --report``) and the window both call
``write_report(path, build_context(...))``; each part of the context is left out when nothing
tells it, and the report then leaves out its section.
"""

from __future__ import annotations

import os
import platform

import numpy as np

#: how many of a run's results become case pages when no cases are given
DEFAULT_CASES = 10


def latency_summary(totals_ms, provider: str | None = None, wall_s: float | None = None) -> dict | None:
    """p50, p95, p99 and the mean of per-item milliseconds (``ResultBatch.total_ms``), and items per second.

    Items per second is ``n / wall_s`` when the run's wall time is known, else one over the
    mean (a batch's shared time is already divided among its items). None when nothing was timed.
    """
    t = np.asarray(list(totals_ms) if not isinstance(totals_ms, np.ndarray) else totals_ms, dtype=np.float64)
    t = t[np.isfinite(t)]
    if not t.size:
        return None
    p50, p95, p99 = (float(v) for v in np.percentile(t, [50, 95, 99]))
    mean = float(t.mean())
    if wall_s:
        rate = t.size / wall_s
    else:
        rate = 1000.0 / mean if mean > 0 else None
    out = {"n": int(t.size), "p50": p50, "p95": p95, "p99": p99, "mean": mean, "items_per_s": rate}
    if provider:
        out["provider"] = provider
    return out


def model_card(info) -> dict:
    """The report's ``model`` part from a ModelInfo."""
    return {"name": info.file_name, "sha256": info.sha256, "description": info.description or "",
            "metadata": dict(info.metadata or {}), "path": info.path}


def engine_environment(engine=None) -> dict:
    """This machine's environment: the app, onnxruntime, the engine's provider, the machine and its OS."""
    from desktop import __version__

    env = {"app": f"InferDesk {__version__}"}
    try:
        import onnxruntime

        env["onnxruntime"] = onnxruntime.__version__
    except ImportError:  # pragma: no cover - a dependency
        pass
    if engine is not None:
        env["provider"] = engine.provider
    env["machine"] = _machine(platform.node())
    env["os"] = platform.platform()
    env["python"] = platform.python_version()
    return env


def _machine(host: str | None) -> str:
    cores = os.cpu_count()
    what = platform.machine() or "unknown architecture"
    return f"{host} ({what}, {cores} cores)" if host else f"{what}, {cores} cores"


def run_environment(meta: dict) -> dict:
    """The environment a recorded run started in, from its start record (``store.run_metadata``)."""
    versions = meta.get("versions") or {}
    env = {}
    if versions.get("inferdesk"):
        env["app"] = f"InferDesk {versions['inferdesk']}"
    if versions.get("onnxruntime"):
        env["onnxruntime"] = versions["onnxruntime"]
    if meta.get("provider"):
        env["provider"] = meta["provider"]
    if meta.get("host"):
        env["machine"] = meta["host"]
    if meta.get("platform"):
        env["os"] = meta["platform"]
    if versions.get("python"):
        env["python"] = versions["python"]
    return env


def result_case(result) -> dict:
    """A case page's part from one Result (a row view of a ResultBatch): its input, image, top results, values."""
    name = os.path.basename(result.input) if result.input else "?"
    shown = f"{name} · row {result.row}" if result.row is not None else str(result.input)
    case = {"input": shown, "image": None, "top": [[p.label, float(p.score)] for p in result.top],
            "values": list(result.values), "decision": None}
    if str(result.kind) in ("image", "dicom") and result.input and os.path.isfile(result.input):
        case["image"] = result.input
    if not result.ok:
        case["values"] = [f"failed: {result.error}"]
    return case


def shown_cases(results, run_id: str | None = None, store_path=None, limit: int = 20) -> list:
    """Case pages for the results a user picked (the table as filtered), each with its current review
    decision when the run is recorded."""
    decisions = {}
    if run_id:
        from desktop.engine.store import StoreError

        from .review import decisions as run_decisions

        try:
            decisions = run_decisions(run_id, store_path=store_path)
        except StoreError:
            decisions = {}
    cases = []
    for result in list(results)[:limit]:
        case = result_case(result)
        d = decisions.get(result.index)
        if d is not None:
            case["decision"] = {"decision": d.decision, "label": d.label if d.label is not None else d.value,
                                "reason": d.reason, "reviewer": d.reviewer, "at": d.at}
        cases.append(case)
    return cases


def _profile_words(raw) -> str | None:
    from desktop.engine.errors import EngineError
    from desktop.engine.profile import profile_from_dict

    try:
        return profile_from_dict(raw).describe()
    except (EngineError, TypeError, ValueError, KeyError, AttributeError):
        return None


def _recorded_model(meta: dict) -> dict:
    """The model a run recorded; its description and metadata read from the file when it is still the same."""
    from desktop.engine import inspect_model
    from desktop.engine.errors import EngineError

    rec = meta.get("model") or {}
    card = {"name": rec.get("file_name"), "sha256": rec.get("sha256"), "path": rec.get("path")}
    path = rec.get("path")
    if path and os.path.isfile(path):
        try:
            info = inspect_model(path)
        except (EngineError, OSError):
            info = None
        if info is not None and info.sha256 == rec.get("sha256"):
            card.update(description=info.description or "", metadata=dict(info.metadata or {}))
    return {k: v for k, v in card.items() if v is not None}


def build_context(*, engine=None, run_id: str | None = None, store_path=None, evaluation: dict | None = None,
                  cases: list | None = None, latency: dict | None = None, title: str | None = None,
                  case_limit: int = DEFAULT_CASES, audit_head: str | None = None) -> dict:
    """The context for :func:`desktop.report.write_report` from what there is.

    Parameters
    ----------
    engine
        The Engine scored with: the model card, the profile in words and this machine's environment.
        Without it, a recorded run's start record tells them.
    run_id
        A recorded run (its id or first characters): its model, profile and environment as recorded,
        the audit trail's head, its latency, and its first ``case_limit`` results as cases (when
        ``cases`` is not given). StoreError (a missing run) propagates.
    evaluation
        The metrics engineer's dict (``desktop.report`` lists its keys), as it is.
    cases, latency
        Given: used as they are; ``latency`` from :func:`latency_summary`.
    audit_head
        The trail head when known already (else read from the run's store).
    """
    from desktop.engine.writers import utc_now

    ctx: dict = {"created": utc_now(), "run_id": None}
    if engine is not None:
        ctx["model"] = model_card(engine.info)
        ctx["profile"] = engine.profile.describe()
        ctx["environment"] = engine_environment(engine)
    if run_id:
        _add_run(ctx, run_id, store_path, want_cases=cases is None, want_latency=latency is None,
                 case_limit=case_limit, have_engine=engine is not None)
    if evaluation:
        ctx["evaluation"] = evaluation
    if cases is not None:
        ctx["cases"] = list(cases)
    if latency:
        ctx["latency"] = latency
    if audit_head:
        ctx["audit_head"] = audit_head
    name = (ctx.get("model") or {}).get("name")
    ctx["title"] = title or (("Validation of " if evaluation else "Report of ") + name if name else "InferDesk report")
    return ctx


def _add_run(ctx: dict, run_ref: str, store_path, *, want_cases: bool, want_latency: bool, case_limit: int,
             have_engine: bool) -> None:
    from desktop.engine.store import ResultStore

    with ResultStore(store_path, readonly=True) as store:
        run = store.run(run_ref)
        meta = store.run_metadata(run.id)
        ctx["run_id"] = run.id
        ctx["run"] = {"title": run.title, "status": run.status, "started_at": run.started_at,
                      "finished_at": run.finished_at, "ok": run.ok, "failed": run.failed}
        if not have_engine:
            ctx["model"] = _recorded_model(meta)
            words = _profile_words(meta.get("profile"))
            if words:
                ctx["profile"] = words
            ctx["environment"] = run_environment(meta)
        ctx["audit_head"] = store.trail_head()
        totals, found = [], []
        if want_cases or want_latency:
            for batch in store.batches(run.id):
                if want_latency:
                    totals.append(batch.total_ms[np.asarray(batch.ok, dtype=bool)])
                if want_cases and len(found) < case_limit:
                    for i in range(min(len(batch), case_limit - len(found))):
                        found.append(result_case(batch.result(i)))
                if not want_latency and len(found) >= case_limit:
                    break
        if want_cases:
            ctx["cases"] = found
        if want_latency and totals:
            lat = latency_summary(np.concatenate(totals), provider=meta.get("provider"))
            if lat:
                ctx["latency"] = lat
