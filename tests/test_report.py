"""Training with evaluation and a best checkpoint, `wavegan evaluate`, `wavegan report`, and the
report in a real headless browser (Debian's chromium driven by Playwright)."""
import json
import os
import shutil

import numpy as np
import pytest

from tests.conftest import run_cli, tiny_flags

pytestmark = pytest.mark.e2e  # every test here runs the wavegan command, a browser or a whole pipeline

CHROMIUM = shutil.which("chromium")
TINY = tiny_flags()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny conditional run on the demo drums, evaluated every step, with its own judge."""
    from pipeline.demo_data import make_demo_data
    root = tmp_path_factory.mktemp("report")
    data = str(root / "data")
    make_demo_data(data, files_per_class=4, seed=0)
    run = str(root / "run")
    result = run_cli("train", "--data-dir", data, "--out", run, *TINY, "--num-classes", "5", "--steps", "3",
                     "--eval-every-steps", "1", "--train-eval-clips", "10", "--judge-epochs", "2",
                     "--eval-percent", "25", timeout=600)
    assert result.returncode == 0, result.stderr
    return root, data, run, result.stdout


def test_training_evaluates_and_exports_the_best_checkpoint(trained):
    import json
    import tensorflow as tf
    from models.export import load_exported
    from models.selection import BEST_CHECKPOINT, BEST_FILE, HISTORY_FILE
    from models.train import load_run_config
    from models.wavegan import Generator
    _, _, run, stdout = trained
    best = json.load(open(os.path.join(run, BEST_FILE)))
    history = json.load(open(os.path.join(run, HISTORY_FILE)))
    assert [e["step"] for e in history] == [0, 1, 2, 3]  # step 0 included
    assert best["step"] == min(history, key=lambda e: e["frechet_distance"])["step"]
    assert f"best checkpoint: step {best['step']}" in stdout
    # The export is the best checkpoint's generator, not the last one.
    cfg = load_run_config(run)
    generator = Generator(cfg)
    tf.train.Checkpoint(generator=generator).read(os.path.join(run, BEST_CHECKPOINT)).expect_partial()
    z = np.random.RandomState(0).uniform(-1, 1, [2, cfg.latent_dim]).astype(np.float32)
    labels = np.array([0, 3], np.int32)
    exported, _ = load_exported(os.path.join(run, "export"))
    np.testing.assert_allclose(exported.signatures["serving_default"](z=z, label=labels)["audio"].numpy(),
                               generator(z, labels, training=False).numpy(), atol=1e-5)


def test_evaluate_on_a_folder_without_labels_says_so_once(trained, tmp_path):
    root, data, run, _ = trained
    flat = tmp_path / "flat"
    flat.mkdir()
    for folder, _, names in os.walk(data):
        for name in names[:2]:
            shutil.copy(os.path.join(folder, name), flat / f"{os.path.basename(folder)}_{name}")
    result = run_cli("evaluate", "--model", os.path.join(run, "export"), "--data-dir", flat, "--label-source",
                     "none", "--clips", "8", "--json", tmp_path / "m.json")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("no inception score") == 1
    assert "IS " not in result.stdout and "candidate: FD" in result.stdout
    assert "voiced " in result.stdout  # pitch is heard without a judge too
    assert 0.0 <= json.load(open(tmp_path / "m.json"))["candidate"]["voiced_fraction"] <= 1.0
    truncated = run_cli("evaluate", "--model", os.path.join(run, "export"), "--data-dir", flat, "--label-source",
                        "none", "--clips", "8", "--truncation", "0.5", "--json", tmp_path / "t.json")
    assert truncated.returncode == 0, truncated.stderr
    assert "candidate (truncation 0.5): FD" in truncated.stdout
    scored = json.load(open(tmp_path / "t.json"))
    assert scored["truncation"] == 0.5
    untruncated = json.load(open(tmp_path / "m.json"))["candidate"]
    assert scored["candidate"]["frechet_distance"] != untruncated["frechet_distance"]


def test_report_over_a_run_without_checkpoints_is_a_one_line_error(tmp_path):
    (tmp_path / "empty_run").mkdir()
    result = run_cli("report", "--run", tmp_path / "empty_run", "--data-dir", tmp_path, "--out", tmp_path / "r")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no checkpoints" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def report(trained):
    root, data, run, _ = trained
    out = str(root / "report")
    result = run_cli("report", "--run", run, "--data-dir", data, "--out", out, "--clips", "10", timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"report: {os.path.join(out, 'index.html')}" in result.stdout
    return out


def test_report_has_every_part(report):
    page = open(os.path.join(report, "index.html")).read()
    for part in ("Metrics", "During training", "The critic while training", "Spectrograms", "Listen", "Judge",
                 "real eval", "candidate", "voiced"):
        assert part in page
    assert page.count("<audio") == 2 * 5 * 2  # 2 clips per class, each with its nearest real neighbour


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make install installs it with apt-get)")
def test_report_in_a_real_browser(report, tmp_path_factory):
    from playwright.sync_api import sync_playwright
    artifacts = os.environ.get("WAVEGAN_TEST_ARTIFACTS") or str(tmp_path_factory.mktemp("artifacts"))
    os.makedirs(artifacts, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto("file://" + os.path.join(report, "index.html"))
        images = page.eval_on_selector_all("img", "els => els.map(e => [e.src, e.complete && e.naturalWidth])")
        assert len(images) >= 4 and all(width > 0 for _, width in images), images
        page.eval_on_selector_all("audio", "els => els.forEach(e => { e.preload = 'auto'; e.load(); })")
        page.wait_for_function("[...document.querySelectorAll('audio')].every(e => e.readyState >= 1 || e.error)",
                               timeout=30000)
        audio = page.eval_on_selector_all("audio", "els => els.map(e => [e.src, e.error && e.error.code, e.duration])")
        assert len(audio) == 20
        assert all(error is None and duration > 0.5 for _, error, duration in audio), audio
        page.screenshot(path=os.path.join(artifacts, "report.png"), full_page=True)
        browser.close()
    assert errors == []
    print(f"screenshot: {os.path.join(artifacts, 'report.png')}")


def test_training_signals_are_the_runs_logged_scalars(trained):
    """The panel's numbers are the run's own TensorBoard scalars: every logged step, in order."""
    from components.report import read_training_scalars
    _, _, run, _ = trained
    scalars = read_training_scalars(os.path.join(run, "logs"), ["d_real_minus_fake", "d_class_loss", "no_such_tag"])
    assert set(scalars) == {"d_real_minus_fake", "d_class_loss"}
    steps, values = scalars["d_real_minus_fake"]
    assert sorted(steps) == [1, 2, 3] and all(np.isfinite(values))
