"""Quality metrics of generated audio against real audio, under one judge.

With a trained judge (models.judge: a CNN on log-mel spectrograms) the metrics are
the ones of the WaveGAN paper and its successors: inception score and its ratio to
real eval audio, Frechet distance in the judge's embedding, label accuracy for
conditional models, and NDB (number of statistically different bins, Richardson &
Weiss 2018) on k-means bins of the embedding. Without labels there is no judge:
the embedding falls back to log-mel statistics and there is no inception score.
Nearest-neighbour distances (memorisation, diversity) and sanity checks are always there.
On request, the voiced fraction (pYIN) puts a number on pitch harmonics, which none of the
judge's metrics hear: unvoiced noise shaped like a digit is named as the digit.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from models.data import DataError


FALLBACK_KIND = "log-mel-statistics (unlabelled data: no inception score)"
STATS_N_MELS = 64
NDB_ALPHA = 0.05
# The noise floor: a clip's quiet frames (16 ms at 16 kHz), their 10th percentile, floored at -100 dBFS
# (digital silence; 16-bit dither is about -101).
FLOOR_FRAME = 256
FLOOR_PERCENTILE = 10
FLOOR_MIN_DB = -100.0
# Voicing: pYIN's pitch search over speaking (and most tonal) pitch, in frames of about 64 ms; a frame
# counts when it is within 30 dB of its clip's loudest (the sound, not its silent tail).
VOICING_FMIN_HZ, VOICING_FMAX_HZ = 60.0, 400.0
VOICING_FRAME_SECS = 0.064
SOUNDING_DB = 30.0


def log_mel_statistics(clips: np.ndarray, sample_rate: int) -> np.ndarray:
    """[n, samples(, ch)] -> [n, 2 * STATS_N_MELS] log-mel mean and std: the label-free embedding."""
    import librosa
    mono = clips.mean(axis=-1) if clips.ndim == 3 else clips
    mel = librosa.feature.melspectrogram(y=np.nan_to_num(mono.astype(np.float32)), sr=sample_rate, n_fft=1024,
                                         hop_length=256, n_mels=STATS_N_MELS, power=2.0)
    log_mel = np.log(mel + 1e-6)
    return np.concatenate([log_mel.mean(axis=2), log_mel.std(axis=2)], axis=1).astype(np.float64)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two embedding sets (the FID formula)."""
    from scipy import linalg
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(cov_a.dot(cov_b), disp=False)
    if not np.all(np.isfinite(covmean)):
        offset = np.eye(len(cov_a)) * 1e-6
        covmean = linalg.sqrtm((cov_a + offset).dot(cov_b + offset))
    covmean = covmean.real
    return max(0.0, float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean)))


