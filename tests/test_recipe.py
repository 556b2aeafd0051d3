"""The training recipe's options: averaged generator, R1 (lazy), hinge, augmentation, FiLM,
the spectral critic, and the named recipes that bundle them."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from models.augment import ADA_INTERVAL, AdaptiveProbability, augment, cutout, gain, speed, time_shift
from models.config import ConfigError, WaveGANConfig
from models.losses import discriminator_loss, generator_loss, r1_penalty, spectral_r1_penalty
from models.train import CONFIG_FILE, Trainer, fake_class
from tests.conftest import random_audio_dataset, run_cli, tiny_config, tiny_flags

RECIPE_OPTIONS = dict(loss="dcgan", r1_gamma=1.0, r1_every=2, d_updates=1, g_ema_decay=0.9, augment="shift,gain", aux_classifier=1.0,
                      label_film=True, spectral_critic="256,1024", period_critic="2,3", num_classes=3)


def _weights(module):
    return [v.numpy().copy() for v in module.variables]


def test_hinge_loss_rewards_the_right_side():
    low, high = tf.constant([-2.0]), tf.constant([2.0])
    assert discriminator_loss("hinge", high, low) < discriminator_loss("hinge", low, high)
    assert float(discriminator_loss("hinge", high, low)) == 0.0  # beyond the margins: nothing to learn
    assert generator_loss("hinge", high) < generator_loss("hinge", low)


def test_r1_penalty_of_a_linear_critic_is_its_squared_weight_norm():
    w = tf.constant(np.random.RandomState(0).randn(1, 64, 1), tf.float32)
    critic = lambda x, label=None, training=False, phase_seed=None: tf.reduce_sum(x * w, axis=[1, 2])  # noqa: E731
    real = tf.random.normal([3, 64, 1])
    np.testing.assert_allclose(r1_penalty(critic, real).numpy(), [float(tf.reduce_sum(w * w))] * 3, rtol=1e-5)


def test_lazy_r1_is_applied_every_kth_critic_update(tmp_path):
    cfg = tiny_config(loss="dcgan", r1_gamma=1.0, r1_every=3, d_updates=1, steps=10)
    trainer = Trainer(cfg, str(tmp_path))
    iterator = iter(trainer.strategy.experimental_distribute_dataset(random_audio_dataset(cfg)))
    carried = ["r1_penalty" in trainer._train_step(iterator) for _ in range(7)]
    assert carried == [True, False, False, True, False, False, True]


def test_r1_penalises_each_spectral_branch_in_its_spectrogram_space(tmp_path):
    from models.wavegan import Discriminator
    D = Discriminator(tiny_config(loss="dcgan", spectral_critic="256"))
    branch, real = D.spectral[0], tf.random.normal([2, 16384, 1])
    features = branch.features(real)
    with tf.GradientTape() as tape:
        tape.watch(features)
        score = branch.score(features)
    expected = tf.reduce_sum(tf.square(tape.gradient(score, features)), axis=[1, 2]).numpy()
    np.testing.assert_allclose(spectral_r1_penalty(branch, real).numpy(), expected, rtol=1e-5)
    assert (expected > 0).all()
    cfg = tiny_config(loss="dcgan", r1_gamma=1.0, r1_every=1, d_updates=1, steps=2, spectral_critic="256,1024")
    trainer = Trainer(cfg, str(tmp_path))
    iterator = iter(trainer.strategy.experimental_distribute_dataset(random_audio_dataset(cfg)))
    metrics = trainer._train_step(iterator)
    assert float(metrics["r1_penalty_spectral"]) > 0 and np.isfinite(float(metrics["d_loss"]))


def test_all_options_together_train_with_finite_losses(tmp_path):
    cfg = tiny_config(steps=3, **RECIPE_OPTIONS)
    trainer = Trainer(cfg, str(tmp_path))
    d_before = _weights(trainer.discriminator)
    metrics = trainer.fit(random_audio_dataset(cfg), export=False)
    assert all(np.isfinite(v) for v in metrics.values()), metrics
    assert len(trainer.discriminator.spectral) == 2 and all(b.variables for b in trainer.discriminator.spectral)
    changed = [not np.array_equal(a, b) for a, b in zip(d_before, _weights(trainer.discriminator))]
    assert len(trainer.discriminator.periodic) == 2
    assert all(changed), "every critic weight, spectral and period branches included, is trained"


def test_the_average_is_checkpointed_resumed_and_is_what_the_export_serves(tmp_path):
    from models.export import load_exported
    cfg = tiny_config(steps=3, g_ema_decay=0.9)
    trainer = Trainer(cfg, str(tmp_path))
    trainer.fit(random_audio_dataset(cfg))
    average, raw = _weights(trainer.generator_ema), _weights(trainer.generator)
    assert any(not np.allclose(a, b) for a, b in zip(average, raw)), "the average lags G"
    resumed = Trainer(cfg.replace(steps=4), str(tmp_path))
    for a, b in zip(average, _weights(resumed.generator_ema)):
        np.testing.assert_array_equal(a, b)
    model, _ = load_exported(str(tmp_path / "export"))
    z = tf.random.uniform([2, cfg.latent_dim], -1, 1, seed=1)
    served = model.signatures["serving_default"](z=z)["audio"].numpy()
    np.testing.assert_allclose(served, trainer.generator_ema(z).numpy(), atol=1e-5)
    assert not np.allclose(served, trainer.generator(z).numpy(), atol=1e-5)


def test_time_shift_moves_each_clip_and_fills_with_silence():
    x = tf.tile(tf.range(1, 65, dtype=tf.float32)[None, :, None], [8, 1, 1])
    shifted = time_shift(x, tf.constant([1, 2], tf.int64)).numpy()[:, :, 0]
    assert shifted.shape == (8, 64) and len({tuple(row) for row in shifted}) > 1
    for row in shifted:
        nonzero = np.flatnonzero(row)
        run = row[nonzero]
        np.testing.assert_array_equal(np.diff(run), 1)  # the clip, intact, somewhere else
        assert abs(nonzero[0] - (run[0] - 1)) <= 64 // 8 and np.all(row[row == 0] == 0)
    np.testing.assert_array_equal(shifted, time_shift(x, tf.constant([1, 2], tf.int64)).numpy()[:, :, 0])  # keyed


def test_augmentations_pass_gradients_to_the_generator():
    x = tf.Variable(tf.random.normal([4, 128, 1]))
    with tf.GradientTape() as tape:
        y = augment(x, ["shift", "gain", "speed", "cutout"], tf.constant([3, 4], tf.int64))
        loss = tf.reduce_sum(y)
    grad = tape.gradient(loss, x).numpy()
    assert np.isfinite(grad).all() and np.count_nonzero(grad) > 0


def test_speed_moves_a_tone_by_at_most_two_semitones():
    rate, freq = 8000, 500.0
    x = tf.tile(tf.sin(2 * np.pi * freq * tf.range(4096, dtype=tf.float32) / rate)[None, :, None], [16, 1, 1])
    played = speed(x, tf.constant([7, 8], tf.int64)).numpy()[:, :2048, 0]  # the start: never past the end
    peaks = np.argmax(np.abs(np.fft.rfft(played * np.hanning(2048), axis=1)), axis=1) * rate / 2048
    assert np.all(peaks >= freq * 2 ** (-2 / 12) - 4) and np.all(peaks <= freq * 2 ** (2 / 12) + 4)
    assert np.ptp(peaks) > 20  # each clip its own speed


def test_cutout_silences_a_quarter_of_each_clip_somewhere():
    x = tf.ones([8, 256, 1])
    out = cutout(x, tf.constant([1, 2], tf.int64)).numpy()[:, :, 0]
    assert np.all((out == 0).sum(axis=1) == 64)
    starts = [np.flatnonzero(row == 0)[0] for row in out]
    assert len(set(starts)) > 1 and all(np.all(row[s:s + 64] == 0) for row, s in zip(out, starts))


def test_augment_applies_each_transform_with_probability_p():
    x = tf.ones([400, 64, 1])
    for p, low, high in [(0.0, 0, 0), (0.5, 150, 250), (1.0, 400, 400)]:
        out = augment(x, ["gain"], tf.constant([1, 1], tf.int64), tf.constant(p)).numpy()
        assert low <= np.sum(~np.isclose(out[:, 0, 0], 1.0)) <= high


def test_adaptive_probability_follows_the_critics_sign_on_real_clips():
    """ADA's rule: p moves by batch * interval / speed per interval, up while r_t is above the target."""
    p = tf.Variable(0.0)
    controller = AdaptiveProbability(p, target=0.6, batch_size=16, speed_clips=640)  # 0.1 per interval
    for _ in range(3 * ADA_INTERVAL):
        controller.observe(1.0)
    assert float(p.numpy()) == pytest.approx(0.3)
    for _ in range(ADA_INTERVAL - 1):
        controller.observe(0.0)
    assert float(p.numpy()) == pytest.approx(0.3)  # only whole intervals count
    controller.observe(0.0)
    assert float(p.numpy()) == pytest.approx(0.2)
    for _ in range(20 * ADA_INTERVAL):
        controller.observe(0.0)
    assert float(p.numpy()) == 0.0


