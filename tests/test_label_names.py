"""Class names end to end: in the export, over gRPC (official stubs) and REST on 127.0.0.1,
for models that know their names and for models exported before names were kept."""
import json
import os
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from models.config import ConfigError
from models.export import LABELS_ASSET, load_exported
from models.labels import file_part, resolve_label
from serving.client import SynthesisClient
from serving.config import model_config
from serving.server import EmbeddedServer, ServerOptions
from tests.test_rest import http
from tests.conftest import export_tiny_model, tiny_config

# Names are folder names: untrusted text, here with markup and digits that are not their index.
NAMES = ["kick", "<img src=x onerror=alert(1)>", "7"]


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    root = tmp_path_factory.mktemp("names")
    named, old = str(root / "named"), str(root / "old")
    export_tiny_model(os.path.join(named, "1"), tiny_config(num_classes=3, label_names=NAMES), seed=1)
    export_tiny_model(os.path.join(old, "1"), tiny_config(num_classes=3), seed=1)  # as exported before names
    return named, old


@pytest.fixture(scope="module")
def server(bases):
    config = model_config("named", bases[0])
    config.model_config_list.config.extend(model_config("old", bases[1]).model_config_list.config)
    srv = EmbeddedServer(config, ServerOptions(port=0, rest_port=0), poll_seconds=0.2).start()
    yield srv
    srv.stop()


def in_process(base, signature, **inputs):
    model = tf.saved_model.load(os.path.join(base, "1"))
    return model.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})


def test_the_export_carries_the_names_as_asset_config_and_output(bases):
    model, cfg = load_exported(os.path.join(bases[0], "1"))
    assert cfg.label_names == NAMES
    with open(os.path.join(bases[0], "1", "assets", LABELS_ASSET)) as f:
        assert f.read().splitlines() == NAMES
    out = model.signatures["sample"](count=tf.constant(1), seed=tf.constant(0, tf.int64), label=tf.constant(0))
    assert [n.decode() for n in out["label_names"].numpy()] == NAMES
    old, _ = load_exported(os.path.join(bases[1], "1"))
    assert "sample_by_name" not in old.signatures


@pytest.mark.parametrize("label,index", [("kick", 0), (NAMES[1], 1), ("7", 2), ("1", 1)])
def test_sample_by_name_is_sample_with_the_names_index(bases, label, index):
    """A name first; digits that are no name are an index; "7" is the name of class 2, not index 7."""
    by_name = in_process(bases[0], "sample_by_name", count=np.int32(2), seed=np.int64(4), label_name=label)
    by_index = in_process(bases[0], "sample", count=np.int32(2), seed=np.int64(4), label=np.int32(index))
    np.testing.assert_array_equal(by_name["audio"].numpy(), by_index["audio"].numpy())


def test_names_over_grpc_match_the_model_and_unknown_names_list_the_known_ones(server, bases):
    client = SynthesisClient(f"127.0.0.1:{server.port}", model="named")
    try:
        outputs = client.draw(2, seed=4, label=NAMES[1])
        want = in_process(bases[0], "sample", count=np.int32(2), seed=np.int64(4), label=np.int32(1))
        np.testing.assert_array_equal(outputs["audio"], want["audio"].numpy())
        assert [n.decode() for n in outputs["label_names"]] == NAMES
        with pytest.raises(grpc.RpcError) as error:
            client.draw(1, seed=0, label="cowbell")
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.value.details() == f"unknown label: cowbell (known labels: {', '.join(NAMES)})"
        assert client.draw(1, seed=0, label="kick")["audio"].shape == (1, 16384, 1)  # still serving
    finally:
        client.close()


def test_names_over_rest_and_a_400_for_an_unknown_one(server, bases):
    post = lambda body: http(server, "/v1/models/named:predict", body)  # noqa: E731

    status, body = post({"signature_name": "sample_by_name", "inputs": {"count": 1, "seed": 3, "label_name": "kick"}})
    want = in_process(bases[0], "sample", count=np.int32(1), seed=np.int64(3), label=np.int32(0))
    assert status == 200 and np.allclose(body["outputs"]["audio"], want["audio"].numpy(), atol=1e-6), body
    assert body["outputs"]["label_names"] == NAMES
    status, body = post({"signature_name": "sample_by_name", "inputs": {"count": 1, "seed": 3, "label_name": "hat"}})
    assert status == 400 and "unknown label: hat (known labels: kick," in body["error"]
    status, body = post({"signature_name": "sample_by_name", "inputs": {"count": 1, "seed": 3, "label_name": 2}})
    assert status == 400 and "strings" in body["error"]


