"""WaveGANEvaluator: scores the candidate and the model in service, blesses or not.

The baseline is the newest version under <serving_dir>/<model_name> (what TF
Serving serves), found by listing the directory: no Resolver node, so it works on
Kubeflow Pipelines v2 as it does locally. Both models generate the same latents
(same seed) and are scored against real audio under the data's judge (JudgeTrainer,
models.quality): inception score, Frechet distance in the judge's embedding, label
accuracy, NDB; label-free embeddings when the data has no labels.

Blessing rule: the candidate must pass the sanity checks (no NaN, at most
max_silent_fraction silent clips, at most max_clipped_fraction clipped clips) and,
when a baseline exists, have a Frechet distance at most (1 + fd_tolerance) times
the baseline's. The first model is blessed when it passes the sanity checks.
"""

import json
import os

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import Examples, Model, ModelBlessing, ModelEvaluation, ModelRun
from tfx.utils import path_utils

from components.artifacts import Judge

METRICS_FILE = "metrics.json"
REAL_CLIPS = 1024
REPORT_DIR = "report"


def load_judge(judge_dir: str):
    """The judge saved in a JudgeTrainer artifact, or None (unlabelled data)."""
    import tensorflow as tf
    from components.storage import local_copy
    from models.judge import INFO_FILE, Judge
    if not judge_dir or not tf.io.gfile.exists(os.path.join(judge_dir, INFO_FILE)):
        return None
    with local_copy(judge_dir) as folder:
        return Judge.load(folder)


def build_reference(examples_uri: str, cfg, judge=None):
    """The real audio of the examples, embedded under the judge (if there is one)."""
    from models.data import read_split
    from models.quality import QualityReference
    from components.judge import label_names_by_index
    real_train, train_labels, train_names = read_split(examples_uri, "train", cfg, REAL_CLIPS)
    real_eval, eval_labels, eval_names = read_split(examples_uri, "eval", cfg, REAL_CLIPS)
    # The span's labels by name: the judge may be an earlier span's, with more classes.
    return QualityReference(real_train, real_eval, cfg.sample_rate, judge, train_labels, eval_labels,
                            label_names=label_names_by_index({**eval_names, **train_names}))


def bless(scored: dict, has_baseline: bool, max_silent_fraction: float, max_clipped_fraction: float,
          fd_tolerance: float) -> list:
    """The reasons not to bless the candidate (none: blessed)."""
    cand = scored["candidate"]
    problems = []
    if cand["nan_fraction"] > 0:
        problems.append(f"{cand['nan_fraction']:.0%} of clips contain NaN")
    if cand["silent_fraction"] > max_silent_fraction:
        problems.append(f"{cand['silent_fraction']:.0%} of clips are silent (max {max_silent_fraction:.0%})")
    if cand["clipped_fraction"] > max_clipped_fraction:
        problems.append(f"{cand['clipped_fraction']:.0%} of clips clip (max {max_clipped_fraction:.0%})")
    if not problems and has_baseline:
        limit = scored["baseline"]["frechet_distance"] * (1 + fd_tolerance)
        if cand["frechet_distance"] > limit:
            problems.append(f"Frechet distance {cand['frechet_distance']:.4g} > {limit:.4g} "
                            f"(baseline {scored['baseline']['frechet_distance']:.4g} x {1 + fd_tolerance:g})")
    return problems


def evaluate(candidate_dir: str, baseline_dir, examples_uri: str, num_clips: int, seed: int,
             max_silent_fraction: float, max_clipped_fraction: float, fd_tolerance: float,
             judge_dir: str = "", reference=None) -> dict:
    """The metrics of real audio, the candidate (and baseline) and the blessing decision with its reason."""
    from models.export import exported_config
    from models.generate import sample_clips
    cfg = exported_config(candidate_dir)
    reference = reference or build_reference(examples_uri, cfg, load_judge(judge_dir))
    scored = {"judge": reference.describe(), **reference.score_real(num_clips)}
    for name, model_dir in (("candidate", candidate_dir), ("baseline", baseline_dir)):
        if model_dir:  # each model's labels by its own names: a baseline may know other classes
            scored[name] = reference.score(*sample_clips(model_dir, num_clips, seed),
                                           label_names=exported_config(model_dir).label_names)
    problems = bless(scored, bool(baseline_dir), max_silent_fraction, max_clipped_fraction, fd_tolerance)
    scored.update({"blessed": not problems, "reason": "; ".join(problems) or
                   ("better than or close to the baseline" if baseline_dir else "first model: sanity checks pass"),
                   "baseline_dir": baseline_dir or "", "candidate_dir": candidate_dir,
                   "num_real_eval": int(len(reference.real_eval))})
    return scored


