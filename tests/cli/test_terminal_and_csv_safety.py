"""What reaches a terminal or a spreadsheet from data: control characters escaped, formulas neutralised."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

from desktop.cli import main
from desktop.engine.store import ResultStore
from desktop.runs.export import export as window_export
from tests.conftest import MODELS, ROOT, SAMPLES, table_model

RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # what may not reach a terminal (tab and LF are layout)
MODEL = MODELS / "breast_cancer.onnx"


def _run_id() -> str:
    with ResultStore() as store:
        return store.runs()[0].id



def test_a_renamed_run_cannot_drive_the_terminal_or_fake_a_row_in_history(capsys):
    assert main(["score", str(MODEL), str(SAMPLES / "breast_cancer.csv"), "-q"]) == 0
    run_id = _run_id()
    evil = ("\x1b]0;pwned\x07\x9b2J\x7f\nfeedfacecafe  2020-01-01 00:00:00  finished         20       0  "
            "digits.onnx\u202e")
    assert main(["history", "rename", run_id, evil]) == 0
    capsys.readouterr()
    assert main(["history"]) == 0
    out = capsys.readouterr().out
    assert not RAW_CONTROLS.search(out) and "\u202e" not in out
    lines = out.splitlines()
    assert len(lines) == 2 and lines[1].startswith(run_id)  # the header and one row: no fake row
    assert "\\x1b]0;pwned\\x07\\x9b2J\\x7f\\nfeedfacecafe" in lines[1]
    assert main(["history", "show", run_id]) == 0
    shown = capsys.readouterr().out
    assert not RAW_CONTROLS.search(shown.replace("\n", "")) and "\u202e" not in shown
    assert json.loads(shown)["summary"]["name"] == evil.strip()  # escaped for the terminal, the same value



def test_failed_lines_and_the_header_escape_control_characters_in_file_names(tmp_path, capsys):
    folder = tmp_path / "in\x1b[31mbox"
    folder.mkdir()
    shutil.copyfile(SAMPLES / "digits" / "digit_4_1221.png", folder / "ok\x9b.png")
    (folder / "bad\x1b[2J\x1b]0;x\x07.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    model = tmp_path / "m\x1b[1m.onnx"
    shutil.copyfile(MODELS / "digits.onnx", model)
    shutil.copyfile(MODELS / "digits.profile.json", tmp_path / "m\x1b[1m.profile.json")
    assert main(["score", str(model), str(folder)]) == 1
    out, err = capsys.readouterr()
    assert not RAW_CONTROLS.search(err.replace("\n", "")), err
    assert "failed: bad\\x1b[2J\\x1b]0;x\\x07.png: " in err and "m\\x1b[1m.onnx" in err
    assert not RAW_CONTROLS.search(out.replace("\n", ""))  # jsonl: JSON escapes, C1 included
    records = [json.loads(line) for line in out.splitlines()]
    assert {os.path.basename(r["input"]) for r in records} == {"ok\x9b.png", "bad\x1b[2J\x1b]0;x\x07.png"}
    assert main(["history", "show", _run_id()]) == 0
    assert not RAW_CONTROLS.search(capsys.readouterr().out.replace("\n", ""))



def test_csv_written_to_a_terminal_escapes_control_characters(tmp_path, capsys, monkeypatch):
    data = tmp_path / "data.csv"
    lines = (SAMPLES / "breast_cancer.csv").read_text().splitlines()
    data.write_text("\n".join([lines[0], "P\x1b]0;pwned\x07" + lines[1][lines[1].index(","):], *lines[2:4]]) + "\n")

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main(["score", str(MODEL), str(data), "--format", "csv", "-q"]) == 0
    text = terminal.getvalue()
    assert "\x1b" not in text and "\x07" not in text and "P\\x1b]0;pwned\\x07" in text
    assert text.count("\r\n") == 4  # the line ends kept: a header and three rows



FORMULAS = {"P1": "=HYPERLINK(\"http://evil\",\"click\")", "P2": "+SUM(1,2)", "P3": "-1.5", "P4": "@cmd",
            "P6": "-2+3", "P8": "plain", "P9": "1e5", "P10": "-", "P11": "=1,2"}



GUARDED = {"P1": "'=HYPERLINK(\"http://evil\",\"click\")", "P2": "'+SUM(1,2)", "P3": "-1.5", "P4": "'@cmd",
           "P6": "'-2+3", "P8": "plain", "P9": "1e5", "P10": "'-", "P11": "'=1,2"}



def test_the_guard_covers_tab_and_carriage_return_and_leaves_numbers():
    from desktop.engine.writers import guard_formulas

    cells = ["\t=1+1", "\r=1", "-0.5", "+3", "-inf", "=", "", "a=b", "-1.5e-3", "@", "- 1"]
    assert guard_formulas(cells) == ["'\t=1+1", "'\r=1", "-0.5", "+3", "-inf", "'=", "", "a=b", "-1.5e-3", "'@",
                                     "'- 1"]
    plain = ["a", "b"]
    assert guard_formulas(plain) is plain



@pytest.fixture
def formula_csv(tmp_path):
    """The breast-cancer sample with formula-like patient ids, and a pass-through column named '=diag'."""
    lines = (SAMPLES / "breast_cancer.csv").read_text().splitlines()
    header = lines[0].split(",")
    header[header.index("diagnosis")] = "=diag"
    rows = list(csv.reader(lines[1:10]))
    for row, pid in zip(rows, FORMULAS.values()):
        row[0] = pid
    path = tmp_path / "formulas.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path



def _ids(path) -> tuple[list, list]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    col = rows[0].index("patient_id")
    return rows[0], [r[col] for r in rows[1:]]



def test_formula_like_text_cells_are_guarded_in_every_csv_export_and_numbers_are_not(formula_csv, tmp_path, capsys):
    out = tmp_path / "scored.csv"
    assert main(["score", str(MODEL), str(formula_csv), "--format", "csv", "--out", str(out), "-q"]) == 0
    header, ids = _ids(out)
    assert ids == list(GUARDED.values()) and "'=diag" in header
    run_id = _run_id()
    exported = tmp_path / "export.csv"
    assert main(["history", "export", run_id, "--format", "csv", "--out", str(exported)]) == 0
    assert exported.read_text() == out.read_text()
    with ResultStore() as store:
        batches = list(store.batches(run_id))
    window = tmp_path / "window.csv"
    window_export(batches, window)
    assert _ids(window) == (header, ids)
    assert main(["history", "export", run_id, "--format", "csv"]) == 0  # to standard output too
    assert list(csv.reader(io.StringIO(capsys.readouterr().out)))[1][header.index("patient_id")] == GUARDED["P1"]

    raw = tmp_path / "raw.csv"
    assert main(["history", "export", run_id, "--format", "csv", "--out", str(raw), "--no-formula-guard"]) == 0
    header, ids = _ids(raw)
    assert ids == list(FORMULAS.values()) and "=diag" in header
    assert main(["score", str(MODEL), str(formula_csv), "--format", "csv", "--out", str(raw), "-q",
                 "--no-formula-guard"]) == 0
    assert _ids(raw)[1] == list(FORMULAS.values())
    # jsonl keeps the values as they are: JSON is not run by spreadsheets
    assert main(["history", "export", run_id, "--format", "jsonl"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["passthrough"]["patient_id"] for r in records] == list(FORMULAS.values())



def test_negative_numbers_stay_numbers(tmp_path):
    model = table_model(tmp_path / "sum.onnx")
    data = tmp_path / "rows.csv"
    data.write_text("a,b,c\n-1,-0.25,-0.25\n1,2,3\n")
    out = tmp_path / "out.csv"
    assert main(["score", str(model), str(data), "--format", "csv", "--out", str(out), "-q"]) == 0
    rows = list(csv.DictReader(open(out, newline="", encoding="utf-8")))
    assert [r["variable"] for r in rows] == ["-1.5", "6.0"] and rows[0]["value"] == "-1.5"



def test_help_documents_the_formula_guard(capsys):
    for command in (["score", "--help"], ["history", "--help"], ["resume", "--help"]):
        assert main(command) == 0
        assert "--no-formula-guard" in capsys.readouterr().out



@pytest.fixture
def many_images(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(2000):
        shutil.copyfile(SAMPLES / "digits" / "digit_0_386.png", folder / f"d_{i:04d}.png")
    return folder

@pytest.fixture
def one_big_chunk(tmp_path):
    lines = (SAMPLES / "breast_cancer.csv").read_text().splitlines(keepends=True)
    path = tmp_path / "big.csv"
    path.write_text(lines[0] + "".join(lines[1:]) * 400)  # 8,000 rows, one chunk: it all goes in one write
    return path

@pytest.mark.skipif(sys.platform == "win32", reason="a closed pipe is EPIPE on POSIX")
@pytest.mark.parametrize("what", ["many_images", "one_big_chunk"])
def test_a_closed_pipe_ends_the_run_as_cancelled_and_quietly(what, request):
    source = request.getfixturevalue(what)
    model = MODELS / ("digits.onnx" if what == "many_images" else "breast_cancer.onnx")
    proc = subprocess.Popen([sys.executable, "-m", "desktop", "score", str(model), str(source)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()  # as `| head -1` does
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert json.loads(first)["ok"] and "Traceback" not in err and "Exception ignored" not in err, err
    with ResultStore() as store:
        [run] = store.runs()
        assert run.status == "cancelled" and store.unfinished() == []
    later = subprocess.run([sys.executable, "-m", "desktop", "score", str(MODELS / "digits.onnx"),
                            str(SAMPLES / "digits"), "--out", os.devnull], cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
    assert later.returncode == 0 and "note:" not in later.stderr and "interrupted" not in later.stderr

def test_info_escapes_what_the_model_file_says(tmp_path, capsys):
    from tests.conftest import image_logits_model

    model = image_logits_model(tmp_path / "m.onnx", metadata={
        "description": "fine\x1b]0;pwned\x07\x9b2J", "labels": '["a\\u001b[31m", "b", "c"]', "note": "x\x1by"})
    assert main(["info", str(model)]) == 0
    out = capsys.readouterr().out
    assert not RAW_CONTROLS.search(out.replace("\n", "")) and "fine\\x1b]0;pwned\\x07\\x9b2J" in out
    assert main(["info", str(model), "--json"]) == 0
    text = capsys.readouterr().out
    assert not RAW_CONTROLS.search(text.replace("\n", ""))
    assert json.loads(text)["description"] == "fine\x1b]0;pwned\x07\x9b2J"


_INTERRUPT_AT_IMPORT = textwrap.dedent("""
    import signal, sys
    fired = []
    def hook(event, args):  # Ctrl+C once, as the module named first starts to be imported
        if event == "import" and args[0] == sys.argv[1] and not fired:
            fired.append(True)
            signal.raise_signal(signal.SIGINT)
    sys.addaudithook(hook)
    from desktop.__main__ import main
    sys.exit(main(sys.argv[2:]))
