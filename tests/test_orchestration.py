"""Kubeflow compilation and scheduled retraining."""
import os
import datetime as dt
import socket

import pytest

from pipeline.config import PipelineConfig
from pipeline.demo_data import make_demo_data
from pipeline.runner import run_local
from pipeline.schedule import Cron, ScheduleError, check_and_run, parse_every
from tests.conftest import TINY, run_cli


@pytest.mark.e2e
def test_kubeflow_spec_has_every_component_and_the_trainer_gpu(tmp_path):
    import kfp.components
    out = tmp_path / "pipeline.yaml"
    result = run_cli("pipeline", "compile", "--target", "kubeflow", "--out", out, "--data-root", "gs://b/audio",
                     "--output", "gs://b/wavegan", "--image", "registry.example/wavegan:1", "--trainer-gpus", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    component = kfp.components.load_component_from_file(str(out))  # kfp's own loader
    spec = component.pipeline_spec
    expected = {"AudioExampleGen", "StatisticsGen", "AudioSchemaGen", "ExampleValidator", "AnomalyGate",
                "JudgeTrainer", "Trainer",
                "WaveGANEvaluator", "ServingCheck", "AudioPusher"}
    assert set(spec.root.dag.tasks) == expected
    from google.protobuf import json_format
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    trainer = executors["Trainer_executor"]["container"]
    assert trainer["resources"]["accelerator"] == {"type": "nvidia.com/gpu", "count": "2"}
    assert all(e["container"]["image"] == "registry.example/wavegan:1" for e in executors.values())
    # The span-resolving driver runs on Kubeflow too (no Resolver nodes anywhere).
    assert "file_based_example_gen.driver" in str(executors["AudioExampleGen_executor"])
    assert "Resolver" not in out.read_text()


@pytest.mark.e2e
def test_kubeflow_spec_trains_on_n_vertex_machines_from_the_pipeline_config(tmp_path):
    """trainer_workers > 1: the Trainer step becomes a Vertex AI custom job with a chief and N-1 workers."""
    import json

    import kfp.components
    from google.protobuf import json_format
    config = tmp_path / "pipeline.json"
    config.write_text(json.dumps({"trainer_workers": 3, "trainer_gpus": 2, "trainer_accelerator": "NVIDIA_L4",
                                  "vertex_project": "audio-lab", "image": "registry.example/wavegan:2"}))
    out = tmp_path / "pipeline.yaml"
    result = run_cli("pipeline", "compile", "--target", "kubeflow", "--out", out, "--config", config,
                     "--data-root", "gs://b/audio", "--output", "gs://b/wavegan")
    assert result.returncode == 0, result.stderr[-2000:]
    spec = kfp.components.load_component_from_file(str(out)).pipeline_spec  # kfp's own loader
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    assert "google_cloud_ai_platform" in str(executors["Trainer_executor"])  # TFX's Vertex training executor
    params = json_format.MessageToDict(spec.root.dag.tasks["Trainer"].inputs)["parameters"]
    custom = json.loads(params["custom_config"]["runtimeValue"]["constantValue"]["stringValue"])
    assert custom["ai_platform_enable_vertex"] is True and custom["ai_platform_vertex_region"] == "us-central1"
    job = custom["ai_platform_training_args"]
    assert job["project"] == "audio-lab"
    chief, workers = job["job_spec"]["worker_pool_specs"]
    assert (chief["replica_count"], workers["replica_count"]) == (1, 2)
    for pool in (chief, workers):
        assert pool["machine_spec"]["accelerator_type"] == "NVIDIA_L4"
        assert pool["machine_spec"]["accelerator_count"] == 2
        assert pool["container_spec"]["image_uri"] == "registry.example/wavegan:2"
    assert "model_config" in custom  # our run_fn's own keys travel alongside

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"trainer_workers": 2}))
    result = run_cli("pipeline", "compile", "--target", "kubeflow", "--out", out, "--config", bad)
    assert result.returncode == 2 and "vertex_project" in result.stderr and "Traceback" not in result.stderr


