"""gRPC and REST synthesis latency and throughput against calling the SavedModel in-process.

For batch 1 and 16 and 1, 4 and 16 concurrent clients: p50/p99 latency and clips/s
through the embedded server (`wavegan serve` in its own process, as deployed, over
127.0.0.1; server-side batching up to 16): gRPC with the official stubs and REST with
TF Serving's JSON (one keep-alive HTTP connection per client, answers parsed with
orjson; rest_wav: the serving_wav signature, base64 16-bit WAV files read with soundfile), next to the same SavedModel called in-process by the same number of threads,
in the same run. Also the cost of writing one clip as JSON, orjson against the
standard library. Each measurement runs for --seconds per configuration (bounded requests).
Usage: python bench/serve_bench.py [--model-size 64] [--seconds 5]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.common import write_results  # noqa: E402

MAX_REQUESTS_PER_CLIENT = 2000


def drive(call, clients: int, batch: int, seconds: float, latent: int):
    """Runs `clients` threads calling call(z) for `seconds`; returns (latencies, clips/s)."""
    latencies, lock = [], threading.Lock()
    z = np.random.RandomState(0).uniform(-1, 1, [batch, latent]).astype(np.float32)
    call(z)  # warm
    stop_at = time.perf_counter() + seconds

    def worker():
        mine = []
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.perf_counter() >= stop_at:
                break
            start = time.perf_counter()
            call(z)
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return np.array(latencies), len(latencies) * batch / elapsed


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(base):
    """`wavegan serve` (gRPC and REST) on free loopback ports; returns (process, port, rest_port) once it serves."""
    import subprocess
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    port, rest_port = _free_port(), _free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "wavegan")
    process = subprocess.Popen([exe, "serve", "--model-base", base, "--port", str(port), "--rest-port",
                                str(rest_port), "--max-batch-size", "16", "--batch-timeout-micros", "2000"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=180)
    health = health_pb2_grpc.HealthStub(channel)
    while health.Check(health_pb2.HealthCheckRequest(service="wavegan")).status != \
            health_pb2.HealthCheckResponse.SERVING:
        time.sleep(0.2)
    channel.close()
    return process, port, rest_port


def rest_caller(rest_port: int, parse: bool = True):
    """call(z) -> audio through POST /v1/models/wavegan:predict, one keep-alive connection per thread.
    parse=False reads the answer's bytes only: the server's cost without the client's JSON parsing."""
    import http.client
    import orjson
    local = threading.local()

    def call(z):
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection("127.0.0.1", rest_port, timeout=120)
        body = orjson.dumps({"inputs": {"z": z}}, option=orjson.OPT_SERIALIZE_NUMPY)
        local.connection.request("POST", "/v1/models/wavegan:predict", body,
                                 {"Content-Type": "application/json"})
        response = local.connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"REST {response.status}: {answer[:200]!r}")
        return np.asarray(orjson.loads(answer)["outputs"], np.float32) if parse else answer
    return call


def rest_wav_caller(rest_port: int):
    """call(z) -> audio through the serving_wav signature: base64 16-bit WAV files, read back with soundfile."""
    import base64
    import http.client
    import io
    import orjson
    import soundfile as sf
    local = threading.local()

    def call(z):
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection("127.0.0.1", rest_port, timeout=120)
        body = orjson.dumps({"signature_name": "serving_wav", "inputs": {"z": z}}, option=orjson.OPT_SERIALIZE_NUMPY)
        local.connection.request("POST", "/v1/models/wavegan:predict", body, {"Content-Type": "application/json"})
        response = local.connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"REST {response.status}: {answer[:200]!r}")
        return np.stack([sf.read(io.BytesIO(base64.b64decode(clip["b64"])), dtype="float32", always_2d=True)[0]
                         for clip in orjson.loads(answer)["outputs"]])
    return call


