"""TF Serving's REST JSON tensor format: request bodies to arrays, outputs to JSON.

Row format: {"signature_name": s, "instances": [...]}, one entry per example: a bare
value when the signature has one input, else an object of named inputs. Columnar:
{"inputs": value or {name: value}}. Answers are {"predictions": [...]} (row) or
{"outputs": value or {name: value}} (columnar), as TF Serving gives them. orjson
encodes numpy arrays directly: a 16,384-sample clip is one fast call, not a Python loop.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np
import orjson

ROW, COLUMNAR = "row", "columnar"


class JsonTensorError(ValueError):
    """The body does not follow TF Serving's JSON format (HTTP 400)."""


def parse_predict_body(body: bytes) -> Tuple[str, str, object]:
    """(signature_name, format, instances or inputs) of a :predict body."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise JsonTensorError(f"request body is not valid JSON: {error}") from None
    if not isinstance(request, dict):
        raise JsonTensorError("request body must be a JSON object with 'instances' or 'inputs'")
    signature = request.get("signature_name", "")
    if not isinstance(signature, str):
        raise JsonTensorError("'signature_name' must be a string")
    if ("instances" in request) == ("inputs" in request):
        raise JsonTensorError("request body must have exactly one of 'instances' (row format) "
                              "or 'inputs' (columnar format)")
    if "instances" in request:
        return signature, ROW, request["instances"]
    return signature, COLUMNAR, request["inputs"]


def to_arrays(form: str, payload, input_specs: dict) -> Dict[str, np.ndarray]:
    """{input name: array of the signature's dtype} from row or columnar JSON."""
    names = sorted(input_specs)
    if form == ROW:
        if not isinstance(payload, list) or not payload:
            raise JsonTensorError("'instances' must be a non-empty list")
        if all(isinstance(item, dict) for item in payload):
            keys = set(payload[0])
            if any(set(item) != keys for item in payload):
                raise JsonTensorError("every instance must name the same inputs")
            columns = {key: [item[key] for item in payload] for key in keys}
        elif len(names) == 1 and not any(isinstance(item, dict) for item in payload):
            columns = {names[0]: payload}
        else:
            raise JsonTensorError(f"instances must be objects naming the inputs {names}")
    else:
        if isinstance(payload, dict) and not (len(names) == 1 and names[0] not in payload):
            columns = payload
        elif len(names) == 1:
            columns = {names[0]: payload}
        else:
            raise JsonTensorError(f"'inputs' must be an object naming the inputs {names}")
    return {name: _array(name, value, input_specs.get(name)) for name, value in columns.items()}


def _array(name: str, value, spec) -> np.ndarray:
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged lists
        raise JsonTensorError(f"input {name!r} is not a rectangular tensor: {error}") from None
    if spec is None:
        return array  # an unknown input: the signature check names it
    if spec.dtype.name == "string":  # e.g. sample_by_name's label_name: JSON text, as UTF-8 bytes
        if array.dtype.kind != "U":
            raise JsonTensorError(f"input {name!r} must hold strings (got JSON {_json_kind(array)})")
        return np.char.encode(array, "utf-8").astype(object)  # as tf.make_ndarray gives a gRPC string
    dtype = np.dtype(spec.dtype.as_numpy_dtype)
    if array.dtype.kind not in "biuf" or (dtype.kind in "iu" and array.dtype.kind == "f"):
        raise JsonTensorError(f"input {name!r} must hold {spec.dtype.name} values "
                              f"(got JSON {_json_kind(array)})")
    if dtype.kind in "iu" and array.size:
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise JsonTensorError(f"input {name!r} is out of the range of {spec.dtype.name}")
    return array.astype(dtype, copy=False)


def _json_kind(array: np.ndarray) -> str:
    return {"f": "numbers with fractions", "U": "strings", "O": "mixed or nested values",
            "b": "booleans"}.get(array.dtype.kind, array.dtype.name)


def encode_outputs(form: str, outputs: Dict[str, np.ndarray], wanted=()) -> bytes:
    """The JSON answer for these outputs, in the format the request used."""
    outputs = {k: _base64(v) if k.endswith("_bytes") else _plain(v)
               for k, v in outputs.items() if not wanted or k in wanted}
    if form == COLUMNAR:
        body = {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}
    elif len(outputs) == 1:
        body = {"predictions": next(iter(outputs.values()))}
    else:
        sizes = {k: (v.shape[0] if isinstance(v, np.ndarray) and v.ndim else None) for k, v in outputs.items()}
        if None in sizes.values() or len(set(sizes.values())) != 1:
            raise JsonTensorError(f"outputs have different batch sizes {sizes}: use the columnar format "
                                  "({\"inputs\": ...}) for this signature")
        rows = next(iter(sizes.values()))
        body = {"predictions": [{k: v[i] for k, v in outputs.items()} for i in range(rows)]}
    return dumps(body)


def dumps(value) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY, default=_fallback)


def _base64(value):
    """Binary outputs (TF Serving's rule: an output named *_bytes) as {"b64": ...} objects."""
    import base64
    return [_base64(v) for v in value] if isinstance(value, np.ndarray) and value.ndim else \
        {"b64": base64.b64encode(value.item() if isinstance(value, np.ndarray) else value).decode("ascii")}


def _plain(value):
    """Arrays orjson can write directly: C-contiguous; 0-d arrays as Python scalars."""
    if isinstance(value, np.ndarray):
        return value.item() if value.ndim == 0 else np.ascontiguousarray(value)
    return value


def _fallback(value):
    if isinstance(value, (np.ndarray, np.generic)):  # strings and other dtypes orjson does not write natively
        return _decoded(value.tolist())
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _decoded(value):
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
