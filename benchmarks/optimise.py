"""The optimisation lab on the bundled samples: each variant made, compared with its original, and its verdict.

For digits.onnx (a Gemm MLP), scene.onnx (a 224×224 CNN) and, with --detector, layout_cdla.onnx (a
PicoDet layout detector, the head's last nodes kept in float) it makes the static INT8, dynamic
INT8, float16 and graph-optimised variants in a temporary folder, calibrates the static ones on
augmented copies of the bundled samples, and compares each variant with its original on another
augmented set, the two interleaved in one run (desktop.engine.optimise.compare). It prints, per
variant, the per-item p50 of both, the speed ratio (original p50 / variant p50: above 1 is faster),
the agreement, the largest output difference and the lab's verdict. It never fails on timing.

Run: .venv/bin/python benchmarks/optimise.py [--quick] [--detector] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from desktop.engine import Engine  # noqa: E402
from desktop.engine.optimise import compare, cpu_facts, make_variant, suggest_keep_float  # noqa: E402

MODELS = ROOT / "models"
SAMPLES = ROOT / "resources" / "samples"


def augmented(sources: list[Path], folder: Path, count: int, seed: int) -> Path:
    """``count`` images made from ``sources``: rotated, cropped, mirrored and brightened at random."""
    from PIL import Image, ImageEnhance, ImageOps

    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        img = Image.open(sources[i % len(sources)])
        img = img.convert("RGB") if img.mode not in ("L", "RGB") else img
        w, h = img.size
        img = img.rotate(float(rng.uniform(-10, 10)))
        c = rng.uniform(0, 0.12, size=4)
        img = img.crop((int(w * c[0]), int(h * c[1]), w - int(w * c[2]), h - int(h * c[3]))).resize((w, h))
        if rng.random() < 0.5 and "digits" not in str(sources[0]):
            img = ImageOps.mirror(img)
        img = ImageEnhance.Brightness(img).enhance(float(rng.uniform(0.8, 1.2)))
        img.save(folder / f"{i:04d}.png")
    return folder


def run(quick: bool, detector: bool) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="inferdesk-optimise-bench-"))
    cases = [("digits", sorted((SAMPLES / "digits").glob("*.png")), 40 if quick else 200, 20 if quick else 100, 5),
             ("scene", sorted((SAMPLES / "photos").glob("*.jpg")), 12 if quick else 40, 8 if quick else 20, 3)]
    if detector:
        cases.append(("layout_cdla", sorted((SAMPLES / "layout").glob("*.png")), 4 if quick else 8, 4 if quick else 8, 2))
    rows = []
    try:
        for name, sources, n_compare, n_calibrate, rounds in cases:
            for p in MODELS.glob(f"{name}.*"):
                if p.name in (f"{name}.onnx", f"{name}.profile.json"):
                    shutil.copy(p, tmp / p.name)
            calib = augmented(sources, tmp / f"{name}-calibration", n_calibrate, seed=1)
            test = augmented(sources, tmp / f"{name}-compare", n_compare, seed=2)
            original = Engine(str(tmp / f"{name}.onnx"))
            for method in ("static", "dynamic", "fp16", "graph"):
                t0 = time.perf_counter()
                keep = suggest_keep_float(original.model_path) if method == "static" and name == "layout_cdla" else ()
                variant = make_variant(original, method, calibrate=[str(calib)] if method == "static" else (),
                                       n_calibrate=n_calibrate, keep_float=keep)
                made_s = time.perf_counter() - t0
                c = compare(original, Engine(variant.path), [str(test)], rounds=rounds)
                d = c.to_dict()
                agreement = (d["top1_agreement"] if d["top1_agreement"] is not None
                             else d["boxes"]["agreement"] if d["boxes"] else None)
                rows.append({"model": f"{name}.onnx", "method": method, "made_s": made_s, "n": d["n"],
                             "p50_a_ms": d["a"]["p50_ms"], "p50_b_ms": d["b"]["p50_ms"], "speedup": d["speedup"],
                             "agreement": agreement, "boxes": d["boxes"],
                             "max_abs_diff": max((o["max_abs_diff"] for o in d["outputs"]), default=None),
                             "size_a": d["a"]["size_bytes"], "size_b": d["b"]["size_bytes"],
                             "verdict": d["verdict"]["text"], "recommended": d["verdict"]["recommended"]})
                r = rows[-1]
                print(f"{r['model']:<18} {method:<8} p50 {r['p50_a_ms']:8.3f} → {r['p50_b_ms']:8.3f} ms  "
                      f"{r['speedup']:5.2f}×  agreement {'-' if agreement is None else f'{agreement * 100:.1f}%':>6}  "
                      f"max diff {r['max_abs_diff'] if r['max_abs_diff'] is not None else float('nan'):.3g}  "
                      f"size {r['size_a'] / 1e3:,.0f} → {r['size_b'] / 1e3:,.0f} kB", flush=True)
                print(f"    {r['verdict']}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"machine": cpu_facts(), "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sets (CI keeps it working)")
    parser.add_argument("--detector", action="store_true", help="also layout_cdla.onnx (slow: 7 MB detector)")
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    args = parser.parse_args()
    facts = cpu_facts()
    print(f"CPU: {facts['cpu']} · flags {' '.join(facts['cpu_flags'])} · onnxruntime device {facts['device']}")
    result = run(args.quick, args.detector)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