def training_selection(run_uri: str) -> dict:
    """The Trainer's evaluation history and best checkpoint (models.selection), if it evaluated."""
    import tensorflow as tf
    from models.selection import BEST_FILE, HISTORY_FILE
    found = {}
    for key, name in (("history", HISTORY_FILE), ("best", BEST_FILE)):
        path = os.path.join(run_uri, name)
        if tf.io.gfile.exists(path):
            with tf.io.gfile.GFile(path) as f:
                found[key] = json.load(f)
    return found


@component
def WaveGANEvaluator(model: InputArtifact[Model], model_run: InputArtifact[ModelRun], examples: InputArtifact[Examples],
                     judge: InputArtifact[Judge],
                     evaluation: OutputArtifact[ModelEvaluation], blessing: OutputArtifact[ModelBlessing],
                     serving_model_base: Parameter[str], num_clips: Parameter[int] = 64, seed: Parameter[int] = 0,
                     max_silent_fraction: Parameter[float] = 0.5, max_clipped_fraction: Parameter[float] = 0.2,
                     fd_tolerance: Parameter[float] = 0.1):
    import tensorflow as tf
    from components.report import REPORT_FILE, write_report
    from components.storage import local_folder
    from models.export import exported_config
    from serving.model_dirs import latest_version_dir
    candidate = path_utils.serving_model_dir(model.uri)
    reference = build_reference(examples.uri, exported_config(candidate), load_judge(judge.uri))
    result = evaluate(candidate, latest_version_dir(serving_model_base), examples.uri, num_clips, seed,
                      max_silent_fraction, max_clipped_fraction, fd_tolerance, reference=reference)
    with tf.io.gfile.GFile(os.path.join(evaluation.uri, METRICS_FILE), "w") as f:
        f.write(json.dumps(result, indent=2))
    with local_folder(os.path.join(evaluation.uri, REPORT_DIR)) as folder:
        write_report(folder, "WaveGAN candidate evaluation", candidate, reference,
                     {**result, **training_selection(model_run.uri)})
    evaluation.set_string_custom_property("report", os.path.join(evaluation.uri, REPORT_DIR, REPORT_FILE))
    blessing.set_int_custom_property("blessed", int(result["blessed"]))
    blessing.set_string_custom_property("reason", result["reason"])
    blessing.set_string_custom_property("current_model", candidate)
    with tf.io.gfile.GFile(os.path.join(blessing.uri, "BLESSED" if result["blessed"] else "NOT_BLESSED"), "w") as f:
        f.write(result["reason"])


def folder_judge_dir(data_dir: str, label_source: str, cfg) -> str:
    """A per-data-set judge cache (~/.cache/wavegan/judges/<key>): the same data, the same judge."""
    import hashlib
    from models.audio import list_audio_files
    from components.judge import JUDGE_VERSION
    digest = hashlib.sha256(f"{JUDGE_VERSION}:{label_source}:{cfg.sample_rate}:{cfg.slice_len}".encode())
    for path in list_audio_files(data_dir):
        digest.update(f"{os.path.relpath(path, data_dir)}:{os.path.getsize(path)}".encode())
    cache = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
    return os.path.join(cache, "wavegan", "judges", digest.hexdigest()[:16])


def evaluate_on_folder(model_dir: str, data_dir: str, label_source: str = "folder", judge_dir: str = "",
                       num_clips: int = 256, seed: int = 0, judge_epochs: int = 30, eval_percent: int = 10,
                       truncation: float = 1.0):
    """(reference, metrics) of an exported model against a folder of real audio, scored as the
    pipeline scores a candidate: what `wavegan evaluate` prints and `wavegan report` shows
    (truncation: models.generate.seeded_draw)."""
    from models.data import load_folder
    from models.export import exported_config
    from models.generate import sample_clips
    from models.quality import reference_for_folder
    cfg = exported_config(model_dir)
    # Unlabelled audio can judge a conditional model too (no label accuracy then).
    folder = load_folder(data_dir, cfg if label_source != "none" else cfg.replace(num_classes=0, label_names=[]),
                         label_source)
    train, held_out = folder.split(eval_percent)
    if len(train.audio) < 2:
        train = folder
    reference = reference_for_folder(train, held_out, cfg.sample_rate,
                                     judge_dir or folder_judge_dir(data_dir, label_source, cfg), cfg.seed,
                                     judge_epochs)
    metrics = {"judge": reference.describe(), **reference.score_real(num_clips, voicing=True),
               "candidate": reference.score(*sample_clips(model_dir, num_clips, seed, truncation),
                                            label_names=cfg.label_names, voicing=True),
               "truncation": truncation,
               "candidate_dir": model_dir,
               "skipped": [{"path": p, "reason": r} for p, r in folder.skipped]}
    return reference, metrics
