"""inferdesk's KServe v2 server: tritonclient gets what a direct session.run gives; hostile requests get a 4xx."""

from __future__ import annotations

import csv
import hashlib
import http.client
import json

import numpy as np
import onnxruntime as ort
import pytest

from desktop.engine import Engine
from desktop.engine.serve import InferenceServer, ServeError
from tests.conftest import MODELS, SAMPLES

tritonhttp = pytest.importorskip("tritonclient.http")

DIGIT = SAMPLES / "digits" / "digit_7_1496.png"
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def engines():
    return {"digits": Engine(str(MODELS / "digits.onnx")),
            "breast_cancer": Engine(str(MODELS / "breast_cancer.onnx"))}


@pytest.fixture(scope="module")
def server(engines):
    srv = InferenceServer(engines, port=0, max_body=1 << 20).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def client(server):
    c = tritonhttp.InferenceServerClient(f"127.0.0.1:{server.port}")
    try:
        yield c
    finally:
        c.close()


def _request(server, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw else None)
    finally:
        conn.close()


def _infer_json(inputs, outputs=None):
    doc = {"inputs": inputs}
    if outputs is not None:
        doc["outputs"] = outputs
    return json.dumps(doc).encode()


# ---------------------------------------------------------------------------------- tritonclient
def test_health_and_server_metadata(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("digits")
    assert client.get_server_metadata()["name"] == "inferdesk"


def test_model_metadata_has_minus_one_for_dynamic_dimensions(client):
    meta = client.get_model_metadata("digits")
    assert meta["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 1, 16, 16]}]
    assert meta["outputs"] == [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}]
    meta = client.get_model_metadata("breast_cancer")
    assert meta["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, 30]}]
    # the ZipMap (a sequence of maps) is not a tensor: its probability tensor is served instead
    assert [(o["name"], o["datatype"], o["shape"]) for o in meta["outputs"]] == [
        ("output_label", "INT64", [-1]), ("probabilities", "FP32", [-1, 2])]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_digits_infer_equals_session_run(client, binary):
    x = np.random.default_rng(0).random((3, 1, 16, 16), dtype=np.float32)
    inp = tritonhttp.InferInput("image", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    out = tritonhttp.InferRequestedOutput("logits", binary_data=binary)
    got = client.infer("digits", [inp], outputs=[out]).as_numpy("logits")
    want = ort.InferenceSession(str(MODELS / "digits.onnx"), providers=["CPUExecutionProvider"]).run(
        ["logits"], {"image": x})[0]
    assert got.dtype == np.float32 and got.shape == (3, 10)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_breast_cancer_infer_equals_session_run(client, engines, binary):
    with open(SAMPLES / "breast_cancer.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))[:4]
    x = np.array([[float(r[c]) for c in engines["breast_cancer"].profile.table.columns] for r in rows], np.float32)
    inp = tritonhttp.InferInput("features", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    outs = [tritonhttp.InferRequestedOutput(n, binary_data=binary) for n in ("output_label", "probabilities")]
    result = client.infer("breast_cancer", [inp], outputs=outs)
    label, zipmap = ort.InferenceSession(str(MODELS / "breast_cancer.onnx"), providers=["CPUExecutionProvider"]).run(
        ["output_label", "output_probability"], {"features": x})
    np.testing.assert_array_equal(result.as_numpy("output_label"), label)
    probs = np.array([[row[k] for k in sorted(row)] for row in zipmap], dtype=np.float32)
    np.testing.assert_allclose(result.as_numpy("probabilities"), probs, rtol=1e-6, atol=1e-6)


def test_all_outputs_binary_by_default(client):
    """tritonclient asks for binary_data_output when no output is named."""
    x = np.zeros((1, 1, 16, 16), np.float32)
    inp = tritonhttp.InferInput("image", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=True)
    result = client.infer("digits", [inp])
    assert result.get_response()["outputs"][0]["parameters"]["binary_data_size"] == 40
    assert result.as_numpy("logits").shape == (1, 10)


# ---------------------------------------------------------------------------------- convenience endpoint
def test_score_endpoint_gives_the_record_inferdesk_score_writes(server, capsys):
    from desktop.cli import main

    status, rec = _request(server, "POST", "/v2/models/digits/score", DIGIT.read_bytes(),
                           {"Content-Type": "image/png"})
    assert status == 200 and rec["ok"] is True
    assert main(["score", str(MODELS / "digits.onnx"), str(DIGIT), "--no-history", "--quiet"]) == 0
    cli = json.loads(capsys.readouterr().out.splitlines()[0])
    assert rec["top"][0]["label"] == cli["top"][0]["label"] == "7"
    # the same fields; the server also names the body's sha256 (the CLI does when it keeps a history)
    assert set(rec) - {"input_sha256"} == set(cli) - {"input_sha256"}
    assert rec["input_sha256"] == hashlib.sha256(DIGIT.read_bytes()).hexdigest()
    np.testing.assert_allclose(rec["outputs"]["logits"], cli["outputs"]["logits"], rtol=1e-6)


def test_score_endpoint_takes_one_csv_row(server):
    lines = (SAMPLES / "breast_cancer.csv").read_text().splitlines()
    status, rec = _request(server, "POST", "/v2/models/breast_cancer/score", ("\n".join(lines[:2]) + "\n").encode(),
                           {"Content-Type": "text/csv"})
    assert status == 200 and rec["ok"] is True and rec["top"][0]["label"] in ("malignant", "benign")


# ---------------------------------------------------------------------------------- hostile requests
GOOD = {"name": "image", "datatype": "FP32", "shape": [1, 1, 16, 16], "data": [0.0] * 256}


@pytest.mark.parametrize("path,body,status,message", [
    ("/v2/models/digits/infer", b"{not json", 400, "not valid JSON"),
    ("/v2/models/digits/infer", b"[1, 2]", 400, "JSON object"),
    ("/v2/models/digits/infer", b"[" * 100000, 400, "not valid JSON"),
    ("/v2/models/digits/infer", b"\xff\xfe", 400, "not UTF-8"),
    ("/v2/models/digits/infer", _infer_json([{**GOOD, "shape": [1, 1, 8, 8], "data": [0.0] * 64}]), 400,
     "needs size 16 at dimension 2"),
    ("/v2/models/digits/infer", _infer_json([{**GOOD, "shape": [1, 16, 16]}]), 400, "has 4 dimensions"),
    ("/v2/models/digits/infer", _infer_json([{**GOOD, "data": [0.0] * 255}]), 400, "holds 256 values, data has 255"),
    ("/v2/models/digits/infer", _infer_json([{**GOOD, "datatype": "INT64", "data": [0] * 256}]), 400,
     "is FP32, the request gives INT64"),
    ("/v2/models/digits/infer", _infer_json([{**GOOD, "datatype": "FLOAT"}]), 400, "is not one of"),
    ("/v2/models/digits/infer", _infer_json([{**GOOD, "data": ["a"] * 256}]), 400, "must be numbers"),
    ("/v2/models/digits/infer", _infer_json([{**GOOD, "name": "pixels"}]), 400, "has no input 'pixels'"),
    ("/v2/models/digits/infer", _infer_json([GOOD], [{"name": "nope"}]), 400, "has no output 'nope'"),
    ("/v2/models/digits/infer", _infer_json([{**GOOD, "shape": [10 ** 12, 1, 16, 16]}]), 400, "values"),
    ("/v2/models/missing/infer", _infer_json([GOOD]), 404, "no model 'missing'"),
    ("/v2/models/digits/explode", b"{}", 404, "no such path"),
    ("/v2/models/digits/score", b"not an image", 400, "this model takes images"),
    ("/v2/models/breast_cancer/score", DIGIT.read_bytes(), 400, "takes a table"),
])
def test_hostile_request_gets_its_status_and_message(server, path, body, status, message):
    got, doc = _request(server, "POST", path, body, {"Content-Type": "application/json"})
    assert got == status
    assert message in doc["error"]


def test_truncated_binary_body_is_400(server):
    header = json.dumps({"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 1, 16, 16],
                                     "parameters": {"binary_data_size": 1024}}]}).encode()
    body = header + b"\0" * 1000  # 24 bytes short
    got, doc = _request(server, "POST", "/v2/models/digits/infer", body,
                        {"Inference-Header-Content-Length": str(len(header))})
    assert got == 400 and "truncated" in doc["error"]
    got, doc = _request(server, "POST", "/v2/models/digits/infer", body,
                        {"Inference-Header-Content-Length": str(len(body) + 5)})
    assert got == 400 and "Inference-Header-Content-Length" in doc["error"]


def test_oversized_body_is_413(server):
    got, doc = _request(server, "POST", "/v2/models/digits/infer", b"x" * ((1 << 20) + 1))
    assert got == 413 and "at most 1,048,576" in doc["error"]


def test_huge_announced_body_is_413_without_reading_it(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("POST", "/v2/models/digits/infer")
        conn.putheader("Content-Length", str(10 ** 12))
        conn.endheaders()
        resp = conn.getresponse()
        assert resp.status == 413 and "1,000,000,000,000 bytes" in json.loads(resp.read())["error"]
    finally:
        conn.close()


@pytest.mark.parametrize("headers,status", [({"Content-Length": "-5"}, 400), ({"Content-Length": "abc"}, 400),
                                            ({}, 411)])
def test_bad_content_length(server, headers, status):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("POST", "/v2/models/digits/infer")
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        assert resp.status == status and json.loads(resp.read())["error"]
    finally:
        conn.close()


def test_unknown_model_metadata_is_404(server):
    got, doc = _request(server, "GET", "/v2/models/nope")
    assert got == 404 and "no model 'nope'" in doc["error"]


def test_still_live_after_hostile_requests(server):
    assert _request(server, "GET", "/v2/health/live") == (200, None)


def test_token_is_required_when_set(engines):
    with InferenceServer(engines, token=TOKEN) as srv:
        got, doc = _request(srv, "GET", "/v2/health/live")
        assert got == 401 and "bearer token is needed" in doc["error"]
        got, doc = _request(srv, "POST", "/v2/models/digits/infer", _infer_json([GOOD]),
                            {"Authorization": "Bearer wrong"})
        assert got == 401 and "wrong" in doc["error"]
        client = tritonhttp.InferenceServerClient(f"127.0.0.1:{srv.port}")
        try:
            assert client.is_server_live(headers={"Authorization": f"Bearer {TOKEN}"})
        finally:
            client.close()


def test_network_host_without_token_is_refused(engines):
    with pytest.raises(ServeError, match="needs a bearer token"):
        InferenceServer(engines, host="0.0.0.0")


def test_a_bug_is_a_500_and_the_server_goes_on(server, monkeypatch):
    def broken(self):
        raise KeyError("boom")

    monkeypatch.setattr(type(server.models["digits"]), "metadata", broken)
    got, doc = _request(server, "GET", "/v2/models/digits")
    assert got == 500 and "KeyError" in doc["error"]
    monkeypatch.undo()
    assert _request(server, "GET", "/v2/health/ready") == (200, None)


def test_bytes_tensors_round_trip_in_binary():
    from desktop.engine.serve import _decode_bytes, _encode_bytes
    from desktop.engine.serve import RequestError

    arr = np.array(["a", "", "héllo"], dtype=object)
    assert _decode_bytes(_encode_bytes(arr), 3, "x").tolist() == ["a", "", "héllo"]
    with pytest.raises(RequestError, match="runs past the data"):
        _decode_bytes(_encode_bytes(arr)[:-1], 3, "x")