def test_adaptive_augmentation_rises_on_a_memorising_critic_and_resumes(tmp_path):
    """Four training clips: the critic calls them all real (r_t = 1), so p rises every interval, is
    logged, and a resumed run carries on from the saved p."""
    cfg = tiny_config(loss="dcgan", steps=8, d_updates=2, d_lr=1e-3, g_lr=1e-6, r1_gamma=0.0, augment="gain",
                      augment_p=0.0, augment_target=0.6, augment_speed=64, summary_every_steps=8)
    metrics = Trainer(cfg, str(tmp_path)).fit(random_audio_dataset(cfg, n=4), export=False)
    assert metrics["augment_p"] > 0.0
    resumed = Trainer(cfg.replace(steps=9), str(tmp_path))
    assert float(resumed.augment_p.numpy()) == pytest.approx(metrics["augment_p"])


@pytest.mark.parametrize("options", [dict(loss="wgan-gp", augment="gain"), dict(loss="dcgan", augment="")])
def test_adaptive_augmentation_needs_a_signed_loss_and_transforms(options):
    with pytest.raises(ConfigError, match="augment_target"):
        tiny_config(augment_target=0.6, **options)


def test_film_lets_the_label_steer_the_generator_on_its_own():
    from models.wavegan import Generator
    G = Generator(tiny_config(num_classes=3, label_film=True))
    G.label_embedding.assign(tf.zeros_like(G.label_embedding))  # only FiLM carries the label now
    z = tf.tile(tf.random.uniform([1, 100], -1, 1), [3, 1])
    audio = G(z, tf.constant([0, 1, 2])).numpy()
    assert not np.allclose(audio[0], audio[1]) and not np.allclose(audio[1], audio[2])


