"""The Benchmark tab's comparison and the window's scoring job, without Qt."""

from __future__ import annotations

from pathlib import Path

from desktop.engine import Engine, SessionSettings, expand_inputs
from desktop.engine.service import ScoringProcess
from desktop.runs.bench import bench_settings
from desktop.runs.history import list_runs
from desktop.runs.scoring import RunStarted, RunStep, score_in_child

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "models" / "digits.onnx"
DIGITS_DIR = ROOT / "resources" / "samples" / "digits"


def test_bench_settings_times_each_setting_and_groups_the_points(drive):
    engine = Engine(DIGITS)
    configs = [("one thread", SessionSettings(None, 1, "all")), ("no optimisation", SessionSettings(None, 1, "disable"))]
    groups, reports = drive(bench_settings(engine, configs, runs=30, warmup=2, interval_s=3600))
    assert [label for label, _ in reports] == ["one thread", "no optimisation"]
    assert all(len(r.latencies_ms) == 30 for _, r in reports)
    assert len(groups) == 2  # one group per setting with a long interval: points are grouped, not sent one by one
    points = [p for g in groups for p in g]
    assert [(ci, i) for ci, i, _ in points] == [(ci, i) for ci in range(2) for i in range(30)]
    assert [ms for _, _, ms in points[:30]] == reports[0][1].latencies_ms


def test_bench_settings_stops_when_asked(drive):
    engine = Engine(DIGITS)
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] > 5

    _, reports = drive(bench_settings(engine, [("a", SessionSettings()), ("b", SessionSettings())], runs=1000,
                                       warmup=0, should_stop=should_stop))
    assert len(reports) == 1 and 0 < len(reports[0][1].latencies_ms) < 1000


class _Pace:
    def __init__(self):
        self.waits = 0

    def wait(self):
        self.waits += 1
        return True


def test_score_in_child_records_the_run_and_reports_each_step(tmp_path, drive):
    engine = Engine(DIGITS)
    items = expand_inputs([str(DIGITS_DIR)])
    service = ScoringProcess()
    pace = _Pace()
    try:
        steps, summary = drive(score_in_child(service, engine, items, top_k=3, store_path=str(tmp_path / "r.sqlite3"),
                                               pace=pace))
    finally:
        service.close()
    assert isinstance(steps[0], RunStarted) and steps[0].total == 10 and steps[0].run_id
    batches = [s for s in steps if isinstance(s, RunStep)]
    assert sum(len(s.batch) for s in batches) == 10 and batches[-1].done == 10
    assert pace.waits == len(batches)  # the window is waited for after every step
    assert summary["cancelled"] is False and summary["done"] == 10 and summary["run_id"] == steps[0].run_id
    [run] = list_runs(store_path=tmp_path / "r.sqlite3")
    assert run.id == summary["run_id"] and run.status == "finished" and run.ok == 10
