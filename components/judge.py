"""JudgeTrainer: trains the audio judge (models.judge) on a span's labelled slices.

The judge is cached under <cache_dir>/<key>, where the key is a fingerprint of the
examples' files and label names: a new span or new labels train a new judge; a
re-run of the same data reuses it. The Trainer (evaluation during training) and the
Evaluator find the same judge, so every score of a span comes from one judge.
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

log = logging.getLogger(__name__)

JUDGE_VERSION = "1"  # bump when models.judge changes, so cached judges are retrained
MAX_TRAIN_CLIPS = 8192
MAX_EVAL_CLIPS = 2048


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
    names = {**eval_names, **train_names}
    names.pop(-1, None)
    label_names = [names.get(i, str(i)) for i in range(max(names) + 1)] if names else []
    return train_audio, train_labels, eval_audio, eval_labels, label_names


def load_or_train_judge(examples_uri: str, cfg, cache_dir: str, epochs: int = 30):
    """The judge of these examples (from the cache, or trained and cached); None when unlabelled."""
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
