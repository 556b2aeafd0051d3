"""Running the real TensorFlow Serving binary, when it is on PATH, with our files."""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import List, NoReturn


def binary() -> str:
    return shutil.which("tensorflow_model_server") or ""


def command(model_config_file: str, port: int, batching_file: str = "", monitoring_file: str = "",
            rest_port: int = 0, poll_seconds: int = 2, ssl_config_file: str = "") -> List[str]:
    """The tensorflow_model_server command line for these settings."""
    args = [binary() or "tensorflow_model_server", f"--port={port}", f"--model_config_file={model_config_file}",
            f"--model_config_file_poll_wait_seconds={poll_seconds}",
            f"--file_system_poll_wait_seconds={poll_seconds}", "--enable_model_warmup=true"]
    if rest_port:
        args.append(f"--rest_api_port={rest_port}")
    if batching_file:
        args += ["--enable_batching=true", f"--batching_parameters_file={batching_file}"]
    if monitoring_file:
        args.append(f"--monitoring_config_file={monitoring_file}")
    if ssl_config_file:
        args.append(f"--ssl_config_file={ssl_config_file}")
    return args


def run_instead(server_config, model_config_file: str, port: int, rest_port: int = 0, batching_file: str = "",
                monitoring_file: str = "") -> NoReturn:
    """Replaces this process with tensorflow_model_server on these settings. A config with no file
    of its own (--model-base) is written to a private temporary folder for the binary to read."""
    if not model_config_file:
        from serving.config import write_model_config
        model_config_file = os.path.join(tempfile.mkdtemp(prefix="wavegan-serving-"), "models.config")
        write_model_config(server_config, model_config_file)
    args = command(model_config_file, port, batching_file, monitoring_file, rest_port=rest_port)
    print("running " + " ".join(args), flush=True)
    os.execv(args[0], args)
