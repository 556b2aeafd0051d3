"""AudioExampleGen inside a real LocalDagRunner pipeline: spans and data validation."""
import os

import pytest

import numpy as np
import soundfile as sf

from tests.conftest import TINY
from tests.test_audio import tone
from tests.test_ingest import feature, read_examples

pytestmark = pytest.mark.e2e  # every test here runs the wavegan command, a browser or a whole pipeline


def write_span(root, span, labels, clipped=False):
    for i, label in enumerate(labels * 3):
        folder = os.path.join(root, f"span-{span}", label)
        os.makedirs(folder, exist_ok=True)
        audio = tone(16000, 1.2, freq=150 + 40 * i, amplitude=2.0 if clipped else 0.5)
        sf.write(os.path.join(folder, f"{label}_{i}.wav"), np.clip(audio, -1, 1), 16000, subtype="PCM_16")


def run_pipeline(tmp_path, data_root):
    from tfx import v1 as tfx
    from pipeline.pipeline import create_pipeline
    from pipeline.config import PipelineConfig
    cfg = PipelineConfig(data_root=data_root, output_dir=str(tmp_path), model=TINY,
                         ingest={"eval_percent": 30})
    pipeline = create_pipeline(cfg, data_only=True)
    tfx.orchestration.LocalDagRunner().run(pipeline)


def load_anomalies(uri):
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    with open(os.path.join(uri, "Split-train", "SchemaDiff.pb"), "rb") as f:
        return anomalies_pb2.Anomalies.FromString(f.read())


def latest_artifact(tmp_path, type_name):
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(tmp_path / "metadata.sqlite")
    store = metadata_store.MetadataStore(config)
    return max(store.get_artifacts_by_type(type_name), key=lambda a: a.id)


def test_latest_span_is_ingested_and_validated_against_the_frozen_schema(tmp_path):
    data_root = str(tmp_path / "data")
    write_span(data_root, 1, ["cat", "dog"])
    run_pipeline(tmp_path, data_root)
    first = latest_artifact(tmp_path, "Examples")
    assert first.custom_properties["span"].int_value == 1
    first_anomalies = latest_artifact(tmp_path, "ExampleAnomalies").uri
    anomalies = load_anomalies(first_anomalies)
    assert not anomalies.anomaly_info, anomalies

    write_span(data_root, 2, ["cat", "bird"], clipped=True)  # a new label, and clipped audio
    run_pipeline(tmp_path, data_root)
    second = latest_artifact(tmp_path, "Examples")
    assert second.custom_properties["span"].int_value == 2
    sources = {feature(e, "source_id")[0].decode() for split in ("train", "eval")
               for e in read_examples(second.uri, split)}
    assert sources and all(s.startswith("span-2/") for s in sources)
    anomalies_uri = latest_artifact(tmp_path, "ExampleAnomalies").uri
    anomalies = load_anomalies(anomalies_uri)
    assert {"label_name", "clip_ratio"} <= set(anomalies.anomaly_info), anomalies
    report = latest_artifact(tmp_path, "wavegan.IngestReport").uri
    assert os.path.exists(os.path.join(report, "ingest_report.json"))
    vocabulary = latest_artifact(tmp_path, "wavegan.LabelVocabulary").uri
    assert open(os.path.join(vocabulary, "labels.txt")).read().split() == ["bird", "cat"]
