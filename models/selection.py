"""Evaluation during training: score the generator every N steps, keep the best checkpoint.

GAN losses say little about audio quality, so the run is judged as the evaluator
judges a candidate (models.quality under the data's judge). Every evaluation is
appended to <run>/eval_history.json (the report plots it) and written to
TensorBoard under eval/; the best generator so far is kept in <run>/checkpoints/best
with <run>/best.json saying which step it is and why. Resuming reads both back.
"""
from __future__ import annotations

import json
import logging
import os
import time

import numpy as np
import tensorflow as tf

from models.config import ConfigError, WaveGANConfig

log = logging.getLogger(__name__)

HISTORY_FILE = "eval_history.json"
BEST_FILE = "best.json"
BEST_CHECKPOINT = os.path.join("checkpoints", "best", "ckpt")
HIGHER_IS_BETTER = {"inception_score": True, "frechet_distance": False}
TENSORBOARD_METRICS = ("frechet_distance", "inception_score", "inception_score_ratio", "label_accuracy",
                       "critic_label_accuracy", "ndb", "nn_distance_to_train", "silent_fraction")
EVAL_SEED_OFFSET = 7919  # evaluation latents differ from the preview latents


def evaluation_latents(cfg: WaveGANConfig):
    """The fixed latents (and classes, in equal shares) every evaluation of a run uses."""
    rng = np.random.RandomState(cfg.seed + EVAL_SEED_OFFSET)
    z = rng.uniform(-1.0, 1.0, [cfg.train_eval_clips, cfg.latent_dim]).astype(np.float32)
    labels = (np.arange(cfg.train_eval_clips) % cfg.num_classes).astype(np.int32) if cfg.conditional else None
    return z, labels


def generate_clips(generator, z, labels, batch: int = 64) -> np.ndarray:
    out = []
    for start in range(0, len(z), batch):
        label = None if labels is None else labels[start:start + batch]
        out.append(generator(z[start:start + batch], label, training=False).numpy())
    return np.concatenate(out)


def critic_label_accuracy(discriminator, clips, labels, batch: int = 64):
    """The share of generated clips the critic's class head names as the class G was asked for; None
    without a head. Far above the judge's label accuracy, G satisfies the head with cues no listener
    hears (then try --aux-fakes)."""
    if getattr(discriminator, "class_head", None) is None or labels is None:
        return None
    named = [np.argmax(discriminator.critique(clips[i:i + batch], labels[i:i + batch])[1].numpy(), axis=1)
             for i in range(0, len(clips), batch)]
    return float(np.mean(np.concatenate(named) == labels))


class BestCheckpoint:
    """Scores the generator, tracks the best score and how long since it improved."""

    def __init__(self, cfg: WaveGANConfig, run_dir: str, reference, generator, discriminator,
                 write_dir: str = None, agree=bool):
        """History is read from run_dir and written to write_dir (a non-chief worker's scratch);
        agree(better) turns this process's verdict into the one all workers act on."""
        if cfg.select_by == "inception_score" and reference.judge is None:
            raise ConfigError("select_by=inception_score needs labelled data (a judge); "
                             "use --select-by frechet_distance")
        self.cfg, self.run_dir, self.reference = cfg, run_dir, reference
        self.write_dir, self.agree = write_dir or run_dir, agree
        self.generator, self.discriminator = generator, discriminator
        self.checkpoint = tf.train.Checkpoint(generator=generator, discriminator=discriminator)
        self.z, self.labels = evaluation_latents(cfg)
        self.history = _read_json(os.path.join(run_dir, HISTORY_FILE), [])
        self.best = _read_json(os.path.join(run_dir, BEST_FILE), None)

    @property
    def evaluations_since_best(self) -> int:
        if self.best is None:
            return len(self.history)
        return sum(1 for entry in self.history if entry["step"] > self.best["step"])

    def should_stop(self) -> bool:
        patience = self.cfg.early_stop_patience
        return bool(patience) and self.best is not None and self.evaluations_since_best >= patience

    def evaluate(self, step: int, writer=None) -> dict:
        """Scores the generator now; saves it as best when it beats the best so far."""
        t0 = time.time()
        clips = generate_clips(self.generator, self.z, self.labels)
        metrics = self.reference.score(clips, self.labels, label_names=self.cfg.label_names)
        metrics.pop("class_histogram", None)
        critic = critic_label_accuracy(self.discriminator, clips, self.labels)
        if critic is not None:
            metrics["critic_label_accuracy"] = critic
        entry = {"step": int(step), "seconds": round(time.time() - t0, 2), **metrics}
        self.history = [e for e in self.history if e["step"] != step] + [entry]
        _write_json(os.path.join(self.write_dir, HISTORY_FILE), self.history)
        if writer is not None:
            with writer.as_default(step=step):
                for name in TENSORBOARD_METRICS:
                    if name in metrics:
                        tf.summary.scalar(f"eval/{name}", metrics[name])
        value = metrics.get(self.cfg.select_by, float("nan"))
        if self.agree(np.isfinite(value) and (self.best is None or self._better(value, self.best["value"]))):
            self.checkpoint.write(os.path.join(self.write_dir, BEST_CHECKPOINT))
            previous = self.best
            self.best = {"step": int(step), "metric": self.cfg.select_by, "value": float(value),
                         "reason": (f"{self.cfg.select_by} {value:.4g} is the best of {len(self.history)} "
                                    f"evaluation(s)" + (f" (previous best {previous['value']:.4g} at step "
                                                        f"{previous['step']})" if previous else "")),
                         "metrics": metrics}
            _write_json(os.path.join(self.write_dir, BEST_FILE), self.best)
        log.info("eval at step %d: %s (best %s %.4g at step %d), %.1f s", step,
                 "  ".join(f"{k}={metrics[k]:.4g}" for k in TENSORBOARD_METRICS[:5] if k in metrics),
                 self.cfg.select_by, self.best["value"] if self.best else float("nan"),
                 self.best["step"] if self.best else -1, entry["seconds"])
        return entry

    def _better(self, value: float, best: float) -> bool:
        return value > best if HIGHER_IS_BETTER[self.cfg.select_by] else value < best


def restore_best(run_dir: str, generator, discriminator=None):
    """Loads the best checkpoint's weights into the models; returns best.json's content or None."""
    best = _read_json(os.path.join(run_dir, BEST_FILE), None)
    if best is None:
        return None
    parts = {"generator": generator}
    if discriminator is not None:
        parts["discriminator"] = discriminator
    tf.train.Checkpoint(**parts).read(os.path.join(run_dir, BEST_CHECKPOINT)).expect_partial()
    return best


def _read_json(path: str, default):
    if not os.path.exists(path):
        return default
    with open(path) as f:
        return json.load(f)


def _write_json(path: str, value) -> None:
    staging = path + ".tmp"
    with open(staging, "w") as f:
        json.dump(value, f, indent=2)
    os.replace(staging, path)
