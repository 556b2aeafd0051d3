"""TF Serving configuration files, read the same way by both servers.

- model config: TF Serving's ModelServerConfig text proto (--model_config_file):
  models, base paths, version policy (latest / all / specific) and version labels.
- batching parameters: TF Serving's --batching_parameters_file text proto.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Optional

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from models.errors import WaveGANError


class ServingConfigError(WaveGANError, ValueError):
    pass


def host_port(host: str, port: int) -> str:
    """host:port as gRPC and URLs write it: an IPv6 address in brackets ([::1]:8500)."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def browsable_host(host: str) -> str:
    """The address a browser on this machine reaches a server bound to `host` at (loopback for any-address)."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


def model_config(name: str, base_path: str, policy: str = "latest", versions=(), num_latest: int = 1,
                 labels: Optional[Dict[str, int]] = None) -> model_server_config_pb2.ModelServerConfig:
    """One model's ModelServerConfig; policy 'latest' (num_latest), 'all' or 'specific' (versions)."""
    cfg = model_server_config_pb2.ModelServerConfig()
    model = cfg.model_config_list.config.add(name=name, base_path=base_path, model_platform="tensorflow")
    if policy == "latest":
        model.model_version_policy.latest.num_versions = num_latest
    elif policy == "all":
        model.model_version_policy.all.SetInParent()
    elif policy == "specific":
        if not versions:
            raise ServingConfigError("a 'specific' version policy needs versions")
        model.model_version_policy.specific.versions.extend(int(v) for v in versions)
    else:
        raise ServingConfigError(f"unknown version policy {policy!r}: latest, all or specific")
    for label, version in (labels or {}).items():
        model.version_labels[label] = int(version)
    return cfg


def read_model_config(path: str) -> model_server_config_pb2.ModelServerConfig:
    try:
        with open(path) as f:
            cfg = text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())
    except (OSError, text_format.ParseError) as error:
        raise ServingConfigError(f"cannot read model config {path}: {error}") from None
    if not cfg.model_config_list.config:
        raise ServingConfigError(f"{path} lists no models (model_config_list)")
    return cfg


def write_model_config(cfg, path: str) -> None:
    with open(path, "w") as f:
        f.write(text_format.MessageToString(cfg))


@dataclass
class BatchingParameters:
    """The fields of TF Serving's BatchingParameters that the embedded server uses."""
    max_batch_size: int = 64
    batch_timeout_micros: int = 2000
    max_enqueued_batches: int = 100
    num_batch_threads: int = 1


def read_batching_parameters(path: str) -> BatchingParameters:
    """Parses `name { value: N }` entries (the proto's text form); unknown fields are ignored."""
    try:
        text = open(path).read()
    except OSError as error:
        raise ServingConfigError(f"cannot read batching parameters {path}: {error}") from None
    params = BatchingParameters()
    for name, value in re.findall(r"(\w+)\s*\{\s*value\s*:\s*(\d+)\s*\}", text):
        if hasattr(params, name):
            setattr(params, name, int(value))
    return params
