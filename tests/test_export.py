"""Exported SavedModel: signatures, reload fidelity, warm-up requests, CLI tooling."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from models.export import WARMUP_FILE, export_generator, load_exported
from models.wavegan import Generator
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    cfg = tiny_config(batchnorm=True)
    generator = Generator(cfg)
    generator(tf.zeros([2, cfg.latent_dim]), training=True)  # move BN statistics off their init
    path = export_generator(generator, cfg, str(tmp_path_factory.mktemp("export") / "model"))
    return generator, cfg, path


def test_reloaded_model_gives_identical_audio_for_the_same_z(exported):
    generator, cfg, path = exported
    model, loaded_cfg = load_exported(path)
    assert loaded_cfg == cfg
    z = np.random.RandomState(1).uniform(-1, 1, [3, cfg.latent_dim]).astype(np.float32)
    out = model.signatures["serving_default"](z=tf.constant(z))["audio"].numpy()
    assert out.shape == (3, cfg.slice_len, cfg.num_channels) and out.dtype == np.float32
    np.testing.assert_array_equal(out, generator(z, training=False).numpy())
    assert np.all(np.abs(out) <= 1)


def test_sample_signature_is_deterministic_in_the_seed(exported):
    _, cfg, path = exported
    model, _ = load_exported(path)
    sample = model.signatures["sample"]
    a = sample(count=tf.constant(4), seed=tf.constant(7, tf.int64))
    b = sample(count=tf.constant(4), seed=tf.constant(7, tf.int64))
    c = sample(count=tf.constant(4), seed=tf.constant(8, tf.int64))
    np.testing.assert_array_equal(a["audio"].numpy(), b["audio"].numpy())
    assert not np.array_equal(a["audio"].numpy(), c["audio"].numpy())
    z = a["z"].numpy()
    assert z.shape == (4, cfg.latent_dim) and z.min() >= -1 and z.max() <= 1
    direct = model.signatures["serving_default"](z=tf.constant(z))["audio"].numpy()
    np.testing.assert_array_equal(direct, a["audio"].numpy())


def test_warmup_requests_are_valid_prediction_logs(exported):
    from tensorflow_serving.apis import prediction_log_pb2
    _, _, path = exported
    records = list(tf.data.TFRecordDataset(os.path.join(path, "assets.extra", WARMUP_FILE)).as_numpy_iterator())
    logs = [prediction_log_pb2.PredictionLog.FromString(r) for r in records]
    assert {log.predict_log.request.model_spec.signature_name for log in logs} == {"serving_default", "sample",
                                                                                   "serving_wav"}
    model, _ = load_exported(path)
    for log in logs:  # each warm-up request must run against its signature
        request = log.predict_log.request
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        outputs = model.signatures[request.model_spec.signature_name](**inputs)
        assert (outputs["audio"] if "audio" in outputs else outputs["wav_bytes"]).shape[0] == 1


@pytest.mark.e2e
def test_saved_model_cli_describes_the_signatures(exported):
    _, _, path = exported
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    out = subprocess.run([cli, "show", "--dir", path, "--all"], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert out.returncode == 0, out.stderr[-2000:]
    for text in ("signature_def['serving_default']", "signature_def['sample']", "inputs['z']",
                 "inputs['seed']", "outputs['audio']", "(-1, 16384, 1)"):
        assert text in out.stdout


def test_conditional_export_takes_and_checks_labels(tmp_path):
    cfg = tiny_config(num_classes=3)
    generator = Generator(cfg)
    model, _ = load_exported(export_generator(generator, cfg, str(tmp_path / "m")))
    z = tf.random.uniform([2, cfg.latent_dim], -1, 1)
    out = model.signatures["serving_default"](z=z, label=tf.constant([0, 2]))["audio"].numpy()
    np.testing.assert_array_equal(out, generator(z, tf.constant([0, 2])).numpy())
    sampled = model.signatures["sample"](count=tf.constant(2), seed=tf.constant(0, tf.int64),
                                         label=tf.constant(1))["audio"].numpy()
    np.testing.assert_array_equal(sampled, generator(
        model.signatures["sample"](count=tf.constant(2), seed=tf.constant(0, tf.int64),
                                   label=tf.constant(1))["z"], tf.constant([1, 1])).numpy())
    with pytest.raises(tf.errors.InvalidArgumentError, match="label out of range"):
        model.signatures["serving_default"](z=z, label=tf.constant([0, 3]))


def test_re_export_replaces_the_model_atomically(exported, tmp_path):
    generator, cfg, _ = exported
    target = str(tmp_path / "model")
    export_generator(generator, cfg, target)
    export_generator(generator, cfg, target)
    assert sorted(os.listdir(tmp_path)) == ["model"]  # no staging or .old folders left
    load_exported(target)
