"""The judge, the quality metrics, and evaluation / best checkpoint during training."""
import json
import os

import numpy as np
import tensorflow as tf
import pytest

from models.quality import (Bins, QualityReference, frechet_distance, inception_score, noise_floor_db, sanity,
                            voiced_fraction)
from tests.conftest import FSDD, tiny_config

SR = 16000
TONES = (300.0, 1200.0, 3000.0)  # three classes a judge must tell apart


def tone_clips(freq, n, rng, slice_len=16384):
    """Tone bursts of one pitch with random phase, level, onset and length: real-looking variety."""
    t = np.arange(slice_len) / SR
    clips = np.zeros([n, slice_len, 1], np.float32)
    for i in range(n):
        start, length = rng.randint(0, slice_len // 4), rng.randint(slice_len // 4, slice_len // 2)
        burst = rng.uniform(0.2, 0.8) * np.sin(2 * np.pi * freq * t[:length] + rng.uniform(0, 6.3))
        clips[i, start:start + length, 0] = burst * np.hanning(length)
    return clips


def tone_data(n_per_class, seed):
    rng = np.random.RandomState(seed)
    audio = np.concatenate([tone_clips(f, n_per_class, rng) for f in TONES])
    return audio, np.repeat(np.arange(len(TONES)), n_per_class).astype(np.int32)


@pytest.fixture(scope="module")
def tone_judge(tmp_path_factory):
    from models.judge import Judge
    train_audio, train_labels = tone_data(24, seed=0)
    eval_audio, eval_labels = tone_data(8, seed=1)
    judge = Judge.train(train_audio, train_labels, eval_audio, eval_labels, SR, ["low", "mid", "high"], epochs=4)
    folder = str(tmp_path_factory.mktemp("judge"))
    judge.save(folder)
    return folder, (train_audio, train_labels, eval_audio, eval_labels)


def test_inception_score_by_hand():
    confident_and_varied = np.eye(4)[np.arange(40) % 4]
    assert inception_score(confident_and_varied) == pytest.approx(4.0, rel=1e-6)
    assert inception_score(np.eye(4)[np.zeros(40, int)]) == pytest.approx(1.0, rel=1e-6)
    assert inception_score(np.full([40, 4], 0.25)) == pytest.approx(1.0, rel=1e-6)


def test_frechet_distance_by_hand():
    a = np.random.RandomState(0).randn(500, 3)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a + [3.0, 0, 4.0], a) == pytest.approx(25.0, rel=1e-6)  # same covariance: |dmu|^2


def test_noise_floor_is_the_level_between_sounds():
    rng = np.random.RandomState(0)
    t = np.arange(16384) / 16000.0
    burst = np.where(t < 0.3, 0.5 * np.sin(2 * np.pi * 440 * t), 0.0).astype(np.float32)
    clean = np.stack([burst, burst])[:, :, None]
    hiss = clean + 10 ** (-60 / 20) * rng.randn(*clean.shape).astype(np.float32)  # white noise at -60 dBFS RMS
    assert noise_floor_db(clean) == pytest.approx(-100.0, abs=0.1)
    assert noise_floor_db(hiss) == pytest.approx(-60.0, abs=1.5)
    assert sanity(hiss)["floor_db"] == noise_floor_db(hiss)
    assert noise_floor_db(np.stack([burst] * 2)[:, :, None] * 0 + 0.5) == pytest.approx(-6.0, abs=0.1)


def voiced_and_unvoiced(n, sample_rate, seed=0):
    """Bursts with a pitch (harmonics of 100-250 Hz, like a voice) and noise bursts of the same
    shape and level, each followed by silence."""
    rng = np.random.RandomState(seed)
    length = sample_rate // 2
    t = np.arange(length) / sample_rate
    voiced, noise = np.zeros([2, n, sample_rate, 1], np.float32)
    for i in range(n):
        f0 = rng.uniform(100, 250)
        harmonics = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 12) if k * f0 < sample_rate / 2)
        envelope = 0.3 * np.hanning(length) ** 0.3
        voiced[i, :length, 0] = envelope * harmonics / np.abs(harmonics).max()
        noise[i, :length, 0] = envelope * rng.uniform(-1, 1, length)
    return voiced, noise


