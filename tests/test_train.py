"""Losses, gradient penalty, training steps, checkpoint/resume, distribution."""
import os

import numpy as np
import pytest
import tensorflow as tf

from models.losses import discriminator_loss, generator_loss, gradient_penalty
from models.train import Trainer
from tests.conftest import random_audio_dataset, tiny_config


@pytest.mark.parametrize("kind", ["dcgan", "lsgan", "wgan", "wgan-gp"])
def test_each_loss_moves_in_the_right_direction(kind):
    low, high = tf.constant([-1.0]), tf.constant([1.0])
    # The critic is rewarded for scoring real high and fake low...
    assert discriminator_loss(kind, high, low) < discriminator_loss(kind, low, high)
    # ...and the generator for fakes the critic scores high.
    assert generator_loss(kind, high) < generator_loss(kind, low)


def test_dcgan_loss_matches_binary_cross_entropy():
    d_real, d_fake = tf.constant([0.3]), tf.constant([-0.7])
    bce = lambda logit, target: -(target * np.log(1 / (1 + np.exp(-logit))) +  # noqa: E731
                                  (1 - target) * np.log(1 - 1 / (1 + np.exp(-logit))))
    expected = (bce(0.3, 1) + bce(-0.7, 0)) / 2
    np.testing.assert_allclose(discriminator_loss("dcgan", d_real, d_fake).numpy(), [expected], rtol=1e-5)


def test_gradient_penalty_of_a_linear_critic():
    w = tf.constant(np.random.RandomState(0).randn(1, 8, 1).astype(np.float32))
    critic = lambda x, label, training: tf.reduce_sum(x * w, axis=[1, 2])  # noqa: E731
    real, fake = tf.random.normal([3, 8, 1]), tf.random.normal([3, 8, 1])
    expected = (np.linalg.norm(w.numpy()) - 1.0) ** 2  # the gradient is w everywhere
    np.testing.assert_allclose(gradient_penalty(critic, real, fake).numpy(), [expected] * 3, rtol=1e-5)


def test_gradient_penalty_of_a_quadratic_critic_at_known_interpolates():
    critic = lambda x, label, training: tf.reduce_sum(tf.square(x), axis=[1, 2])  # noqa: E731
    real = tf.constant([[[1.0], [0.0]], [[0.0], [0.0]]])
    fake = tf.constant([[[0.0], [1.0]], [[0.0], [2.0]]])
    alpha = tf.constant([0.5, 0.25])[:, None, None]
    # x_hat = (0.5, 0.5) and (0, 0.5); grad = 2 x_hat; norms sqrt(2)/... by hand:
    expected = [(2 * np.sqrt(0.5) - 1) ** 2, (2 * 0.5 - 1) ** 2]
    np.testing.assert_allclose(gradient_penalty(critic, real, fake, alpha=alpha).numpy(), expected,
                               rtol=1e-5, atol=1e-6)


def _weights(module):
    return [v.numpy().copy() for v in module.trainable_variables]


def test_d_real_sign_reaches_one_when_the_critic_tells_its_few_clips_apart(tmp_path):
    """A critic with 4 training clips (sine bursts) against a barely trained G: it calls every real
    clip real, so r_t is 1; computed on the generated clips instead, it would be -1."""
    cfg = tiny_config(loss="dcgan", steps=40, d_lr=1e-3, g_lr=1e-6, r1_gamma=0.0, summary_every_steps=40)
    metrics = Trainer(cfg, str(tmp_path)).fit(random_audio_dataset(cfg, n=4), export=False)
    assert metrics["d_real_sign"] == pytest.approx(1.0)


@pytest.mark.parametrize("loss", ["dcgan", "lsgan", "wgan", "wgan-gp", "hinge"])
def test_training_steps_change_weights_and_keep_losses_finite(tmp_path, loss):
    cfg = tiny_config(loss=loss, steps=2, optimizer="rmsprop" if loss == "wgan" else "adam")
    trainer = Trainer(cfg, str(tmp_path))
    g_before, d_before = _weights(trainer.generator), _weights(trainer.discriminator)
    metrics = trainer.fit(random_audio_dataset(cfg), export=False)
    assert trainer.current_step == 2
    assert set(metrics) >= {"d_loss", "g_loss", "d_real_minus_fake"}
    assert ("gradient_penalty" in metrics) == (loss == "wgan-gp")  # only a penalty that was computed is shown
    assert ("d_real_sign" in metrics) == (loss in ("dcgan", "hinge"))  # ADA's r_t, where the sign means real
    assert all(np.isfinite(v) for v in metrics.values())
    assert any(not np.array_equal(a, b) for a, b in zip(g_before, _weights(trainer.generator)))
    assert any(not np.array_equal(a, b) for a, b in zip(d_before, _weights(trainer.discriminator)))
    if loss == "wgan":
        assert all(np.max(np.abs(w)) <= cfg.wgan_clip + 1e-7 for w in _weights(trainer.discriminator))
    if loss == "wgan-gp":
        assert metrics["gradient_penalty"] > 0
    assert tf.io.gfile.glob(os.path.join(str(tmp_path), "logs", "events.out.tfevents.*"))


def test_resume_continues_the_step_count_with_the_saved_weights(tmp_path):
    cfg = tiny_config(steps=2)
    first = Trainer(cfg, str(tmp_path))
    first.fit(random_audio_dataset(cfg), export=False)
    saved = _weights(first.generator)
    saved_iterations = int(first.g_opt.iterations.numpy())
    resumed = Trainer(cfg.replace(steps=4), str(tmp_path))
    assert resumed.current_step == 2
    assert int(resumed.g_opt.iterations.numpy()) == saved_iterations == 2
    for a, b in zip(saved, _weights(resumed.generator)):
        np.testing.assert_array_equal(a, b)
    resumed.fit(random_audio_dataset(cfg), export=False)
    assert resumed.current_step == 4
    assert os.path.basename(resumed.manager.latest_checkpoint) == "ckpt-4"


