"""JudgeTrainer: trains the audio judge (models.judge) on a span's labelled slices.

The judge is cached under <cache_dir>/<key>, where the key is a fingerprint of the
examples' files: a re-run of the same data reuses it. A new span first tries the
newest cached judge that knows the span's label names (the same or more) at the same
rate: if it classifies the new span's slices (all new to it) about as well as its own
held-out ones (reuse_threshold), it is the new span's judge too, with its accuracy
there as its eval_accuracy; else a new judge is trained. So a schedule that adds
audio of a kind already judged pays seconds, not a training. The Trainer (evaluation
during training) and the Evaluator find the same judge, so every score of a span
comes from one judge.
Unlabelled data (fewer than two labels) gets no judge: an empty artifact, and the
metrics fall back on label-free embeddings (models.quality).
"""

import hashlib
import json
import logging
import os

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import Examples

from components.artifacts import Judge as JudgeArtifact
from components.storage import local_copy, local_folder
from models.judge import VERSION as JUDGE_VERSION

log = logging.getLogger(__name__)

MAX_TRAIN_CLIPS = 8192
MAX_EVAL_CLIPS = 2048
# An earlier span's judge is reused while it classifies the new span's slices at this share of its own
# accuracy (less the measurement's noise); checked on at least MIN_ and at most REUSE_CHECK_CLIPS slices.
REUSE_SHARE = 0.95
MIN_REUSE_CHECK_CLIPS = 20
REUSE_CHECK_CLIPS = 1024


