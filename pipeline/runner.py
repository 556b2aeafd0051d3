"""Runs the pipeline locally (LocalDagRunner, SQLite metadata), shows progress per
component and a summary, and turns failures into one line naming the step."""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from typing import Callable

from components.audio_ingest import REPORT_FILE
from components.evaluator import METRICS_FILE
from models.errors import WaveGANError, first_line
from pipeline.config import PipelineConfig

log = logging.getLogger(__name__)


class PipelineError(WaveGANError):
    """The run failed; the message names the step and the cause."""


class ComponentProgress(logging.Handler):
    """Listens to LocalDagRunner's 'Component X is running/finished' lines."""

    PATTERN = re.compile(r"^Component (\S+) is (running|finished)\.$")

    def __init__(self, total: int, out: Callable[[str], None]):
        super().__init__(logging.INFO)
        self.total, self.out = total, out
        self.started, self.seconds, self.current = {}, {}, None

    def emit(self, record):
        match = self.PATTERN.match(record.getMessage())
        if not match:
            if record.levelno >= logging.ERROR:
                sys.stderr.write(f"{record.levelname}: {record.getMessage()}\n")
            return
        name, state = match.groups()
        if state == "running":
            self.current, self.started[name] = name, time.time()
            self.out(f"[{len(self.started)}/{self.total}] {name} ...")
        else:
            self.seconds[name] = time.time() - self.started.get(name, time.time())
            self.current = None
            self.out(f"[{len(self.started)}/{self.total}] {name} done in {self.seconds[name]:.1f} s")


def check_data_root(cfg: PipelineConfig) -> None:
    import tensorflow as tf
    if not cfg.data_root:
        raise PipelineError("no data root given (--data-root)")
    if not tf.io.gfile.isdir(cfg.data_root):
        raise PipelineError(f"data root not found: {cfg.data_root}")
    if not tf.io.gfile.listdir(cfg.data_root):
        raise PipelineError(f"data root is empty: {cfg.data_root}")


def run_local(cfg: PipelineConfig, data_only: bool = False, out: Callable[[str], None] = print) -> dict:
    """Runs once (never two at once on one output dir); returns the summary.

    Raises PipelineError (one line naming the step) on failure, AlreadyRunning if busy.
    """
    from pipeline.schedule import pipeline_lock
    check_data_root(cfg)
    with pipeline_lock(cfg):
        return _run_locked(cfg, data_only, out)


def _run_locked(cfg: PipelineConfig, data_only: bool, out: Callable[[str], None]) -> dict:
    from pipeline.beam_runners import beam_options
    with beam_options(cfg.beam_runner, cfg.beam_workers, cfg.beam_job_endpoint) as beam_args:
        return _run_pipeline(cfg, data_only, out, beam_args)


def _run_pipeline(cfg: PipelineConfig, data_only: bool, out: Callable[[str], None], beam_args: list) -> dict:
    from tfx import v1 as tfx
    from pipeline.pipeline import create_pipeline
    pipeline = create_pipeline(cfg, data_only=data_only, beam_args=beam_args)
    progress = ComponentProgress(len(pipeline.components), out)
    import absl.logging
    # TFX logs through absl: keep its progress lines and errors. The level is set through
    # absl's verbosity, which TensorFlow saves and restores around checkpointing.
    absl_logger = logging.getLogger("absl")
    previous = absl.logging.get_verbosity(), absl_logger.propagate
    absl_logger.addHandler(progress)
    absl.logging.set_verbosity(absl.logging.INFO)
    absl_logger.propagate = False
    start = time.time()
    try:
        tfx.orchestration.LocalDagRunner().run(pipeline)
    except Exception as error:  # noqa: BLE001 - reported as one line naming the step
        step = progress.current or "pipeline"
        raise PipelineError(f"step {step} failed: {first_line(error, last=True)}") from error
    finally:
        absl_logger.removeHandler(progress)
        absl.logging.set_verbosity(previous[0])
        absl_logger.propagate = previous[1]
    summary = summarize(cfg, since=start)
    summary["component_seconds"] = progress.seconds
    summary["wall_seconds"] = time.time() - start
    return summary


def _store(cfg: PipelineConfig):
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = cfg.metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


def _latest(store, type_name: str, since_ms: int):
    found = [a for a in store.get_artifacts_by_type(type_name) if a.create_time_since_epoch >= since_ms]
    return max(found, key=lambda a: a.id) if found else None


def _prop(artifact, name):
    value = artifact.custom_properties.get(name)
    if value is None:
        return None
    return value.int_value if value.HasField("int_value") else value.string_value


def _anomaly_summary(store, anomalies, cfg: PipelineConfig, since_ms: int) -> dict:
    """What validation found, what the tolerated share let through, and what allow_anomalies did."""
    from components.anomaly_gate import blocking, read_anomalies, tolerated
    found = read_anomalies(anomalies.uri)
    statistics, schema = _latest(store, "ExampleStatistics", since_ms), _latest(store, "Schema", since_ms)
    within = (tolerated(anomalies.uri, statistics.uri, schema.uri, cfg.max_out_of_range_share)
              if statistics and schema else {})
    stopping = blocking(found, "", within)
    return {"anomalies": sorted(found), "anomalies_tolerated": within,
            "anomalies_allowed": sorted(set(stopping) - set(blocking(found, cfg.allow_anomalies, within)))}


