"""The REST door and the Prometheus metrics of the embedded server: plain HTTP clients on
127.0.0.1, request bodies in the forms of TF Serving's REST documentation, real SavedModels."""
import json
import os
import shutil
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.config import BatchingParameters, model_config
from serving.metrics import MonitoringConfig, read_monitoring_config
from serving.server import EmbeddedServer, ServerOptions
from tests.conftest import REPO, export_tiny_model, tiny_config

LATENT = 100
MONITORING_FILE = os.path.join(REPO, "serving", "deploy", "monitoring.config")


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    root = tmp_path_factory.mktemp("rest")
    base, cond = str(root / "wavegan"), str(root / "cond")
    export_tiny_model(os.path.join(base, "1"), seed=1)
    export_tiny_model(os.path.join(base, "2"), seed=2)
    export_tiny_model(os.path.join(cond, "1"), tiny_config(num_classes=3, sample_rate=8000), seed=3)
    return base, cond


def start(bases, **options):
    base, cond = bases
    config = model_config("wavegan", base, policy="all", labels={"stable": 1})
    config.model_config_list.config.extend(model_config("cond", cond).model_config_list.config)
    options = dict(dict(port=0, rest_port=0, max_batch_size=16, max_request_bytes=64 << 10,
                        monitoring=read_monitoring_config(MONITORING_FILE)), **options)
    return EmbeddedServer(config, ServerOptions(**options), BatchingParameters(max_batch_size=16),
                          poll_seconds=0.2).start()


@pytest.fixture(scope="module")
def server(bases):
    srv = start(bases)
    yield srv
    srv.stop()


