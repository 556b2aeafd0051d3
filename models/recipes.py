"""Named training recipes: the model size and training options that go together.

`paper` is the WaveGAN paper's (d=64, batch 64, WGAN-GP with five critic updates),
made for days on a GPU. `cpu` and `gpu` are the recipe the FSDD ablation chose
(bench/ablation.py, README "Choosing the recipe") at a CPU's and a GPU's model size.
`auto`, the default, is `gpu` on a machine with a GPU and `cpu` without one. A recipe
sets every field it names, so options never mix between recipes; a config file and
flags override it.
"""
from __future__ import annotations

from models.config import ConfigError

# The options the ablation compared; every recipe sets each of them.
_PAPER_OPTIONS = dict(loss="wgan-gp", d_updates=5, g_lr=1e-4, d_lr=1e-4, gp_lambda=10.0, r1_gamma=0.0,
                      r1_every=1, g_ema_decay=0.0, augment="", label_film=False, label_film_shift=True,
                      aux_classifier=0.0, aux_fakes="", aux_g_classes_only=False, aux_label_smoothing=0.0,
                      spectral_critic="", period_critic="")
# Chosen by bench/ablation.py (README "Choosing the recipe"): the cheap critic (non-saturating loss,
# lazy R1, 2 critic updates, TTUR), the averaged G and an auxiliary classifier. FiLM won a little on FSDD
# but broke the drums (a steady comb of tones from its per-class shift, judged one class), so it is off;
# the spectral critic and augmentation measured no better on FSDD and stay options. The class head also
# learns generated audio (aux_fakes): real-only, G fooled it with cues no listener hears (20 minutes per
# arm: IS ratio 0.55 against 0.43 on FSDD, 0.65 against 0.47 on the drums).
_CHOSEN_OPTIONS = dict(loss="dcgan", d_updates=2, g_lr=1e-4, d_lr=2e-4, gp_lambda=10.0, r1_gamma=1.0,
                       r1_every=4, g_ema_decay=0.999, augment="", label_film=False, label_film_shift=True,
                       aux_classifier=1.0, aux_fakes="class", aux_g_classes_only=False, aux_label_smoothing=0.0,
                       spectral_critic="", period_critic="")

RECIPES = {
    "paper": dict(model_size=64, batch_size=64, **_PAPER_OPTIONS),
    "cpu": dict(model_size=16, batch_size=16, **_CHOSEN_OPTIONS),
    "gpu": dict(model_size=64, batch_size=64, **_CHOSEN_OPTIONS),
}
RECIPE_NAMES = ("auto", *RECIPES)
WHY = {
    "cpu": "no GPU found: d=16, batch 16 (the paper's d=64 takes about 78 s a step on a 2-core CPU)",
    "gpu": "a GPU was found: paper scale, d=64, batch 64",
}


def has_gpu() -> bool:
    """TensorFlow's answer once it is loaded; before, the NVIDIA driver's list of GPUs (checking a
    config must not take TensorFlow's seconds-long import)."""
    import os
    import sys
    if "tensorflow" in sys.modules:
        return bool(sys.modules["tensorflow"].config.list_physical_devices("GPU"))
    gpus = "/proc/driver/nvidia/gpus"
    return os.path.isdir(gpus) and bool(os.listdir(gpus))


def resolve_recipe(name: str, gpu: bool = None) -> tuple:
    """(recipe name, its field values, why it was chosen) for a name of RECIPE_NAMES."""
    if name not in RECIPE_NAMES:
        raise ConfigError(f"invalid recipe={name!r}: must be one of {RECIPE_NAMES}")
    if name != "auto":
        return name, dict(RECIPES[name]), "asked for"
    chosen = "gpu" if (has_gpu() if gpu is None else gpu) else "cpu"
    return chosen, dict(RECIPES[chosen]), WHY[chosen]


def describe(name: str, why: str) -> str:
    values = RECIPES[name]
    options = ", ".join(f"{k}={v}" for k, v in values.items() if v not in ("", False, 0.0) or k == "loss")
    return f"recipe {name} ({why}): {options}"
