"""Multi-worker training for real: two `wavegan train` processes on 127.0.0.1 joined by
TF_CONFIG (MultiWorkerMirroredStrategy, real collective ops over gRPC on CPU), against
one process on the same data: the same model, within rounding."""
import json
import os
import signal
import socket
import subprocess
import time

import numpy as np
import pytest

from tests.conftest import CLI_ENV, WAVEGAN, tiny_flags

pytestmark = pytest.mark.e2e
TIMEOUT = 300


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _train(data_dir, out, steps, workers=1):
    """Starts `wavegan train` on `workers` processes (TF_CONFIG when more than one); returns them."""
    args = [WAVEGAN, "train", "--data-dir", data_dir, "--out", out, *tiny_flags(steps=steps, shuffle_buffer=8)]
    if workers == 1:
        return [subprocess.Popen(args, env=CLI_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(workers)]}
    return [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=dict(CLI_ENV, TF_CONFIG=json.dumps({"cluster": cluster,
                                                                     "task": {"type": "worker", "index": i}})))
            for i in range(workers)]


def _wait(processes):
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=TIMEOUT)[0])
    finally:
        for process in processes:
            process.kill()
    return [(process.returncode, output) for process, output in zip(processes, outputs)]


def _assert_all_trained(results, steps, resumed=False):
    """Every process finished; a failure shows every process's output (a worker's crash shows up
    in its peers only as a lost heartbeat)."""
    everything = "\n".join(f"--- process {i} (exit {code}):\n{output[-2500:]}"
                            for i, (code, output) in enumerate(results))
    for code, output in results:
        assert code == 0 and f"trained {steps} steps" in output, everything
        assert not resumed or "resumed from" in output, everything


def _weights(run_dir, trained=True):
    """The generator's and discriminator's variables at the run's latest checkpoint (or as initialised)."""
    import tensorflow as tf
    from models.train import load_run_config
    from models.wavegan import Discriminator, Generator
    cfg = load_run_config(run_dir)  # the recipe's options and the classes the data has
    tf.random.set_seed(cfg.seed)
    generator, discriminator = Generator(cfg), Discriminator(cfg)
    if trained:
        latest = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
        tf.train.Checkpoint(generator=generator, discriminator=discriminator).read(latest).expect_partial()
    return [v.numpy() for module in (generator, discriminator) for v in module.trainable_variables]


def _assert_same_model(run_a, run_b):
    a, b, initial = _weights(run_a), _weights(run_b), _weights(run_a, trained=False)
    moved = max(float(np.max(np.abs(x - y))) for x, y in zip(a, initial))
    differ = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))
    assert moved > 1e-4 and differ < moved * 1e-2, (moved, differ)  # Adam amplifies rounding a little


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from pipeline.demo_data import make_demo_data
    out = tmp_path_factory.mktemp("mw_data")
    make_demo_data(str(out), files_per_class=2, seed=1)
    return str(out)


def test_two_workers_train_the_model_one_process_trains_and_both_resume(tmp_path, data_dir):
    single, multi = str(tmp_path / "single"), str(tmp_path / "multi")
    _assert_all_trained(_wait(_train(data_dir, single, 2) + _train(data_dir, multi, 2, workers=2)), 2)
    # Only the chief wrote the run directory: its checkpoints, config and export.
    assert os.path.isdir(os.path.join(multi, "export")) and os.path.exists(os.path.join(multi, "config.json"))
    _assert_same_model(single, multi)

    # Both workers resume from the chief's checkpoint and go on, still in step with one process.
    _assert_all_trained(_wait(_train(data_dir, single, 3) + _train(data_dir, multi, 3, workers=2)), 3,
                        resumed=True)
    _assert_same_model(single, multi)


def test_sigterm_to_one_worker_stops_both_at_the_same_update_with_a_checkpoint(tmp_path, data_dir):
    """A pod's SIGTERM reaches one worker first: all agree to stop, save, and exit; none hangs."""
    multi = str(tmp_path / "multi")
    processes = _train(data_dir, multi, 1000, workers=2)
    deadline = time.time() + TIMEOUT
    while not os.path.isdir(os.path.join(multi, "logs")) and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(3)  # training is under way
    processes[1].send_signal(signal.SIGTERM)  # the non-chief worker
    results = _wait(processes)
    for code, output in results:
        assert code != 0 and "interrupted: saved" in output, output[-3000:]
    import tensorflow as tf
    assert tf.train.latest_checkpoint(os.path.join(multi, "checkpoints"))
