"""``inferdesk serve`` against onnxruntime called in-process: requests per second and p50/p99 latency.

For the tabular sample (breast_cancer.onnx, one row a request) and the sample CNN (scene.onnx,
one 224×224 image a request) it measures, in the same run:

- **bare**: the loop a user would write, ``session.run`` on a plain ``onnxruntime.InferenceSession``
  in this process, one request after the other (each call timed);
- **served**: ``inferdesk serve`` started as its own process on a free loopback port, called
  over keep-alive HTTP with the KServe v2 infer request (binary tensors, and JSON for the table),
  by 1 client and by 8 clients at once (8 processes), with the served results recorded in a
  throw-away history (the default) and, for the table, with ``--no-history`` too.

It prints each case's p50 and p99 (ms), requests per second, the p50 overhead over bare
(served p50 − bare p50) and the throughput ratio (served req/s ÷ bare req/s), with the targets:
p50 overhead at most 1 ms for the table, 8-client throughput at least 0.8× bare. It never
fails on timing (exit 0 when it ran).

Run: .venv/bin/python benchmarks/serve.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


def _request(name: str, x: np.ndarray, binary: bool) -> tuple[bytes, dict]:
    """A KServe v2 infer body for input ``name`` = ``x``, and its headers."""
    datatype = {np.dtype(np.float32): "FP32", np.dtype(np.float64): "FP64", np.dtype(np.int64): "INT64"}[x.dtype]
    tensor = {"name": name, "datatype": datatype, "shape": list(x.shape)}
    if not binary:
        tensor["data"] = x.ravel().tolist()
        return json.dumps({"inputs": [tensor]}).encode(), {"Content-Type": "application/json"}
    tensor["parameters"] = {"binary_data_size": x.nbytes}
    head = json.dumps({"inputs": [tensor], "parameters": {"binary_data_output": True}}).encode()
    return head + x.tobytes(), {"Content-Type": "application/octet-stream",
                                "Inference-Header-Content-Length": str(len(head))}


def _client(args) -> list[float]:
    """One client: ``n`` requests one after the other on one connection; each one's ms."""
    port, path, body, headers, n, start_at = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {**headers, "Content-Length": str(len(body))}
    times = []
    for i in range(n + 5):
        if i == 5:  # five to warm up, then wait for the others to be ready too
            while time.time() < start_at:
                time.sleep(0.001)
        t0 = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        got = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {got[:300]!r}")
        if i >= 5:
            times.append((time.perf_counter() - t0) * 1e3)
    conn.close()
    return times


def _stats(times: list[float], wall_s: float) -> dict:
    ms = np.asarray(times)
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "per_s": len(ms) / wall_s, "n": len(ms)}


def bare(model: Path, x: np.ndarray, n: int) -> dict:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for _ in range(10):
        session.run(None, {name: x})
    times = []
    t_start = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        session.run(None, {name: x})
        times.append((time.perf_counter() - t0) * 1e3)
    return _stats(times, time.perf_counter() - t_start)


