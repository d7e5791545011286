"""Sanity checks of an explanation: cascading weight randomisation (Adebayo et al. 2018) and deletion/insertion AUC (Petsiuk et al. 2018).

The randomised copies are written with the ``onnx`` package, imported here only: the app reads
models without it (onnxwire), so a check on an installation without ``onnx`` says so and stops.
"""

from __future__ import annotations

import math
import os
import tempfile
import time

import numpy as np

from ..errors import ModelError
from .result import Explanation, TableExplanation

#: |rho| above this after every layer is randomised: the map does not depend on the weights
UNRELIABLE_RHO = 0.5
AUC_STEPS = 20

_FLOAT_TYPES = {1: np.float32, 10: np.float16, 11: np.float64}  # TensorProto FLOAT, FLOAT16, DOUBLE


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:
        raise ModelError("checking an explanation needs the onnx package (pip install onnx), which this "
                         "installation does not have") from exc
    return onnx, numpy_helper


def _consumed_names(node) -> set:
    """The names a node reads, those its subgraphs (If, Loop, Scan) read included."""
    names = set(node.input)
    for attr in node.attribute:
        graphs = list(attr.g.node) if attr.HasField("g") else []
        for g in attr.graphs:
            graphs += list(g.node)
        for sub in graphs:
            names |= _consumed_names(sub)
    return names


#: the float attributes that hold a scikit-learn converter's fitted weights (ai.onnx.ml: linear models, tree
#: ensembles' thresholds and leaves, the Scaler's offset and scale); the rest (hit rates, modes) are not weights
_ML_WEIGHTS = {"coefficients", "intercepts", "class_weights", "target_weights", "nodes_values", "scale", "offset",
               "leaf_weights", "nodes_splits"}


def _layers(model) -> list[list[tuple]]:
    """The model's weights grouped by layer, last layer first.

    A layer is a node that reads float initialisers (not scalars; each counted at the first node that
    reads it) or an ``ai.onnx.ml`` node with weights as attributes (:data:`_ML_WEIGHTS`). Keys are
    ``("init", name)`` and ``("attr", node position, attribute name)``.
    """
    inits = {t.name: t for t in model.graph.initializer if t.data_type in _FLOAT_TYPES and len(t.dims) >= 1}
    by_node: dict[int, list[tuple]] = {}
    seen: set = set()
    for pos, node in enumerate(model.graph.node):
        for name in sorted(_consumed_names(node)):
            if name in inits and name not in seen:
                seen.add(name)
                by_node.setdefault(pos, []).append(("init", name))
        if node.domain == "ai.onnx.ml":
            for attr in node.attribute:
                if attr.name in _ML_WEIGHTS and (len(attr.floats) or (attr.HasField("t") and attr.t.data_type
                                                                        in _FLOAT_TYPES)):
                    by_node.setdefault(pos, []).append(("attr", pos, attr.name))
    return [by_node[pos] for pos in sorted(by_node, reverse=True)]


def layer_count(model_path) -> int:
    """How many layers (nodes reading float weights) :func:`randomised_copy` can randomise."""
    onnx, _ = _onnx()
    return len(_layers(onnx.load(str(model_path))))