def test_scale_only_film_steers_without_a_constant_offset():
    """--no-label-film-shift: the label still changes the audio, but only by scaling (no shift gradient)."""
    from models.wavegan import Generator
    G = Generator(tiny_config(num_classes=3, label_film=True, label_film_shift=False))
    G.label_embedding.assign(tf.zeros_like(G.label_embedding))
    z = tf.tile(tf.random.uniform([1, 100], -1, 1), [3, 1])
    with tf.GradientTape() as tape:
        audio = G(z, tf.constant([0, 1, 2]))
        loss = tf.reduce_sum(tf.square(audio))
    grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, G.film)]  # gathers: IndexedSlices
    assert not np.allclose(audio[0], audio[1])
    assert all(np.abs(g.numpy()[:, 1]).max() == 0 and np.abs(g.numpy()[:, 0]).max() > 0 for g in grads)


@pytest.mark.parametrize("length", [512, 25])
def test_an_impulse_post_filter_starts_as_the_identity(length):
    from models.wavegan import Generator
    x = tf.random.normal([2, 4096, 2])
    G = Generator(tiny_config(post_proc_filter_len=length, post_proc_impulse=True, num_channels=2))
    np.testing.assert_allclose(G.post_proc(x).numpy(), x.numpy(), atol=1e-6)
    paper = Generator(tiny_config(post_proc_filter_len=length, num_channels=2))  # random taps: colours the output
    assert np.abs(paper.post_proc(x).numpy() - x.numpy()).max() > 0.1


