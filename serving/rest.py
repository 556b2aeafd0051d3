"""The REST door of the embedded server: TF Serving's HTTP/JSON API on aiohttp.

  POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict   row or columnar JSON
  GET  /v1/models/{name}[/versions/{v}|/labels/{l}]           version status
  GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata  signature defs
  GET  /v1/models                                             every model (an extension: TF Serving answers 400)
  GET  <monitoring path>                                      Prometheus metrics, when enabled
  GET  /                                                      the synthesis studio (unless ui is off)

Requests run through the same ServingCore as gRPC (batching, limits, metrics); errors
are {"error": "..."} with the HTTP status TF Serving maps from the gRPC code.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import socket
import ssl
import threading
from typing import Optional

import grpc
from aiohttp import web
from google.protobuf import json_format

from serving.auth import bearer_token_ok
from serving.config import ServingConfigError
from serving.core import ServingCore, ServingError, status_response
from serving.json_tensors import JsonTensorError, dumps, encode_outputs, parse_predict_body, to_arrays
from serving.metrics import CONTENT_TYPE, ServingMetrics

STUDIO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "studio")

# TF Serving's mapping of gRPC status codes to HTTP (model_servers/http_server.cc).
HTTP_STATUS = {
    grpc.StatusCode.CANCELLED: 499, grpc.StatusCode.UNKNOWN: 500, grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504, grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400, grpc.StatusCode.ABORTED: 409, grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501, grpc.StatusCode.INTERNAL: 500, grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500, grpc.StatusCode.UNAUTHENTICATED: 401,
}
_MODEL = r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
PREDICT_PATH = re.compile(_MODEL + r":predict", re.IGNORECASE)
STATUS_PATH = re.compile(_MODEL + r"(?P<metadata>/metadata)?", re.IGNORECASE)


def json_response(body, status: int = 200) -> web.Response:
    return web.Response(body=body if isinstance(body, bytes) else dumps(body), status=status,
                        content_type="application/json")


def error_response(code: grpc.StatusCode, message: str) -> web.Response:
    return json_response({"error": message}, HTTP_STATUS.get(code, 500))


def _json_inputs(form, payload):
    def decode(specs):
        try:
            return to_arrays(form, payload, specs)
        except JsonTensorError as error:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, str(error)) from None
    return decode


class RestApi:
    """The aiohttp application; every model call runs on a worker thread, off the event loop."""

    def __init__(self, core: ServingCore, token: str = "", metrics: Optional[ServingMetrics] = None,
                 metrics_path: str = "", ui: bool = True, max_request_bytes: int = 4 << 20, workers: int = 32):
        self.core, self.token, self.metrics, self.metrics_path = core, token, metrics, metrics_path
        self.max_request_bytes = max_request_bytes
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rest")
        self.app = web.Application(client_max_size=max_request_bytes, middlewares=[self._errors_and_token])
        self.app.router.add_route("*", "/v1/{tail:.*}", self.v1)
        if metrics and metrics_path:
            self.app.router.add_get(metrics_path, self.prometheus)
        if ui:
            self.app.router.add_get("/", self.studio_page)
            self.app.router.add_static("/studio/", STUDIO_DIR)

    @web.middleware
    async def _errors_and_token(self, request, handler):
        guarded = request.path.startswith("/v1/") or request.path == self.metrics_path
        if guarded and self.token and not bearer_token_ok(request.headers.get("Authorization", ""), self.token):
            return error_response(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return self._too_large()
        except ServingError as error:
            return error_response(error.code, error.message)

    def _too_large(self) -> web.Response:
        return json_response({"error": f"request body over the limit of {self.max_request_bytes} bytes"}, 413)

    async def _in_worker(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def v1(self, request: web.Request) -> web.Response:
        path = request.path
        if request.method == "POST" and (match := PREDICT_PATH.fullmatch(path)):
            if (request.content_length or 0) > self.max_request_bytes:
                return self._too_large()  # refused on its declared length, before reading it
            body = await request.read()  # a chunked body over client_max_size stops here, unparsed
            return json_response(await self._in_worker(self._predict, match, body))
        if request.method == "GET" and path.rstrip("/").lower() == "/v1/models":
            return json_response(await self._in_worker(self._models))
        if request.method == "GET" and (match := STATUS_PATH.fullmatch(path)):
            work = self._metadata if match["metadata"] else self._status
            return json_response(await self._in_worker(work, match))
        return error_response(grpc.StatusCode.INVALID_ARGUMENT, f"Malformed request: {request.method} {path}")

    @staticmethod
    def _spec(match):
        return match["name"], int(match["version"]) if match["version"] else None, match["label"] or ""

    def _predict(self, match, body: bytes) -> bytes:
        name, version, label = self._spec(match)
        try:
            signature, form, payload = parse_predict_body(body)
        except JsonTensorError as error:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, str(error)) from None
        _, _, outputs = self.core.predict("rest", name, version, label, signature, _json_inputs(form, payload))
        try:
            return encode_outputs(form, outputs)
        except JsonTensorError as error:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, str(error)) from None

    def _status(self, match) -> dict:
        name, version, label = self._spec(match)
        return _proto_dict(status_response(self.core.status(name, version, label)))

    def _metadata(self, match) -> dict:
        from tensorflow_serving.apis import get_model_metadata_pb2
        servable = self.core.servable(*self._spec(match))
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for name, signature_def in self.core.signature_defs(servable).items():
            signature_map.signature_def[name].CopyFrom(signature_def)
        return {"model_spec": {"name": servable.name, "signature_name": "", "version": str(servable.version)},
                "metadata": {"signature_def": _proto_dict(signature_map)}}

    def _models(self) -> dict:
        manager, models = self.core.manager, []
        with manager.lock:
            entries = [(name, dict(model.status), dict(model.config.version_labels))
                       for name, model in sorted(manager.models.items())]
        for name, statuses, labels in entries:
            models.append({"name": name, "version_labels": labels,
                           **_proto_dict(status_response(statuses))})
        return {"models": models}

    async def prometheus(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def studio_page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(os.path.join(STUDIO_DIR, "index.html"))


def _proto_dict(message) -> dict:
    """A proto as TF Serving prints it: field names as in the .proto, defaults included."""
    return json_format.MessageToDict(message, including_default_value_fields=True,
                                     preserving_proto_field_name=True)


class RestServer:
    """Runs a RestApi on its own event-loop thread; binds at construction so .port is known."""

    def __init__(self, core: ServingCore, options, metrics: Optional[ServingMetrics] = None):
        monitoring = options.monitoring
        metrics_path = monitoring.path if monitoring and monitoring.enable else ""
        self.api = RestApi(core, options.token, metrics, metrics_path, options.ui, options.max_request_bytes,
                           options.workers)
        self.ssl_context = _ssl_context(options)
        self.socket = socket.socket(socket.AF_INET6 if ":" in options.host else socket.AF_INET)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind((options.host, options.rest_port))
        except OSError as error:
            self.socket.close()
            raise ServingConfigError(f"cannot bind {options.host}:{options.rest_port} for REST: {error.strerror}") from None
        self.port = self.socket.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        self.thread: Optional[threading.Thread] = None
        self.runner: Optional[web.AppRunner] = None

    def start(self) -> "RestServer":
        ready = threading.Event()

        def serve():
            asyncio.set_event_loop(self.loop)
            self.runner = web.AppRunner(self.api.app, access_log=None)
            self.loop.run_until_complete(self.runner.setup())
            site = web.SockSite(self.runner, self.socket, ssl_context=self.ssl_context)
            self.loop.run_until_complete(site.start())
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, name="rest-server", daemon=True)
        self.thread.start()
        ready.wait(timeout=30)
        return self

    def stop(self) -> None:
        if self.thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()
        self.api.pool.shutdown(wait=False)
        self.thread = None


def _ssl_context(options) -> Optional[ssl.SSLContext]:
    if not options.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(options.tls_cert, options.tls_key)
    if options.tls_client_ca:
        context.load_verify_locations(options.tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
