"""What both front doors (gRPC and REST) do with a request, in one place.

Finding the servable, checking inputs against its signature, enforcing the batch and
deadline limits, running the model (through the batcher where there is one) and
counting the request. Errors carry a gRPC status code; the REST door maps it to HTTP.
"""
from __future__ import annotations

import concurrent.futures
import math
import os
import re
import time
from typing import Callable, Dict, Optional

import grpc
import numpy as np
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import status_pb2 as serving_status_pb2

from models.errors import first_line
from serving.batching import QueueFull
from serving.metrics import ServingMetrics
from serving.model_manager import (AVAILABLE, BATCHED_SIGNATURE, END, LOADING, UNLOADING, ModelManager, NotFound,
                                   VersionStatus)


class ServingError(Exception):
    """A request the server refuses, with the gRPC status code that says why."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code, self.message = code, message


STATE_CODES = {LOADING: get_model_status_pb2.ModelVersionStatus.LOADING,
               AVAILABLE: get_model_status_pb2.ModelVersionStatus.AVAILABLE,
               UNLOADING: get_model_status_pb2.ModelVersionStatus.UNLOADING,
               END: get_model_status_pb2.ModelVersionStatus.END}


def status_response(statuses) -> get_model_status_pb2.GetModelStatusResponse:
    """GetModelStatusResponse for {version: VersionStatus} (the REST door prints it as JSON)."""
    response = get_model_status_pb2.GetModelStatusResponse()
    for number, status in sorted(statuses.items()):
        entry = response.model_version_status.add(version=number, state=STATE_CODES[status.state])
        entry.status.CopyFrom(serving_status_pb2.StatusProto(error_code=13 if status.error else 0,
                                                             error_message=status.error))
    return response


def model_error(message: str) -> str:
    """The line of a TensorFlow error that says what is wrong with the input, for the client:
    an assertion's own message (the model's checks, e.g. a label out of range), else the
    last line that is not graph bookkeeping (node names, stack-trace notices)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for line in lines:
        if "assertion failed:" in line:
            line = line[line.index("assertion failed:"):]
            found = re.search(r"\[([^\]]*)\]", line)
            return found.group(1) if found else line
    useful = [line for line in lines if not line.startswith(("[[", "Detected at node", "<stack", "Graph execution"))]
    return useful[-1] if useful else first_line(message)


def request_batch_size(specs: dict, inputs: Dict[str, np.ndarray]) -> int:
    """The examples a request asks for, by the convention a served model follows: the rows of the inputs
    whose first dimension the signature declares unknown (the batch dimension; they must agree), else, for a
    signature of scalars that draws its own batch (sample), the value of its scalar integer input `count`."""
    rows = {len(inputs[name]) for name, spec in specs.items() if spec.shape.rank and spec.shape[0] is None}
    if len(rows) > 1:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"batched inputs have different sizes {sorted(rows)}")
    if rows:
        return rows.pop()
    if "count" in specs and specs["count"].shape.rank == 0 and specs["count"].dtype.is_integer:
        if int(inputs["count"]) < 1:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "count must be at least 1")
        return int(inputs["count"])
    return 1


_RUNNER = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="model-call")


class ServingCore:
    def __init__(self, manager: ModelManager, max_batch_size: int, max_deadline_s: float,
                 metrics: Optional[ServingMetrics] = None):
        self.manager, self.max_batch_size, self.max_deadline_s = manager, max_batch_size, max_deadline_s
        self.metrics = metrics

    # ----- lookups -----
    def servable(self, name: str, version: Optional[int] = None, label: str = ""):
        try:
            return self.manager.resolve(name, version, label)
        except NotFound as error:
            raise ServingError(grpc.StatusCode.NOT_FOUND, str(error)) from None

    def status(self, name: str, version: Optional[int] = None, label: str = "") -> Dict[int, VersionStatus]:
        try:
            if label:
                version = self.manager.resolve(name, label=label).version
            return self.manager.status(name, version)
        except NotFound as error:
            raise ServingError(grpc.StatusCode.NOT_FOUND, str(error)) from None

    def signature_defs(self, servable) -> dict:
        """{name: SignatureDef} of the servable's SavedModel (internal '__' signatures left out)."""
        from tensorflow.core.protobuf import saved_model_pb2
        saved_model = saved_model_pb2.SavedModel()
        with open(os.path.join(servable.path, "saved_model.pb"), "rb") as f:
            saved_model.ParseFromString(f.read())
        return {name: signature_def for name, signature_def in saved_model.meta_graphs[0].signature_def.items()
                if not name.startswith("__")}

    # ----- predict -----
    def predict(self, api: str, name: str, version: Optional[int], label: str, signature: str,
                decode_inputs: Callable[[dict], Dict[str, np.ndarray]], timeout_s: Optional[float] = None):
        """(servable, signature, outputs); counts the request under `api` ('grpc' or 'rest').

        decode_inputs turns the request's own encoding into arrays, given the signature's
        {input name: TensorSpec}; it raises ServingError for input it cannot read.
        """
        started, signature, code = time.monotonic(), signature or BATCHED_SIGNATURE, grpc.StatusCode.OK
        try:
            servable = self.servable(name, version, label)
            if signature not in servable.signatures:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"signature {signature!r} not found "
                                                              f"(signatures: {sorted(servable.signatures)})")
            checked = self.check_inputs(servable, signature, decode_inputs(servable.input_specs[signature]))
            return servable, signature, self._run(servable, signature, checked, timeout_s)
        except ServingError as error:
            code = error.code
            raise
        except Exception:
            code = grpc.StatusCode.INTERNAL
            raise
        finally:
            if self.metrics:
                self.metrics.observe_request(name, signature, api, code.name, time.monotonic() - started)

    def check_inputs(self, servable, signature: str, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        specs = servable.input_specs[signature]
        given, expected = set(inputs), set(specs)
        if given != expected:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"signature {signature!r} takes inputs {sorted(expected)}, got {sorted(given)}")
        for name, spec in specs.items():
            value = inputs[name]
            if value.dtype != spec.dtype.as_numpy_dtype:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"input {name!r} must be {spec.dtype.name}, "
                                                                     f"got {np.dtype(value.dtype).name}")
            if not spec.shape.is_compatible_with(value.shape):
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"input {name!r} must have shape "
                                                                     f"{spec.shape.as_list()}, got {list(value.shape)}")
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"input {name!r} contains NaN or Inf")
        batch = request_batch_size(specs, inputs)
        if batch > self.max_batch_size:
            raise ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                               f"batch of {batch} is over the limit of {self.max_batch_size}")
        return inputs

    def _run(self, servable, signature, inputs, timeout_s):
        import tensorflow as tf
        timeout = min(self.max_deadline_s, timeout_s if timeout_s is not None else math.inf)
        if timeout <= 0:
            raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline expired before the request ran")
        try:
            if signature in servable.batchers:
                return servable.batchers[signature].submit(inputs).result(timeout=timeout)
            return _RUNNER.submit(servable.call, signature, inputs).result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED,
                               f"request took longer than {timeout:.3g} s") from None
        except QueueFull as error:
            raise ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED, str(error)) from None
        except tf.errors.InvalidArgumentError as error:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, model_error(error.message)) from None
