"""KernelSHAP (Lundberg & Lee 2017) for one table row: Shapley-kernel coalitions, features off taken from reference rows."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np

from ..decoders.classification import class_scores
from ..errors import InputError
from ..profile import Task
from .result import TableExplanation

#: rows per session.run when evaluating coalitions
ROWS_PER_RUN = 8192
#: coalitions are enumerated (exact Shapley values) when there are at most this many
EXACT_LIMIT = 4096


def _read_rows(engine, path) -> tuple[list, np.ndarray, dict, list]:
    """(row numbers, values (n, M), texts {feature: object array}, column names) of the CSV's valid rows."""
    reader = engine.table_reader(path)
    rows, values, texts = [], [], {}
    try:
        names = list(reader.columns)
        for chunk in reader.chunks(65536):
            ok = [i for i, e in enumerate(chunk.errors) if e is None]
            rows += [chunk.rows[i] for i in ok]
            values.append(chunk.values[ok])
            for j, cells in chunk.texts.items():
                texts.setdefault(j, []).append(cells[ok])
    finally:
        reader.close()
    vals = np.concatenate(values) if values else np.zeros((0, len(names)))
    return rows, vals, {j: np.concatenate(parts) for j, parts in texts.items()}, names


class _Model:
    """The engine as f(rows) -> the target's score per row, batched."""

    def __init__(self, engine):
        self.engine = engine
        self.post = engine.postprocessor(top_k=1)
        self.col = 0

    def all_scores(self, values: np.ndarray, texts: dict) -> tuple[list, list, np.ndarray]:
        from ..batch import _run_rows

        raw, _ = _run_rows(self.engine, values, texts)
        block = self.post.block(raw, len(values))
        if self.engine.profile.task == Task.REGRESSION:
            v = block.answer.get("values")
            if v is None:
                raise InputError("the model gave no value to explain")
            return [f"value {j + 1}" for j in range(v.shape[1])], list(range(v.shape[1])), v
        found = class_scores(block, len(values))
        if found is None:
            raise InputError(f"{self.engine.info.file_name} gives no class scores or values to explain")
        names, indices, scores, _ = found
        return names, indices, scores

    def __call__(self, values: np.ndarray, texts: dict) -> np.ndarray:
        return self.all_scores(values, texts)[2][:, self.col].astype(np.float64)