def test_intervals_and_cron_expressions():
    assert parse_every("30m") == 1800 and parse_every("1d") == 86400
    for bad in ("", "0h", "5 weeks", "1x"):
        with pytest.raises(ScheduleError):
            parse_every(bad)
    nightly = Cron("0 3 * * *")
    assert nightly.next_after(dt.datetime(2026, 1, 1, 3, 0, 30)) == dt.datetime(2026, 1, 2, 3, 0)
    weekdays = Cron("*/15 9-17 * * 1-5")
    assert weekdays.next_after(dt.datetime(2026, 11, 28, 12, 0)) == dt.datetime(2026, 11, 30, 9, 0)  # Sat -> Mon
    for bad in ("* * *", "61 * * * *", "a b c d e", "", "@fortnightly"):
        with pytest.raises(ScheduleError):
            Cron(bad)
    start = dt.datetime(2026, 11, 24, 10, 0, 30)  # a Tuesday
    assert Cron("@daily").next_after(start) == dt.datetime(2026, 11, 25, 0, 0)
    assert Cron("0 9 * * mon").next_after(start) == dt.datetime(2026, 11, 30, 9, 0)  # names
    assert Cron("0 0 13 * fri").next_after(start) == dt.datetime(2026, 11, 27, 0, 0)  # dom OR dow, as cron does
    assert Cron("15 0 3 * * *").next_after(start) == dt.datetime(2026, 11, 25, 3, 0, 15)  # KFP: seconds first
    assert Cron("0 3 * * *").for_kubeflow() == "0 0 3 * * *" and Cron("@hourly").for_kubeflow() == "0 0 * * * *"
    assert Cron("15 0 3 * * *").for_kubeflow() == "15 0 3 * * *"


@pytest.mark.e2e
def test_scheduler_runs_only_when_a_new_span_arrives(tmp_path):
    cfg = PipelineConfig(data_root=str(tmp_path / "data"), output_dir=str(tmp_path / "out"),
                         model=TINY)
    make_demo_data(str(tmp_path / "data" / "span-1"), files_per_class=1, seed=0)
    spans, lines = [], []

    def run(c):
        spans.append(run_local(c, data_only=True, out=lambda line: None)["span"])

    assert check_and_run(cfg, run, lines.append) == "ran"
    assert check_and_run(cfg, run, lines.append) == "no-new-data"
    make_demo_data(str(tmp_path / "data" / "span-2"), files_per_class=1, seed=1)
    assert check_and_run(cfg, run, lines.append) == "ran"
    assert spans == [1, 2]
    assert any("nothing to do" in line for line in lines)


@pytest.mark.e2e
def test_kubeflow_schedule_reports_an_unreachable_host_in_one_line(tmp_path):
    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    package = tmp_path / "p.yaml"
    package.write_text("{}")
    result = run_cli("pipeline", "schedule", "--host", f"http://127.0.0.1:{port}", "--package", package,
                     "--every", "1d", timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("wavegan pipeline: error: cannot create the recurring run")


def test_the_demo_workflow_pushes_two_versions_and_synthesises_each_class_over_grpc(tmp_path):
    """pipeline.demo end to end at a tiny size: the class-conditional model is sampled per class."""
    from pipeline.demo import run_demo
    from pipeline.demo_data import CLASSES
    from pipeline.runner import run_local
    lines = []
    summary = run_demo(str(tmp_path / "demo"), steps=2, model_size=4, files_per_class=3,
                       run_pipeline=lambda cfg: run_local(cfg, out=lambda line: None), say=lines.append)
    assert lines[0].startswith("recipe paper") and lines[0].endswith("(with the config's model options over it)")
    assert sorted(os.listdir(summary["serving_model_base"])) == ["1", "2"]
    from models.export import exported_config
    pushed = exported_config(os.path.join(summary["serving_model_base"], "2"))
    assert (pushed.aux_classifier, pushed.label_film, pushed.upsample) == (1.0, True, "nn")  # the demo's label path
    assert sorted(os.listdir(summary["generated"])) == sorted(f"{name}_0.wav" for name in CLASSES)
