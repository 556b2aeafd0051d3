"""WaveGAN architecture: shapes, polyphase upsampling, phase shuffle, config."""
import numpy as np
import pytest
import tensorflow as tf

from models.config import ConfigError, WaveGANConfig
from models.layers import ConvTranspose1D, phase_shuffle
from models.wavegan import Discriminator, Generator
from tests.conftest import tiny_config


@pytest.mark.parametrize("slice_len", [4096, 8192, 16384, 32768, 65536])
@pytest.mark.parametrize("channels", [1, 2])
def test_shapes_for_every_slice_length_and_channel_count(slice_len, channels):
    cfg = tiny_config(slice_len=slice_len, num_channels=channels, model_size=2)
    G, D = Generator(cfg), Discriminator(cfg)
    audio = G(tf.random.uniform([2, cfg.latent_dim], -1, 1))
    assert audio.shape == (2, slice_len, channels)
    assert np.all(np.abs(audio.numpy()) <= 1.0)
    assert D(audio, training=True).shape == (2,)


@pytest.mark.parametrize("upsample", ["zeros", "nn", "linear", "cubic"])
def test_every_upsampling_mode_batchnorm_and_post_filter(upsample):
    cfg = tiny_config(upsample=upsample, batchnorm=True, post_proc_filter_len=32, model_size=2)
    G = Generator(cfg)
    z = tf.random.uniform([3, cfg.latent_dim], -1, 1)
    train_out, infer_out = G(z, training=True), G(z, training=False)
    assert train_out.shape == infer_out.shape == (3, 16384, 1)
    assert G.post_proc.kernel.shape == (32, 1, 1)
    bn = G.norms[0]
    assert not np.allclose(bn.moving_mean.numpy(), 0.0), "training mode must update BN statistics"


def naive_transposed_conv(x, kernel, stride):
    """Zero-stuff by `stride`, then correlate with the centred kernel ('same' output)."""
    batch, length, in_ch = x.shape
    k_len, _, out_ch = kernel.shape
    stuffed = np.zeros([batch, length * stride, in_ch], np.float64)
    stuffed[:, ::stride] = x
    centre = (k_len - 1) // 2
    padded = np.pad(stuffed, [(0, 0), (centre, k_len - 1 - centre), (0, 0)])
    out = np.zeros([batch, length * stride, out_ch])
    for o in range(length * stride):
        out[:, o] = np.einsum("bki,kio->bo", padded[:, o:o + k_len], kernel)
    return out


@pytest.mark.parametrize("kernel_len,stride", [(25, 4), (25, 2), (24, 4), (5, 3)])
def test_polyphase_layer_equals_a_transposed_convolution(kernel_len, stride):
    layer = ConvTranspose1D(3, 5, kernel_len, stride)
    layer.b.assign(tf.random.normal([5]))
    x = np.random.RandomState(0).randn(2, 11, 3).astype(np.float32)
    expected = naive_transposed_conv(x, layer.transposed_kernel(), stride) + layer.b.numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-4)


@pytest.mark.parametrize("kernel_len,stride,length", [(25, 4, 16), (25, 2, 33), (24, 4, 11), (5, 4, 7)])
def test_nearest_upsampling_in_polyphase_form_equals_resize_then_conv(kernel_len, stride, length):
    from models.layers import UpsampleConv1D
    layer = UpsampleConv1D(3, 5, kernel_len, stride, "nn")
    layer.conv.b.assign(tf.random.normal([5]))
    x = tf.constant(np.random.RandomState(0).randn(2, length, 3).astype(np.float32))
    resized = tf.image.resize(x[:, tf.newaxis], [1, length * stride], method="nearest")[:, 0]
    np.testing.assert_allclose(layer(x).numpy(), layer.conv(resized).numpy(), atol=1e-4)
    # Gradients flow to the one stored kernel, as they did through the resize.
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) ** 2)
    assert tape.gradient(loss, layer.conv.kernel) is not None


def test_nearest_upsampling_keeps_a_constant_constant_where_zero_stuffing_makes_tones():
    from models.layers import UpsampleConv1D
    constant = tf.ones([1, 64, 3])
    nearest = UpsampleConv1D(3, 2, 25, 4, "nn")(constant)[0, 32:-32].numpy()
    stuffed = ConvTranspose1D(3, 2, 25, 4)(constant)[0, 32:-32].numpy()
    assert np.ptp(nearest, axis=0).max() < 1e-5
    assert np.ptp(stuffed, axis=0).max() > 1e-2  # period-4 ripple: a tone at a quarter of the rate