def _coalitions(m: int, n_samples: int, rng) -> tuple[np.ndarray, np.ndarray, bool]:
    """(Z (k, m) bool, weights (k,), exact): every proper non-empty coalition with its Shapley kernel
    weight when they are few, else ``n_samples`` drawn by the kernel (sizes ∝ (m-1)/(s(m-s)), members
    uniform, each with its complement), weighted alike."""
    if 2 ** m - 2 <= min(n_samples, EXACT_LIMIT):
        z = np.array([c for c in itertools.product([0, 1], repeat=m) if 0 < sum(c) < m], dtype=bool)
        s = z.sum(axis=1)
        w = np.array([(m - 1) / (math.comb(m, k) * k * (m - k)) for k in s.tolist()])
        return z, w, True
    sizes = np.arange(1, m)
    prob = (m - 1) / (sizes * (m - sizes))
    prob /= prob.sum()
    half = max(1, n_samples // 2)
    drawn = rng.choice(sizes, size=half, p=prob)
    z = np.zeros((half, m), dtype=bool)
    for i, k in enumerate(drawn.tolist()):
        z[i, rng.choice(m, size=k, replace=False)] = True
    z = np.concatenate([z, ~z])
    return z, np.ones(len(z)), False


def _solve(z: np.ndarray, y: np.ndarray, w: np.ndarray, fx: float, base: float) -> np.ndarray:
    """Weighted least squares for the attributions φ with Σφ = fx - base (the last one eliminated)."""
    m = z.shape[1]
    total = fx - base
    if m == 1:
        return np.array([total])
    zf = z.astype(np.float64)
    a = zf[:, :-1] - zf[:, -1:]
    b = y - base - zf[:, -1] * total
    sw = np.sqrt(w)[:, None]
    phi, *_ = np.linalg.lstsq(a * sw, b * sw[:, 0], rcond=None)
    return np.append(phi, total - phi.sum())


def kernel_shap(engine, csv_path, row: int, *, reference_rows, n_samples: int = 2048, baselines: int = 16,
                seed: int = 0, target=None, should_stop=None, progress=None) -> TableExplanation:
    """Per-feature attributions of one CSV row by KernelSHAP.

    Parameters
    ----------
    engine
        The Engine of a table model (classifier or regressor).
    csv_path, row
        The CSV file and the data row (numbered from 1, as results number them).
    reference_rows
        The reference set: a 2-D array (rows × the model's features, in model order) or a CSV path
        read as the model reads its input. A feature that is "off" takes a reference row's value.
    n_samples
        Coalitions to sample (all of them, giving exact Shapley values, when 2^M - 2 is at most this).
    baselines
        Reference rows drawn (with ``seed``) to average each coalition over.
    seed
        The random seed of the baseline rows and the coalitions.
    target
        The class index (or label) whose probability is explained; None: the row's top class (a
        regressor: its first value).
    should_stop, progress
        As the image methods; a stopped run solves with the coalitions done so far (``cancelled=True``).

    Returns
    -------
    TableExplanation
        The attributions sum to ``prediction - base_value`` (the efficiency constraint).
    """
    t0 = time.perf_counter()
    if engine.profile.image is not None and engine.profile.table is None and not engine.n_features:
        raise InputError(f"{engine.info.file_name} takes images: explain an image with occlusion or RISE")
    rows, values, texts, names = _read_rows(engine, csv_path)
    try:
        i = rows.index(int(row))
    except ValueError:
        raise InputError(f"{csv_path}: no scorable data row {row} (the file has {len(rows)})") from None
    x = values[i]
    x_texts = {j: cells[i] for j, cells in texts.items()}
    if isinstance(reference_rows, (str, bytes)) or hasattr(reference_rows, "__fspath__"):
        _, ref, ref_texts, _ = _read_rows(engine, reference_rows)
        ref_name = str(reference_rows)
    else:
        ref = np.asarray(reference_rows, dtype=np.float64)
        ref_texts, ref_name = {}, f"array of {len(ref)} rows"
        if texts:
            raise InputError("this model has text features: give the reference set as a CSV file")
    m = len(names)
    if ref.ndim != 2 or ref.shape[1] != m or not len(ref):
        raise InputError(f"the reference set needs rows of the model's {m} features; it has "
                         f"{'×'.join(map(str, ref.shape))}")
    rng = np.random.default_rng(int(seed))
    pick = rng.choice(len(ref), size=min(int(baselines), len(ref)), replace=False)
    bvals, btexts = ref[pick], {j: cells[pick] for j, cells in ref_texts.items()}
    nb = len(bvals)

    model = _Model(engine)
    labels, indices, s_x = model.all_scores(x[None], {j: np.array([v], dtype=object) for j, v in x_texts.items()})
    if target is None:
        col = int(np.argmax(s_x[0])) if engine.profile.task != Task.REGRESSION else 0
    else:
        try:
            col = indices.index(int(target))
        except (ValueError, TypeError):
            if str(target) not in [str(n) for n in labels]:
                raise InputError(f"the model has no class '{target}' to explain") from None
            col = [str(n) for n in labels].index(str(target))
    model.col = col
    tgt = {"index": int(indices[col]), "label": str(labels[col])}
    fx = float(s_x[0, col])
    base = float(model(bvals, btexts).mean())

    z, w, exact = _coalitions(m, int(n_samples), rng)
    k = len(z)
    y = np.zeros(k)
    per_run = max(1, ROWS_PER_RUN // nb)
    done = 0
    while done < k:
        if should_stop is not None and should_stop():
            break
        stop = min(k, done + per_run)
        zz = np.repeat(z[done:stop], nb, axis=0)  # each coalition once per baseline row
        bb = np.tile(bvals, (stop - done, 1))
        vals = np.where(zz, x[None], bb)
        tx = {j: np.where(zz[:, j], x_texts[j], np.tile(btexts[j], stop - done)).astype(object) for j in x_texts}
        y[done:stop] = model(vals, tx).reshape(stop - done, nb).mean(axis=1)
        done = stop
        if progress is not None:
            progress(done, k)
    if done > 0:
        phi = _solve(z[:done], y[:done], w[:done], fx, base)
    else:
        phi = np.zeros(m)
    shown = [x_texts[j] if j in x_texts else float(x[j]) for j in range(m)]
    order = sorted(range(m), key=lambda j: -abs(phi[j]))
    features = [(names[j], shown[j], float(phi[j])) for j in order]
    params = {"target": tgt["index"], "n_samples": int(n_samples), "coalitions": int(k), "exact": exact,
              "baselines": nb, "reference": ref_name, "seed": int(seed)}
    return TableExplanation(features, base, fx, tgt, "kernelshap", params, engine.info.sha256, str(csv_path),
                            int(row), time.perf_counter() - t0, cancelled=done < k, done=done, total=k,
                            call={"fn": "kernel_shap", "args": (str(csv_path), int(row)),
                                  "kwargs": {"reference_rows": reference_rows, "n_samples": int(n_samples),
                                             "baselines": int(baselines), "seed": int(seed),
                                             "target": tgt["index"]}})
