"""The embedded gRPC server, exercised with the official tensorflow_serving stubs on 127.0.0.1."""
import os
import shutil
import subprocess
import threading
import time

import grpc
import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_management_pb2,
                                     model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc)

from models.export import export_generator, load_exported
from models.wavegan import Generator
from serving.config import BatchingParameters, model_config
from serving.model_dirs import push
from serving.server import EmbeddedServer, ServerOptions
from tests.conftest import CLI_ENV, WAVEGAN, tiny_config

LATENT = 100


def export_version(base, version, cfg=None, seed=0):
    cfg = cfg or tiny_config()
    tf.random.set_seed(seed)
    path = os.path.join(base, str(version))
    export_generator(Generator(cfg), cfg, path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("serving")
    base = str(root / "wavegan")
    export_version(base, 1, seed=1)
    export_version(base, 2, seed=2)
    cond_base = str(root / "cond")
    export_version(cond_base, 1, tiny_config(num_classes=3), seed=3)
    return root, base, cond_base


def start(server_config, **options):
    batching = options.pop("batching", BatchingParameters(max_batch_size=16, batch_timeout_micros=3000))
    server = EmbeddedServer(server_config, ServerOptions(port=0, **options), batching, poll_seconds=0.2)
    return server.start()


def stubs(port, channel=None):
    channel = channel or grpc.insecure_channel(f"127.0.0.1:{port}")
    return (prediction_service_pb2_grpc.PredictionServiceStub(channel),
            model_service_pb2_grpc.ModelServiceStub(channel), channel)


def predict_request(model="wavegan", signature="", version=None, version_label="", **inputs):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if signature:
        request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if version_label:
        request.model_spec.version_label = version_label
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def z(n, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, [n, LATENT]).astype(np.float32)


@pytest.fixture(scope="module")
def server(models):
    _, base, cond_base = models
    config = model_config("wavegan", base)
    config.model_config_list.config.extend(model_config("cond", cond_base).model_config_list.config)
    srv = start(config, max_batch_size=16, max_request_bytes=64 * 1024)
    yield srv
    srv.stop()


def test_predict_matches_the_savedmodel_in_process(server, models):
    _, base, _ = models
    predict, _, channel = stubs(server.port)
    response = predict.Predict(predict_request(z=z(3)), timeout=30)
    assert response.model_spec.version.value == 2 and response.model_spec.signature_name == "serving_default"
    assert response.outputs["audio"].tensor_content  # packed, not a repeated float field
    audio = tf.make_ndarray(response.outputs["audio"])
    model, _ = load_exported(os.path.join(base, "2"))
    expected = model.signatures["serving_default"](z=tf.constant(z(3)))["audio"].numpy()
    np.testing.assert_allclose(audio, expected, atol=1e-6)
    sampled = predict.Predict(predict_request(signature="sample", count=np.int32(2), seed=np.int64(5)), timeout=30)
    in_process = model.signatures["sample"](count=tf.constant(2), seed=tf.constant(5, tf.int64))["audio"].numpy()
    np.testing.assert_allclose(tf.make_ndarray(sampled.outputs["audio"]), in_process, atol=1e-6)
    channel.close()


def test_metadata_status_and_health(server):
    predict, model_service, channel = stubs(server.port)
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "wavegan"
    response = predict.GetModelMetadata(request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    assert set(signatures.signature_def) == {"serving_default", "sample", "serving_wav", "search"}
    assert set(signatures.signature_def["sample"].inputs) == {"count", "seed"}
    assert signatures.signature_def["serving_default"].outputs["audio"].tensor_shape.dim[1].size == 16384
    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "wavegan"
    statuses = model_service.GetModelStatus(status_request, timeout=30).model_version_status
    assert [(s.version, s.state) for s in statuses] == [(2, get_model_status_pb2.ModelVersionStatus.AVAILABLE)]
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "wavegan", "cond"):
        assert health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status == \
            health_pb2.HealthCheckResponse.SERVING
    channel.close()


def _code(call, *args, **kwargs):
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kwargs)
    return info.value.code(), info.value.details()


