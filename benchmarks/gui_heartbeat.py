"""Score a 1,000-image batch (or a large CSV) in the real window and report the longest stall of the Qt event loop.

A 10 ms timer ticks on the GUI thread while the batch runs; the longest gap between ticks is
how long the window could not react (to a resize, a scroll, a click). Meanwhile the script
scrolls the table and switches tabs, as a user would. With ``--reopen`` the finished run is
then opened again from History (``window.open_run``, as the History tab's Open does), timed
until the window says it is shown, with the heartbeat still ticking. Runs offscreen unless
``QT_QPA_PLATFORM`` is set (e.g. ``xcb`` under Xvfb). The history goes to a temporary data
folder, never the user's.

    python benchmarks/gui_heartbeat.py                   # 1,000 digit images, limit 100 ms
    python benchmarks/gui_heartbeat.py --images 5000 --limit 50
    python benchmarks/gui_heartbeat.py --model models/scene.onnx --samples resources/samples/photos
    python benchmarks/gui_heartbeat.py --csv 1000000 --reopen --limit 50   # breast-cancer rows

Exit status 0 when the longest gap is under ``--limit`` ms, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def make_batch(samples: Path, n: int, folder: Path) -> Path:
    files = sorted(p for p in samples.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        raise SystemExit(f"no images in {samples}")
    for i in range(n):
        src = files[i % len(files)]
        shutil.copyfile(src, folder / f"item_{i:06d}{src.suffix}")
    return folder


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--model", default=str(ROOT / "models" / "digits.onnx"))
    ap.add_argument("--samples", default=str(ROOT / "resources" / "samples" / "digits"))
    ap.add_argument("--interval", type=float, default=10.0, help="heartbeat period, ms")
    ap.add_argument("--limit", type=float, default=100.0, help="longest acceptable gap, ms")
    ap.add_argument("--verbose", action="store_true", help="list every gap longer than two periods")
    ap.add_argument("--no-interaction", action="store_true", help="do not scroll or switch tabs during the run")
    ap.add_argument("--json", action="store_true", help="also print the numbers as one JSON line")
    ap.add_argument("--csv", type=int, metavar="ROWS",
                    help="score a CSV of this many breast-cancer rows (benchmarks/throughput.py builds it) "
                         "with models/breast_cancer.onnx instead of images")
    ap.add_argument("--reopen", action="store_true", help="then open the run again from History and time it")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="inferdesk-heartbeat-"))
    os.environ["INFERDESK_DATA_DIR"] = str(tmp / "data")  # before the window opens its history
    os.environ["INFERDESK_CONFIG_DIR"] = str(tmp / "config")  # the audit anchors too, never the user's

    from PySide6.QtCore import Qt, QTimer

    from desktop.settings import Settings
    from desktop.ui.app import create_app, create_window

    app = create_app()
    if args.csv:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from throughput import build_csv

        args.model = str(ROOT / "models" / "breast_cancer.onnx")
        import json

        columns = json.loads((ROOT / "models" / "breast_cancer.profile.json").read_text())["table"]["columns"]
        folder = build_csv(tmp / "rows.csv", args.csv, columns)
    else:
        try:
            folder = make_batch(Path(args.samples), args.images, tmp / "batch")
        except FileNotFoundError:
            (tmp / "batch").mkdir()
            folder = make_batch(Path(args.samples), args.images, tmp / "batch")
    window = create_window(None, [], settings=Settings(threads=int(os.environ.get("HB_THREADS", "0"))), settings_file=tmp / "settings.json",
                           open_sample_if_empty=False)
    window.resize(1400, 860)
    ticks: list[float] = []
    out: dict = {}

    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.PreciseTimer)
    heartbeat.setInterval(int(args.interval))
    heartbeat.timeout.connect(lambda: ticks.append(time.perf_counter()))

    interact = QTimer()
    interact.setInterval(150)
    step = [0]

    def poke():
        step[0] += 1
        if step[0] % 4 == 0:
            window.tabs.setCurrentIndex((window.tabs.currentIndex() + 1) % 2)  # Results <-> Latency
        sb = window.table.verticalScrollBar()
        sb.setValue(sb.maximum() if step[0] % 2 else 0)
        window.resize(1400 - 40 * (step[0] % 3), 860)

    interact.timeout.connect(poke)

    def start():
        out["t0"] = time.perf_counter()
        heartbeat.start()
        if not args.no_interaction:
            interact.start()
        window.start_run()

    def finished(summary):
        if "summary" in out:  # a reopened run reports through run_opened, not here
            return
        out["summary"] = summary
        out["t1"] = time.perf_counter()
        if args.reopen and summary.get("run_id") and hasattr(window, "open_run"):
            out["ticks_run"] = len(ticks)
            QTimer.singleShot(300, lambda: reopen(summary["run_id"]))
            return
        heartbeat.stop()
        interact.stop()
        QTimer.singleShot(0, app.quit)

    def reopen(run_id):
        interact.stop()  # the table is rebuilt: scrolling it while it fills would time something else
        out["t2"] = time.perf_counter()
        window.open_run(run_id)

    def reopened(info):
        out["t3"] = time.perf_counter()
        out["reopened_rows"] = info.get("done")
        heartbeat.stop()
        QTimer.singleShot(0, app.quit)

    if hasattr(window, "run_opened"):
        window.run_opened.connect(reopened)

    def loaded(_engine):
        window.add_inputs([folder])
        QTimer.singleShot(300, start)

    window.model_loaded.connect(loaded)
    window.run_finished.connect(finished)
    window.load_model(args.model)
    QTimer.singleShot(600_000, app.quit)
    app.exec()
    window.close()
    shutil.rmtree(tmp, ignore_errors=True)
    if "summary" not in out:
        print("the run did not finish", file=sys.stderr)
        return 2
    if args.reopen and "t3" not in out:
        print("the run was not reopened from History" + ("" if "t2" in out else " (no run id, or no open_run)"),
              file=sys.stderr)
    end = out.get("t3", out["t1"])
    points = [out["t0"]] + [t for t in ticks if t <= out["t1"]] + [out["t1"]]
    timeline = [((a - out["t0"]) * 1000, (b - a) * 1000) for a, b in zip(points, points[1:])]
    if args.verbose:
        for at, gap in timeline:
            if gap > 2 * args.interval:
                print(f"  gap of {gap:6.1f} ms at {at:7.1f} ms into the run")
    gaps = sorted(g for _, g in timeline)
    worst = gaps[-1]
    p99 = gaps[int(0.99 * (len(gaps) - 1))]
    s = out["summary"]
    seconds = out["t1"] - out["t0"]
    print(f"scored {s['done']:,} of {s['total']:,} items in {seconds:.2f} s ({s['done'] / seconds:,.0f} items/s), "
          f"{len(window.results.results):,} rows in the table")
    print(f"heartbeat every {args.interval:g} ms: {len(ticks):,} ticks, p99 gap {p99:.1f} ms, "
          f"longest gap {worst:.1f} ms (limit {args.limit:g} ms)")
    numbers = {"items": s["done"], "total": s["total"], "seconds": seconds, "ticks": len(ticks),
               "max_gap_ms": worst, "p99_gap_ms": p99, "limit_ms": args.limit}
    if "t3" in out:
        points = [out["t2"]] + [t for t in ticks if out["t2"] < t <= end] + [end]
        reopen_worst = max((b - a) * 1000 for a, b in zip(points, points[1:]))
        numbers.update(reopen_s=end - out["t2"], reopen_rows=out["reopened_rows"], reopen_max_gap_ms=reopen_worst)
        print(f"reopened from History: {out['reopened_rows']:,} rows in {end - out['t2']:.2f} s, "
              f"longest gap {reopen_worst:.1f} ms")
        worst = max(worst, reopen_worst)
    if args.json:
        import json

        print(json.dumps(numbers))
    return 0 if worst < args.limit and s["done"] == s["total"] else 1


if __name__ == "__main__":
    sys.exit(main())