@pytest.mark.parametrize("sample_rate", [8000, 16000])
def test_voiced_fraction_hears_pitch_not_noise(sample_rate):
    voiced, noise = voiced_and_unvoiced(6, sample_rate)
    assert voiced_fraction(voiced, sample_rate) > 0.8
    assert voiced_fraction(noise, sample_rate) < 0.2
    assert voiced_fraction(np.zeros_like(voiced), sample_rate) == 0.0  # nothing sounds: nothing is voiced


def test_reference_scores_voicing_against_real_on_request():
    voiced, noise = voiced_and_unvoiced(8, 8000)
    reference = QualityReference(voiced, voiced[:4], 8000)
    assert "voiced_fraction" not in reference.score(noise)  # off by default: kept out of training's evaluations
    real = reference.score_real(voicing=True)["real_eval"]
    assert real["voiced_fraction_ratio"] == pytest.approx(1.0)
    assert reference.score(noise, voicing=True)["voiced_fraction_ratio"] < 0.25


def test_ndb_counts_bins_that_differ():
    rng = np.random.RandomState(0)
    real = np.concatenate([rng.randn(300, 2) + c for c in ([0, 0], [8, 0], [0, 8], [8, 8])])
    bins = Bins(real, k=4)
    same = np.concatenate([rng.randn(100, 2) + c for c in ([0, 0], [8, 0], [0, 8], [8, 8])])
    assert bins.ndb(same) == 0
    assert bins.ndb(rng.randn(400, 2)) == 4  # all mass in one of four bins: every bin differs


def test_judge_learns_classes_and_round_trips(tone_judge):
    from models.judge import Judge
    folder, (_, _, eval_audio, eval_labels) = tone_judge
    judge = Judge.load(folder)
    assert judge.eval_accuracy >= 0.9
    probs, embedding = judge.predict(eval_audio)
    assert np.mean(np.argmax(probs, axis=1) == eval_labels) == pytest.approx(judge.eval_accuracy)
    assert embedding.shape == (len(eval_audio), judge.info["embedding_dim"])
    assert np.asarray(judge.info["confusion"]).sum() == len(eval_audio)


def test_judge_names_a_clip_with_a_noise_floor_by_its_class(tone_judge):
    """A faint hiss under a tone burst does not change what a listener names it; a judge trained
    only on clips that end in digital silence heard such clips as one class."""
    from models.judge import Judge
    folder, (_, _, eval_audio, eval_labels) = tone_judge
    judge = Judge.load(folder)
    rng = np.random.RandomState(4)
    for floor_dbfs in (-60, -45):
        hissing = (eval_audio + rng.normal(0, 10 ** (floor_dbfs / 20), eval_audio.shape)).astype(np.float32)
        assert np.mean(np.argmax(judge.predict(hissing)[0], axis=1) == eval_labels) >= 0.9, floor_dbfs


def test_a_judge_saved_by_an_older_version_is_trained_again(tone_judge, tmp_path):
    import shutil
    from models.judge import INFO_FILE, VERSION, load_or_train
    folder, (train_audio, train_labels, eval_audio, eval_labels) = tone_judge
    old = str(tmp_path / "judge")
    shutil.copytree(folder, old)
    info_path = os.path.join(old, INFO_FILE)
    with open(info_path) as f:
        info = json.load(f)
    info.pop("judge_version")  # as version 1 saved it
    with open(info_path, "w") as f:
        json.dump(info, f)
    judge = load_or_train(old, train_audio[:6], train_labels[:6], eval_audio[:3], eval_labels[:3], SR,
                          ["low", "mid", "high"], epochs=1)
    assert judge.info["judge_version"] == VERSION and judge.info["num_train"] == 6
    with open(info_path) as f:
        assert json.load(f)["judge_version"] == VERSION  # saved over the old one
    assert load_or_train(old, None, None, None, None, SR, [], epochs=1).info["num_train"] == 6  # now reused