@pytest.mark.parametrize("request_kwargs,code,needle", [
    (dict(model="nope", z=z(1)), grpc.StatusCode.NOT_FOUND, "not served"),
    (dict(version=7, z=z(1)), grpc.StatusCode.NOT_FOUND, "version 7"),
    (dict(version_label="gold", z=z(1)), grpc.StatusCode.NOT_FOUND, "label"),
    (dict(signature="classify", z=z(1)), grpc.StatusCode.NOT_FOUND, "signature"),
    (dict(z=z(1).astype(np.float64)), grpc.StatusCode.INVALID_ARGUMENT, "float32"),
    (dict(z=np.zeros([2, 7], np.float32)), grpc.StatusCode.INVALID_ARGUMENT, "shape"),
    (dict(z=np.full([1, LATENT], np.nan, np.float32)), grpc.StatusCode.INVALID_ARGUMENT, "NaN"),
    (dict(zz=z(1)), grpc.StatusCode.INVALID_ARGUMENT, "takes inputs"),
    (dict(z=z(17)), grpc.StatusCode.RESOURCE_EXHAUSTED, "over the limit"),
    (dict(signature="sample", count=np.int32(1000), seed=np.int64(0)), grpc.StatusCode.RESOURCE_EXHAUSTED, "limit"),
    (dict(z=z(200)), grpc.StatusCode.RESOURCE_EXHAUSTED, ""),  # 80 kB > the 64 kB request limit
    (dict(model="cond", z=z(2), label=np.array([0, 3], np.int32)), grpc.StatusCode.INVALID_ARGUMENT, "label"),
])
def test_bad_requests_get_the_right_code_and_the_server_keeps_serving(server, request_kwargs, code, needle):
    predict, _, channel = stubs(server.port)
    got, details = _code(predict.Predict, predict_request(**request_kwargs), timeout=30)
    assert got == code and needle in details, details
    assert predict.Predict(predict_request(z=z(1)), timeout=30).outputs["audio"].tensor_content
    channel.close()


def test_deadlines(server, models):
    predict, _, channel = stubs(server.port)
    assert _code(predict.Predict, predict_request(z=z(16)), timeout=0.0005)[0] == grpc.StatusCode.DEADLINE_EXCEEDED
    channel.close()
    _, base, _ = models
    strict = start(model_config("wavegan", base), max_deadline_s=0.0)  # out of time before it runs
    predict, _, channel = stubs(strict.port)
    code, details = _code(predict.Predict, predict_request(z=z(1)), timeout=30)
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    channel.close()
    strict.stop()


def serve_only_version_one(tmp_path, base):
    """A live base path holding a copy of version 1, and a server polling it."""
    live = str(tmp_path / "wavegan")
    shutil.copytree(os.path.join(base, "1"), os.path.join(live, "1"))
    return live, start(model_config("wavegan", live))


def test_new_version_under_concurrent_load_is_picked_up_with_no_failed_request(tmp_path, models):
    _, base, _ = models
    live, srv = serve_only_version_one(tmp_path, base)
    failures, versions_seen, stop = [], [], threading.Event()

    def client(seed):
        predict, _, channel = stubs(srv.port)
        for i in range(400):  # bounded: at most 400 requests per client, and stops when told
            if stop.is_set():
                break
            try:
                response = predict.Predict(predict_request(z=z(1, seed * 1000 + i)), timeout=30)
                versions_seen.append(response.model_spec.version.value)
            except grpc.RpcError as error:
                failures.append(error.code())
        channel.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    assert push(os.path.join(base, "2"), live) == 2
    deadline = time.time() + 60
    while time.time() < deadline and (not versions_seen or versions_seen[-1] != 2):
        time.sleep(0.1)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    srv.stop()
    assert not failures
    assert versions_seen[0] == 1 and versions_seen[-1] == 2 and 2 in versions_seen


