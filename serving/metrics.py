"""Prometheus metrics of the embedded server, and TF Serving's monitoring config file.

One registry per server (tests run several servers in one process). Requests are
counted by model, signature, front door and status code; latencies and batch sizes
are histograms; version states are read from the model manager at scrape time.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from serving.config import ServingConfigError

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
TF_SERVING_PREFIX = ":tensorflow:serving:"  # TF Serving's metric paths (/tensorflow/serving/...) as it exports them
# TF Serving's request-latency buckets: microseconds, 10 * 1.8^k for 33 buckets (about 20 minutes).
TF_SERVING_LATENCY_BUCKETS = tuple(10 * 1.8 ** k for k in range(33))


class _VersionStates:
    """serving_model_version_state{model, version, state} = 1 for each version's current state."""

    def __init__(self, manager):
        self.manager = manager

    def collect(self):
        family = GaugeMetricFamily("serving_model_version_state", "state of each model version (1 = current)",
                                   labels=["model", "version", "state"])
        with self.manager.lock:
            states = [(name, version, status.state) for name, model in self.manager.models.items()
                      for version, status in model.status.items()]
        for name, version, state in states:
            family.add_metric([name, str(version), state], 1)
        yield family


class _TFServingCounts:
    """:tensorflow:serving:request_count{model_name, status}, named and labelled as TF Serving's Prometheus
    export writes it (no _total suffix, which prometheus_client's Counter would add)."""

    def __init__(self):
        self.counts, self.lock = {}, threading.Lock()

    def inc(self, model: str, status: str) -> None:
        with self.lock:
            self.counts[(model, status)] = self.counts.get((model, status), 0) + 1

    def collect(self):
        family = Metric(f"{TF_SERVING_PREFIX}request_count", "The total number of requests.", "untyped")
        with self.lock:
            for (model, status), count in sorted(self.counts.items()):
                family.add_sample(family.name, {"model_name": model, "status": status}, count)
        yield family


class ServingMetrics:
    """Ours (serving_*, by signature and door) and TF Serving's own names (:tensorflow:serving:*, latency in
    microseconds with its buckets), so a dashboard made for TF Serving works unchanged."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("serving_requests", "requests answered", ["model", "signature", "api", "code"],
                                registry=self.registry)
        self.latency = Histogram("serving_request_latency_seconds", "time from request to answer",
                                 ["model", "signature", "api"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("serving_batch_size", "examples per model call of the batcher", ["model"],
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        self.tf_requests = _TFServingCounts()
        self.registry.register(self.tf_requests)
        self.tf_latency = Histogram(f"{TF_SERVING_PREFIX}request_latency", "Distribution of wall time (in "
                                    "microseconds) for Tensorflow Serving request.", ["model_name", "API", "entrypoint"],
                                    buckets=TF_SERVING_LATENCY_BUCKETS, registry=self.registry)
        self.tf_batch_size = Histogram(f"{TF_SERVING_PREFIX}batching_session:processed_batch_size",
                                       "Tracks the batch size distribution on processing.",
                                       buckets=BATCH_BUCKETS, registry=self.registry)

    def watch(self, manager) -> None:
        """Reports the version states of this model manager at every scrape."""
        self.registry.register(_VersionStates(manager))

    def observe_request(self, model: str, signature: str, api: str, code: str, seconds: float,
                        method: str = "Predict") -> None:
        self.requests.labels(model, signature, api, code).inc()
        self.latency.labels(model, signature, api).observe(seconds)
        self.tf_requests.inc(model, code)
        self.tf_latency.labels(model, method, api.upper()).observe(seconds * 1e6)

    def observe_batch(self, model: str, size: int) -> None:
        self.batch_size.labels(model).observe(size)
        self.tf_batch_size.observe(size)

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass
class MonitoringConfig:
    enable: bool = False
    path: str = "/monitoring/prometheus/metrics"


def _monitoring_message_class():
    """TF Serving's MonitoringConfig proto (not shipped in tensorflow-serving-api), built from its fields."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    pool = descriptor_pool.DescriptorPool()
    proto = descriptor_pb2.FileDescriptorProto(name="monitoring_config.proto", package="tensorflow.serving",
                                               syntax="proto3")
    prometheus = proto.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
                         label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    prometheus.field.add(name="path", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                         label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    monitoring = proto.message_type.add(name="MonitoringConfig")
    monitoring.field.add(name="prometheus_config", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                         type_name=".tensorflow.serving.PrometheusConfig",
                         label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    pool.Add(proto)
    descriptor = pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.22
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


def read_monitoring_config(path: str) -> MonitoringConfig:
    """Parses a --monitoring_config_file (text proto) strictly: a typo is an error, not silence."""
    from google.protobuf import text_format
    try:
        with open(path) as f:
            message = text_format.Parse(f.read(), _monitoring_message_class()())
    except (OSError, text_format.ParseError) as error:
        raise ServingConfigError(f"cannot read monitoring config {path}: {error}") from None
    prometheus = message.prometheus_config
    path_value = prometheus.path or MonitoringConfig.path
    if not path_value.startswith("/"):
        raise ServingConfigError(f"{path}: prometheus_config.path must start with '/', got {path_value!r}")
    return MonitoringConfig(enable=prometheus.enable, path=path_value)
