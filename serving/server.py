"""The embedded server: TF Serving's API for machines without its binary.

gRPC: PredictionService (Predict, GetModelMetadata), ModelService (GetModelStatus,
HandleReloadConfigRequest) and gRPC health checking. REST (serving.rest, when a REST
port is set): the same calls as TF Serving's JSON API, Prometheus metrics and the
synthesis studio. Both doors share one model manager, batcher, limits and token.
Clients written against the official tensorflow_serving.apis stubs or TF Serving's
REST documentation work unchanged against it or against tensorflow_model_server.
"""
from __future__ import annotations

import concurrent.futures
import logging
from dataclasses import dataclass
from typing import Optional

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from tensorflow_serving.apis import (get_model_metadata_pb2, model_management_pb2,
                                     model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc)
from tensorflow_serving.apis import status_pb2 as serving_status_pb2

from serving.auth import bearer_token_ok
from serving.config import BatchingParameters, ServingConfigError, browsable_host, host_port
from serving.core import ServingCore, ServingError, status_response
from serving.metrics import MonitoringConfig, ServingMetrics
from serving.model_manager import ModelManager

log = logging.getLogger(__name__)

@dataclass
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 8500
    max_batch_size: int = 64          # largest batch one request may ask for
    max_request_bytes: int = 4 << 20
    max_deadline_s: float = 30.0      # cap on how long one request may take
    token: str = ""                   # bearer token required on every call (health excepted)
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""           # set: clients must present a certificate it signed (mutual TLS)
    workers: int = 32
    rest_port: Optional[int] = None   # None: no REST door; 0: any free port
    ui: bool = True                   # the synthesis studio at / on the REST port
    monitoring: MonitoringConfig = None  # Prometheus metrics on the REST port when enabled


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, core: ServingCore):
        self.core = core

    @staticmethod
    def _version(model_spec):
        return model_spec.version.value if model_spec.HasField("version") else None

    def Predict(self, request, context):
        import tensorflow as tf
        spec = request.model_spec
        try:
            servable, signature, outputs = self.core.predict(
                "grpc", spec.name, self._version(spec), spec.version_label, spec.signature_name,
                lambda specs: {name: _ndarray(name, proto) for name, proto in request.inputs.items()},
                context.time_remaining())
        except ServingError as error:
            context.abort(error.code, error.message)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = signature
        wanted = set(request.output_filter) or set(outputs)
        for name in wanted:
            if name not in outputs:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unknown output {name!r}")
            response.outputs[name].CopyFrom(tf.make_tensor_proto(np.ascontiguousarray(outputs[name])))
        return response

    def GetModelMetadata(self, request, context):
        spec = request.model_spec
        try:
            servable = self.core.servable(spec.name, self._version(spec), spec.version_label)
        except ServingError as error:
            context.abort(error.code, error.message)
        fields = set(request.metadata_field)
        if fields - {"signature_def"}:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unsupported metadata fields: {sorted(fields)}")
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for name, signature_def in self.core.signature_defs(servable).items():
            signature_map.signature_def[name].CopyFrom(signature_def)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.metadata["signature_def"].Pack(signature_map)
        return response


