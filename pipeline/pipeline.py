"""The TFX pipeline, one definition for the local runner and the Kubeflow compiler:

AudioExampleGen -> StatisticsGen -> AudioSchemaGen -> ExampleValidator -> AnomalyGate
-> JudgeTrainer -> Trainer -> WaveGANEvaluator (bless vs the model in service) -> ServingCheck -> AudioPusher.

No Resolver node: the baseline and the warm start are found by listing the serving
directory, which both runners can read.
"""
from __future__ import annotations

import logging
import os
from typing import Optional

from tfx import v1 as tfx

from components.anomaly_gate import AnomalyGate
from components.audio_example_gen import AudioExampleGen
from components.audio_schema import AudioSchemaGen
from components.evaluator import WaveGANEvaluator
from components.judge import JudgeTrainer
from components.pusher import AudioPusher
from components.serving_check import ServingCheck
from models import schema as example_schema
from pipeline.config import PipelineConfig

# Statistics over the per-slice features only: the raw samples are too wide to be useful.
STATS_FEATURES = [example_schema.LABEL, example_schema.LABEL_NAME, example_schema.RMS, example_schema.PEAK,
                  example_schema.CLIP_RATIO, example_schema.SOURCE_DURATION, example_schema.SAMPLE_RATE,
                  example_schema.SOURCE_SAMPLE_RATE, example_schema.OFFSET]
# Quantiles fine enough for the gate to tell what share of slices is out of range (anomaly_gate).
QUANTILE_BUCKETS, QUANTILE_EPSILON = 200, 0.001
TRAINER_RUN_FN = "components.trainer_fn.run_fn"
log = logging.getLogger(__name__)
JUDGE_CACHE = "judge_cache"


def create_pipeline(cfg: PipelineConfig, target: str = "local", data_only: bool = False,
                    beam_args: Optional[list] = None) -> tfx.dsl.Pipeline:
    """target 'local' (LocalDagRunner, SQLite metadata) or 'kubeflow' (GPU request on the Trainer).

    data_only stops after ExampleValidator: ingest and validate a new span without training.
    beam_args: the Beam options (default: pipeline.beam_runners.runner_options of the config).
    """
    import tensorflow_data_validation as tfdv

    model_cfg = cfg.model_config()
    example_gen = AudioExampleGen(input_base=cfg.data_root, model_config=model_cfg,
                                  ingest_config=cfg.ingest_config(), input_pattern=cfg.resolved_input_pattern())
    statistics_gen = tfx.components.StatisticsGen(
        examples=example_gen.outputs["examples"],
        stats_options=tfdv.StatsOptions(feature_allowlist=STATS_FEATURES,
                                        num_quantiles_histogram_buckets=QUANTILE_BUCKETS,
                                        epsilon=QUANTILE_EPSILON))
    schema_gen = AudioSchemaGen(statistics=statistics_gen.outputs["statistics"],
                                frozen_schema_dir=os.path.join(cfg.pipeline_root, "frozen_schema"),
                                max_clip_ratio=cfg.max_clip_ratio, min_rms_db=cfg.min_rms_db)
    example_validator = tfx.components.ExampleValidator(statistics=statistics_gen.outputs["statistics"],
                                                        schema=schema_gen.outputs["schema"])
    components = [example_gen, statistics_gen, schema_gen, example_validator]
    if not data_only:
        gate = AnomalyGate(anomalies=example_validator.outputs["anomalies"],
                           statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"],
                           allow_anomalies=cfg.allow_anomalies, max_out_of_range_share=cfg.max_out_of_range_share)
        components += [gate, *_model_components(cfg, target, example_gen, schema_gen, gate)]
    if beam_args is None:
        from pipeline.beam_runners import runner_options
        beam_args = runner_options(cfg.beam_runner, cfg.beam_workers, cfg.beam_job_endpoint,
                                   cfg.image if target == "kubeflow" else "")
    return tfx.dsl.Pipeline(
        pipeline_name=cfg.pipeline_name, pipeline_root=cfg.pipeline_root, components=components,
        metadata_connection_config=(tfx.orchestration.metadata.sqlite_metadata_connection_config(cfg.metadata_path)
                                    if target == "local" else None),
        beam_pipeline_args=beam_args)


