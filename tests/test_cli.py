"""The `wavegan` command end to end: real subprocesses, real files."""
import os
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import WAVEGAN, run_cli, tiny_flags

pytestmark = pytest.mark.e2e  # every test here runs the wavegan command, a browser or a whole pipeline

ODD = "<img src=x onerror=alert(1)>"  # folder names are untrusted text
TINY = tiny_flags(d_updates=1, shuffle_buffer=8, steps=2, checkpoint_every_steps=1)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, ):
    from pipeline.demo_data import make_demo_data
    root = tmp_path_factory.mktemp("cli")
    make_demo_data(str(root / "data"), files_per_class=2, seed=1)
    (root / "data" / "kick" / "broken.wav").write_bytes(b"RIFF\x00\x00not really a wav")
    shutil.copytree(root / "data" / "clap", root / "data" / ODD)  # a class named with markup
    result = run_cli("train", "--data-dir", root / "data", "--out", root / "run", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    return root, result


def test_train_reports_skipped_files_and_exports(trained_run):
    root, result = trained_run
    assert "broken.wav" in result.stderr and "skipped" in result.stderr
    assert os.path.exists(root / "run" / "export" / "saved_model.pb")
    assert "trained 2 steps" in result.stdout


def test_generate_writes_playable_wavs_and_same_seed_same_audio(trained_run):
    root, _ = trained_run
    for out in ("a", "b"):
        result = run_cli("generate", "--model", root / "run" / "export", "--n", "3", "--seed", "5",
                         "--label", "1", "--out", root / out)  # the drum folders made it class-conditional
        assert result.returncode == 0, result.stderr[-2000:]
    names = sorted(os.listdir(root / "a"))
    assert len(names) == 3
    for name in names:
        a, rate = sf.read(root / "a" / name)
        b, _ = sf.read(root / "b" / name)
        assert rate == 16000 and a.shape == (16384,) and sf.info(str(root / "a" / name)).subtype == "PCM_16"
        np.testing.assert_array_equal(a, b)


def test_generate_by_class_name_and_an_unknown_name_lists_the_known_ones(trained_run):
    root, result = trained_run
    assert "labels: 6 classes from folder names" in result.stdout
    by_name = run_cli("generate", "--model", root / "run" / "export", "--n", "1", "--label", ODD, "--out",
                      root / "named")
    assert by_name.returncode == 0, by_name.stderr[-2000:]
    assert os.listdir(root / "named") == ["img_src_x_onerror_alert_1_seed0_0000.wav"]  # inside --out, no markup
    unknown = run_cli("generate", "--model", root / "run" / "export", "--label", "cowbell", "--out", root / "x")
    lines = [line for line in unknown.stderr.splitlines() if line.strip()]
    assert unknown.returncode == 2 and len(lines) == 1, unknown.stderr
    assert lines[0] == f"wavegan generate: error: unknown label 'cowbell': known labels: {ODD}, clap, hat, kick, " \
                       "snare, tom"


def test_preview_writes_one_folder_per_checkpoint(trained_run):
    root, _ = trained_run
    result = run_cli("preview", "--run", root / "run", "--out", root / "previews")
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(os.listdir(root / "previews")) == ["step_0000001", "step_0000002"]
    assert len(os.listdir(root / "previews" / "step_0000002")) == 8


@pytest.mark.parametrize("args,needle", [
    (["generate", "--model", "/nonexistent", "--out", "/tmp/x"], "not found"),
    (["generate", "--model", "/tmp", "--out", "/tmp/x"], "not an exported WaveGAN model"),
    (["train", "--data-dir", "/nonexistent", "--out", "/tmp/x"], "not found"),
    (["train", "--data-dir", "/tmp", "--out", "/tmp/x", "--slice-len", "1000"], "slice_len"),
    (["train", "--out", "/tmp/x", "--no-such-flag"], "unrecognized arguments"),
    (["preview", "--run", "/tmp", "--out", "/tmp/x"], "not a training run directory"),
])
def test_user_errors_are_one_line_with_exit_code_2(args, needle):
    result = run_cli(*args)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_stderr_has_only_what_the_user_needs_and_v_shows_the_traceback():
    plain_env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS")}
    result = run_cli("serve", "--model-base", "/nonexistent", env=plain_env)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and lines == ["wavegan serve: error: model base path not found: /nonexistent"], \
        result.stderr  # no TensorFlow start-up notices (cuFFT, oneDNN) before it
    verbose = run_cli("-v", "serve", "--model-base", "/nonexistent", env=plain_env)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr and "CLIError" in verbose.stderr


def test_sigterm_saves_a_checkpoint_and_rerun_resumes(tmp_path):
    from pipeline.demo_data import make_demo_data
    make_demo_data(str(tmp_path / "data"), files_per_class=1, seed=2)
    exe = WAVEGAN
    args = [exe, "train", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "run"), *TINY,
            "--checkpoint-every-steps", "100000", "--checkpoint-every-secs", "100000"]
    proc = subprocess.Popen(args + ["--steps", "100000"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    deadline = time.time() + 180
    for line in proc.stdout:  # wait until training has really started
        if "step 1/100000" in line or time.time() > deadline:
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, output[-2000:]
    saved = [f for f in os.listdir(tmp_path / "run" / "checkpoints") if f.endswith(".index")]
    assert len(saved) == 1
    saved_step = int(saved[0].split("-")[1].split(".")[0])
    assert saved_step >= 1
    result = subprocess.run(args + ["--steps", str(saved_step + 1)], capture_output=True, text=True,
                            timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resumed from" in result.stderr and f"trained {saved_step + 1} steps" in result.stdout
