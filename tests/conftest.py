"""Shared fixtures. Two logical CPU devices are made before TF starts, so the
distributed-training test can run a real 2-replica MirroredStrategy on CPU."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FSDD = os.path.join(os.path.dirname(REPO), "shared", "data", "fsdd")


# The one tiny WaveGAN of the tests (d=4, batch 4, 2 critic updates): small enough for CPU.
TINY = dict(model_size=4, batch_size=4, d_updates=2, steps=3, checkpoint_every_steps=2, summary_every_steps=1,
            audio_summary_every_steps=2, shuffle_buffer=16)


def tiny_config(**overrides):
    """TINY as a WaveGANConfig, with overrides."""
    from models.config import WaveGANConfig
    return WaveGANConfig(**{**TINY, **overrides})


def tiny_flags(**overrides) -> list:
    """TINY as `wavegan train` flags, with overrides (e.g. steps=1)."""
    return [str(part) for name, value in {**TINY, **overrides}.items()
            for part in (f"--{name.replace('_', '-')}", value)]


def export_tiny_model(path, cfg=None, seed=0):
    """A freshly initialised tiny generator exported as a SavedModel at path."""
    from models.export import export_generator
    from models.wavegan import Generator
    cfg = cfg or tiny_config()
    tf.random.set_seed(seed)
    return export_generator(Generator(cfg), cfg, path)


@pytest.fixture
def tiny():
    return tiny_config


@pytest.fixture
def demo_dir(tmp_path_factory):
    from pipeline.demo_data import make_demo_data
    out = tmp_path_factory.mktemp("demo_data")
    make_demo_data(str(out), files_per_class=3, seed=0)
    return str(out)


WAVEGAN = os.path.join(os.path.dirname(sys.executable), "wavegan")  # the installed console command
CLI_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")


def run_cli(*args, timeout=300, env=None):
    """Runs the installed `wavegan` command; returns CompletedProcess."""
    import subprocess
    return subprocess.run([WAVEGAN, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=env or CLI_ENV)


def random_audio_dataset(cfg, n=16, seed=0):
    """A trivial real dataset: sine bursts, batched and repeated like training data."""
    rng = np.random.RandomState(seed)
    t = np.arange(cfg.slice_len) / cfg.sample_rate
    audio = np.stack([0.5 * np.sin(2 * np.pi * rng.uniform(100, 1000) * t) for _ in range(n)])
    audio = np.repeat(audio[:, :, None], cfg.num_channels, axis=2).astype(np.float32)
    labels = (np.arange(n) % max(cfg.num_classes, 1)).astype(np.int32)
    ds = tf.data.Dataset.from_tensor_slices((audio, labels)).repeat()
    return ds.batch(cfg.batch_size, drop_remainder=True)


@pytest.fixture(scope="session")
def two_cpu_strategy():
    """One MirroredStrategy over the two logical CPUs for the whole session: two strategies over
    the same devices in one process can mix up their collective instance keys (TF 2.16)."""
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    assert len(devices) == 2, "conftest should have made two logical CPUs"
    return tf.distribute.MirroredStrategy(devices)
