"""Drift tests chosen by column type and reference size, as Evidently's defaults choose them, and PSI beside them.

The rule (:func:`choose_test`), with ``n`` the reference's count of values in the column:

- numeric (more than 5 distinct values), ``n <= 1000``: two-sample Kolmogorov–Smirnov
  (``scipy.stats.ks_2samp``); drifted when p < 0.05;
- numeric, ``n > 1000``: the Wasserstein distance (``scipy.stats.wasserstein_distance``)
  divided by the reference's standard deviation (at least 0.001); drifted at 0.1 or more;
- categorical (text, or numbers with at most 5 distinct values), ``n <= 1000``: with two
  values in the reference, the two-proportion z-test (pooled, two-sided); else chi-square on
  the 2 × k table of counts (``scipy.stats.chi2_contingency``); drifted when p < 0.05;
- categorical, ``n > 1000``: the Jensen–Shannon distance (``scipy.spatial.distance.jensenshannon``,
  natural log) between the two distributions; drifted at 0.1 or more.

PSI, the population stability index, is computed for every column: numbers in 10 bins cut at the
reference's quantiles (the outer bins open-ended), categories as they are, with 0.0001 in place
of an empty bin's share; its conventional bands are below 0.1 stable, 0.1–0.25 watch, above 0.25
drifted (``psi_band``).

A column's state: **drifted** when its test says so; else **watch** when its PSI is 0.1 or more
(the test has not found it, but the distribution moved enough to look at); else **stable**.
The dataset drifts when at least half its feature columns (the predictions not counted) are drifted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .reference import MISSING, ColumnRef, Frame, Reference, as_categories, as_numbers

P_THRESHOLD = 0.05
WASSERSTEIN_THRESHOLD = 0.1
JENSENSHANNON_THRESHOLD = 0.1
SMALL_REFERENCE = 1000  # at most this many reference values: the tests with p-values
PSI_WATCH, PSI_DRIFT = 0.1, 0.25
PSI_BINS = 10
PSI_EPS = 1e-4
HIST_BINS = 20
DATASET_SHARE = 0.5
MAX_LISTED = 200
_STATES = {"drifted": 0, "watch": 1, "stable": 2}


def choose_test(kind: str, n_reference: int, n_distinct: int) -> str:
    """The test for a column: ``ks``, ``wasserstein``, ``z``, ``chi2`` or ``jensenshannon`` (see the module)."""
    if n_reference > SMALL_REFERENCE:
        return "wasserstein" if kind == "numeric" and n_distinct > 5 else "jensenshannon"
    if kind == "numeric" and n_distinct > 5:
        return "ks"
    return "z" if n_distinct == 2 else "chi2"


def psi_band(value: float | None) -> str:
    """PSI's conventional band: below 0.1 stable, 0.1 to 0.25 watch, above 0.25 drifted."""
    if value is None:
        return "stable"
    return "stable" if value < PSI_WATCH else ("watch" if value <= PSI_DRIFT else "drifted")


def _psi(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    r = np.where(ref_share > 0, ref_share, PSI_EPS)
    c = np.where(cur_share > 0, cur_share, PSI_EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def psi_numeric(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float:
    """PSI of numbers, in ``bins`` bins cut at the reference's quantiles (outer bins open-ended)."""
    reference, current = np.asarray(reference, float), np.asarray(current, float)
    inner = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1))[1:-1])
    edges = np.concatenate([[-np.inf], inner, [np.inf]])
    r = np.histogram(reference, edges)[0] / max(len(reference), 1)
    c = np.histogram(current, edges)[0] / max(len(current), 1)
    return _psi(r, c)


def psi_categorical(reference_counts: dict, current_counts: dict) -> float:
    """PSI of two categorical distributions given as value -> count."""
    keys = list(dict.fromkeys(list(reference_counts) + list(current_counts)))
    r = np.array([reference_counts.get(k, 0) for k in keys], float)
    c = np.array([current_counts.get(k, 0) for k in keys], float)
    return _psi(r / max(r.sum(), 1), c / max(c.sum(), 1))


def _counts(values: np.ndarray) -> dict:
    uniq, counts = np.unique(values.astype(str), return_counts=True)
    return {str(v): int(c) for v, c in zip(uniq.tolist(), counts.tolist())}


