"""PipelineConfig: the one configuration of a pipeline run (file + CLI overrides).

JSON form: the pipeline's own fields, plus "model" (WaveGANConfig fields) and
"ingest" (IngestConfig fields), e.g.
  {"data_root": "audio/", "model": {"model_size": 32, "steps": 2000}}
Each value has one home: the step count is model.steps (the Trainer's TrainArgs are
derived from it), and "model" and "ingest" become typed configs on construction; a
"model" given as options goes over the recipe ("recipe", models.recipes; default auto).
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field, fields

from models.config import ConfigError, IngestConfig, WaveGANConfig, _ConfigBase, merge_options

log = logging.getLogger(__name__)


@dataclass
class PipelineConfig(_ConfigBase):
    data_root: str = field(default="", metadata={"help": "folder of audio, or of span-N/ folders of audio"})
    output_dir: str = field(default="wavegan_output", metadata={"help": "pipeline root, metadata and (by default) serving dir"})
    pipeline_name: str = field(default="wavegan", metadata={"help": "pipeline name (ML Metadata context)"})
    serving_dir: str = field(default="", metadata={"help": "TF Serving base path (default <output_dir>/serving)"})
    model_name: str = field(default="wavegan", metadata={"help": "model name under the serving dir"})
    input_pattern: str = field(default="", metadata={"help": "glob under data_root; default: span-{SPAN}/* if span folders exist, else *"})
    train_span_window: int = field(default=1, metadata={"help": "spans the Trainer reads: the last N ingested spans (1: only the new one; 0: all), streamed; each span is ingested once"})
    warm_start: bool = field(default=True, metadata={"help": "initialise from the model in service"})
    eval_clips: int = field(default=256, metadata={"help": "clips generated per model for evaluation"})
    judge_epochs: int = field(default=30, metadata={"help": "epochs to train the audio judge (once per data set)"})
    fd_tolerance: float = field(default=0.1, metadata={"help": "bless if FD <= baseline FD x (1 + this)"})
    max_silent_fraction: float = field(default=0.5, metadata={"help": "sanity: most clips allowed silent"})
    max_clipped_fraction: float = field(default=0.2, metadata={"help": "sanity: most clips allowed to clip"})
    max_clip_ratio: float = field(default=0.01, metadata={"help": "schema: max clipped-sample ratio per slice"})
    min_rms_db: float = field(default=-50.0, metadata={"help": "schema: min slice RMS level, dBFS"})
    max_out_of_range_share: float = field(default=0.01, metadata={"help": "a numeric limit (rms, clip_ratio, source_sample_rate) stops training only when more than this share of a split's slices breaks it; 0 = strict"})
    allow_anomalies: str = field(default="", metadata={"help": "train despite validation anomalies in these features (comma-separated, or 'all')"})
    trainer_gpus: int = field(default=1, metadata={"help": "GPUs the Kubeflow trainer step (each trainer machine) requests"})
    trainer_accelerator: str = field(default="nvidia.com/gpu", metadata={"help": "accelerator type (Vertex: e.g. NVIDIA_TESLA_T4)"})
    trainer_workers: int = field(default=1, metadata={"help": "trainer machines on Kubeflow; more than one trains data-parallel (MultiWorkerMirroredStrategy) as a Vertex AI custom job"})
    trainer_machine_type: str = field(default="n1-standard-8", metadata={"help": "Vertex machine type of each trainer machine (trainer_workers > 1)"})
    vertex_project: str = field(default="", metadata={"help": "Google Cloud project of the Vertex training job (trainer_workers > 1)"})
    vertex_region: str = field(default="us-central1", metadata={"help": "Vertex AI region of the training job"})
    image: str = field(default="wavegan-pipeline:latest", metadata={"help": "container image for Kubeflow"})
    beam_workers: int = field(default=1, metadata={"help": "Beam DirectRunner worker processes"})
    beam_runner: str = field(default="direct", metadata={"help": "where the Beam steps run: direct, portable (a job service and separate SDK worker processes; started on 127.0.0.1 when no beam_job_endpoint is given), dataflow, flink or spark (pipeline/beam_runners.py)"})
    beam_job_endpoint: str = field(default="", metadata={"help": "HOST:PORT of a Beam job service (portable runner)"})
    recipe: str = field(default="auto", metadata={"help": "training recipe under the model options: auto (gpu on a machine with a GPU, else cpu), cpu, gpu or paper (models.recipes)"})
    model: WaveGANConfig = field(default_factory=dict)
    ingest: IngestConfig = field(default_factory=IngestConfig)

    def __post_init__(self):
        self.recipe_note = "model options as given"  # what the run's first line says about the recipe
        if isinstance(self.model, dict):  # the recipe's values, then the model options given
            from models.recipes import describe, resolve_recipe
            name, values, why = resolve_recipe(self.recipe)
            self.model = WaveGANConfig.from_dict(merge_options(values, self.model))
            self.recipe_note = describe(name, why) + (" (with the config's model options over it)"
                                                      if self.model != WaveGANConfig.from_dict(values) else "")
        if isinstance(self.ingest, dict):
            self.ingest = IngestConfig.from_dict(self.ingest)
        super().__post_init__()

    @classmethod
    def from_dict(cls, values: dict):
        if "train_steps" in values:  # the old home of model.steps
            values = dict(values)
            steps = values.pop("train_steps")
            if steps:
                values["model"] = {**values.get("model", {}), "steps": steps}
            log.warning("config: train_steps is now model.steps (--steps); read as model.steps=%s", steps)
        return super().from_dict(values)

    def validate(self) -> "PipelineConfig":
        need = self._need
        need(self.eval_clips >= 2, "eval_clips", "must be at least 2")
        need(self.train_span_window >= 0, "train_span_window", "must be 0 (all spans) or more")
        need(self.fd_tolerance >= 0, "fd_tolerance", "must not be negative")
        need(0 <= self.max_silent_fraction <= 1, "max_silent_fraction", "must be in [0, 1]")
        need(0 <= self.max_clipped_fraction <= 1, "max_clipped_fraction", "must be in [0, 1]")
        need(0 <= self.max_out_of_range_share < 1, "max_out_of_range_share", "must be in [0, 1)")
        need(self.beam_workers >= 1, "beam_workers", "must be at least 1")
        from pipeline.beam_runners import RUNNERS
        need(self.beam_runner in RUNNERS, "beam_runner", f"must be one of {', '.join(RUNNERS)}")
        need(self.judge_epochs >= 1, "judge_epochs", "must be at least 1")
        need(self.trainer_workers >= 1, "trainer_workers", "must be at least 1")
        need(self.trainer_gpus >= 0, "trainer_gpus", "must not be negative")
        if self.trainer_workers > 1:
            need(bool(self.vertex_project), "vertex_project", "trainer_workers > 1 runs a Vertex AI job: name its project")
            need(self.trainer_gpus == 0 or "/" not in self.trainer_accelerator, "trainer_accelerator",
                 "Vertex names accelerators like NVIDIA_TESLA_T4 or NVIDIA_L4")
        need(bool(self.model_name) and "/" not in self.model_name, "model_name", "must be a plain name")
        return self

    def model_config(self) -> WaveGANConfig:
        return self.model

    def ingest_config(self) -> IngestConfig:
        return self.ingest

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.output_dir, "pipeline_root")

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.output_dir, "metadata.sqlite")

    @property
    def serving_model_base(self) -> str:
        return os.path.join(self.serving_dir or os.path.join(self.output_dir, "serving"), self.model_name)

    def resolved_input_pattern(self) -> str:
        """The pattern to use: as configured, else span-{SPAN}/* when span folders exist."""
        if self.input_pattern:
            return self.input_pattern
        import tensorflow as tf
        has_spans = bool(self.data_root) and tf.io.gfile.isdir(self.data_root) and any(
            name.rstrip("/").startswith("span-") for name in tf.io.gfile.listdir(self.data_root))
        return "span-{SPAN}/*" if has_spans else "*"


def load_pipeline_config(path: str = "", overrides: dict = None) -> PipelineConfig:
    values = {}
    if path:
        try:
            with open(path) as f:
                values = json.load(f)
        except (OSError, json.JSONDecodeError) as error:
            raise ConfigError(f"cannot read config {path}: {error}") from None
    for key, value in (overrides or {}).items():
        if key in ("model", "ingest"):
            values[key] = {**values.get(key, {}), **value}
        elif value is not None:
            values[key] = value
    return PipelineConfig.from_dict(values)


PIPELINE_FIELDS = [f for f in fields(PipelineConfig) if f.name not in ("model", "ingest")]
