"""The window's continuous modes: Run ▸ Watch Folder… as one live run, and the Server tab with live latency."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request

from desktop.engine.store import ResultStore
from tests.ui.uihelpers import CANCER_MODEL, DIGITS_DIR, DIGITS_MODEL, load

DIGITS = sorted(DIGITS_DIR.glob("*.png"))


def _post(url, body: bytes, headers=None):
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_watched_folder_is_one_live_run_whose_results_arrive_file_by_file(qtbot, window, tmp_path):
    load(qtbot, window, DIGITS_MODEL)
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    inbox.mkdir()
    shutil.copy(DIGITS[0], inbox / "first.png")
    window.start_watch(str(inbox), done_dir=str(done), settle_s=0.2)
    qtbot.waitUntil(lambda: window.results.total == 1, timeout=20000)
    assert window.controller.is_watching()
    assert window.run_button.text() == "Stop  ■"  # its tooltip: stop the watch
    assert window.progress.maximum() == 0  # no total: the bar shows it is waiting, not how far it is
    assert "Watching inbox" in window.progress_label.text()
    # a file arriving while the window watches: scored once written, shown, moved to done/
    (inbox / "second.png").write_bytes(DIGITS[1].read_bytes())
    (inbox / "notes.png").write_text("not an image")
    qtbot.waitUntil(lambda: window.results.total == 3, timeout=20000)
    assert "3 files scored (2 OK, 1 failed)" in window.progress_label.text()
    assert sorted(p.name for p in done.iterdir()) == ["first.png", "second.png"]
    assert (inbox / "notes.png").exists()  # no failed folder given: it stays where it was
    shown = {window.results.result(i).input for i in range(3)}
    assert str(done / "second.png") in shown  # the table follows a moved file to where it is now
    assert [window.results.result(i).index for i in range(3)] == [0, 1, 2]
    assert window.latency.stats()["n"] == 2  # the Latency tab has the OK items
    run_id = window.controller.shown.run_id
    with qtbot.waitSignal(window.run_finished, timeout=20000) as ended:
        window.cancel()
    summary = ended.args[0]
    assert summary["watch"] == str(inbox) and summary["files"] == 3
    assert "Stopped watching" in window.statusBar().currentMessage()
    assert window.run_button.text() == "Run  ▶"
    with ResultStore(window.controller.store_path) as store:
        run = store.run(run_id)
        assert (run.status, run.ok, run.failed) == ("finished", 2, 1)


def test_the_server_tab_serves_the_loaded_model_and_shows_its_request_latency(qtbot, window):
    load(qtbot, window, DIGITS_MODEL)
    view = window.server_view
    assert "tritonclient" in view.example_text["python"].toPlainText()
    window.tabs.setCurrentWidget(view)
    assert window.start_serving({"port": 0, "network": False, "record": True}) is not None
    url = window.controller.server.url
    assert url in view.address.text() and view.badge.text() == "This machine only"
    assert not view.token_field.isVisible()
    assert f"{url}/v2/models/digits/score" in view.example_text["curl"].toPlainText()
    assert view.button.text() == "Stop Serving  ■" and not view.port.isEnabled()
    status, record = _post(f"{url}/v2/models/digits/score", DIGITS[0].read_bytes())
    assert status == 200 and record["ok"]
    qtbot.waitUntil(lambda: "1 request answered" in view.readout.text(), timeout=5000)
    assert "p50" in view.readout.text()
    qtbot.waitUntil(lambda: "1 result recorded" in view.readout.text(), timeout=5000)
    window.tabs.setCurrentWidget(window.latency)
    assert window.latency.server_readout.isVisible() and "p50" in window.latency.server_readout.text()
    run_id = window.controller.served_history.run_ids["digits"]
    window.stop_serving()
    qtbot.waitUntil(lambda: not window.controller.jobs.busy("serve"), timeout=15000)
    assert view.button.text() == "Start Serving  ▶" and not window.latency.server_readout.isVisible()
    with ResultStore(window.controller.store_path) as store:
        run = store.run(run_id)
        assert (run.name, run.status, run.ok) == ("served digits", "finished", 1)
    assert window.settings.serve_port == 0 and window.settings.serve_record


def test_serving_on_the_network_needs_the_token_it_shows(qtbot, window):
    load(qtbot, window, DIGITS_MODEL)
    window.tabs.setCurrentWidget(window.server_view)
    window.start_serving({"port": 0, "network": True, "record": False})
    view = window.server_view
    local = window.controller.server.url.replace("0.0.0.0", "127.0.0.1")
    assert view.badge.text() == "On the network · token required"
    assert view.token_field.isVisible() and view.token
    assert "Authorization: Bearer" in view.example_text["curl"].toPlainText()
    assert _post(f"{local}/v2/models/digits/score", DIGITS[0].read_bytes())[0] == 401
    status, _ = _post(f"{local}/v2/models/digits/score", DIGITS[0].read_bytes(),
                      {"Authorization": f"Bearer {view.token}"})
    assert status == 200
    qtbot.waitUntil(lambda: "not recorded in History" in view.readout.text(), timeout=5000)
    window.stop_serving()
    qtbot.waitUntil(lambda: not window.controller.jobs.busy("serve"), timeout=15000)


def test_loading_another_model_stops_the_server_and_says_so(qtbot, window):
    load(qtbot, window, DIGITS_MODEL)
    window.start_serving({"port": 0, "network": False, "record": False})
    assert window.controller.server is not None
    load(qtbot, window, CANCER_MODEL)
    qtbot.waitUntil(lambda: not window.controller.jobs.busy("serve"), timeout=15000)
    assert window.controller.server is None
    assert "another model" in window.server_view.address.text()
    assert "row.csv" in window.server_view.example_text["curl"].toPlainText()  # the table model's call


def test_a_port_in_use_is_said_on_the_server_tab(qtbot, window):
    import socket

    load(qtbot, window, DIGITS_MODEL)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        assert window.start_serving({"port": taken.getsockname()[1], "network": False, "record": False}) is None
        assert not window.server_view.message.isHidden()
        assert "cannot listen" in window.server_view.message.text()
        assert window.controller.server is None
    finally:
        taken.close()


def test_closing_the_window_stops_the_server(qtbot, window):
    load(qtbot, window, DIGITS_MODEL)
    window.start_serving({"port": 0, "network": False, "record": True})
    url = window.controller.server.url
    window.close()
    time.sleep(0.1)
    try:
        urllib.request.urlopen(f"{url}/v2/health/live", timeout=2)
        reached = True
    except (urllib.error.URLError, ConnectionError, OSError):
        reached = False
    assert not reached
