"""Building blocks of WaveGAN as plain tf.Modules.

tf.Module (not Keras layers) keeps the model independent of the Keras 2/3 split
that TFX environments straddle, and exports cleanly with tf.saved_model.save.
Variables are float32; each layer computes in its input's dtype (mixed precision:
float16 or bfloat16 activations, float32 master weights).
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf


def _glorot(shape, fan_in, fan_out, seed=None):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return tf.random.uniform(shape, -limit, limit, seed=seed)


def _as(variable, x):
    """A float32 variable in the compute dtype of x (a no-op in float32)."""
    return tf.cast(variable, x.dtype)


class Dense(tf.Module):
    def __init__(self, in_dim: int, out_dim: int, name=None):
        super().__init__(name=name)
        self.w = tf.Variable(_glorot([in_dim, out_dim], in_dim, out_dim), name="w")
        self.b = tf.Variable(tf.zeros([out_dim]), name="b")

    def __call__(self, x):
        return tf.matmul(x, _as(self.w, x)) + _as(self.b, x)


def projection_score(output, label_projection, h, label):
    """linear(h) + <embed(label), h>: a projection discriminator's score (Miyato & Koyama, 2018);
    label_projection None: linear(h) alone."""
    score = output(h)[:, 0]
    if label_projection is not None:
        score += tf.reduce_sum(tf.gather(label_projection, label) * h, axis=1)
    return score


class Conv1D(tf.Module):
    """Strided 1-D convolution with 'same' padding (output length = ceil(L / stride))."""

    def __init__(self, in_ch: int, out_ch: int, kernel_len: int, stride: int = 1, use_bias=True, name=None):
        super().__init__(name=name)
        self.stride = stride
        self.kernel = tf.Variable(
            _glorot([kernel_len, in_ch, out_ch], in_ch * kernel_len, out_ch * kernel_len), name="kernel")
        self.b = tf.Variable(tf.zeros([out_ch]), name="b") if use_bias else None

    def __call__(self, x):
        kernel = _as(self.kernel, x)
        if self.stride > 1 and use_polyphase_gradients(x.shape[1], kernel.shape[0], self.stride):
            y = strided_conv1d(x, kernel, self.stride)
        else:
            y = tf.nn.conv1d(x, kernel, stride=self.stride, padding="SAME")
        return y if self.b is None else y + _as(self.b, x)


# Which gradients strided convolutions use: "auto" (strided_conv1d's on CPU-only machines; on a
# GPU, cuDNN's own, not measured against ours yet), "polyphase" or "tf" (bench/conv_gradient_bench.py).
CONV_GRADIENTS = "auto"


def use_polyphase_gradients(length, kernel_len: int, stride: int) -> bool:
    """Whether a strided convolution is traced as strided_conv1d (read when a function is traced)."""
    applies = length is not None and length % stride == 0 and kernel_len >= stride
    if CONV_GRADIENTS == "auto":
        return applies and not tf.config.list_physical_devices("GPU")
    return applies and CONV_GRADIENTS == "polyphase"


# TF's filter gradient is slow for few input channels and for very large kernels (d=64's last
# critic layer, 13M weights: 0.11 of the matmul rate, where one matmul runs at 0.81); elsewhere
# it is as fast or faster than the matmul (d=16-64, measured per layer).
MATMUL_FILTER_GRADIENT_WEIGHTS = 8_000_000


def strided_conv1d(x, kernel, stride: int):
    """tf.nn.conv1d(x, kernel, stride, 'SAME') with faster, exact gradients on CPU.

    TF's gradients of a strided convolution run at a fraction of the forward rate on
    CPU (measured at d=16: input gradient 0.06-0.48, filter gradient 0.05-0.73 of a
    large matmul, forward 0.2-1.0). Here the input gradient is the transposed
    convolution in polyphase form (stride-1 convolutions, as ConvTranspose1D): 1.3-2.4x
    faster. The filter gradient is one matmul of the strided windows with the output
    gradient where the input has few channels (1.5x faster) or the kernel is very large
    (7x), else TF's own op. All are differentiable ops, so the gradient penalty's
    second-order pass works (also under XLA). Needs a static length that the stride
    divides and kernel_len >= stride.
    """
    kernel_len = kernel.shape[0]
    left_pad = (kernel_len - stride) // 2  # TF's SAME padding when the stride divides the length

    @tf.custom_gradient
    def conv(x, kernel):
        def gradient(upstream):
            if x.shape[2] < 8 or kernel.shape.num_elements() >= MATMUL_FILTER_GRADIENT_WEIGHTS:
                kernel_gradient = _conv_filter_gradient(x, upstream, kernel_len, stride, left_pad)
            else:
                kernel_gradient = tf.squeeze(tf.raw_ops.Conv2DBackpropFilter(
                    input=x[:, tf.newaxis], filter_sizes=[1, *kernel.shape], out_backprop=upstream[:, tf.newaxis],
                    strides=[1, 1, stride, 1], padding="SAME"), 0)
            return _conv_input_gradient(upstream, kernel, stride, left_pad), kernel_gradient
        return tf.nn.conv1d(x, kernel, stride=stride, padding="SAME"), gradient

    return conv(x, kernel)


def _conv_input_gradient(upstream, kernel, stride: int, left_pad: int):
    """d(conv)/dx: input position S*j + r gets sum_n upstream[j + n] @ kernel[r + left_pad - S*n]^T.

    With the kernel reversed that is the polyphase form of polyphase_groups with
    centre K - 1 - left_pad: one stride-1 convolution per group of phases.
    """
    kernel_len, in_ch, out_ch = kernel.shape
    centre = kernel_len - 1 - left_pad
    reversed_kernel = tf.reverse(kernel, [0])
    groups = polyphase_groups(kernel_len, stride, centre)
    kernels = []
    for first, n_phases, m_lo, n_taps in groups:
        taps = [[stride * (t + m_lo) + centre - first - p for p in range(n_phases)] for t in range(n_taps)]
        group = tf.gather(reversed_kernel, taps)  # [n_taps, n_phases, in_ch, out_ch]
        kernels.append(tf.reshape(tf.transpose(group, [0, 3, 1, 2]), [n_taps, out_ch, n_phases * in_ch]))
    return polyphase_conv(upstream, groups, kernels, stride, in_ch)


def polyphase_conv(x, groups, kernels, stride: int, out_ch: int):
    """A stride-S transposed convolution from its polyphase groups and their stride-1 kernels.

    Each group's convolution gives its phases side by side in the channels; a concat
    and a reshape interleave all S phases in time.
    """
    outputs = []
    for (_, _, m_lo, n_taps), kernel in zip(groups, kernels):
        if -m_lo == (n_taps - 1) // 2:  # TF's SAME padding is exactly this group's
            outputs.append(tf.nn.conv1d(x, kernel, stride=1, padding="SAME"))
        else:
            padded = tf.pad(x, [[0, 0], [-m_lo, n_taps - 1 + m_lo], [0, 0]])
            outputs.append(tf.nn.conv1d(padded, kernel, stride=1, padding="VALID"))
    y = outputs[0] if len(outputs) == 1 else tf.concat(outputs, axis=-1)  # [B, T, S * out_ch]
    length = y.shape[1] if y.shape[1] is not None else tf.shape(y)[1]  # static when known
    return tf.reshape(y, [tf.shape(y)[0], length * stride, out_ch])


def _conv_filter_gradient(x, upstream, kernel_len: int, stride: int, left_pad: int):
    """d(conv)/dkernel[k] = sum over b, t of x[b, S*t + k - left_pad]^T upstream[b, t]: one matmul.

    The padded input, seen as blocks of S samples, gives tap k = S*q + r at block t + q:
    ceil(K / S) shifted views side by side hold every tap's window.
    """
    out_len, in_ch = upstream.shape[1], x.shape[2]
    blocks = -(-kernel_len // stride)
    padded = tf.pad(x, [[0, 0], [left_pad, stride * (blocks - 1) - left_pad], [0, 0]])
    padded = tf.reshape(padded, [-1, out_len + blocks - 1, stride * in_ch])
    windows = tf.concat([padded[:, q:q + out_len] for q in range(blocks)], axis=-1)  # [B, T, blocks*S*in_ch]
    gradient = tf.matmul(tf.reshape(windows, [-1, blocks * stride * in_ch]),
                         tf.reshape(upstream, [-1, upstream.shape[2]]), transpose_a=True)
    return tf.reshape(gradient, [blocks * stride, in_ch, -1])[:kernel_len]


def polyphase_groups(kernel_len: int, stride: int, centre: int = None):
    """Splits a transposed-conv kernel into stride-1 polyphase filters, exactly.

    Upsampling by zero-stuffing then correlating with a kernel w of length K gives,
    for output y[S*j + p], the sum over m of x[j + m] * w[S*m + C - p], with the
    centre C = (K - 1) // 2 unless given. Phase p uses the m in [m_lo(p), m_hi(p)];
    neighbouring phases share a range, so they share one convolution. Returns, in
    phase order, [(first_phase, n_phases, m_lo, n_taps)].
    """
    centre = (kernel_len - 1) // 2 if centre is None else centre
    groups = []
    for p in range(stride):
        m_lo = math.ceil((p - centre) / stride)
        n_taps = math.floor((kernel_len - 1 + p - centre) / stride) - m_lo + 1
        if groups and groups[-1][2:] == (m_lo, n_taps):
            first, count, _, _ = groups[-1]
            groups[-1] = (first, count + 1, m_lo, n_taps)
        else:
            groups.append((p, 1, m_lo, n_taps))
    return groups


class ConvTranspose1D(tf.Module):
    """Transposed 1-D convolution ('zeros' upsampling), computed in polyphase form.

    Output phase p of a stride-S transposed convolution is a stride-1 convolution
    of the input with every S-th kernel tap. Phases with the same tap range share
    one convolution whose output channels hold all of them; a concat and a reshape
    interleave the phases. Same function and FLOPs as a transposed convolution of
    length `kernel_len`, but TF's Conv1DTranspose is ~3x slower at batch 1 on CPU.
    Each group's weight is stored as [n_taps, in_ch, n_phases * out_ch].
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_len: int, stride: int, name=None):
        super().__init__(name=name)
        if kernel_len < stride:
            raise ValueError(f"kernel_len {kernel_len} must be at least the stride {stride}")
        self.kernel_len, self.stride, self.out_ch = kernel_len, stride, out_ch
        self.groups = polyphase_groups(kernel_len, stride)
        fan_in, fan_out = in_ch * kernel_len / stride, out_ch * kernel_len / stride
        self.kernels = [tf.Variable(_glorot([n_taps, in_ch, n_phases * out_ch], fan_in, fan_out),
                                    name=f"kernel_{i}")
                        for i, (_, n_phases, _, n_taps) in enumerate(self.groups)]
        self.b = tf.Variable(tf.zeros([out_ch]), name="b")

    def __call__(self, x, training=False):
        kernels = [_as(kernel, x) for kernel in self.kernels]
        return polyphase_conv(x, self.groups, kernels, self.stride, self.out_ch) + _as(self.b, x)

    def transposed_kernel(self) -> np.ndarray:
        """The equivalent transposed-conv kernel [kernel_len, in_ch, out_ch]."""
        centre = (self.kernel_len - 1) // 2
        full = np.zeros([self.kernel_len, self.kernels[0].shape[1], self.out_ch], np.float32)
        for (first, n_phases, m_lo, n_taps), kernel in zip(self.groups, self.kernels):
            packed = kernel.numpy().reshape(n_taps, -1, n_phases, self.out_ch)
            for t in range(n_taps):
                for j in range(n_phases):
                    full[self.stride * (t + m_lo) + centre - first - j] = packed[t, :, j]
        return full


