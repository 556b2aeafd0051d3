"""`wavegan serve | synth`: TF Serving's APIs over the pushed versions, and WAVs from a server."""
from __future__ import annotations

import os
import sys

from pipeline.commands.common import CLIError, existing_dir

DEFAULT_MAX_BATCH_SIZE = 64


def _server_config(args):
    from serving.config import model_config, read_model_config
    if args.model_config:
        return read_model_config(args.model_config)
    if not args.model_base:
        raise CLIError("give --model-base DIR (the folder of numbered versions) or --model-config FILE")
    existing_dir(args.model_base, "model base path")
    return model_config(args.model_name, os.path.abspath(args.model_base))


def _batching(args):
    """The batching parameters, and with them the largest batch: one value, from the file when given."""
    from serving.config import BatchingParameters, read_batching_parameters
    if not args.batching_config:
        return BatchingParameters(max_batch_size=args.max_batch_size or DEFAULT_MAX_BATCH_SIZE,
                                  batch_timeout_micros=args.batch_timeout_micros,
                                  num_batch_threads=args.batch_threads)
    batching = read_batching_parameters(args.batching_config)
    if args.max_batch_size and args.max_batch_size != batching.max_batch_size:
        raise CLIError(f"--max-batch-size {args.max_batch_size} disagrees with max_batch_size "
                       f"{batching.max_batch_size} in {args.batching_config}: give one of them")
    return batching


def _server_options(args, max_batch_size: int):
    from serving.metrics import read_monitoring_config
    from serving.server import ServerOptions
    monitoring = read_monitoring_config(args.monitoring_config) if args.monitoring_config else None
    if monitoring and monitoring.enable and not args.rest_port:
        raise CLIError("--monitoring-config serves metrics on the REST port: add --rest-port (e.g. 8501)")
    if args.tls_cert and not args.tls_key or args.tls_key and not args.tls_cert:
        raise CLIError("--tls-cert and --tls-key go together")
    return ServerOptions(host=args.host, port=args.port, max_batch_size=max_batch_size,
                         token=args.token or os.environ.get("WAVEGAN_TOKEN", ""), tls_cert=args.tls_cert or "",
                         tls_key=args.tls_key or "", tls_client_ca=args.tls_client_ca or "",
                         max_deadline_s=args.max_deadline, rest_port=args.rest_port or None, ui=not args.no_ui,
                         monitoring=monitoring)


def cmd_serve(args):
    from serving import tf_serving
    from serving.server import run_until_stopped
    server_config = _server_config(args)
    if args.backend == "tf-serving" or (args.backend == "auto" and tf_serving.binary() and args.host == "0.0.0.0"):
        if not tf_serving.binary():
            raise CLIError("tensorflow_model_server is not on PATH (use --backend embedded)")
        tf_serving.run_instead(server_config, args.model_config or "", args.port, args.rest_port,
                               args.batching_config or "", args.monitoring_config or "")
    batching = _batching(args)
    run_until_stopped(server_config, _server_options(args, batching.max_batch_size),
                      None if args.no_batching else batching, args.poll_seconds)


def cmd_synth(args):
    import grpc
    from models.audio import write_wav
    from serving.client import SynthesisClient
    client = SynthesisClient(args.server, model=args.model, token=args.token or os.environ.get("WAVEGAN_TOKEN", ""),
                             root_cert=args.tls_ca or "", client_cert=args.tls_cert or "",
                             client_key=args.tls_key or "", timeout_s=args.timeout)
    try:
        label = _label_for(client, args.label, args.version)
        outputs = client.draw(args.n, args.seed, label=label, version=args.version,
                              version_label=args.version_label or "")
    except grpc.RpcError as error:
        raise CLIError(f"{error.code().name}: {error.details()}") from None
    finally:
        client.close()
    rate = args.sample_rate or int(outputs.get("sample_rate", 0))
    if not rate:
        rate = 16000
        print("warning: the model does not say its sample rate (exported before it did): writing 16000 Hz; "
              "set --sample-rate if that is wrong", file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)
    for i, clip in enumerate(outputs["audio"]):
        write_wav(os.path.join(args.out, f"synth_seed{args.seed}_{i:04d}.wav"), clip, rate)
    print(f"wrote {len(outputs['audio'])} WAV files at {rate} Hz to {args.out}")


