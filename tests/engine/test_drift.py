"""Drift: the test each column gets, its statistics against scipy's, PSI bands, and the verdicts on real samples."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from desktop.cli import main
from desktop.engine import Engine
from desktop.engine.drift import (DriftError, Frame, Reference, build_reference, choose_test, default_reference_path,
                                  detect_drift, load_reference, psi_band, psi_categorical, psi_numeric)
from desktop.engine.drift.reference import column_ref
from desktop.runs.drift import drift_history, drift_of_inputs, drift_of_run

ROOT = Path(__file__).resolve().parents[2]
BC_MODEL = ROOT / "models" / "breast_cancer.onnx"
DIGITS_MODEL = ROOT / "models" / "digits.onnx"
DIGITS = ROOT / "resources" / "samples" / "digits"


def _write(path, names, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        w.writerows(rows.tolist())
    return path


@pytest.fixture(scope="module")
def bc(tmp_path_factory):
    """The 569 rows of scikit-learn's breast cancer data, split with a fixed seed into a reference and a held-apart half."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    header = (ROOT / "resources" / "samples" / "breast_cancer.csv").read_text().splitlines()[0].split(",")
    names = [str(n) for n in data.feature_names]
    assert set(names) <= set(header)  # the model's columns, by the sample's names (patient_id, diagnosis aside)
    tmp = tmp_path_factory.mktemp("bc")
    idx = np.random.default_rng(0).permutation(len(data.data))
    ref_rows, cur_rows = data.data[idx[:285]], data.data[idx[285:]]
    shifted = cur_rows.copy()
    shifted[:, 0] += ref_rows[:, 0].std()  # mean radius, one standard deviation up
    return {"ref": _write(tmp / "reference.csv", names, ref_rows), "held": _write(tmp / "held.csv", names, cur_rows),
            "shifted": _write(tmp / "shifted.csv", names, shifted), "names": names, "shifted_values": shifted[:, 0],
            "tmp": tmp}


@pytest.fixture(scope="module")
def bc_engine():
    return Engine(BC_MODEL)


@pytest.fixture(scope="module")
def bc_reference(bc, bc_engine):
    return build_reference(bc_engine, [bc["ref"]], seed=0)


def test_selection_rule_follows_evidentlys_defaults():
    assert choose_test("numeric", 1000, 50) == "ks"
    assert choose_test("numeric", 1001, 50) == "wasserstein"
    assert choose_test("categorical", 500, 2) == "z"
    assert choose_test("categorical", 500, 7) == "chi2"
    assert choose_test("categorical", 5000, 7) == "jensenshannon"
    assert choose_test("categorical", 5000, 2) == "jensenshannon"


def test_psi_bands_and_values():
    assert (psi_band(0.05), psi_band(0.1), psi_band(0.2), psi_band(0.26)) == ("stable", "watch", "watch", "drifted")
    rng = np.random.default_rng(1)
    x = rng.normal(size=2000)
    assert psi_numeric(x, x) == pytest.approx(0.0)
    assert psi_numeric(x, x + 1.0) > 0.25
    # by hand: shares 0.5/0.5 against 0.8/0.2
    expected = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert psi_categorical({"a": 50, "b": 50}, {"a": 80, "b": 20}) == pytest.approx(expected)


def test_no_dataset_drift_on_the_held_apart_half(bc, bc_engine, bc_reference):
    report = drift_of_inputs(bc_engine, bc_reference, [bc["held"]]).to_dict()
    assert not report["dataset_drift"]
    assert report["share_drifted"] < 0.5
    assert report["n_reference"] == 285 and report["n_current"] == 284
    assert {c["test"] for c in report["columns"]} == {"ks"}
    assert report["prediction"]["predicted_class"]["test"] == "z"
    assert report["prediction"]["predicted_class"]["state"] != "drifted"


def test_a_feature_shifted_by_one_std_drifts_with_scipys_statistic(bc, bc_engine, bc_reference):
    report = drift_of_inputs(bc_engine, bc_reference, [bc["shifted"]]).to_dict()
    first = report["columns"][0]  # sorted by severity
    assert first["name"] == "mean radius" and first["state"] == "drifted" and first["test"] == "ks"
    ref_values = bc_reference.column("mean radius").values
    expected = ks_2samp(ref_values, bc["shifted_values"])
    assert first["statistic"] == pytest.approx(expected.statistic)
    assert first["p_value"] == pytest.approx(expected.pvalue)
    assert first["psi"] > 0.25 and first["psi_band"] == "drifted"
    assert first["n_reference"] == 285 and first["n_current"] == 284
    hist = first["hist"]
    assert len(hist["edges"]) == len(hist["reference"]) + 1 == len(hist["current"]) + 1
    assert sum(hist["reference"]) == pytest.approx(1.0) and sum(hist["current"]) == pytest.approx(1.0)
    assert first["outside"] > 0
    listed = [o for o in report["outside_range"] if "mean radius" in o["columns"]]
    assert listed and all(o["row"] >= 1 for o in listed)
    states = [c["state"] for c in report["columns"]]
    assert states == sorted(states, key=["drifted", "watch", "stable"].index)


