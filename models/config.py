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

from models.errors import WaveGANError

SLICE_LENGTHS = (4096, 8192, 16384, 32768, 65536)
LOSSES = ("dcgan", "lsgan", "wgan", "wgan-gp", "hinge")
AUGMENTS = ("shift", "gain", "speed", "cutout")
# Losses whose critic score is positive for "real": the mean sign over real training clips (d_real_sign) is
# ADA's r_t, near 1 when the critic has memorised the training set (ADA keeps it near 0.6 by augmenting).
SIGNED_LOSSES = ("dcgan", "hinge")
AUX_FAKES = ("", "class", "per-class")
UPSAMPLES = ("zeros", "nn", "linear", "cubic")
OPTIMIZERS = ("adam", "rmsprop")
SELECT_BY = ("frechet_distance", "inception_score")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


class ConfigError(WaveGANError, ValueError):
    """A configuration value is invalid; the message names the field."""


class _ConfigBase:
    """Validation on construction and one JSON form (run dirs, SavedModel assets, TFX)."""

    def __post_init__(self):
        self.validate()

    def _need(self, ok: bool, name: str, why: str):
        if not ok:
            raise ConfigError(f"invalid {name}={getattr(self, name)!r}: {why}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict):
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown option(s) for {cls.__name__}: {', '.join(unknown)}")
        return cls(**values)

    @classmethod
    def from_json(cls, text: str):
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_file(cls, path: str):
        """The config saved at path (a run dir's config.json, a model's asset, a user's file)."""
        try:
            with open(path) as f:
                return cls.from_json(f.read())
        except (OSError, json.JSONDecodeError) as error:
            raise ConfigError(f"cannot read {cls.__name__} from {path}: {error}") from None

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


@dataclass
class WaveGANConfig(_ConfigBase):
    # --- data ---
    slice_len: int = field(default=16384, metadata={"help": "samples per slice: 4096, 8192, 16384 (the paper's), 32768 or 65536"})
    sample_rate: int = field(default=16000, metadata={"help": "audio sample rate in Hz"})
    num_channels: int = field(default=1, metadata={"help": "audio channels (1 = mono)"})
    # --- model ---
    latent_dim: int = field(default=100, metadata={"help": "size of the latent vector z ~ U[-1, 1]"})
    model_size: int = field(default=64, metadata={"help": "model size d (channel multiplier)"})
    kernel_len: int = field(default=25, metadata={"help": "convolution kernel length"})
    upsample: str = field(default="zeros", metadata={"help": "G upsampling: zeros (transposed conv), nn, linear, cubic"})
    batchnorm: bool = field(default=False, metadata={"help": "use batch norm in G and D"})
    post_proc_filter_len: int = field(default=0, metadata={"help": "learned post-processing filter length in G (0 = off; paper: 512)"})
    post_proc_impulse: bool = field(default=False, metadata={"help": "the post-processing filter starts as the identity (an impulse), not random taps (the paper's)"})
    phase_shuffle: int = field(default=2, metadata={"help": "D phase shuffle radius n (0 = off)"})
    spectral_critic: str = field(default="", metadata={"help": "FFT sizes of a second critic on log-magnitude STFTs, comma-separated, e.g. 256,1024 ('' = off)"})
    period_critic: str = field(default="", metadata={"help": "periods of a critic on the waveform folded by period (HiFi-GAN's multi-period discriminator), comma-separated, e.g. 2,3,5,7,11 ('' = off)"})
    # --- conditioning ---
    num_classes: int = field(default=0, metadata={"help": "number of labels for a class-conditional model (0 = unconditional)"})
    aux_classifier: float = field(default=0.0, metadata={"help": "conditional models: weight of an auxiliary-classifier term (AC-GAN): D also names the class of real audio, and G is rewarded when D names the class it was asked for (0 = off)"})
    aux_fakes: str = field(default="", metadata={"help": "conditional models with aux_classifier: what D's class head learns of generated audio. '' nothing (AC-GAN: real audio only, and G can satisfy the head with cues no listener hears), 'class' one extra class for every generated clip, 'per-class' a generated twin of each class (ADC-GAN)"})
    aux_g_classes_only: bool = field(default=False, metadata={"help": "with aux_fakes: G's class term is a softmax over the real classes only, so it asks which class a clip sounds like and leaves whether it sounds generated to the critic's score (over every logit, a head sure that a clip is generated spends G's class gradient on realism)"})
    aux_label_smoothing: float = field(default=0.0, metadata={"help": "with aux_classifier: one-sided label smoothing of the class head's targets for real audio, this share of each target spread evenly over the real classes, so the head cannot grow ever surer of the training clips it memorises (0 = off)"})
    label_names: list = field(default_factory=list, metadata={"flag": False, "help": "the class names, index order (set from the data's labels: folder names, FSDD digits); they travel with the export"})
    label_film: bool = field(default=False, metadata={"help": "conditional models: the label also scales and shifts every upsampling layer's channels in G (FiLM)"})
    label_film_shift: bool = field(default=True, metadata={"help": "FiLM also shifts the channels (off: scale only; a per-class constant offset becomes steady comb tones through the zero-stuffing upsamplers)"})
    # --- loss and optimisation ---
    loss: str = field(default="wgan-gp", metadata={"help": "dcgan (non-saturating), lsgan, wgan (weight clipping), wgan-gp or hinge"})
    r1_gamma: float = field(default=0.0, metadata={"help": "R1 penalty weight: gamma/2 * |grad D(real)|^2 (0 = off)"})
    r1_every: int = field(default=1, metadata={"help": "apply the R1 penalty every k-th critic update, scaled by k (lazy R1)"})
    augment: str = field(default="", metadata={"help": "differentiable augmentations of real and generated audio before the critic, comma-separated: shift, gain, speed, cutout ('' = off)"})
    augment_p: float = field(default=1.0, metadata={"help": "probability that each augmentation is applied to each clip (with augment_target: where it starts)"})
    augment_target: float = field(default=0.0, metadata={"help": "adaptive augmentation (ADA): adjust augment_p to keep the critic's mean sign on real training clips (r_t: 1 = it calls every one real, a sign of memorising them) near this value (ADA: 0.6; 0 = fixed augment_p; needs loss dcgan or hinge)"})
    augment_speed: int = field(default=100000, metadata={"help": "adaptive augmentation: real clips seen while augment_p moves from 0 to 1 at most"})
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
    g_ema_decay: float = field(default=0.0, metadata={"help": "decay of an exponential moving average of G's weights, which evaluation, best-checkpoint selection and the export then use (0 = off)"})
    grad_clip_norm: float = field(default=0.0, metadata={"help": "clip gradients to this global norm (0 = off)"})
    batch_size: int = field(default=64, metadata={"help": "global batch size"})
    # --- run control ---
    steps: int = field(default=1000, metadata={"help": "generator steps to train"})
    checkpoint_every_steps: int = field(default=500, metadata={"help": "checkpoint every N generator steps"})
    checkpoint_every_secs: float = field(default=600.0, metadata={"help": "checkpoint at least this often (seconds)"})
    summary_every_steps: int = field(default=50, metadata={"help": "TensorBoard scalars every N steps"})
    audio_summary_every_steps: int = field(default=500, metadata={"help": "TensorBoard audio every N steps"})
    shuffle_buffer: int = field(default=4096, metadata={"help": "tf.data shuffle buffer (examples)"})
    xla: Optional[bool] = field(default=None, metadata={"help": "compile train steps with XLA (unset: on when a GPU is present; it is 1.3x slower on CPU)"})
    precision: str = field(default="float32", metadata={"help": "float32, mixed_float16 or mixed_bfloat16: 16-bit activations; weights, the generator's output and the losses in float32 (float16 with loss scaling)"})
    eval_every_steps: int = field(default=0, metadata={"help": "score the generator with the judge every N steps and keep the best checkpoint (0 = off)"})
    train_eval_clips: int = field(default=256, metadata={"help": "clips generated per evaluation during training"})
    select_by: str = field(default="frechet_distance", metadata={"help": "best-checkpoint metric: frechet_distance (lower is better) or inception_score (higher)"})
    time_budget_secs: float = field(default=0.0, metadata={"help": "stop (checkpointed, resumable) after this many seconds of training in one invocation (0 = no limit)"})
    early_stop_patience: int = field(default=0, metadata={"help": "stop after N evaluations without a new best (0 = never)"})
    seed: int = field(default=0, metadata={"help": "random seed"})

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    @property
    def class_head_size(self) -> int:
        """Logits of D's class head: the classes, then aux_fakes' classes of generated audio."""
        return self.num_classes + {"": 0, "class": 1, "per-class": self.num_classes}[self.aux_fakes]

    @property
    def augment_list(self) -> list:
        return [name.strip() for name in self.augment.split(",") if name.strip()]

    @property
    def spectral_fft_sizes(self) -> list:
        return _int_list(self.spectral_critic)

    @property
    def periods(self) -> list:
        return _int_list(self.period_critic)

    @property
    def compute_dtype(self) -> str:
        """The dtype activations are computed in."""
        return {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}.get(self.precision, "float32")

    def validate(self) -> "WaveGANConfig":
        need = self._need
        need(self.slice_len in SLICE_LENGTHS, "slice_len", f"must be one of {SLICE_LENGTHS}")
        need(self.loss in LOSSES, "loss", f"must be one of {LOSSES}")
        need(self.upsample in UPSAMPLES, "upsample", f"must be one of {UPSAMPLES}")
        need(self.optimizer in OPTIMIZERS, "optimizer", f"must be one of {OPTIMIZERS}")
        need(self.select_by in SELECT_BY, "select_by", f"must be one of {SELECT_BY}")
        need(self.precision in PRECISIONS, "precision", f"must be one of {PRECISIONS}")
        need(0 <= self.g_ema_decay < 1, "g_ema_decay", "must be in [0, 1)")
        need(set(self.augment_list) <= set(AUGMENTS), "augment", f"must be '' or a comma-separated list of {AUGMENTS}")
        need(0 <= self.augment_p <= 1, "augment_p", "must be in [0, 1]")
        need(0 <= self.augment_target < 1, "augment_target", "must be in [0, 1)")
        need(not self.augment_target or (self.augment_list and self.loss in SIGNED_LOSSES), "augment_target",
             "needs augmentations (--augment) and a loss whose critic scores real clips positive (dcgan or hinge)")
        need(self.augment_speed > 0, "augment_speed", "must be positive")
        need(all(n & (n - 1) == 0 and 64 <= n <= self.slice_len // 4 for n in self.spectral_fft_sizes),
             "spectral_critic", f"FFT sizes must be powers of two from 64 to a quarter of slice_len ({self.slice_len // 4})")
        need(not self.spectral_critic or self.loss in ("dcgan", "lsgan", "hinge"), "spectral_critic",
             "needs a bounded loss (dcgan, lsgan or hinge): the gradient penalties regularise the waveform critic only")
        need(all(2 <= p <= self.slice_len // 256 for p in self.periods), "period_critic",
             f"periods must be integers from 2 to slice_len / 256 ({self.slice_len // 256})")
        need(self.aux_fakes in AUX_FAKES, "aux_fakes", f"must be one of {AUX_FAKES}")
        need(not self.aux_fakes or self.aux_classifier > 0, "aux_fakes",
             "needs the auxiliary classifier (--aux-classifier above 0); like it, unconditional models ignore it")
        need(not self.aux_g_classes_only or self.aux_fakes, "aux_g_classes_only",
             "needs classes of generated audio in the class head (--aux-fakes class or per-class)")
        need(0 <= self.aux_label_smoothing < 1, "aux_label_smoothing", "must be in [0, 1)")
        need(not self.aux_label_smoothing or self.aux_classifier > 0, "aux_label_smoothing",
             "needs the auxiliary classifier (--aux-classifier above 0); like it, unconditional models ignore it")
        need(self.r1_every > 0, "r1_every", "must be positive")
        need(self.train_eval_clips >= 2, "train_eval_clips", "must be at least 2")
        for name in ("sample_rate", "num_channels", "latent_dim", "model_size", "kernel_len",
                     "d_updates", "batch_size", "steps", "checkpoint_every_steps",
                     "summary_every_steps", "audio_summary_every_steps", "shuffle_buffer"):
            need(getattr(self, name) > 0, name, "must be positive")
        for name in ("post_proc_filter_len", "phase_shuffle", "num_classes", "gp_lambda", "r1_gamma", "aux_classifier", "eval_every_steps",
                     "early_stop_patience",
                     "wgan_clip", "grad_clip_norm", "checkpoint_every_secs", "seed", "time_budget_secs"):
            need(getattr(self, name) >= 0, name, "must not be negative")
        for name in ("g_lr", "d_lr"):
            need(getattr(self, name) > 0, name, "must be positive")
        for name in ("g_beta1", "g_beta2", "d_beta1", "d_beta2"):
            need(0 <= getattr(self, name) < 1, name, "must be in [0, 1)")
        need(self.kernel_len >= 4, "kernel_len", "must be at least the stride (4)")
        need(self.num_classes != 1, "num_classes", "a conditional model needs at least 2 classes")
        need(not self.label_names or (len(self.label_names) == self.num_classes
                                      and len(set(self.label_names)) == len(self.label_names)
                                      and all(isinstance(n, str) and n and "\n" not in n for n in self.label_names)),
             "label_names", f"must be {self.num_classes} distinct non-empty one-line names (one per class) or empty")
        return self


def add_config_flags(parser: argparse.ArgumentParser, config_class=None, title="model and training options",
                     skip: tuple = (), only: tuple = ()) -> None:
    """Adds one --flag per config field (dashes for underscores), default None = unset;
    `only` limits it to those fields (e.g. the audio format fields that ingest needs)."""
    group = parser.add_argument_group(title)
    for f in fields(config_class or WaveGANConfig):
        if f.name in skip or (only and f.name not in only) or f.metadata.get("flag") is False:
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "") + (f" (default {f.default})" if f.default != "" else "")
        if f.type in ("bool", bool, "Optional[bool]"):
            group.add_argument(flag, dest=f.name, default=None, action=argparse.BooleanOptionalAction,
                               help=help_text)
        else:
            kind = {"int": int, "float": float, "str": str}[f.type if isinstance(f.type, str) else f.type.__name__]
            group.add_argument(flag, dest=f.name, type=kind, default=None, help=help_text)


def _int_list(text: str) -> list:
    """'256,1024' -> [256, 1024]; text that is not such a list -> [-1], which fails validation with the
    option's name."""
    try:
        return [int(n) for n in text.split(",") if n.strip()]
    except ValueError:
        return [-1]


# Options that only serve the auxiliary classifier, and their values when it is off.
_AUX_CLASSIFIER_OPTIONS = {"aux_fakes": "", "aux_label_smoothing": 0.0}


def merge_options(values: dict, given: dict) -> dict:
    """`given` over `values` (a recipe's, a run's saved options). aux_fakes and aux_label_smoothing
    only serve the auxiliary classifier: options that turn the classifier off take them with it,
    unless they set them too, so `--aux-classifier 0` over a recipe is not an error;
    aux_g_classes_only goes with aux_fakes the same way."""
    merged = {**values, **given}
    if "aux_classifier" in given and not given["aux_classifier"]:
        for name, off in _AUX_CLASSIFIER_OPTIONS.items():
            if name not in given:
                merged[name] = off
    if merged.get("aux_g_classes_only") and not merged.get("aux_fakes") and "aux_g_classes_only" not in given:
        merged["aux_g_classes_only"] = False
    return merged


def config_from_args(args: argparse.Namespace, base=None, config_class=None):
    """Overrides `base` (or the defaults) with the flags the user actually gave."""
    if config_class is None:
        config_class = type(base) if base is not None else WaveGANConfig
    values = dataclasses.asdict(base) if base is not None else {}
    given = {f.name: getattr(args, f.name) for f in fields(config_class) if getattr(args, f.name, None) is not None}
    return config_class.from_dict(merge_options(values, given))


LABEL_SOURCES = ("none", "folder", "prefix")


@dataclass
class IngestConfig(_ConfigBase):
    """How raw audio becomes training slices. Rate, channels and slice length are the
    trainer's (WaveGANConfig), passed alongside, so the two can never disagree."""

    overlap: float = field(default=0.0, metadata={"help": "overlap ratio between consecutive slices, [0, 1)"})
    first_slice_only: bool = field(default=False, metadata={"help": "keep only each file's first slice (sound effects)"})
    pad_end: bool = field(default=True, metadata={"help": "zero-pad the last (or only) slice of a file"})
    normalize: bool = field(default=False, metadata={"help": "peak-normalise each file to 1.0"})
    trim_silence: bool = field(default=False, metadata={"help": "trim leading and trailing silence"})
    drop_silent_slices: bool = field(default=True, metadata={"help": "drop slices quieter than the threshold (one-shots' tails, pauses between words); counted in the report"})
    silence_threshold_db: float = field(default=-50.0, metadata={"help": "silence level in dBFS (trim and drop)"})
    label_source: str = field(default="folder", metadata={"help": "labels: none, folder (parent folder name) or prefix (file name before the first '_')"})
    eval_percent: int = field(default=10, metadata={"help": "percent of source files in the eval split"})
    block_seconds: float = field(default=30.0, metadata={"help": "decode long files in blocks of this many seconds"})

    def validate(self) -> "IngestConfig":
        need = self._need
        need(0.0 <= self.overlap < 1.0, "overlap", "must be in [0, 1)")
        need(self.silence_threshold_db < 0, "silence_threshold_db", "must be negative (dBFS)")
        need(self.label_source in LABEL_SOURCES, "label_source", f"must be one of {LABEL_SOURCES}")
        need(0 < self.eval_percent < 100, "eval_percent", "must be in (0, 100)")
        need(self.block_seconds > 0, "block_seconds", "must be positive")
        return self
