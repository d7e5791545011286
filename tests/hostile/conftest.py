"""Fixtures for the hostile-input tests: the corpus (built once per session), peak-memory probes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

from tests.hostile.build_corpus import build_corpus, write_long_line_csv  # noqa: E402


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict:
    """The whole corpus (without the 100 MB line), ``{name: Path}``; see build_corpus.py."""
    return build_corpus(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def long_line_csv(corpus):
    """The CSV with a 100 MB line: written for the one test that asks, deleted after it."""
    path = write_long_line_csv(corpus["root"] / "long_line.csv")
    yield path
    path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- peak memory

PROBE = textwrap.dedent('''
    import json, os, sys
    sys.path.insert(0, sys.argv[1])

    def rss_and_peak():
        """(resident, peak resident) in bytes, or (None, None) where the platform will not say."""
        if os.path.exists("/proc/self/status"):
            values = {}
            with open("/proc/self/status") as fh:
                for line in fh:
                    key, _, rest = line.partition(":")
                    if key in ("VmRSS", "VmHWM"):
                        values[key] = int(rest.split()[0]) * 1024
            return values.get("VmRSS"), values.get("VmHWM")
        if sys.platform == "win32":
            import ctypes
            from ctypes import wintypes

            class Counters(ctypes.Structure):
                _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD),
                            ("PeakWorkingSetSize", ctypes.c_size_t), ("WorkingSetSize", ctypes.c_size_t)] + [
                           (n, ctypes.c_size_t) for n in ("a", "b", "c", "d", "e", "f")]
            c = Counters()
            c.cb = ctypes.sizeof(c)
            ctypes.windll.psapi.GetProcessMemoryInfo(ctypes.windll.kernel32.GetCurrentProcess(), ctypes.byref(c), c.cb)
            return c.WorkingSetSize, c.PeakWorkingSetSize
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = peak if sys.platform == "darwin" else peak * 1024
        return peak, peak  # no current figure: the baseline is the peak so far (a conservative growth)

    def reset_peak():
        try:  # Linux: "5" resets the peak resident size to the current one
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            pass

    from desktop.engine import Engine, run_batch
    model, warm, inputs = sys.argv[2], sys.argv[3], sys.argv[4:]
    engine = Engine(model)
    list(run_batch(engine, [warm], workers=0))  # imports, session and first-run allocations happen here
    reset_peak()
    base, _ = rss_and_peak()
    results = [{"input": os.path.basename(r.input), "row": r.row, "ok": r.ok, "error": r.error,
                "values": list(r.values) if r.ok and r.values is not None else None}
               for r in run_batch(engine, inputs)]
    _, peak = rss_and_peak()
    print(json.dumps({"base": base, "peak": peak, "results": results}))
''')


def peak_memory(model, warm, inputs, timeout=120) -> dict:
    """Score ``inputs`` with ``model`` in a fresh interpreter; its results and peak memory growth (MB).

    The model is loaded and ``warm`` scored first, then the peak is reset (where the system
    allows) and the inputs scored: ``growth_mb`` is what scoring them added at its worst.
    """
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-c", PROBE, str(ROOT), str(model), str(warm), *map(str, inputs)],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["growth_mb"] = (out["peak"] - out["base"]) / 1e6
    return out