def test_version_labels_pinning_and_rollback_by_config(tmp_path, models):
    _, base, _ = models
    config = model_config("wavegan", base, policy="specific", versions=[1, 2], labels={"stable": 1, "canary": 2})
    srv = start(config)
    predict, model_service, channel = stubs(srv.port)
    assert predict.Predict(predict_request(version_label="stable", z=z(1)), timeout=30).model_spec.version.value == 1
    assert predict.Predict(predict_request(version_label="canary", z=z(1)), timeout=30).model_spec.version.value == 2
    assert predict.Predict(predict_request(version=1, z=z(1)), timeout=30).model_spec.version.value == 1
    assert predict.Predict(predict_request(z=z(1)), timeout=30).model_spec.version.value == 2
    pinned = model_config("wavegan", base, policy="specific", versions=[1], labels={"stable": 1})
    reload = model_management_pb2.ReloadConfigRequest(config=pinned)
    assert model_service.HandleReloadConfigRequest(reload, timeout=60).status.error_code == 0
    assert predict.Predict(predict_request(z=z(1)), timeout=30).model_spec.version.value == 1  # rolled back
    assert _code(predict.Predict, predict_request(version=2, z=z(1)), timeout=30)[0] == grpc.StatusCode.NOT_FOUND
    channel.close()
    srv.stop()


def test_a_corrupt_new_version_is_reported_and_not_served(tmp_path, models):
    _, base, _ = models
    live, srv = serve_only_version_one(tmp_path, base)
    corrupt = str(tmp_path / "staging")
    shutil.copytree(os.path.join(base, "2"), corrupt)
    with open(os.path.join(corrupt, "variables", "variables.data-00000-of-00001"), "r+b") as f:
        f.truncate(100)
    os.rename(corrupt, os.path.join(live, "2"))
    predict, model_service, channel = stubs(srv.port)
    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "wavegan"
    deadline, statuses = time.time() + 30, {}
    loading = get_model_status_pb2.ModelVersionStatus.LOADING
    while time.time() < deadline and (2 not in statuses or statuses[2].state == loading):
        statuses = {s.version: s for s in model_service.GetModelStatus(status_request, timeout=10).model_version_status}
        time.sleep(0.2)
    assert statuses[2].state == get_model_status_pb2.ModelVersionStatus.END and statuses[2].status.error_message
    assert statuses[1].state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert predict.Predict(predict_request(z=z(1)), timeout=30).model_spec.version.value == 1
    channel.close()
    srv.stop()


