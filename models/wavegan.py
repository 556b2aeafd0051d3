"""WaveGAN generator and discriminator (Donahue et al., ICLR 2019).

Layer plan follows the reference implementation: a dense projection to 16 steps,
then stride-4 upsampling layers (the 32768/65536 variants add a stride-2/4 layer;
8192 and 4096, for short clips, have one stride-2 layer or one layer fewer),
and a mirror-image discriminator with LeakyReLU(0.2) and phase shuffle.
"""
from __future__ import annotations

import tensorflow as tf

from models.config import WaveGANConfig
from models.layers import (BatchNorm, Conv1D, ConvTranspose1D, Dense, Identity, UpsampleConv1D, phase_shuffle,
                           projection_score)
from models.periodic import PeriodBranch
from models.spectral import SpectralBranch

LABEL_EMBED_DIM = 32  # size of G's learned label embedding (conditional models)


def _extra_stride(slice_len: int) -> int:
    """Stride of the sixth layer that 32768 (2) and 65536 (4) add; 0 if none."""
    return {16384: 0, 32768: 2, 65536: 4}[slice_len]


def _channel_plan(cfg: WaveGANConfig):
    """(base multiplier, [(out_mult, stride)...]) shared by G (forward) and D (reversed).

    16384 is the paper's five stride-4 layers; 32768 and 65536 add a sixth, as the
    reference does; 8192 makes the last layer stride 2 and 4096 drops one layer, so
    short clips (8 kHz speech, one-shots) cost a half or a quarter of the work.
    """
    if cfg.slice_len == 4096:
        return 16, [(8, 4), (4, 4), (2, 4), (0, 4)]
    if cfg.slice_len == 8192:
        return 16, [(8, 4), (4, 4), (2, 4), (1, 4), (0, 2)]
    extra = _extra_stride(cfg.slice_len)
    mul = 16 if extra == 0 else 32
    layers = [(mul // 2 ** (i + 1), 4) for i in range(4)]  # 4 layers halving channels
    if extra:
        layers += [(1, 4), (0, extra)]  # then d channels, then the audio channels
    else:
        layers += [(0, 4)]
    return mul, layers


def impulse_kernel(length: int, channels: int):
    """[length, channels, channels]: a filter that passes each channel unchanged under 'SAME' padding
    (which puts (length - 1) // 2 taps before the current sample)."""
    return tf.tensor_scatter_nd_update(tf.zeros([length, channels, channels]),
                                       [[(length - 1) // 2, c, c] for c in range(channels)], tf.ones([channels]))


class Generator(tf.Module):
    """z [B, latent] (+ label [B]) -> audio [B, slice_len, channels] in [-1, 1]."""

    def __init__(self, cfg: WaveGANConfig, name="generator"):
        super().__init__(name=name)
        self.cfg = cfg
        d = cfg.model_size
        mul, plan = _channel_plan(cfg)
        in_dim = cfg.latent_dim
        self.label_embedding = None
        if cfg.conditional:
            # On the scale of z (U[-1, 1]): an embedding that starts near zero leaves G deaf to the
            # label for thousands of steps (seen on FSDD: label accuracy at chance after 1,250 steps).
            self.label_embedding = tf.Variable(
                tf.random.uniform([cfg.num_classes, LABEL_EMBED_DIM], -1.0, 1.0), name="label_embedding")
            in_dim += LABEL_EMBED_DIM
        self.base_channels = d * mul
        self.project = Dense(in_dim, 16 * self.base_channels)
        self.project_bn = BatchNorm(self.base_channels) if cfg.batchnorm else Identity()
        self.upsamplers, self.norms = [], []
        in_ch = self.base_channels
        for i, (out_mult, stride) in enumerate(plan):
            last = i == len(plan) - 1
            out_ch = cfg.num_channels if last else d * out_mult
            if cfg.upsample == "zeros":
                layer = ConvTranspose1D(in_ch, out_ch, cfg.kernel_len, stride, name=f"upconv_{i}")
            else:
                layer = UpsampleConv1D(in_ch, out_ch, cfg.kernel_len, stride, cfg.upsample, name=f"upconv_{i}")
            self.upsamplers.append(layer)
            self.norms.append(BatchNorm(out_ch) if cfg.batchnorm and not last else Identity())
            in_ch = out_ch
        # FiLM (Perez et al., 2018): per class, a scale and a shift of each hidden layer's channels,
        # so the label reaches every resolution, not only the input (small random start: labels differ at once).
        self.film = [tf.Variable(tf.random.uniform([cfg.num_classes, 2, d * out_mult], -0.1, 0.1), name=f"film_{i}")
                     for i, (out_mult, _) in enumerate(plan[:-1])] if cfg.label_film and cfg.conditional else []
        self.post_proc = (Conv1D(cfg.num_channels, cfg.num_channels, cfg.post_proc_filter_len, use_bias=False,
                                 name="post_proc") if cfg.post_proc_filter_len else None)
        if self.post_proc is not None and cfg.post_proc_impulse:
            self.post_proc.kernel.assign(impulse_kernel(cfg.post_proc_filter_len, cfg.num_channels))

    def __call__(self, z, label=None, training=False):
        if self.label_embedding is not None:
            if label is None:
                raise ValueError("this generator is conditional: a label is required")
            z = tf.concat([z, tf.gather(self.label_embedding, label)], axis=1)
        x = self.project(tf.cast(z, self.cfg.compute_dtype))
        x = tf.reshape(x, [-1, 16, self.base_channels])
        x = tf.nn.relu(self.project_bn(x, training=training))
        last = len(self.upsamplers) - 1
        for i, (up, norm) in enumerate(zip(self.upsamplers, self.norms)):
            x = norm(up(x, training=training), training=training)
            if i < len(self.film):
                scale_shift = tf.cast(tf.gather(self.film[i], label), x.dtype)  # [B, 2, channels]
                x = x * (1.0 + scale_shift[:, None, 0])
                if self.cfg.label_film_shift:
                    x = x + scale_shift[:, None, 1]
            x = tf.tanh(tf.cast(x, tf.float32)) if i == last else tf.nn.relu(x)  # the audio in float32
        if self.post_proc is not None:
            x = self.post_proc(x)
        return x


class Discriminator(tf.Module):
    """audio [B, slice_len, channels] (+ label) -> one unbounded score per example.

    Conditional models use a projection discriminator (Miyato & Koyama, 2018):
    score = linear(h) + <embed(label), h>. `xla`: its training calls are compiled with
    XLA (the phase shuffle then takes a form that compiles once for every phase).
    With cfg.spectral_critic, spectrogram branches (models.spectral) score the same
    audio: branch_scores gives one score per branch, calling it their sum, and
    `waveform` the waveform critic's alone: what the gradient penalties regularise
    (the log-spectrogram's input gradient near silence is 1e6 times the waveform's).
    The R1 penalty regularises each spectral branch in its own input space, the spectrogram
    (models.losses.spectral_r1_penalty). With cfg.period_critic, branches on the waveform folded by
    period (models.periodic) score it too; their input is the waveform, so `waveform` includes them
    and the gradient penalties regularise them with the waveform critic.
    """

    def __init__(self, cfg: WaveGANConfig, name="discriminator", xla: bool = False):
        super().__init__(name=name)
        self.cfg, self.xla = cfg, xla
        d = cfg.model_size
        mul, plan = _channel_plan(cfg)
        # Channels grow d, 2d, 4d, ... as G's shrink; all strides 4, then the extra layer's.
        out_channels = [d * m for m, _ in reversed(plan[:-1])] + [d * mul]
        strides = [stride for _, stride in plan]
        self.convs, self.norms = [], []
        in_ch = cfg.num_channels
        for i, (out_ch, stride) in enumerate(zip(out_channels, strides)):
            self.convs.append(Conv1D(in_ch, out_ch, cfg.kernel_len, stride, name=f"downconv_{i}"))
            self.norms.append(BatchNorm(out_ch) if cfg.batchnorm and i > 0 else Identity())
            in_ch = out_ch
        self.feature_dim = 16 * in_ch
        self.output = Dense(self.feature_dim, 1)
        self.label_projection = None
        if cfg.conditional:
            self.label_projection = tf.Variable(
                tf.random.normal([cfg.num_classes, self.feature_dim], stddev=0.02), name="label_projection")
        # AC-GAN (Odena et al., 2017): a class head on the waveform critic's features; with cfg.aux_fakes
        # it also has classes for generated audio (ADC-GAN, Hou et al., 2022).
        self.class_head = (Dense(self.feature_dim, cfg.class_head_size, name="class_head")
                           if cfg.conditional and cfg.aux_classifier else None)
        self.spectral = [SpectralBranch(n, 2 * d, cfg.num_classes, cfg.compute_dtype, name=f"spectral_{n}")
                         for n in cfg.spectral_fft_sizes]
        self.periodic = [PeriodBranch(p, d, cfg.num_classes, cfg.compute_dtype, name=f"period_{p}")
                         for p in cfg.periods]

    def __call__(self, x, label=None, training=False, phase_seed=None):
        return tf.reduce_sum(self.branch_scores(x, label, training, phase_seed), axis=1)

    def branch_scores(self, x, label=None, training=False, phase_seed=None):
        """[B, branches]: the waveform critic's score, then each spectral branch's, then each period's."""
        return self.critique(x, label, training, phase_seed)[0]

    def critique(self, x, label=None, training=False, phase_seed=None):
        """(branch scores [B, branches], class logits [B, classes] or None without a class head)."""
        if self.label_projection is not None and label is None:
            raise ValueError("this discriminator is conditional: a label is required")
        score, h = self._waveform(x, label, training, phase_seed)
        scores = [score] + [branch(x, label) for branch in self.spectral + self.periodic]
        logits = self.class_head(h) if self.class_head is not None else None
        return tf.stack(scores, axis=1), logits

    def waveform(self, x, label=None, training=False, phase_seed=None):
        """The score of the critics on the waveform itself (the waveform critic and the period
        branches); phase_seed: a stateless [2] seed for this call's phase shuffles (training); None =
        global RNG."""
        score = self._waveform(x, label, training, phase_seed)[0]
        return score + tf.add_n([branch(x, label) for branch in self.periodic]) if self.periodic else score

    def _waveform(self, x, label, training, phase_seed):
        x = tf.cast(x, self.cfg.compute_dtype)
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = tf.nn.leaky_relu(norm(conv(x), training=training), alpha=0.2)
            if training and i < min(4, len(self.convs) - 1):  # the reference: after layers 0-3 only
                seed = None if phase_seed is None else tf.random.experimental.stateless_fold_in(phase_seed, i)
                x = phase_shuffle(x, self.cfg.phase_shuffle, seed, xla=self.xla)
        h = tf.cast(tf.reshape(x, [-1, self.feature_dim]), tf.float32)  # the score in float32
        score = projection_score(self.output, self.label_projection, h, label)
        return score, h