def test_polyphase_groups_cover_every_kernel_tap_once():
    from models.layers import polyphase_groups
    for kernel_len, stride in [(25, 4), (24, 4), (25, 2), (5, 3), (512, 4)]:
        groups = polyphase_groups(kernel_len, stride)
        assert sum(n_phases * n_taps for _, n_phases, _, n_taps in groups) == kernel_len
        assert sum(n_phases for _, n_phases, _, _ in groups) == stride


def test_phase_shuffle_shifts_within_radius_with_reflection():
    x = tf.reshape(tf.range(20, dtype=tf.float32), [1, 20, 1])
    seen = set()
    for seed in range(60):
        tf.random.set_seed(seed)
        y = phase_shuffle(x, 2).numpy()[0, :, 0]
        assert y.shape == (20,)
        shift = int(y[10] - 10)  # interior samples move by the phase
        assert -2 <= shift <= 2
        np.testing.assert_array_equal(y[2:18], np.arange(2, 18) + shift)
        if shift < 0:  # delayed: the start is reflection-padded (..., x[2], x[1])
            np.testing.assert_array_equal(y[:-shift], np.arange(-shift, 0, -1))
        elif shift > 0:  # advanced: the end is reflection-padded (x[18], x[17], ...)
            np.testing.assert_array_equal(y[-shift:], 19 - np.arange(1, shift + 1))
        seen.add(shift)
    assert seen == {-2, -1, 0, 1, 2}
    np.testing.assert_array_equal(phase_shuffle(x, 0).numpy(), x.numpy())


def test_conditional_generator_depends_on_label():
    cfg = tiny_config(num_classes=3, model_size=2)
    G, D = Generator(cfg), Discriminator(cfg)
    z = tf.random.uniform([1, cfg.latent_dim], -1, 1)
    outs = [G(z, tf.constant([k]))[0].numpy() for k in range(3)]
    assert not np.allclose(outs[0], outs[1]) and not np.allclose(outs[1], outs[2])
    x = tf.constant(outs[0][None])
    assert D(x, tf.constant([0])).numpy() != D(x, tf.constant([1])).numpy()
    with pytest.raises(ValueError, match="label is required"):
        G(z)


@pytest.mark.parametrize("bad,match", [
    (dict(slice_len=1000), "slice_len"),
    (dict(model_size=-1), "model_size"),
    (dict(loss="softmax"), "loss"),
    (dict(upsample="bilinear"), "upsample"),
    (dict(num_classes=1), "num_classes"),
    (dict(g_beta1=1.5), "g_beta1"),
    # Recipe options a model cannot take: an FFT over a quarter of the slice, or not a power of two,
    # a spectral critic under an unbounded loss, an unknown transform, an average that never moves.
    (dict(loss="hinge", spectral_critic="8192"), "spectral_critic"),
    (dict(loss="hinge", spectral_critic="300"), "spectral_critic"),
    (dict(loss="wgan-gp", spectral_critic="256"), "spectral_critic"),
    (dict(augment="reverse"), "augment"),
    (dict(g_ema_decay=1.0), "g_ema_decay"),
    (dict(r1_every=0), "r1_every"),
])
def test_bad_config_values_are_clear_errors(bad, match):
    with pytest.raises(ConfigError, match=match):
        WaveGANConfig(**bad)


def test_config_round_trips_through_json_and_rejects_unknown_keys():
    cfg = WaveGANConfig(model_size=16, loss="lsgan", num_classes=4)
    assert WaveGANConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ConfigError, match="unknown option"):
        WaveGANConfig.from_dict({"modelsize": 3})


@pytest.mark.parametrize("batch,length,in_ch,out_ch,kernel_len,stride", [
    (3, 64, 1, 5, 25, 4),   # D's first layer: the filter gradient as one matmul
    (2, 64, 9, 5, 25, 4),   # wider input: TF's filter gradient, polyphase input gradient
    (2, 32, 512, 1024, 25, 4),  # a kernel as large as d=64's last critic layer: the matmul again
    (2, 40, 3, 4, 5, 2), (2, 48, 3, 4, 4, 4), (2, 36, 1, 3, 9, 3)])
