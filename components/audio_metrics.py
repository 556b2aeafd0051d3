"""Offline quality metrics for generated audio (no downloaded weights).

Embedding: per-clip mean and standard deviation of a log-mel spectrogram. On it:
Frechet distance to real audio, an inception-style score from a classifier trained
on the real labelled slices (as the WaveGAN paper did with its SC09 classifier),
nearest-neighbour distances to the training set (memorisation: small = copying) and
among samples (diversity), and sanity checks.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

N_MELS = 64
N_FFT = 1024
HOP = 256


def embed(clips: np.ndarray, sample_rate: int) -> np.ndarray:
    """[n, samples(, ch)] float audio -> [n, 2 * N_MELS] log-mel mean and std."""
    import librosa
    mono = clips.mean(axis=-1) if clips.ndim == 3 else clips
    mel = librosa.feature.melspectrogram(y=np.nan_to_num(mono.astype(np.float32)), sr=sample_rate, n_fft=N_FFT,
                                         hop_length=HOP, n_mels=N_MELS, power=2.0)
    log_mel = np.log(mel + 1e-6)  # [n, mels, frames]
    return np.concatenate([log_mel.mean(axis=2), log_mel.std(axis=2)], axis=1).astype(np.float64)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two embedding sets."""
    from scipy import linalg
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(cov_a.dot(cov_b), disp=False)
    if not np.all(np.isfinite(covmean)):
        offset = np.eye(len(cov_a)) * 1e-6
        covmean = linalg.sqrtm((cov_a + offset).dot(cov_b + offset))
    covmean = covmean.real
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean))


class LabelClassifier:
    """Logistic regression on standardised embeddings of real labelled slices."""

    def __init__(self, embeddings: np.ndarray, labels: np.ndarray):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        self.model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        self.model.fit(embeddings, labels)

    def inception_score(self, embeddings: np.ndarray) -> float:
        """exp(E_x KL(p(y|x) || p(y))): high when samples are confident and varied."""
        p_yx = np.clip(self.model.predict_proba(embeddings), 1e-12, 1.0)
        p_y = p_yx.mean(axis=0, keepdims=True)
        return float(np.exp(np.mean(np.sum(p_yx * (np.log(p_yx) - np.log(p_y)), axis=1))))


def nearest_distances(queries: np.ndarray, references: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    d = np.sqrt(np.maximum(((queries[:, None, :] - references[None, :, :]) ** 2).sum(-1), 0))
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


def sanity(clips: np.ndarray, silence_db: float = -50.0, clip_level: float = 0.999) -> dict:
    flat = clips.reshape(len(clips), -1)
    finite = np.all(np.isfinite(flat), axis=1)
    rms = np.sqrt(np.mean(np.square(np.nan_to_num(flat)), axis=1))
    clipped = np.mean(np.abs(np.nan_to_num(flat)) >= clip_level, axis=1)
    return {"nan_fraction": float(np.mean(~finite)),
            "silent_fraction": float(np.mean(rms < 10 ** (silence_db / 20))),
            "clipped_fraction": float(np.mean(clipped > 0.01)),
            "rms_db": float(20 * np.log10(np.mean(rms) + 1e-12))}


def evaluate_clips(clips: np.ndarray, sample_rate: int, real_eval: np.ndarray, real_train: np.ndarray,
                   scale: tuple, classifier: Optional[LabelClassifier]) -> dict:
    """All metrics of one model's clips; `scale` (mean, std) standardises embeddings."""
    mean, std = scale
    raw = embed(clips, sample_rate)
    generated = (raw - mean) / std
    metrics = {"frechet_distance": frechet_distance(generated, real_eval),
               "nn_distance_to_train": float(np.mean(nearest_distances(generated, real_train))),
               "nn_distance_among_samples": float(np.mean(nearest_distances(generated, generated, True))),
               **sanity(clips)}
    if classifier is not None:
        metrics["inception_score"] = classifier.inception_score(raw)
    return metrics
