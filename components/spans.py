"""Which ingested spans the Trainer reads: the latest N, or all (a window of spans).

Each span is ingested on its own, once. AudioExampleGen writes `span.json` into its
Examples folder after everything else, so a folder without it (an ingest that failed
midway) is never read. The Trainer lists the Examples folders beside the current one
(the same pipeline root: a plain listing, so it works on Kubeflow as well, without a
Resolver), keeps the newest complete ingest of each span, and reads the last N spans'
train files as one stream.
"""
from __future__ import annotations

import json
import os

MARKER = "span.json"


def write_span_marker(examples_uri: str, span: int) -> None:
    import tensorflow as tf
    with tf.io.gfile.GFile(os.path.join(examples_uri, MARKER), "w") as f:
        f.write(json.dumps({"span": span}))


def _span_of(examples_uri: str):
    import tensorflow as tf
    path = os.path.join(examples_uri, MARKER)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return int(json.load(f)["span"])


def _execution_order(name: str):
    return (0, int(name)) if name.isdigit() else (1, name)


def span_window(examples_uri: str, window: int) -> dict:
    """{span: Examples folder} of the last `window` spans up to the current one (0: all of them).

    Without a marker (an ingest outside the pipeline) the current folder is the only span.
    """
    import tensorflow as tf
    current = _span_of(examples_uri)
    if current is None:
        return {0: examples_uri}
    parent = os.path.dirname(examples_uri.rstrip("/"))
    newest = {}
    for name in sorted((n.rstrip("/") for n in tf.io.gfile.listdir(parent)), key=_execution_order):
        span = _span_of(os.path.join(parent, name))
        if span is not None and span <= current:
            newest[span] = os.path.join(parent, name)  # later executions replace earlier ones
    newest[current] = examples_uri.rstrip("/")
    chosen = sorted(newest)[-window:] if window > 0 else sorted(newest)
    return {span: newest[span] for span in chosen}


def train_files(spans: dict) -> list:
    import tensorflow as tf
    return sorted(f for uri in spans.values() for f in tf.io.gfile.glob(os.path.join(uri, "Split-train", "*")))
