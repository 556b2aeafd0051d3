"""AnomalyGate: no training on data that failed validation, unless the config allows it.

ExampleValidator only reports; this component reads its anomalies and stops the run
before the judge and the Trainer when any feature's anomaly is not allowed
(`allow_anomalies`: comma-separated feature names, or "all"). It is a plain TFX
component, so it runs the same locally and on Kubeflow.
"""

import os
from typing import Dict

from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import ExampleAnomalies

from models.errors import WaveGANError

SPLITS = ("train", "eval")


class AnomaliesFound(WaveGANError):
    """Validation found anomalies the config does not allow."""


def read_anomalies(uri: str) -> Dict[str, str]:
    """{feature: what is wrong} over the splits of an ExampleAnomalies artifact."""
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    found = {}
    for split in SPLITS:
        path = os.path.join(uri, f"Split-{split}", "SchemaDiff.pb")
        if tf.io.gfile.exists(path):
            with tf.io.gfile.GFile(path, "rb") as f:
                anomalies = anomalies_pb2.Anomalies.FromString(f.read())
            for feature, info in anomalies.anomaly_info.items():
                found.setdefault(feature, f"{info.short_description} ({split})".strip())
    return found


def parse_allowed(allow: str) -> set:
    return {name.strip() for name in allow.split(",") if name.strip()}


def blocking(found: Dict[str, str], allow: str) -> Dict[str, str]:
    """The anomalies that stop training under this allow list."""
    allowed = parse_allowed(allow)
    return {} if "all" in allowed else {k: v for k, v in found.items() if k not in allowed}


@component
def AnomalyGate(anomalies: InputArtifact[ExampleAnomalies], allow_anomalies: Parameter[str] = ""):
    stop = blocking(read_anomalies(anomalies.uri), allow_anomalies)
    if stop:
        listed = "; ".join(f"{feature}: {why}" for feature, why in sorted(stop.items()))
        raise AnomaliesFound(f"data validation found anomalies, so nothing was trained: {listed}. Fix the data, or "
                             f"set allow_anomalies to \"{','.join(sorted(stop))}\" (or \"all\") to train anyway")