def test_spectral_critic_scores_each_branch():
    from models.wavegan import Discriminator
    D = Discriminator(tiny_config(loss="hinge", spectral_critic="256,1024"))
    scores = D.branch_scores(tf.random.normal([2, 16384, 1]))
    assert scores.shape == (2, 3)
    np.testing.assert_allclose(D(tf.random.normal([2, 16384, 1])).shape, [2])


def test_fold_puts_each_phase_of_the_period_in_a_row():
    from models.periodic import fold
    audio = np.arange(10, dtype=np.float32)
    folded = fold(tf.constant(audio.reshape(1, 10, 1)), 4)[:, :, 0].numpy()
    padded = np.concatenate([audio, [8, 7]])  # reflected up to a multiple of 4
    np.testing.assert_array_equal(folded, padded.reshape(3, 4).T)


def test_period_critic_scores_each_branch_and_the_penalties_regularise_it():
    """Period branches score the waveform: they are branches of the score, and D.waveform (what R1
    and the gradient penalty differentiate) includes them."""
    from models.wavegan import Discriminator
    D = Discriminator(tiny_config(loss="dcgan", period_critic="2,3", num_classes=3))
    x, label = tf.random.normal([2, 16384, 1]), tf.constant([0, 2])
    scores = D.branch_scores(x, label)
    assert scores.shape == (2, 3)
    np.testing.assert_allclose(D.waveform(x, label).numpy(), tf.reduce_sum(scores, axis=1).numpy(), rtol=1e-5)
    with tf.GradientTape() as tape:
        penalty = tf.reduce_sum(r1_penalty(D.waveform, x, label))
    gradients = tape.gradient(penalty, [branch.convs[0].kernel for branch in D.periodic])
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in gradients)


def test_period_critic_periods_are_checked():
    for periods in ("1", "2,x", "128"):  # 128 > 16384 / 256
        with pytest.raises(ConfigError, match="period_critic"):
            tiny_config(period_critic=periods).validate()


def test_recipes_auto_is_cpu_here_and_paper_is_the_papers():
    from models.recipes import RECIPES, resolve_recipe
    name, values, why = resolve_recipe("auto", gpu=False)
    assert name == "cpu" and values["model_size"] == 16 and "no GPU" in why
    assert resolve_recipe("auto", gpu=True)[0] == "gpu"
    assert RECIPES["paper"]["loss"] == "wgan-gp" and RECIPES["paper"]["d_updates"] == 5
    assert set(RECIPES["paper"]) == set(RECIPES["cpu"]) == set(RECIPES["gpu"])  # each sets every option
    with pytest.raises(ConfigError, match="recipe"):
        resolve_recipe("fast")


def test_train_says_when_the_audio_is_recorded_at_half_its_rate(tmp_path):
    import soundfile as sf
    from models.audio import list_audio_files
    from pipeline.commands.training import rate_hint
    (tmp_path / "low").mkdir()
    (tmp_path / "mixed").mkdir()
    for folder in ("low", "mixed"):
        sf.write(str(tmp_path / folder / "a.wav"), np.zeros(4000), 8000)
    sf.write(str(tmp_path / "mixed" / "b.wav"), np.zeros(4000), 16000)
    (tmp_path / "low" / "broken.wav").write_bytes(b"not audio")  # skipped later, with its reason
    cfg = tiny_config(sample_rate=16000, slice_len=16384)
    assert "--sample-rate 8000 --slice-len 8192" in rate_hint(list_audio_files(str(tmp_path / "low")), cfg)
    assert rate_hint(list_audio_files(str(tmp_path / "mixed")), cfg) == ""  # one file fills the band
    assert rate_hint(list_audio_files(str(tmp_path / "low")), cfg.replace(sample_rate=8000, slice_len=8192)) == ""
    odd = rate_hint(list_audio_files(str(tmp_path / "low")), cfg.replace(sample_rate=22050))
    assert "every 22050 Hz slice is empty" in odd and "--slice-len" not in odd  # no slice length fits


