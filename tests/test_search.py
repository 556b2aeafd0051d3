"""Search by example, variations and latent files: the export's `search` signature in process,
over gRPC (official stubs) and REST on 127.0.0.1, and the `wavegan search | vary | generate
--latent` commands."""
import json
import os

import grpc
import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from models.export import load_exported, sample_latents
from models.search import spectral_distance
from serving.client import SynthesisClient
from serving.config import model_config
from serving.server import EmbeddedServer, ServerOptions
from tests.test_rest import http
from tests.conftest import export_tiny_model, tiny_config

NAMES = ["kick", "snare", "hat"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    base = str(root / "drums")
    export_tiny_model(os.path.join(base, "1"), tiny_config(num_classes=3, label_names=NAMES), seed=3)
    model, _ = load_exported(os.path.join(base, "1"))
    target = model.signatures["sample"](count=tf.constant(1), seed=tf.constant(99, tf.int64),
                                        label=tf.constant(1))["audio"].numpy()[0]
    sf.write(str(root / "target.wav"), target, 16000, subtype="FLOAT")
    return base, str(root / "target.wav"), target


def run(capsys, *argv):
    """`wavegan ARGV` in process: (exit code, stdout, stderr)."""
    from pipeline.cli import main
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_search_descends_from_its_starts_and_answers_best_first(model_dir):
    base, _, target = model_dir
    model, cfg = load_exported(os.path.join(base, "1"))
    found = model.signatures["search"](target=tf.constant(target[None]), count=tf.constant(6), seed=tf.constant(0, tf.int64),
                                       label=tf.constant(1))
    distance = found["distance"].numpy()
    assert list(distance) == sorted(distance) and found["z"].shape == (6, cfg.latent_dim)
    assert np.abs(found["z"].numpy()).max() <= 1.0  # inside the prior's range
    starts = model.signatures["serving_default"](z=sample_latents(6, 0, cfg.latent_dim), label=tf.fill([6], 1))
    start_distance = spectral_distance(starts["audio"], tf.constant(target)[None]).numpy()
    assert distance[0] < start_distance.min()
    again = model.signatures["serving_default"](z=found["z"], label=tf.fill([6], 1))["audio"].numpy()
    np.testing.assert_allclose(again, found["audio"].numpy(), atol=1e-6)  # the z really makes that audio


def test_search_over_grpc_and_rest_equals_in_process_and_a_silent_target_is_a_400(model_dir):
    base, _, target = model_dir
    model, _ = load_exported(os.path.join(base, "1"))
    want = model.signatures["search"](target=tf.constant(target[None]), count=tf.constant(2), seed=tf.constant(5, tf.int64),
                                      label=tf.constant(0))
    server = EmbeddedServer(model_config("drums", base), ServerOptions(port=0, rest_port=0)).start()
    try:
        client = SynthesisClient(f"127.0.0.1:{server.port}", model="drums")
        outputs, _ = client.predict("search", {"target": target[None], "count": np.int32(2), "seed": np.int64(5),
                                               "label": np.int32(0)})
        np.testing.assert_allclose(outputs["distance"], want["distance"].numpy(), rtol=1e-5)
        np.testing.assert_allclose(outputs["z"], want["z"].numpy(), atol=1e-5)
        with pytest.raises(grpc.RpcError) as error:
            client.predict("search", {"target": np.zeros_like(target[None]), "count": np.int32(2), "seed": np.int64(5),
                                      "label": np.int32(0)})
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "silent" in error.value.details()
        client.close()

        post = lambda body: http(server, "/v1/models/drums:predict", body)  # noqa: E731
        inputs = {"target": target[None].tolist(), "count": 2, "seed": 5, "label": 0}
        status, body = post({"signature_name": "search", "inputs": inputs})
        assert status == 200 and np.allclose(body["outputs"]["distance"], want["distance"].numpy(), rtol=1e-5)
        status, body = post({"signature_name": "search", "inputs": {**inputs, "target": [[[0.0]] * 100]}})
        assert status == 400 and "silent" in body["error"]
    finally:
        server.stop()


def test_search_vary_and_generate_from_latents_on_the_command_line(model_dir, tmp_path, capsys):
    base, target_path, _ = model_dir
    model = os.path.join(base, "1")
    code, out, err = run(capsys, "search", "--model", model, "--like", target_path, "--label", "snare", "--n", "3",
                         "--out", tmp_path / "found")
    assert code == 0, err
    summary = json.loads((tmp_path / "found" / "matches.json").read_text())
    assert [m["label"] for m in summary["matches"]] == ["snare"] * 3
    distances = [m["distance"] for m in summary["matches"]]
    assert distances == sorted(distances) and "distance" in out
    first = sf.read(summary["matches"][0]["wav"], dtype="float32")[0]

    # The saved vectors make the same audio again, with the label they were found with.
    code, _, err = run(capsys, "generate", "--model", model, "--latent", tmp_path / "found" / "match_latents.npz",
                       "--out", tmp_path / "again")
    assert code == 0, err
    again = sf.read(str(tmp_path / "again" / "latent_00_snare.wav"), dtype="float32")[0]
    np.testing.assert_array_equal(again, first)

    code, out, err = run(capsys, "vary", "--model", model, "--latent", tmp_path / "found" / "match_latents.npz",
                         "--index", "1", "--amount", "0.3", "--n", "4", "--out", tmp_path / "varied")
    assert code == 0, err
    with np.load(tmp_path / "varied" / "variation_latents.npz") as varied, \
            np.load(tmp_path / "found" / "match_latents.npz") as found:
        assert varied["z"].shape == (4, 100) and list(varied["label"]) == [1] * 4
        spread = np.abs(varied["z"] - found["z"][1]).mean()
        assert 0.05 < spread < 0.4 and np.abs(varied["z"]).max() <= 1.0


def test_generate_with_truncation_scales_the_seeds_latents(model_dir, tmp_path, capsys):
    """--truncation 0.5: the latents `sample` draws from the seed, halved, through the serving signature;
    at 1, the seed's own clips."""
    base, _, _ = model_dir
    model_path = os.path.join(base, "1")
    model, cfg = load_exported(model_path)
    for truncation in ("1", "0.5"):
        code, _, err = run(capsys, "generate", "--model", model_path, "--n", "3", "--seed", "7", "--label", "snare",
                           "--truncation", truncation, "--out", tmp_path / truncation)
        assert code == 0, err
    z = sample_latents(3, tf.constant(7, tf.int64), cfg.latent_dim)
    for truncation, scale in (("1", 1.0), ("0.5", 0.5)):
        expected = model.signatures["serving_default"](z=scale * z, label=tf.fill([3], 1))["audio"].numpy()
        for i in range(3):
            written = sf.read(str(tmp_path / truncation / f"snare_seed7_{i:04d}.wav"), dtype="float32",
                              always_2d=True)[0]
            np.testing.assert_allclose(written, expected[i], atol=1e-4)
    full = sf.read(str(tmp_path / "1" / "snare_seed7_0000.wav"), dtype="float32")[0]
    assert np.abs(full - sf.read(str(tmp_path / "0.5" / "snare_seed7_0000.wav"), dtype="float32")[0]).max() > 1e-3


def test_search_and_latent_errors_are_one_line(model_dir, tmp_path, capsys):
    base, target_path, target = model_dir
    model = os.path.join(base, "1")
    sf.write(str(tmp_path / "silent.wav"), np.zeros(4000), 16000)
    sf.write(str(tmp_path / "long.wav"), np.tile(target[:, 0], 3), 16000)
    (tmp_path / "notes.txt").write_text("not audio")
    np.savez(tmp_path / "short.npz", z=np.zeros([2, 7]))
    cases = [
        (["search", "--model", model, "--like", tmp_path / "silent.wav", "--label", "kick"], "is silent"),
        (["search", "--model", model, "--like", tmp_path / "notes.txt", "--label", "kick"], "cannot read the target"),
        (["search", "--model", model, "--like", target_path, "--label", "cowbell"], "known labels: kick, snare, hat"),
        (["generate", "--model", model, "--latent", tmp_path / "short.npz", "--label", "kick"],
         "holds vectors of 7 values; this model takes 100"),
        (["vary", "--model", model, "--latent", tmp_path / "notes.txt"], "cannot read latent file"),
        (["generate", "--model", model, "--label", "kick", "--truncation", "0"], "--truncation must be in (0, 1]"),
        (["generate", "--model", model, "--latent", tmp_path / "short.npz", "--truncation", "0.5"],
         "a latent file's vectors are used as they are"),
    ]
    for argv, needle in cases:
        code, _, err = run(capsys, *argv, "--out", tmp_path / "x")
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and needle in lines[0], (argv, err)
    code, _, err = run(capsys, "search", "--model", model, "--like", tmp_path / "long.wav", "--label", "kick",
                       "--n", "1", "--out", tmp_path / "long")
    assert code == 0 and "matching its first 16384 samples" in err


def test_a_model_exported_with_its_judge_searches_with_the_judges_ear_too(tmp_path):
    """The judge travels in the export: its embedding distance is part of the search distance, is the
    judge's own (numpy path) cosine distance, and ignores the target's level."""
    from models.export import export_generator
    from models.judge import Judge
    from models.wavegan import Generator
    from tests.test_quality import tone_data
    audio, labels = tone_data(6, seed=0)
    judge = Judge.train(audio, labels, audio, labels, 16000, ["low", "mid", "high"], epochs=1)
    cfg = tiny_config(num_classes=3, label_names=["low", "mid", "high"])
    tf.random.set_seed(3)
    export_generator(Generator(cfg), cfg, str(tmp_path / "1"), judge=judge)
    model, _ = load_exported(str(tmp_path / "1"))
    target = audio[7]  # a real "mid" tone burst
    ask = dict(count=tf.constant(4), seed=tf.constant(0, tf.int64), label=tf.constant(1))
    found = {k: v.numpy() for k, v in model.signatures["search"](target=tf.constant(target[None]), **ask).items()}
    np.testing.assert_allclose(found["distance"], found["spectral_distance"] + found["judge_distance"], rtol=1e-5)
    assert list(found["distance"]) == sorted(found["distance"])

    level = np.sqrt((found["audio"].mean(-1) ** 2).mean(1)) / np.sqrt((target ** 2).mean())
    _, clip_embedding = judge.predict(found["audio"])
    _, target_embedding = judge.predict(target[None] * level[:, None, None])
    cosine = (clip_embedding * target_embedding).sum(1) / (
        np.linalg.norm(clip_embedding, axis=1) * np.linalg.norm(target_embedding, axis=1))
    np.testing.assert_allclose(found["judge_distance"], 1 - cosine, atol=2e-4)

    quiet = model.signatures["search"](target=tf.constant(target[None] * 0.1), **ask)
    np.testing.assert_allclose(quiet["judge_distance"].numpy(), found["judge_distance"], atol=5e-3)

    plain, _ = load_exported(export_tiny_model(str(tmp_path / "plain"), cfg, seed=3))
    outputs = plain.signatures["search"].structured_outputs
    assert "judge_distance" not in outputs and "spectral_distance" in outputs  # no judge: the STFT distance alone