def summarize(cfg: PipelineConfig, since: float = 0.0) -> dict:
    """What the run produced, read back from ML Metadata and the artifacts."""
    store = _store(cfg)
    since_ms = int(since * 1000) - 1000
    summary = {}
    report = _latest(store, "wavegan.IngestReport", since_ms)
    if report:
        with open(os.path.join(report.uri, REPORT_FILE)) as f:
            ingest = json.load(f)
        summary["ingest"] = {k: ingest.get(k, 0) for k in ("files_ok", "files_partial", "files_skipped", "slices",
                                                             "silent_slices_dropped", "audio_seconds", "labels")}
        examples = _latest(store, "Examples", since_ms)
        summary["span"] = _prop(examples, "span") if examples else None
    anomalies = _latest(store, "ExampleAnomalies", since_ms)
    if anomalies:
        summary.update(_anomaly_summary(store, anomalies, cfg, since_ms))
    evaluation = _latest(store, "ModelEvaluation", since_ms)
    if evaluation:
        with open(os.path.join(evaluation.uri, METRICS_FILE)) as f:
            summary["evaluation"] = json.load(f)
        summary["report"] = _prop(evaluation, "report")
    infra = _latest(store, "InfraBlessing", since_ms)
    if infra:
        summary["serving_check"] = {"passed": _prop(infra, "blessed") == 1, "reason": _prop(infra, "reason")}
    pushed = _latest(store, "PushedModel", since_ms)
    if pushed:
        summary["pushed"] = bool(_prop(pushed, "pushed"))
        summary["pushed_version"] = _prop(pushed, "pushed_version")
        summary["pushed_destination"] = _prop(pushed, "pushed_destination")
        summary["not_pushed_reason"] = _prop(pushed, "reason")
    return summary


def format_metrics(m: dict) -> str:
    """One line of quality metrics (models.quality), the ones present."""
    parts = [f"IS {m['inception_score']:.2f} ({m['inception_score_ratio']:.2f} of real)"
             if "inception_score" in m else "", (f"label acc {m['label_accuracy']:.2f}" + (f" ({m['label_accuracy_ratio']:.2f} of the judge's)"
                                               if "label_accuracy_ratio" in m else "")) if "label_accuracy" in m else "",
             f"FD {m['frechet_distance']:.4g}", f"NDB {m['ndb']}/{round(m['ndb'] / max(m['ndb_fraction'], 1e-9))}"
             if m.get("ndb") else f"NDB {m.get('ndb', 0)}",
             f"NN-train {m['nn_distance_to_train']:.3g}" if "nn_distance_to_train" in m else "",
             f"silent {m['silent_fraction']:.0%}", f"clipped {m['clipped_fraction']:.0%}",
             f"voiced {m['voiced_fraction']:.2f} ({m['voiced_fraction_ratio']:.2f} of real)"
             if "voiced_fraction" in m else ""]
    return "  ".join(p for p in parts if p)


def format_summary(summary: dict) -> str:
    lines = []
    ingest = summary.get("ingest")
    if ingest:
        lines.append(f"data: span {summary.get('span')}: {ingest['files_ok']} files ok, {ingest['files_skipped']} "
                     f"skipped, {ingest['slices']} slices ({ingest['silent_slices_dropped']} silent ones "
                     f"dropped), {ingest['audio_seconds']:.1f} s, "
                     f"labels {ingest['labels'] or 'none'}")
    if "anomalies" in summary:
        found, allowed = summary["anomalies"], summary.get("anomalies_allowed", [])
        line = f"anomalies in {', '.join(found)}" if found else "no anomalies"
        within = summary.get("anomalies_tolerated", {})
        if within:
            line += " (within the tolerated share: " + "; ".join(f"{k}: {v}" for k, v in within.items()) + ")"
        if allowed:
            line += f" (allowed by allow_anomalies: {', '.join(allowed)})"
        lines.append(f"validation: {line}")
    evaluation = summary.get("evaluation")
    if evaluation:
        judge = evaluation.get("judge", {})
        if "eval_accuracy" in judge:
            lines.append(f"judge: {judge['kind']}, accuracy on real eval {judge['eval_accuracy']:.2f}")
        elif judge:
            lines.append(f"judge: {judge['kind']}")
        for name in ("real_eval", "candidate", "baseline"):
            if name in evaluation:
                lines.append(f"{name}: {format_metrics(evaluation[name])}")
        lines.append(f"blessed: {'yes' if evaluation['blessed'] else 'no'} ({evaluation['reason']})")
    if summary.get("report"):
        lines.append(f"report: {summary['report']}")
    if "serving_check" in summary:
        check = summary["serving_check"]
        lines.append(f"serving check: {'passed' if check['passed'] else 'FAILED: ' + check['reason']}")
    if "pushed" in summary:
        lines.append(f"pushed: version {summary['pushed_version']} -> {summary['pushed_destination']}"
                     if summary["pushed"] else f"not pushed: {summary['not_pushed_reason']}")
    return "\n".join(lines)
