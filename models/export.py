"""Exports a trained generator as a TF Serving-ready SavedModel.

Signatures:
  serving_default: z float32 [batch, latent_dim] (+ label int32 [batch]) -> audio
  sample:          count int32 [], seed int64 [] (+ label int32 []) -> audio, z, sample_rate, num_classes
                   (+ label_names string [num_classes] when the model knows its class names)
  sample_by_name:  count int32 [], seed int64 [], label_name string [] -> the same outputs
                   (models with class names; the name, or an index written as digits)
  serving_wav:     as serving_default -> wav_bytes string [batch]: each clip a 16-bit WAV file
  search:          target float32 [1, samples, channels], count int32 [], seed int64 [] (+ label int32 [])
                   -> z, audio, distance [count], best first (models/search.py: `count` starts),
                   and the distance's parts: spectral_distance (+ judge_distance, exported with a judge)
                   (TF Serving's JSON carries *_bytes outputs as {"b64": ...}: 4x smaller, no float parsing)
audio is float32 [batch, slice_len, channels] in [-1, 1]. sample_rate and num_classes
(int32 scalars) tell a remote client how to play the audio and which labels exist. The config travels as
assets/wavegan_config.json, the class names also as assets/labels.txt (one per line, index order),
and warm-up requests as assets.extra/.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from models.config import WaveGANConfig
from models.errors import WaveGANError

CONFIG_ASSET = "wavegan_config.json"
WARMUP_FILE = "tf_serving_warmup_requests"
SERVING_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY  # "serving_default"
SAMPLE_SIGNATURE = "sample"
SAMPLE_BY_NAME_SIGNATURE = "sample_by_name"
WAV_SIGNATURE = "serving_wav"
SEARCH_SIGNATURE = "search"
LABELS_ASSET = "labels.txt"
log = logging.getLogger(__name__)


def sample_latents(count, seed, latent_dim):
    """z ~ U[-1, 1] from a seed: the one seed -> latent mapping (stateless, portable)."""
    seed = tf.cast(seed, tf.int64)
    return tf.random.stateless_uniform([count, latent_dim], seed=tf.stack([seed, tf.constant(0, tf.int64)]),
                                       minval=-1.0, maxval=1.0)


def _facts(cfg: WaveGANConfig) -> dict:
    """What a client needs to play and condition the audio, as model outputs (any server passes them on)."""
    facts = {"sample_rate": tf.constant(cfg.sample_rate, tf.int32), "num_classes": tf.constant(cfg.num_classes, tf.int32)}
    if cfg.label_names:
        facts["label_names"] = tf.constant(list(cfg.label_names), tf.string)
    return facts


def wav_files(audio, cfg: WaveGANConfig):
    """[batch, slice_len, channels] float audio -> [batch] 16-bit PCM WAV files (strings)."""
    return tf.map_fn(lambda clip: tf.audio.encode_wav(clip, cfg.sample_rate), audio,
                     fn_output_signature=tf.TensorSpec([], tf.string))


def name_to_index(label_name, cfg: WaveGANConfig):
    """The class index of a name (or of an index written as digits), checked in the graph so
    TF Serving answers an unknown name with INVALID_ARGUMENT and the known names."""
    names = tf.constant(list(cfg.label_names), tf.string)
    matches = tf.cast(tf.where(tf.equal(names, label_name))[:, 0], tf.int32)
    is_digits = tf.strings.regex_full_match(label_name, "[0-9]{1,9}")
    as_index = tf.cond(is_digits, lambda: tf.strings.to_number(label_name, tf.int32), lambda: tf.constant(-1))
    index = tf.cond(tf.size(matches) > 0, lambda: matches[0], lambda: as_index)
    message = tf.strings.join(["unknown label: ", label_name, " (known labels: " + ", ".join(cfg.label_names) + ")"])
    check = tf.debugging.Assert(tf.logical_and(index >= 0, index < cfg.num_classes), [message])
    with tf.control_dependencies([check]):
        return tf.identity(index)


class ServingModule(tf.Module):
    """Holds the generator and the exported functions (built for this config's inputs)."""

    def __init__(self, generator, cfg: WaveGANConfig, config_path: str, labels_path: str = "", judge=None):
        super().__init__()
        self.generator = generator
        self.judge = judge  # the judge's Keras model: search by example also compares its embeddings
        self.config_asset = tf.saved_model.Asset(config_path)
        latent = tf.TensorSpec([None, cfg.latent_dim], tf.float32, name="z")
        count = tf.TensorSpec([], tf.int32, name="count")
        seed = tf.TensorSpec([], tf.int64, name="seed")
        if cfg.conditional:
            labels = tf.TensorSpec([None], tf.int32, name="label")
            one_label = tf.TensorSpec([], tf.int32, name="label")

            def serve(z, label):
                return {"audio": self.generator(z, self._check_labels(label, cfg), training=False)}

            def sample(count, seed, label):
                z = sample_latents(count, seed, cfg.latent_dim)
                label = self._check_labels(tf.fill([count], label), cfg)
                return {"audio": self.generator(z, label, training=False), "z": z, **_facts(cfg)}

            self.serve = tf.function(serve, input_signature=[latent, labels])
            self.serve_wav = tf.function(lambda z, label: {"wav_bytes": wav_files(serve(z, label)["audio"], cfg)},
                                         input_signature=[latent, labels])
            self.sample = tf.function(sample, input_signature=[count, seed, one_label])
            self.search = tf.function(
                lambda target, count, seed, label: self._search(target, count, seed, cfg, label),
                input_signature=[self._target_spec(cfg), count, seed, one_label])
            if cfg.label_names:
                self.labels_asset = tf.saved_model.Asset(labels_path)
                self.sample_by_name = tf.function(
                    lambda count, seed, label_name: sample(count, seed, name_to_index(label_name, cfg)),
                    input_signature=[count, seed, tf.TensorSpec([], tf.string, name="label_name")])
        else:
            def serve(z):
                return {"audio": self.generator(z, training=False)}

            def sample(count, seed):
                z = sample_latents(count, seed, cfg.latent_dim)
                return {"audio": self.generator(z, training=False), "z": z, **_facts(cfg)}

            self.serve = tf.function(serve, input_signature=[latent])
            self.serve_wav = tf.function(lambda z: {"wav_bytes": wav_files(serve(z)["audio"], cfg)},
                                         input_signature=[latent])
            self.sample = tf.function(sample, input_signature=[count, seed])
            self.search = tf.function(lambda target, count, seed: self._search(target, count, seed, cfg),
                                      input_signature=[self._target_spec(cfg), count, seed])

    @staticmethod
    def _target_spec(cfg):
        # One clip: the leading 1 says it is no batch (serving's batch-size convention).
        return tf.TensorSpec([1, None, cfg.num_channels], tf.float32, name="target")

    def _search(self, target, count, seed, cfg, label=None):
        """Search by example (models/search.py), from `count` starts drawn like sample's."""
        from models.judge import embedding_fn
        from models.search import distance_parts, fit_target, search
        labels = None if label is None else self._check_labels(tf.fill([count], label), cfg)
        embed = None if self.judge is None else embedding_fn(self.judge, cfg.sample_rate)
        z, audio, distances = search(lambda z: self.generator(z, labels, training=False),
                                     fit_target(target[0], cfg.slice_len), sample_latents(count, seed, cfg.latent_dim),
                                     distance_parts(embed))
        return {"z": z, "audio": audio, **distances}

    @staticmethod
    def _check_labels(label, cfg):
        """The label, usable only after the range checks ran (else the gather may fail first)."""
        checks = [tf.debugging.assert_less(label, cfg.num_classes, message="label out of range"),
                  tf.debugging.assert_non_negative(label, message="label out of range")]
        with tf.control_dependencies(checks):
            return tf.identity(label)


def _warmup_requests(cfg: WaveGANConfig, model_name: str):
    """PredictionLogs TF Serving replays at load, so the first real request is fast."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    def request(signature, inputs):
        req = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=model_name,
                                                                        signature_name=signature))
        for key, value in inputs.items():
            req.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=req))

    z = np.zeros([1, cfg.latent_dim], np.float32)
    serve_inputs = {"z": z}
    sample_inputs = {"count": np.int32(1), "seed": np.int64(0)}
    if cfg.conditional:
        serve_inputs["label"] = np.zeros([1], np.int32)
        sample_inputs["label"] = np.int32(0)
    requests = [request(SERVING_SIGNATURE, serve_inputs), request(SAMPLE_SIGNATURE, sample_inputs),
                request(WAV_SIGNATURE, serve_inputs)]
    if cfg.label_names:
        requests.append(request(SAMPLE_BY_NAME_SIGNATURE, {"count": np.int32(1), "seed": np.int64(0),
                                                           "label_name": np.array(cfg.label_names[0].encode())}))
    return requests


def signatures_of(module: ServingModule) -> dict:
    """The exported signatures: sample_by_name only for models that know their class names."""
    signatures = {SERVING_SIGNATURE: module.serve, SAMPLE_SIGNATURE: module.sample, WAV_SIGNATURE: module.serve_wav,
                  SEARCH_SIGNATURE: module.search}
    if hasattr(module, "sample_by_name"):
        signatures[SAMPLE_BY_NAME_SIGNATURE] = module.sample_by_name
    return signatures


def _float32_copy(generator, cfg: WaveGANConfig):
    """A float32 generator with the weights of a mixed-precision one: served models compute in
    float32, which every CPU and server runs (the weights are float32 already)."""
    from models.wavegan import Generator
    copy = Generator(cfg)
    for target, source in zip(copy.variables, generator.variables):
        target.assign(source)
    return copy


def export_generator(generator, cfg: WaveGANConfig, export_dir: str, model_name: str = "wavegan",
                     judge=None) -> str:
    """Writes the SavedModel to export_dir atomically (a half-written model is never seen). With the
    data's judge (models.judge.Judge, at the model's rate), search by example also uses its ear."""
    if cfg.precision != "float32":
        cfg = cfg.replace(precision="float32")
        generator = _float32_copy(generator, cfg)
    parent = os.path.dirname(os.path.abspath(export_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        config_path = os.path.join(staging, CONFIG_ASSET)
        with open(config_path, "w") as f:
            f.write(cfg.to_json())
        labels_path = os.path.join(staging, LABELS_ASSET)
        with open(labels_path, "w", encoding="utf-8") as f:
            f.write("".join(f"{name}\n" for name in cfg.label_names))
        module = ServingModule(generator, cfg, config_path, labels_path, _judge_model(judge, cfg))
        model_dir = os.path.join(staging, "model")
        tf.saved_model.save(module, model_dir, signatures=signatures_of(module))
        extra = os.path.join(model_dir, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        with tf.io.TFRecordWriter(os.path.join(extra, WARMUP_FILE)) as writer:
            for log_record in _warmup_requests(cfg, model_name):
                writer.write(log_record.SerializeToString())
        if os.path.exists(export_dir):
            old = export_dir + ".old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(export_dir, old)
            os.replace(model_dir, export_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(model_dir, export_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return export_dir


def _judge_model(judge, cfg: WaveGANConfig):
    if judge is None:
        return None
    if judge.info["sample_rate"] != cfg.sample_rate:
        log.warning("search by example without the judge: it hears %d Hz, the model makes %d Hz",
                    judge.info["sample_rate"], cfg.sample_rate)
        return None
    return judge.model


class ModelDirError(WaveGANError, ValueError):
    """The path is not a WaveGAN SavedModel."""


def exported_config(model_dir: str) -> WaveGANConfig:
    """The WaveGANConfig of an exported WaveGAN model directory, without loading the model."""
    if not os.path.isdir(model_dir):
        raise ModelDirError(f"model directory not found: {model_dir}")
    config_path = os.path.join(model_dir, "assets", CONFIG_ASSET)
    if not os.path.exists(os.path.join(model_dir, "saved_model.pb")) or not os.path.exists(config_path):
        raise ModelDirError(f"{model_dir} is not an exported WaveGAN model (no saved_model.pb or config asset)")
    return WaveGANConfig.from_file(config_path)


def load_exported(model_dir: str):
    """(loaded SavedModel, WaveGANConfig) for an exported WaveGAN model directory."""
    cfg = exported_config(model_dir)
    return tf.saved_model.load(model_dir), cfg