def inception_score(probs: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))): high when clips are confidently classified and varied."""
    p_yx = np.clip(probs, 1e-12, 1.0)
    p_y = p_yx.mean(axis=0, keepdims=True)
    return float(np.exp(np.mean(np.sum(p_yx * (np.log(p_yx) - np.log(p_y)), axis=1))))


def nearest_distances(queries: np.ndarray, references: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    d = np.sqrt(np.maximum(((queries[:, None, :] - references[None, :, :]) ** 2).sum(-1), 0))
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


def noise_floor_db(clips: np.ndarray) -> float:
    """The level clips fall to between and after their sounds, dBFS: per clip, the 10th percentile
    of its frames' RMS; the median over clips. Real pauses and one-shot tails are near digital
    silence; a generator's hiss or clicks there raise it, and the judge's metrics barely see that."""
    clips = np.nan_to_num(np.asarray(clips, np.float32)).reshape(len(clips), clips.shape[1], -1)
    usable = clips.shape[1] // FLOOR_FRAME * FLOOR_FRAME
    frames = clips[:, :usable].reshape(len(clips), -1, FLOOR_FRAME * clips.shape[2])
    frame_db = 10 * np.log10(np.mean(np.square(frames), axis=2) + 10 ** (FLOOR_MIN_DB / 10))
    return float(np.median(np.percentile(frame_db, FLOOR_PERCENTILE, axis=1)))


def voiced_fraction(clips: np.ndarray, sample_rate: int) -> float:
    """The share of sounding frames that pYIN hears as voiced (with a pitch), over all clips. Real
    FSDD speech scores about 0.7; noise bursts without pitch harmonics score far lower."""
    import librosa
    clips = np.nan_to_num(np.asarray(clips, np.float32)).reshape(len(clips), -1)
    frame = 2 ** int(round(np.log2(VOICING_FRAME_SECS * sample_rate)))
    voiced = np.concatenate([  # in chunks: pYIN's work arrays grow with clips x frames x lags
        librosa.pyin(chunk, fmin=VOICING_FMIN_HZ, fmax=VOICING_FMAX_HZ, sr=sample_rate, frame_length=frame,
                     center=False)[1] for chunk in np.array_split(clips, max(1, len(clips) // 64))])
    rms = librosa.feature.rms(y=clips, frame_length=frame, hop_length=frame // 4, center=False)[:, 0]
    level_db = 20 * np.log10(rms + 1e-9)
    sounding = level_db > level_db.max(axis=1, keepdims=True) - SOUNDING_DB
    frames = min(voiced.shape[1], sounding.shape[1])
    voiced, sounding = voiced[:, :frames], sounding[:, :frames]
    return float((voiced & sounding).sum() / max(sounding.sum(), 1))


def sanity(clips: np.ndarray, silence_db: float = -50.0, clip_level: float = 0.999) -> dict:
    flat = clips.reshape(len(clips), -1)
    finite = np.all(np.isfinite(flat), axis=1)
    rms = np.sqrt(np.mean(np.square(np.nan_to_num(flat)), axis=1))
    clipped = np.mean(np.abs(np.nan_to_num(flat)) >= clip_level, axis=1)
    return {"nan_fraction": float(np.mean(~finite)),
            "silent_fraction": float(np.mean(rms < 10 ** (silence_db / 20))),
            "clipped_fraction": float(np.mean(clipped > 0.01)),
            "rms_db": float(20 * np.log10(np.mean(rms) + 1e-12)),
            "floor_db": noise_floor_db(clips)}


class Bins:
    """k-means bins of real embeddings and a two-proportion z-test per bin (NDB)."""

    def __init__(self, real: np.ndarray, k: int, seed: int = 0):
        from sklearn.cluster import KMeans
        self.k = k
        self.kmeans = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(real)
        self.real_counts = np.bincount(self.kmeans.labels_, minlength=k)
        self.real_n = len(real)

    def ndb(self, samples: np.ndarray) -> int:
        from scipy.stats import norm
        counts = np.bincount(self.kmeans.predict(samples), minlength=self.k)
        p_real, p_gen = self.real_counts / self.real_n, counts / len(samples)
        pooled = (self.real_counts + counts) / (self.real_n + len(samples))
        se = np.sqrt(pooled * (1 - pooled) * (1 / self.real_n + 1 / len(samples)))
        z = np.abs(p_real - p_gen) / np.maximum(se, 1e-12)
        return int(np.sum(z > norm.ppf(1 - NDB_ALPHA / 2)))


def judge_indices(labels, label_names: Sequence[str], judge_names: Sequence[str]) -> np.ndarray:
    """The judge's index of each label, matched by name (-1: a class the judge does not know). A
    model's vocabulary and a span's judge's may differ in order and in members (spans add classes)."""
    labels = np.asarray(labels)
    if not label_names:  # a model without names: its indices are taken as the judge's
        return labels
    index = {name: i for i, name in enumerate(judge_names)}
    return np.array([index.get(name, -1) for name in label_names] + [-1])[labels]