def z_test(ref_counts: dict, cur_counts: dict) -> tuple[float, float]:
    """Two-proportion z-test (pooled, two-sided) on the share of the reference's most common value."""
    from scipy.stats import norm

    key = next(iter(sorted(ref_counts, key=lambda k: (-ref_counts[k], k))))
    n1, n2 = sum(ref_counts.values()), sum(cur_counts.values())
    x1, x2 = ref_counts.get(key, 0), cur_counts.get(key, 0)
    pooled = (x1 + x2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (x2 / n2 - x1 / n1) / se
    return float(z), float(2 * norm.sf(abs(z)))


def _numeric_column(ref: ColumnRef, values) -> dict:
    from scipy.stats import ks_2samp, wasserstein_distance

    cur = as_numbers(values)
    cur = cur[np.isfinite(cur)]
    test = choose_test("numeric", ref.n, ref.n_distinct)
    d = {"name": ref.name, "kind": "numeric", "test": test, "n_reference": ref.n, "n_current": int(len(cur))}
    r = ref.values
    if not len(cur) or not len(r):
        d.update(statistic=None, p_value=None, threshold=P_THRESHOLD if test == "ks" else WASSERSTEIN_THRESHOLD,
                 psi=None, psi_band="stable", state="stable", outside=0,
                 hist={"edges": [], "reference": [], "current": []},
                 note="no values in the current data" if not len(cur) else "no values in the reference")
        return d
    if test == "ks":
        res = ks_2samp(r, cur)
        stat, p, threshold, drifted = float(res.statistic), float(res.pvalue), P_THRESHOLD, res.pvalue < P_THRESHOLD
    else:
        stat = float(wasserstein_distance(r, cur) / max(ref.std or 0.0, 0.001))
        p, threshold, drifted = None, WASSERSTEIN_THRESHOLD, stat >= WASSERSTEIN_THRESHOLD
    psi = psi_numeric(r, cur)
    edges = np.histogram_bin_edges(np.concatenate([r, cur]), bins=HIST_BINS)
    d.update(statistic=stat, p_value=p, threshold=threshold, psi=psi, psi_band=psi_band(psi),
             state="drifted" if drifted else ("watch" if psi >= PSI_WATCH else "stable"),
             outside=int(np.count_nonzero((cur < ref.min) | (cur > ref.max))),
             hist={"edges": edges.tolist(), "reference": (np.histogram(r, edges)[0] / len(r)).tolist(),
                   "current": (np.histogram(cur, edges)[0] / len(cur)).tolist()})
    return d


def _categorical_column(ref: ColumnRef, values) -> dict:
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2_contingency

    cur = as_categories(values)
    cur_counts = _counts(cur) if len(cur) else {}
    ref_counts = ref.counts or {}
    test = choose_test("categorical", ref.n, ref.n_distinct)
    keys = list(dict.fromkeys(list(ref_counts) + sorted(cur_counts, key=lambda k: (-cur_counts[k], k))))
    r = np.array([ref_counts.get(k, 0) for k in keys], float)
    c = np.array([cur_counts.get(k, 0) for k in keys], float)
    d = {"name": ref.name, "kind": "categorical", "test": test, "n_reference": ref.n, "n_current": int(len(cur))}
    if not len(cur) or not ref.n:
        d.update(statistic=None, p_value=None, threshold=JENSENSHANNON_THRESHOLD if test == "jensenshannon"
                 else P_THRESHOLD, psi=None, psi_band="stable", state="stable", outside=0,
                 categories={"values": keys, "reference": [], "current": []},
                 note="no values in the current data" if not len(cur) else "no values in the reference")
        return d
    if test == "z":
        stat, p = z_test(ref_counts, cur_counts)
        threshold, drifted = P_THRESHOLD, p < P_THRESHOLD
    elif test == "chi2":
        if len(keys) < 2:
            stat, p = 0.0, 1.0
        else:
            res = chi2_contingency(np.vstack([r, c]))
            stat, p = float(res.statistic), float(res.pvalue)
        threshold, drifted = P_THRESHOLD, p < P_THRESHOLD
    else:
        stat = float(jensenshannon(r / r.sum(), c / c.sum()))
        p, threshold, drifted = None, JENSENSHANNON_THRESHOLD, stat >= JENSENSHANNON_THRESHOLD
    psi = psi_categorical(ref_counts, cur_counts)
    unseen = sum(n for k, n in cur_counts.items() if k not in ref_counts)
    d.update(statistic=stat, p_value=p, threshold=threshold, psi=psi, psi_band=psi_band(psi),
             state="drifted" if drifted else ("watch" if psi >= PSI_WATCH else "stable"), outside=int(unseen),
             categories={"values": keys, "reference": (r / r.sum()).tolist(), "current": (c / c.sum()).tolist()})
    return d


def column_drift(ref: ColumnRef, values) -> dict:
    """One column's drift: the chosen test, PSI, state, sample sizes and the two distributions."""
    return _numeric_column(ref, values) if ref.kind == "numeric" else _categorical_column(ref, values)


def _sorted(columns: list) -> list:
    return sorted(columns, key=lambda c: (_STATES[c["state"]], -(c["psi"] or 0.0), c["name"]))


@dataclass
class DriftReport:
    """The drift of current data against a reference (:meth:`to_dict` gives the schema the window reads)."""

    dataset_drift: bool
    share_drifted: float
    n_reference: int
    n_current: int
    reference: dict
    columns: list
    prediction: dict
    outside_range: list
    n_outside_rows: int = 0
    missing: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"dataset_drift": self.dataset_drift, "share_drifted": self.share_drifted,
                "n_reference": self.n_reference, "n_current": self.n_current, "reference": dict(self.reference),
                "columns": list(self.columns), "prediction": dict(self.prediction),
                "outside_range": list(self.outside_range), "n_outside_rows": self.n_outside_rows,
                "missing": [{"input": p, "why": w} for p, w in self.missing], "warnings": list(self.warnings),
                "rules": {"p_value": P_THRESHOLD, "wasserstein": WASSERSTEIN_THRESHOLD,
                          "jensenshannon": JENSENSHANNON_THRESHOLD, "small_reference": SMALL_REFERENCE,
                          "psi_bands": [PSI_WATCH, PSI_DRIFT], "dataset_share": DATASET_SHARE}}

    def summary(self) -> dict:
        """What the trail and an export keep of it: the verdict and each column's state and statistic."""
        return {"dataset_drift": self.dataset_drift, "share_drifted": self.share_drifted,
                "n_reference": self.n_reference, "n_current": self.n_current, "reference": dict(self.reference),
                "columns": [{k: c.get(k) for k in ("name", "test", "statistic", "p_value", "threshold", "psi",
                                                  "state")} for c in self.columns],
                "prediction": {n: {k: c.get(k) for k in ("test", "statistic", "p_value", "threshold", "psi",
                                                        "state")} for n, c in self.prediction.items()}}