def randomised_copy(model_path, layers="all", seed: int = 0, out_dir=None) -> str:
    """A copy of the model with the weights of its last ``layers`` layers replaced by random values.

    A layer is a node that reads float initialisers, or a scikit-learn converter's node with its
    weights as attributes (see :func:`_layers`); layers are taken from the output end (the node that
    reads an initialiser first, latest in the graph's topological order, first), as the cascading
    randomisation of Adebayo et al. 2018. Each weight gets normal values of its own shape, mean 0
    and its own standard deviation (1e-2 for a constant one: zero biases...).

    Parameters
    ----------
    model_path
        The ``.onnx`` file.
    layers
        How many layers, or "all".
    seed
        The random seed.
    out_dir
        Where the copy is written (a new temporary folder when None).

    Returns
    -------
    str
        The copy's path.
    """
    onnx, numpy_helper = _onnx()
    try:
        model = onnx.load(str(model_path))
    except Exception as exc:  # noqa: BLE001 - onnx raises protobuf's and its own errors
        raise ModelError(f"{os.path.basename(str(model_path))}: cannot be read to randomise its weights ({exc})") from exc
    groups = _layers(model)
    k = len(groups) if layers == "all" else max(0, min(int(layers), len(groups)))
    rng = np.random.default_rng(int(seed))
    chosen = [key for group in groups[:k] for key in group]

    def random_like(old: np.ndarray, dtype) -> np.ndarray:
        std = float(old.astype(np.float64).std()) or 1e-2
        return rng.normal(0.0, std, old.shape).astype(dtype)

    tensors = {t.name: t for t in model.graph.initializer}
    for key in chosen:
        if key[0] == "init":
            t = tensors[key[1]]
            t.CopyFrom(numpy_helper.from_array(random_like(numpy_helper.to_array(t), _FLOAT_TYPES[t.data_type]),
                                               t.name))
            continue
        attr = next(a for a in model.graph.node[key[1]].attribute if a.name == key[2])
        if len(attr.floats):
            new = random_like(np.array(attr.floats), np.float32)
            del attr.floats[:]
            attr.floats.extend(new.tolist())
        else:
            attr.t.CopyFrom(numpy_helper.from_array(random_like(numpy_helper.to_array(attr.t),
                                                                _FLOAT_TYPES[attr.t.data_type]), attr.t.name))
    out_dir = out_dir or tempfile.mkdtemp(prefix="inferdesk-randomised-")
    path = os.path.join(str(out_dir), f"randomised-{k}-{os.path.basename(str(model_path))}")
    onnx.save(model, path)
    return path


def rerun(engine, explanation, should_stop=None, progress=None):
    """The same explanation (method, settings, seed, target) made with ``engine``."""
    from . import METHODS

    call = explanation.call
    return METHODS[call["fn"]](engine, *call["args"], **call["kwargs"], should_stop=should_stop, progress=progress)


