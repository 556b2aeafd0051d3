"""WaveGANEvaluator: scores the candidate and the model in service, blesses or not.

The baseline is the newest version under <serving_dir>/<model_name> (what TF
Serving serves), found by listing the directory: no Resolver node, so it works on
Kubeflow Pipelines v2 as it does locally. Both models generate the same latents
(same seed) and are compared with real eval audio (components.audio_metrics).

Blessing rule: the candidate must pass the sanity checks (no NaN, at most
max_silent_fraction silent clips, at most max_clipped_fraction clipped clips) and,
when a baseline exists, have a Frechet distance at most (1 + fd_tolerance) times
the baseline's. The first model is blessed when it passes the sanity checks.
"""

import glob
import json
import os

import numpy as np

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import Examples, Model, ModelBlessing, ModelEvaluation

METRICS_FILE = "metrics.json"


def read_split(examples_uri: str, split: str, cfg, limit: int):
    """(audio [n, slice_len, ch], labels [n]) from one split of an Examples artifact."""
    import tensorflow as tf
    from models.data import parse_examples
    files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*.gz")))
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP").take(limit).batch(64)
    audio, labels = [], []
    for serialized in ds:
        a, l = parse_examples(serialized, cfg)
        audio.append(a.numpy())
        labels.append(l.numpy())
    if not audio:
        return np.zeros([0, cfg.slice_len, cfg.num_channels], np.float32), np.zeros([0], np.int32)
    return np.concatenate(audio), np.concatenate(labels)


def generate(model_dir: str, count: int, seed: int):
    """count clips from a SavedModel's `sample` signature (labels cycle when conditional)."""
    import tensorflow as tf
    from models.export import load_exported
    model, cfg = load_exported(model_dir)
    sample = model.signatures["sample"]
    if not cfg.conditional:
        return sample(count=tf.constant(count), seed=tf.constant(seed, tf.int64))["audio"].numpy()
    per_label = [sample(count=tf.constant(1), seed=tf.constant(seed + i, tf.int64),
                        label=tf.constant(i % cfg.num_classes))["audio"].numpy() for i in range(count)]
    return np.concatenate(per_label)


def evaluate(candidate_dir: str, baseline_dir, examples_uri: str, num_clips: int, seed: int,
             max_silent_fraction: float, max_clipped_fraction: float, fd_tolerance: float) -> dict:
    """The metrics of candidate (and baseline) and the blessing decision with its reason."""
    from components.audio_metrics import LabelClassifier, embed, evaluate_clips
    from models.export import load_exported
    _, cfg = load_exported(candidate_dir)
    real_eval, _ = read_split(examples_uri, "eval", cfg, 512)
    real_train, train_labels = read_split(examples_uri, "train", cfg, 1024)
    if len(real_eval) < 2:  # tiny data sets: fall back on the train split for the reference
        real_eval = real_train
    train_embed = embed(real_train, cfg.sample_rate)
    mean, std = train_embed.mean(axis=0), train_embed.std(axis=0) + 1e-6
    eval_embed = (embed(real_eval, cfg.sample_rate) - mean) / std
    labelled = train_labels[train_labels >= 0]
    classifier = (LabelClassifier(train_embed[train_labels >= 0], labelled)
                  if len(np.unique(labelled)) >= 2 else None)
    scored = {}
    for name, model_dir in (("candidate", candidate_dir), ("baseline", baseline_dir)):
        if model_dir:
            clips = generate(model_dir, num_clips, seed)
            scored[name] = evaluate_clips(clips, cfg.sample_rate, eval_embed, (train_embed - mean) / std,
                                          (mean, std), classifier)
    if classifier is not None:
        real_score = classifier.inception_score(embed(real_eval, cfg.sample_rate))
        scored["real_eval_inception_score"] = real_score
    cand = scored["candidate"]
    problems = []
    if cand["nan_fraction"] > 0:
        problems.append(f"{cand['nan_fraction']:.0%} of clips contain NaN")
    if cand["silent_fraction"] > max_silent_fraction:
        problems.append(f"{cand['silent_fraction']:.0%} of clips are silent (max {max_silent_fraction:.0%})")
    if cand["clipped_fraction"] > max_clipped_fraction:
        problems.append(f"{cand['clipped_fraction']:.0%} of clips clip (max {max_clipped_fraction:.0%})")
    if not problems and "baseline" in scored:
        limit = scored["baseline"]["frechet_distance"] * (1 + fd_tolerance)
        if cand["frechet_distance"] > limit:
            problems.append(f"Frechet distance {cand['frechet_distance']:.4g} > {limit:.4g} "
                            f"(baseline {scored['baseline']['frechet_distance']:.4g} x {1 + fd_tolerance:g})")
    scored.update({"blessed": not problems, "reason": "; ".join(problems) or
                   ("better than or close to the baseline" if baseline_dir else "first model: sanity checks pass"),
                   "baseline_dir": baseline_dir or "", "num_real_eval": int(len(real_eval))})
    return scored


@component
def WaveGANEvaluator(model: InputArtifact[Model], examples: InputArtifact[Examples],
                     evaluation: OutputArtifact[ModelEvaluation], blessing: OutputArtifact[ModelBlessing],
                     serving_model_base: Parameter[str], num_clips: Parameter[int] = 64, seed: Parameter[int] = 0,
                     max_silent_fraction: Parameter[float] = 0.5, max_clipped_fraction: Parameter[float] = 0.2,
                     fd_tolerance: Parameter[float] = 0.1):
    import tensorflow as tf
    from serving.model_dirs import latest_version_dir
    candidate = os.path.join(model.uri, "Format-Serving")
    result = evaluate(candidate, latest_version_dir(serving_model_base), examples.uri, num_clips, seed,
                      max_silent_fraction, max_clipped_fraction, fd_tolerance)
    with tf.io.gfile.GFile(os.path.join(evaluation.uri, METRICS_FILE), "w") as f:
        f.write(json.dumps(result, indent=2))
    blessing.set_int_custom_property("blessed", int(result["blessed"]))
    blessing.set_string_custom_property("reason", result["reason"])
    blessing.set_string_custom_property("current_model", candidate)
    with tf.io.gfile.GFile(os.path.join(blessing.uri, "BLESSED" if result["blessed"] else "NOT_BLESSED"), "w") as f:
        f.write(result["reason"])