def test_models_without_names_still_take_indices(server, bases):
    client = SynthesisClient(f"127.0.0.1:{server.port}", model="old")
    try:
        assert client.draw(1, seed=0, label=2)["audio"].shape == (1, 16384, 1)
        assert "label_names" not in client.draw(1, seed=0, label=2)
        with pytest.raises(grpc.RpcError):  # no sample_by_name: the synth command says why (test_cli)
            client.draw(1, seed=0, label="kick")
    finally:
        client.close()


def test_resolve_label_and_config_checks():
    cfg = tiny_config(num_classes=3, label_names=NAMES)
    assert [resolve_label(x, cfg) for x in ("kick", "7", 1, "0")] == [0, 2, 1, 0]
    with pytest.raises(ConfigError, match="known labels: kick, <img"):
        resolve_label("hat", cfg)
    with pytest.raises(ConfigError, match=r"in \[0, 3\)"):
        resolve_label(5, tiny_config(num_classes=3))
    for bad in (["a", "b"], ["a", "a", "b"], ["a", "", "b"], ["a", "b\nc", "d"]):
        with pytest.raises(ConfigError, match="label_names"):
            tiny_config(num_classes=3, label_names=bad)


@pytest.mark.parametrize("name,part", [("snare", "snare"), ("../../x", "x"), ("<img src=x onerror=alert(1)>",
                                                                             "img_src_x_onerror_alert_1"),
                                       ("..", "label"), ("a/b\\c", "a_b_c")])
def test_a_name_becomes_one_safe_file_name_part(name, part):
    assert file_part(name) == part


def synth(server, tmp_path, capsys, model, label):
    """`wavegan synth` in process against the server: (exit code, stderr, files written)."""
    from pipeline.cli import main
    out = tmp_path / f"{model}-{file_part(label)}"
    code = main(["synth", "--server", f"127.0.0.1:{server.port}", "--model", model, "--n", "2",
                 "--label", label, "--out", str(out)])
    return code, capsys.readouterr().err, sorted(os.listdir(out)) if out.exists() else []


def test_synth_takes_names_and_indices_and_says_what_an_old_model_needs(server, tmp_path, capsys):
    code, err, files = synth(server, tmp_path, capsys, "named", NAMES[1])
    assert code == 0 and len(files) == 2, err
    code, err, files = synth(server, tmp_path, capsys, "named", "cowbell")
    assert code == 2 and "INVALID_ARGUMENT: unknown label: cowbell (known labels: kick," in err and not files
    code, err, files = synth(server, tmp_path, capsys, "old", "2")
    assert code == 0 and len(files) == 2 and "no class names" in err
    code, err, files = synth(server, tmp_path, capsys, "old", "kick")
    assert code == 2 and err.strip().splitlines()[-1] == ("wavegan synth: error: unknown label 'kick': this model "
                                                          "has no class names (exported before they were kept): "
                                                          "give a class index")


def test_ipv6_hosts_are_bracketed_and_served(bases):
    import socket
    from serving.config import browsable_host, host_port
    assert host_port("::1", 8500) == "[::1]:8500" and host_port("127.0.0.1", 8500) == "127.0.0.1:8500"
    assert host_port(browsable_host("::"), 8501) == "[::1]:8501"
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    srv = EmbeddedServer(model_config("named", bases[0]), ServerOptions(host="::1", port=0, rest_port=0)).start()
    try:
        client = SynthesisClient(host_port("::1", srv.port), model="named")
        assert client.draw(1, seed=0, label="kick")["audio"].shape == (1, 16384, 1)
        client.close()
        with urllib.request.urlopen(f"http://{host_port('::1', srv.rest_port)}/v1/models/named", timeout=30) as r:
            assert json.loads(r.read())["model_version_status"][0]["state"] == "AVAILABLE"
    finally:
        srv.stop()