@pytest.mark.e2e
def test_train_names_its_recipe_first_and_finds_file_name_labels(tmp_path):
    """FSDD's layout: one flat folder, names like 7_jackson_32.wav."""
    import soundfile as sf
    data = tmp_path / "flat"
    data.mkdir()
    rng = np.random.RandomState(0)
    for digit in range(3):
        for take in range(3):
            sf.write(str(data / f"{digit}_speaker_{take}.wav"), 0.3 * rng.randn(12000), 16000)
    flags = tiny_flags(steps=1, d_updates=1)
    result = run_cli("train", "--data-dir", data, "--out", tmp_path / "run", *flags)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("recipe cpu (no GPU found"), lines[0]
    assert "labels: 3 classes from prefix names (0, 1, 2): training a class-conditional model" in result.stdout
    with open(tmp_path / "run" / CONFIG_FILE) as f:
        saved = json.load(f)
    assert saved["num_classes"] == 3 and saved["g_ema_decay"] > 0 and saved["model_size"] == 4  # flag over recipe
    # The same command again resumes with the run's own options.
    again = run_cli("train", "--data-dir", data, "--out", tmp_path / "run", *tiny_flags(steps=2, d_updates=1))
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.splitlines()[0].startswith("resuming")
    assert "trained 2 steps" in again.stdout