def _ndarray(name, proto) -> np.ndarray:
    import tensorflow as tf
    try:
        return tf.make_ndarray(proto)
    except Exception as error:  # noqa: BLE001 - malformed TensorProto
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"input {name!r}: {error}") from None


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, core: ServingCore):
        self.core = core

    def GetModelStatus(self, request, context):
        spec = request.model_spec
        try:
            statuses = self.core.status(spec.name, spec.version.value if spec.HasField("version") else None,
                                        spec.version_label)
        except ServingError as error:
            context.abort(error.code, error.message)
        return status_response(statuses)

    def HandleReloadConfigRequest(self, request, context):
        if not request.config.model_config_list.config:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the new config lists no models")
        self.core.manager.reload_config(request.config)
        return model_management_pb2.ReloadConfigResponse(status=serving_status_pb2.StatusProto(error_code=0))


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Rejects calls without 'authorization: Bearer <token>' (health checks excepted)."""

    def __init__(self, token: str):
        self.token = token

        def deny(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        self.deny = grpc.unary_unary_rpc_method_handler(deny)

    def intercept_service(self, continuation, details):
        if details.method.startswith("/grpc.health.v1.Health/"):
            return continuation(details)
        metadata = dict(details.invocation_metadata or ())
        if not bearer_token_ok(metadata.get("authorization", ""), self.token):
            return self.deny
        return continuation(details)


class EmbeddedServer:
    """The running server: start(), port (gRPC), rest_port, stop(). Binds options.host (127.0.0.1 by default)."""

    def __init__(self, server_config, options: ServerOptions = None, batching: Optional[BatchingParameters] = None,
                 poll_seconds: float = 2.0):
        self.options = options or ServerOptions()
        self.metrics = ServingMetrics()
        self.manager = ModelManager(server_config, batching, poll_seconds, batch_observer=self.metrics.observe_batch)
        self.metrics.watch(self.manager)
        self.core = ServingCore(self.manager, self.options.max_batch_size, self.options.max_deadline_s, self.metrics)
        self.health = health.HealthServicer()
        self.manager.listeners.append(self._set_health)
        for name, model in self.manager.models.items():
            self._set_health(name, bool(model.servables))
        self.server = self._grpc_server()
        self.rest = None
        if self.options.rest_port is not None:
            from serving.rest import RestServer
            self.rest = RestServer(self.core, self.options, self.metrics)
        self.rest_port = self.rest.port if self.rest else None

    def _grpc_server(self):
        largest_response = self.options.max_batch_size * 65536 * 8 * 4 + (1 << 20)
        interceptors = [BearerTokenInterceptor(self.options.token)] if self.options.token else []
        server = grpc.server(
            concurrent.futures.ThreadPoolExecutor(max_workers=self.options.workers), interceptors=interceptors,
            options=[("grpc.max_receive_message_length", self.options.max_request_bytes),
                     ("grpc.max_send_message_length", largest_response)])
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(self.core), server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(self.core), server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        address = host_port(self.options.host, self.options.port)
        if self.options.tls_cert:
            credentials = grpc.ssl_server_credentials(
                [(_read(self.options.tls_key), _read(self.options.tls_cert))],
                root_certificates=_read(self.options.tls_client_ca) if self.options.tls_client_ca else None,
                require_client_auth=bool(self.options.tls_client_ca))
            self.port = server.add_secure_port(address, credentials)
        else:
            self.port = server.add_insecure_port(address)
        if not self.port:
            raise ServingConfigError(f"cannot bind {address} (in use, or not an address of this machine)")
        return server

    def _set_health(self, name: str, available: bool):
        status = health_pb2.HealthCheckResponse.SERVING if available else health_pb2.HealthCheckResponse.NOT_SERVING
        self.health.set(name, status)
        any_available = any(m.servables for m in self.manager.models.values())
        self.health.set("", health_pb2.HealthCheckResponse.SERVING if any_available
                        else health_pb2.HealthCheckResponse.NOT_SERVING)

    def start(self) -> "EmbeddedServer":
        self.manager.start()
        self.server.start()
        log.info("serving gRPC on %s:%d", self.options.host, self.port)
        if self.rest:
            self.rest.start()
            log.info("serving REST on %s:%d", self.options.host, self.rest_port)
        return self

    def stop(self, grace: float = 2.0) -> None:
        if self.rest:
            self.rest.stop()
        self.server.stop(grace).wait()
        self.manager.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def run_until_stopped(server_config, options: ServerOptions, batching: Optional[BatchingParameters],
                      poll_seconds: float = 2.0) -> None:
    """`wavegan serve`: starts the server, says where it listens, serves until SIGTERM or Ctrl-C."""
    import signal
    import threading
    server = EmbeddedServer(server_config, options, batching, poll_seconds).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    names = ", ".join(c.name for c in server_config.model_config_list.config)
    print(f"serving {names}: gRPC on {host_port(options.host, server.port)} (TF Serving API; Ctrl-C stops)",
          flush=True)
    if server.rest:
        scheme = "https" if options.tls_cert else "http"
        url = f"{scheme}://{host_port(browsable_host(options.host), server.rest_port)}"
        print(f"REST API (TF Serving JSON): {url}/v1/models/{server_config.model_config_list.config[0].name}",
              flush=True)
        if options.ui:
            print(f"synthesis studio: open {url}/ in a browser", flush=True)
        if options.monitoring and options.monitoring.enable:
            print(f"Prometheus metrics: {url}{options.monitoring.path}", flush=True)
    stop.wait()
    server.stop()
