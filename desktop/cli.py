"""The ``inferdesk`` command line: info, score, history, report, bench, optimise, compare (and gui, handed to the window)."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
from contextlib import closing, contextmanager

from . import __version__

# ---------------------------------------------------------------------------------------- the terminal
#: C0 (ESC, BEL, CR, LF...), DEL, C1 and the bidirectional overrides: escaped in data shown on a terminal
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: the same, but for results written to a terminal: their line ends (LF, CR LF) and tabs are kept
_CONTROLS_IN_LINES = re.compile(r"\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match) -> str:
    c = match.group()
    return _SHORT.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def _safe(text) -> str:
    """Text from data (a run's name, a file name, a message naming one) as a terminal may show it.

    Control characters are written as escapes (``\\x1b``, ``\\n``), so a name cannot set
    the terminal's title, move its cursor or print a line of its own.
    """
    text = str(text)
    return text if _CONTROLS.search(text) is None else _CONTROLS.sub(_escape, text)


class _Output:
    """Standard output as the writers see it: every write reaches it whole, or raises.

    A write goes to the binary stream beneath, continued after a partial write: a text layer
    over an unbuffered stream (``python -u``, ``PYTHONUNBUFFERED``) drops the rest of a partial
    write to a pipe without a word, a closed pipe included. On a terminal, control characters
    in the results are escaped (line ends and tabs kept).
    """

    def __init__(self, fh, terminal: bool = False):
        self.fh = fh
        self.terminal = terminal
        self.raw = getattr(fh, "buffer", None)

    def write(self, text: str):
        if self.terminal and _CONTROLS_IN_LINES.search(text) is not None:
            text = _CONTROLS_IN_LINES.sub(_escape, text)
        if self.raw is None:
            return self.fh.write(text)
        self.fh.flush()  # what was written through the text layer goes first
        data = memoryview(text.encode(getattr(self.fh, "encoding", None) or "utf-8",
                                      getattr(self.fh, "errors", None) or "strict"))
        while len(data):
            n = self.raw.write(data)
            if n is None:  # a non-blocking stream that is full: wait for it
                time.sleep(0.01)
                continue
            data = data[n:]
        return len(text)

    def flush(self) -> None:
        (self.raw if self.raw is not None else self.fh).flush()


def _for_terminal(out):
    """``out`` for results: an :class:`_Output`, escaping control characters when it is a terminal."""
    try:
        tty = out.isatty()
    except (AttributeError, ValueError, OSError):
        tty = False
    return _Output(out, terminal=tty)


# ---------------------------------------------------------------------------------------- signals
class Terminated(KeyboardInterrupt):
    """SIGTERM: handled as Ctrl+C is (the run is recorded as cancelled), exit code 143."""


class _Signals:
    """SIGINT and SIGTERM while a command runs: raised as KeyboardInterrupt and Terminated.

    Inside :meth:`held` a signal waits until the block has ended (a group is committed to the
    history and handed to the output whole, or not at all; the end of a run is recorded whole),
    and is raised then.
    """

    def __init__(self):
        self.received = None  # the first signal's number, once one came
        self._held = 0
        self._pending = None
        self._previous: dict = {}

    def install(self) -> None:
        self.received = self._pending = None
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
            if sig is None:
                continue
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except (OSError, ValueError):
                pass

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            try:
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
            except (OSError, ValueError):
                pass
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        if self.received is None:
            self.received = signum
        if self._held:
            self._pending = signum
            return
        raise self._exception(signum)

    @staticmethod
    def _exception(signum) -> KeyboardInterrupt:
        return Terminated() if signum == getattr(signal, "SIGTERM", None) else KeyboardInterrupt()

    @contextmanager
    def held(self):
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
        if not self._held and self._pending is not None:
            signum, self._pending = self._pending, None
            raise self._exception(signum)


_signals = _Signals()


def _stopped_by(exc: KeyboardInterrupt) -> tuple[str, int]:
    """('interrupted (Ctrl+C)', 130) or ('terminated (SIGTERM)', 143)."""
    if isinstance(exc, Terminated):
        return "terminated (SIGTERM)", 143
    return "interrupted (Ctrl+C)", 130


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line, without the usage block, on a bad argument."""

    def error(self, message):
        self.exit(2, f"inferdesk: {message} (see 'inferdesk {self.prog.split()[-1]} --help')\n"
                  if " " in self.prog else f"inferdesk: {message} (see 'inferdesk --help')\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more (got {value})")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more (got {value})")
    return value


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number (got {text!r})") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more (got {text})")
    return value


