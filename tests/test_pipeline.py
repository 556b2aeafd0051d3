"""The whole TFX pipeline on LocalDagRunner: push, warm start, blessing, faults."""
import json
import os
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

from models.export import export_generator, load_exported
from models.wavegan import Generator
from pipeline.config import PipelineConfig
from pipeline.demo_data import make_demo_data
from pipeline.pipeline import JUDGE_CACHE
from pipeline.runner import PipelineError, run_local
from serving.model_dirs import versions
from tests.conftest import TINY, WAVEGAN, run_cli, tiny_config

pytestmark = pytest.mark.e2e  # every test here runs the wavegan command, a browser or a whole pipeline

TINY_MODEL = dict(TINY, d_updates=1, steps=2)


def pipeline_config(tmp_path, **overrides):
    values = dict(data_root=str(tmp_path / "data"), output_dir=str(tmp_path / "out"),
                  eval_clips=4, fd_tolerance=1e6, judge_epochs=2, model=TINY_MODEL, ingest={"eval_percent": 30})
    values.update(overrides)
    return PipelineConfig(**values)


def generator_weights(model_dir):
    """The generator's variables as saved in a SavedModel, by their path in the module."""
    _, cfg = load_exported(model_dir)
    generator = Generator(cfg)
    tf.train.Checkpoint(generator=generator).read(os.path.join(model_dir, "variables", "variables")
                                                  ).assert_existing_objects_matched()
    return {f"{i}:{v.name}": v.numpy() for i, v in enumerate(generator.trainable_variables)}


def test_two_spans_push_two_versions_and_the_second_warm_starts(tmp_path):
    cfg = pipeline_config(tmp_path, model=dict(TINY_MODEL, eval_every_steps=1, train_eval_clips=4),
                          train_span_window=2)
    make_demo_data(os.path.join(cfg.data_root, "span-1"), files_per_class=3, seed=0)
    first = run_local(cfg, out=lambda line: None)
    assert first["pushed"] and first["pushed_version"] == 1 and first["span"] == 1
    assert first["evaluation"]["blessed"] and "baseline" not in first["evaluation"]
    assert first["serving_check"]["passed"] and first["ingest"]["files_ok"] == 15
    assert set(first["component_seconds"]) >= {"AudioExampleGen", "JudgeTrainer", "Trainer", "WaveGANEvaluator",
                                               "AudioPusher"}
    assert first["evaluation"]["judge"]["kind"] == "cnn-log-mel"  # the demo data is labelled
    assert "inception_score_ratio" in first["evaluation"]["candidate"]
    assert os.path.exists(first["report"]) and first["report"].endswith("index.html")

    make_demo_data(os.path.join(cfg.data_root, "span-2"), files_per_class=3, seed=1)
    second = run_local(cfg, out=lambda line: None)
    assert second["span"] == 2 and second["pushed_version"] == 2
    assert second["evaluation"]["baseline_dir"].endswith(os.path.join("wavegan", "1"))
    assert versions(cfg.serving_model_base) == [1, 2]
    assert len(os.listdir(os.path.join(cfg.pipeline_root, "judge_cache"))) == 2  # one judge per span
    import glob
    runs = sorted(glob.glob(os.path.join(cfg.pipeline_root, "Trainer", "model_run", "*")),
                  key=lambda path: int(os.path.basename(path)))
    # The second run ingested only span 2 and trained on a window of both spans' examples, streamed.
    assert [json.load(open(os.path.join(run, "spans.json")))["spans"] for run in runs] == [[1], [1, 2]]
    histories = [os.path.join(run, "eval_history.json") for run in runs]
    assert all(map(os.path.exists, histories))  # the Trainer evaluated with the span's judge, kept a best checkpoint
    assert [e["step"] for e in json.load(open(histories[0]))] == [0, 1, 2]
    v1 = generator_weights(os.path.join(cfg.serving_model_base, "1"))
    v2 = generator_weights(os.path.join(cfg.serving_model_base, "2"))
    fresh = {f"{i}:{v.name}": v.numpy() for i, v in enumerate(Generator(tiny_config()).trainable_variables)}
    # Two steps at lr 1e-4 from v1 stay within ~2e-4 of it; a fresh start would not.
    drift = max(np.max(np.abs(v2[k] - v1[k])) for k in v1)
    assert drift < 1e-3 and max(np.max(np.abs(fresh[k] - v1[k])) for k in v1 if "kernel" in k) > 0.05
    model, _ = load_exported(os.path.join(cfg.serving_model_base, "2"))
    audio = model.signatures["sample"](count=tf.constant(2), seed=tf.constant(0, tf.int64))["audio"]
    assert audio.shape == (2, 16384, 1)
    assert "judge_distance" in model.signatures["search"].structured_outputs  # the span's judge went with it