def test_wasserstein_and_jensenshannon_for_large_references():
    rng = np.random.default_rng(2)
    ref_x, cur_x = rng.normal(size=3000), rng.normal(0.5, 1.0, size=800)
    ref_c = rng.choice(["a", "b", "c"], size=3000, p=[0.5, 0.3, 0.2])
    cur_c = rng.choice(["a", "b", "c"], size=800, p=[0.2, 0.3, 0.5])
    ref = Reference(model={}, profile_sha256=None, task="classification", kind="table",
                    columns=[column_ref("x", ref_x), column_ref("c", ref_c.astype(object))], prediction=[],
                    source={"n_items": 3000})
    frame = Frame(columns={"x": cur_x, "c": cur_c.astype(object)}, ids=[("cur.csv", i + 1) for i in range(800)])
    cols = {c["name"]: c for c in detect_drift(ref, frame).to_dict()["columns"]}
    assert cols["x"]["test"] == "wasserstein" and cols["x"]["threshold"] == 0.1
    assert cols["x"]["statistic"] == pytest.approx(wasserstein_distance(ref_x, cur_x) / ref_x.std())
    assert cols["x"]["state"] == "drifted" and cols["x"]["p_value"] is None
    keys = cols["c"]["categories"]["values"]
    r = np.array([np.sum(ref_c == k) for k in keys], float)
    c = np.array([np.sum(cur_c == k) for k in keys], float)
    assert cols["c"]["test"] == "jensenshannon"
    assert cols["c"]["statistic"] == pytest.approx(jensenshannon(r / r.sum(), c / c.sum()))
    assert cols["c"]["state"] == "drifted"


def test_chi_square_and_z_for_small_categorical_references():
    rng = np.random.default_rng(3)
    ref_c = rng.choice(["a", "b", "c", "d"], size=400).astype(object)
    cur_c = rng.choice(["a", "b", "c", "d"], size=300, p=[0.55, 0.15, 0.15, 0.15]).astype(object)
    ref_b = np.array(["yes", "no"] * 200, dtype=object)
    cur_b = np.array(["yes"] * 190 + ["no"] * 110, dtype=object)
    ref = Reference(model={}, profile_sha256=None, task="classification", kind="table",
                    columns=[column_ref("c", ref_c), column_ref("b", ref_b)], prediction=[], source={"n_items": 400})
    frame = Frame(columns={"c": cur_c, "b": cur_b}, ids=[("cur.csv", i + 1) for i in range(300)])
    cols = {c["name"]: c for c in detect_drift(ref, frame).to_dict()["columns"]}
    keys = cols["c"]["categories"]["values"]
    table = np.array([[np.sum(ref_c == k) for k in keys], [np.sum(cur_c == k) for k in keys]])
    expected = chi2_contingency(table)
    assert cols["c"]["test"] == "chi2"
    assert cols["c"]["statistic"] == pytest.approx(expected.statistic)
    assert cols["c"]["p_value"] == pytest.approx(expected.pvalue)
    assert cols["c"]["state"] == "drifted"
    # the two-proportion z-test: z squared is the uncorrected chi-square of the 2 x 2 table
    assert cols["b"]["test"] == "z" and cols["b"]["state"] == "drifted"
    expected = chi2_contingency([[200, 200], [110, 190]], correction=False)
    assert cols["b"]["statistic"] ** 2 == pytest.approx(expected.statistic)
    assert cols["b"]["p_value"] == pytest.approx(expected.pvalue)
    frame = Frame(columns={"c": ref_c, "b": ref_b}, ids=[("ref.csv", i + 1) for i in range(400)])
    assert all(c["state"] == "stable" for c in detect_drift(ref, frame).to_dict()["columns"])


def test_an_unseen_category_and_out_of_range_rows_are_listed():
    ref = Reference(model={}, profile_sha256=None, task="classification", kind="table",
                    columns=[column_ref("x", np.arange(100.0)), column_ref("c", np.array(["a", "b"] * 50, object))],
                    prediction=[], source={"n_items": 100})
    frame = Frame(columns={"x": np.array([5.0, 150.0, -1.0]), "c": np.array(["a", "z", "b"], object)},
                  ids=[("cur.csv", 1), ("cur.csv", 2), ("cur.csv", 3)])
    d = detect_drift(ref, frame).to_dict()
    assert d["outside_range"] == [{"input": "cur.csv", "row": 2, "columns": ["x", "c"]},
                                  {"input": "cur.csv", "row": 3, "columns": ["x"]}]
    assert d["n_outside_rows"] == 2


def test_save_load_round_trip_and_another_models_reference_is_refused(bc_reference, tmp_path):
    path = tmp_path / "breast_cancer.reference.json"
    sha = bc_reference.save(path)
    loaded = load_reference(path, Engine(BC_MODEL))
    assert loaded.sha256 == sha and loaded.path == str(path)
    assert json.loads(path.read_text())["version"] == 1
    np.testing.assert_array_equal(loaded.column("mean radius").values, bc_reference.column("mean radius").values)
    with pytest.raises(DriftError, match="was built for breast_cancer.onnx"):
        load_reference(path, Engine(DIGITS_MODEL))
    assert default_reference_path("models/x.onnx").name == "x.reference.json"