class Server:
    """``inferdesk serve MODEL --port 0`` as its own process, with a history of its own."""

    def __init__(self, model: Path, record: bool, data_dir: str):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "INFERDESK_DATA_DIR": data_dir,
               "INFERDESK_CONFIG_DIR": data_dir}
        cmd = [sys.executable, "-m", "desktop", "serve", str(model), "--port", "0", "--quiet", "--name", "m"]
        self.proc = subprocess.Popen(cmd + ([] if record else ["--no-history"]), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        line = self.proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not found:
            raise RuntimeError(f"the server did not start: {line}{self.proc.stderr.read()}")
        self.port = int(found.group(1))

    def close(self) -> str:
        self.proc.send_signal(2)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        said = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return said


def served(server: Server, name: str, x: np.ndarray, binary: bool, clients: int, n: int, pool) -> dict:
    body, headers = _request(name, x, binary)
    start_at = time.time() + 1.0 + 0.1 * clients
    jobs = [(server.port, "/v2/models/m/infer", body, headers, n, start_at) for _ in range(clients)]
    t0 = time.time()
    results = pool.map(_client, jobs) if clients > 1 else [_client(jobs[0])]
    wall = time.time() - max(t0, start_at)
    return _stats([t for r in results for t in r], wall)


def run(quick: bool) -> dict:
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    cases = []
    table = MODELS / "breast_cancer.onnx"
    tin = ort.InferenceSession(str(table), providers=["CPUExecutionProvider"]).get_inputs()[0]
    x_table = rng.normal(size=(1, 30)).astype(np.float32)
    cnn = MODELS / "scene.onnx"
    cin = ort.InferenceSession(str(cnn), providers=["CPUExecutionProvider"]).get_inputs()[0]
    x_cnn = rng.random((1, 3, 224, 224), dtype=np.float32)
    n_table, n_cnn = (300, 40) if quick else (2000, 200)
    plan = [("table", table, tin.name, x_table, n_table, [("binary", True, True), ("json", False, True),
                                                          ("binary, --no-history", True, False)]),
            ("cnn", cnn, cin.name, x_cnn, n_cnn, [("binary", True, True), ("binary, --no-history", True, False)])]
    out = {"cpu_count": os.cpu_count(), "cases": cases}
    with tempfile.TemporaryDirectory(prefix="inferdesk-serve-bench-") as tmp, mp.Pool(8) as pool:
        for label, model, name, x, n, variants in plan:
            base = bare(model, x, n * 2)
            cases.append({"model": model.name, "mode": "bare session.run", "clients": 1, **base})
            for variant, binary, record in variants:
                server = Server(model, record, os.path.join(tmp, f"{label}-{variant}"))
                try:
                    for clients in (1, 8):
                        got = served(server, name, x, binary, clients, n if clients == 1 else max(10, n // 4), pool)
                        cases.append({"model": model.name, "mode": f"served ({variant})", "clients": clients, **got,
                                      "p50_overhead_ms": got["p50"] - base["p50"],
                                      "throughput_ratio": got["per_s"] / base["per_s"]})
                finally:
                    said = server.close()
                if record and "recorded" not in said:
                    print(f"warning: the server did not say it recorded its results: {said[-300:]}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer requests (CI)")
    ap.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = ap.parse_args()
    result = run(args.quick)
    print(f"inferdesk serve vs in-process onnxruntime ({result['cpu_count']} CPU cores, loopback)")
    print(f"{'model':<19} {'mode':<30} {'clients':>7} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>9} "
          f"{'p50 +ms':>8} {'× bare':>7}")
    for c in result["cases"]:
        extra = (f"{c['p50_overhead_ms']:>8.2f} {c['throughput_ratio']:>7.2f}" if "throughput_ratio" in c
                 else f"{'':>8} {'':>7}")
        print(f"{c['model']:<19} {c['mode']:<30} {c['clients']:>7} {c['p50']:>8.3f} {c['p99']:>8.3f} "
              f"{c['per_s']:>9,.0f} {extra}")
    table = [c for c in result["cases"] if c["model"] == "breast_cancer.onnx" and c.get("clients") == 1
             and "throughput_ratio" in c]
    eight = [c for c in result["cases"] if c.get("clients") == 8]
    print("targets: table p50 overhead <= 1 ms: "
          + ", ".join(f"{c['mode']} {c['p50_overhead_ms']:.2f} ms {'met' if c['p50_overhead_ms'] <= 1 else 'NOT met'}"
                      for c in table))
    print("         8 clients >= 0.8x bare req/s: "
          + ", ".join(f"{c['model']} {c['mode']} {c['throughput_ratio']:.2f} "
                      f"{'met' if c['throughput_ratio'] >= 0.8 else 'NOT met'}" for c in eight))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
