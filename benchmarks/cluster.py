"""Cluster benchmark: `inferdesk score --cluster` against the local engine, as processes, in one run.

Builds its inputs as benchmarks/throughput.py does (a 1,000,000-row CSV from scikit-learn's
breast-cancer data, 300 JPEGs at camera sizes from scikit-image's photos), starts a Dask
LocalCluster of two worker processes (one thread each) once, and measures wall time, best of
the repeats, with the history on and the results written to a CSV file:

  engine csv     the engine's results in order, in this process: run_batches / run_cluster_batches   target >= 0.9
  engine folder  the same for the folder                                                          target >= 0.9
  csv            `inferdesk score breast_cancer.onnx rows.csv --out o.csv`, local / with --cluster
  folder         `inferdesk score scene.onnx photos/ --out o.csv`, local / with --cluster

The engine lines are what the cluster costs: cutting the work into partitions, moving them and their
results, putting them back in order. The command lines add what this machine does either way, alone:
record every result in the history and write the output file, which on 2 cores competes with the
workers for the same cores. The cluster side is given the running cluster's address (as a user gives a
real scheduler's);
a cold `--cluster local:2`, which starts its workers first, is printed beside it. For the
README's scaling argument it also prints a Dask task's round trip, the cost of one more
partition (the folder scored in partitions of 1 image against the default), each worker's
throughput, and how fast this machine alone records and writes results (`history export`),
which is the ceiling that more workers cannot lift.

It prints numbers and never fails on timing.
Run: .venv/bin/python benchmarks/cluster.py [--quick] [--rows N] [--images N] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from throughput import build_csv, build_jpegs  # noqa: E402

MODELS = ROOT / "models"


def inferdesk(args: list[str], env: dict) -> tuple[float, str]:
    """Run the command line as a user does; (wall seconds, its standard error)."""
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "desktop", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode not in (0, 1):
        raise RuntimeError(f"inferdesk {' '.join(args)} exited {p.returncode}: {p.stderr[-2000:]}")
    return wall, p.stderr


def best(args: list[str], env: dict, repeats: int) -> tuple[float, str]:
    runs = [inferdesk(args, env) for _ in range(repeats)]
    return min(runs, key=lambda r: r[0])


def run_id(stderr: str) -> str | None:
    for word in stderr.replace("·", " ").split():
        if len(word) == 12 and all(c in "0123456789abcdef" for c in word):
            last = word
    return locals().get("last")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (20,000 rows, 24 images, one repeat)")
    ap.add_argument("--rows", type=int)
    ap.add_argument("--images", type=int)
    ap.add_argument("--repeats", type=int)
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    ap.add_argument("--json", help="also write the numbers to this file")
    args = ap.parse_args(argv)
    q = args.quick
    n_rows = args.rows or (20_000 if q else 1_000_000)
    n_images = args.images or (24 if q else 300)
    repeats = args.repeats or (1 if q else 3)

    from desktop.engine import Engine
    from desktop.engine.cluster import Cluster

    print(f"InferDesk cluster benchmark · {os.cpu_count()} cores · LocalCluster of {args.workers} workers · "
          f"{'quick' if q else 'full'} mode")
    report: dict = {"cores": os.cpu_count(), "workers": args.workers, "rows": n_rows, "images": n_images}
    with tempfile.TemporaryDirectory(prefix="inferdesk-cluster-bench-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "INFERDESK_DATA_DIR": str(tmp / "data"), "INFERDESK_CONFIG_DIR": str(tmp / "config"),
               "PYTHONPATH": str(ROOT)}
        t0 = time.perf_counter()
        engine = Engine(MODELS / "breast_cancer.onnx")
        csv_path = build_csv(tmp / "rows.csv", n_rows, list(engine.profile.table.columns))
        folder = tmp / "photos"
        build_jpegs(folder, n_images)
        print(f"inputs: {n_rows:,}-row CSV ({csv_path.stat().st_size / 1e6:.0f} MB), {n_images} JPEGs, built in "
              f"{time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        cluster = Cluster(f"local:{args.workers}")
        started = time.perf_counter() - t0
        try:
            address = cluster.address
            print(f"cluster: {cluster.describe()} at {address}, started in {started:.1f} s\n")
            report["cluster_start_s"] = started
            # warm the workers (imports, the first session) as a long-lived cluster's are
            small = build_csv(tmp / "small.csv", 200, list(engine.profile.table.columns))
            inferdesk(["score", str(MODELS / "breast_cancer.onnx"), str(small), "--cluster", address, "-q"], env)
            inferdesk(["score", str(MODELS / "scene.onnx"), *[str(p) for p in sorted(folder.iterdir())[:2]],
                       "--cluster", address, "-q"], env)
            rows = []
            from desktop.engine.batch import run_batches
            from desktop.engine.cluster import run_cluster_batches
            from desktop.engine.inputs import expand_inputs

            for name, model, inputs, unit, n in (("csv", "breast_cancer", [str(csv_path)], "rows", n_rows),
                                                 ("folder", "scene", [str(folder)], "images", n_images)):
                eng = Engine(MODELS / f"{model}.onnx")
                items = expand_inputs(inputs)

                def drain(batches):
                    t0 = time.perf_counter()
                    count = sum(len(b) for b in batches)
                    assert count == n, count
                    return time.perf_counter() - t0

                t_local = min(drain(run_batches(eng, items, hash_inputs=True)) for _ in range(repeats))
                t_cluster = min(drain(run_cluster_batches(cluster, eng, items, hash_inputs=True))
                                for _ in range(repeats))
                report[f"engine_{name}"] = {"local_s": t_local, "cluster_s": t_cluster, "ratio": t_local / t_cluster}
                rows.append((f"engine {name:<7}", t_local / t_cluster, ">= 0.9",
                             f"{n:,} {unit}: run_batches {t_local:.2f} s, run_cluster_batches {t_cluster:.2f} s "
                             f"({n / t_cluster / args.workers:,.0f} {unit}/s per worker)"))
            for name, model, inputs, unit, n in (("csv", "breast_cancer", [str(csv_path)], "rows", n_rows),
                                                 ("folder", "scene", [str(folder)], "images", n_images)):
                base = ["score", str(MODELS / f"{model}.onnx"), *inputs, "--format", "csv",
                        "--out", str(tmp / f"{name}.csv")]
                t_local, _ = best(base, env, repeats)
                t_cluster, err = best(base + ["--cluster", address], env, repeats)
                t_cold, _ = inferdesk(base + ["--cluster", f"local:{args.workers}"], env)
                ratio = t_local / t_cluster
                rid = run_id(err)
                t_export = None
                if rid:
                    t_export, _ = inferdesk(["history", "export", rid, "--format", "csv", "--out",
                                             str(tmp / f"{name}-export.csv")], env)
                report[name] = {"local_s": t_local, "cluster_s": t_cluster, "cold_cluster_s": t_cold,
                                "ratio": ratio, "per_worker_per_s": n / t_cluster / args.workers,
                                "record_and_write_s": t_export}
                rows.append((f"score  {name:<7}", ratio, "",
                             f"{n:,} {unit}: local {t_local:.2f} s, --cluster {t_cluster:.2f} s "
                             f"({n / t_cluster / args.workers:,.0f} {unit}/s per worker); cold --cluster "
                             f"local:{args.workers} {t_cold:.2f} s"
                             + (f"; this machine alone records and writes them at "
                                f"{n / t_export:,.0f} {unit}/s (history export, {t_export:.2f} s)" if t_export else "")))
            # what one more partition costs: the folder in partitions of one image, against the default
            scene = Engine(MODELS / "scene.onnx")
            items = expand_inputs([str(folder)])
            timed = {}
            for per in (64, 1):
                t0 = time.perf_counter()
                for _ in run_cluster_batches(cluster, scene, items, files_per_partition=per):
                    pass
                timed[per] = time.perf_counter() - t0
            from desktop.engine.cluster import plan_partitions

            n_default = len(plan_partitions(scene, items, plugin="x", workers=args.workers))
            per_partition_ms = (timed[1] - timed[64]) / max(1, len(items) - n_default) * 1e3 * args.workers
            trips = []
            for _ in range(30):
                t0 = time.perf_counter()
                cluster.client.submit(int, 0, pure=False).result()
                trips.append(time.perf_counter() - t0)
            trip_ms = float(np.median(trips)) * 1e3
            report["partition_overhead_ms"] = per_partition_ms
            report["task_round_trip_ms"] = trip_ms
        finally:
            cluster.close()
    print(f"{'measure':<24} {'ratio':>7}  {'target':<7} detail")
    for name, ratio, target, detail in rows:
        print(f"{name:<24} {ratio:>7.2f}  {target:<7} {detail}")
    print(f"\nper partition: {per_partition_ms:.1f} ms of worker time ({n_default} partitions by default for "
          f"{len(items)} images; {len(items)} of one image took {timed[1]:.2f} s against {timed[64]:.2f} s); "
          f"a Dask task's round trip {trip_ms:.1f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