def _scale_output(generator, factor):
    last = generator.upsamplers[-1]
    for kernel in last.kernels:
        kernel.assign(kernel * factor)
    last.b.assign(last.b * factor)


def test_blessing_refuses_a_worse_candidate_and_accepts_an_equal_one(tmp_path):
    from components.audio_example_gen import run_standalone
    from components.evaluator import evaluate
    from models.config import IngestConfig
    make_demo_data(str(tmp_path / "data"), files_per_class=4, seed=0)
    run_standalone(str(tmp_path / "data"), str(tmp_path / "ingest"), tiny_config(), IngestConfig(eval_percent=30))
    examples = str(tmp_path / "ingest" / "examples")
    cfg = tiny_config()
    tf.random.set_seed(0)
    generator = Generator(cfg)
    baseline = export_generator(generator, cfg, str(tmp_path / "baseline"))
    same = export_generator(generator, cfg, str(tmp_path / "same"))
    _scale_output(generator, 3.0)  # ~9 dB louder noise: not clipped, further from the decaying drum hits
    worse = export_generator(generator, cfg, str(tmp_path / "worse"))
    from components.judge import load_or_train_judge
    cache = str(tmp_path / "judges")
    judge = load_or_train_judge(examples, cfg, cache, epochs=2)
    (judge_dir,) = [os.path.join(cache, name) for name in os.listdir(cache)]
    stamp = os.path.getmtime(os.path.join(judge_dir, "judge.json"))
    assert load_or_train_judge(examples, cfg, cache, epochs=2).info == judge.info  # cached, not retrained
    assert os.path.getmtime(os.path.join(judge_dir, "judge.json")) == stamp
    args = dict(examples_uri=examples, num_clips=8, seed=0, max_silent_fraction=0.5, max_clipped_fraction=0.2,
                fd_tolerance=0.1, judge_dir=judge_dir)
    result = evaluate(worse, baseline, **args)
    assert result["candidate"]["silent_fraction"] == 0 and result["candidate"]["clipped_fraction"] == 0
    assert result["candidate"]["frechet_distance"] > 1.1 * result["baseline"]["frechet_distance"]
    assert not result["blessed"] and "Frechet distance" in result["reason"]
    assert evaluate(same, baseline, **args)["blessed"]
    first = evaluate(worse, None, **args)
    assert first["blessed"] and "first model" in first["reason"]
    assert "inception_score" in first["candidate"]  # the data is labelled


def test_a_new_span_reuses_the_last_judge_while_it_still_judges_well(tmp_path):
    """New audio of a kind already judged costs a check, not a training; audio the judge cannot
    classify (here the class names moved to other drums) gets a new judge."""
    from components.audio_example_gen import run_standalone
    from components.judge import load_or_train_judge, reuse_threshold
    from models.config import IngestConfig
    cfg, cache = tiny_config(), str(tmp_path / "judges")

    def span(name, seed, rename=None, drop=()):
        make_demo_data(str(tmp_path / name), files_per_class=16, seed=seed)
        for kind in drop:
            shutil.rmtree(tmp_path / name / kind)
        for old, new in (rename or {}).items():
            os.rename(tmp_path / name / old, tmp_path / name / f"_{new}")
        for moved in [d for d in os.listdir(tmp_path / name) if d.startswith("_")]:
            os.rename(tmp_path / name / moved, tmp_path / name / moved[1:])
        run_standalone(str(tmp_path / name), str(tmp_path / name / "out"), cfg, IngestConfig(eval_percent=50))
        return str(tmp_path / name / "out" / "examples")

    first = load_or_train_judge(span("span-1", 0), cfg, cache, epochs=8)
    assert "reused_from" not in first.info and first.eval_accuracy >= 0.9
    second = load_or_train_judge(span("span-2", 1), cfg, cache, epochs=8)
    assert second.info["reused_from"] and second.info["trained_eval_accuracy"] == first.eval_accuracy
    assert second.eval_accuracy >= reuse_threshold(first.eval_accuracy, first.info["num_eval"], 80)
    assert second.info["num_eval"] == 80 and second.info["trained_num_eval"] == first.info["num_eval"]
    assert len(os.listdir(cache)) == 2  # the reused judge is span 2's judge from now on
    fewer = load_or_train_judge(span("span-4", 3, drop=["hat"]), cfg, cache, epochs=8)  # no "hat" this time
    assert fewer.info["reused_from"] and fewer.label_names == first.label_names  # a judge of all five
    names = sorted(first.label_names)
    swapped = load_or_train_judge(span("span-3", 2, dict(zip(names, names[1:] + names[:1]))), cfg, cache, epochs=1)
    assert "reused_from" not in swapped.info and swapped.info["label_names"] == first.label_names