class QualityReference:
    """Real train and eval audio embedded once; scores any set of clips against them."""

    def __init__(self, real_train: np.ndarray, real_eval: np.ndarray, sample_rate: int, judge=None,
                 train_labels: Optional[np.ndarray] = None, eval_labels: Optional[np.ndarray] = None,
                 ndb_bins: int = 50, label_names: Sequence[str] = ()):
        """label_names: what the real labels index (a span's vocabulary), when not the judge's own."""
        if len(real_train) < 2:
            raise DataError(f"need at least 2 real train clips to evaluate, got {len(real_train)}")
        self.judge, self.sample_rate, self.label_names = judge, sample_rate, list(label_names)
        self.real_eval = real_eval if len(real_eval) >= 2 else real_train
        self.eval_labels = eval_labels if len(real_eval) >= 2 else train_labels
        self.real_train, self.train_labels = real_train, train_labels
        self.judge_kind = judge.info["kind"] if judge is not None else FALLBACK_KIND
        self._scale = None
        self.train_embedding = self.embed(real_train)[1]
        k = int(max(2, min(ndb_bins, len(real_train) // 10)))
        self.bins = Bins(self.train_embedding, k)
        self._real_eval_is = None
        self._real_eval_voicing = None

    def embed(self, clips):
        """(probabilities or None, embedding) of clips under this reference's judge."""
        if self.judge is not None:
            return self.judge.predict(clips)
        raw = log_mel_statistics(clips, self.sample_rate)
        if self._scale is None:
            self._scale = (raw.mean(axis=0), raw.std(axis=0) + 1e-6)
        return None, (raw - self._scale[0]) / self._scale[1]

    def describe(self) -> dict:
        """Which judge scored, so metrics files say what their numbers mean."""
        info = {"kind": self.judge_kind, "ndb_bins": self.bins.k, "num_real_train": int(len(self.real_train)),
                "num_real_eval": int(len(self.real_eval)), "eval_is_train": self.real_eval is self.real_train}
        if self.judge is not None:
            info.update({k: self.judge.info[k] for k in ("label_names", "eval_accuracy", "train_accuracy")})
        return info

    def real_eval_inception_score(self) -> Optional[float]:
        if self.judge is None:
            return None
        if self._real_eval_is is None:
            self._real_eval_is = inception_score(self.judge.predict(self.real_eval)[0])
        return self._real_eval_is

    def real_eval_voiced_fraction(self) -> float:
        if self._real_eval_voicing is None:
            self._real_eval_voicing = voiced_fraction(self.real_eval, self.sample_rate)
        return self._real_eval_voicing

    def voicing(self, clips: np.ndarray) -> dict:
        """The voiced fraction and its ratio to real eval audio's (seconds per hundred clips: kept
        out of the evaluations during training)."""
        voiced = voiced_fraction(clips, self.sample_rate)
        return {"voiced_fraction": voiced,
                "voiced_fraction_ratio": voiced / max(self.real_eval_voiced_fraction(), 1e-9)}

    def score(self, clips: np.ndarray, labels: Optional[np.ndarray] = None, nearest: bool = True,
              label_names: Sequence[str] = (), voicing: bool = False) -> dict:
        """All metrics of one set of clips; `labels` are the classes they were generated for, as indices
        of `label_names` (the model's vocabulary) when given, else of the judge's."""
        probs, embedding = self.embed(clips)
        finite = np.all(np.isfinite(embedding), axis=1)
        metrics = {"num_clips": int(len(clips)), **sanity(clips), **(self.voicing(clips) if voicing else {})}
        if finite.sum() < 2:
            return {**metrics, "frechet_distance": float("inf"), "ndb": self.bins.k, "ndb_fraction": 1.0}
        embedding = embedding[finite]
        ndb = self.bins.ndb(embedding)
        metrics.update({"frechet_distance": frechet_distance(embedding, self.train_embedding),
                        "ndb": ndb, "ndb_fraction": ndb / self.bins.k})
        if nearest:
            metrics["nn_distance_to_train"] = float(np.mean(nearest_distances(embedding, self.train_embedding)))
            metrics["nn_distance_among_samples"] = float(np.mean(nearest_distances(embedding, embedding, True)))
        if probs is not None:
            probs = probs[finite]
            metrics["inception_score"] = inception_score(probs)
            metrics["inception_score_ratio"] = metrics["inception_score"] / self.real_eval_inception_score()
            metrics["class_histogram"] = np.bincount(np.argmax(probs, axis=1), minlength=probs.shape[1]).tolist()
            if labels is not None:
                wanted = judge_indices(labels, label_names, self.judge.label_names)[finite]
                judged = wanted >= 0  # a class the judge never heard cannot be checked
                hits, wanted = np.argmax(probs[judged], axis=1) == wanted[judged], wanted[judged]
                metrics["label_accuracy"] = float(np.mean(hits)) if len(hits) else float("nan")
                # Which classes the generator makes and which it folds into others (None: none asked for).
                metrics["label_accuracy_per_class"] = [
                    round(float(np.mean(hits[wanted == k])), 4) if np.any(wanted == k) else None
                    for k in range(probs.shape[1])]
                metrics["label_accuracy_ratio"] = metrics["label_accuracy"] / max(self.judge.eval_accuracy, 1e-9)
        return metrics

    def score_real(self, num_clips: int = 0, voicing: bool = False) -> dict:
        """The same metrics for real train and real eval audio: what a perfect model would get."""
        out = {}
        for name, clips, labels in (("real_train", self.real_train, self.train_labels),
                                    ("real_eval", self.real_eval, self.eval_labels)):
            if num_clips and len(clips) > num_clips:
                keep = np.random.RandomState(0).choice(len(clips), num_clips, replace=False)
                clips, labels = clips[keep], (labels[keep] if labels is not None else None)
            out[name] = self.score(clips, labels if self.judge is not None else None, nearest=name != "real_train",
                                   label_names=self.label_names, voicing=voicing)
        return out


def reference_for_folder(train, held_out, sample_rate: int, judge_dir: str = "", seed: int = 0,
                         judge_epochs: int = 30) -> QualityReference:
    """A reference from models.data.FolderData splits, training (or reusing) the judge when labelled."""
    from models.judge import load_or_train
    judge = None
    train_labelled, eval_labelled = train.labels >= 0, held_out.labels >= 0
    if len(train.vocabulary) >= 2 and len(set(train.labels[train_labelled].tolist())) >= 2:
        if eval_labelled.sum() < 2:
            held_out, eval_labelled = train, train_labelled
        judge = load_or_train(judge_dir, train.audio[train_labelled], train.labels[train_labelled],
                              held_out.audio[eval_labelled], held_out.labels[eval_labelled], sample_rate,
                              train.vocabulary, judge_epochs, seed)
    return QualityReference(train.audio, held_out.audio, sample_rate, judge, train.labels, held_out.labels)
