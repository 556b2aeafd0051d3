"""AudioSchemaGen: the data schema, inferred once then frozen, with audio limits.

The first run infers a schema from the train statistics (types, presence, the
label_name domain) and adds limits on the per-slice levels: clip_ratio at most
`max_clip_ratio` and rms at least `min_rms_db`, and on the recordings' own rate:
source_sample_rate at least the lower of the model's rate and the first span's
lowest (a later span recorded at a lower rate would teach empty upper bands). It is then frozen under
`frozen_schema_dir`, so later spans are validated against it and ExampleValidator
reports clipped audio, silence or an unseen label as anomalies. Edit (or delete)
the frozen schema.pbtxt to accept a change. No Resolver node needed, so this works
the same on Kubeflow Pipelines v2.
"""
import os

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import ExampleStatistics, Schema

SCHEMA_FILE = "schema.pbtxt"


def audio_schema(stats_path: str, max_clip_ratio: float, min_rms_db: float):
    """Infers the schema from one split's statistics and adds the level limits."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2
    from models import schema as example_schema

    from tensorflow_data_validation.utils.stats_util import get_feature_stats

    statistics = tfdv.load_stats_binary(stats_path)
    schema = tfdv.infer_schema(statistics, max_string_domain_size=1000)
    tfdv.set_domain(schema, example_schema.CLIP_RATIO, schema_pb2.FloatDomain(min=0.0, max=max_clip_ratio))
    tfdv.set_domain(schema, example_schema.RMS, schema_pb2.FloatDomain(min=10 ** (min_rms_db / 20.0), max=1.0))
    split = statistics.datasets[0]
    lowest = lambda name: get_feature_stats(split, tfdv.FeaturePath([name])).num_stats.min  # noqa: E731
    if any(f.path.step == [example_schema.SOURCE_SAMPLE_RATE] for f in split.features):  # absent before this feature
        floor = min(lowest(example_schema.SOURCE_SAMPLE_RATE), lowest(example_schema.SAMPLE_RATE))
        tfdv.set_domain(schema, example_schema.SOURCE_SAMPLE_RATE, schema_pb2.IntDomain(min=int(floor)))
    return schema


def add_new_features(frozen, inferred) -> list:
    """Copies into a schema frozen by an older version the features this version's ingest added
    (source_sample_rate), so they are validated instead of reported as new columns."""
    import logging
    known = {feature.name for feature in frozen.feature}
    added = [feature for feature in inferred.feature if feature.name not in known]
    frozen.feature.extend(added)
    for feature in added:
        logging.getLogger(__name__).warning("frozen schema: added %s, a feature new in this version", feature.name)
    return added


@component
def AudioSchemaGen(statistics: InputArtifact[ExampleStatistics], schema: OutputArtifact[Schema],
                   frozen_schema_dir: Parameter[str], max_clip_ratio: Parameter[float] = 0.01,
                   min_rms_db: Parameter[float] = -50.0):
    import tensorflow as tf
    import tensorflow_data_validation as tfdv

    frozen = os.path.join(frozen_schema_dir, SCHEMA_FILE)
    inferred = lambda: audio_schema(os.path.join(statistics.uri, "Split-train", "FeatureStats.pb"),  # noqa: E731
                                    max_clip_ratio, min_rms_db)
    if tf.io.gfile.exists(frozen):
        result = tfdv.load_schema_text(frozen)
        if add_new_features(result, inferred()):
            tfdv.write_schema_text(result, frozen)
    else:
        result = inferred()
        tf.io.gfile.makedirs(frozen_schema_dir)
        tfdv.write_schema_text(result, frozen)
    tfdv.write_schema_text(result, os.path.join(schema.uri, SCHEMA_FILE))
