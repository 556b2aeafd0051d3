"""Which tf.distribute strategy trains, who writes, and decisions all workers share.

Multi-worker training is TensorFlow's own MultiWorkerMirroredStrategy, configured by
the TF_CONFIG environment variable that Vertex AI, Kubeflow's TFJob and the TFX
Trainer set. Every worker runs the same loop; only the chief writes the run
directory, the others write to a private scratch folder (saving may itself be a
collective, so they must still save). Anything a worker decides alone (a SIGTERM,
a clock-based checkpoint, a time budget) is agreed through one all-reduce first,
or the workers would part ways at the next collective and hang.
"""
from __future__ import annotations

import json
import logging
import os

import tensorflow as tf

log = logging.getLogger(__name__)

STRATEGIES = ("auto", "default", "mirrored", "multi-worker")
# TensorFlow declares a worker dead after 10 s without a heartbeat; on a busy shared CPU
# node (several workers starting TensorFlow on two cores) a live worker can miss that.
HEARTBEAT_TIMEOUT_S = 60


def cluster_size(tf_config: str = None) -> int:
    """How many chief + worker tasks TF_CONFIG names (0 when it is unset)."""
    text = os.environ.get("TF_CONFIG", "") if tf_config is None else tf_config
    try:
        cluster = json.loads(text).get("cluster", {}) if text else {}
    except (ValueError, AttributeError):
        raise ValueError(f"TF_CONFIG is not valid JSON: {text[:80]!r}") from None
    return len(cluster.get("chief", [])) + len(cluster.get("worker", []))


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """auto: multi-worker when TF_CONFIG names several tasks, mirrored on a multi-GPU machine, else default.

    Create it before any other TensorFlow work: collective ops are configured once per process.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}: one of {', '.join(STRATEGIES)}")
    if name == "auto":
        if cluster_size() > 1:
            name = "multi-worker"
        elif len(tf.config.list_physical_devices("GPU")) > 1:
            name = "mirrored"
    if name == "multi-worker":
        _configure_coordination()
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        resolver = strategy.cluster_resolver
        log.info("multi-worker training: %s %d of %d workers, %d replicas", resolver.task_type,
                 resolver.task_id, cluster_size(), strategy.num_replicas_in_sync)
        return strategy
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _configure_coordination() -> None:
    """TensorFlow's own coordination-service set-up, with a heartbeat timeout a loaded node meets.

    MultiWorkerMirroredStrategy configures the service only when nobody has; the job list
    and leader are the ones it would choose.
    """
    from tensorflow.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context
    if context.context().coordination_service is not None:
        return
    spec = tf.distribute.cluster_resolver.TFConfigClusterResolver().cluster_spec()
    jobs = [coordination_config_pb2.CoordinatedJob(name=job, num_tasks=spec.num_tasks(job))
            for job in ("chief", "worker") if job in spec.jobs]
    context.context().configure_coordination_service(
        service_type="standalone", service_leader=multi_worker_util.coordination_leader(spec),
        coordinated_jobs=jobs, heartbeat_timeout_in_ms=HEARTBEAT_TIMEOUT_S * 1000)


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and cluster_size() > 1


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """The chief task, or worker 0 when the cluster has no chief; always true outside multi-worker runs."""
    if not is_multi_worker(strategy):
        return True
    resolver = strategy.cluster_resolver
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "chief" or (not has_chief and resolver.task_type == "worker"
                                             and resolver.task_id == 0)


def task_name(strategy: tf.distribute.Strategy) -> str:
    if not is_multi_worker(strategy):
        return "chief"
    return f"{strategy.cluster_resolver.task_type}-{strategy.cluster_resolver.task_id}"


class Agreement:
    """Turns one worker's wish into every worker's decision (a sum over replicas; local when alone)."""

    def __init__(self, strategy: tf.distribute.Strategy):
        self.strategy = strategy
        self.chief = is_chief(strategy)
        self._sum = None
        if is_multi_worker(strategy):
            @tf.function
            def total(value):
                per_replica = strategy.run(lambda: tf.identity(value))
                return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
            self._sum = total

    def any(self, wish: bool) -> bool:
        """True on every worker when at least one worker wishes it."""
        if self._sum is None:
            return bool(wish)
        return float(self._sum(tf.constant(float(bool(wish))))) > 0

    def chief_says(self, decision: bool) -> bool:
        """The chief's decision, on every worker."""
        if self._sum is None:
            return bool(decision)
        return float(self._sum(tf.constant(float(bool(decision) and self.chief)))) > 0