def json_ms(clip: np.ndarray, repeats: int = 20) -> dict:
    """ms per clip to write a TF Serving JSON answer (server: orjson, as used, vs the json module)
    and to read it back into an array (client: orjson.loads + np.asarray)."""
    import json
    import orjson
    from serving.json_tensors import encode_outputs
    timings = {}
    for name, encode in (("orjson", lambda: encode_outputs("columnar", {"audio": clip})),
                         ("stdlib_json", lambda: json.dumps({"outputs": clip.tolist()}).encode())):
        encode()
        start = time.perf_counter()
        for _ in range(repeats):
            encode()
        timings[name] = (time.perf_counter() - start) / repeats * 1000
    answer = encode_outputs("columnar", {"audio": clip})
    start = time.perf_counter()
    for _ in range(repeats):
        np.asarray(orjson.loads(answer)["outputs"], np.float32)
    timings["client_decode_orjson"] = (time.perf_counter() - start) / repeats * 1000
    assert orjson.loads(encode_outputs("columnar", {"audio": clip}))["outputs"] == json.loads(
        json.dumps({"outputs": clip.tolist()}))["outputs"]
    return timings


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-size", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    from models.config import WaveGANConfig
    from models.export import SERVING_SIGNATURE, export_generator
    from models.wavegan import Generator
    from serving.client import SynthesisClient
    cfg = WaveGANConfig(model_size=args.model_size)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "wavegan")
        export_generator(Generator(cfg), cfg, os.path.join(base, "1"))
        local = tf.saved_model.load(os.path.join(base, "1")).signatures[SERVING_SIGNATURE]
        clip = local(z=tf.constant(np.zeros([1, cfg.latent_dim], np.float32)))["audio"].numpy()
        encode_ms = json_ms(clip)
        server, port, rest_port = start_server(base)
        client = SynthesisClient(f"127.0.0.1:{port}", timeout_s=120)
        try:
            for batch in (1, 16):
                for clients in (1, 4, 16):
                    for mode, call in (("in_process", lambda z: local(z=tf.constant(z))["audio"].numpy()),
                                       ("grpc", lambda z: client.synthesize(z)),
                                       ("rest", rest_caller(rest_port)),
                                       ("rest_unparsed", rest_caller(rest_port, parse=False)),
                                       ("rest_wav", rest_wav_caller(rest_port))):
                        lat, rate = drive(call, clients, batch, args.seconds, cfg.latent_dim)
                        rows.append({"mode": mode, "batch": batch, "clients": clients, "requests": len(lat),
                                     "p50_ms": float(np.percentile(lat, 50) * 1000),
                                     "p99_ms": float(np.percentile(lat, 99) * 1000), "clips_per_s": rate})
                        print(f"{mode} batch {batch} clients {clients}: {rate:.1f} clips/s", flush=True)
        finally:
            client.close()
            server.terminate()
            server.wait(timeout=60)
    by = {(r["mode"], r["batch"], r["clients"]): r for r in rows}
    extra = {"model_size": args.model_size,
             "grpc_overhead_p50_ms_batch1": by[("grpc", 1, 1)]["p50_ms"] - by[("in_process", 1, 1)]["p50_ms"],
             "grpc_16x_batch1_vs_in_process_batch16_throughput":
                 by[("grpc", 1, 16)]["clips_per_s"] / by[("in_process", 16, 1)]["clips_per_s"],
             "rest_vs_grpc_p50_batch1": by[("rest", 1, 1)]["p50_ms"] / by[("grpc", 1, 1)]["p50_ms"],
             "rest_vs_grpc_clips_per_s_16_clients_batch1":
                 by[("rest", 1, 16)]["clips_per_s"] / by[("grpc", 1, 16)]["clips_per_s"],
             "rest_unparsed_vs_grpc_clips_per_s_16_clients_batch1":
                 by[("rest_unparsed", 1, 16)]["clips_per_s"] / by[("grpc", 1, 16)]["clips_per_s"],
             "rest_wav_vs_grpc_clips_per_s_16_clients_batch1":
                 by[("rest_wav", 1, 16)]["clips_per_s"] / by[("grpc", 1, 16)]["clips_per_s"],
             "rest_wav_vs_grpc_clips_per_s_16_clients_batch16":
                 by[("rest_wav", 16, 16)]["clips_per_s"] / by[("grpc", 16, 16)]["clips_per_s"],
             "json_ms_per_clip": encode_ms,
             "orjson_speedup_over_stdlib_json": encode_ms["stdlib_json"] / encode_ms["orjson"]}
    write_results("serve", rows, extra)


if __name__ == "__main__":
    main()