""")


@pytest.mark.skipif(sys.platform == "win32", reason="raise_signal(SIGINT) is POSIX here")
@pytest.mark.parametrize("module", ["desktop.cli", "numpy", "onnxruntime", "desktop.engine.store"])
def test_ctrl_c_while_modules_load_is_one_line_and_130(module, tmp_path):
    """Ctrl+C in the first moments (here: exactly while ``module`` is being imported) is not a traceback."""
    done = subprocess.run([sys.executable, "-c", _INTERRUPT_AT_IMPORT, module, "score", str(MODELS / "digits.onnx"),
                           str(SAMPLES / "digits"), "--out", str(tmp_path / "o.jsonl")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (130, "inferdesk: interrupted\n")


def test_an_import_broken_by_a_signal_counts_as_interrupted(monkeypatch, capsys):
    """onnxruntime's extension answers a signal during its initialisation with ImportError."""
    import desktop.cli as cli

    def broken(*args):
        cli._signals.received = signal.SIGINT  # what the handler records when the signal comes
        raise ImportError("initialization failed")

    monkeypatch.setattr(cli, "cmd_info", broken)
    assert main(["info", str(MODELS / "digits.onnx")]) == 130
    assert capsys.readouterr().err == "inferdesk: interrupted\n"
    monkeypatch.setattr(cli, "cmd_info", lambda *a: (_ for _ in ()).throw(ImportError("no module named x")))
    with pytest.raises(ImportError):  # without a signal, a missing module is not hidden
        main(["info", str(MODELS / "digits.onnx")])