def make_certs(folder):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, with openssl."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=test-ca")
    for name in ("server", "client"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={name}")
        with open(os.path.join(folder, f"{name}.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    return {k: os.path.join(folder, k) for k in os.listdir(folder)}


def test_tls_mutual_tls_and_bearer_tokens(tmp_path, models):
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    _, base, _ = models
    certs = make_certs(str(tmp_path))
    srv = start(model_config("wavegan", base), tls_cert=certs["server.pem"], tls_key=certs["server.key"],
                tls_client_ca=certs["ca.pem"], token="s3cret")
    read = lambda k: open(certs[k], "rb").read()  # noqa: E731
    good = grpc.secure_channel(f"127.0.0.1:{srv.port}", grpc.ssl_channel_credentials(
        read("ca.pem"), read("client.key"), read("client.pem")))
    predict, _, _ = stubs(srv.port, good)
    token = [("authorization", "Bearer s3cret")]
    assert predict.Predict(predict_request(z=z(1)), timeout=30, metadata=token).outputs["audio"].tensor_content
    assert _code(predict.Predict, predict_request(z=z(1)), timeout=30)[0] == grpc.StatusCode.UNAUTHENTICATED
    assert _code(predict.Predict, predict_request(z=z(1)), timeout=30,
                 metadata=[("authorization", "Bearer wrong")])[0] == grpc.StatusCode.UNAUTHENTICATED
    health = health_pb2_grpc.HealthStub(good)  # probes need no token
    assert health.Check(health_pb2.HealthCheckRequest(service="wavegan"), timeout=10).status == \
        health_pb2.HealthCheckResponse.SERVING
    no_client_cert = grpc.secure_channel(f"127.0.0.1:{srv.port}", grpc.ssl_channel_credentials(read("ca.pem")))
    assert _code(stubs(srv.port, no_client_cert)[0].Predict, predict_request(z=z(1)), timeout=10,
                 metadata=token)[0] == grpc.StatusCode.UNAVAILABLE
    plaintext = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
    assert _code(stubs(srv.port, plaintext)[0].Predict, predict_request(z=z(1)), timeout=10,
                 metadata=token)[0] == grpc.StatusCode.UNAVAILABLE
    for channel in (good, no_client_cert, plaintext):
        channel.close()
    srv.stop()


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http_json(url):
    import urllib.request
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode()


@pytest.mark.e2e
def test_serve_and_synth_commands_write_playable_wavs(tmp_path):
    """`wavegan serve` with both doors and metrics; `wavegan synth` writes at the model's own rate (8 kHz)."""
    from tests.conftest import export_tiny_model
    base = str(tmp_path / "digits")
    export_tiny_model(os.path.join(base, "1"), tiny_config(sample_rate=8000))
    port, rest_port = _free_port(), _free_port()
    exe, env = WAVEGAN, CLI_ENV
    monitoring = os.path.join(os.path.dirname(os.path.dirname(__file__)), "serving", "deploy", "monitoring.config")
    server = subprocess.Popen([exe, "serve", "--model-base", base, "--model-name", "wavegan", "--port", str(port),
                               "--rest-port", str(rest_port), "--monitoring-config", monitoring], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=120)
        health = health_pb2_grpc.HealthStub(channel)
        deadline = time.time() + 60
        while health.Check(health_pb2.HealthCheckRequest(service="wavegan"), timeout=10).status != \
                health_pb2.HealthCheckResponse.SERVING and time.time() < deadline:
            time.sleep(0.2)
        channel.close()
        result = subprocess.run([exe, "synth", "--server", f"127.0.0.1:{port}", "--n", "3", "--seed", "1",
                                 "--out", str(tmp_path / "wavs")], capture_output=True, text=True, env=env,
                                timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "at 8000 Hz" in result.stdout
        names = sorted(os.listdir(tmp_path / "wavs"))
        assert len(names) == 3
        audio, rate = sf.read(str(tmp_path / "wavs" / names[0]))
        assert rate == 8000 and audio.shape == (16384,) and np.abs(audio).max() > 0
        override = subprocess.run([exe, "synth", "--server", f"127.0.0.1:{port}", "--n", "1", "--sample-rate",
                                   "16000", "--out", str(tmp_path / "w16")], capture_output=True, text=True, env=env,
                                  timeout=120)
        assert override.returncode == 0 and sf.info(str(next((tmp_path / "w16").iterdir()))).samplerate == 16000
        bad = subprocess.run([exe, "synth", "--server", f"127.0.0.1:{port}", "--n", "3", "--version", "9",
                              "--out", str(tmp_path / "x")], capture_output=True, text=True, env=env, timeout=120)
        assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("wavegan synth: error: NOT_FOUND")
        rest = f"http://127.0.0.1:{rest_port}"
        assert '"state":"AVAILABLE"' in _http_json(f"{rest}/v1/models/wavegan")
        assert "WaveGAN studio" in _http_json(f"{rest}/")
        assert 'serving_requests_total{api="grpc",code="OK",model="wavegan",signature="sample"} 2.0' in \
            _http_json(f"{rest}/monitoring/prometheus/metrics")
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    assert f"gRPC on 127.0.0.1:{port}" in out and f"open http://127.0.0.1:{rest_port}/ in a browser" in out


@pytest.mark.e2e
def test_serve_warns_when_the_model_base_holds_no_versions(tmp_path):
    exe, env = WAVEGAN, CLI_ENV
    server = subprocess.Popen([exe, "serve", "--model-base", str(tmp_path), "--port", str(_free_port())], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = server.stdout.readline()  # printed once the server is up: the first poll has run
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=60)
    assert "gRPC on 127.0.0.1" in started
    seen = stderr
    assert f"No versions of servable wavegan found under base path {tmp_path}" in seen
