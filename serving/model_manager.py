"""Loads, serves and retires model versions the way TF Serving does.

For each configured model, a poll lists the numeric versions under its base path
and applies the version policy (latest N, all, specific). A version is loaded
completely (SavedModel, then its warm-up requests) before requests are routed to it;
the versions it replaces keep serving until then. A version that fails to load is
reported by status() and retried only when its files change.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional

import numpy as np
from tensorflow.python.saved_model.signature_constants import DEFAULT_SERVING_SIGNATURE_DEF_KEY

from models.errors import first_line
from serving.batching import Batcher
from serving.config import BatchingParameters

log = logging.getLogger(__name__)

LOADING, AVAILABLE, UNLOADING, END = "LOADING", "AVAILABLE", "UNLOADING", "END"
BATCHED_SIGNATURE = DEFAULT_SERVING_SIGNATURE_DEF_KEY  # what a request naming no signature calls


class NotFound(LookupError):
    pass


@dataclass
class Servable:
    name: str
    version: int
    path: str
    model: object
    signatures: dict
    input_specs: dict            # signature -> {input name: tf.TensorSpec}
    batchers: Dict[str, Batcher] = field(default_factory=dict)  # signature -> its batcher

    def call(self, signature: str, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        import tensorflow as tf
        outputs = self.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        return {k: v.numpy() for k, v in outputs.items()}


@dataclass
class VersionStatus:
    state: str
    error: str = ""
    fingerprint: tuple = ()


@dataclass
class ManagedModel:
    config: object                                   # tensorflow_serving ModelConfig
    servables: Dict[int, Servable] = field(default_factory=dict)
    status: Dict[int, VersionStatus] = field(default_factory=dict)


def _fingerprint(path: str) -> tuple:
    entries = []
    for folder, _, names in os.walk(path):
        for name in names:
            stat = os.stat(os.path.join(folder, name))
            entries.append((os.path.relpath(os.path.join(folder, name), path), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))


def _replay_warmup(servable: Servable) -> None:
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2
    path = os.path.join(servable.path, "assets.extra", "tf_serving_warmup_requests")
    if not os.path.exists(path):
        return
    for record in tf.data.TFRecordDataset(path):
        request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
        servable.call(request.model_spec.signature_name or BATCHED_SIGNATURE,
                      {k: tf.make_ndarray(v) for k, v in request.inputs.items()})


def load_servable(name: str, version: int, path: str, batching: Optional[BatchingParameters],
                  batch_observer: Optional[Callable[[str, int], None]] = None) -> Servable:
    import tensorflow as tf
    model = tf.saved_model.load(path)
    signatures = dict(model.signatures)
    specs = {sig: fn.structured_input_signature[1] for sig, fn in signatures.items()}
    servable = Servable(name, version, path, model, signatures, specs)
    _replay_warmup(servable)
    for signature in (batchable_signatures(specs) if batching else []):
        def run_batch(inputs, signature=signature):
            if batch_observer:
                batch_observer(name, len(next(iter(inputs.values()))))
            return servable.call(signature, inputs)
        servable.batchers[signature] = Batcher(
            run_batch, batching.max_batch_size, batching.batch_timeout_micros / 1e6,
            max_enqueued=batching.max_enqueued_batches * batching.max_batch_size,
            name=f"batcher-{name}-{version}-{signature}", threads=batching.num_batch_threads)
    return servable


def batchable_signatures(specs: dict) -> list:
    """Signatures whose every input declares a batch dimension (first dimension unknown): requests to
    them can be joined row-wise (serving_default, serving_wav); scalar signatures (sample) cannot."""
    return [signature for signature, inputs in specs.items()
            if inputs and all(spec.shape.rank and spec.shape[0] is None for spec in inputs.values())]


class ModelManager:
    def __init__(self, server_config, batching: Optional[BatchingParameters] = None, poll_seconds: float = 2.0,
                 batch_observer: Optional[Callable[[str, int], None]] = None):
        self.batching, self.poll_seconds, self.batch_observer = batching, poll_seconds, batch_observer
        self.warned_empty: Dict[str, float] = {}  # model -> when we last said its base path holds no versions
        self.lock = threading.RLock()
        self.models: Dict[str, ManagedModel] = {}
        self.stopped = threading.Event()
        self.thread: Optional[threading.Thread] = None
        self.listeners = []  # called with (model name, has an available version) after each poll
        self.reload_config(server_config)

    # ----- configuration -----
    def reload_config(self, server_config) -> None:
        """Adopts a new ModelServerConfig: models added, dropped, policies changed; then polls."""
        configs = {c.name: c for c in server_config.model_config_list.config}
        with self.lock:
            for name in list(self.models):
                if name not in configs:
                    for version in list(self.models[name].servables):
                        self._unload(name, version)
                    del self.models[name]
            for name, config in configs.items():
                if name in self.models:
                    self.models[name].config = config
                else:
                    self.models[name] = ManagedModel(config)
        self.poll()

    # ----- polling -----
    def start(self) -> None:
        self.thread = threading.Thread(target=self._poll_loop, name="model-poller", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        if self.thread:
            self.thread.join(timeout=30)
        with self.lock:
            for name, model in self.models.items():
                for version in list(model.servables):
                    self._unload(name, version)

    def _poll_loop(self):
        while not self.stopped.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - a bad poll must not stop serving
                log.exception("model poll failed")

    def poll(self) -> None:
        from serving.model_dirs import versions
        with self.lock:
            names = list(self.models)
        for name in names:
            with self.lock:
                model = self.models.get(name)
                if model is None:
                    continue
                config = model.config
            on_disk = versions(config.base_path)
            self._warn_if_empty(name, config.base_path, on_disk)
            wanted = self._wanted(config, on_disk)
            for version in wanted:
                self._maybe_load(name, version, os.path.join(config.base_path, str(version)))
            with self.lock:
                model = self.models.get(name)
                if model is None:
                    continue
                loaded_wanted = [v for v in wanted if v in model.servables]
                for version in list(model.servables):
                    # Retire a version only once something it should give way to serves.
                    if version not in wanted and (loaded_wanted or version not in on_disk):
                        self._unload(name, version)
                available = bool(model.servables)
            for listener in self.listeners:
                listener(name, available)

    EMPTY_WARNING_EVERY_S = 60.0

    def _warn_if_empty(self, name, base_path, on_disk):
        """Says so (as TF Serving logs it) when a base path holds no numbered versions; once a minute."""
        if on_disk:
            self.warned_empty.pop(name, None)
            return
        now = time.monotonic()
        if now - self.warned_empty.get(name, -self.EMPTY_WARNING_EVERY_S) >= self.EMPTY_WARNING_EVERY_S:
            self.warned_empty[name] = now
            log.warning("No versions of servable %s found under base path %s (it needs numbered version folders "
                        "such as %s/1 holding a SavedModel)", name, base_path, base_path)

    @staticmethod
    def _wanted(config, on_disk):
        policy = config.model_version_policy
        which = policy.WhichOneof("policy_choice")
        if which == "all":
            return list(on_disk)
        if which == "specific":
            return [v for v in on_disk if v in set(policy.specific.versions)]
        count = policy.latest.num_versions if which == "latest" else 1
        return on_disk[-max(count, 1):]

    def _maybe_load(self, name, version, path):
        with self.lock:
            model = self.models[name]
            if version in model.servables:
                return
            previous = model.status.get(version)
        fingerprint = _fingerprint(path)
        if previous and previous.state == END and previous.error and previous.fingerprint == fingerprint:
            return  # failed before and unchanged since: do not retry
        with self.lock:
            model.status[version] = VersionStatus(LOADING, fingerprint=fingerprint)
        try:
            servable = load_servable(name, version, path, self.batching, self.batch_observer)
        except Exception as error:  # noqa: BLE001 - a corrupt version is reported, not served
            message = f"{type(error).__name__}: {first_line(error)}"
            log.error("model %s version %d failed to load: %s", name, version, message)
            with self.lock:
                model.status[version] = VersionStatus(END, message, fingerprint)
            return
        with self.lock:
            model.servables[version] = servable
            model.status[version] = VersionStatus(AVAILABLE, fingerprint=fingerprint)
        log.info("model %s version %d is available", name, version)

    def _unload(self, name, version):
        model = self.models[name]
        servable = model.servables.pop(version)
        model.status[version] = VersionStatus(UNLOADING)
        for batcher in servable.batchers.values():
            batcher.stop()
        model.status[version] = VersionStatus(END)
        log.info("model %s version %d unloaded", name, version)

    # ----- lookups -----
    def resolve(self, name: str, version: Optional[int] = None, label: str = "") -> Servable:
        with self.lock:
            model = self.models.get(name)
            if model is None:
                raise NotFound(f"model {name!r} is not served (models: {', '.join(sorted(self.models)) or 'none'})")
            if label:
                if label not in model.config.version_labels:
                    raise NotFound(f"model {name!r} has no version label {label!r}")
                version = model.config.version_labels[label]
            if version is None:
                if not model.servables:
                    raise NotFound(f"model {name!r} has no available version")
                version = max(model.servables)
            servable = model.servables.get(version)
            if servable is None:
                raise NotFound(f"model {name!r} version {version} is not available")
            return servable

    def status(self, name: str, version: Optional[int] = None) -> Dict[int, VersionStatus]:
        with self.lock:
            model = self.models.get(name)
            if model is None:
                raise NotFound(f"model {name!r} is not served")
            if version is not None:
                if version not in model.status:
                    raise NotFound(f"model {name!r} has no version {version}")
                return {version: model.status[version]}
            return dict(model.status)