def _label_for(client, label, version):
    """The label as the served model takes it: a name (or digits) for models that know their class
    names, an index for models exported before they were kept (said once)."""
    from models.export import SAMPLE_BY_NAME_SIGNATURE
    if label is None or SAMPLE_BY_NAME_SIGNATURE in client.signatures(version):
        return label
    if not label.isdigit():
        raise CLIError(f"unknown label {label!r}: this model has no class names (exported before they were "
                       "kept): give a class index")
    print("note: this model has no class names (exported before they were kept): --label is a class index",
          file=sys.stderr)
    return int(label)


def add_parsers(sub):
    _serve_parser(sub)
    _synth_parser(sub)


def _serve_parser(sub):
    p = sub.add_parser("serve", help="serve models over gRPC and REST (TF Serving API), with a studio page")
    p.add_argument("--model-base", help="folder of numbered SavedModel versions (e.g. <serving_dir>/wavegan)")
    p.add_argument("--model-name", default="wavegan")
    p.add_argument("--model-config", help="TF Serving model config file (several models, policies, labels)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    p.add_argument("--port", type=int, default=8500)
    p.add_argument("--backend", choices=["auto", "embedded", "tf-serving"], default="auto",
                   help="auto: tensorflow_model_server if on PATH and --host 0.0.0.0 (it binds all interfaces), "
                        "else the embedded server")
    p.add_argument("--batching-config", help="TF Serving batching parameters file")
    p.add_argument("--rest-port", type=int, default=0,
                   help="also serve TF Serving's REST API, the studio page and metrics on this port (0 = off)")
    p.add_argument("--no-ui", action="store_true", help="no synthesis studio page at / on the REST port")
    p.add_argument("--monitoring-config", help="TF Serving monitoring config: Prometheus metrics on the REST port "
                                              "(e.g. serving/deploy/monitoring.config)")
    p.add_argument("--max-batch-size", type=int, help=f"largest batch per request and per model call (default "
                                                      f"{DEFAULT_MAX_BATCH_SIZE}, or the batching file's)")
    p.add_argument("--batch-timeout-micros", type=int, default=2000, help="how long a batch waits to fill")
    p.add_argument("--batch-threads", type=int, default=2, help="batches that may run at once")
    p.add_argument("--no-batching", action="store_true", help="run each request on its own")
    p.add_argument("--max-deadline", type=float, default=30.0, help="seconds one request may take at most")
    p.add_argument("--poll-seconds", type=float, default=2.0, help="how often to look for new versions")
    p.add_argument("--token", help="require 'authorization: Bearer TOKEN' (or set WAVEGAN_TOKEN)")
    p.add_argument("--tls-cert", help="server certificate (PEM)")
    p.add_argument("--tls-key", help="server private key (PEM)")
    p.add_argument("--tls-client-ca", help="CA of client certificates: turns on mutual TLS")
    p.set_defaults(func=cmd_serve)


def _synth_parser(sub):
    p = sub.add_parser("synth", help="synthesise audio over gRPC and write WAVs")
    p.add_argument("--server", default="127.0.0.1:8500", help="HOST:PORT")
    p.add_argument("--model", default="wavegan")
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", help="class name or index (conditional models)")
    p.add_argument("--version", type=int, help="model version (default: latest)")
    p.add_argument("--version-label", help="version label, e.g. stable or canary")
    p.add_argument("--out", required=True)
    p.add_argument("--sample-rate", type=int, help="sample rate to write the WAVs at (default: the model's)")
    p.add_argument("--timeout", type=float, default=60.0, help="deadline in seconds")
    p.add_argument("--token", help="bearer token (or set WAVEGAN_TOKEN)")
    p.add_argument("--tls-ca", help="CA certificate to trust (turns on TLS)")
    p.add_argument("--tls-cert", help="client certificate (mutual TLS)")
    p.add_argument("--tls-key", help="client key (mutual TLS)")
    p.set_defaults(func=cmd_synth)