def test_reference_scores_real_audio_above_noise_and_wrong_classes(tone_judge):
    from models.judge import Judge
    folder, (train_audio, train_labels, eval_audio, eval_labels) = tone_judge
    reference = QualityReference(train_audio, eval_audio, SR, Judge.load(folder), train_labels, eval_labels)
    real = reference.score_real()["real_eval"]
    assert real["inception_score_ratio"] == pytest.approx(1.0)
    assert real["inception_score"] > 2.0 and real["label_accuracy"] >= 0.9
    fresh_audio, fresh_labels = tone_data(8, seed=2)
    good = reference.score(fresh_audio, fresh_labels)
    noise = reference.score(np.random.RandomState(3).uniform(-0.5, 0.5, fresh_audio.shape).astype(np.float32),
                            fresh_labels)
    swapped = reference.score(fresh_audio, (fresh_labels + 1) % 3)
    assert good["frechet_distance"] < noise["frechet_distance"]
    assert good["inception_score"] > noise["inception_score"]
    assert good["ndb"] <= noise["ndb"]
    assert good["label_accuracy"] >= 0.9 and swapped["label_accuracy"] <= 0.1
    assert reference.describe()["kind"] == "cnn-log-mel"

    # A model's vocabulary in another order, with a class the judge never heard: matched by name.
    judge_names = reference.judge.label_names
    model_names = ["new", *reversed(judge_names)]
    by_model = np.array([model_names.index(judge_names[k]) for k in fresh_labels])
    renamed = reference.score(fresh_audio, by_model, label_names=model_names)
    assert renamed["label_accuracy"] == good["label_accuracy"]
    assert renamed["label_accuracy_per_class"] == good["label_accuracy_per_class"]
    with_new = reference.score(np.concatenate([fresh_audio, fresh_audio[:4]]),
                               np.concatenate([by_model, np.zeros(4, int)]), label_names=model_names)
    assert with_new["label_accuracy"] == good["label_accuracy"]  # the unknown class is not judged
    assert reference.score(fresh_audio, by_model)["label_accuracy"] < good["label_accuracy"]  # by index: wrong


def test_unlabelled_reference_falls_back_and_says_so():
    from models.quality import FALLBACK_KIND
    audio, _ = tone_data(10, seed=0)
    reference = QualityReference(audio, audio[:6], SR)
    scores = reference.score(audio[:8])
    assert "inception_score" not in scores and np.isfinite(scores["frechet_distance"])
    assert reference.describe()["kind"] == FALLBACK_KIND