def nearest_polyphase_taps(kernel_len: int, stride: int):
    """How nearest-neighbour upsampling by `stride` then a stride-1 'same' conv of length K splits
    into stride-1 convolutions of the input, one per output phase.

    With x_up[n] = x[n // S] and centre C = (K - 1) // 2, y[S*j + p] = sum_t w[t] x[j + (p + t - C) // S]:
    phase p's filter tap m sums the w[t] with (p + t - C) // S = m. Returns polyphase groups (as
    polyphase_groups) and, per group, a 0/1 matrix [n_taps, n_phases, K] that makes its filters from w.
    """
    centre, groups, sums = (kernel_len - 1) // 2, [], []
    for p in range(stride):
        m_lo, m_hi = (p - centre) // stride, (p + kernel_len - 1 - centre) // stride
        if groups and groups[-1][2:] == (m_lo, m_hi - m_lo + 1):
            first, count, _, n_taps = groups[-1]
            groups[-1] = (first, count + 1, m_lo, n_taps)
        else:
            groups.append((p, 1, m_lo, m_hi - m_lo + 1))
    for first, n_phases, m_lo, n_taps in groups:
        taps = np.zeros([n_taps, n_phases, kernel_len], np.float32)
        for j in range(n_phases):
            for t in range(kernel_len):
                taps[(first + j + t - centre) // stride - m_lo, j, t] = 1.0
        sums.append(taps)
    return groups, sums


class UpsampleConv1D(tf.Module):
    """Interpolating upsample (nearest, linear or cubic) followed by a stride-1 conv.

    Nearest ('nn') is computed in polyphase form, exactly: each output phase is a stride-1 conv of
    the input with sums of the kernel's taps, so it costs what a transposed conv of the same length
    does, not a full-rate conv (4x the work at stride 4). A constant input stays constant at every
    phase, which zero-stuffing does not give: there a per-channel offset becomes steady tones.
    """

    METHODS = {"nn": "nearest", "linear": "bilinear", "cubic": "bicubic"}

    def __init__(self, in_ch: int, out_ch: int, kernel_len: int, stride: int, method: str, name=None):
        super().__init__(name=name)
        self.stride, self.method, self.out_ch = stride, self.METHODS[method], out_ch
        self.conv = Conv1D(in_ch, out_ch, kernel_len, 1)
        if self.method == "nearest":
            self.groups, self.tap_sums = nearest_polyphase_taps(kernel_len, stride)

    def __call__(self, x, training=False):
        if self.method == "nearest":
            kernel = _as(self.conv.kernel, x)
            kernels = [tf.reshape(tf.einsum("tjk,kio->tijo", _as(tf.constant(taps), x), kernel),
                                  [taps.shape[0], kernel.shape[1], -1]) for taps in self.tap_sums]
            return polyphase_conv(x, self.groups, kernels, self.stride, self.out_ch) + _as(self.conv.b, x)
        length = tf.shape(x)[1]
        image = x[:, tf.newaxis]  # [B, 1, L, C]: resize only along time
        image = tf.image.resize(image, [1, length * self.stride], method=self.method)
        return self.conv(tf.cast(image[:, 0], x.dtype))  # resize answers float32


class BatchNorm(tf.Module):
    """Batch normalisation over batch and time, with moving statistics for inference."""

    def __init__(self, channels: int, momentum=0.99, epsilon=1e-3, name=None):
        super().__init__(name=name)
        self.momentum, self.epsilon = momentum, epsilon
        self.gamma = tf.Variable(tf.ones([channels]), name="gamma")
        self.beta = tf.Variable(tf.zeros([channels]), name="beta")
        self.moving_mean = tf.Variable(tf.zeros([channels]), trainable=False, name="moving_mean",
                                       synchronization=tf.VariableSynchronization.ON_READ,
                                       aggregation=tf.VariableAggregation.MEAN)
        self.moving_var = tf.Variable(tf.ones([channels]), trainable=False, name="moving_var",
                                      synchronization=tf.VariableSynchronization.ON_READ,
                                      aggregation=tf.VariableAggregation.MEAN)

    def __call__(self, x, training=False):
        if training:
            mean, var = tf.nn.moments(tf.cast(x, tf.float32), axes=[0, 1])  # statistics in float32
            self.moving_mean.assign(self.momentum * self.moving_mean + (1 - self.momentum) * mean)
            self.moving_var.assign(self.momentum * self.moving_var + (1 - self.momentum) * var)
        else:
            mean, var = self.moving_mean, self.moving_var
        return tf.nn.batch_normalization(x, _as(mean, x), _as(var, x), _as(self.beta, x), _as(self.gamma, x),
                                         self.epsilon)


class Identity(tf.Module):
    def __call__(self, x, training=False):
        return x


def phase_shuffle(x, radius: int, seed=None, xla: bool = False):
    """Shifts the whole batch by a random phase in [-radius, radius], reflect-padded.

    As in the reference implementation: one phase per call, the length kept. `seed`
    (a stateless [2] seed) makes the phase a function of it, the same on every
    replica; without it the phase comes from TF's global random state. Written
    as reflect-pad-by-concat and one window at the phase (not MirrorPad): the same
    function with cheaper gradients, static shapes, differentiable twice also under
    XLA. `xla`: the caller is compiled with XLA (see _window_for_xla).
    """
    if radius <= 0:
        return x
    if seed is None:
        phase = tf.random.uniform([], -radius, radius + 1, dtype=tf.int32)
    else:
        phase = tf.random.stateless_uniform([], seed, -radius, radius + 1, dtype=tf.int32)
    length = x.shape[1]
    left = tf.reverse(x[:, 1:radius + 1], [1])  # strided slices: XLA can differentiate their gradients
    right = tf.reverse(x[:, length - radius - 1:length - 1], [1])
    padded = tf.concat([left, x, right], axis=1)
    return (_window_for_xla if xla else _window)(padded, radius - phase, length)


def _window(x, start, length: int):
    """x[:, start:start + length] for a dynamic start, with a Pad as its gradient.

    tf.slice's own gradient becomes, under XLA, an op that has no gradient of its own,
    so the gradient penalty (a gradient of a gradient) could not be compiled.
    """
    extra = x.shape[1] - length

    @tf.custom_gradient
    def window(x, start):
        def gradient(upstream):  # upstream placed at [start, start + length): a static pad and a roll
            return tf.roll(tf.pad(upstream, [[0, 0], [0, extra], [0, 0]]), start, axis=1), None
        return tf.slice(x, tf.stack([0, start, 0]), [-1, length, -1]), gradient

    return window(x, start)


def _window_for_xla(x, start, length: int):
    """_window's result as a roll and a static slice: one XLA compilation for every start.

    XLA needs tf.slice's begin as a compile-time constant, so with _window each new
    phase (the phase is drawn from the update counter: each update) compiled the whole
    update again, seconds every time (an H100 took 32 s per tiny step). Roll's shift
    stays a runtime value. Without XLA _window is kept: the roll copies the whole
    tensor once more (the step took 1.1x the time at d=16 on CPU).
    """
    return tf.roll(x, -start, axis=1)[:, :length]