def test_strided_conv_gradients_equal_tfs_to_second_order_also_under_xla(batch, length, in_ch, out_ch,
                                                                          kernel_len, stride):
    """strided_conv1d's own gradients (polyphase input gradient, matmul filter gradient) and
    their gradients, which the gradient penalty differentiates, equal tf.nn.conv1d's."""
    from models.layers import strided_conv1d
    x, kernel = tf.random.normal([batch, length, in_ch]), tf.random.normal([kernel_len, in_ch, out_ch])
    upstream = tf.random.normal([batch, length // stride, out_ch])

    def grads(conv, x, kernel):
        with tf.GradientTape() as outer:
            outer.watch([x, kernel])
            with tf.GradientTape() as inner:
                inner.watch([x, kernel])
                y = conv(x, kernel)
            dx, dkernel = inner.gradient(y, [x, kernel], output_gradients=upstream)
            penalty = tf.reduce_sum(tf.square(dx)) + tf.reduce_sum(tf.sin(dkernel))
        return [y, dx, dkernel, *outer.gradient(penalty, [x, kernel], unconnected_gradients="zero")]

    want = grads(lambda x, k: tf.nn.conv1d(x, k, stride, "SAME"), x, kernel)
    ours = lambda x, k: strided_conv1d(x, k, stride)  # noqa: E731
    for got in (grads(ours, x, kernel), tf.function(grads, jit_compile=True)(ours, x, kernel)):
        for a, b in zip(got, want):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4 * float(tf.reduce_max(tf.abs(b))))


def test_phase_shuffle_gradients_match_the_reference_formulation_also_under_xla():
    """First and second-order gradients (the gradient penalty needs both) equal those of the
    reference's MirrorPad + roll + slice, eagerly and compiled with XLA."""
    radius, x = 2, tf.random.normal([2, 32, 3])
    weights = tf.random.normal([2, 32, 3])

    def reference(x, seed):
        phase = tf.random.stateless_uniform([], seed, -radius, radius + 1, dtype=tf.int32)
        padded = tf.pad(x, [[0, 0], [radius, radius], [0, 0]], mode="REFLECT")
        return tf.roll(padded, shift=phase, axis=1)[:, radius:-radius]

    def grads(shuffle, seed):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = tf.reduce_sum(weights * tf.sin(shuffle(x, seed)))
            first = inner.gradient(y, x)
            penalty = tf.reduce_sum(tf.square(first))
        return first, outer.gradient(penalty, x)

    phases = set()
    for k in range(12):
        seed = tf.constant([k, 7], tf.int64)
        phases.add(int(tf.random.stateless_uniform([], seed, -radius, radius + 1, dtype=tf.int32)))
        want = grads(reference, seed)
        ours = [lambda x, s: phase_shuffle(x, radius, s), lambda x, s: phase_shuffle(x, radius, s, xla=True)]
        for got in ([grads(shuffle, seed) for shuffle in ours]
                    + [tf.function(grads, jit_compile=True)(shuffle, seed) for shuffle in ours]):
            for a, b in zip(got, want):
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)
    assert len(phases) >= 4


def test_xla_compiles_one_critic_program_for_every_update(tmp_path):
    """The update counter keys each update's phase shuffles. If any op needs the phase as an
    XLA compile-time constant, each update compiles the critic again (seconds each: on an
    H100 a tiny model took 32 s per step). One program must serve every counter value."""
    from models.losses import gradient_penalty
    from models.train import Trainer
    cfg = tiny_config().replace(xla=True)
    D, x = Trainer(cfg, str(tmp_path)).discriminator, tf.random.normal([2, cfg.slice_len, 1])
    fake = tf.random.normal([2, cfg.slice_len, 1])

    @tf.function(jit_compile=True)
    def critic_terms(counter):
        seed = tf.stack([tf.constant(cfg.seed, tf.int64), counter])
        with tf.GradientTape() as tape:
            penalty = gradient_penalty(D, x, fake, None, alpha=tf.fill([2, 1, 1], 0.5), phase_seed=seed)
            loss = tf.reduce_mean(D(x, None, training=True, phase_seed=seed)) + tf.reduce_mean(penalty)
        return tape.gradient(loss, D.trainable_variables)

    programs = {critic_terms.experimental_get_compiler_ir(tf.constant(c, tf.int64))(stage="hlo")
                for c in (0, 1, 2)}
    assert len(programs) == 1
