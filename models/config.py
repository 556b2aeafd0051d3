"""The one WaveGAN configuration: every model and training option, validated.

The same dataclass is used by the CLI (each field is a flag), the trainer, the
exporter and, later, the TFX components (it round-trips through JSON).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field, fields
from typing import Optional

SLICE_LENGTHS = (16384, 32768, 65536)
LOSSES = ("dcgan", "lsgan", "wgan", "wgan-gp")
UPSAMPLES = ("zeros", "nn", "linear", "cubic")
OPTIMIZERS = ("adam", "rmsprop")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field."""


@dataclass
class WaveGANConfig:
    # --- data ---
    slice_len: int = field(default=16384, metadata={"help": "samples per slice: 16384, 32768 or 65536"})
    sample_rate: int = field(default=16000, metadata={"help": "audio sample rate in Hz"})
    num_channels: int = field(default=1, metadata={"help": "audio channels (1 = mono)"})
    # --- model ---
    latent_dim: int = field(default=100, metadata={"help": "size of the latent vector z ~ U[-1, 1]"})
    model_size: int = field(default=64, metadata={"help": "model size d (channel multiplier)"})
    kernel_len: int = field(default=25, metadata={"help": "convolution kernel length"})
    upsample: str = field(default="zeros", metadata={"help": "G upsampling: zeros (transposed conv), nn, linear, cubic"})
    batchnorm: bool = field(default=False, metadata={"help": "use batch norm in G and D"})
    post_proc_filter_len: int = field(default=0, metadata={"help": "learned post-processing filter length in G (0 = off; paper: 512)"})
    phase_shuffle: int = field(default=2, metadata={"help": "D phase shuffle radius n (0 = off)"})
    # --- conditioning ---
    num_classes: int = field(default=0, metadata={"help": "number of labels for a class-conditional model (0 = unconditional)"})
    # --- loss and optimisation ---
    loss: str = field(default="wgan-gp", metadata={"help": "dcgan, lsgan, wgan (weight clipping) or wgan-gp"})
    gp_lambda: float = field(default=10.0, metadata={"help": "gradient-penalty weight (wgan-gp)"})
    wgan_clip: float = field(default=0.01, metadata={"help": "D weight clip value (wgan)"})
    d_updates: int = field(default=5, metadata={"help": "critic updates per generator update"})
    optimizer: str = field(default="adam", metadata={"help": "adam or rmsprop"})
    g_lr: float = field(default=1e-4, metadata={"help": "generator learning rate"})
    d_lr: float = field(default=1e-4, metadata={"help": "discriminator learning rate"})
    g_beta1: float = field(default=0.5, metadata={"help": "generator Adam beta1"})
    g_beta2: float = field(default=0.9, metadata={"help": "generator Adam beta2"})
    d_beta1: float = field(default=0.5, metadata={"help": "discriminator Adam beta1"})
    d_beta2: float = field(default=0.9, metadata={"help": "discriminator Adam beta2"})
    grad_clip_norm: float = field(default=0.0, metadata={"help": "clip gradients to this global norm (0 = off)"})
    batch_size: int = field(default=64, metadata={"help": "global batch size"})
    # --- run control ---
    steps: int = field(default=1000, metadata={"help": "generator steps to train"})
    checkpoint_every_steps: int = field(default=500, metadata={"help": "checkpoint every N generator steps"})
    checkpoint_every_secs: float = field(default=600.0, metadata={"help": "checkpoint at least this often (seconds)"})
    summary_every_steps: int = field(default=50, metadata={"help": "TensorBoard scalars every N steps"})
    audio_summary_every_steps: int = field(default=500, metadata={"help": "TensorBoard audio every N steps"})
    shuffle_buffer: int = field(default=4096, metadata={"help": "tf.data shuffle buffer (examples)"})
    xla: bool = field(default=False, metadata={"help": "compile train steps with XLA"})
    seed: int = field(default=0, metadata={"help": "random seed"})

    def __post_init__(self):
        self.validate()

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    def validate(self) -> "WaveGANConfig":
        def need(ok: bool, name: str, why: str):
            if not ok:
                raise ConfigError(f"invalid {name}={getattr(self, name)!r}: {why}")

        need(self.slice_len in SLICE_LENGTHS, "slice_len", f"must be one of {SLICE_LENGTHS}")
        need(self.loss in LOSSES, "loss", f"must be one of {LOSSES}")
        need(self.upsample in UPSAMPLES, "upsample", f"must be one of {UPSAMPLES}")
        need(self.optimizer in OPTIMIZERS, "optimizer", f"must be one of {OPTIMIZERS}")
        for name in ("sample_rate", "num_channels", "latent_dim", "model_size", "kernel_len",
                     "d_updates", "batch_size", "steps", "checkpoint_every_steps",
                     "summary_every_steps", "audio_summary_every_steps", "shuffle_buffer"):
            need(getattr(self, name) > 0, name, "must be positive")
        for name in ("post_proc_filter_len", "phase_shuffle", "num_classes", "gp_lambda",
                     "wgan_clip", "grad_clip_norm", "checkpoint_every_secs", "seed"):
            need(getattr(self, name) >= 0, name, "must not be negative")
        for name in ("g_lr", "d_lr"):
            need(getattr(self, name) > 0, name, "must be positive")
        for name in ("g_beta1", "g_beta2", "d_beta1", "d_beta2"):
            need(0 <= getattr(self, name) < 1, name, "must be in [0, 1)")
        need(self.kernel_len >= 4, "kernel_len", "must be at least the stride (4)")
        need(self.num_classes != 1, "num_classes", "a conditional model needs at least 2 classes")
        return self

    # --- serialisation: one JSON form for run dirs, SavedModel assets and TFX ---
    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict) -> "WaveGANConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config option(s): {', '.join(unknown)}")
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> "WaveGANConfig":
        return cls.from_dict(json.loads(text))

    def replace(self, **changes) -> "WaveGANConfig":
        return dataclasses.replace(self, **changes)


def add_config_flags(parser: argparse.ArgumentParser, skip: tuple = ()) -> None:
    """Adds one --flag per config field (dashes for underscores), default None = unset."""
    group = parser.add_argument_group("model and training options")
    for f in fields(WaveGANConfig):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata.get('help', '')} (default {f.default})"
        if f.type in ("bool", bool):
            group.add_argument(flag, dest=f.name, default=None, action=argparse.BooleanOptionalAction,
                               help=help_text)
        else:
            kind = {"int": int, "float": float, "str": str}[f.type if isinstance(f.type, str) else f.type.__name__]
            group.add_argument(flag, dest=f.name, type=kind, default=None, help=help_text)


def config_from_args(args: argparse.Namespace, base: Optional[WaveGANConfig] = None) -> WaveGANConfig:
    """Overrides `base` (or the defaults) with the flags the user actually gave."""
    values = dataclasses.asdict(base) if base is not None else {}
    for f in fields(WaveGANConfig):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = given
    return WaveGANConfig.from_dict(values)
