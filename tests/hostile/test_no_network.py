"""No network: loading, scoring, the command line and the window work with sockets forbidden.

The ``no_network`` fixture makes every way Python opens a connection raise (socket creation,
name lookup, create_connection) and records each attempt, so a caller that swallows the error
still fails the test. Host-name look-up of this machine (socket.gethostname, a local call the
history database uses) stays allowed: it sends nothing.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

import pytest

from desktop.cli import main
from desktop.engine import Engine, expand_inputs, run_batch
from tests.conftest import MODELS, SAMPLES

#: each sample model and the sample inputs it scores
SESSIONS = {
    "digits.onnx": [SAMPLES / "digits", SAMPLES / "dicom"],
    "scene.onnx": [SAMPLES / "photos"],
    "breast_cancer.onnx": [SAMPLES / "breast_cancer.csv"],
    "diabetes.onnx": [SAMPLES / "diabetes.csv"],
}


class NetworkUsed(AssertionError):
    pass


#: the same guard for child processes (the window scores in a spawned one): a sitecustomize module
#: on PYTHONPATH installs it at interpreter start, notes its own pid, and logs every attempt
CHILD_GUARD = """
import os, socket

_log = os.environ["INFERDESK_NETGUARD_LOG"]
with open(_log + ".installed", "a") as _fh:
    _fh.write(f"{os.getpid()}\\n")


def _attempt(what):
    with open(_log, "a") as fh:
        fh.write(f"pid {os.getpid()}: {what}\\n")
    raise OSError(f"network use attempted: {what}")


_real_init = socket.socket.__init__


def _init(self, family=-1, type=-1, proto=-1, fileno=None):
    _real_init(self, family, type, proto, fileno)
    if self.family != getattr(socket, "AF_UNIX", None):
        self.close()
        _attempt(f"socket.socket(family={self.family!r})")


socket.socket.__init__ = _init
for _name in ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr",
              "create_server"):
    setattr(socket, _name, lambda *a, _n=_name, **k: _attempt(f"socket.{_n}{a!r}"))
"""


@pytest.fixture
def no_network(monkeypatch):
    """Forbid connections for the test's duration; yields the list of attempts (must stay empty).

    Internet sockets (AF_INET, AF_INET6...) and name look-ups raise; local AF_UNIX sockets, which
    multiprocessing uses for the pipe to a child process, stay allowed: they reach no network.
    """
    attempts: list[str] = []

    def refuse(what):
        def raiser(*args, **kwargs):
            attempts.append(f"{what}{args!r}")
            raise NetworkUsed(f"network use attempted: {what}{args!r}")
        return raiser

    real_init = socket.socket.__init__

    def guarded_init(self, family=-1, type=-1, proto=-1, fileno=None):
        real_init(self, family, type, proto, fileno)  # creates the descriptor; nothing is sent
        if self.family != getattr(socket, "AF_UNIX", None):
            self.close()
            attempts.append(f"socket.socket(family={self.family!r}, type={self.type!r})")
            raise NetworkUsed(f"network use attempted: a {self.family!r} socket")

    monkeypatch.setattr(socket.socket, "__init__", guarded_init)
    for name in ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr",
                 "create_server"):
        monkeypatch.setattr(socket, name, refuse(f"socket.{name}"))
    yield attempts


@pytest.fixture
def no_network_in_children(monkeypatch, tmp_path):
    """The guard in every Python child process started from now on; yields a function giving
    (pids that installed it, attempts they logged)."""
    folder = tmp_path / "netguard"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(CHILD_GUARD, encoding="utf-8")
    log = tmp_path / "netguard.log"
    monkeypatch.setenv("INFERDESK_NETGUARD_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p))

    def report():
        installed = Path(str(log) + ".installed")
        pids = {int(x) for x in installed.read_text().split()} if installed.exists() else set()
        return pids, (log.read_text().splitlines() if log.exists() else [])
    return report


def test_the_guard_really_blocks(no_network):
    with pytest.raises(NetworkUsed):
        socket.socket()
    with pytest.raises(NetworkUsed):
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(NetworkUsed):
        socket.create_connection(("127.0.0.1", 9))
    with pytest.raises(NetworkUsed):
        socket.getaddrinfo("example.org", 443)
    assert len(no_network) == 4
    no_network.clear()
    if hasattr(socket, "AF_UNIX"):  # local pipes between processes are not network
        a, b = socket.socketpair()
        a.close()
        b.close()
    assert no_network == []


def test_the_child_guard_really_blocks(no_network_in_children):
    import subprocess

    code = ("import socket\n"
            "try:\n    socket.create_connection(('127.0.0.1', 9))\nexcept OSError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    pids, attempts = no_network_in_children()
    assert len(pids) == 1 and "network use attempted" in out.stdout
    assert len(attempts) == 1 and "create_connection" in attempts[0]


@pytest.mark.parametrize("model", sorted(SESSIONS))
def test_load_and_score_every_sample_without_network(no_network, model):
    engine = Engine(MODELS / model)
    assert "Azure" not in engine.provider  # the one provider that would need the network
    results = list(run_batch(engine, expand_inputs(SESSIONS[model])))
    assert results and all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert no_network == []


def test_cli_score_with_out_without_network(no_network, tmp_path, capsys):
    for model, inputs in SESSIONS.items():
        out = tmp_path / f"{model}.jsonl"
        code = main(["score", str(MODELS / model), *map(str, inputs), "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 0, err
        records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert records and all(r["ok"] for r in records)
    code = main(["info", str(MODELS / "digits.onnx")])
    assert code == 0
    assert no_network == []


def test_window_session_without_network(no_network, no_network_in_children, tmp_path, monkeypatch, request):
    """Open the window, drop a model and a folder, run, export: with sockets forbidden throughout,
    in the window's process and in the process it scores in."""
    pytest.importorskip("pytestqt", reason="the window test needs pytest-qt")
    pytest.importorskip("PySide6", reason="the window test needs PySide6")
    if not (SAMPLES.parent.parent / "desktop" / "ui" / "main_window.py").is_file():
        pytest.skip("desktop/ui/main_window.py is not there yet")
    monkeypatch.setenv("INFERDESK_SETTINGS", str(tmp_path / "config" / "settings.json"))
    qtbot = request.getfixturevalue("qtbot")
    qapp = request.getfixturevalue("qapp")
    qapp.setOrganizationName("InferDeskTests")
    qapp.setApplicationName("InferDeskTests")
    from tests.ui.uihelpers import load, run

    from desktop.settings import Settings
    from desktop.ui.main_window import MainWindow

    window = MainWindow(Settings(), tmp_path / "config" / "settings.json")
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    try:
        load(qtbot, window, MODELS / "digits.onnx", [SAMPLES / "digits"])
        summary = run(qtbot, window)
        assert summary["done"] == 10 and not summary["cancelled"]
        assert all(r.ok for r in window.results.results)
        assert window.export_to(tmp_path / "export.csv") == 10
        load(qtbot, window, MODELS / "breast_cancer.onnx", [SAMPLES / "breast_cancer.csv"])
        assert run(qtbot, window)["done"] >= 20
    finally:
        assert window.shutdown(30000)
        window.close()
    assert no_network == []
    children, attempts = no_network_in_children()
    assert attempts == []
    assert children - {os.getpid()}, "no child process ran under the guard; was the scoring process started?"
    # and no Qt networking either: the window never loads the module that could open a connection
    assert "PySide6.QtNetwork" not in sys.modules