def test_a_failed_serving_check_blocks_the_push(tmp_path):
    """A real TFX run: a model that loads but fails its requests is not pushed."""
    from tfx import v1 as tfx
    from components.pusher import AudioPusher
    from components.serving_check import ServingCheck, check_model
    cfg = tiny_config()
    model_uri = tmp_path / "model"
    export_generator(Generator(cfg), cfg, str(model_uri / "Format-Serving"))
    broken = cfg.replace(latent_dim=7)  # the config asset now disagrees with the graph
    (model_uri / "Format-Serving" / "assets" / "wavegan_config.json").write_text(broken.to_json())
    problem = check_model(str(model_uri / "Format-Serving"))
    assert "INVALID_ARGUMENT" in problem or "failed to load" in problem, problem
    model = tfx.dsl.Importer(source_uri=str(model_uri), artifact_type=tfx.types.standard_artifacts.Model
                             ).with_id("import_model")
    blessing_dir = tmp_path / "blessing"
    blessing_dir.mkdir()
    blessing = tfx.dsl.Importer(source_uri=str(blessing_dir), artifact_type=tfx.types.standard_artifacts.ModelBlessing,
                                custom_properties={"blessed": 1}).with_id("import_blessing")
    check = ServingCheck(model=model.outputs["result"])
    pusher = AudioPusher(model=model.outputs["result"], model_blessing=blessing.outputs["result"],
                         infra_blessing=check.outputs["blessing"], serving_model_base=str(tmp_path / "serving"))
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="check", pipeline_root=str(tmp_path / "root"), components=[model, blessing, check, pusher],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(tmp_path / "m.sqlite")))
    tfx.orchestration.LocalDagRunner().run(pipeline)
    assert versions(str(tmp_path / "serving")) == []
    assert not os.path.exists(tmp_path / "serving") or not os.listdir(tmp_path / "serving")


def test_bad_data_fails_naming_the_step_and_the_next_run_succeeds(tmp_path):
    cfg = pipeline_config(tmp_path)
    with pytest.raises(PipelineError, match="data root not found"):
        run_local(cfg, out=lambda line: None)
    bad_span = os.path.join(cfg.data_root, "span-1", "kick")
    os.makedirs(bad_span)
    open(os.path.join(bad_span, "x.wav"), "wb").write(b"not audio")
    with pytest.raises(PipelineError, match="step AudioExampleGen failed: .*no valid audio slices"):
        run_local(cfg, out=lambda line: None)
    make_demo_data(os.path.join(cfg.data_root, "span-2"), files_per_class=3, seed=0)
    summary = run_local(cfg, data_only=True, out=lambda line: None)
    assert summary["span"] == 2 and summary["ingest"]["files_ok"] == 15
    result = run_cli("pipeline", "run", "--data-root", tmp_path / "missing", "--output", tmp_path / "o2")
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].startswith(
        "wavegan pipeline: error: data root not found")


def test_anomalies_stop_training_unless_allowed(tmp_path):
    from pipeline.runner import format_summary
    cfg = pipeline_config(tmp_path, min_rms_db=0.0)  # every slice is quieter than 0 dBFS: an rms anomaly
    make_demo_data(os.path.join(cfg.data_root, "span-1"), files_per_class=3, seed=0)
    with pytest.raises(PipelineError, match=r"step AnomalyGate failed: .*anomalies.*rms.*allow_anomalies"):
        run_local(cfg, out=lambda line: None)
    assert versions(cfg.serving_model_base) == []  # nothing trained, nothing pushed
    allowed = run_local(cfg.replace(allow_anomalies="rms"), out=lambda line: None)
    assert allowed["pushed"] and "rms" in allowed["anomalies"] and allowed["anomalies_allowed"] == ["rms"]
    assert "allowed by allow_anomalies: rms" in format_summary(allowed)


def _one_shot_collection(root, rng):
    """Like a public drum-machine collection: folders of uneven size (one holds only two hits), one-shots
    whose quiet tails fill most of their slices, and the collection's own non-audio files beside them."""
    from models.audio import write_wav
    from pipeline.demo_data import synth_hit
    for kind, count in (("kick", 7), ("snare", 5), ("hat", 4), ("clap", 3), ("tom", 2)):
        os.makedirs(os.path.join(root, kind))
        for i in range(count):
            write_wav(os.path.join(root, kind, f"{kind}{i}.wav"), synth_hit(kind, rng, 16000, 2.5), 16000)
    for name, text in (("index.js", "export default {}"), ("kit.json", "{}"), ("README.md", "# kit")):
        with open(os.path.join(root, name), "w") as f:
            f.write(text)


def _span_of(root, make_audio, rate=16000):
    from models.audio import write_wav
    for kind in ("kick", "snare"):
        os.makedirs(os.path.join(root, kind))
        for i in range(3):
            write_wav(os.path.join(root, kind, f"{i}.wav"), make_audio(i), rate)


