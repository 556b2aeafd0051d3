"""Building blocks of WaveGAN as plain tf.Modules.

tf.Module (not Keras layers) keeps the model independent of the Keras 2/3 split
that TFX environments straddle, and exports cleanly with tf.saved_model.save.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf


def _glorot(shape, fan_in, fan_out, seed=None):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return tf.random.uniform(shape, -limit, limit, seed=seed)


class Dense(tf.Module):
    def __init__(self, in_dim: int, out_dim: int, name=None):
        super().__init__(name=name)
        self.w = tf.Variable(_glorot([in_dim, out_dim], in_dim, out_dim), name="w")
        self.b = tf.Variable(tf.zeros([out_dim]), name="b")

    def __call__(self, x):
        return tf.matmul(x, self.w) + self.b


class Conv1D(tf.Module):
    """Strided 1-D convolution with 'same' padding (output length = ceil(L / stride))."""

    def __init__(self, in_ch: int, out_ch: int, kernel_len: int, stride: int = 1, use_bias=True, name=None):
        super().__init__(name=name)
        self.stride = stride
        self.kernel = tf.Variable(
            _glorot([kernel_len, in_ch, out_ch], in_ch * kernel_len, out_ch * kernel_len), name="kernel")
        self.b = tf.Variable(tf.zeros([out_ch]), name="b") if use_bias else None

    def __call__(self, x):
        y = tf.nn.conv1d(x, self.kernel, stride=self.stride, padding="SAME")
        return y if self.b is None else y + self.b


def polyphase_taps(kernel_len: int, stride: int):
    """Maps a transposed-conv kernel onto `stride` stride-1 polyphase filters.

    Upsampling by zero-stuffing then correlating with a centred kernel w of length K
    gives, for output y[S*j + p], the sum over m of x[j + m] * w[S*m + P - p] with
    P = (K - 1) // 2. Returns (m_lo, n_taps, index) where index[t, p] is the kernel
    tap used by polyphase tap t (m = t + m_lo) for phase p, or -1 where none.
    """
    centre = (kernel_len - 1) // 2
    m_lo = min(math.ceil((p - centre) / stride) for p in range(stride))
    m_hi = max(math.floor((kernel_len - 1 + p - centre) / stride) for p in range(stride))
    n_taps = m_hi - m_lo + 1
    index = np.full([n_taps, stride], -1, dtype=np.int64)
    for t in range(n_taps):
        for p in range(stride):
            k = stride * (t + m_lo) + centre - p
            if 0 <= k < kernel_len:
                index[t, p] = k
    return m_lo, n_taps, index


class ConvTranspose1D(tf.Module):
    """Transposed 1-D convolution ('zeros' upsampling), computed in polyphase form.

    The weight is stored directly as `stride` stride-1 filters packed along the output
    channels: [n_taps, in_ch, stride * out_ch]. One stride-1 convolution and a
    reshape then interleave the phases. This is the same function as a transposed
    convolution of length `kernel_len` (taps that the transposed kernel does not
    have are held at zero by `tap_mask`), but costs a plain convolution: TF's
    Conv1DTranspose is several times slower at small batch on CPU.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_len: int, stride: int, name=None):
        super().__init__(name=name)
        self.stride, self.out_ch = stride, out_ch
        self.kernel_len = kernel_len
        self.m_lo, n_taps, index = polyphase_taps(kernel_len, stride)
        self.index = index
        # mask[t, 0, p * out_ch + c] = 1 where polyphase tap t of phase p exists.
        mask = np.repeat((index >= 0).astype(np.float32), out_ch, axis=1)[:, None, :]
        self.tap_mask = tf.constant(mask)
        fan_in, fan_out = in_ch * kernel_len / stride, out_ch * kernel_len / stride
        init = _glorot([n_taps, in_ch, stride * out_ch], fan_in, fan_out) * mask
        self.kernel = tf.Variable(init, name="kernel")
        self.b = tf.Variable(tf.zeros([out_ch]), name="b")
        self.pad = (-self.m_lo, n_taps - 1 + self.m_lo)

    def __call__(self, x, training=False):
        # In training the mask keeps the missing taps' gradients at zero, so they
        # stay exactly zero and inference can skip the multiply.
        kernel = self.kernel * self.tap_mask if training else self.kernel
        x = tf.pad(x, [[0, 0], list(self.pad), [0, 0]])
        y = tf.nn.conv1d(x, kernel, stride=1, padding="VALID")
        batch, length = tf.shape(y)[0], tf.shape(y)[1]
        y = tf.reshape(y, [batch, length * self.stride, self.out_ch])
        return y + self.b

    def transposed_kernel(self) -> np.ndarray:
        """The equivalent transposed-conv kernel [kernel_len, in_ch, out_ch]."""
        packed = self.kernel.numpy().reshape(self.kernel.shape[0], self.kernel.shape[1], self.stride, self.out_ch)
        full = np.zeros([self.kernel_len, packed.shape[1], self.out_ch], dtype=packed.dtype)
        for t, p in zip(*np.nonzero(self.index >= 0)):
            full[self.index[t, p]] = packed[t, :, p]
        return full


class UpsampleConv1D(tf.Module):
    """Interpolating upsample (nearest, linear or cubic) followed by a stride-1 conv."""

    METHODS = {"nn": "nearest", "linear": "bilinear", "cubic": "bicubic"}

    def __init__(self, in_ch: int, out_ch: int, kernel_len: int, stride: int, method: str, name=None):
        super().__init__(name=name)
        self.stride, self.method = stride, self.METHODS[method]
        self.conv = Conv1D(in_ch, out_ch, kernel_len, 1)

    def __call__(self, x, training=False):
        length = tf.shape(x)[1]
        image = x[:, tf.newaxis]  # [B, 1, L, C]: resize only along time
        image = tf.image.resize(image, [1, length * self.stride], method=self.method)
        return self.conv(image[:, 0])


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
            mean, var = tf.nn.moments(x, axes=[0, 1])
            self.moving_mean.assign(self.momentum * self.moving_mean + (1 - self.momentum) * mean)
            self.moving_var.assign(self.momentum * self.moving_var + (1 - self.momentum) * var)
        else:
            mean, var = self.moving_mean, self.moving_var
        return tf.nn.batch_normalization(x, mean, var, self.beta, self.gamma, self.epsilon)


class Identity(tf.Module):
    def __call__(self, x, training=False):
        return x


def phase_shuffle(x, radius: int, seed=None):
    """Shifts the whole batch by a random phase in [-radius, radius], reflect-padded.

    As in the reference implementation: one phase per call, the length kept.
    """
    if radius <= 0:
        return x
    length = tf.shape(x)[1]
    phase = tf.random.uniform([], -radius, radius + 1, dtype=tf.int32, seed=seed)
    pad_left, pad_right = tf.maximum(phase, 0), tf.maximum(-phase, 0)
    x_padded = tf.pad(x, [[0, 0], [pad_left, pad_right], [0, 0]], mode="REFLECT")
    return x_padded[:, pad_right:pad_right + length]
