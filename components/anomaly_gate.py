"""AnomalyGate: no training on data that failed validation, unless the config allows it.

ExampleValidator only reports; this component reads its anomalies and stops the run
before the judge and the Trainer when any feature's anomaly is not allowed
(`allow_anomalies`: comma-separated feature names, or "all"). A numeric limit of the
schema (rms, clip_ratio, source_sample_rate) stops it only when more than
`max_out_of_range_share` of a split's slices break it, read from the statistics'
quantiles: one quiet take in a thousand is the data, not a broken span (0 = strict,
TFDV's own all-or-nothing). It is a plain TFX component, so it runs the same locally
and on Kubeflow.
"""

import os
from typing import Dict

from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import ExampleAnomalies, ExampleStatistics, Schema

from models.errors import WaveGANError

SPLITS = ("train", "eval")
RANGE_ANOMALIES = ("FLOAT_TYPE_SMALL_FLOAT", "FLOAT_TYPE_BIG_FLOAT", "INT_TYPE_SMALL_INT", "INT_TYPE_BIG_INT")


class AnomaliesFound(WaveGANError):
    """Validation found anomalies the config does not allow."""


def _split_anomalies(uri: str) -> dict:
    """{split: Anomalies proto} of an ExampleAnomalies artifact."""
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    found = {}
    for split in SPLITS:
        path = os.path.join(uri, f"Split-{split}", "SchemaDiff.pb")
        if tf.io.gfile.exists(path):
            with tf.io.gfile.GFile(path, "rb") as f:
                found[split] = anomalies_pb2.Anomalies.FromString(f.read())
    return found


def read_anomalies(uri: str) -> Dict[str, str]:
    """{feature: what is wrong} over the splits of an ExampleAnomalies artifact."""
    found = {}
    for split, anomalies in _split_anomalies(uri).items():
        for feature, info in anomalies.anomaly_info.items():
            found.setdefault(feature, f"{info.short_description} ({split})".strip())
    return found


def _range_only(uri: str) -> set:
    """Features whose every anomaly, in every split, is a value outside the schema's numeric domain."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    range_types = {anomalies_pb2.AnomalyInfo.Type.Value(name) for name in RANGE_ANOMALIES}
    verdict = {}
    for anomalies in _split_anomalies(uri).values():
        for feature, info in anomalies.anomaly_info.items():
            only = all(reason.type in range_types for reason in info.reason)
            verdict[feature] = verdict.get(feature, True) and only
    return {feature for feature, only in verdict.items() if only}


def _fraction_outside(lo: float, hi: float, low: float, high: float) -> float:
    """Fraction of a bucket [lo, hi] (values spread evenly) below low or above high."""
    if hi <= lo:
        return float(lo < low or lo > high)
    return min(1.0, (max(0.0, min(hi, low) - lo) + max(0.0, hi - max(lo, high))) / (hi - lo))


def share_outside(histogram, low: float, high: float) -> float:
    """Share of a quantiles histogram's samples below low or above high."""
    total = sum(bucket.sample_count for bucket in histogram.buckets)
    outside = sum(bucket.sample_count * _fraction_outside(bucket.low_value, bucket.high_value, low, high)
                  for bucket in histogram.buckets)
    return outside / total if total else 0.0


def out_of_range_share(statistics_uri: str, schema_uri: str, feature: str) -> float:
    """The largest share, over the splits, of slices outside the schema's domain for `feature`."""
    import tensorflow as tf
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.utils.stats_util import get_feature_stats
    from tensorflow_metadata.proto.v0 import statistics_pb2
    from components.audio_schema import SCHEMA_FILE
    domain_owner = tfdv.get_feature(tfdv.load_schema_text(os.path.join(schema_uri, SCHEMA_FILE)), feature)
    domain = domain_owner.float_domain if domain_owner.HasField("float_domain") else domain_owner.int_domain
    low = domain.min if domain.HasField("min") else float("-inf")
    high = domain.max if domain.HasField("max") else float("inf")
    shares = [0.0]
    for split in SPLITS:
        path = os.path.join(statistics_uri, f"Split-{split}", "FeatureStats.pb")
        if tf.io.gfile.exists(path):  # the pipeline root may be an object store
            stats = get_feature_stats(tfdv.load_stats_binary(path).datasets[0], tfdv.FeaturePath([feature]))
            quantiles = [h for h in stats.num_stats.histograms if h.type == statistics_pb2.Histogram.QUANTILES]
            shares.append(share_outside(quantiles[0], low, high) if quantiles else 1.0)
    return max(shares)


def tolerated(anomalies_uri: str, statistics_uri: str, schema_uri: str, max_share: float) -> Dict[str, str]:
    """{feature: why it passes} for out-of-range anomalies that touch at most max_share of the slices."""
    within = {}
    if max_share <= 0:
        return within
    for feature in sorted(_range_only(anomalies_uri)):
        share = out_of_range_share(statistics_uri, schema_uri, feature)
        if share <= max_share:
            within[feature] = f"{share:.2%} of slices out of range (at most {max_share:.0%} allowed)"
    return within


def parse_allowed(allow: str) -> set:
    return {name.strip() for name in allow.split(",") if name.strip()}


def blocking(found: Dict[str, str], allow: str, within: Dict[str, str] = None) -> Dict[str, str]:
    """The anomalies that stop training under this allow list and the tolerated share."""
    allowed = parse_allowed(allow) | set(within or {})
    return {} if "all" in allowed else {k: v for k, v in found.items() if k not in allowed}


@component
def AnomalyGate(anomalies: InputArtifact[ExampleAnomalies], statistics: InputArtifact[ExampleStatistics],
                schema: InputArtifact[Schema], allow_anomalies: Parameter[str] = "",
                max_out_of_range_share: Parameter[float] = 0.01):
    within = tolerated(anomalies.uri, statistics.uri, schema.uri, max_out_of_range_share)
    stop = blocking(read_anomalies(anomalies.uri), allow_anomalies, within)
    if stop:
        listed = "; ".join(f"{feature}: {why}" for feature, why in sorted(stop.items()))
        raise AnomaliesFound(f"data validation found anomalies, so nothing was trained: {listed}. Fix the data, or "
                             f"set allow_anomalies to \"{','.join(sorted(stop))}\" (or \"all\") to train anyway")
