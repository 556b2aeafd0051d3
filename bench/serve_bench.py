"""gRPC synthesis latency and throughput against calling the SavedModel in-process.

For batch 1 and 16 and 1, 4 and 16 concurrent clients: p50/p99 latency and clips/s
through the embedded server (`wavegan serve` in its own process, as deployed;
official stubs over 127.0.0.1; server-side batching up to 16), next to the same
SavedModel called in-process by the same number of threads, in the same run. Each measurement runs for --seconds per configuration (bounded requests).
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


def start_server(base):
    """`wavegan serve` on a free loopback port; returns (process, port) once it serves."""
    import socket
    import subprocess
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = os.path.join(os.path.dirname(sys.executable), "wavegan")
    process = subprocess.Popen([exe, "serve", "--model-base", base, "--port", str(port), "--max-batch-size", "16",
                                "--batch-timeout-micros", "2000"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=180)
    health = health_pb2_grpc.HealthStub(channel)
    while health.Check(health_pb2.HealthCheckRequest(service="wavegan")).status != \
            health_pb2.HealthCheckResponse.SERVING:
        time.sleep(0.2)
    channel.close()
    return process, port


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-size", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    from models.config import WaveGANConfig
    from models.export import export_generator
    from models.wavegan import Generator
    from serving.client import SynthesisClient
    cfg = WaveGANConfig(model_size=args.model_size)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "wavegan")
        export_generator(Generator(cfg), cfg, os.path.join(base, "1"))
        local = tf.saved_model.load(os.path.join(base, "1")).signatures["serving_default"]
        server, port = start_server(base)
        client = SynthesisClient(f"127.0.0.1:{port}", timeout_s=120)
        try:
            for batch in (1, 16):
                for clients in (1, 4, 16):
                    for mode, call in (("in_process", lambda z: local(z=tf.constant(z))["audio"].numpy()),
                                       ("grpc", lambda z: client.synthesize(z))):
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
                 by[("grpc", 1, 16)]["clips_per_s"] / by[("in_process", 16, 1)]["clips_per_s"]}
    write_results("serve", rows, extra)


if __name__ == "__main__":
    main()