def examples_fingerprint(examples_uri: str) -> str:
    """A key that changes when the examples' files change (a new span, new labels, re-ingest)."""
    import tensorflow as tf
    digest = hashlib.sha256(JUDGE_VERSION.encode())
    for split in ("train", "eval"):
        for path in sorted(tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*"))):
            digest.update(f"{split}/{os.path.basename(path)}:{tf.io.gfile.stat(path).length}".encode())
    return digest.hexdigest()[:16]


def read_labelled_data(examples_uri: str, cfg):
    """(train audio, labels, eval audio, labels, label names) of an Examples artifact."""
    from models.data import read_split
    train_audio, train_labels, train_names = read_split(examples_uri, "train", cfg, MAX_TRAIN_CLIPS)
    eval_audio, eval_labels, eval_names = read_split(examples_uri, "eval", cfg, MAX_EVAL_CLIPS)
    return train_audio, train_labels, eval_audio, eval_labels, label_names_by_index({**eval_names, **train_names})


def label_names_by_index(names: dict) -> list:
    """{label index: name} as read from a span's examples -> the span's names in index order."""
    names = {index: name for index, name in names.items() if index >= 0}
    return [names.get(i, str(i)) for i in range(max(names) + 1)] if names else []


def _newest_cached_judge(cache_dir: str, label_names: list, sample_rate: int):
    """(key, judge) of the newest judge in the cache that knows all these label names, at this rate."""
    import tensorflow as tf
    from models.judge import INFO_FILE, Judge
    found = []
    for key in tf.io.gfile.listdir(cache_dir) if tf.io.gfile.isdir(cache_dir) else []:
        info_path = os.path.join(cache_dir, key.rstrip("/"), INFO_FILE)
        if tf.io.gfile.exists(info_path):
            with tf.io.gfile.GFile(info_path) as f:
                info = json.load(f)
            if (info.get("judge_version") == JUDGE_VERSION and set(label_names) <= set(info["label_names"])
                    and info["sample_rate"] == sample_rate):
                found.append((tf.io.gfile.stat(info_path).mtime_nsec, key.rstrip("/")))
    if not found:
        return None
    key = max(found)[1]
    with local_copy(os.path.join(cache_dir, key)) as folder:
        return key, Judge.load(folder)


def reuse_threshold(own_accuracy: float, own_clips: int, new_clips: int) -> float:
    """The accuracy on a new span's slices below which a judge is retrained: REUSE_SHARE of its own,
    less two standard errors of the difference of two accuracies measured on own_clips and new_clips
    slices (with add-one smoothing, so that 30 of 30 right is not taken for certainty): a small span
    must not retrain a good judge on the luck of a few clips."""
    p = (own_accuracy * own_clips + 1) / (own_clips + 2)
    return REUSE_SHARE * own_accuracy - 2 * (p * (1 - p) * (1 / max(own_clips, 1) + 1 / new_clips)) ** 0.5


def reuse_judge(cache_dir: str, label_names: list, sample_rate: int, audio, labels):
    """An earlier span's judge (one that knows every label of the span, at its rate) when it still
    classifies this span's slices about as well as it did its own held-out ones (reuse_threshold).
    Every slice of a new span is new to that judge, train split included, so all of them (up to
    REUSE_CHECK_CLIPS) check it. None: train a new one."""
    import numpy as np
    from models.quality import judge_indices
    if len(labels) < MIN_REUSE_CHECK_CLIPS:
        return None
    newest = _newest_cached_judge(cache_dir, label_names, sample_rate)
    if newest is None:
        return None
    key, judge = newest
    pick = np.random.RandomState(0).permutation(len(labels))[:REUSE_CHECK_CLIPS]
    wanted = judge_indices(labels[pick], label_names, judge.label_names)  # its classes may be more
    accuracy = float(np.mean(np.argmax(judge.predict(audio[pick])[0], axis=1) == wanted))
    own = judge.info.get("trained_eval_accuracy", judge.eval_accuracy)
    own_clips = judge.info.get("trained_num_eval", judge.info["num_eval"])
    if accuracy < reuse_threshold(own, own_clips, len(pick)):
        log.info("judge: %s scores %.3f on this span (%.3f on its own): training a new one", key, accuracy, own)
        return None
    log.info("judge: reusing %s, %.3f on %d slices of this span (%.3f on its own)", key, accuracy, len(pick), own)
    judge.info.update({"reused_from": judge.info.get("reused_from", key), "trained_eval_accuracy": own,
                       "trained_num_eval": own_clips, "eval_accuracy": accuracy, "num_eval": int(len(pick))})
    return judge


def load_or_train_judge(examples_uri: str, cfg, cache_dir: str, epochs: int = 30):
    """The judge of these examples (from the cache, an earlier span's that still judges them well,
    or trained and cached); None when unlabelled."""
    import numpy as np
    import tensorflow as tf
    from models.judge import INFO_FILE, Judge, load_or_train
    cached = os.path.join(cache_dir, examples_fingerprint(examples_uri)) if cache_dir else ""
    if cached and tf.io.gfile.exists(os.path.join(cached, INFO_FILE)):
        log.info("judge: cached %s", cached)
        with local_copy(cached) as folder:
            return Judge.load(folder)
    train_audio, train_labels, eval_audio, eval_labels, label_names = read_labelled_data(examples_uri, cfg)
    labelled, eval_labelled = train_labels >= 0, eval_labels >= 0
    if len(label_names) < 2 or len(set(train_labels[labelled].tolist())) < 2:
        log.info("judge: the data has fewer than two labels; metrics use label-free embeddings")
        return None
    judge = cache_dir and reuse_judge(cache_dir, label_names, cfg.sample_rate,
                                      np.concatenate([eval_audio[eval_labelled], train_audio[labelled]]),
                                      np.concatenate([eval_labels[eval_labelled], train_labels[labelled]]))
    if not judge:
        if eval_labelled.sum() < 2:  # tiny data: check on the train split rather than nothing
            eval_audio, eval_labels, eval_labelled = train_audio, train_labels, labelled
        log.info("judge: training on %d labelled slices, %d labels", labelled.sum(), len(label_names))
        judge = load_or_train("", train_audio[labelled], train_labels[labelled], eval_audio[eval_labelled],
                              eval_labels[eval_labelled], cfg.sample_rate, label_names, epochs, cfg.seed)
    if cached:  # readers look for INFO_FILE, written last: a cached judge is whole or not there
        with local_folder(cached, last=INFO_FILE) as folder:
            judge.save(folder)
    return judge


@component
def JudgeTrainer(examples: InputArtifact[Examples], judge: OutputArtifact[JudgeArtifact],
                 model_config: Parameter[str], cache_dir: Parameter[str], epochs: Parameter[int] = 30):
    from models.config import WaveGANConfig
    trained = load_or_train_judge(examples.uri, WaveGANConfig.from_json(model_config), cache_dir, epochs)
    if trained is None:
        judge.set_int_custom_property("labelled", 0)
        return
    with local_folder(judge.uri) as folder:
        trained.save(folder)
    judge.set_int_custom_property("labelled", 1)
    judge.set_float_custom_property("eval_accuracy", trained.eval_accuracy)
    judge.set_string_custom_property("label_names", json.dumps(trained.label_names))
