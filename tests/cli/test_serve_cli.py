"""``inferdesk serve``: prints its address, answers, stops on Ctrl+C with exit 0; refuses what it cannot serve safely."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request

from desktop.cli import main
from tests.conftest import MODELS, ROOT


def test_serve_answers_and_ctrl_c_stops_it_with_exit_0():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "desktop", "serve", str(MODELS / "digits.onnx"), "--port", "0",
                             "--name", "d"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT)
    try:
        line = proc.stdout.readline()
        url = re.search(r"at (http://127\.0\.0\.1:\d+) ", line).group(1)
        assert "curl" in proc.stdout.readline()
        with urllib.request.urlopen(f"{url}/v2/models/d", timeout=10) as resp:
            assert json.loads(resp.read())["inputs"][0]["shape"] == [-1, 1, 16, 16]
        digit = (ROOT / "resources" / "samples" / "digits" / "digit_7_1496.png").read_bytes()
        with urllib.request.urlopen(urllib.request.Request(f"{url}/v2/models/d/score", data=digit), timeout=10) as resp:
            assert json.loads(resp.read())["ok"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        said = proc.stderr.read()
        assert "server stopped" in said
        run_id = re.search(r"1 request\(s\) answered, 0 refused; 1 result\(s\) recorded \(d: run (\w+)\)", said).group(1)
        assert main(["history", "show", run_id]) == 0  # the served run is in this user's history
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_network_host_needs_a_token(capsys):
    assert main(["serve", str(MODELS / "digits.onnx"), "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "needs a bearer token" in capsys.readouterr().err


def test_empty_token_file_is_refused(tmp_path, capsys):
    (tmp_path / "token").write_text("\n")
    assert main(["serve", str(MODELS / "digits.onnx"), "--token-file", str(tmp_path / "token")]) == 2
    assert "token file is empty" in capsys.readouterr().err


def test_two_models_under_one_name_are_refused(capsys):
    model = str(MODELS / "digits.onnx")
    assert main(["serve", model, model, "--port", "0"]) == 2
    assert "two models would be served as 'digits'" in capsys.readouterr().err
