"""The serving directory layout TF Serving polls: <base>/<model_name>/<version>/.

One place for version numbering and lookup, used by the Pusher, the trainer's warm
start, the evaluator's baseline and the gRPC server. Only numeric folders are
versions; pushes are staged in dot-folders and renamed, so no reader ever sees a
half-copied version.
"""
from __future__ import annotations

import os
import shutil
from typing import List, Optional


def versions(model_base: str) -> List[int]:
    """Numeric versions under model_base, ascending (empty if none or missing)."""
    import tensorflow as tf
    if not tf.io.gfile.isdir(model_base):
        return []
    found = []
    for name in tf.io.gfile.listdir(model_base):
        name = name.rstrip("/")
        if name.isdigit() and tf.io.gfile.exists(os.path.join(model_base, name, "saved_model.pb")):
            found.append(int(name))
    return sorted(found)


def latest_version_dir(model_base: str) -> Optional[str]:
    """The newest complete version's directory, or None."""
    found = versions(model_base)
    return os.path.join(model_base, str(found[-1])) if found else None


def push(model_dir: str, model_base: str) -> int:
    """Copies a SavedModel in as the next version (max + 1), atomically; returns it."""
    import tensorflow as tf
    tf.io.gfile.makedirs(model_base)
    version = (versions(model_base) or [0])[-1] + 1
    staging = os.path.join(model_base, f".staging-{version}-{os.getpid()}")
    if os.path.exists(staging):
        shutil.rmtree(staging)
    _copy_tree(model_dir, staging)
    tf.io.gfile.rename(staging, os.path.join(model_base, str(version)))
    return version


def _copy_tree(src: str, dst: str) -> None:
    import tensorflow as tf
    for folder, _, names in tf.io.gfile.walk(src):
        target = os.path.join(dst, os.path.relpath(folder, src))
        tf.io.gfile.makedirs(target)
        for name in names:
            tf.io.gfile.copy(os.path.join(folder, name), os.path.join(target, name), overwrite=True)
