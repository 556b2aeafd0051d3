"""The Beam steps on the portable runner path: a job service and a worker pool as separate
processes on 127.0.0.1, SDK workers started by the pool (the shape Flink, Spark and Dataflow
Runner v2 have), against the DirectRunner on the same span; and SDK workers killed mid-run."""
import glob
import os
import threading
import time

import pytest

from components.audio_example_gen import run_standalone
from components.audio_ingest import IngestError
from models.config import IngestConfig, WaveGANConfig
from pipeline.beam_runners import beam_options
from tests.conftest import run_cli
from tests.test_ingest import read_examples, write_bad_files, write_good_files

pytestmark = pytest.mark.e2e
MODEL = WaveGANConfig(model_size=4)


class WorkerKiller:
    """Kills every Beam SDK worker process as soon as it appears, connected to the job service or not
    (left alone, Beam's job service would wait forever for a worker that died mid-bundle)."""

    def __init__(self):
        self.killed, self._stop = [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psutil
        while not self._stop.is_set():
            for process in psutil.process_iter(["pid", "cmdline"]):
                if "SdkHarness" in " ".join(process.info["cmdline"] or []) and process.pid not in self.killed:
                    try:
                        process.kill()
                        self.killed.append(process.pid)
                    except psutil.NoSuchProcess:
                        pass
            time.sleep(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _sorted_examples(out):
    return {split: sorted(e.SerializeToString(deterministic=True) for e in read_examples(out, split))
            for split in ("train", "eval")}


def test_ingest_on_the_portable_path_writes_what_the_direct_runner_writes(tmp_path):
    data = str(tmp_path / "data")
    write_good_files(data, n=8)
    write_bad_files(data)
    direct = run_standalone(data, str(tmp_path / "direct"), MODEL, IngestConfig())
    with beam_options("portable") as args:
        assert "--environment_type=EXTERNAL" in args  # SDK workers from a separate worker pool
        portable = run_standalone(data, str(tmp_path / "portable"), MODEL, IngestConfig(), args)
    assert portable == direct  # the same files ok, the same damaged files with the same reasons
    assert _sorted_examples(str(tmp_path / "portable" / "examples")) == _sorted_examples(
        str(tmp_path / "direct" / "examples"))

    # SDK workers killed mid-run: the run fails in one line, and the last good output is untouched.
    before = _sorted_examples(str(tmp_path / "direct" / "examples"))
    with WorkerKiller() as killer, beam_options("portable") as args:
        with pytest.raises(IngestError, match="the Beam job failed, so nothing was written to"):
            run_standalone(data, str(tmp_path / "direct"), MODEL, IngestConfig(), args)
    assert killer.killed
    assert _sorted_examples(str(tmp_path / "direct" / "examples")) == before
    assert not os.path.exists(tmp_path / "direct" / ".incomplete")


def test_an_unreachable_job_service_is_a_one_line_error_not_a_hang(tmp_path):
    """The command gives up at its own deadline (10 s, said in the error); run_cli's timeout catches a
    hang. No wall-clock bound here: on a loaded 2-core machine the command's start alone varies 3x."""
    data = tmp_path / "data"
    write_good_files(str(data), n=1)
    result = run_cli("ingest", "--data-dir", data, "--out", tmp_path / "out", "--runner", "portable",
                     "--job-endpoint", "127.0.0.1:9", timeout=180)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "wavegan ingest: error: cannot reach the Beam job service at 127.0.0.1:9 (no answer within 10 s)")


def _stats(uri):
    import tensorflow_data_validation as tfdv
    found = {}
    for path in sorted(glob.glob(os.path.join(uri, "Split-*", "FeatureStats.pb"))):
        for feature in tfdv.load_stats_binary(path).datasets[0].features:
            stats = feature.num_stats if feature.HasField("num_stats") else feature.string_stats
            found[(path.split(os.sep)[-2], feature.path.step[0])] = (
                stats.common_stats.num_non_missing, round(getattr(stats, "min", 0), 5),
                round(getattr(stats, "max", 0), 5), round(getattr(stats, "mean", 0), 4),
                getattr(stats, "unique", 0))
    return found


def test_the_pipelines_beam_steps_on_the_portable_path_match_the_direct_runner(tmp_path):
    """Ingest, statistics and validation of one span; a first portable run loses its SDK workers and
    fails naming the step, and the next run ingests the whole span, not what the first left."""
    from pipeline.config import PipelineConfig
    from pipeline.runner import PipelineError, run_local
    from tests.test_ingest_pipeline import latest_artifact, write_span
    data = str(tmp_path / "data")
    write_span(data, 1, ["cat", "dog"])
    results = {}
    for runner in ("direct", "portable"):
        cfg = PipelineConfig(data_root=data, output_dir=str(tmp_path / runner), beam_runner=runner,
                             model=dict(model_size=4))
        if runner == "portable":
            with WorkerKiller():
                with pytest.raises(PipelineError, match="step AudioExampleGen failed"):
                    run_local(cfg, data_only=True, out=lambda line: None)
        summary = run_local(cfg, data_only=True, out=lambda line: None)
        results[runner] = (summary["ingest"], summary["anomalies"],
                           _sorted_examples(latest_artifact(tmp_path / runner, "Examples").uri),
                           _stats(latest_artifact(tmp_path / runner, "ExampleStatistics").uri))
    assert results["portable"] == results["direct"]
    assert results["direct"][0]["files_ok"] == 6


def test_cluster_runners_get_what_their_workers_need_to_import_the_project():
    from pipeline.beam_runners import PROJECT_SETUP, BeamRunnerError, runner_options
    dataflow = runner_options("dataflow", extra=["--project=p"])
    assert dataflow[0] == "--runner=DataflowRunner" and f"--setup_file={PROJECT_SETUP}" in dataflow
    assert os.path.exists(PROJECT_SETUP) and dataflow[-1] == "--project=p"
    assert "--sdk_container_image=img:1" in runner_options("flink", image="img:1")
    given = runner_options("portable", job_endpoint="jobs:8099")
    assert "--job_endpoint=jobs:8099" in given and "--environment_type=LOOPBACK" in given
    with pytest.raises(BeamRunnerError, match="needs a job endpoint"):
        runner_options("portable")  # e.g. compiling for Kubeflow: no local job service to start