def vertex_training_config(cfg: PipelineConfig) -> dict:
    """custom_config keys that make TFX's Vertex Trainer run the training as a Vertex AI custom job on
    trainer_workers machines: a chief pool and a worker pool, same image and machine. Vertex gives each
    machine a TF_CONFIG (chief, worker), from which run_fn builds MultiWorkerMirroredStrategy."""
    from tfx.extensions.google_cloud_ai_platform import constants
    from tfx.extensions.google_cloud_ai_platform.trainer import executor
    machine = {"machine_type": cfg.trainer_machine_type}
    if cfg.trainer_gpus > 0:
        machine.update(accelerator_type=cfg.trainer_accelerator, accelerator_count=cfg.trainer_gpus)
    pools = [{"machine_spec": machine, "replica_count": count, "container_spec": {"image_uri": cfg.image}}
             for count in (1, cfg.trainer_workers - 1)]
    return {executor.TRAINING_ARGS_KEY: {"project": cfg.vertex_project, "job_spec": {"worker_pool_specs": pools}},
            constants.ENABLE_VERTEX_KEY: True, constants.VERTEX_REGION_KEY: cfg.vertex_region}


def _model_components(cfg: PipelineConfig, target: str, example_gen, schema_gen, gate) -> list:
    model_cfg = cfg.model_config()
    judge_cache = os.path.join(cfg.pipeline_root, JUDGE_CACHE)
    judge_trainer = JudgeTrainer(examples=example_gen.outputs["examples"], model_config=model_cfg.to_json(),
                                 cache_dir=judge_cache, epochs=cfg.judge_epochs)
    judge_trainer.add_upstream_node(gate)  # nothing is trained on data that failed validation
    custom_config = {"model_config": model_cfg.to_json(), "judge_cache_dir": judge_cache,
                     "span_window": cfg.train_span_window,
                     "warm_start_base": cfg.serving_model_base if cfg.warm_start else ""}
    trainer_class = tfx.components.Trainer
    if target == "kubeflow" and cfg.trainer_workers > 1:
        trainer_class = tfx.extensions.google_cloud_ai_platform.Trainer
        custom_config.update(vertex_training_config(cfg))
    elif cfg.trainer_workers > 1:
        log.warning("trainer_workers=%d applies to Kubeflow runs; this local run trains on one machine",
                    cfg.trainer_workers)
    trainer = trainer_class(
        run_fn=TRAINER_RUN_FN,
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=["train"], num_steps=model_cfg.steps),
        eval_args=tfx.proto.EvalArgs(splits=["eval"], num_steps=0),
        custom_config=custom_config)
    trainer.add_upstream_node(judge_trainer)  # its judge (cached) scores evaluations during training
    trainer.add_upstream_node(gate)
    evaluator = WaveGANEvaluator(model=trainer.outputs["model"], model_run=trainer.outputs["model_run"],
                                 examples=example_gen.outputs["examples"],
                                 judge=judge_trainer.outputs["judge"],
                                 serving_model_base=cfg.serving_model_base, num_clips=cfg.eval_clips,
                                 max_silent_fraction=cfg.max_silent_fraction,
                                 max_clipped_fraction=cfg.max_clipped_fraction, fd_tolerance=cfg.fd_tolerance)
    serving_check = ServingCheck(model=trainer.outputs["model"])
    pusher = AudioPusher(model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
                         infra_blessing=serving_check.outputs["blessing"],
                         serving_model_base=cfg.serving_model_base)
    if target == "kubeflow" and cfg.trainer_gpus > 0 and cfg.trainer_workers == 1:
        from kfp.pipeline_spec import pipeline_spec_pb2
        resources = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec
        trainer.with_platform_config(resources(accelerator=resources.AcceleratorConfig(
            type=cfg.trainer_accelerator, count=cfg.trainer_gpus)))
    return [judge_trainer, trainer, evaluator, serving_check, pusher]
