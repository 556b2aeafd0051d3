"""Class names: how a user's label (a name or an index) becomes the model's class index.

Names come from folder and file names, so they are untrusted text: `file_part` makes
one safe to put in a file name, and every page shows them as text, never as HTML.
"""
from __future__ import annotations

import re

from models.config import ConfigError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def known_labels(cfg) -> str:
    """The labels a user may give, for error messages."""
    if cfg.label_names:
        return "known labels: " + ", ".join(cfg.label_names)
    return f"this model has no class names (exported before they were kept): give an index in [0, {cfg.num_classes})"


def resolve_label(label, cfg) -> int:
    """The class index of `label`: a class name first, else an index (an int or a string of digits)."""
    if not cfg.conditional:
        raise ConfigError("this model is unconditional: it takes no label")
    if label is None:
        raise ConfigError(f"this model is conditional: give a label ({known_labels(cfg)})")
    if isinstance(label, str) and label in cfg.label_names:
        return list(cfg.label_names).index(label)
    try:
        index = int(label)
    except (TypeError, ValueError):
        raise ConfigError(f"unknown label {label!r}: {known_labels(cfg)}") from None
    if not 0 <= index < cfg.num_classes:
        raise ConfigError(f"label {label!r} is neither a class name nor an index in [0, {cfg.num_classes}): "
                          f"{known_labels(cfg)}")
    return index


def label_name(cfg, index: int) -> str:
    """The name of class `index` (its index as text when the model has no names)."""
    return cfg.label_names[index] if cfg.label_names else str(index)


def file_part(name: str) -> str:
    """`name` as one safe file-name part: no separators, no '..', never empty or hidden."""
    cleaned = _UNSAFE.sub("_", str(name)).strip("._") or "label"
    return cleaned[:80]