def _flat(explanation) -> np.ndarray:
    if isinstance(explanation, TableExplanation):
        names = sorted(name for name, _, _ in explanation.features)
        return explanation.attributions(names)
    return np.asarray(explanation.input_map, dtype=np.float64).ravel()


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rank correlation, None when either is constant (no ranking to compare)."""
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def cascade_steps(n_layers: int) -> list[int]:
    """The default numbers of layers randomised: 1, a quarter, a half, all (distinct, rising)."""
    return sorted({k for k in (1, math.ceil(n_layers / 4), math.ceil(n_layers / 2), n_layers) if k >= 1})


def deletion_insertion(engine, explanation: Explanation, steps: int = AUC_STEPS) -> tuple[float, float, list, list]:
    """(deletion AUC, insertion AUC, deletion curve, insertion curve) of an image map (Petsiuk et al. 2018).

    Pixels of the model's input are taken in order of saliency, most first, ``1/steps`` of them at a
    time. Deletion turns them black (pixel value 0) starting from the image; insertion puts them
    back into a blurred copy. The curve is the target's score (a box's D-RISE weight) after each
    step; the AUC is its trapezoid area over the fraction of pixels, 0 to 1.
    """
    from .images import ImageJob

    job = ImageJob(engine, explanation.input)
    if "box" in explanation.target:
        t = explanation.target
        score = job.detection_scorer(np.asarray(t["box"]), int(t["index"]))
    else:
        score, _, _ = job.scorer(explanation.target["index"])
    order = np.argsort(-np.asarray(explanation.input_map, dtype=np.float64).ravel(), kind="stable")
    size = order.size
    counts = [round(size * i / steps) for i in range(steps + 1)]
    kept = np.zeros((steps + 1, size), dtype=np.float32)  # 1 where the salient pixels are
    for i, c in enumerate(counts):
        kept[i, order[:c]] = 1
    kept = kept.reshape(steps + 1, job.height, job.width)
    curves = []
    for masks, base in ((1 - kept, job.baseline(0.0)), (kept, job.blurred())):
        out = np.zeros(steps + 1)

        def on_batch(a, m, s, out=out):
            out[a:a + len(s)] = s

        job.scores_for(lambda a, b, masks=masks: masks[a:b], steps + 1, base, score, on_batch=on_batch)
        curves.append(out)
    x = np.linspace(0, 1, steps + 1)
    auc = [float(np.sum((c[1:] + c[:-1]) / 2 * np.diff(x))) for c in curves]
    return auc[0], auc[1], curves[0].tolist(), curves[1].tolist()


def sanity_check(engine, explanation, *, steps=None, seed: int = 0, auc: bool = True, should_stop=None,
                 progress=None) -> dict:
    """Check an explanation: does it change when the model's weights are destroyed, and does it rank pixels well?

    Parameters
    ----------
    engine
        The Engine the explanation was made with.
    explanation
        An Explanation or TableExplanation (with its ``call``: made by this package).
    steps
        The numbers of layers to randomise, from the output end (default :func:`cascade_steps`).
    seed
        The randomisation's seed.
    auc
        Also measure the deletion and insertion AUC (image maps only).
    should_stop, progress
        ``should_stop()`` is asked between batches (a stopped check returns the steps it finished,
        ``cancelled`` True); ``progress(done, total)`` counts the perturbed copies scored (each step
        re-makes the explanation, ``explanation.total`` copies; the AUCs score 42 more).

    Returns
    -------
    dict
        ``rank_correlation`` [{"layers": k, "rho": Spearman's rho or None}], ``layers`` (how many there
        are), ``deletion_auc``/``insertion_auc`` (image maps), ``reliable``, ``verdict`` (a sentence)
        and ``cancelled``.
    """
    from .. import Engine

    t0 = time.perf_counter()
    n_layers = layer_count(engine.model_path)
    if n_layers == 0:
        raise ModelError(f"{engine.info.file_name} has no float weights to randomise (no float initialisers, no "
                         "scikit-learn weights), so the check cannot run")
    ks = sorted({n_layers if k == "all" else max(1, min(int(k), n_layers)) for k in steps}) if steps \
        else cascade_steps(n_layers)
    is_image = isinstance(explanation, Explanation)
    per = max(1, int(explanation.total))  # progress counts the copies scored: each step re-makes the explanation
    auc_units = 2 * (AUC_STEPS + 1) if auc and is_image else 0
    total = len(ks) * per + auc_units
    original = _flat(explanation)
    out: dict = {"method": explanation.method, "layers": n_layers, "seed": int(seed), "rank_correlation": [],
                 "cancelled": False}
    with tempfile.TemporaryDirectory(prefix="inferdesk-sanity-") as tmp:
        for done, k in enumerate(ks):
            if should_stop is not None and should_stop():
                out["cancelled"] = True
                break
            path = randomised_copy(engine.model_path, k, seed, tmp)
            other = Engine(path, profile=engine.profile, settings=engine.settings)
            tick = None if progress is None else (lambda d, t, base=done * per: progress(base + min(d, per), total))
            again = rerun(other, explanation, should_stop, tick)
            del other
            os.remove(path)
            if again.cancelled:
                out["cancelled"] = True
                break
            out["rank_correlation"].append({"layers": k, "rho": spearman(original, _flat(again))})
            if progress is not None:
                progress((done + 1) * per, total)
    if auc and is_image and not out["cancelled"] and not (should_stop is not None and should_stop()):
        d, i, dc, ic = deletion_insertion(engine, explanation)
        out.update(deletion_auc=d, insertion_auc=i, deletion_curve=dc, insertion_curve=ic)
        if progress is not None:
            progress(total, total)
    steps_done = out["rank_correlation"]
    last = steps_done[-1] if steps_done else None
    full = last is not None and last["layers"] == n_layers
    rho = (last or {}).get("rho")
    out["reliable"] = bool(full and (rho is None or abs(rho) <= UNRELIABLE_RHO))
    what = "map" if is_image else "attribution"
    layers = "its one weighted layer" if n_layers == 1 else f"all {n_layers} weighted layers"
    if not full:
        out["verdict"] = "The check was stopped before every layer was randomised, so it says nothing yet."
    elif out["reliable"]:
        shown = "it became flat" if rho is None else f"its rank correlation with the original fell to {rho:.2f}"
        out["verdict"] = f"The {what} depends on the model: with {layers} randomised, {shown}."
    else:
        out["verdict"] = (f"Unreliable: with {layers} randomised the {what} still has a rank correlation of "
                          f"{rho:.2f} with the original, so it reflects the input more than what the model learnt.")
    if "deletion_auc" in out and out["deletion_auc"] >= out["insertion_auc"]:
        out["verdict"] += (f" Removing the pixels it ranks first does not hurt the score more than adding them helps "
                           f"(deletion AUC {out['deletion_auc']:.2f} ≥ insertion AUC {out['insertion_auc']:.2f}).")
    out["elapsed_s"] = round(time.perf_counter() - t0, 4)
    return out
