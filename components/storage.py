"""Folders written locally, then published to an artifact URI (local path or gs://, s3://).

Keras and matplotlib write to local files only; on Kubeflow and Vertex the artifact
URIs are object-store paths, so such outputs are made in a temporary folder and copied.
"""
import contextlib
import os
import shutil
import tempfile


def is_remote(uri: str) -> bool:
    return "://" in uri


def copy_tree(source: str, destination: str, last: str = "") -> None:
    """Copies a folder to a local path or an object store (tf.io.gfile), replacing it.

    `last` names a top-level file copied after all others: readers that wait for it
    never see a half-copied folder (object stores cannot rename folders atomically)."""
    import tensorflow as tf
    if tf.io.gfile.exists(destination):
        tf.io.gfile.rmtree(destination)
    for folder, _, names in os.walk(source):
        target = os.path.join(destination, os.path.relpath(folder, source))
        tf.io.gfile.makedirs(target)
        for name in names:
            if not (folder == source and name == last):
                tf.io.gfile.copy(os.path.join(folder, name), os.path.join(target, name), overwrite=True)
    if last:
        tf.io.gfile.copy(os.path.join(source, last), os.path.join(destination, last), overwrite=True)


@contextlib.contextmanager
def local_folder(uri: str, last: str = ""):
    """Yields a local folder standing for `uri`: the folder itself, or a temporary one copied there
    at the end (`last` as in copy_tree)."""
    if not is_remote(uri):
        os.makedirs(uri, exist_ok=True)
        yield uri
        return
    staging = tempfile.mkdtemp(prefix="wavegan-")
    try:
        yield staging
        copy_tree(staging, uri, last)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def local_copy(uri: str):
    """Yields a local path holding the folder at `uri` (downloaded when remote)."""
    if not is_remote(uri):
        yield uri
        return
    import tensorflow as tf
    staging = tempfile.mkdtemp(prefix="wavegan-")
    try:
        for folder, _, names in tf.io.gfile.walk(uri):
            target = os.path.join(staging, os.path.relpath(folder, uri))
            os.makedirs(target, exist_ok=True)
            for name in names:
                tf.io.gfile.copy(os.path.join(folder, name), os.path.join(target, name), overwrite=True)
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
