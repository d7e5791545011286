"""Raw outputs are readable: small ones show their values; a label + probabilities model is a classifier."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from desktop.engine import Engine, inspect_model
from desktop.engine.batch import run_batches
from desktop.engine.decoders.raw import value_rows, values_text
from desktop.engine.profile import Task, default_profile
from tests.conftest import make_model


@pytest.fixture(scope="module")
def iris_no_zipmap(tmp_path_factory):
    """scikit-learn's LogisticRegression on iris, exported with zipmap=False: outputs label [N] int64 and
    probabilities [N, 3] float, and no labels in the metadata."""
    pytest.importorskip("skl2onnx")
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    clf = LogisticRegression(max_iter=500).fit(x, y)
    onx = convert_sklearn(clf, initial_types=[("features", FloatTensorType([None, 4]))],
                          options={id(clf): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    folder = tmp_path_factory.mktemp("iris")
    model = folder / "iris.onnx"
    model.write_bytes(onx.SerializeToString())
    csv = folder / "iris.csv"
    rows = x[::15]
    csv.write_text("a,b,c,d\n" + "".join(",".join(f"{v:.1f}" for v in r) + "\n" for r in rows))
    return model, clf, csv, rows


def test_label_and_probabilities_outputs_are_read_as_a_classifier(iris_no_zipmap):
    model, clf, csv, rows = iris_no_zipmap
    info = inspect_model(model)
    assert [o.name for o in info.outputs] == ["label", "probabilities"]
    assert default_profile(info).task == Task.CLASSIFICATION
    batches = list(run_batches(Engine(model), [csv]))
    results = [r for b in batches for r in b.results()]
    assert all(r.ok for r in results)
    expected = clf.predict_proba(np.array([[float(f"{v:.1f}") for v in r] for r in rows], dtype=np.float32))
    for r, p in zip(results, expected):
        assert r.top[0].index == int(np.argmax(p))
        assert r.top[0].index == int(r.outputs["label"])  # the label output agrees with the decoded class
        np.testing.assert_allclose(r.top[0].score, p.max(), atol=1e-5)
    text, score = batches[0].summary(0)
    assert text == results[0].top_label and score == pytest.approx(results[0].top_score)


def test_labels_in_the_profile_name_the_probabilities(iris_no_zipmap):
    model, _, csv, _ = iris_no_zipmap
    engine = Engine(model)
    engine = engine.with_profile(engine.profile.with_labels(["setosa", "versicolor", "virginica"]))
    results = [r for b in run_batches(engine, [csv]) for r in b.results()]
    assert [r.top_label for r in results[:1]] == ["setosa"]  # iris row 0 is a setosa
    assert {r.top_label for r in results} == {"setosa", "versicolor", "virginica"}
    assert all(r.top_label == engine.profile.labels[int(r.outputs["label"])] for r in results)


def test_a_raw_result_shows_its_small_output_in_the_table(tmp_path):
    model = make_model(tmp_path / "pair.onnx", [helper.make_node("Identity", ["x"], ["y"])],
                       [("x", TensorProto.FLOAT, ["N", 1, 1, 2])], [("y", TensorProto.FLOAT, ["N", 1, 1, 2])])
    engine = Engine(model)
    assert engine.profile.task == Task.RAW
    x = np.array([[[[0.12, 0.88]]]], dtype=np.float32)
    from desktop.engine.batch import run_tensors

    (batch,) = list(run_tensors(engine, [x[0]]))
    assert batch.summary(0) == ("[0.120, 0.880]", None)  # not "—"


def test_values_text_is_compact():
    assert values_text(np.array([0.12, 0.88], np.float32)) == "[0.120, 0.880]"
    assert values_text(np.arange(10, dtype=np.int64)) == "10 values: 0, 1, 2, 3, …"
    assert values_text(np.array(7)) == "7"
    assert values_text({"cat": 0.9, "dog": 0.1}) == "{cat: 0.900, dog: 0.100}"
    assert values_text(np.zeros((1, 40, 30), np.float32)) == "1×40×30 float32 values"  # large: no values


def test_value_rows_name_positions_by_label_and_cap():
    v = np.array([0.1, 0.2, 0.7], np.float32)
    rows, total = value_rows(v, labels=("a", "b", "c"))
    assert total == 3 and rows == [("a (0)", repr(float(v[0]))), ("b (1)", repr(float(v[1]))),
                                   ("c (2)", repr(float(v[2])))]
    rows, total = value_rows(np.arange(12).reshape(3, 4), cap=5)
    assert total == 12 and len(rows) == 5 and rows[4] == ("[1, 0]", "4")