@pytest.mark.e2e
def test_a_run_from_before_the_recipes_resumes_with_its_own_options(tmp_path):
    """config.json written before the recipe options existed: they read as the paper's, it resumes."""
    from pipeline.demo_data import make_demo_data
    make_demo_data(str(tmp_path / "data"), files_per_class=2, seed=1)
    cfg = tiny_config(steps=1, d_updates=1, num_classes=5)
    Trainer(cfg, str(tmp_path / "run")).fit(random_audio_dataset(cfg), export=False)
    path = tmp_path / "run" / CONFIG_FILE
    old = {k: v for k, v in json.loads(path.read_text()).items()
           if k not in ("g_ema_decay", "r1_gamma", "r1_every", "augment", "label_film", "spectral_critic")}
    path.write_text(json.dumps(old))
    result = run_cli("train", "--data-dir", tmp_path / "data", "--out", tmp_path / "run", "--steps", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "trained 2 steps" in result.stdout
    assert os.path.exists(tmp_path / "run" / "export" / "saved_model.pb")


@pytest.mark.e2e
@pytest.mark.parametrize("flags,option", [(["--spectral-critic", "8192"], "spectral_critic"),
                                          (["--slice-len", "65536"], "slice_len")])  # 0.5 s files: 8000 samples
def test_an_option_the_model_or_data_cannot_take_is_a_one_line_error(tmp_path, flags, option):
    import soundfile as sf
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        sf.write(str(tmp_path / label / "x.wav"), 0.1 * np.random.RandomState(0).randn(8000), 16000)
    result = run_cli("train", "--data-dir", tmp_path, "--out", tmp_path / "run", *flags)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and option in result.stderr, result.stderr


@pytest.mark.e2e
def test_a_model_at_the_datas_own_rate_and_a_shorter_slice(tmp_path):
    """8 kHz speech trains at 8 kHz in 8192-sample slices, and its WAVs come out at 8 kHz."""
    import soundfile as sf
    data = tmp_path / "speech"
    for label in ("yes", "no"):
        (data / label).mkdir(parents=True)
        for take in range(3):
            sf.write(str(data / label / f"{take}.wav"), 0.3 * np.random.RandomState(take).randn(6000), 8000)
    flags = tiny_flags(steps=1, d_updates=1, sample_rate=8000, slice_len=8192)
    result = run_cli("train", "--data-dir", data, "--out", tmp_path / "run", *flags)
    assert result.returncode == 0, result.stderr[-3000:]
    out = run_cli("generate", "--model", tmp_path / "run" / "export", "--n", "2", "--label", "1", "--out",
                  tmp_path / "wavs")
    assert out.returncode == 0, out.stderr[-2000:]
    for name in os.listdir(tmp_path / "wavs"):
        info = sf.info(str(tmp_path / "wavs" / name))
        assert info.samplerate == 8000 and info.frames == 8192


def test_the_auxiliary_classifier_trains_the_class_head_and_rewards_the_asked_class(tmp_path):
    cfg = tiny_config(num_classes=3, aux_classifier=1.0, loss="hinge", steps=2, d_updates=1)
    trainer = Trainer(cfg, str(tmp_path))
    head = trainer.discriminator.class_head
    before = _weights(head)
    metrics = trainer.fit(random_audio_dataset(cfg), export=False)
    assert "d_class_loss" in metrics and np.isfinite(metrics["d_class_loss"])
    assert all(not np.array_equal(a, b) for a, b in zip(before, _weights(head)))
    scores, logits = trainer.discriminator.critique(tf.random.normal([2, 16384, 1]), tf.constant([0, 2]))
    assert scores.shape == (2, 1) and logits.shape == (2, 3)
    assert Trainer(tiny_config(aux_classifier=1.0), str(tmp_path / "u")).discriminator.class_head is None


@pytest.mark.parametrize("fakes,targets", [("class", [3, 3, 3, 3]), ("per-class", [3, 4, 5, 4])])
def test_the_class_head_learns_to_tell_generated_audio_from_real_classes(tmp_path, fakes, targets):
    """aux_fakes: G's clips get classes of their own in D's head, so G cannot satisfy the head with
    cues that real audio does not carry (the head of the real-only AC-GAN named 100% of them as asked)."""
    cfg = tiny_config(num_classes=3, aux_classifier=1.0, aux_fakes=fakes, loss="dcgan", d_updates=1, d_lr=1e-3)
    trainer = Trainer(cfg, str(tmp_path))
    assert trainer.discriminator.class_head.variables[0].shape[-1] == cfg.class_head_size == max(targets) + 1
    label = tf.constant([0, 1, 2, 1])
    assert fake_class(cfg, label).numpy().tolist() == targets
    z = tf.random.uniform([4, cfg.latent_dim], -1.0, 1.0, seed=1)

    def generated_share():  # the head's probability that G's clips are generated (any generated class)
        logits = trainer.discriminator.critique(trainer.generator(z, label), label)[1]
        return float(tf.reduce_mean(tf.reduce_sum(tf.nn.softmax(logits)[:, cfg.num_classes:], axis=1)))

    before = generated_share()
    iterator = iter(trainer.strategy.experimental_distribute_dataset(random_audio_dataset(cfg)))
    metrics = [trainer._train_step(iterator) for _ in range(16)][-1]
    assert np.isfinite(float(metrics["d_fake_class_loss"])) and np.isfinite(float(metrics["g_class_loss"]))
    after = generated_share()
    assert after > 0.9 and after > before + 0.3, (before, after)


@pytest.mark.parametrize("classes_only", [False, True])
def test_gs_class_term_over_the_real_classes_ignores_how_generated_a_clip_sounds(tmp_path, classes_only):
    """aux_g_classes_only: a head sure that every clip is generated (its generated class's logit +50)
    costs G about 50 over every logit, and over the real classes only what naming the class costs."""
    cfg = tiny_config(num_classes=3, aux_classifier=1.0, aux_fakes="class", aux_g_classes_only=classes_only,
                      loss="dcgan", d_updates=1, steps=1)
    trainer = Trainer(cfg, str(tmp_path))
    trainer.discriminator.class_head.b.assign([0.0, 0.0, 0.0, 50.0])
    iterator = iter(trainer.strategy.experimental_distribute_dataset(random_audio_dataset(cfg)))
    g_class_loss = float(trainer._train_step(iterator)["g_class_loss"])
    if classes_only:
        assert 0.0 < g_class_loss < 5.0
    else:
        assert g_class_loss > 40.0
    with pytest.raises(ConfigError, match="aux_g_classes_only"):
        tiny_config(num_classes=3, aux_classifier=1.0, aux_g_classes_only=True).validate()


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_class_head_learns_real_audio_against_smoothed_targets(tmp_path, smoothing):
    """aux_label_smoothing: D's class loss on real audio is the cross-entropy against targets with
    `smoothing` of their mass spread over the real classes, none on the generated class; a head sure
    of one class (its logit 8 above the rest) pays for it on its own clips too."""
    cfg = tiny_config(num_classes=3, aux_classifier=1.0, aux_fakes="class", aux_label_smoothing=smoothing,
                      loss="dcgan", d_updates=1, steps=1)
    trainer = Trainer(cfg, str(tmp_path))
    head = trainer.discriminator.class_head
    head.w.assign(tf.zeros_like(head.w))  # the same logits for every clip
    logits = np.array([8.0, 0.0, -2.0, 1.0], np.float32)
    head.b.assign(logits)
    dataset = random_audio_dataset(cfg)
    labels = next(iter(dataset))[1].numpy()
    targets = np.eye(4)[labels] * (1 - smoothing) + np.array([1, 1, 1, 0]) * smoothing / 3
    log_probs = logits - np.log(np.sum(np.exp(logits)))
    expected = float(np.mean(-np.sum(targets * log_probs, axis=1)))
    iterator = iter(trainer.strategy.experimental_distribute_dataset(dataset))
    assert float(trainer._train_step(iterator)["d_class_loss"]) == pytest.approx(expected, rel=1e-4)
    own_clips = -log_probs[0] * (1 - smoothing + smoothing / 3) - smoothing / 3 * (log_probs[1] + log_probs[2])
    assert own_clips > 1.0 if smoothing else own_clips < 0.01
    with pytest.raises(ConfigError, match="aux_label_smoothing"):
        tiny_config(num_classes=3, aux_label_smoothing=0.2).validate()
    with pytest.raises(ConfigError, match="aux_label_smoothing"):
        tiny_config(num_classes=3, aux_classifier=1.0, aux_label_smoothing=1.0).validate()


def test_aux_fakes_needs_the_auxiliary_classifier(tmp_path):
    with pytest.raises(ConfigError, match="aux_fakes"):
        tiny_config(num_classes=3, aux_fakes="class").validate()
    with pytest.raises(ConfigError, match="aux_fakes"):
        tiny_config(num_classes=3, aux_classifier=1.0, aux_fakes="twins").validate()
    unconditional = tiny_config(aux_classifier=1.0, aux_fakes="class").validate()  # a recipe's, with no labels
    assert Trainer(unconditional, str(tmp_path)).discriminator.class_head is None


def test_a_model_from_before_aux_fakes_warm_starts_all_but_the_class_head(tmp_path):
    """The pushed model's head names 3 classes, the new one's 4: G and the rest of D come from the
    pushed model, the head starts fresh, and training goes on."""
    from components.trainer_fn import warm_start
    old = tiny_config(num_classes=3, aux_classifier=1.0, loss="dcgan", d_updates=1, steps=1)
    pushed, version = _push_for_warm_start(old, tmp_path)
    new = Trainer(old.replace(aux_fakes="class"), str(tmp_path / "new"))
    assert warm_start(new, str(tmp_path / "models")) == version
    for before, after in zip(_weights(pushed.generator), _weights(new.generator)):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(pushed.discriminator.convs[0].kernel.numpy(),
                                  new.discriminator.convs[0].kernel.numpy())
    assert new.discriminator.class_head.b.shape[0] == 4
    metrics = new.fit(random_audio_dataset(new.cfg), export=False)
    assert np.isfinite(metrics["d_fake_class_loss"])


def _push_for_warm_start(cfg, tmp_path):
    """A trainer of cfg whose G and D are written where warm_start looks: version 1 under tmp_path/models."""
    from components.trainer_fn import WARM_START_CHECKPOINT
    pushed = Trainer(cfg, str(tmp_path / "old"))
    version = tmp_path / "models" / "1"
    (version / "saved_model.pb").parent.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"")  # a complete version: the file the version listing looks for
    tf.train.Checkpoint(generator=pushed.generator, discriminator=pushed.discriminator).write(
        str(version / WARM_START_CHECKPOINT))
    return pushed, str(version)