def test_best_checkpoint_keeps_the_best_generator_and_stops_early(tmp_path, tone_judge):
    """Two different generators: the one with the lower FD is kept; a repeat is no improvement,
    so patience 1 runs out; restoring brings back exactly the best weights."""
    from models.judge import Judge
    from models.selection import BEST_FILE, HISTORY_FILE, BestCheckpoint, restore_best
    from models.wavegan import Discriminator, Generator
    folder, (train_audio, train_labels, eval_audio, eval_labels) = tone_judge
    reference = QualityReference(train_audio, eval_audio, SR, Judge.load(folder), train_labels, eval_labels)
    cfg = tiny_config(num_classes=3, eval_every_steps=1, train_eval_clips=12, early_stop_patience=1)
    generator, discriminator = Generator(cfg), Discriminator(cfg)
    tracker = BestCheckpoint(cfg, str(tmp_path), reference, generator, discriminator)
    weights = {0: [v.numpy().copy() for v in generator.trainable_variables]}
    tracker.evaluate(0)
    assert tracker.best["step"] == 0 and not tracker.should_stop()
    for v in generator.trainable_variables:
        v.assign(v * 0.0 + 0.05)  # a different generator
    weights[1] = [v.numpy().copy() for v in generator.trainable_variables]
    tracker.evaluate(1)
    tracker.evaluate(2)  # the same generator again: no improvement
    history = json.load(open(os.path.join(tmp_path, HISTORY_FILE)))
    assert [e["step"] for e in history] == [0, 1, 2]
    assert history[1]["frechet_distance"] == pytest.approx(history[2]["frechet_distance"])
    best_step = int(np.argmin([e["frechet_distance"] for e in history[:2]]))
    assert tracker.best["step"] == best_step and tracker.should_stop()
    # A new tracker (a resumed run) reads the same state back.
    again = BestCheckpoint(cfg, str(tmp_path), reference, generator, discriminator)
    assert again.best == json.load(open(os.path.join(tmp_path, BEST_FILE))) and again.should_stop()
    for v in generator.trainable_variables:
        v.assign(v * 0.0 - 1.0)
    assert restore_best(str(tmp_path), generator)["step"] == best_step
    for before, after in zip(weights[best_step], generator.trainable_variables):
        np.testing.assert_array_equal(before, after.numpy())


def test_critic_label_accuracy_is_the_share_the_class_head_names_as_asked(tmp_path, tone_judge):
    """A head that names every clip "1" is right for exactly the clips asked to be "1"; the evaluation
    history carries the figure beside the judge's label accuracy; no head, no figure."""
    from models.judge import Judge
    from models.selection import BestCheckpoint, critic_label_accuracy
    from models.wavegan import Discriminator, Generator
    cfg = tiny_config(num_classes=3, aux_classifier=1.0, eval_every_steps=1, train_eval_clips=12)
    discriminator = Discriminator(cfg)
    head = discriminator.class_head
    head.w.assign(tf.zeros_like(head.w))
    head.b.assign([0.0, 10.0, 0.0])
    clips, labels = np.zeros([6, cfg.slice_len, 1], np.float32), np.array([0, 1, 1, 2, 1, 0], np.int32)
    assert critic_label_accuracy(discriminator, clips, labels, batch=4) == pytest.approx(0.5)
    assert critic_label_accuracy(Discriminator(tiny_config(num_classes=3)), clips, labels) is None
    folder, (train_audio, train_labels, eval_audio, eval_labels) = tone_judge
    reference = QualityReference(train_audio, eval_audio, SR, Judge.load(folder), train_labels, eval_labels)
    entry = BestCheckpoint(cfg, str(tmp_path), reference, Generator(cfg), discriminator).evaluate(0)
    assert entry["critic_label_accuracy"] == pytest.approx(1 / 3) and "label_accuracy" in entry


def test_select_by_inception_score_needs_labels(tmp_path):
    from models.selection import BestCheckpoint
    from models.wavegan import Discriminator, Generator
    audio, _ = tone_data(10, seed=0)
    cfg = tiny_config(select_by="inception_score", eval_every_steps=1)
    with pytest.raises(ValueError, match="needs labelled data"):
        BestCheckpoint(cfg, str(tmp_path), QualityReference(audio, audio, SR), Generator(cfg), Discriminator(cfg))


@pytest.mark.skipif(not os.path.isdir(FSDD), reason=f"FSDD not found at {FSDD}")
def test_fsdd_labels_from_file_prefix_and_split_by_file():
    from models.data import load_folder
    data = load_folder(FSDD, tiny_config(num_classes=10), label_source="prefix")
    assert data.vocabulary == [str(d) for d in range(10)]
    train, held_out = data.split(10)
    assert set(train.sources).isdisjoint(held_out.sources)
    assert 0.05 < len(held_out.audio) / len(data.audio) < 0.15
    assert all(data.vocabulary[label] == os.path.basename(src).split("_")[0]
               for label, src in zip(data.labels, data.sources))
