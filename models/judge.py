"""The audio judge: a small CNN on log-mel spectrograms, trained on real labelled slices.

In the spirit of the WaveGAN paper's SC09 classifier (128-bin log-mel, STFT 1024,
hop 128): its class probabilities give the inception score and label accuracy, its
penultimate layer the embedding for Frechet distance, NDB and nearest neighbours.
A judge is trained once per data set and saved to a folder (Keras file + JSON), so
every model trained on that data is scored by the same judge.

It learns with a random noise floor added to half its training clips: a listener names
a kick with a faint hiss under it a kick, but a judge trained only on clips that end in
digital silence heard every such clip as "snare" (README, "Reference quality run").
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time

import numpy as np
import tensorflow as tf

from models.errors import PathError

log = logging.getLogger(__name__)

N_MELS = 128
N_FFT = 1024
HOP = 128
EMBEDDING_DIM = 64
MODEL_FILE = "judge.keras"
INFO_FILE = "judge.json"
KIND = "cnn-log-mel"
# Bump when the judge's training changes: a judge saved by another version is trained again.
# 2: learns with a noise floor.
VERSION = "2"
MIN_STEPS_PER_EPOCH = 20
# The noise floor the judge learns to look past: white noise at this RMS (dBFS), with a spectral
# tilt of up to this many dB across the mel bands, on this share of its training clips.
NOISE_FLOOR_DBFS = (-70.0, -30.0)
NOISE_FLOOR_TILT_DB = 20.0
NOISE_FLOOR_SHARE = 0.5


def log_mel_tensor(mono, sample_rate: int):
    """[n, samples] float32 -> [n, frames, N_MELS, 1] log-mel, in TensorFlow ops so a SavedModel
    can carry it and a gradient flows through it (search by example). The power is re² + im²,
    whose gradient stays finite at silence where |x|'s does not."""
    weights = tf.signal.linear_to_mel_weight_matrix(N_MELS, N_FFT // 2 + 1, sample_rate, 20.0, sample_rate / 2)
    stft = tf.signal.stft(mono, N_FFT, HOP, N_FFT, pad_end=True)
    power = tf.square(tf.math.real(stft)) + tf.square(tf.math.imag(stft))
    return tf.math.log(tf.tensordot(power, weights, 1) + 1e-6)[..., None]


def embedding_fn(model, sample_rate: int):
    """mono [n, samples] -> the judge model's embeddings [n, EMBEDDING_DIM], in TensorFlow ops (for
    search by example, inside an export or not)."""
    return lambda mono: model(log_mel_tensor(mono, sample_rate), training=False)[1]


def log_mel(clips: np.ndarray, sample_rate: int, batch: int = 256) -> np.ndarray:
    """[n, samples(, ch)] audio -> [n, frames, N_MELS, 1] log-mel (mono mix)."""
    mono = clips.mean(axis=-1) if clips.ndim == 3 else clips
    mono = np.nan_to_num(mono.astype(np.float32))
    out = []
    for start in range(0, len(mono), batch):
        out.append(log_mel_tensor(mono[start:start + batch], sample_rate).numpy())
    if not out:
        return np.zeros([0, 1, N_MELS, 1], np.float32)
    return np.concatenate(out)


def _build_cnn(num_classes: int, mean: float, std: float):
    import keras
    from keras import layers
    inputs = keras.Input([None, N_MELS, 1], name="log_mel")
    x = layers.Rescaling(1.0 / std, offset=-mean / std)(inputs)
    for channels in (16, 32, 64, 128):
        x = layers.Conv2D(channels, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    embedding = layers.Dense(EMBEDDING_DIM, activation="relu", name="embedding")(x)
    logits = layers.Dense(num_classes, name="logits")(layers.Dropout(0.3)(embedding))
    return keras.Model(inputs, [logits, embedding])


def _white_noise_bank(sample_rate: int, samples: int, count: int = 64) -> tf.Tensor:
    """[count, frames, N_MELS] mel power of unit-variance white noise clips: a floor with real noise's
    texture (its fluctuating periodogram), which the judge must also learn to look past."""
    noise = tf.random.stateless_normal([count, samples], seed=[0, 1])
    return tf.exp(log_mel_tensor(noise, sample_rate)[..., 0]) - 1e-6


def _with_noise_floor(features, bank):
    """Log-mel features with a random noise floor added in the power domain (on NOISE_FLOOR_SHARE of calls)."""
    level_db = tf.random.uniform([], *NOISE_FLOOR_DBFS)
    tilt_db = tf.random.uniform([], -NOISE_FLOOR_TILT_DB, NOISE_FLOOR_TILT_DB) * tf.linspace(-0.5, 0.5, N_MELS)
    noise = bank[tf.random.uniform([], 0, tf.shape(bank)[0], tf.int32)]
    floor = noise * 10.0 ** ((level_db + tilt_db) / 10.0)
    noisy = tf.math.log(tf.exp(features) + floor[..., None])
    return tf.where(tf.random.uniform([]) < NOISE_FLOOR_SHARE, noisy, features)


def _augmenter(sample_rate: int, samples: int):
    """Random noise floor, time shift and gain: generated audio is never as clean, aligned or
    levelled as the data."""
    bank = _white_noise_bank(sample_rate, samples)

    def augment(features, label):
        features = _with_noise_floor(features, bank)
        frames = tf.shape(features)[0]
        features = tf.roll(features, tf.random.uniform([], -frames // 8, frames // 8 + 1, tf.int32), axis=0)
        return features + tf.random.uniform([], -1.5, 1.5), label
    return augment


class Judge:
    """A trained classifier with its label names and its accuracy on real eval audio."""

    def __init__(self, model, info: dict):
        self.model, self.info = model, info

    @property
    def label_names(self) -> list:
        return self.info["label_names"]

    @property
    def eval_accuracy(self) -> float:
        return self.info["eval_accuracy"]

    @classmethod
    def train(cls, train_audio, train_labels, eval_audio, eval_labels, sample_rate: int, label_names: list,
              epochs: int = 30, batch_size: int = 32, seed: int = 0) -> "Judge":
        """Fits on the train slices, keeps the weights with the best eval accuracy."""
        import keras
        keras.utils.set_random_seed(seed)
        num_classes = len(label_names)
        x_train, x_eval = log_mel(train_audio, sample_rate), log_mel(eval_audio, sample_rate)
        model = _build_cnn(num_classes, float(x_train.mean()), float(x_train.std() + 1e-6))
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        repeats = -(-MIN_STEPS_PER_EPOCH * batch_size // len(x_train))  # small data: enough updates an epoch
        steps_per_epoch = -(-len(x_train) * repeats // batch_size)
        schedule = keras.optimizers.schedules.CosineDecay(1e-3, epochs * steps_per_epoch)
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss=[loss, None])
        data = (tf.data.Dataset.from_tensor_slices((x_train, train_labels.astype(np.int32)))
                .shuffle(len(x_train), seed=seed).repeat(repeats)
                .map(_augmenter(sample_rate, train_audio.shape[1])).batch(batch_size))
        best, best_weights, t0 = (-1.0, 0.0), None, time.time()
        for epoch in range(epochs):
            model.fit(data, epochs=1, verbose=0)
            accuracy, eval_loss = _accuracy_and_loss(model, x_eval, eval_labels)
            if (accuracy, -eval_loss) > best:  # ties: the more confident (lower loss) weights
                best, best_weights = (accuracy, -eval_loss), model.get_weights()
            log.info("judge epoch %d/%d: eval accuracy %.3f loss %.3f (best %.3f), %.0f s", epoch + 1, epochs,
                     accuracy, eval_loss, best[0], time.time() - t0)
        model.set_weights(best_weights)
        info = {"kind": KIND, "judge_version": VERSION, "label_names": list(label_names),
                "sample_rate": int(sample_rate),
                "eval_accuracy": float(best[0]), "eval_loss": float(-best[1]),
                "train_accuracy": _accuracy_and_loss(model, x_train, train_labels)[0],
                "num_train": int(len(x_train)), "num_eval": int(len(x_eval)), "epochs": epochs,
                "n_mels": N_MELS, "n_fft": N_FFT, "hop": HOP, "embedding_dim": EMBEDDING_DIM,
                "confusion": confusion_matrix(model, x_eval, eval_labels, num_classes).tolist()}
        return cls(model, info)

    def save(self, folder: str) -> str:
        os.makedirs(folder, exist_ok=True)
        self.model.save(os.path.join(folder, MODEL_FILE))
        with open(os.path.join(folder, INFO_FILE), "w") as f:
            json.dump(self.info, f, indent=2)
        return folder

    @classmethod
    def load(cls, folder: str) -> "Judge":
        import keras
        info_path = os.path.join(folder, INFO_FILE)
        if not os.path.exists(info_path):
            raise PathError(f"{folder} holds no trained judge ({INFO_FILE} missing)")
        with open(info_path) as f:
            info = json.load(f)
        return cls(keras.models.load_model(os.path.join(folder, MODEL_FILE), compile=False), info)

    def predict(self, clips: np.ndarray):
        """(class probabilities [n, classes], embeddings [n, EMBEDDING_DIM]) of audio clips."""
        return self.predict_features(log_mel(clips, self.info["sample_rate"]))

    def predict_features(self, features: np.ndarray):
        probs, embeddings = [], []
        for start in range(0, len(features), 256):
            logits, embedding = self.model(features[start:start + 256], training=False)
            probs.append(tf.nn.softmax(logits).numpy())
            embeddings.append(embedding.numpy())
        if not probs:
            return np.zeros([0, len(self.label_names)]), np.zeros([0, EMBEDDING_DIM])
        return np.concatenate(probs).astype(np.float64), np.concatenate(embeddings).astype(np.float64)


def load_or_train(folder: str, train_audio, train_labels, eval_audio, eval_labels, sample_rate: int,
                  label_names: list, epochs: int = 30, seed: int = 0) -> Judge:
    """The judge saved in `folder` (by this VERSION), or a new one trained on these slices and saved there."""
    if folder and os.path.exists(os.path.join(folder, INFO_FILE)):
        saved = Judge.load(folder)
        if saved.info.get("judge_version") == VERSION:
            log.info("judge: using %s", folder)
            return saved
        log.info("judge: %s was trained by judge version %s, this is %s: training again", folder,
                 saved.info.get("judge_version", "1"), VERSION)
    judge = Judge.train(train_audio, train_labels, eval_audio, eval_labels, sample_rate, label_names, epochs,
                        seed=seed)
    if folder:
        # A judge appears whole or not at all; the staging name is this process's, since every
        # worker of a multi-worker run trains the same judge at the same time.
        staging = f"{folder.rstrip('/')}.tmp{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        judge.save(staging)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)
    return judge


def _accuracy_and_loss(model, features, labels):
    """Accuracy and mean cross-entropy on labelled features."""
    if len(features) == 0:
        return float("nan"), float("nan")
    logits, _ = model.predict(features, batch_size=256, verbose=0)
    log_probs = tf.nn.log_softmax(logits).numpy()
    loss = -np.mean(log_probs[np.arange(len(labels)), labels])
    return float(np.mean(np.argmax(logits, axis=1) == labels)), float(loss)


def confusion_matrix(model, features, labels, num_classes: int) -> np.ndarray:
    """[true, predicted] counts on real eval audio."""
    matrix = np.zeros([num_classes, num_classes], np.int64)
    if len(features):
        logits, _ = model.predict(features, batch_size=256, verbose=0)
        np.add.at(matrix, (labels, np.argmax(logits, axis=1)), 1)
    return matrix