def http(server, path, body=None, method=None, headers=None, raw=None, scheme="http", context=None):
    """(status, parsed JSON or text) of one plain HTTP request."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(f"{scheme}://127.0.0.1:{server.rest_port}{path}", data=data,
                                     method=method or ("POST" if data is not None else "GET"), headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60, context=context) as response:
            status, text, kind = response.status, response.read().decode(), response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        status, text, kind = error.code, error.read().decode(), error.headers.get_content_type()
    return status, (json.loads(text) if kind == "application/json" else text)


def z(n, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, [n, LATENT]).astype(np.float32)


def reference(base, version, signature, **inputs):
    """What the SavedModel itself returns for these inputs, called in process."""
    model = tf.saved_model.load(os.path.join(base, str(version)))
    return {k: v.numpy() for k, v in model.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()}).items()}


def test_status_and_metadata_as_tf_serving_prints_them(server):
    assert http(server, "/v1/models/wavegan") == (200, {"model_version_status": [
        {"version": str(v), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}} for v in (1, 2)]})
    assert http(server, "/v1/models/wavegan/versions/2")[1]["model_version_status"][0]["version"] == "2"
    assert http(server, "/v1/models/wavegan/labels/stable")[1]["model_version_status"][0]["version"] == "1"
    status, metadata = http(server, "/v1/models/cond/metadata")
    assert status == 200 and metadata["model_spec"] == {"name": "cond", "signature_name": "", "version": "1"}
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == {"serving_default", "sample", "serving_wav", "search"}
    assert set(signatures["sample"]["inputs"]) == {"count", "seed", "label"}
    assert signatures["serving_default"]["inputs"]["z"]["dtype"] == "DT_FLOAT"
    assert http(server, "/v1/models/wavegan/versions/1/metadata")[1]["model_spec"]["version"] == "1"
    listing = http(server, "/v1/models")[1]["models"]
    assert [(m["name"], m["version_labels"]) for m in listing] == [("cond", {}), ("wavegan", {"stable": 1})]


def test_row_and_columnar_predictions_equal_the_savedmodel(server, bases):
    base, cond = bases
    latents = z(3, seed=4)
    expected = reference(base, 2, "serving_default", z=latents)["audio"]
    # Row format, one input: bare values per instance; and named, as TF Serving's docs show both.
    for instances in (latents.tolist(), [{"z": row} for row in latents.tolist()]):
        status, body = http(server, "/v1/models/wavegan:predict", {"instances": instances})
        assert status == 200 and np.allclose(np.asarray(body["predictions"], np.float32), expected, atol=1e-6)
    status, body = http(server, "/v1/models/wavegan/versions/1:predict", {"inputs": {"z": latents.tolist()}})
    assert status == 200 and np.allclose(body["outputs"], reference(base, 1, "serving_default", z=latents)["audio"],
                                         atol=1e-6)
    status, body = http(server, "/v1/models/wavegan/labels/stable:predict", {"inputs": latents.tolist()})
    assert status == 200 and np.asarray(body["outputs"]).shape == (3, 16384, 1)
    # Several inputs (conditional), row format: one object per example.
    labels = [0, 2, 1]
    status, body = http(server, "/v1/models/cond:predict", {"signature_name": "serving_default", "instances": [
        {"z": row, "label": label} for row, label in zip(latents.tolist(), labels)]})
    want = reference(cond, 1, "serving_default", z=latents, label=np.asarray(labels, np.int32))["audio"]
    assert status == 200 and np.allclose(body["predictions"], want, atol=1e-6)


def test_sample_signature_columnar_gives_every_output_and_matches_grpc(server, bases):
    _, cond = bases
    status, body = http(server, "/v1/models/cond:predict",
                        {"signature_name": "sample", "inputs": {"count": 2, "seed": 5, "label": 1}})
    assert status == 200
    outputs = body["outputs"]
    assert set(outputs) == {"audio", "z", "sample_rate", "num_classes"}
    assert outputs["sample_rate"] == 8000 and outputs["num_classes"] == 3
    want = reference(cond, 1, "sample", count=np.int32(2), seed=np.int64(5), label=np.int32(1))
    assert np.allclose(outputs["audio"], want["audio"], atol=1e-6) and np.allclose(outputs["z"], want["z"])
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "cond", "sample"
    for name, value in (("count", np.int32(2)), ("seed", np.int64(5)), ("label", np.int32(1))):
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    via_grpc = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert np.array_equal(tf.make_ndarray(via_grpc.outputs["audio"]), np.asarray(outputs["audio"], np.float32))
    channel.close()


def test_wav_signature_answers_16_bit_wav_files_as_b64_that_match_the_float_audio(server, bases):
    """serving_wav: what REST clients that play the audio call (base64 WAV instead of 16,384 JSON numbers)."""
    import base64
    import io
    import soundfile as sf
    base, cond = bases
    latents = z(3, seed=4)
    status, body = http(server, "/v1/models/wavegan/versions/2:predict",
                        {"signature_name": "serving_wav", "inputs": {"z": latents.tolist()}})
    assert status == 200 and len(body["outputs"]) == 3
    want = reference(base, 2, "serving_default", z=latents)["audio"]
    for clip, expected in zip(body["outputs"], want):
        audio, rate = sf.read(io.BytesIO(base64.b64decode(clip["b64"])), dtype="float32", always_2d=True)
        assert rate == 16000 and audio.shape == (16384, 1)
        assert np.abs(audio - expected).max() <= 1 / 32768 + 1e-6
    status, body = http(server, "/v1/models/cond:predict", {"signature_name": "serving_wav",
                                                            "instances": [{"z": row, "label": 1} for row in latents.tolist()]})
    assert status == 200 and sf.info(io.BytesIO(base64.b64decode(body["predictions"][0]["b64"]))).samplerate == 8000


BIG = json.dumps({"inputs": {"z": np.zeros([150, LATENT]).tolist()}}).encode()  # over the 64 kB body limit


@pytest.mark.parametrize("path,body,status,needle", [
    ("/v1/models/nope:predict", {"instances": z(1).tolist()}, 404, "not served"),
    ("/v1/models/wavegan/versions/7:predict", {"instances": z(1).tolist()}, 404, "version 7"),
    ("/v1/models/wavegan/labels/gold:predict", {"instances": z(1).tolist()}, 404, "label"),
    ("/v1/models/wavegan:predict", {"signature_name": "classify", "instances": z(1).tolist()}, 404, "signature"),
    ("/v1/models/wavegan:predict", b"{not json", 400, "not valid JSON"),
    ("/v1/models/wavegan:predict", b'{"instances": [[NaN]]}', 400, "not valid JSON"),  # NaN has no JSON form
    ("/v1/models/wavegan:predict", [1, 2], 400, "JSON object"),
    ("/v1/models/wavegan:predict", {"instances": [], "inputs": []}, 400, "exactly one"),
    ("/v1/models/wavegan:predict", {"signature_name": "serving_default"}, 400, "exactly one"),
    ("/v1/models/wavegan:predict", {"instances": [{"zz": [0.0] * LATENT}]}, 400, "takes inputs"),
    ("/v1/models/wavegan:predict", {"instances": [[0.0] * 7]}, 400, "shape"),
    ("/v1/models/wavegan:predict", {"instances": [[0.0] * LATENT, [0.0] * 3]}, 400, "rectangular"),
    ("/v1/models/wavegan:predict", {"instances": [["a"] * LATENT]}, 400, "float"),
    ("/v1/models/wavegan:predict", {"inputs": z(17).tolist()}, 429, "over the limit"),
    ("/v1/models/wavegan:predict", {"signature_name": "sample", "inputs": {"count": 1000, "seed": 0}}, 429, "limit"),
    ("/v1/models/wavegan:predict", {"signature_name": "sample", "inputs": {"count": 0, "seed": 0}}, 400, "at least"),
    ("/v1/models/wavegan:predict", {"signature_name": "sample", "instances": [{"count": 1, "seed": 0}]}, 400,
     "shape"),
    ("/v1/models/wavegan:predict", BIG, 413, "over the limit"),
    ("/v1/models/cond:predict", {"inputs": {"z": z(2).tolist(), "label": [0, 3]}}, 400, "label"),
    ("/v1/models/cond:predict", {"inputs": {"z": z(1).tolist(), "label": [1.5]}}, 400, "int32"),
    ("/v1/models/cond:predict", {"inputs": {"z": z(2).tolist(), "label": [0, 1, 2]}}, 400, "different sizes"),
    ("/v1/models/cond:predict", {"inputs": {"label": [0] * 17, "z": z(17).tolist()}}, 429, "over the limit"),
    ("/v1/models/cond:predict", {"inputs": {"z": z(1).tolist(), "label": [2 ** 40]}}, 400, "range"),
    ("/v1/models/wavegan/versions/x", None, 400, "Malformed request"),
    ("/v1/models", {"instances": [1]}, 400, "Malformed request"),
])
def test_bad_requests_get_tf_servings_http_status_and_the_server_keeps_serving(server, path, body, status, needle):
    raw = body if isinstance(body, bytes) else None
    got, answer = http(server, path, None if raw else body, raw=raw)
    assert got == status and needle in answer["error"], (got, answer)
    assert http(server, "/v1/models/wavegan:predict", {"instances": z(1).tolist()})[0] == 200


def test_deadline_exceeded_is_504(bases):
    srv = start(bases, max_deadline_s=0.0)  # every request is out of time before it runs: deterministic
    try:
        status, answer = http(srv, "/v1/models/wavegan:predict", {"instances": z(1).tolist()})
        assert status == 504 and "deadline expired" in answer["error"]
    finally:
        srv.stop()


def test_prometheus_metrics_count_both_doors(server):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "wavegan"
    request.inputs["z"].CopyFrom(tf.make_tensor_proto(z(2)))
    prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    channel.close()
    http(server, "/v1/models/cond:predict", {"inputs": {"z": z(1).tolist(), "label": [0]}})
    http(server, "/v1/models/cond:predict", {"inputs": {"z": z(1).tolist(), "label": [9]}})
    status, text = http(server, "/monitoring/prometheus/metrics")
    assert status == 200
    from prometheus_client.parser import text_string_to_metric_families
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}

    def value(name, **labels):
        return samples.get((name, tuple(sorted(labels.items()))), 0)
    assert value("serving_requests_total", model="wavegan", signature="serving_default", api="grpc", code="OK") >= 1
    assert value("serving_requests_total", model="cond", signature="serving_default", api="rest", code="OK") >= 1
    assert value("serving_requests_total", model="cond", signature="serving_default", api="rest",
                 code="INVALID_ARGUMENT") >= 1
    assert value("serving_request_latency_seconds_count", model="cond", signature="serving_default", api="rest") >= 2
    assert value("serving_batch_size_count", model="wavegan") >= 1
    assert value("serving_batch_size_sum", model="wavegan") >= 2
    for version in ("1", "2"):
        assert value("serving_model_version_state", model="wavegan", version=version, state="AVAILABLE") == 1
    # TF Serving's own names and labels, for dashboards made for it: requests by status, latency in
    # microseconds by API and entrypoint, batch sizes.
    assert value(":tensorflow:serving:request_count", model_name="cond", status="INVALID_ARGUMENT") >= 1
    assert value(":tensorflow:serving:request_count", model_name="wavegan", status="OK") >= 1
    assert value(":tensorflow:serving:request_latency_count", model_name="wavegan", API="Predict",
                 entrypoint="GRPC") >= 1
    assert value(":tensorflow:serving:request_latency_count", model_name="cond", API="Predict", entrypoint="REST") >= 2
    assert value(":tensorflow:serving:request_latency_sum", model_name="cond", API="Predict", entrypoint="REST") > 100
    assert value(":tensorflow:serving:batching_session:processed_batch_size_count") >= 1


def test_monitoring_off_ui_off_and_a_bad_monitoring_file(bases, tmp_path):
    srv = start(bases, monitoring=MonitoringConfig(enable=False), ui=False)
    try:
        assert http(srv, "/monitoring/prometheus/metrics")[0] == 404
        assert http(srv, "/")[0] == 404
    finally:
        srv.stop()
    bad = tmp_path / "monitoring.config"
    bad.write_text("prometheus_config { enabled: true }")
    from serving.config import ServingConfigError
    with pytest.raises(ServingConfigError, match="enabled"):
        read_monitoring_config(str(bad))


def test_studio_page_and_its_modules_are_served(server):
    status, page = http(server, "/")
    assert status == 200 and "<title>WaveGAN studio</title>" in page
    for module in ("studio.js", "api.js", "sound.js", "sequencer.js", "search.js", "studio.css"):
        status, text = http(server, f"/studio/{module}")
        assert status == 200 and len(text) > 200
        assert "http://" not in text and "https://" not in text  # nothing loaded from elsewhere


def test_token_and_tls_guard_the_rest_door_as_they_guard_grpc(bases, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    import ssl
    from tests.test_serving import make_certs
    certs = make_certs(str(tmp_path))
    srv = start(bases, token="s3cret", tls_cert=certs["server.pem"], tls_key=certs["server.key"],
                tls_client_ca=certs["ca.pem"])
    try:
        client = ssl.create_default_context(cafile=certs["ca.pem"])
        client.load_cert_chain(certs["client.pem"], certs["client.key"])
        good = {"Authorization": "Bearer s3cret"}
        assert http(srv, "/v1/models/wavegan", headers=good, scheme="https", context=client)[0] == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            status, answer = http(srv, "/v1/models/wavegan", headers=headers, scheme="https", context=client)
            assert status == 401 and "token" in answer["error"]
        assert http(srv, "/monitoring/prometheus/metrics", scheme="https", context=client)[0] == 401
        assert http(srv, "/", scheme="https", context=client)[0] == 200  # the page holds no data; its calls need the token
        no_client_cert = ssl.create_default_context(cafile=certs["ca.pem"])
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            http(srv, "/v1/models/wavegan", headers=good, scheme="https", context=no_client_cert)
        with pytest.raises((urllib.error.URLError, ConnectionError, http_client_errors())):
            http(srv, "/v1/models/wavegan", headers=good)  # plain HTTP to a TLS port
    finally:
        srv.stop()


def http_client_errors():
    import http.client
    return http.client.HTTPException
