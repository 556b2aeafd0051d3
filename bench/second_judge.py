"""Second opinions on the committed FSDD clips: classifiers the run never used, one never hearing the speaker.

  python bench/second_judge.py                                   # bench/results/quality/fsdd
  python bench/second_judge.py --results bench/results/quality/fsdd_gpu

The reference run's judge also chose the run's best checkpoint, so a generator could please it
with cues no listener hears. Two other classifiers name the committed WAVs (<digit>_<n>.wav): a
fresh CNN judge (models.judge) and, of another kind, MFCCs on a fixed time grid into a logistic
regression (scikit-learn). Each learns the digits twice:
- from the run's own train files (all speakers), scored on its held-out files: the label-accuracy
  ratio (generated over real accuracy) compares directly with the run's;
- from two of the three speakers, scored on the third (a voice it never heard, as a listener new
  to the speakers), in turn for each speaker. The generated clips are in all three voices, so in
  each turn some are in voices the classifier heard: read this ratio as an upper bound.
Writes <results>/second_judge.json and prints a table.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import FSDD, RESULTS_DIR, machine_info  # noqa: E402

MFCC_COEFFICIENTS = 20
MFCC_TIME_CELLS = 8  # a digit's order of sounds matters: MFCC means over 8 stretches of the slice
JUDGE_EPOCHS = 20


def speaker_of(source: str) -> str:
    """FSDD names its files <digit>_<speaker>_<take>.wav."""
    return os.path.basename(source).split("_")[1]


def mfcc_grid(clips: np.ndarray, sample_rate: int) -> np.ndarray:
    import librosa
    mfcc = librosa.feature.mfcc(y=clips.reshape(len(clips), -1), sr=sample_rate, n_mfcc=MFCC_COEFFICIENTS)
    cells = np.array_split(np.arange(mfcc.shape[-1]), MFCC_TIME_CELLS)
    return np.concatenate([mfcc[:, :, cell].mean(axis=2) for cell in cells], axis=1)


def mfcc_classifier(train, sample_rate: int):
    """A predict(clips) -> labels function of MFCCs into a logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=0.1))
    model.fit(mfcc_grid(train.audio, sample_rate), train.labels)
    return lambda clips: model.predict(mfcc_grid(clips, sample_rate))


def cnn_classifier(train, sample_rate: int):
    """A predict(clips) -> labels function of a fresh CNN judge; its epoch is chosen on a tenth of train."""
    from models.judge import Judge
    fit, held = train.split(10)
    judge = Judge.train(fit.audio, fit.labels, held.audio, held.labels, sample_rate, train.vocabulary,
                        epochs=JUDGE_EPOCHS)
    return lambda clips: np.argmax(judge.predict(clips)[0], axis=1)


CLASSIFIERS = {"cnn-judge": cnn_classifier, "mfcc-logreg": mfcc_classifier}


def speakers_of(data) -> np.ndarray:
    return np.array([speaker_of(source) for source in data.sources])


def opinion(classifiers: list, generated, generated_labels) -> dict:
    """Accuracies of (predict, real held-out data) pairs: real pooled over them, generated averaged."""
    real = [(predict(held.audio) == held.labels) for predict, held in classifiers]
    generated_accuracy = float(np.mean([np.mean(predict(generated) == generated_labels) for predict, _ in classifiers]))
    real_accuracy = float(np.mean(np.concatenate(real)))
    return {"real_accuracy": real_accuracy, "generated_accuracy": generated_accuracy,
            "label_accuracy_ratio": generated_accuracy / max(real_accuracy, 1e-9)}


def load_generated(wav_dir: str, cfg, vocabulary: list):
    """The committed WAVs and their digits as indices of the real data's vocabulary."""
    from models.data import load_folder
    clips = load_folder(wav_dir, cfg, label_source="prefix")
    return clips.audio, np.array([vocabulary.index(clips.vocabulary[k]) for k in clips.labels])


def second_opinions(results: str) -> dict:
    from models.config import WaveGANConfig
    from models.data import load_folder
    with open(os.path.join(results, "metrics.json")) as f:
        metrics = json.load(f)
    cfg = WaveGANConfig.from_dict(metrics["config"])
    real = load_folder(FSDD, cfg, label_source="prefix")
    generated, generated_labels = load_generated(os.path.join(results, "wavs"), cfg, real.vocabulary)
    train_part, held_out = real.split(10)  # the quality run's split
    speakers = speakers_of(real)
    names = sorted(set(speakers))
    started, total, done, rows = time.time(), len(CLASSIFIERS) * (1 + len(names)), [], []

    def trained(kind, data, what):  # one classifier, with a progress line (the CNNs take minutes each)
        predict = CLASSIFIERS[kind](data, cfg.sample_rate)
        done.append(what)
        print(f"trained {len(done)}/{total}: {kind} on {what}, {time.time() - started:.0f} s", flush=True)
        return predict

    for kind in CLASSIFIERS:
        same = opinion([(trained(kind, train_part, "the run's train files"), held_out)], generated, generated_labels)
        unseen = opinion([(trained(kind, real.subset(speakers != s), f"all but {s}"), real.subset(speakers == s))
                          for s in names], generated, generated_labels)
        rows += [{"classifier": kind, "trained_on": "the run's train files", **same},
                 {"classifier": kind, "trained_on": "two speakers, scored on the third", **unseen}]
        print(f"{kind}: {same} / unseen speaker: {unseen}", flush=True)
    return {"results": os.path.relpath(results, os.path.dirname(RESULTS_DIR)), "num_generated": int(len(generated)),
            "run_judge": {key: metrics[part].get(key) for part, key in
                          (("real_eval", "label_accuracy"), ("generated", "label_accuracy"),
                           ("generated", "label_accuracy_ratio"))},
            "opinions": rows, "machine": machine_info()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default=os.path.join(RESULTS_DIR, "quality", "fsdd"),
                        help="a FSDD quality run's results (metrics.json, wavs/)")
    args = parser.parse_args(argv)
    if not os.path.isdir(FSDD):
        raise SystemExit(f"FSDD not found at {FSDD}: this benchmark needs ../shared/data/fsdd")
    if not os.path.exists(os.path.join(args.results, "metrics.json")):
        raise SystemExit(f"no metrics.json in {args.results}: run bench/quality_run.py --dataset fsdd first")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING)
    out = second_opinions(args.results)
    with open(os.path.join(args.results, "second_judge.json"), "w") as f:
        json.dump(out, f, indent=2)
    print(f"\n{'classifier':13}{'trained on':36}{'real':>6}{'generated':>11}{'ratio':>7}")
    for row in out["opinions"]:
        print(f"{row['classifier']:13}{row['trained_on']:36}{row['real_accuracy']:6.2f}"
              f"{row['generated_accuracy']:11.2f}{row['label_accuracy_ratio']:7.2f}")
    print(f"the run's own judge: ratio {out['run_judge']['label_accuracy_ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
