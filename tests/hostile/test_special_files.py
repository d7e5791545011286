"""Inputs that would hang a run or take it many seconds: refused quickly, each with its message, the rest scored.

A FIFO blocks its reader until something writes; ``/dev/zero`` (or a link to it named
``x.png`` or ``x.csv``) reads forever; a JPEG with 64 MB of EXIF segments takes Pillow
tens of seconds. The corpus builds them (``build_special_files``). Anything that could hang
runs in a subprocess or on a thread with a deadline, so a regression fails instead of
stalling the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from desktop.engine import Engine, expand_inputs, run_batch
from desktop.engine.errors import InputError
from desktop.engine.inputs.images import MAX_JPEG_SEGMENTS, decode_dicom, decode_image
from desktop.engine.model import sha256_file
from tests.hostile.build_corpus import write_app_segments_jpeg
from tests.hostile.conftest import ROOT, peak_memory

#: how long a refusal may take, in seconds, where the file would otherwise hang the run
DEADLINE_S = 20

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="this system has no FIFOs")
needs_dev_zero = pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="this system has no /dev/zero")


def _need(corpus, key):
    if key not in corpus:
        pytest.skip(f"{key} needs FIFOs or symbolic links, which this system did not allow")
    return corpus[key]


def _cli(*args, timeout=DEADLINE_S) -> subprocess.CompletedProcess:
    """``inferdesk ARGS`` in a fresh process, killed (and the test failed) if it runs past ``timeout``."""
    try:
        return subprocess.run([sys.executable, "-m", "desktop", *map(str, args)], capture_output=True, text=True,
                              timeout=timeout, cwd=str(ROOT), env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    except subprocess.TimeoutExpired:
        pytest.fail(f"inferdesk {' '.join(map(str, args))} still ran after {timeout} s: it hangs")


def _within(seconds, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, failing the test if it has not returned after ``seconds`` (left on a daemon thread)."""
    box: dict = {}

    def work():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"{getattr(fn, '__name__', fn)} still ran after {seconds} s: it hangs")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _records(path: Path) -> dict:
    return {os.path.basename(r["input"]): r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


# =========================================================================== not regular files

NAMED = {
    # corpus name: (model, the message of its one result)
    "special/fifo.png": ("models/rgb.onnx", "fifo.png: not a regular file (a FIFO)"),
    "special/fifo.csv": ("models/sum3.onnx", "fifo.csv: not a regular file (a FIFO)"),
    "special/zero.png": ("models/rgb.onnx", "zero.png: not a regular file (a link to /dev/zero, a character device)"),
    "special/zero.csv": ("models/sum3.onnx", "zero.csv: not a regular file (a link to /dev/zero, a character device)"),
}


@pytest.mark.parametrize("key", sorted(NAMED))
def test_a_fifo_or_a_link_to_dev_zero_named_directly_is_refused_at_once(corpus, key, tmp_path):
    model, message = NAMED[key]
    path = _need(corpus, key)
    out = tmp_path / "out.jsonl"
    proc = _cli("score", corpus[model], path, corpus["images/good_green.png"], "--out", out)
    assert proc.returncode == 1, proc.stderr
    records = _records(out)
    assert records[path.name]["error"] == message
    assert f"failed: {message}\n" in proc.stderr
    assert list(records) == [path.name, "good_green.png"]  # the run went on to the next item


@needs_dev_zero
def test_dev_zero_itself_is_refused_and_not_hashed_for_the_history(corpus, tmp_path):
    out = tmp_path / "out.jsonl"
    proc = _cli("score", corpus["models/rgb.onnx"], "/dev/zero", "--out", out)
    assert proc.returncode == 1, proc.stderr
    assert _records(out)["zero"]["error"] == "zero: not a regular file (a character device)"


def test_a_fifo_inside_a_folder_is_an_invalid_item_and_the_folder_is_scored(corpus, tmp_path):
    _need(corpus, "special/folder/m_fifo.png")
    out = tmp_path / "out.jsonl"
    proc = _cli("score", corpus["models/rgb.onnx"], corpus["special/folder"], "--out", out, "--workers", "2")
    assert proc.returncode == 1, proc.stderr
    records = _records(out)
    linked = ["n_zero.png"] if "special/folder/n_zero.png" in corpus else []
    assert list(records) == ["a_red.png", "m_fifo.png"] + linked + ["z_blue.png"]  # in place, in natural order
    assert records["a_red.png"]["ok"] and records["z_blue.png"]["ok"]
    assert records["m_fifo.png"]["error"] == "m_fifo.png: not a regular file (a FIFO)"
    if "n_zero.png" in records:  # a link out of the folder: refused as such, never read
        assert records["n_zero.png"]["error"].startswith("n_zero.png: a link to /dev/zero, outside folder; not read")


def test_expand_inputs_flags_each_non_regular_file_with_its_kind(corpus):
    items = _within(DEADLINE_S, expand_inputs, [_need(corpus, "special/fifo.png"), corpus["special/folder"]])
    by_name = {os.path.basename(i.path): i for i in items}
    assert by_name["fifo.png"].kind == "invalid"
    assert by_name["fifo.png"].problem == "fifo.png: not a regular file (a FIFO)"
    assert by_name["m_fifo.png"].problem == "m_fifo.png: not a regular file (a FIFO)"
    assert by_name["a_red.png"].kind == by_name["z_blue.png"].kind == "image"


@needs_fifo
@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("swap", ["fifo", "dev_zero"])
def test_a_file_swapped_after_listing_is_refused_when_it_is_opened(corpus, tmp_path, workers, swap):
    """Items are made while the file is regular; by the time it is hashed and decoded it is not."""
    if swap == "dev_zero" and not os.path.exists("/dev/zero"):
        pytest.skip("this system has no /dev/zero")
    good = tmp_path / "good.png"
    good.write_bytes(corpus["special/folder/a_red.png"].read_bytes())
    swapped = tmp_path / "swapped.png"
    swapped.write_bytes(good.read_bytes())
    items = expand_inputs([swapped, good])
    assert [i.kind for i in items] == ["image", "image"]
    swapped.unlink()
    if swap == "fifo":
        os.mkfifo(swapped)
        expected = "swapped.png: not a regular file (a FIFO)"
    else:
        os.symlink("/dev/zero", swapped)
        expected = "swapped.png: not a regular file (a link to /dev/zero, a character device)"
    engine = Engine(corpus["models/rgb.onnx"])
    results = _within(DEADLINE_S, lambda: list(run_batch(engine, items, workers=workers, hash_inputs=True)))
    assert [r.error for r in results] == [expected, None]
    assert results[1].ok and results[1].input_sha256


@needs_fifo
def test_a_csv_swapped_for_a_fifo_after_listing_is_refused_when_it_is_opened(corpus, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    items = expand_inputs([rows])
    assert [i.kind for i in items] == ["table"]
    rows.unlink()
    os.mkfifo(rows)
    engine = Engine(corpus["models/sum3.onnx"])
    results = _within(DEADLINE_S, lambda: list(run_batch(engine, items, hash_inputs=True)))
    assert len(results) == 1 and not results[0].ok and "rows.csv: not a regular file (a FIFO)" in results[0].error


@needs_fifo
def test_decoders_and_hashing_refuse_a_fifo_without_blocking(tmp_path):
    for name in ("pipe.png", "pipe.dcm"):
        os.mkfifo(tmp_path / name)
    with pytest.raises(InputError, match=r"^pipe\.png: not a regular file \(a FIFO\)$"):
        _within(DEADLINE_S, decode_image, tmp_path / "pipe.png")
    with pytest.raises(InputError, match=r"^pipe\.dcm: not a regular file \(a FIFO\)$"):
        _within(DEADLINE_S, decode_dicom, tmp_path / "pipe.dcm")
    with pytest.raises(OSError, match=r"^pipe\.png: not a regular file \(a FIFO\)$"):  # the history's hashing
        _within(DEADLINE_S, sha256_file, tmp_path / "pipe.png")


MODELS_REFUSED = {
    "special/fifo.onnx": "Model file fifo.onnx: not a regular file (a FIFO)",
    "special/zero.onnx": "Model file zero.onnx: not a regular file (a link to /dev/zero, a character device)",
}


@pytest.mark.parametrize("key", sorted(MODELS_REFUSED))
@pytest.mark.parametrize("command", ["info", "score"])
def test_a_model_that_is_not_a_regular_file_is_refused_in_one_line(corpus, key, command, tmp_path):
    path = _need(corpus, key)
    args = [command, path] + ([corpus["images/good_green.png"], "--out", tmp_path / "o.jsonl"]
                              if command == "score" else [])
    proc = _cli(*args)
    assert proc.returncode == 2
    assert proc.stderr == f"inferdesk: {MODELS_REFUSED[key]}\n"


@needs_dev_zero
def test_info_on_dev_zero_says_what_it_is(tmp_path):
    proc = _cli("info", "/dev/zero")
    assert (proc.returncode, proc.stderr) == (2, "inferdesk: Model file zero: not a regular file (a character device)\n")


# =========================================================================== JPEG metadata

METADATA_CASES = {
    "a_green.png": None,
    "exif_64mb.jpg": "exif_64mb.jpg: the JPEG carries over 16 MB of metadata (EXIF and other APP segments) before "
                     "its image data; refused",
    "exif_many.jpg": f"exif_many.jpg: the JPEG has over {MAX_JPEG_SEGMENTS:,} segments of metadata and tables before "
                     "its image data, far more than any camera or editor writes; refused",
    "z_blue.png": None,
}


def test_a_jpeg_with_64_mb_of_exif_fails_fast_and_the_folder_is_scored(corpus):
    engine = Engine(corpus["models/rgb.onnx"])
    t0 = time.perf_counter()
    results = _within(60, lambda: list(run_batch(engine, [corpus["special/metadata"]], workers=2)))
    elapsed = time.perf_counter() - t0
    assert [os.path.basename(r.input) for r in results] == list(METADATA_CASES)
    for r in results:
        assert r.error == METADATA_CASES[os.path.basename(r.input)]
    assert [r.top[0].label for r in results if r.ok] == ["green", "blue"]
    assert elapsed < 2.0, f"{elapsed:.1f} s"


@pytest.mark.parametrize("name", ["exif_64mb.jpg", "exif_many.jpg"])
def test_a_metadata_bomb_is_refused_before_pillow_parses_it(corpus, name):
    t0 = time.perf_counter()
    with pytest.raises(InputError) as err:
        _within(60, decode_image, corpus[f"special/metadata/{name}"])
    assert str(err.value) == METADATA_CASES[name]
    assert time.perf_counter() - t0 < 1.0


def test_a_metadata_bomb_costs_no_memory(corpus):
    got = peak_memory(corpus["models/rgb.onnx"], corpus["images/good_green.png"],
                      [corpus["special/metadata/exif_64mb.jpg"]])
    assert [r["ok"] for r in got["results"]] == [False]
    assert got["growth_mb"] < 20, got["growth_mb"]


def test_a_jpeg_just_under_the_limits_still_decodes(tmp_path):
    path = write_app_segments_jpeg(tmp_path / "big_exif.jpg", 200, 65533)  # 13 MB in 200 segments
    img = decode_image(path)
    assert img.size == (8, 8) and img.mode == "RGB"
    for count in (MAX_JPEG_SEGMENTS - 20, MAX_JPEG_SEGMENTS + 1):  # a small JPEG of its own has about ten
        path = write_app_segments_jpeg(tmp_path / f"n{count}.jpg", count, 16)
        if count < MAX_JPEG_SEGMENTS:
            assert decode_image(path).size == (8, 8)
        else:
            with pytest.raises(InputError, match="segments of metadata and tables"):
                decode_image(path)


# =========================================================================== cancelling a slow decode

@pytest.fixture
def slow_decode(corpus):
    """An engine whose decode of any file named ``slow*.png`` blocks until the test ends (at most 15 s)."""
    engine = Engine(corpus["models/rgb.onnx"])
    release = threading.Event()
    started = threading.Event()
    real = engine.load_image

    def load_image(path, kind="image"):
        if os.path.basename(path).startswith("slow"):
            started.set()
            release.wait(15)
        return real(path, kind)

    engine.load_image = load_image
    yield engine, started
    release.set()


def _copies(corpus, tmp_path, names) -> list[Path]:
    out = []
    for name in names:
        out.append(tmp_path / name)
        out[-1].write_bytes(corpus["special/folder/a_red.png"].read_bytes())
    return out


@pytest.mark.parametrize("workers", [None, 2, 4])
def test_cancel_during_a_slow_decode_returns_promptly(corpus, tmp_path, slow_decode, workers):
    engine, started = slow_decode
    files = _copies(corpus, tmp_path, ["a.png", "slow.png", "c.png", "d.png"])
    stop = threading.Event()
    threading.Thread(target=lambda: (started.wait(10), time.sleep(0.2), stop.set()), daemon=True).start()
    t0 = time.perf_counter()
    results = _within(30, lambda: list(run_batch(engine, files, workers=workers, should_stop=stop.is_set)))
    elapsed = time.perf_counter() - t0
    assert started.is_set() and stop.is_set()
    assert elapsed < 2.0, f"{elapsed:.1f} s"
    # nothing from the image still decoding or after it (the first comes unless the stop beat it)
    assert [os.path.basename(r.input) for r in results] in ([], ["a.png"])


def test_cancel_while_a_single_image_decodes_returns_promptly(corpus, tmp_path, slow_decode):
    engine, started = slow_decode
    [slow] = _copies(corpus, tmp_path, ["slow.png"])
    stop = threading.Event()
    threading.Thread(target=lambda: (started.wait(10), time.sleep(0.2), stop.set()), daemon=True).start()
    t0 = time.perf_counter()
    results = _within(30, lambda: list(run_batch(engine, [slow], should_stop=stop.is_set)))
    assert time.perf_counter() - t0 < 2.0
    assert results == []