def _outside_rows(reference: Reference, current: Frame) -> tuple[list, int]:
    flags = []
    for ref in reference.columns:
        if ref.name not in current.columns or not ref.n:
            continue
        values = current.columns[ref.name]
        if ref.kind == "numeric":
            x = as_numbers(values)
            flags.append((ref.name, np.isfinite(x) & ((x < ref.min) | (x > ref.max))))
        else:
            cats = as_categories(values)
            known = set(ref.counts or {})
            flags.append((ref.name, np.array([v not in known and v != MISSING for v in cats.tolist()], dtype=bool)))
    if not flags:
        return [], 0
    any_out = np.logical_or.reduce([f for _, f in flags])
    rows = np.flatnonzero(any_out)
    listed = []
    for i in rows[:MAX_LISTED].tolist():
        path, row = current.ids[i]
        listed.append({"input": str(path), "row": row, "columns": [n for n, f in flags if f[i]]})
    return listed, int(len(rows))


def detect_drift(reference: Reference, current: Frame) -> DriftReport:
    """Compare ``current`` with ``reference``, column by column and for the model's answers.

    Columns come sorted by severity (drifted, watch, stable; then by PSI). A reference column the
    current data lacks is reported in ``warnings`` and left out of the share.
    """
    columns, warnings = [], list(reference.warnings)
    for ref in reference.columns:
        if ref.name not in current.columns:
            warnings.append(f"the current data has no column {ref.name!r}")
            continue
        columns.append(column_drift(ref, current.columns[ref.name]))
    prediction = {}
    for ref in reference.prediction:
        if ref.name in current.prediction:
            prediction[ref.name] = column_drift(ref, current.prediction[ref.name])
    drifted = sum(1 for c in columns if c["state"] == "drifted")
    share = drifted / len(columns) if columns else 0.0
    listed, n_out = _outside_rows(reference, current)
    where = reference.path or ", ".join(reference.source.get("paths", []))
    return DriftReport(dataset_drift=bool(columns) and share >= DATASET_SHARE, share_drifted=float(share),
                       n_reference=reference.n, n_current=current.n,
                       reference={"path": where, "sha256": reference.sha256}, columns=_sorted(columns),
                       prediction=prediction, outside_range=listed, n_outside_rows=n_out,
                       missing=list(current.missing), warnings=warnings)