def test_a_new_critic_branch_starts_fresh_and_the_rest_warm_starts(tmp_path, caplog):
    """Turning on a spectral critic between runs: G and the waveform critic come from the pushed model,
    the new branch starts fresh and says so; another generator size trains from scratch."""
    import logging
    from components.trainer_fn import warm_start
    old = tiny_config(num_classes=3, aux_classifier=1.0, loss="dcgan", d_updates=1, steps=1)
    pushed, version = _push_for_warm_start(old, tmp_path)
    new = Trainer(old.replace(spectral_critic="64"), str(tmp_path / "new"))
    fresh_branch = [w.numpy().copy() for w in new.discriminator.spectral[0].trainable_variables]
    with caplog.at_level(logging.INFO, logger="components.trainer_fn"):
        assert warm_start(new, str(tmp_path / "models")) == version
    assert "spectral start fresh" in caplog.text
    for before, after in zip(_weights(pushed.generator), _weights(new.generator)):
        np.testing.assert_array_equal(before, after)
    for before, after in zip(_weights(pushed.discriminator.convs), _weights(new.discriminator.convs)):
        np.testing.assert_array_equal(before, after)
    for before, after in zip(fresh_branch, new.discriminator.spectral[0].trainable_variables):
        np.testing.assert_array_equal(before, after.numpy())
    assert np.isfinite(new.fit(random_audio_dataset(new.cfg), export=False)["d_loss"])
    wider = Trainer(old.replace(model_size=old.model_size * 2), str(tmp_path / "wider"))
    assert warm_start(wider, str(tmp_path / "models")) == ""