def test_values_above_the_cap_are_sampled_with_the_seed():
    x = np.arange(20000.0)
    a, b = column_ref("x", x, cap=5000, seed=4), column_ref("x", x, cap=5000, seed=4)
    assert len(a.values) == 5000 and a.n == 20000 and a.max == 19999.0
    np.testing.assert_array_equal(a.values, b.values)


@pytest.fixture
def digit_folders(tmp_path):
    from PIL import Image

    same, bright = tmp_path / "same", tmp_path / "bright"
    shutil.copytree(DIGITS, same)
    bright.mkdir()
    for f in sorted(DIGITS.iterdir()):
        a = np.asarray(Image.open(f).convert("L")).astype(int)
        Image.fromarray(np.clip(a + 60, 0, 255).astype("uint8")).save(bright / f.name)
    return same, bright


def test_a_brightened_folder_drifts_on_intensity_and_the_same_one_does_not(digit_folders):
    same, bright = digit_folders
    engine = Engine(DIGITS_MODEL)
    ref = build_reference(engine, [DIGITS])
    assert [c.name for c in ref.columns][:3] == ["intensity_mean", "intensity_std", "contrast"]
    d = drift_of_inputs(engine, ref, [bright]).to_dict()
    mean = next(c for c in d["columns"] if c["name"] == "intensity_mean")
    assert mean["state"] == "drifted" and mean["test"] == "ks"
    assert mean["statistic"] == pytest.approx(ks_2samp(ref.column("intensity_mean").values,
                                                       [mean_of(p) for p in sorted(bright.iterdir())]).statistic)
    assert d["dataset_drift"]
    d = drift_of_inputs(engine, ref, [same]).to_dict()
    assert not d["dataset_drift"] and all(c["state"] == "stable" for c in d["columns"])


def mean_of(path):
    from PIL import Image

    return float(np.asarray(Image.open(path).convert("L"), dtype=np.float64).mean())


def test_cli_exit_codes_json_and_the_trail(bc, bc_reference, tmp_path, capsys):
    model = tmp_path / "breast_cancer.onnx"
    shutil.copy(BC_MODEL, model)
    shutil.copy(BC_MODEL.with_name("breast_cancer.profile.json"), tmp_path / "breast_cancer.profile.json")
    assert main(["drift", str(model), "--build", str(bc["ref"])]) == 0
    saved = tmp_path / "breast_cancer.reference.json"
    assert saved.is_file()
    capsys.readouterr()
    assert main(["drift", str(model), str(saved), str(bc["held"]), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["dataset_drift"] is False and d["run_id"] and d["reference"]["sha256"] == load_reference(saved).sha256
    # every column shifted: dataset drift, exit 1
    rows = np.loadtxt(bc["held"], delimiter=",", skiprows=1)
    shifted = _write(tmp_path / "all_shifted.csv", bc["names"], rows * 1.5)
    assert main(["drift", str(model), str(saved), str(shifted)]) == 1
    out = capsys.readouterr().out
    assert "dataset drift: yes" in out and "mean radius" in out
    assert main(["drift", str(model), str(saved)]) == 2
    assert main(["drift", str(DIGITS_MODEL), str(saved), str(bc["held"])]) == 2
    assert "was built for breast_cancer.onnx" in capsys.readouterr().err
    # the check is in the trail, and a history export carries it
    run_id = d["run_id"]
    report = drift_of_run(run_id, saved)
    assert report.to_dict()["share_drifted"] == d["share_drifted"]
    out_file = tmp_path / "export.json"
    assert main(["history", "export", run_id, "--format", "json", "--out", str(out_file)]) == 0
    prov = json.loads(out_file.read_text())["provenance"]
    assert prov["drift"]["reference_sha256"] == d["reference"]["sha256"]
    assert prov["drift"]["dataset_drift"] is False
    history = drift_history(Engine(model).info.sha256, saved)
    assert [h["run_id"] for h in history][0] == run_id  # oldest first
    assert [h["dataset_drift"] for h in history] == [False, True]
    assert all(h["cached"] for h in history)  # both checks were recorded with this reference
    assert main(["audit", "verify"]) == 0
    # an input gone: named, and what can be read is used
    shifted.unlink()
    gone = drift_of_run(history[1]["run_id"], saved).to_dict()
    assert gone["n_current"] == 0 and gone["missing"] and "all_shifted.csv" in gone["missing"][0]["why"]


def test_dicom_acquisition_fields_are_categorical_columns():
    ref = build_reference(Engine(DIGITS_MODEL), [ROOT / "resources" / "samples" / "dicom"])
    cols = {c.name: c for c in ref.columns}
    assert cols["dicom_manufacturer"].kind == "categorical"
    assert cols["dicom_manufacturer"].counts == {"GE MEDICAL SYSTEMS": 1}
    assert cols["dicom_kvp"].counts == {"120": 1}
    assert cols["dicom_slice_thickness"].counts == {"5": 1}
    assert set(cols) >= {"dicom_model", "dicom_pixel_spacing", "intensity_mean", "aspect"}
