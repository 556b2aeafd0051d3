"""The TFX pipeline: ingest -> statistics -> schema -> validation (-> train, later).

`create_pipeline()` is the one definition used by the local runner and by the
Kubeflow compiler.
"""
from __future__ import annotations

import os
from typing import Optional

from tfx import v1 as tfx

from components.audio_example_gen import AudioExampleGen
from components.audio_schema import AudioSchemaGen
from models import schema as example_schema
from models.config import IngestConfig, WaveGANConfig

# Statistics over the per-slice features only: the raw samples are too wide to be useful.
STATS_FEATURES = [example_schema.LABEL, example_schema.LABEL_NAME, example_schema.RMS, example_schema.PEAK,
                  example_schema.CLIP_RATIO, example_schema.SOURCE_DURATION, example_schema.SAMPLE_RATE,
                  example_schema.OFFSET]


def create_pipeline(*, pipeline_name: str, pipeline_root: str, data_root: str, model_config: WaveGANConfig,
                    ingest_config: Optional[IngestConfig] = None, input_pattern: str = "*",
                    metadata_path: Optional[str] = None, beam_pipeline_args: Optional[list] = None,
                    max_clip_ratio: float = 0.01, min_rms_db: float = -50.0) -> tfx.dsl.Pipeline:
    import tensorflow_data_validation as tfdv

    example_gen = AudioExampleGen(input_base=data_root, model_config=model_config, ingest_config=ingest_config,
                                  input_pattern=input_pattern)
    statistics_gen = tfx.components.StatisticsGen(
        examples=example_gen.outputs["examples"],
        stats_options=tfdv.StatsOptions(feature_allowlist=STATS_FEATURES))
    schema_gen = AudioSchemaGen(statistics=statistics_gen.outputs["statistics"],
                                frozen_schema_dir=os.path.join(pipeline_root, "frozen_schema"),
                                max_clip_ratio=max_clip_ratio, min_rms_db=min_rms_db)
    example_validator = tfx.components.ExampleValidator(statistics=statistics_gen.outputs["statistics"],
                                                        schema=schema_gen.outputs["schema"])
    components = [example_gen, statistics_gen, schema_gen, example_validator]
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name, pipeline_root=pipeline_root, components=components,
        metadata_connection_config=(tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
                                    if metadata_path else None),
        beam_pipeline_args=beam_pipeline_args or ["--direct_num_workers=1"])