def test_turning_the_class_head_off_over_a_recipe_takes_aux_fakes_with_it():
    """The cpu recipe's aux_fakes serves its auxiliary classifier: `--aux-classifier 0` over it is
    a config that trains, while `--aux-fakes class` with the classifier off stays an error."""
    import argparse
    from models.config import config_from_args
    from models.recipes import RECIPES
    from pipeline.config import PipelineConfig
    recipe = WaveGANConfig.from_dict(dict(RECIPES["cpu"], num_classes=3))
    assert recipe.aux_fakes == "class"
    off = config_from_args(argparse.Namespace(aux_classifier=0.0), recipe).validate()
    assert (off.aux_classifier, off.aux_fakes) == (0.0, "")
    assert PipelineConfig(recipe="cpu", model={"aux_classifier": 0.0}).model.aux_fakes == ""
    classes_only = WaveGANConfig.from_dict(dict(RECIPES["cpu"], num_classes=3, aux_g_classes_only=True))
    off = config_from_args(argparse.Namespace(aux_classifier=0.0), classes_only).validate()
    assert (off.aux_fakes, off.aux_g_classes_only) == ("", False)
    smoothed = WaveGANConfig.from_dict(dict(RECIPES["cpu"], num_classes=3, aux_label_smoothing=0.2))
    assert config_from_args(argparse.Namespace(aux_classifier=0.0), smoothed).validate().aux_label_smoothing == 0.0
    with pytest.raises(ConfigError, match="aux_fakes"):
        config_from_args(argparse.Namespace(aux_classifier=0.0, aux_fakes="class"), recipe).validate()
