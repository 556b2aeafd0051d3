"""The TFX Trainer's run_fn: trains WaveGAN with models/ and exports for serving.

custom_config keys: model_config (WaveGANConfig JSON), span_window (the last N
ingested spans are read as one stream, 0 = all: components/spans.py), judge_cache_dir (where
JudgeTrainer keeps the data's judge, used when model.eval_every_steps is set: the
export is then the best checkpoint) and warm_start_base
(<serving_dir>/<model_name>: the newest pushed version, if any, initialises the
generator and discriminator). The pushed model carries the discriminator's weights
in assets.extra/, which TF Serving ignores, so warm starts need no Resolver node
and work the same on Kubeflow.

On several machines (TF_CONFIG, as Vertex AI sets it for --trainer-workers) every
machine runs this function with MultiWorkerMirroredStrategy; the chief writes the
model artifact and the others export to scratch and wait for the chief's.
"""
from __future__ import annotations

import json
import logging
import os

import tensorflow as tf

from components.spans import span_window, train_files
from models.config import WaveGANConfig
from models.data import DataError, tfrecord_dataset
from models.distribute import make_strategy
from models.export import export_generator
from models.train import Trainer
from serving.model_dirs import latest_version_dir

log = logging.getLogger(__name__)

WARM_START_CHECKPOINT = os.path.join("assets.extra", "warm_start", "ckpt")
SPANS_FILE = "spans.json"  # in the model run: which spans the model was trained on
CHIEF_EXPORT_WAIT_SECS = 600


def label_names_from_schema(schema_path):
    """The label_name domain of the (frozen) data schema, or []."""
    if not schema_path:
        return []
    import tensorflow_data_validation as tfdv
    schema = tfdv.load_schema_text(schema_path)
    for domain in schema.string_domain:
        if domain.name == "label_name":
            return [v for v in domain.value if v]
    return []


def variable_shapes(obj, path: str) -> dict:
    """{checkpoint key: shape} of every variable under obj, keyed as tf.train.Checkpoint writes them."""
    if isinstance(obj, tf.Variable):
        return {f"{path}/.ATTRIBUTES/VARIABLE_VALUE": obj.shape.as_list()}
    shapes = {}
    for name, child in tf.train.TrackableView(obj).children(obj).items():
        shapes.update(variable_shapes(child, f"{path}/{name}"))
    return shapes


def restorable_discriminator(discriminator, saved: dict):
    """D's parts that the checkpoint (`saved`: key -> shape) holds whole and with the same shapes. The
    others start fresh: a critic branch the previous model did not have, a class head with another
    number of outputs (a model from before aux_fakes)."""
    parts, fresh = {}, []
    for name, part in tf.train.TrackableView(discriminator).children(discriminator).items():
        shapes = variable_shapes(part, f"discriminator/{name}")
        if all(saved.get(key) == shape for key, shape in shapes.items()):
            parts[name] = part
        else:
            fresh.append(name)
    if fresh:
        log.info("warm start: the critic's %s start fresh (not in the previous model, or another shape)",
                 ", ".join(fresh))
    return tf.train.Checkpoint(**parts)


def warm_start(trainer: Trainer, model_base: str) -> str:
    """Loads G and D from the newest pushed version under model_base; returns it or ''. G must match
    whole; D's parts that changed (a new branch, another class head) start fresh."""
    previous = latest_version_dir(model_base) if model_base else None
    if previous is None:
        return ""
    checkpoint = os.path.join(previous, WARM_START_CHECKPOINT)
    if not tf.io.gfile.exists(checkpoint + ".index"):
        log.warning("previous model %s has no warm-start weights: training from scratch", previous)
        return ""
    saved = dict(tf.train.list_variables(checkpoint))
    if any(saved.get(key) != shape for key, shape in variable_shapes(trainer.generator, "generator").items()):
        log.warning("previous model %s has a different generator: training from scratch", previous)
        return ""
    discriminator = restorable_discriminator(trainer.discriminator, saved)
    tf.train.Checkpoint(generator=trainer.generator, discriminator=discriminator).read(
        checkpoint).assert_existing_objects_matched()
    trainer.reset_average()  # the average starts from the warm-started G
    log.info("warm start from %s", previous)
    return previous


def run_fn(fn_args):
    custom = fn_args.custom_config or {}
    cfg = WaveGANConfig.from_json(custom["model_config"])
    if fn_args.train_steps:
        cfg = cfg.replace(steps=int(fn_args.train_steps))
    labels = label_names_from_schema(fn_args.schema_path)
    if cfg.conditional and len(labels) != cfg.num_classes:
        raise DataError(f"num_classes={cfg.num_classes} but the data has {len(labels)} labels {labels}")
    if cfg.conditional and not cfg.label_names:
        cfg = cfg.replace(label_names=sorted(labels))  # ingest's vocabulary order: index = position
    strategy = make_strategy("auto")  # TF_CONFIG (Vertex AI, TFJob) -> multi-worker
    current = [f for pattern in fn_args.train_files for f in tf.io.gfile.glob(pattern)]
    examples_uri = os.path.dirname(os.path.dirname(current[0]))  # <examples>/Split-train/<file>
    spans = span_window(examples_uri, int(custom.get("span_window", 1)))
    files = train_files(spans)
    log.info("training on span(s) %s: %d files", ", ".join(map(str, spans)), len(files))
    trainer = Trainer(cfg, fn_args.model_run_dir, strategy=strategy)
    if trainer.is_chief:
        with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, SPANS_FILE), "w") as f:
            f.write(json.dumps({"spans": sorted(spans), "train_files": len(files)}))
    if trainer.current_step == 0:
        warm_start(trainer, custom.get("warm_start_base", ""))
    judge = reference = None
    if cfg.eval_every_steps:
        from components.evaluator import build_reference
        from components.judge import load_or_train_judge
        judge = load_or_train_judge(examples_uri, cfg, custom.get("judge_cache_dir", ""))
        reference = build_reference(examples_uri, cfg, judge)
    trainer.fit(tfrecord_dataset(files, cfg), export=False, reference=reference)
    # Every worker exports (saving may be a collective); only the chief's goes to the model artifact.
    serving_dir = fn_args.serving_model_dir if trainer.is_chief else os.path.join(trainer.write_dir, "serving")
    export_generator(trainer.sampler, cfg, serving_dir, judge=judge)  # the judge: for search by example
    # The served weights (the average, when there is one) are what the next run warm-starts from.
    tf.train.Checkpoint(generator=trainer.sampler, discriminator=trainer.discriminator).write(
        os.path.join(serving_dir, WARM_START_CHECKPOINT))
    trainer.close()
    if not trainer.is_chief:  # TFX checks, on every worker, that the model artifact exists
        _wait_for(fn_args.serving_model_dir, CHIEF_EXPORT_WAIT_SECS)


def _wait_for(path: str, seconds: float) -> None:
    """Waits until the chief's (atomic) export appears at path."""
    import time
    deadline = time.time() + seconds
    while not tf.io.gfile.exists(path):
        if time.time() > deadline:
            raise RuntimeError(f"the chief did not export {path} within {seconds:.0f} s")
        time.sleep(2)
