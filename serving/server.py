"""The embedded gRPC server: TF Serving's API for machines without its binary.

PredictionService (Predict, GetModelMetadata), ModelService (GetModelStatus,
HandleReloadConfigRequest) and gRPC health checking, over serving.model_manager.
Clients written against the official tensorflow_serving.apis stubs work unchanged
against it or against tensorflow_model_server.
"""
from __future__ import annotations

import concurrent.futures
import logging
import math
import os
from dataclasses import dataclass
from typing import Optional

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_management_pb2,
                                     model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc)
from tensorflow_serving.apis import status_pb2 as serving_status_pb2

from serving.batching import QueueFull
from serving.config import BatchingParameters
from serving.model_manager import AVAILABLE, BATCHED_SIGNATURE, END, LOADING, UNLOADING, ModelManager, NotFound

log = logging.getLogger(__name__)

STATE_CODES = {LOADING: get_model_status_pb2.ModelVersionStatus.LOADING,
               AVAILABLE: get_model_status_pb2.ModelVersionStatus.AVAILABLE,
               UNLOADING: get_model_status_pb2.ModelVersionStatus.UNLOADING,
               END: get_model_status_pb2.ModelVersionStatus.END}


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


class _Abort(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def _dtype_name(dtype) -> str:
    return np.dtype(dtype).name


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, manager: ModelManager, options: ServerOptions):
        self.manager, self.options = manager, options

    def _servable(self, model_spec):
        version = model_spec.version.value if model_spec.HasField("version") else None
        try:
            return self.manager.resolve(model_spec.name, version, model_spec.version_label)
        except NotFound as error:
            raise _Abort(grpc.StatusCode.NOT_FOUND, str(error)) from None

    def _inputs(self, servable, signature, request) -> dict:
        import tensorflow as tf
        specs = servable.input_specs[signature]
        given, expected = set(request.inputs), set(specs)
        if given != expected:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                         f"signature {signature!r} takes inputs {sorted(expected)}, got {sorted(given)}")
        inputs = {}
        for name, spec in specs.items():
            proto = request.inputs[name]
            try:
                value = tf.make_ndarray(proto)
            except Exception as error:  # noqa: BLE001 - malformed TensorProto
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"input {name!r}: {error}") from None
            if value.dtype != spec.dtype.as_numpy_dtype:
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"input {name!r} must be {spec.dtype.name}, "
                                                               f"got {_dtype_name(value.dtype)}")
            if not spec.shape.is_compatible_with(value.shape):
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                             f"input {name!r} must have shape {spec.shape.as_list()}, got {list(value.shape)}")
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"input {name!r} contains NaN or Inf")
            inputs[name] = value
        batch = int(inputs["count"]) if "count" in inputs else len(next(iter(inputs.values())))
        if "count" in inputs and batch < 1:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "count must be at least 1")
        if batch > self.options.max_batch_size:
            raise _Abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                         f"batch of {batch} is over the limit of {self.options.max_batch_size}")
        if servable.num_classes and "label" in inputs:
            labels = np.asarray(inputs["label"])
            if labels.size and (labels.min() < 0 or labels.max() >= servable.num_classes):
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                             f"label out of range [0, {servable.num_classes})")
        return inputs

    def _run(self, servable, signature, inputs, context):
        import tensorflow as tf
        remaining = context.time_remaining()
        timeout = min(self.options.max_deadline_s, remaining if remaining is not None else math.inf)
        if timeout <= 0:
            raise _Abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline expired before the request ran")
        try:
            if signature == BATCHED_SIGNATURE and servable.batcher is not None:
                return servable.batcher.submit(inputs).result(timeout=timeout)
            pool_future = _RUNNER.submit(servable.call, signature, inputs)
            return pool_future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            raise _Abort(grpc.StatusCode.DEADLINE_EXCEEDED, f"request took longer than {timeout:.3g} s") from None
        except QueueFull as error:
            raise _Abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(error)) from None
        except tf.errors.InvalidArgumentError as error:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, error.message.splitlines()[0]) from None

    def Predict(self, request, context):
        import tensorflow as tf
        try:
            servable = self._servable(request.model_spec)
            signature = request.model_spec.signature_name or BATCHED_SIGNATURE
            if signature not in servable.signatures:
                raise _Abort(grpc.StatusCode.NOT_FOUND, f"signature {signature!r} not found "
                                                        f"(signatures: {sorted(servable.signatures)})")
            outputs = self._run(servable, signature, self._inputs(servable, signature, request), context)
        except _Abort as abort:
            context.abort(abort.code, abort.message)
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
        from tensorflow.core.protobuf import saved_model_pb2
        try:
            servable = self._servable(request.model_spec)
        except _Abort as abort:
            context.abort(abort.code, abort.message)
        fields = set(request.metadata_field)
        if fields - {"signature_def"}:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unsupported metadata fields: {sorted(fields)}")
        saved_model = saved_model_pb2.SavedModel()
        with open(os.path.join(servable.path, "saved_model.pb"), "rb") as f:
            saved_model.ParseFromString(f.read())
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for name, signature_def in saved_model.meta_graphs[0].signature_def.items():
            if not name.startswith("__"):
                signature_map.signature_def[name].CopyFrom(signature_def)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.metadata["signature_def"].Pack(signature_map)
        return response


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, manager: ModelManager):
        self.manager = manager

    def GetModelStatus(self, request, context):
        spec = request.model_spec
        version = spec.version.value if spec.HasField("version") else None
        try:
            if spec.version_label:
                version = self.manager.resolve(spec.name, label=spec.version_label).version
            statuses = self.manager.status(spec.name, version)
        except NotFound as error:
            context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        response = get_model_status_pb2.GetModelStatusResponse()
        for number, status in sorted(statuses.items()):
            entry = response.model_version_status.add(version=number, state=STATE_CODES[status.state])
            if status.error:
                entry.status.CopyFrom(serving_status_pb2.StatusProto(error_code=13, error_message=status.error))
        return response

    def HandleReloadConfigRequest(self, request, context):
        if not request.config.model_config_list.config:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the new config lists no models")
        self.manager.reload_config(request.config)
        return model_management_pb2.ReloadConfigResponse(status=serving_status_pb2.StatusProto(error_code=0))


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Rejects calls without 'authorization: Bearer <token>' (health checks excepted)."""

    def __init__(self, token: str):
        self.expected = f"Bearer {token}"

        def deny(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        self.deny = grpc.unary_unary_rpc_method_handler(deny)

    def intercept_service(self, continuation, details):
        if details.method.startswith("/grpc.health.v1.Health/"):
            return continuation(details)
        metadata = dict(details.invocation_metadata or ())
        if metadata.get("authorization") != self.expected:
            return self.deny
        return continuation(details)


_RUNNER = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="model-call")


class EmbeddedServer:
    """The running server: start(), port, stop(). Binds options.host (127.0.0.1 by default)."""

    def __init__(self, server_config, options: ServerOptions = None, batching: Optional[BatchingParameters] = None,
                 poll_seconds: float = 2.0):
        self.options = options or ServerOptions()
        self.manager = ModelManager(server_config, batching, poll_seconds)
        self.health = health.HealthServicer()
        self.manager.listeners.append(self._set_health)
        for name, model in self.manager.models.items():
            self._set_health(name, bool(model.servables))
        largest_response = self.options.max_batch_size * 65536 * 8 * 4 + (1 << 20)
        interceptors = [BearerTokenInterceptor(self.options.token)] if self.options.token else []
        self.server = grpc.server(
            concurrent.futures.ThreadPoolExecutor(max_workers=self.options.workers), interceptors=interceptors,
            options=[("grpc.max_receive_message_length", self.options.max_request_bytes),
                     ("grpc.max_send_message_length", largest_response)])
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionServicer(self.manager, self.options), self.server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(self.manager), self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        address = f"{self.options.host}:{self.options.port}"
        if self.options.tls_cert:
            credentials = grpc.ssl_server_credentials(
                [(open(self.options.tls_key, "rb").read(), open(self.options.tls_cert, "rb").read())],
                root_certificates=open(self.options.tls_client_ca, "rb").read() if self.options.tls_client_ca else None,
                require_client_auth=bool(self.options.tls_client_ca))
            self.port = self.server.add_secure_port(address, credentials)
        else:
            self.port = self.server.add_insecure_port(address)
        if not self.port:
            raise OSError(f"cannot bind {address}")

    def _set_health(self, name: str, available: bool):
        status = health_pb2.HealthCheckResponse.SERVING if available else health_pb2.HealthCheckResponse.NOT_SERVING
        self.health.set(name, status)
        any_available = any(m.servables for m in self.manager.models.values())
        self.health.set("", health_pb2.HealthCheckResponse.SERVING if any_available
                        else health_pb2.HealthCheckResponse.NOT_SERVING)

    def start(self) -> "EmbeddedServer":
        self.manager.start()
        self.server.start()
        log.info("serving on %s:%d", self.options.host, self.port)
        return self

    def stop(self, grace: float = 2.0) -> None:
        self.server.stop(grace).wait()
        self.manager.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