def test_a_real_collection_passes_with_defaults_and_bad_spans_stop_with_their_reasons(tmp_path):
    rng = np.random.RandomState(0)
    cfg = pipeline_config(tmp_path, ingest={})  # the default split, silence and share settings
    _one_shot_collection(os.path.join(cfg.data_root, "span-1"), rng)
    first = run_local(cfg, out=lambda line: None)
    assert first["pushed_version"] == 1 and not set(first["anomalies"]) - set(first["anomalies_tolerated"])
    assert first["ingest"]["silent_slices_dropped"] > 0 and first["ingest"]["files_skipped"] == 3  # .js .json .md

    noise = lambda i: np.clip(rng.normal(0, 3.0, 20000), -1, 1)  # noqa: E731
    _span_of(os.path.join(cfg.data_root, "span-2"), noise)
    with pytest.raises(PipelineError, match=r"step AnomalyGate failed: .*clip_ratio"):
        run_local(cfg, out=lambda line: None)
    _span_of(os.path.join(cfg.data_root, "span-3"), lambda i: np.zeros(20000))
    with pytest.raises(PipelineError, match=r"step AudioExampleGen failed: .*no valid audio slices.*every slice was below"):
        run_local(cfg, out=lambda line: None)
    from pipeline.demo_data import synth_hit
    _span_of(os.path.join(cfg.data_root, "span-4"), lambda i: synth_hit("kick", rng, 8000, 1.0), rate=8000)
    with pytest.raises(PipelineError, match=r"step AnomalyGate failed: .*source_sample_rate"):
        run_local(cfg, out=lambda line: None)
    assert versions(cfg.serving_model_base) == [1]


def test_killing_a_run_mid_training_leaves_the_serving_dir_intact(tmp_path):
    cfg = pipeline_config(tmp_path)
    make_demo_data(os.path.join(cfg.data_root, "span-1"), files_per_class=3, seed=0)
    run_local(cfg, out=lambda line: None)
    with open(tmp_path / "config.json", "w") as f:
        json.dump({**json.loads(cfg.to_json()), "model": {**TINY_MODEL, "steps": 100000}}, f)
    exe = WAVEGAN
    proc = subprocess.Popen([exe, "pipeline", "run", "--config", str(tmp_path / "config.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), start_new_session=True)
    deadline = time.time() + 240
    for line in proc.stdout:
        if "step 1/100000" in line or time.time() > deadline:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert versions(cfg.serving_model_base) == [1]
    assert sorted(os.listdir(cfg.serving_model_base)) == ["1"]
    load_exported(os.path.join(cfg.serving_model_base, "1"))
    again = run_local(cfg, out=lambda line: None)  # the lock died with the process
    assert again["pushed_version"] == 2
    # Three ingests of the same audio wrote the same bytes, so all three runs used one cached judge.
    assert len(os.listdir(os.path.join(cfg.pipeline_root, JUDGE_CACHE))) == 1


def test_a_second_concurrent_run_is_refused(tmp_path):
    from pipeline.schedule import AlreadyRunning, pipeline_lock
    cfg = pipeline_config(tmp_path)
    make_demo_data(os.path.join(cfg.data_root, "span-1"), files_per_class=1, seed=0)
    with pipeline_lock(cfg):
        with pytest.raises(AlreadyRunning):
            run_local(cfg, out=lambda line: None)
        result = run_cli("pipeline", "run", "--data-root", cfg.data_root, "--output", cfg.output_dir)
        assert result.returncode == 2 and "another pipeline run is in progress" in result.stderr


def test_fsdd_subset_ends_with_a_pushed_loadable_version(tmp_path):
    from tests.conftest import FSDD
    if not os.path.isdir(FSDD):
        pytest.skip(f"FSDD not found at {FSDD}")
    data = tmp_path / "data"
    data.mkdir()
    for name in sorted(f for f in os.listdir(FSDD) if f.endswith(".wav"))[::50]:  # 30 recordings
        os.symlink(os.path.join(FSDD, name), data / name)
    # Default settings: near-silent slices are dropped at ingest, so no allow_anomalies is needed.
    cfg = pipeline_config(tmp_path, ingest={"label_source": "prefix"})
    summary = run_local(cfg, out=lambda line: None)
    assert not set(summary["anomalies"]) - set(summary["anomalies_tolerated"]), summary["anomalies"]
    assert summary["ingest"]["files_ok"] == 30 and len(summary["ingest"]["labels"]) == 10
    assert summary["pushed"] and summary["pushed_version"] == 1
    assert "inception_score" in summary["evaluation"]["candidate"]
    model, _ = load_exported(summary["pushed_destination"])
    assert model.signatures["sample"](count=tf.constant(1), seed=tf.constant(0, tf.int64))["audio"].shape == (1, 16384, 1)
