"""Measure how long InferDesk takes from launch to a shown window (X11; starts its own Xvfb if needed).

    python tools/measure_startup.py                      # the installed app, else dist/inferdesk
    python tools/measure_startup.py --runs 7 --json out/startup.json
    python tools/measure_startup.py --source             # python -m desktop from this checkout
    python tools/measure_startup.py -- /path/to/inferdesk gui model.onnx

Each run starts the app with a fresh settings file and HOME, polls the X server every 10 ms until a
viewable top-level window named "InferDesk" exists, records the time since the process was started,
then terminates the app. The first run reads the files from disk (or the page cache, if they were
read recently); the median of the others is the warm start.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TITLE = "InferDesk"


def default_command(source: bool) -> list[str]:
    if source:
        return [sys.executable, "-m", "desktop"]
    for candidate in ("/opt/inferdesk/inferdesk", str(ROOT / "dist" / "inferdesk" / "inferdesk")):
        if os.access(candidate, os.X_OK):
            return [candidate]
    sys.exit("measure_startup: no frozen app found (build it with `make dist`, or pass --source)")


def start_xvfb() -> tuple[subprocess.Popen, str]:
    """A private Xvfb on the first free display from :90."""
    if not shutil.which("Xvfb"):
        sys.exit("measure_startup: no DISPLAY and no Xvfb (apt-get install xvfb)")
    for n in range(90, 120):
        if os.path.exists(f"/tmp/.X{n}-lock") or os.path.exists(f"/tmp/.X11-unix/X{n}"):
            continue
        proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1280x800x24", "-nolisten", "tcp", "-noreset"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if os.path.exists(f"/tmp/.X11-unix/X{n}"):
                return proc, f":{n}"
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        proc.kill()
    sys.exit("measure_startup: could not start Xvfb")


def window_shown(display: str) -> bool:
    """True when a viewable window whose title contains "InferDesk" exists on ``display``."""
    env = dict(os.environ, DISPLAY=display)
    if shutil.which("xdotool"):
        r = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", TITLE], env=env,
                           capture_output=True, text=True)
        return r.returncode == 0 and bool(r.stdout.strip())
    tree = subprocess.run(["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True).stdout
    for line in tree.splitlines():
        parts = line.split()
        if parts and parts[0].startswith("0x") and f'{TITLE}' in line and '"' in line:
            info = subprocess.run(["xwininfo", "-id", parts[0]], env=env, capture_output=True, text=True).stdout
            if "IsViewable" in info:
                return True
    return False


def measure_once(cmd: list[str], display: str, timeout: float) -> float | None:
    """Seconds from launch to a shown window, or None when none appeared within ``timeout``."""
    with tempfile.TemporaryDirectory(prefix="inferdesk-startup-") as home:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": os.environ.get("LANG", "C.UTF-8"),
               "DISPLAY": display, "HOME": home, "XDG_RUNTIME_DIR": home,
               "INFERDESK_SETTINGS": os.path.join(home, "settings.json")}
        if cmd[0] == sys.executable:
            env["PYTHONPATH"] = str(ROOT)
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)
        shown = None
        try:
            while time.perf_counter() - t0 < timeout:
                if window_shown(display):
                    shown = time.perf_counter() - t0
                    break
                if proc.poll() is not None:
                    err = proc.stderr.read().decode(errors="replace").strip().splitlines()
                    sys.stderr.write(f"measure_startup: the app exited ({proc.returncode}) before showing a window"
                                     + (":\n  " + "\n  ".join(err[-8:]) if err else "") + "\n")
                    return None
                time.sleep(0.01)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        return shown


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the window in each run")
    p.add_argument("--source", action="store_true", help="measure `python -m desktop` instead of the frozen app")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("command", nargs="*", help="the command to launch (after --)")
    args = p.parse_args(argv)
    cmd = args.command or default_command(args.source)
    xvfb = None
    display = os.environ.get("DISPLAY")
    if not display:
        xvfb, display = start_xvfb()
    try:
        times = []
        for i in range(args.runs):
            t = measure_once(cmd, display, args.timeout)
            if t is None:
                print(f"run {i + 1}: no window within {args.timeout:.0f} s")
                return 1
            times.append(t)
            print(f"run {i + 1}: window shown after {t:.2f} s")
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait()
    warm = times[1:] or times
    summary = {"command": cmd, "runs": times, "first_s": round(times[0], 3),
               "warm_median_s": round(statistics.median(warm), 3), "min_s": round(min(times), 3),
               "max_s": round(max(times), 3), "cpus": os.cpu_count()}
    print(f"launch to shown window: first {summary['first_s']:.2f} s, warm median {summary['warm_median_s']:.2f} s "
          f"(min {summary['min_s']:.2f}, max {summary['max_s']:.2f}; {len(times)} runs, {os.cpu_count()} CPUs) "
          f"· {' '.join(cmd)}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