def test_a_run_directory_refuses_a_different_model(tmp_path):
    Trainer(tiny_config(), str(tmp_path))
    with pytest.raises(ValueError, match="model_size"):
        Trainer(tiny_config(model_size=8), str(tmp_path))


def test_conditional_training_runs_with_labels(tmp_path):
    cfg = tiny_config(num_classes=3, steps=1)
    trainer = Trainer(cfg, str(tmp_path))
    metrics = trainer.fit(random_audio_dataset(cfg), export=False)
    assert np.isfinite(metrics["d_loss"])


def test_two_device_mirrored_strategy_step(tmp_path, two_cpu_strategy):
    strategy = two_cpu_strategy
    cfg = tiny_config(steps=2, batchnorm=True)
    trainer = Trainer(cfg, str(tmp_path), strategy=strategy)
    assert trainer.strategy.num_replicas_in_sync == 2
    before = _weights(trainer.generator)
    metrics = trainer.fit(random_audio_dataset(cfg), export=False)
    assert trainer.current_step == 2 and all(np.isfinite(v) for v in metrics.values())
    assert any(not np.array_equal(a, b) for a, b in zip(before, _weights(trainer.generator)))


@pytest.mark.parametrize("num_classes", [0, 3])
def test_two_replicas_train_the_same_model_as_one_device(tmp_path, num_classes, two_cpu_strategy):
    """Training noise is keyed by update and example, so splitting the batch changes nothing but rounding."""
    cfg = tiny_config(steps=3, num_classes=num_classes)
    single = Trainer(cfg, str(tmp_path / "one"))
    single.fit(random_audio_dataset(cfg), export=False)
    mirrored = Trainer(cfg, str(tmp_path / "two"), strategy=two_cpu_strategy)
    mirrored.fit(random_audio_dataset(cfg), export=False)
    for module in ("generator", "discriminator"):
        before = _weights(getattr(Trainer(cfg, str(tmp_path / "fresh")), module))
        one, two = _weights(getattr(single, module)), _weights(getattr(mirrored, module))
        moved = max(float(np.max(np.abs(a - b))) for a, b in zip(one, before))
        differ = max(float(np.max(np.abs(a - b))) for a, b in zip(one, two))
        assert moved > 1e-4 and differ < moved * 1e-2, (module, moved, differ)  # Adam amplifies rounding


def test_a_time_budget_ends_the_invocation_checkpointed_and_the_next_one_continues(tmp_path):
    cfg = tiny_config(steps=50, time_budget_secs=1e-3, checkpoint_every_steps=100)
    first = Trainer(cfg, str(tmp_path))
    first.fit(random_audio_dataset(cfg), export=False)
    assert first.current_step == 1 and "time budget" in first.stop_reason
    second = Trainer(cfg, str(tmp_path))  # resumes from the checkpoint written at the stop
    assert second.current_step == 1
    second.fit(random_audio_dataset(cfg), export=False)
    assert second.current_step == 2


def test_sigterm_mid_step_stops_after_the_current_critic_update_with_a_checkpoint(tmp_path):
    """A pod's SIGTERM is answered between critic updates, not after a whole generator step."""
    import signal
    import threading
    cfg = tiny_config(d_updates=500, steps=1)  # one generator step = 500 critic updates
    trainer = Trainer(cfg, str(tmp_path / "run"))

    def stop_after_first_critic_update():
        while int(trainer.critic_updates.numpy()) == 0:
            threading.Event().wait(0.001)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_after_first_critic_update, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(random_audio_dataset(cfg))
    done = int(trainer.critic_updates.numpy())
    assert 1 <= done < cfg.d_updates, done  # stopped inside the step
    assert trainer.current_step == 0 and trainer.manager.latest_checkpoint  # checkpointed, resumable
    resumed = Trainer(cfg, str(tmp_path / "run"))
    resumed.fit(random_audio_dataset(cfg), export=False)
    assert resumed.current_step == 1


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_in_16_bits_with_float32_weights_audio_and_export(tmp_path, precision):
    from models.export import load_exported
    cfg = tiny_config(steps=2, precision=precision)
    trainer = Trainer(cfg, str(tmp_path))
    metrics = trainer.fit(random_audio_dataset(cfg))
    assert all(np.isfinite(v) for v in metrics.values()), metrics
    assert all(v.dtype == tf.float32 for v in trainer.generator.variables + trainer.discriminator.variables)
    z = tf.random.uniform([4, cfg.latent_dim], -1, 1)
    mixed = trainer.generator(z, training=False)
    assert mixed.dtype == tf.float32  # the audio leaves the generator in float32
    loaded, exported_cfg = load_exported(str(tmp_path / "export"))
    served = loaded.signatures["serving_default"](z=z)["audio"]
    assert exported_cfg.precision == "float32" and served.dtype == tf.float32
    difference = float(tf.reduce_max(tf.abs(served - mixed)))
    assert 0 < difference < 0.05, difference  # computed in 16 bits in training, float32 when served


def test_xla_is_on_by_default_only_with_a_gpu_and_follows_the_flag():
    from models.train import use_xla
    assert use_xla(tiny_config()) is bool(tf.config.list_physical_devices("GPU"))
    assert use_xla(tiny_config(xla=True)) is True and use_xla(tiny_config(xla=False)) is False