def build_parser() -> argparse.ArgumentParser:
    from .engine.session import OPT_LEVELS

    parser = _Parser(prog="inferdesk", description="Score images and tables with an ONNX model, locally.",
                     epilog="inferdesk with no command opens the window (inferdesk gui MODEL INPUT... too); "
                            "inferdesk --self-test scores the bundled samples and checks their known answers "
                            "(exit 0 when all match).")
    parser.add_argument("--version", action="store_true", help="print versions and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("info", help="describe a model: inputs, outputs, labels, profile")
    p.add_argument("model")
    p.add_argument("--profile", help="a profile JSON file to use instead of the model's own")
    p.add_argument("--json", action="store_true", help="print JSON")

    def formula_guard_arg(p):
        p.add_argument("--no-formula-guard", action="store_true",
                       help="csv: write text cells as they are; by default a cell a spreadsheet would run as a "
                            "formula (starting with =, +, -, @, tab or CR, and not a number) gets a ' in front")

    def include_phi_arg(p):
        p.add_argument("--include-phi", action="store_true",
                       help="jsonl and json: keep a DICOM input's patient-identifying fields (name, ID, birth "
                            "date, accession number, institution, UIDs...) and the study date in its 'dicom' "
                            "record; by default they are left out, and the summary names them")

    def deid_args(p):
        """dicom-seg, dicom-sr, dicom-sc: the PS3.15 options on top of the Basic Profile (desktop.engine.dicom_deid)."""
        for flag, field, what in DEID_FLAGS:
            p.add_argument(flag, dest=field, action="store_true",
                           help=f"dicom-*: keep {what} (PS3.15 option; the objects are de-identified by the Basic "
                                "Profile unless --include-phi)")

    def no_conf_arg(p):
        p.add_argument("--no-conf", action="store_true",
                       help="yolo: write 'class cx cy w h' without the score column (training labels); by default "
                            "each line ends with the detection's score, as Ultralytics' save_conf")

    def session_args(p):
        p.add_argument("--provider", help="execution provider, e.g. CPUExecutionProvider or cuda")
        p.add_argument("--threads", type=_non_negative, default=0, help="intra-op threads (0: automatic, the cores the decode threads leave)")
        p.add_argument("--opt-level", choices=OPT_LEVELS, default="all", help="graph optimisation level")
        p.add_argument("--no-fallback", action="store_true",
                       help="with --provider: stop with exit 2 when that provider is not in this onnxruntime build "
                            "or does not start, instead of running on the CPU")

    p = sub.add_parser("score", help="score images, folders and CSV files")
    p.add_argument("model")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("--profile", help="a profile JSON file to use instead of the model's own")
    p.add_argument("--format", choices=FORMAT_CHOICES, default="jsonl", help=FORMAT_HELP)
    p.add_argument("--out", help="write results to this file instead of standard output (with a "
                                 "<file>.provenance.json beside it for csv, jsonl and coco; yolo: a folder); it is "
                                 "written under a temporary name and renamed into place when complete, and never "
                                 "over an input, the model or the history database")
    p.add_argument("--top-k", type=_positive, default=5)
    session_args(p)
    p.add_argument("--save-inputs", metavar="DIR",
                   help="write each item's model input tensor as .npy into DIR/<run id> (a folder of its own)")
    p.add_argument("--save-masks", metavar="DIR",
                   help="a segmenter's: write each image's label map as <stem>.png (original size, the values "
                        "legend.json names) into DIR/<run id>; the record's mask_file names it")
    p.add_argument("--workers", type=_non_negative, help="decode threads ahead of inference (0: none)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="score on a Dask distributed cluster: a scheduler's address (tcp://host:8786), or local:N "
                        "to start N worker processes on this machine; the inputs must be at the same paths on "
                        "every worker (README, 'Scoring an archive')")
    p.add_argument("--quiet", "-q", action="store_true", help="no header or summary on standard error")

    p.add_argument("--no-history", action="store_true", help="do not keep these results in the history database")
    formula_guard_arg(p)
    no_conf_arg(p)
    include_phi_arg(p)

    p = sub.add_parser("watch", help="score each new file in a folder once it is completely written, until "
                                     "Ctrl+C (one run in the history)")
    p.add_argument("model")
    p.add_argument("folder")
    p.add_argument("--profile", help="a profile JSON file to use instead of the model's own")
    p.add_argument("--done", metavar="DIR", help="move each file that scored here, after its result is recorded")
    p.add_argument("--failed", metavar="DIR", help="move each file that failed to score here, after its result is "
                                                   "recorded")
    p.add_argument("--copy", action="store_true", help="copy to --done and --failed instead of moving")
    p.add_argument("--settle", type=float, default=1.0, metavar="SECONDS",
                   help="a file is scored once its size and modification time have not changed for this long "
                        "(default 1)")
    p.add_argument("--poll", action="store_true", help="list the folder regularly instead of waiting for the "
                                                      "system's change events: for network shares")
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="how each result is written")
    p.add_argument("--out", help="append results to this file as they come instead of standard output")
    p.add_argument("--max-items", type=_positive, metavar="N", help="end after N files were scored")
    p.add_argument("--top-k", type=_positive, default=5)
    session_args(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no header, per-file lines or summary on standard "
                                                              "error")
    p.add_argument("--no-history", action="store_true",
                   help="do not keep these results in the history database (a restart then scores every file "
                        "again)")

    p = sub.add_parser("evaluate", help="check a model on your own labelled cases: metrics with 95%% intervals")
    p.add_argument("model")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("--truth", metavar="COLUMN|FOLDER|FILE",
                   help="the truth: a CSV input's column; a folder of class-named folders (cats/..., dogs/...); a "
                        "CSV of input,label; for detection a COCO JSON or a folder of YOLO txt; for segmentation a "
                        "folder of <stem>.png label maps. Default: a CSV column named label, target, class, "
                        "diagnosis, y or truth")
    p.add_argument("--profile", help="a profile JSON file to use instead of the model's own")
    p.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    p.add_argument("--report", metavar="OUT.pdf", help="write the report (PDF or HTML) to this file")
    p.add_argument("--operating-point", metavar="RULE", default=None,
                   help="a binary classifier's threshold: threshold=T (default 0.5), sensitivity=S, specificity=S "
                        "or youden")
    p.add_argument("--positive", metavar="CLASS", help="a binary classifier's positive class (default: its second)")
    p.add_argument("--subgroup", action="append", default=[], metavar="COLUMN",
                   help="split the metrics by a CSV column or DICOM keyword (PatientSex, Manufacturer...); repeatable")
    p.add_argument("--bootstrap", type=_non_negative, default=1000, metavar="N",
                   help="bootstrap resamples for the 95%% intervals (0: none; default 1000)")
    p.add_argument("--seed", type=_non_negative, default=0, help="the bootstrap's random seed (default 0)")
    session_args(p)
    p.add_argument("--no-history", action="store_true", help="do not keep these results in the history database")

    p = sub.add_parser("drift", help="compare inputs with a model's reference data: which features and predictions "
                                     "drifted (exit 0 none, 1 dataset drift, 2 bad input)")
    p.add_argument("model")
    p.add_argument("reference", nargs="?", metavar="REFERENCE",
                   help="a saved reference (.json, e.g. MODEL.reference.json), or a reference set to build one "
                        "from: a CSV file or an image folder, typically the validation data")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="the data to check: CSV files, images, folders")
    p.add_argument("--build", nargs="+", metavar="REFERENCE_SET",
                   help="only build the reference from these files or folders and save it as "
                        "<model>.reference.json beside the model")
    p.add_argument("--save-reference", action="store_true",
                   help="a REFERENCE built from a reference set: also save it as <model>.reference.json")
    p.add_argument("--json", action="store_true", help="print the drift report as JSON")
    p.add_argument("--profile", help="a profile JSON file to use instead of the model's own")
    p.add_argument("--seed", type=_non_negative, default=0,
                   help="the seed of the values a reference keeps per column above 5,000 (default 0)")
    session_args(p)
    p.add_argument("--no-history", action="store_true", help="do not keep these results (and the check) in the "
                                                             "history database")
    p = sub.add_parser("explain", help="explain one result: a saliency map (occlusion, RISE, D-RISE) or a CSV "
                                       "row's per-feature attributions (KernelSHAP)")
    p.add_argument("model")
    p.add_argument("input", metavar="INPUT", help="one image, DICOM or CSV file")
    p.add_argument("--profile", help="a profile JSON file to use instead of the model's own")
    p.add_argument("--method", choices=("auto", "occlusion", "rise", "drise", "kernelshap"), default="auto",
                   help="auto (default): KernelSHAP for a CSV, D-RISE for a detector, RISE for other images")
    p.add_argument("--target", metavar="CLASS", help="the class to explain: its index or label (default: the top one)")
    p.add_argument("--box", type=_non_negative, default=0, metavar="N",
                   help="a detector's box to explain: its number among the image's detections, best first (default 0)")
    p.add_argument("--row", type=_positive, default=1, metavar="N", help="a CSV's data row, from 1 (default 1)")
    p.add_argument("--reference", metavar="REF.csv",
                   help="KernelSHAP: the reference set the 'off' features are drawn from (default: INPUT itself)")
    p.add_argument("--n", type=_positive, metavar="N",
                   help="RISE/D-RISE masks (default 4000) or KernelSHAP coalitions (default 2048)")
    p.add_argument("--grid", type=_positive, help="RISE/D-RISE mask grid (default 7; D-RISE 16)")
    p.add_argument("--p", type=float, help="RISE/D-RISE probability that a grid cell is kept (default 0.5)")
    p.add_argument("--patch", type=_positive, help="occlusion patch side in model-input pixels (default 1/8 of the side)")
    p.add_argument("--stride", type=_positive, help="occlusion stride (default half the patch)")
    p.add_argument("--baseline", help="what covers or masks pixels: mean, blur or a pixel value (occlusion default "
                                      "mean, RISE 0)")
    p.add_argument("--seed", type=_non_negative, default=0, help="the random seed (default 0)")
    p.add_argument("--out", metavar="MAP.png|MAP.npy",
                   help="an image map: write it in the original image's pixels, as an 8-bit PNG (occlusion: 128 is "
                        "no change) or float32 .npy")
    p.add_argument("--check", action="store_true",
                   help="also run the sanity checks: the map on copies with randomised weights (rank correlation) "
                        "and, for image maps, the deletion and insertion AUC")
    p.add_argument("--json", action="store_true", help="print the explanation (and check) as JSON")
    session_args(p)

    p = sub.add_parser("resume", help="score what an interrupted run left undone")
    p.add_argument("run", help="the run's id (see 'inferdesk history')")
    p.add_argument("--format", choices=("jsonl", "csv"), default=None,
                   help="default: the run's own (a different one is noted)")
    p.add_argument("--out", help="append results to this file instead of standard output")
    p.add_argument("--top-k", type=_positive, default=None,
                   help="default: the run's own (another value is refused: one run, one shape of results)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="default: the cluster the run was scored on (local:N starts its workers again); 'none' "
                        "scores the rest on this machine")
    p.add_argument("--quiet", "-q", action="store_true")
    formula_guard_arg(p)
    include_phi_arg(p)

    p = sub.add_parser("history", help="list, export, rename or delete past runs")
    p.add_argument("action", nargs="?", choices=("list", "show", "export", "rename", "delete"), default="list")
    p.add_argument("run", nargs="?", help="a run id, or its first characters")
    p.add_argument("name", nargs="?", help="the new name, for rename")
    p.add_argument("--format", choices=FORMAT_CHOICES + ("masks",) + DICOM_FORMATS, default="jsonl",
                   help=FORMAT_HELP + "; a segmenter's: masks (--out FOLDER, new: one <stem>.png label map each, "
                                      "with legend.json); " + DICOM_FORMAT_HELP)
    p.add_argument("--out", help="export to this file (with a <file>.provenance.json beside it for csv, jsonl and "
                                 "coco; yolo, masks and dicom-*: a folder)")
    p.add_argument("--limit", type=_positive, default=50)
    p.add_argument("--json", action="store_true")
    formula_guard_arg(p)
    no_conf_arg(p)
    include_phi_arg(p)
    deid_args(p)

    p = sub.add_parser("review", help="accept, override or flag one result of a past run (kept in the audit trail)")
    p.add_argument("run", help="a run id, or its first characters")
    p.add_argument("number", type=_positive, nargs="?",
                   help="the result's number, from 1: the window's # column, the line of a jsonl export")
    p.add_argument("decision", nargs="?", choices=("accept", "override", "flag"))
    p.add_argument("answer", nargs="?", metavar="LABEL|VALUE", help="override: the correct label (or a regression's "
                                                                    "value)")
    p.add_argument("--reason", default="", help="why (free text)")
    p.add_argument("--json", action="store_true", help="without NUMBER: list the run's decisions as JSON")
    p = sub.add_parser("report", help="write a recorded run's report: a PDF or one HTML file")
    p.add_argument("run", help="the run's id, or its first characters (see 'inferdesk history')")
    p.add_argument("--out", required=True, metavar="PATH",
                   help="the report to write: PATH.pdf (A4, printable) or PATH.html (one self-contained file)")
    p.add_argument("--cases", type=_non_negative, default=10,
                   help="how many of the run's first results get a page of their own (default 10)")

    p = sub.add_parser("audit", help="check the audit trail of the history database")
    p.add_argument("action", choices=("verify",))

    p = sub.add_parser("bench", help="time session.run on a generated input")
    p.add_argument("model")
    p.add_argument("--profile")
    p.add_argument("--runs", type=_positive, default=100)
    p.add_argument("--warmup", type=_non_negative, default=10)
    p.add_argument("--batch", type=_positive, default=1, help="items per run (when the model allows)")
    session_args(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("providers", help="the execution providers this onnxruntime build offers, and with --model "
                                          "the one a session actually runs on")
    p.add_argument("--model", help="create a session of this model with --provider and say which provider runs it")
    p.add_argument("--provider", help="the provider to ask for, e.g. CUDAExecutionProvider or cuda")
    p.add_argument("--no-fallback", action="store_true",
                   help="exit 2 when --provider is not in this onnxruntime build or does not start")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("check-preprocessing",
                       help="compare what InferDesk feeds a model for an image with your own pipeline's tensor (.npy) "
                            "and find the preset or setting that matches it")
    p.add_argument("model")
    p.add_argument("image")
    p.add_argument("reference", metavar="REFERENCE.npy",
                   help="the tensor your training code made for IMAGE, with or without the batch axis")
    p.add_argument("--profile", help="a profile JSON file to use instead of the model's own")
    p.add_argument("--tolerance", type=_tolerance, default=None,
                   help="a match's largest difference, relative to the reference's range (max - min); default 1e-5")
    p.add_argument("--top", type=_positive, default=3, help="how many of the closest candidates to show")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("optimise", help="make an optimised variant of a model beside it: static or dynamic INT8, "
                                        "float16, or onnxruntime's offline graph optimisation")
    p.add_argument("model")
    p.add_argument("--method", required=True, choices=("static", "dynamic", "fp16", "graph"),
                   help="static: QDQ INT8 calibrated on your inputs; dynamic: INT8 weights (MatMul-style models); "
                        "fp16: float16 with float32 inputs and outputs; graph: optimised for this machine")
    p.add_argument("--calibrate", nargs="+", metavar="INPUT", default=[],
                   help="static: your own inputs to calibrate on (a folder of images or a CSV file)")
    p.add_argument("--calibration", choices=("minmax", "entropy", "percentile"), default="minmax",
                   help="static: how activation ranges are chosen (default minmax)")
    p.add_argument("--n-calibrate", type=_positive, default=200, metavar="N",
                   help="static: the most calibration items used (default 200)")
    p.add_argument("--keep-float", nargs="+", metavar="NODE", default=[],
                   help="static: nodes left in float (for detectors, the head's last nodes are suggested)")
    p.add_argument("--out", help="the variant's file (default MODEL's folder, <stem>.<method>.onnx)")
    p.add_argument("--profile", help="a profile JSON file to use instead of the model's own")
    p.add_argument("--json", action="store_true", help="print the variant and its note as JSON")

    p = sub.add_parser("compare", help="compare two models on the same inputs: agreement, output differences, "
                                       "latency and a verdict")
    p.add_argument("model_a", metavar="MODEL_A", help="the original")
    p.add_argument("model_b", metavar="MODEL_B", help="the candidate (a variant)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="images, folders or CSV files")
    p.add_argument("--bound", type=float, default=0.99,
                   help="the least top-1 (or box) agreement for a recommendation (default 0.99)")
    p.add_argument("--rounds", type=_positive, default=3, help="timed rounds over the inputs (default 3)")
    p.add_argument("--limit", type=_positive, default=None, metavar="N", help="compare on the first N items only")
    p.add_argument("--profile", help="a profile JSON file for both models instead of their own")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    session_args(p)

    p = sub.add_parser("serve", help="serve models over HTTP with the Open Inference Protocol (KServe v2, as "
                                     "Triton), plus /v2/models/NAME/score for an image or a CSV row")
    p.add_argument("models", nargs="+", metavar="MODEL")
    p.add_argument("--port", type=_non_negative, default=8000, help="the port (0: a free one; default 8000)")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (default 127.0.0.1, this machine only); any other needs "
                        "--token-file")
    p.add_argument("--token-file", metavar="F",
                   help="a file holding the bearer token every request must send (Authorization: Bearer ...)")
    p.add_argument("--name", action="append", metavar="NAME",
                   help="the name a model is served under (default: its file name without .onnx); once per "
                        "MODEL, in order")
    p.add_argument("--max-body", type=_positive, default=64, metavar="MB",
                   help="the largest request body in MiB (default 64); a larger one gets 413")
    p.add_argument("--no-history", action="store_true",
                   help="do not record the requests' results in the history (by default each model's answers "
                        "are one run, 'served NAME', in the history and the audit trail)")
    session_args(p)
    p.add_argument("--quiet", "-q", action="store_true", help="do not log each request on standard error")

    p = sub.add_parser("series", help="list the DICOM series in folders: modality, description, instances, frames, "
                                      "slice spacing, and which a profile's series rule chooses")
    p.add_argument("inputs", nargs="+", metavar="FOLDER")
    p.add_argument("--profile", help="a profile JSON file whose 'dicom' section chooses series and frames")
    p.add_argument("--model", help="a model whose own profile (embedded or beside it) chooses series and frames")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("gui", help="open the window (the default with no command)")
    p.add_argument("model", nargs="?")
    p.add_argument("inputs", nargs="*", metavar="INPUT")
    return parser


def versions() -> dict:
    import platform

    d = {"inferdesk": __version__, "python": platform.python_version()}
    try:
        import onnxruntime

        d["onnxruntime"] = onnxruntime.__version__
    except ImportError:  # pragma: no cover
        d["onnxruntime"] = "missing"
    return d


def cmd_info(args, out) -> int:
    from .engine import inspect_model, resolve_profile, writers
    from .engine.profile import describe_dicom
    from .engine.errors import ProfileError
    from .engine.model import human_size, model_warnings
    from .engine.session import available_providers

    info = inspect_model(args.model)
    runnable = _cannot_run(info)  # None, or why this onnxruntime refuses the model (an opset, a custom operator)
    profile = source = None
    problem = None
    try:
        profile, source = resolve_profile(args.model, info, explicit=args.profile)
    except ProfileError as exc:
        problem = str(exc)
    if args.json:
        d = info.to_dict()
        d["profile"] = profile.to_dict() if profile else None
        d["profile_source"] = source
        d["profile_error"] = problem
        d["profile_text"] = profile.describe() if profile else None
        # a preset's effective values (the profile itself keeps the name and the overrides only)
        d["profile_image_effective"] = profile.image.to_dict(expand=True) if profile and profile.image else None
        d["providers_available"] = available_providers()
        d["warnings"] = model_warnings(info, profile)
        d["runs"] = runnable is None
        d["run_error"] = runnable
        out.write(writers.dumps(d, indent=2) + "\n")  # the model's metadata: no control character reaches a terminal
        return 2 if problem or runnable else 0

    def w(line: str) -> None:
        """One line of the description; what the model file says is escaped (its metadata is anyone's text)."""
        out.write(_safe(line.rstrip("\n")) + "\n")
    w(f"Model       {info.file_name}  ({human_size(info.size_bytes)})\n")
    w(f"Path        {info.path}\n")
    w(f"SHA-256     {info.sha256}\n")
    w(f"Producer    {info.producer or 'unknown'} · IR version {info.ir_version} · opsets "
      + ", ".join(f"{d} {v}" for d, v in info.opsets.items()) + "\n")
    if info.description:
        w(f"About       {info.description}\n")
    for title, specs in (("Inputs", info.inputs), ("Outputs", info.outputs)):
        for i, s in enumerate(specs):
            w(f"{title if i == 0 else '':<12}{s.name}  {s.type}  {s.shape_text}\n")
    if info.labels:
        shown = ", ".join(info.labels[:12]) + (f", … ({len(info.labels)} in all)" if len(info.labels) > 12 else "")
        w(f"Labels      {shown}  (from metadata '{info.labels_source}')\n")
    if profile:
        w(f"Profile     {profile.describe()}  ({source})\n")
        w(f"Task        {profile.task}\n")
        if profile.table and profile.table.columns:
            cols = list(profile.table.columns)
            w(f"Columns     {', '.join(cols[:6])}{', …' if len(cols) > 6 else ''} ({len(cols)})\n")
        if profile.dicom is not None:
            w(f"DICOM       {describe_dicom(profile.dicom)}\n")
    if problem:
        w(f"Profile     PROBLEM: {problem}\n")
    other = {k: v for k, v in info.metadata.items() if k not in ("inferdesk.profile", info.labels_source, "description")}
    for k, v in other.items():
        v = v.replace("\n", " ")
        w(f"Metadata    {k}: {v[:100]}{'…' if len(v) > 100 else ''}\n")
    if info.external_data:
        w(f"Ext. data   {', '.join(info.external_data)}\n")
    w(f"Providers   {', '.join(available_providers())}\n")
    for i, warning in enumerate(model_warnings(info, profile)):
        w(f"{'Warning' if i == 0 else '':<12}{warning}\n")
    if runnable:
        w(f"Runs        NO: {runnable}\n")
    return 2 if problem or runnable else 0


def cmd_series(args, out) -> int:
    """List the DICOM series of the inputs, and which the profile's ``dicom`` section chooses."""
    from .engine import expand_inputs, inspect_model, load_profile, resolve_profile, writers
    from .engine.inputs.dicomseries import choose_for_profile, series_of

    profile = None
    if args.profile:
        profile = load_profile(args.profile)
    elif args.model:
        profile, _ = resolve_profile(args.model, inspect_model(args.model))
    items = expand_inputs(args.inputs)
    series = series_of(items)
    chosen_items, left = choose_for_profile(items, profile.dicom if profile else None)
    chosen = {id(s) for s in series_of(chosen_items)}
    frames = {}
    for item in chosen_items:
        if item.series is not None and item.kind != "invalid":
            frames[id(item.series)] = frames.get(id(item.series), 0) + 1
    others = [i for i in items if i.series is None]
    if args.json:
        rows = [{**s.to_dict(), "chosen": id(s) in chosen, "chosen_frames": frames.get(id(s), 0)} for s in series]
        other = [{"input": i.path, "kind": i.kind, "problem": i.problem} for i in others]
        out.write(writers.dumps({"series": rows, "other": other}, indent=2) + "\n")
        return 0 if series else 2
    if not series:
        out.write("No DICOM series found.\n")
    for n, s in enumerate(series, 1):
        mark = ("✓" if id(s) in chosen else "·") if profile is not None and profile.dicom is not None else " "
        size = f"{s.size[1]}×{s.size[0]}" if s.size else "?"
        scored = (f" · {frames.get(id(s), 0):,} scored" if profile is not None and profile.dicom is not None
                  and id(s) in chosen else "")
        out.write(_safe(f"{mark} {n:>3}  {s.label()} · {size} · ordered by {s.ordered_by}{scored}") + "\n")
        if s.problem:
            out.write(_safe(f"       warning: {s.problem}") + "\n")
        for bad in s.refused:
            out.write(_safe(f"       left out: {bad.problem}") + "\n")
    for s, reason in left:
        out.write(_safe(f"note: {s.short_name()} left out: it {reason}") + "\n")
    if others:
        problems = [i for i in others if i.problem]
        out.write(f"{len(others) - len(problems):,} other input(s); {len(problems):,} that cannot be scored"
                  + (f" (e.g. {_safe(problems[0].problem)})" if problems else "") + "\n")
    return 0 if series else 2


def _cannot_run(info) -> str | None:
    """Why onnxruntime cannot run the model (a session is made, without graph optimisation), or None."""
    from .engine.errors import ModelError
    from .engine.session import SessionSettings, create_session

    try:
        create_session(info.path, SessionSettings(threads=1, opt_level="disable"))
    except ModelError as exc:
        return str(exc)
    return None


def cmd_check_preprocessing(args, out) -> int:
    """0: the profile's tensor matches the reference within the tolerance; 1: it does not (the closest
    candidates are shown, with the change that gives each); 2: no check could be made."""

    from .engine import inspect_model, resolve_profile, writers
    from .engine.checkprep import DEFAULT_TOLERANCE, check_preprocessing, load_reference
    from .engine.errors import CheckError

    info = inspect_model(args.model)
    profile, source = resolve_profile(args.model, info, explicit=args.profile)
    if profile.image is None:
        raise CheckError(f"the profile for {info.file_name} has no image section ({profile.describe()}): "
                         "there is no image preprocessing to check")
    reference = load_reference(args.reference)
    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    report = check_preprocessing(args.image, profile.image, reference, tolerance=tolerance, top=args.top)
    code = 0 if report.matches else 1
    if args.json:
        d = {"model": info.file_name, "image": os.path.basename(args.image),
             "reference": os.path.basename(args.reference), "profile": profile.describe(), "profile_source": source,
             **report.to_dict()}
        out.write(writers.dumps(d, indent=2) + "\n")
        return code

    def w(line: str = "") -> None:
        out.write(_safe(line) + "\n")
    cur = report.current
    lo, hi = report.reference_range
    w(f"Reference   {os.path.basename(args.reference)}  {'×'.join(map(str, reference.shape))} {reference.dtype}, "
      f"values {lo:.6g} to {hi:.6g}")
    w(f"Image       {os.path.basename(args.image)}")
    w(f"Profile     {profile.describe()}  ({source})")
    w(f"Tolerance   max |diff| ≤ {report.threshold:.3g} ({report.tolerance:g} × the reference's range)")
    w(f"Difference  max {cur.max_abs:.6g}  mean {cur.mean_abs:.6g}  "
      f"({'MATCHES' if report.matches else 'does not match'})")
    w("Channels    " + " · ".join(f"{c} max {mx:.4g} mean {mn:.4g}" for c, mx, mn in cur.channels))
    if cur.bbox:
        x0, y0, x1, y1 = cur.bbox
        w(f"Where       {cur.over:,} of {cur.pixels:,} pixels over the tolerance, within x {x0}–{x1}, y {y0}–{y1}; "
          f"mean |diff| at the border {cur.border_mean:.4g}, inside {cur.interior_mean:.4g}")
        w("Grid        mean |diff| on a 4×4 grid, top row first:")
        for row in cur.grid:
            w("              " + "  ".join(f"{v:9.4g}" for v in row))
    else:
        w("Where       no pixel over the tolerance")
    w(f"Closest     of {report.tried} presets and variants tried:" if report.candidates else
      f"Closest     none of {report.tried} presets and variants gives a tensor of this shape other than this one")
    for i, c in enumerate(report.candidates, 1):
        w(f"  {i}. {c.label}: max {c.max_abs:.6g}  mean {c.mean_abs:.6g}{'  MATCHES' if c.matches else ''}")
        how = "replace the image section with" if "preset" in c.change.get("image", {}) else "merge into the profile"
        w(f"     {how}: {json.dumps(c.change)}")
        for label, change in c.also[:2]:  # the same tensor by another change (a preset, or one key)
            w(f"     or, the same tensor: {label}: {json.dumps(change)}")
    better = report.better
    if report.matches:
        w("Verdict     the profile matches the reference")
    elif better is not None:
        w(f"Verdict     the profile does not match; closer: {better.label}"
          + (" (matches)" if better.matches else " (still over the tolerance)"))
    else:
        w("Verdict     the profile does not match, and no preset or variant tried comes closer")
    return code


#: --format of score and history export: the writers' formats, and a detector's (desktop.engine.detwriters)
DETECTION_FORMATS = ("coco", "yolo")
FORMAT_CHOICES = ("jsonl", "csv", "json") + DETECTION_FORMATS
FORMAT_HELP = ("jsonl (default), csv, json; a detector's: coco (--out FILE.json, with FILE.images.json, the "
               "images and categories pycocotools' COCO() reads) or yolo (--out FOLDER: one <image stem>.txt each, "
               "'class cx cy w h conf' normalised, with classes.txt and data.yaml)")

#: history export's DICOM objects (desktop.runs.dicom_export), and the PS3.15 options' flags: (flag, DeidOptions field, what)
DICOM_FORMATS = ("dicom-seg", "dicom-sr", "dicom-sc")
DICOM_FORMAT_HELP = ("dicom-seg (a segmenter's masks as DICOM SEG, one per source series), dicom-sr (a TID 1500 "
                     "Structured Report per image: labels, values, areas, boxes), dicom-sc (a Secondary Capture per "
                     "image with the results drawn on it): --out FOLDER; de-identified by the PS3.15 Basic Profile "
                     "unless --include-phi")
DEID_FLAGS = (("--retain-dates", "retain_dates", "the dates and times (Retain Longitudinal Full Dates)"),
              ("--retain-device", "retain_device", "the device's identity: station, serial number (Retain Device "
                                                   "Identity)"),
              ("--retain-uids", "retain_uids", "the source's UIDs, so the objects join the study in the PACS (Retain "
                                               "UIDs)"),
              ("--retain-patient-characteristics", "retain_patient_characteristics",
               "the patient's sex, age, size and weight (Retain Patient Characteristics)"),
              ("--retain-institution", "retain_institution", "the institution's name and address (Retain Institution "
                                                             "Identity)"))

#: CSV inputs of at least this many bytes written to a file get a writing process (ProcessWriter),
#: started before the model loads; below it, a thread writes (the process would not pay for itself)
PROCESS_WRITER_BYTES = 8 << 20


#: delivery groups (desktop.engine.batch.group_batches): each is committed to the history database
#: before any of it is handed to the writer, so every result a user can see in the output is already
#: safe on disk, even if the process is killed; a CSV chunk is a group of its own
DELIVERY_INTERVAL_S = 0.05
DELIVERY_ITEMS = 512


def _table_columns(engine, items) -> str:
    """' · data.csv: pass-through patient_id; ignored notes' for each CSV input ('' when none)."""
    from .engine.errors import InputError
    from .engine.inputs import InputKind

    parts = []
    for item in items:
        if item.kind != InputKind.TABLE:
            continue
        try:
            reader = engine.table_reader(item.path)  # the profile's table.passthrough, as the run reads it
        except (InputError, OSError):
            continue  # the run reports it
        with reader:
            kept, ignored = reader.passthrough_columns, reader.ignored_columns
        said = [f"{what} {_names(cols)}" for what, cols in (("pass-through", kept), ("ignored", ignored)) if cols]
        if said:
            parts.append(f"{os.path.basename(item.path)}: {'; '.join(said)}")
    return _safe("".join(f" · {p}" for p in parts))


def _left_out_line(names) -> str:
    """The note an export without --include-phi gives when it withheld DICOM fields."""
    return (f"Left out patient-identifying DICOM fields: {_safe(', '.join(names))} "
            "(use --include-phi to keep them)")


def _names(cols: list, shown: int = 6) -> str:
    text = ", ".join(cols[:shown])
    return text + (f", … ({len(cols)} in all)" if len(cols) > shown else "")


def _early_writer(args, inputs):
    """A writing process started now, while the model loads, when the inputs are large CSV files; else None."""
    if not args.out or args.format in DETECTION_FORMATS:
        return None
    size = 0
    for path in inputs:
        try:
            if str(path).lower().endswith((".csv", ".tsv", ".txt")):
                size += os.path.getsize(path)
        except OSError:
            pass
    if size < PROCESS_WRITER_BYTES:
        return None
    from .engine import writers

    return writers.ProcessWriter.start()


def _check_out(args, engine, items, store=None) -> None:
    """Refuse an ``--out`` that is a file the run reads (an input, the model, its data or profile) or the history."""
    from .engine import writers

    detections = args.format in DETECTION_FORMATS
    if detections:
        from .engine import detwriters

        detwriters.check_task(engine.profile.task, args.format)  # a classifier's run is refused before it starts
        if not args.out:
            raise writers.OutputRefused(f"--format {args.format} writes "
                                        f"{'a file and its images list' if args.format == 'coco' else 'a folder'}: "
                                        "give --out")
    if getattr(args, "save_masks", None) and str(engine.profile.task) != "segmentation":
        raise writers.OutputRefused(f"--save-masks writes a segmenter's masks, and this model's task is "
                                    f"{engine.profile.task}")
    if not args.out:
        return
    reads = [item.path for item in items]
    if getattr(args, "profile", None):
        reads.append(args.profile)
    protect = store.path if store is not None else None
    if detections:
        detwriters.check_target(args.format, args.out, model=engine.info, inputs=reads, store=protect)
        return
    writers.check_output(args.out, model=engine.info, inputs=reads, store=protect)


def _inputs_folder(save_dir: str, recorder) -> str:
    """``DIR/<run id>`` (``DIR/<UTC time>`` without the history): the folder of this run's ``--save-inputs``.

    A folder of its own for each run, so that reusing DIR never writes over the files an
    earlier run's records point to (within it, batch.py never writes over a file either).
    """
    if recorder is not None:
        path = os.path.join(save_dir, recorder.run_id)
        os.makedirs(path, exist_ok=True)  # a resumed run adds to its own folder
        return path
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    k = 1
    while True:
        path = os.path.join(save_dir, stamp if k == 1 else f"{stamp}-{k}")
        try:
            os.makedirs(path)
            return path
        except FileExistsError:
            k += 1


def _score(engine, items, args, out, err, prov: dict, recorder=None, skip=None, label="", early=None,
           checked: bool = False, cluster=None) -> int:
    """Score items into the output (and the history); the summary and exit code of score and resume.

    Each delivery group is committed to the history and then handed to the output, with
    Ctrl+C and SIGTERM held until both are done, so the output ends exactly where the history
    ends whatever stops the run. ``--out`` is written under a temporary name and renamed into
    place when the run ends (it is left as it was when writing it failed). A resume (``skip``)
    into a file writes the run's stored results first: the file is the whole run.

    The run is recorded as finished; as cancelled after Ctrl+C (exit 130), SIGTERM (143), a
    closed pipe, an output that could not be written (2) or an error; or not at all when the
    history itself could not be written (2): it is then read as interrupted, and resumable.
    ``checked``: the caller has refused a bad ``--out`` already (:func:`_check_out`). ``cluster``: a
    :class:`~desktop.engine.cluster.Cluster` that scores the items instead of this process.
    """
    import numpy as np

    from .engine import writers
    from .engine.batch import group_batches, run_batches
    from .engine.decoders.classification import review_marks
    from .engine.errors import EngineError
    from .engine.store import StoreError

    if not checked:
        _check_out(args, engine, items, recorder.store if recorder is not None else None)
    total = sum(i.rows for i in items) - len(skip or ())
    if not args.quiet:
        where = f" · cluster {_safe(cluster.describe())}" if cluster is not None else ""
        err.write(f"inferdesk {__version__} · {_safe(engine.info.file_name)} · {engine.provider}{where} · "
                  f"profile {_safe(engine.profile_source)} · {total:,} item{'s' if total != 1 else ''}{_safe(label)}"
                  f"{_table_columns(engine, items)}\n")
        err.flush()
    whole = bool(args.out) and recorder is not None and skip is not None
    guard = not getattr(args, "no_formula_guard", False)
    options = writers.RecordOptions(include_phi=getattr(args, "include_phi", False))  # and what it left out
    delimiter = writers.delimiter_for(args.out) if args.out else ","
    detections = args.format in DETECTION_FORMATS  # a file and its images list, or a folder: written by detwriters
    target = writers.AtomicFile(args.out) if args.out and not detections else None
    fh = writer = groups = save = masks = det_out = None
    ok = failed = 0
    review = 0  # scored with the top score under the profile's review_below
    counts_review = getattr(engine.profile, "review_below", None) is not None
    latencies = []
    status = "cancelled"  # what the history records at the end; None: nothing, it could not be written
    stop = out_error = store_error = None
    t0 = time.perf_counter()

    def deliver(batches) -> None:
        nonlocal out_error
        for batch in batches:
            try:
                writer.write(batch)  # formatted and written on the writer's thread or process (it owns the file)
            except BaseException as exc:
                out_error = exc
                raise

    try:
        if getattr(args, "save_inputs", None):
            save = _inputs_folder(args.save_inputs, recorder)
        if getattr(args, "save_masks", None):
            masks = _inputs_folder(args.save_masks, recorder)
        if detections:
            from .engine import detwriters

            det_out = detwriters.open_export(args.format, args.out, prov, with_conf=not getattr(args, "no_conf", False))
            writer = writers.BackgroundWriter(det_out, det_out, name=args.out)
        elif early is not None:
            # a large run: the text is made in a process of its own, in parallel with parsing and scoring
            writer = early.open(args.format, target.temp, "w", prov, delimiter=delimiter, formula_guard=guard,
                                name=args.out, options=options)
        else:
            fh = target.open() if target is not None else _for_terminal(out)
            writer = writers.BackgroundWriter(
                writers.open_writer(args.format, fh, prov, delimiter=delimiter, formula_guard=guard,
                                    options=options), fh,
                name=args.out or "standard output")
        if whole:
            with closing(recorder.store.batches(recorder.run_id)) as stored:
                deliver(stored)  # what the run stored before, in run order, as 'history export' gives it
        if cluster is not None:
            from .engine.cluster import run_cluster_batches

            scored = run_cluster_batches(cluster, engine, items, top_k=args.top_k, skip=skip,
                                         hash_inputs=recorder is not None)
        else:
            scored = run_batches(engine, items, top_k=args.top_k, save_inputs=save, save_masks=masks,
                                 workers=getattr(args, "workers", None), skip=skip, hash_inputs=recorder is not None)
        groups = group_batches(scored, DELIVERY_INTERVAL_S, DELIVERY_ITEMS)
        # on Ctrl+C the group in progress still comes, committed and written, before the interrupt
        for group in groups:
            with _signals.held():
                if recorder is not None:
                    for batch in group:
                        recorder.add_batch(batch)
                    recorder.commit()  # on disk before any of it reaches the output; if not, none of it does
                deliver(group)
                for batch in group:
                    n_ok = batch.n_ok
                    ok += n_ok
                    failed += len(batch) - n_ok
                    if n_ok:
                        latencies.append(batch.total_ms[batch.ok])
                    if counts_review and "top_score" in batch.answer:
                        review += int(np.count_nonzero(batch.ok & review_marks(batch.answer, batch.meta)))
                    if n_ok < len(batch) and not args.quiet:
                        err.write("".join(f"failed: {_safe(batch.errors.get(i, 'not scored'))}\n"
                                          for i in np.flatnonzero(~batch.ok).tolist()))
        status = "finished"
    except StoreError as exc:
        store_error, status = exc, None
    except BaseException as exc:  # noqa: BLE001 - recorded, then reported or raised again below
        stop = exc
    with _signals.held():  # the end is recorded whole; a signal meanwhile is raised after it
        if groups is not None:
            groups.close()
        if writer is not None:
            try:
                writer.close()  # waits for the writer, which owns the file until then
            except BaseException as exc:  # noqa: BLE001 - reported below
                out_error = out_error or exc
        if fh is not None and target is not None:
            try:
                fh.close()
            except OSError as exc:
                out_error = out_error or exc
        if det_out is not None:
            if writer is None or out_error is not None:
                det_out.discard()  # the file or folder asked for keeps what it had
            else:
                try:
                    det_out.commit()
                except (OSError, EngineError) as exc:  # a folder that is no longer ours to replace
                    out_error = exc
        if target is not None:
            if writer is None or out_error is not None:
                target.discard()  # the file asked for keeps what it had
            else:
                try:
                    target.commit()
                    if target.regular and args.format != "json":
                        writers.write_sidecar(args.out, prov, args.format, writer.rows,
                                              getattr(writer, "columns", None))
                except OSError as exc:
                    out_error = exc
        if out_error is not None and status is not None:
            status = "cancelled"  # not all of it reached the output
        if recorder is not None and status is not None:
            try:
                recorder.finish(status)
            except StoreError as exc:
                store_error = store_error or exc
    n = ok + failed
    run_id = recorder.run_id if recorder is not None else None
    if store_error is not None:
        where = f"in {_safe(args.out)}" if args.out else "in the output"
        err.write(f"inferdesk: {_safe(store_error)} — the run stopped; the {n:,} results scored before are in "
                  f"the history and {where}"
                  + (f"; 'inferdesk resume {run_id}' scores the rest" if run_id else "") + "\n")
        return 2
    if isinstance(out_error, BrokenPipeError) or isinstance(stop, BrokenPipeError):
        raise out_error if isinstance(out_error, BrokenPipeError) else stop  # main: quiet, exit 1
    if out_error is not None:
        name = getattr(out_error, "filename", None) or args.out or "standard output"
        reason = getattr(out_error, "strerror", None) or out_error
        err.write(f"inferdesk: cannot write {_safe(name)}: {_safe(reason)}"
                  + (f"; {_safe(args.out)} is left as it was" if target is not None and target.regular else "")
                  + (f"; the {n:,} results scored are in the history (run {run_id}, cancelled): "
                     f"'inferdesk resume {run_id} --out FILE' writes the whole run" if run_id else "") + "\n")
        return 2
    if isinstance(stop, KeyboardInterrupt):
        how, code = _stopped_by(stop)
        kept = f", all of them in {_safe(args.out)}" if args.out else ""
        err.write(f"inferdesk: {how}: " + (f"run {run_id} recorded as cancelled with {n:,} results{kept}; "
                                           f"'inferdesk resume {run_id}' scores the rest" if run_id else
                                           f"{n:,} results scored{kept}") + "\n")
        return code
    if stop is not None:
        raise stop
    if not args.quiet:
        if latencies:
            p50, p95 = np.percentile(np.concatenate(latencies), (50, 95)).tolist()
        wall = time.perf_counter() - t0
        marked = (f" ({review:,} for review: top score under {engine.profile.review_below:g}, the profile's "
                  "review_below)") if counts_review else ""
        err.write(f"{ok:,} scored{marked}, {failed:,} failed in {wall:.2f} s"
                  + (f" · p50 {p50:.2f} ms, p95 {p95:.2f} ms per item" if latencies else "")
                  + (f" · results in {_safe(args.out)}" if args.out else "")
                  + (f" · inputs saved in {_safe(save)}" if save else "")
                  + (f" · masks saved in {_safe(masks)}" if masks else "")
                  + (f" · run {run_id} in the history" if run_id else "") + "\n")
        if options.left_out:
            err.write(_left_out_line(options.left_out) + "\n")
    if ok == 0 and failed == 0:
        err.write("inferdesk: nothing to score\n")
        return 1
    return 0 if failed == 0 else 1


def _open_store(args):
    from .engine.store import ResultStore

    return None if getattr(args, "no_history", False) else ResultStore()


def cmd_score(args, out, err) -> int:
    from .engine import Engine, SessionSettings, expand_inputs, writers

    started_at = writers.utc_now()
    early = _early_writer(args, args.inputs)
    try:
        return _start_and_score(args, out, err, started_at, early)
    finally:
        if early is not None:
            early.close()  # already closed after a run; this ends a child a failed start left waiting


def _dicom_chosen(engine, items, args, err):
    """The items with the DICOM series and frames the profile's ``dicom`` section leaves out taken away; each
    series' irregular spacing, and what was left out, said on standard error (unless --quiet)."""
    from .engine.inputs.dicomseries import choose_for_profile, series_notes

    chosen, left = choose_for_profile(items, engine.profile.dicom)
    if not getattr(args, "quiet", False):
        err.write("".join(f"note: {_safe(line)}\n" for line in series_notes(chosen, left)))
    return chosen


def _open_cluster(args, err):
    """The Dask cluster ``--cluster`` names, connected (its local workers started), or None without it.

    Refuses the options whose files a worker would write on its own machine (exit 2, via main).
    """
    from .engine.cluster import Cluster, parse_address
    from .engine.errors import EngineError

    text = getattr(args, "cluster", None)
    if not text or text.lower() == "none":
        return None
    spec = parse_address(text)
    for flag, given in (("--save-inputs", getattr(args, "save_inputs", None)),
                        ("--save-masks", getattr(args, "save_masks", None))):
        if given:
            raise EngineError(f"{flag} is not for a cluster run: each worker would write its files on its own "
                              "machine; score without --cluster, or export the run afterwards")
    if getattr(args, "workers", None) is not None and args.command == "score":
        raise EngineError("--workers sets this machine's decode threads; a cluster's workers each use their own "
                          "threads (dask worker --nthreads)")
    if not args.quiet:
        err.write(f"inferdesk: starting {spec.workers} local worker process{'es' if spec.workers != 1 else ''}\n"
                  if spec.local else f"inferdesk: connecting to the Dask scheduler at {_safe(spec.address)}\n")
        err.flush()
    return Cluster(spec)


def _start_and_score(args, out, err, started_at, early) -> int:
    from .engine import expand_inputs

    engine = _open_engine(args, err)
    items = _dicom_chosen(engine, expand_inputs(args.inputs), args, err)
    store = _open_store(args)
    cluster = None
    try:
        _check_out(args, engine, items, store)  # before the run is recorded and anything is written
        cluster = _open_cluster(args, err)
        return _record_and_score(args, out, err, started_at, early, engine, items, store, cluster)
    finally:
        if store:
            store.close()
        if cluster is not None:
            cluster.close()


def _record_and_score(args, out, err, started_at, early, engine, items, store, cluster) -> int:
    from .engine import writers

    # what may be wrong with the model (labels that are not its classes) is said even with --quiet
    err.write("".join(f"warning: {_safe(w)}\n" for w in engine.warnings))
    if store and not args.quiet:
        for run in store.unfinished()[:3]:
            err.write(f"note: run {run.id} ({_safe(run.model_name)}, {run.ok + run.failed:,} of {run.total:,} "
                      f"scored) was interrupted; 'inferdesk resume {run.id}' scores the rest\n")
    recorder = store.start_run(engine, args.inputs, total=sum(i.rows for i in items),
                               output={"format": args.format, "top_k": args.top_k, "out": args.out,
                                       "workers": args.workers, "save_inputs": args.save_inputs,
                                       **({"save_masks": args.save_masks} if args.save_masks else {}),
                                       **({"cluster": cluster.spec.text} if cluster is not None else {})}
                               ) if store else None
    if recorder is not None:
        prov = writers.run_provenance(store.run_metadata(recorder.run_id), "inferdesk score")
    else:
        prov = writers.engine_provenance(engine, started_at, "inferdesk score")
    return _score(engine, items, args, out, err, prov, recorder, early=early, checked=True, cluster=cluster)


def cmd_watch(args, out, err) -> int:
    """``watch MODEL FOLDER``: each new file scored once it is complete, written as it comes, until Ctrl+C.

    The run is one run in the history, recorded as finished when Ctrl+C or SIGTERM (or
    ``--max-items``) ends it: exit 0. Files an earlier watch of this model on this folder scored
    (the same path and SHA-256) are not scored again.
    """
    from .engine import writers
    from .engine.errors import EngineError
    from .runs.watch import Scored, WatchStarted, watch

    folder = os.path.abspath(args.folder)
    if args.out and (os.path.abspath(args.out) + os.sep).startswith(folder + os.sep):
        raise EngineError(f"--out {args.out} is inside the watched folder, where it would be scored; "
                          "write it somewhere else")
    if args.settle < 0:
        raise EngineError(f"--settle must be 0 or more seconds, not {args.settle:g}")
    engine = _open_engine(args, err)
    err.write("".join(f"warning: {_safe(w)}\n" for w in engine.warnings))
    started_at = writers.utc_now()
    fh = writer = None
    summary: dict = {}
    stopped = False
    # Ctrl+C and SIGTERM are held for the whole watch: the watch sees them between files and ends
    # the run as finished, with the file in progress committed and written
    try:
        with _signals.held():
            steps = watch(engine, folder, done_dir=args.done, failed_dir=args.failed, move=not args.copy,
                          settle_s=args.settle, poll=args.poll, record=not args.no_history, top_k=args.top_k,
                          max_items=args.max_items, should_stop=lambda: _signals.received is not None)
            try:
                while True:
                    try:
                        step = next(steps)
                    except StopIteration as end:
                        summary = end.value or {}
                        break
                    if isinstance(step, WatchStarted):
                        if step.run_id is not None:
                            from .engine.store import ResultStore

                            with ResultStore() as store:
                                prov = writers.run_provenance(store.run_metadata(step.run_id), "inferdesk watch")
                        else:
                            prov = writers.engine_provenance(engine, started_at, "inferdesk watch")
                        fh = open(args.out, "a", encoding="utf-8", newline="") if args.out else _for_terminal(out)
                        header = not (args.out and os.path.getsize(args.out) > 0)  # a CSV appended to keeps one header
                        writer = writers.open_writer(args.format, fh, prov, header=header)
                        if not args.quiet:
                            err.write(f"inferdesk {__version__} · {_safe(engine.info.file_name)} · {engine.provider} "
                                      f"· watching {_safe(folder)} (settle {args.settle:g} s"
                                      f"{', polling' if args.poll else ''})"
                                      f"{'' if step.run_id is None else ' · run ' + step.run_id}; Ctrl+C ends\n")
                            err.flush()
                    elif isinstance(step, Scored):
                        writer.write(step.batch)
                        fh.flush()
                        if not args.quiet:
                            name = _safe(os.path.basename(step.path))
                            if step.batch.n_ok == len(step.batch):
                                err.write(f"scored: {name}" + (f" -> {_safe(step.placed)}" if step.placed else "")
                                          + "\n")
                            else:
                                err.write("".join(f"failed: {_safe(m)}\n" for m in step.batch.errors.values())
                                          or f"failed: {name}\n")
                        err.write("".join(f"warning: {_safe(m)}\n" for m in step.problems))
                        err.flush()
            finally:
                steps.close()
                if writer is not None:
                    writer.close()
                if fh is not None and args.out:
                    fh.close()
    except KeyboardInterrupt:
        stopped = True  # held until the watch had ended and was recorded: a normal end
    if not args.quiet:
        err.write(f"{'stopped; ' if stopped else ''}{summary.get('scored', 0):,} file"
                  f"{'s' if summary.get('scored', 0) != 1 else ''} scored ({summary.get('ok', 0):,} ok, "
                  f"{summary.get('failed', 0):,} failed), {summary.get('skipped', 0):,} skipped as scored before"
                  + (f" · run {summary['run_id']}" if summary.get("run_id") else "") + "\n")
    return 0


def _ci_text(m: dict) -> str:
    ci = m.get("ci")
    if not ci or ci[0] is None or ci[1] is None:
        return "—"
    return f"{ci[0]:.3f}–{ci[1]:.3f}"


def _value_text(v) -> str:
    return "—" if v is None else f"{v:.3f}"


def evaluation_text(d: dict) -> str:
    """An evaluation (``Evaluation.to_dict()``) as the table ``inferdesk evaluate`` prints."""
    from .engine.validation import metric_title

    lines = [f"truth: {_safe(d['truth_source'])}",
             f"{d['n']:,} cases evaluated · {d['missing_truth']:,} without truth · {d['unmatched']['count']:,} with a "
             f"truth value that is no class · {d.get('failed', 0):,} failed to score"]
    op = d.get("operating_point")
    if op:
        how = op["method"] if op["target"] is None else f"{op['method']} {op['target']:g}"
        lines.append(f"positive class {_safe(op['positive'])} · threshold {op['threshold']:.4g} ({how})")
    if d["unmatched"]["values"]:
        lines.append("unmatched truth values (left out, not guessed): "
                     + ", ".join(_safe(v) for v in d["unmatched"]["values"][:20]))
    lines.append("")
    lines.append(f"{'metric':<24}{'class':<16}{'value':>8}  95% CI")
    for m in d["metrics"]:
        lines.append(f"{_safe(metric_title(m['name'])):<24}{_safe(m['label'] or ''):<16}{_value_text(m['value']):>8}  "
                     f"{_ci_text(m)}")
    for pc in d.get("per_class", []):
        for m in pc["metrics"]:
            if op and m["label"] == op["positive"] and m["name"] != "ap":
                continue  # shown above
            lines.append(f"{_safe(metric_title(m['name'])):<24}{_safe(m['label'] or ''):<16}"
                         f"{_value_text(m['value']):>8}  {_ci_text(m)}")
    conf = d.get("confusion")
    if conf:
        width = max(10, *(len(str(x)) + 2 for x in conf["labels"]))
        lines += ["", "confusion matrix (rows: truth, columns: predicted)",
                  " " * width + "".join(f"{_safe(x):>{width}}" for x in conf["labels"])]
        for name, row in zip(conf["labels"], conf["counts"]):
            lines.append(f"{_safe(name):<{width}}" + "".join(f"{c:>{width}}" for c in row))
    ba = d.get("bland_altman")
    if ba and ba["bias"] is not None:
        lo, hi = ba["loa"]
        lines.append(f"\nBland–Altman: bias {ba['bias']:.4g} (predicted − truth), limits of agreement "
                     f"{_value_text(lo)} to {_value_text(hi)}")
    for sg in d.get("subgroups", []):
        lines += ["", f"subgroups by {_safe(sg['column'])}"]
        for g in sg["groups"]:
            if g["too_few"]:
                lines.append(f"  {_safe(g['value'])}: n={g['n']:,}, too few cases to say anything")
                continue
            shown = [m for m in g["metrics"] if m["name"] in ("accuracy", "auc", "sensitivity", "specificity",
                                                                 "mae", "rmse", "r2")]
            lines.append(f"  {_safe(g['value'])}: n={g['n']:,} · " + " · ".join(
                f"{m['name']}{'' if not m['label'] else ' ' + _safe(m['label'])} {_value_text(m['value'])} "
                f"({_ci_text(m)})" for m in shown))
        if sg.get("without_value"):
            lines.append(f"  ({sg['without_value']:,} cases have no {_safe(sg['column'])})")
    return "\n".join(lines) + "\n"


def cmd_explain(args, out, err) -> int:
    """``explain MODEL INPUT``: one explanation (and with ``--check`` its sanity checks), printed or as JSON."""
    from .engine.inputs import InputKind, kind_of
    from .runs.explain import check_explanation, explain_result, run_to_end

    engine = _open_engine(args, err)
    err.write("".join(f"warning: {_safe(w)}\n" for w in engine.warnings))
    table = kind_of(args.input) == InputKind.TABLE
    method = args.method
    if method == "auto":
        method = "kernelshap" if table else ("drise" if str(getattr(engine.profile.task, "value", "")) == "detection"
                                              else "rise")
    if table != (method == "kernelshap"):
        err.write(f"inferdesk: {method} explains {'an image' if method != 'kernelshap' else 'a CSV row'}; "
                  f"{_safe(args.input)} is {'a table' if table else 'not a CSV file'}\n")
        return 2
    params: dict = {"seed": args.seed}
    if args.target is not None:
        params["target"] = int(args.target) if args.target.lstrip("-").isdigit() else args.target
    if method == "kernelshap":
        params.update(row=args.row, reference_rows=args.reference or args.input)
        if args.n:
            params["n_samples"] = args.n
    else:
        if method in ("rise", "drise"):
            params.update({k: v for k, v in (("n", args.n), ("grid", args.grid), ("p", args.p)) if v is not None})
        elif method == "occlusion":
            params.pop("seed")
            params.update({k: v for k, v in (("patch", args.patch), ("stride", args.stride)) if v is not None})
        if args.baseline is not None:
            params["baseline"] = args.baseline
        if str(getattr(engine.profile.task, "value", "")) == "detection":
            params["box"] = args.box
            params.pop("target", None)

    def tick(done, total):
        if err.isatty():
            err.write(f"\r{done:,} of {total:,}")
            if done == total:
                err.write("\n")

    explanation = run_to_end(explain_result(engine, args.input, method, params), tick)
    check = run_to_end(check_explanation(engine, explanation, {"seed": args.seed}), tick) if args.check else None
    if args.out and method != "kernelshap":
        _write_map(explanation, args.out)
        err.write(f"map written to {_safe(args.out)}\n")
    if args.json:
        d = explanation.to_dict()
        if check is not None:
            d["check"] = check
        out.write(json.dumps(d, indent=2, allow_nan=False) + "\n")
        return 0
    t = explanation.target
    out.write(f"{_safe(engine.info.file_name)} · {explanation.method} · {_safe(args.input)}"
              + (f" row {explanation.row}" if method == "kernelshap" else "")
              + f" · target {_safe(t['label'])} ({t['index']})" + (f" box {t['box']}" if "box" in t else "")
              + f" · {explanation.elapsed_s:.1f} s\n")
    if method == "kernelshap":
        out.write(f"base value {explanation.base_value:.4g} → prediction {explanation.prediction:.4g}\n")
        width = max(len(str(n)) for n, _, _ in explanation.features)
        for name, value, a in explanation.features:
            shown = value if isinstance(value, str) else f"{value:.4g}"
            out.write(f"  {_safe(name):<{width}}  {a:+.4g}  (value {_safe(shown)})\n")
    else:
        m = explanation.map
        y, x = divmod(int(m.argmax()), m.shape[1])
        out.write(f"map {m.shape[1]}×{m.shape[0]} · {'signed score drop' if explanation.signed else '0 to 1'} · "
                  f"highest at x {x}, y {y}\n")
    if check is not None:
        rhos = ", ".join(f"{s['layers']}: {'—' if s['rho'] is None else format(s['rho'], '.2f')}"
                         for s in check["rank_correlation"])
        out.write(f"rank correlation with layers randomised ({rhos})\n")
        if "deletion_auc" in check:
            out.write(f"deletion AUC {check['deletion_auc']:.3f} · insertion AUC {check['insertion_auc']:.3f}\n")
        out.write(check["verdict"] + "\n")
    return 0


def _write_map(explanation, path: str) -> None:
    """An image map as float32 .npy, or an 8-bit grey PNG (0..1 -> 0..255; a signed map: 128 ± its largest |value|)."""
    import numpy as np

    m = explanation.map
    if path.lower().endswith(".npy"):
        np.save(path, m.astype(np.float32))
        return
    from PIL import Image

    if explanation.signed:
        scale = float(np.abs(m).max()) or 1.0
        a = 127.5 + 127.5 * (m / scale)
    else:
        a = 255.0 * m
    Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L").save(path, format="PNG")


def cmd_evaluate(args, out, err) -> int:
    """``evaluate MODEL INPUT... --truth``: score with every class's score, measure against the truth, print it."""
    from .engine import expand_inputs
    from .engine.validation import TruthError, load_truth, parse_operating_point
    from .runs.validation import evaluate_inputs, report_context, score_for_evaluation

    try:
        op = parse_operating_point(args.operating_point) if args.operating_point else None
    except ValueError as exc:
        err.write(f"inferdesk: {_safe(exc)}\n")
        return 2
    write_report = None
    if args.report:
        try:
            from .report import write_report
        except ImportError:
            err.write("inferdesk: the report needs desktop.report, which this installation does not have\n")
            return 2
    engine = _open_engine(args, err)
    task = str(getattr(engine.profile.task, "value", engine.profile.task))
    if task not in ("classification", "regression", "detection", "segmentation"):
        err.write(f"inferdesk: {_safe(engine.info.file_name)} is a {task} model: evaluate checks classifiers, "
                  "regressors, detectors and segmenters\n")
        return 2
    load_truth(args.truth, args.inputs, task=task)  # a bad --truth is refused before anything is scored (exit 2)
    items = expand_inputs(args.inputs)
    err.write("".join(f"warning: {_safe(w)}\n" for w in engine.warnings))
    store = _open_store(args)
    recorder = None
    try:
        k = max(len(engine.profile.labels), 5)
        if store:
            recorder = store.start_run(engine, args.inputs, total=sum(i.rows for i in items),
                                       output={"format": "jsonl", "top_k": k, "out": None})
        batches = score_for_evaluation(engine, items, recorder=recorder)
        if recorder is not None:
            recorder.finish("finished")
        evaluation = evaluate_inputs(engine, args.inputs, args.truth, operating_point=op, subgroups=args.subgroup,
                                     n_boot=args.bootstrap, seed=args.seed, positive=args.positive, batches=batches)
    except TruthError:
        if recorder is not None and not recorder.finished:
            recorder.finish("cancelled")
        raise
    finally:
        if store:
            store.close()
    run_id = recorder.run_id if recorder is not None else None
    d = evaluation.to_dict()
    d["run_id"] = run_id
    if args.json:
        out.write(json.dumps(d, indent=2, allow_nan=False) + "\n")
    else:
        out.write(f"{_safe(engine.info.file_name)} · {engine.provider} · profile {_safe(engine.profile_source)}"
                  + (f" · run {run_id} in the history" if run_id else "") + "\n")
        out.write(evaluation_text(d))
    if write_report is not None:
        context = report_context(evaluation, engine, run_id)
        write_report(args.report, context)
        err.write(f"report written to {_safe(args.report)}\n")
    return 0


def _g(v, spec: str = ".3g") -> str:
    return "-" if v is None else format(v, spec)


def drift_text(d: dict) -> str:
    """A drift report (``DriftReport.to_dict()``) as the command line prints it."""
    lines = []
    rows = [(c["name"], c) for c in d["columns"]] + [(f"prediction: {n}", c) for n, c in d["prediction"].items()]
    width = max([len("column")] + [len(_safe(n)) for n, _ in rows])
    lines.append(f"{'column':<{width}}  {'test':<13} {'statistic':>9} {'threshold':>9} {'p':>9} {'PSI':>7}  "
                 f"{'state':<8} n ref/cur")
    for name, c in rows:
        lines.append(f"{_safe(name):<{width}}  {c['test']:<13} {_g(c['statistic']):>9} {_g(c['threshold']):>9} "
                     f"{_g(c['p_value']):>9} {_g(c['psi'], '.3f'):>7}  {c['state']:<8} "
                     f"{c['n_reference']:,}/{c['n_current']:,}")
    n_out = d.get("n_outside_rows", len(d["outside_range"]))
    if n_out:
        shown = len(d["outside_range"])
        lines.append(f"outside the reference's range: {n_out:,} row{'s' if n_out != 1 else ''} or image"
                     f"{'s' if n_out != 1 else ''}" + (f" (the first {shown} listed)" if shown < n_out else ""))
        for o in d["outside_range"]:
            where = os.path.basename(o["input"]) + (f" row {o['row']}" if o["row"] is not None else "")
            lines.append(f"  {_safe(where)}: {_safe(', '.join(o['columns']))}")
    for m in d.get("missing", []):
        lines.append(f"not read: {_safe(m['why'])}")
    n_cols = len(d["columns"])
    drifted = sum(1 for c in d["columns"] if c["state"] == "drifted")
    lines.append(f"dataset drift: {'yes' if d['dataset_drift'] else 'no'} ({drifted} of {n_cols} column"
                 f"{'s' if n_cols != 1 else ''} drifted, {d['share_drifted']:.0%}; drift is reported from half)")
    return "\n".join(lines) + "\n"


def cmd_drift(args, out, err) -> int:
    """``drift MODEL REFERENCE INPUT...``: compare inputs with a reference; ``drift MODEL --build SET``: save one.

    Exit 0: checked, no dataset drift; 1: dataset drift (at least half the columns drifted); 2: bad input.
    """
    from .engine import expand_inputs
    from .engine.drift import build_reference, default_reference_path
    from .runs.drift import drift_of_inputs, is_reference_file, resolve_reference

    if args.build and (args.reference or args.inputs):
        err.write("inferdesk: drift --build takes only the model and the reference set: "
                  "inferdesk drift MODEL --build REFERENCE_SET...\n")
        return 2
    if not args.build and (not args.reference or not args.inputs):
        err.write("inferdesk: drift needs a reference and the inputs to check: inferdesk drift MODEL REFERENCE "
                  "INPUT... (or inferdesk drift MODEL --build REFERENCE_SET to save a reference)\n")
        return 2
    engine = _open_engine(args, err)
    err.write("".join(f"warning: {_safe(w)}\n" for w in engine.warnings))
    target = default_reference_path(engine.info.path)
    if args.build:
        ref = build_reference(engine, args.build, seed=args.seed)
        sha = ref.save(target)
        err.write(f"reference of {ref.n:,} {'rows' if ref.kind == 'table' else 'images'} "
                  f"({len(ref.columns)} columns) written to {_safe(target)} (SHA-256 {sha[:12]}…)\n")
        return 0
    ref = resolve_reference(engine, args.reference, seed=args.seed)
    if args.save_reference:
        if is_reference_file(args.reference):
            err.write(f"note: {_safe(os.path.basename(args.reference))} is a saved reference already; "
                      "--save-reference writes nothing\n")
        else:
            ref.save(target)
            err.write(f"reference written to {_safe(target)}\n")
    err.write("".join(f"warning: {_safe(w)}\n" for w in ref.warnings))
    items = expand_inputs(args.inputs)
    store = _open_store(args)
    recorder = None
    try:
        if store:
            recorder = store.start_run(engine, args.inputs, total=sum(i.rows for i in items),
                                       output={"format": "jsonl", "top_k": 1, "out": None})
        from .engine import run_batches

        batches = []
        for batch in run_batches(engine, items, top_k=1, hash_inputs=recorder is not None):
            if recorder is not None:
                recorder.add_batch(batch)
                recorder.commit()
            if len(batch):
                batches.append(batch)
        if recorder is not None:
            recorder.finish("finished")
        report = drift_of_inputs(engine, ref, items, batches=batches)
        if recorder is not None:
            store.note_drift(recorder.run_id, ref.path or args.reference, ref.sha256, report.summary())
    finally:
        if store:
            if recorder is not None and not recorder.finished:
                recorder.finish("cancelled")
            store.close()
    run_id = recorder.run_id if recorder is not None else None
    d = report.to_dict()
    d["run_id"] = run_id
    if args.json:
        out.write(json.dumps(d, indent=2, allow_nan=False) + "\n")
    else:
        out.write(f"{_safe(engine.info.file_name)} · reference {_safe(os.path.basename(str(d['reference']['path'])))}"
                  f" ({d['n_reference']:,}, SHA-256 {str(d['reference']['sha256'])[:12]}…) · {d['n_current']:,} "
                  "checked" + (f" · run {run_id} in the history" if run_id else "") + "\n")
        out.write(drift_text(d))
    return 1 if report.dataset_drift else 0


def cmd_resume(args, out, err) -> int:
    """``resume RUN``: the run's model as recorded scores what it left undone (refusals exit 2, via main)."""
    from .engine import writers
    from .engine.store import ResultStore
    from .runs.history import prepare_resume, resume_output

    plan = prepare_resume(args.run)
    # the run's own output settings, unless given; a --top-k other than the run's is refused (exit 2)
    output = resume_output(plan.meta, top_k=args.top_k, fmt=args.format, out=args.out)
    args.format, args.top_k, args.workers, args.save_inputs = (output.format, output.top_k, output.workers,
                                                               output.save_inputs)
    args.save_masks = output.save_masks  # a resumed run adds to its own DIR/<run id>
    err.write("".join(f"warning: {_safe(w)}\n" for w in plan.warnings))  # with --quiet too, as score does
    if not args.quiet:
        err.write("".join(f"note: {_safe(n)}\n" for n in output.notes))
    if args.cluster is None:
        args.cluster = output.cluster  # the cluster it was scored on: local:N starts its workers again
    store = ResultStore()
    cluster = None
    try:
        _check_out(args, plan.engine, plan.items, store)  # before the run is taken up: a refusal leaves it as it was
        cluster = _open_cluster(args, err)
        recorder = store.resume_run(plan.run.id)
        prov = writers.run_provenance(plan.meta, "inferdesk resume")
        return _score(plan.engine, plan.items, args, out, err, prov, recorder, skip=plan.done, checked=True,
                      label=f" left of run {plan.run.id} ({len(plan.done):,} already scored)", cluster=cluster)
    finally:
        store.close()
        if cluster is not None:
            cluster.close()


def cmd_history(args, out, err) -> int:
    from .runs import history

    if args.action in (None, "list"):
        runs = history.list_runs(args.limit)
        if args.json:
            out.write(json.dumps([r.to_dict() for r in runs], indent=2) + "\n")
            return 0
        if not runs:
            out.write(f"No runs yet. Results are kept in {_safe(history.default_store_path())}\n")
            return 0
        out.write(f"{'run':<12}  {'started (UTC)':<19}  {'status':<11}  {'ok':>7}  {'failed':>6}  model / name\n")
        for r in runs:  # a name or a model file name is anyone's text: one row each, nothing for the terminal
            out.write(f"{_safe(r.id):<12}  {_safe(r.started_at[:19].replace('T', ' ')):<19}  {_safe(r.status):<11}  "
                      f"{r.ok:>7,}  {r.failed:>6,}  {_safe(r.title)}\n")
        return 0
    if not args.run:
        err.write(f"inferdesk: 'history {args.action}' needs a run id (see 'inferdesk history')\n")
        return 2
    if args.action == "show":
        from .engine.writers import dumps

        out.write(dumps(history.show_run(args.run), indent=2) + "\n")  # every control character escaped
        return 0
    if args.action == "export" and args.format in DICOM_FORMATS:
        return _history_export_dicom(args, err)
    if args.action == "export":
        if args.format == "masks" and not args.out:
            err.write("inferdesk: --format masks writes a folder: give --out\n")
            return 2
        done = history.export_run(args.run, args.out or _for_terminal(out), fmt=args.format,
                                  exported_by="inferdesk history export", formula_guard=not args.no_formula_guard,
                                  with_conf=not args.no_conf, include_phi=args.include_phi)
        if done.left_out:
            err.write(_left_out_line(done.left_out) + "\n")
        return 0
    if args.action == "rename":
        history.rename_run(args.run, args.name or "")  # an empty name is refused: exit 2, via main
        return 0
    if args.action == "delete":
        run = history.delete_run(args.run)
        err.write(f"deleted run {_safe(run.id)} ({run.ok + run.failed:,} results); the audit trail records it\n")
        return 0
    return 2


def _history_export_dicom(args, err) -> int:
    """``history export RUN --format dicom-*``: one line per item skipped or warned of, then what was written;
    exit 0 when an object was written, 2 when none could be."""
    from .engine.dicom_deid import DeidOptions
    from .runs.dicom_export import export_dicom, summary

    if not args.out:
        err.write(f"inferdesk: --format {args.format} writes a folder: give --out\n")
        return 2
    options = DeidOptions(**{field: getattr(args, field) for _, field, _ in DEID_FLAGS})
    done = export_dicom(args.run, args.out, args.format, options=options, include_phi=args.include_phi,
                        exported_by="inferdesk history export")
    for line in summary(done):
        err.write(_safe(line) + "\n")
    return 0 if done.written else 2


def cmd_review(args, out, err) -> int:
    """``review RUN NUMBER DECISION [LABEL|VALUE] [--reason]``; ``review RUN`` lists the run's current decisions."""
    from .runs import review

    if args.number is None:
        current = review.decisions(args.run)
        if args.json:
            out.write(json.dumps([{"number": i + 1, **d.to_dict()} for i, d in sorted(current.items())], indent=2)
                      + "\n")
            return 0
        if not current:
            out.write("No result of this run has been reviewed\n")
        for i, d in sorted(current.items()):
            out.write(f"{i + 1:>7,}  {_safe(review.decision_text(d))}\n")
        return 0
    if args.decision is None:
        err.write("inferdesk: 'review RUN NUMBER' needs a decision: accept, override LABEL or flag\n")
        return 2
    if args.decision != "override" and args.answer is not None:
        err.write(f"inferdesk: only an override takes a label or value ('{_safe(args.answer)}' given with "
                  f"{args.decision})\n")
        return 2
    from .runs.history import show_run

    n = show_run(args.run)["summary"]
    n = n["ok"] + n["failed"]
    if args.number > n:
        err.write(f"inferdesk: run {_safe(args.run)} has {n:,} result{'s' if n != 1 else ''}: NUMBER is "
                  + (f"1 to {n:,}\n" if n else "none of them\n"))
        return 2
    label, value = review.answer_of(args.run, args.answer) if args.answer is not None else (None, None)
    d = review.decide(args.run, args.number - 1, args.decision, label=label, value=value, reason=args.reason)
    err.write(f"result {args.number:,} of run {_safe(d.run_id)}: {_safe(review.decision_text(d))}\n")
    return 0


def cmd_report(args, out, err) -> int:
    """``report RUN --out PATH``: the run's model card, profile, environment, latency, audit head and first cases."""
    suffix = os.path.splitext(args.out)[1].lower()
    if suffix not in (".pdf", ".html", ".htm"):
        err.write(f"inferdesk: --out must end in .pdf or .html, not '{_safe(suffix or args.out)}'\n")
        return 2
    from .report import write_report  # QtGui: imported only when a report is written
    from .runs.report_context import build_context

    context = build_context(run_id=args.run, case_limit=args.cases)
    path = write_report(args.out, context)
    err.write(f"wrote the report of run {_safe(context['run_id'])} to {_safe(path)}\n")
    return 0


def cmd_audit(args, out, err) -> int:
    """``audit verify``: 0 intact, 1 broken, damaged or missing; a newer store's message exits 2 (via main)."""
    from .runs.history import verify

    report = verify()
    out.write("\n".join(_safe(line) for line in report.text().split("\n")) + "\n")
    for warning in report.warnings:
        err.write(f"warning: {_safe(warning)}\n")
    return 0 if report.ok else 1


def cmd_bench(args, out, err) -> int:
    from .engine.bench import bench

    engine = _open_engine(args, err)
    report = bench(engine, runs=args.runs, warmup=args.warmup, batch=args.batch)
    if args.json:
        out.write(json.dumps(report.to_dict(), indent=2) + "\n")
        return 0
    d = report.to_dict()
    out.write(f"{_safe(engine.info.file_name)} · {engine.provider} · threads {args.threads or 'auto'} · "
              f"opt {args.opt_level} · input {d['input_shape']} · {args.runs} runs after {args.warmup} warm-up\n")
    out.write("  ".join(f"{k} {d[k]:.3f} ms" for k in ("p50", "p90", "p95", "p99", "mean")) + "\n")
    out.write(f"throughput {d['throughput']:.1f} items/s\n")
    return 0


def _open_engine(args, err):
    """The Engine for a command's model, profile and session options (``--provider``, ``--no-fallback``...).

    When the session runs on another provider than ``--provider`` asked for, one ``note:`` line on
    standard error says so (with ``--no-fallback`` the Engine refuses instead: ModelError, exit 2).
    """
    from .engine import Engine, SessionSettings

    settings = SessionSettings(args.provider, args.threads, args.opt_level, no_fallback=args.no_fallback)
    engine = Engine(args.model, profile=args.profile, settings=settings)
    if engine.fallback is not None:
        err.write(f"note: {_safe(engine.fallback)} (--no-fallback refuses instead)\n")
    return engine


def cmd_serve(args, out, err) -> int:
    """``serve``: a KServe v2 server for the models until Ctrl+C (exit 0); 2 when it cannot start."""
    from .engine import Engine, SessionSettings
    from .engine.errors import EngineError
    from .engine.serve import MiB
    from .runs.serve import start_serving, stop_serving

    names = args.name or []
    if len(names) > len(args.models):
        raise EngineError(f"{len(names)} --name for {len(args.models)} model(s): give one per MODEL, in order")
    token = None
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as fh:
            token = fh.read().strip()
        if not token:
            raise EngineError(f"the token file is empty: {args.token_file}")
    # a server decodes nothing ahead of inference: left automatic, onnxruntime gets every core (a scoring run's
    # automatic count leaves cores to its decode threads; benchmarks/serve.py, the CNN, one client)
    threads = args.threads or (os.cpu_count() or 1)
    settings = SessionSettings(args.provider, threads, args.opt_level, no_fallback=args.no_fallback)
    engines = {}
    for i, path in enumerate(args.models):
        name = names[i] if i < len(names) else os.path.splitext(os.path.basename(path))[0]
        if not name or "/" in name:
            raise EngineError(f"a model's name cannot be empty or hold '/': {name!r}")
        if name in engines:
            raise EngineError(f"two models would be served as '{name}'; give each a --name")
        engine = Engine(path, settings=settings)
        if engine.fallback is not None:
            err.write(f"note: {_safe(engine.fallback)} (--no-fallback refuses instead)\n")
        engines[name] = engine
    log = None if args.quiet else (lambda line: (err.write(_safe(line) + "\n"), err.flush()))
    server, history = start_serving(engines, host=args.host, port=args.port, token=token,
                                    max_body=args.max_body * MiB, log=log, record=not args.no_history)
    try:
        first = next(iter(engines))
        auth = " -H 'Authorization: Bearer <token>'" if token else ""
        out.write(f"serving {', '.join(_safe(n) for n in engines)} at {server.url} (KServe v2); Ctrl+C stops\n"
                  f"  curl{auth} {server.url}/v2/models/{_safe(first)}\n"
                  f"  curl{auth} --data-binary @image.png {server.url}/v2/models/{_safe(first)}/score\n")
        out.flush()
        stop = threading.Event()
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        err.write("inferdesk: server stopped\n")
    finally:
        stop_serving(server, history)
    if history is not None:
        snap = server.stats.snapshot()
        runs = ", ".join(f"{_safe(name)}: run {run_id}" for name, run_id in history.run_ids.items())
        err.write(f"{snap['requests']:,} request(s) answered, {snap['failed']:,} refused; "
                  f"{history.recorded:,} result(s) recorded" + (f" ({runs})" if runs else "") + "\n")
        if history.error:
            err.write(f"warning: {_safe(history.error)}\n")
    return 0


def cmd_providers(args, out) -> int:
    """``providers``: what this onnxruntime build offers and, with ``--model``, where a session of it runs.

    Exit 0; 2 (a ModelError) for a provider onnxruntime does not know, a model it cannot load, or
    with ``--no-fallback`` a provider this build lacks or that does not start.
    """
    from .engine.session import SessionSettings, build_info, canonical_provider, open_session, resolve_provider

    d = build_info()
    d["requested"] = canonical_provider(args.provider) if args.provider else None
    d["model"] = d["ran"] = d["fallback"] = None
    if args.model:
        settings = SessionSettings(args.provider, threads=1, no_fallback=args.no_fallback)
        session, fallback = open_session(args.model, settings)
        d["model"] = os.path.basename(args.model)
        d["ran"] = session.get_providers()[0]
        d["fallback"] = str(fallback) if fallback else None
    elif args.provider:
        resolve_provider(args.provider, args.no_fallback)  # an unknown name, or a missing one with --no-fallback
    if args.json:
        out.write(json.dumps(d, indent=2) + "\n")
        return 0
    out.write(f"onnxruntime {d['onnxruntime']} · package {d['package']} · device {d['device']}\n")
    out.write(f"Available   {', '.join(d['providers'])}\n")
    if len(d["packages"]) > 1:
        out.write(f"Warning     {' and '.join(d['packages'])} are both installed; they share one module and break "
                  "each other: keep one (README, Execution providers)\n")
    if d["requested"]:
        out.write(f"Requested   {d['requested']}\n")
    if d["model"]:
        out.write(f"Ran         {d['ran']}  ({_safe(d['model'])})\n")
    if d["fallback"]:
        out.write(f"Fallback    {_safe(d['fallback'])}\n")
    return 0


def cmd_optimise(args, out, err) -> int:
    """``optimise MODEL --method static|dynamic|fp16|graph``: write a variant beside the model. Exit 0 made, 2 bad input."""
    from .engine import Engine
    from .engine.optimise import suggest_keep_float
    from .runs.optimise import make_variant_steps, run_steps

    if args.method == "static" and not args.calibrate:
        err.write("inferdesk: static quantization needs calibration inputs (--calibrate FOLDER|CSV)\n")
        return 2
    if args.method != "static" and (args.calibrate or args.keep_float):
        err.write(f"inferdesk: --calibrate and --keep-float are for --method static, not {args.method}\n")
        return 2
    engine = Engine(args.model, profile=args.profile)
    if args.method == "static" and not args.keep_float and engine.profile.task == "detection":
        suggested = suggest_keep_float(engine.model_path)
        if suggested:
            err.write(f"note: for a detector, keeping the head's last nodes in float usually keeps the boxes: "
                      f"--keep-float {' '.join(_safe(n) for n in suggested[:12])}\n")
    variant = run_steps(make_variant_steps(engine, args.method, calibrate=args.calibrate,
                                           n_calibrate=args.n_calibrate, calibration=args.calibration,
                                           keep_float=args.keep_float, out=args.out))
    if args.json:
        out.write(json.dumps(variant.to_dict(), indent=2) + "\n")
    else:
        out.write(f"{_safe(variant.path)} written ({os.path.getsize(variant.path):,} bytes), profile "
                  f"{_safe(os.path.basename(variant.profile_path))}\n")
        n = variant.note
        if args.method == "static":
            out.write(f"calibrated on {n['n_calibration']:,} items ({n['calibration']}, per-channel "
                      f"{'on' if n['per_channel'] else 'off'}), set SHA-256 {n['calibration_set_sha256'][:12]}…\n")
    err.write("".join(f"warning: {_safe(w)}\n" for w in variant.warnings))
    return 0


def comparison_text(d: dict) -> str:
    """The comparison as a table of the two models and the verdict (``compare`` without --json)."""
    a, b = d["a"], d["b"]
    rows = [("model", a["name"], b["name"]), ("size", f"{a['size_bytes'] / 1e6:.2f} MB", f"{b['size_bytes'] / 1e6:.2f} MB"),
            ("load", f"{a['load_s'] * 1e3:.1f} ms", f"{b['load_s'] * 1e3:.1f} ms"),
            ("p50 per item", f"{a['p50_ms']:.3f} ms", f"{b['p50_ms']:.3f} ms"),
            ("p95 per item", f"{a['p95_ms']:.3f} ms", f"{b['p95_ms']:.3f} ms"),
            ("throughput", f"{a['items_per_s']:,.1f}/s", f"{b['items_per_s']:,.1f}/s")]
    width = [max(len(str(r[i])) for r in rows) for i in range(3)]
    lines = ["  ".join(str(c).ljust(width[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    lines.append(f"items compared: {d['n']:,} · speed-up (a p50 / b p50): {d['speedup']:.2f}×")
    for why in d.get("skipped") or []:
        lines.append(f"left out: {_safe(why)}")
    if d["top1_agreement"] is not None:
        lines.append(f"top-1 agreement: {d['top1_agreement'] * 100:.1f}%")
    if d["boxes"]:
        bx = d["boxes"]
        iou = f"{bx['mean_iou']:.3f}" if bx["mean_iou"] is not None else "-"
        lines.append(f"boxes: {bx['agreement'] * 100:.1f}% matched (IoU ≥ 0.5), mean IoU {iou}, "
                     f"{bx['count_a']:,} against {bx['count_b']:,} boxes, {bx['items_with_count_diff']:,} items "
                     "with another count")
    if d["accuracy"]:
        acc = d["accuracy"]
        lines.append(f"accuracy: {acc['a'] * 100:.1f}% against {acc['b'] * 100:.1f}% "
                     f"(relative loss {acc['relative_loss'] * 100:.2f}%)")
    for o in d["outputs"]:
        lines.append(f"output {o['name']}: largest difference {o['max_abs_diff']:.4g}, mean {o['mean_abs_diff']:.4g}")
    lines.append(d["verdict"]["text"])
    return "".join(_safe(line) + "\n" for line in lines)


def cmd_compare(args, out, err) -> int:
    """``compare MODEL_A MODEL_B INPUT...``: the two models side by side, with a verdict. Exit 0 compared, 2 bad input."""
    from .engine import Engine, SessionSettings
    from .runs.optimise import compare_steps, run_steps

    if not 0 < args.bound <= 1:
        err.write("inferdesk: --bound is a fraction between 0 and 1, e.g. 0.99\n")
        return 2
    settings = SessionSettings(args.provider, args.threads, args.opt_level)
    a = Engine(args.model_a, profile=args.profile, settings=settings)
    b = Engine(args.model_b, profile=args.profile or a.profile, settings=settings)
    comparison = run_steps(compare_steps(a, b, args.inputs, rounds=args.rounds, bound=args.bound, limit=args.limit))
    d = comparison.to_dict()
    if args.json:
        out.write(json.dumps(d, indent=2, allow_nan=False) + "\n")
    else:
        out.write(comparison_text(d))
    return 0


def main(argv=None) -> int:
    """Run the command line; return the exit code (0 all scored, 1 some failed, 2 nothing could run).

    Ctrl+C (or SIGTERM) at any moment, imports included, ends it with one line and 130 (143).
    A C extension whose initialisation the signal broke (onnxruntime's raises "ImportError:
    initialization failed") counts as interrupted too.
    """
    _signals.install()
    try:
        return _main(argv)
    except KeyboardInterrupt as exc:  # before _main's own handling: at the first imports
        return _say_stopped(exc)
    except ImportError:
        if _signals.received is None:
            raise
        return _say_stopped(_signals._exception(_signals.received))
    finally:
        _signals.restore()


def _say_stopped(exc: KeyboardInterrupt) -> int:
    how, code = _stopped_by(exc)
    sys.stderr.write(f"inferdesk: {how.split(' (')[0]}\n")
    return code


def _main(argv) -> int:
    from .engine.errors import EngineError

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.version:
        v = versions()
        sys.stdout.write(" · ".join(f"{k} {val}" for k, val in v.items()) + "\n")
        return 0
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "info":
            return cmd_info(args, sys.stdout)
        if args.command == "score":
            return cmd_score(args, sys.stdout, sys.stderr)
        if args.command == "watch":
            return cmd_watch(args, sys.stdout, sys.stderr)
        if args.command == "check-preprocessing":
            return cmd_check_preprocessing(args, sys.stdout)
        if args.command == "bench":
            return cmd_bench(args, sys.stdout, sys.stderr)
        if args.command == "providers":
            return cmd_providers(args, sys.stdout)
        if args.command == "serve":
            return cmd_serve(args, sys.stdout, sys.stderr)
        if args.command == "resume":
            return cmd_resume(args, sys.stdout, sys.stderr)
        if args.command == "evaluate":
            return cmd_evaluate(args, sys.stdout, sys.stderr)
        if args.command == "drift":
            return cmd_drift(args, sys.stdout, sys.stderr)
        if args.command == "explain":
            return cmd_explain(args, sys.stdout, sys.stderr)
        if args.command == "history":
            return cmd_history(args, sys.stdout, sys.stderr)
        if args.command == "review":
            return cmd_review(args, sys.stdout, sys.stderr)
        if args.command == "report":
            return cmd_report(args, sys.stdout, sys.stderr)
        if args.command == "audit":
            return cmd_audit(args, sys.stdout, sys.stderr)
        if args.command == "optimise":
            return cmd_optimise(args, sys.stdout, sys.stderr)
        if args.command == "compare":
            return cmd_compare(args, sys.stdout, sys.stderr)
        if args.command == "series":
            return cmd_series(args, sys.stdout)
        if args.command == "gui":  # the window is opened by desktop.__main__, which knows Qt; this module does not
            sys.stderr.write("inferdesk: open the window with 'inferdesk gui' (python -m desktop gui)\n")
            return 2
    except EngineError as exc:
        sys.stderr.write(f"inferdesk: {_safe(exc)}\n")
        return 2
    except KeyboardInterrupt as exc:
        return _say_stopped(exc)
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 1
    except OSError as exc:  # e.g. --out in a folder that cannot be written
        name = exc.filename
        sys.stderr.write(f"inferdesk: {_safe(exc.strerror or exc)}" + (f": {_safe(name)}" if name else "") + "\n")
        return 2
    return 2
