"""AudioExampleGen: a TFX ExampleGen whose Beam executor decodes and slices audio.

It keeps FileBasedExampleGen's driver, so input_config patterns with {SPAN} pick the
latest span (or range_config's). Files are split into train/eval by models.splits
(a stable hash of the file, stratified by label), so slices of one recording never
straddle splits and a span's eval split never holds a label its train split lacks.
Besides the Examples it outputs the ingest report (every skipped file with its
reason) and the label vocabulary.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Optional

from tfx import types
from tfx.components.example_gen import driver
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.util import examples_utils
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import proto_utils

from components.audio_ingest import (REPORT_FILE, VOCABULARY_FILE, IngestError, ReadAudioExamples, check_report,
                                     label_vocabulary, list_input_files, read_report, skipped_lines, top_folder)
from models.audio import label_name_for
from models.splits import eval_sources
from components.artifacts import IngestReport, LabelVocabulary
from components.spans import write_span_marker
from models import schema
from models.config import IngestConfig, WaveGANConfig

log = logging.getLogger(__name__)

STAGING = ".incomplete"  # run_standalone's outputs until the job has succeeded
OUTPUTS = ("examples", "report", "vocabulary")
MODEL_CONFIG_KEY = "model_config"
INGEST_CONFIG_KEY = "ingest_config"
REPORT_KEY = "ingest_report"
VOCABULARY_KEY = "label_vocabulary"


class AudioExampleGenSpec(types.ComponentSpec):
    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        MODEL_CONFIG_KEY: ExecutionParameter(type=str),
        INGEST_CONFIG_KEY: ExecutionParameter(type=str),
    }
    INPUTS = {}
    OUTPUTS = {
        standard_component_specs.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        REPORT_KEY: ChannelParameter(type=IngestReport),
        VOCABULARY_KEY: ChannelParameter(type=LabelVocabulary),
    }


def split_output_config(eval_percent: int) -> example_gen_pb2.Output:
    """The train/eval split names (the executor assigns files by models.splits, stratified by label)."""
    return example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
        splits=[example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=100 - eval_percent),
                example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=eval_percent)],
        partition_feature_name=schema.SOURCE_ID))


class Executor(BaseExampleGenExecutor):
    """Runs ReadAudioExamples for the (span-resolved) input pattern."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        """BaseExampleGenExecutor.Do, but each split is written without TFX's Reshuffle.

        On the DirectRunner a Reshuffle holds every example in memory, so memory would
        grow with the data; the trainer shuffles anyway (file interleave + buffer).
        """
        import apache_beam as beam
        self._report_dir = artifact_utils.get_single_uri(output_dict[REPORT_KEY])
        self._vocabulary_dir = artifact_utils.get_single_uri(output_dict[VOCABULARY_KEY])
        examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        input_config = proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
                                                 example_gen_pb2.Input())
        output_config = proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY],
                                                  example_gen_pb2.Output())
        split_names = example_gen_utils.generate_output_split_names(input_config, output_config)
        examples.split_names = artifact_utils.encode_split_names(split_names)
        with self._make_beam_pipeline() as pipeline:
            for name, split in self.GenerateExamplesByBeam(pipeline, exec_properties).items():
                _ = (split
                     # Deterministic: the same audio gives the same bytes (feature maps are otherwise
                     # written in a per-process order), so a re-run's files match and caches keyed on them hit.
                     | f"Serialize[{name}]" >> beam.Map(lambda example: example.SerializeToString(deterministic=True))
                     | f"Write[{name}]" >> beam.io.WriteToTFRecord(
                         os.path.join(artifact_utils.get_split_uri([examples], name), "data_tfrecord"),
                         file_name_suffix=".gz"))
        examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(examples, "tfrecords_gzip")
        report = read_report(os.path.join(self._report_dir, REPORT_FILE))
        check_report(report)
        span = exec_properties.get(example_gen_utils.SPAN_PROPERTY_NAME)
        if span is not None:  # written last: only a complete span's folder has it (components/spans.py)
            write_span_marker(examples.uri, int(span))
        log.info("ingest: %d files ok, %d partial, %d skipped, %d slices, %d silent slices dropped",
                 report["files_ok"], report["files_partial"], report["files_skipped"], report["slices"],
                 report["silent_slices_dropped"])
        for line in skipped_lines(report):
            log.warning("%s", line)

    def GenerateExamplesByBeam(self, pipeline, exec_properties: Dict[str, Any]) -> Dict[str, Any]:
        """The one input split, as train/eval by models.splits: by source file and stratified by
        label (TFX's own hash buckets can leave a class out of a split; here they only name them)."""
        input_config = proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
                                                 example_gen_pb2.Input())
        return pipeline | "InputToRecord" >> self.GetInputSourceToExamplePTransform()(
            exec_properties, input_config.splits[0].pattern)

    def GetInputSourceToExamplePTransform(self):
        import apache_beam as beam
        executor = self

        @beam.ptransform_fn
        def transform(pipeline, exec_properties: Dict[str, Any], split_pattern: str):
            model_cfg = WaveGANConfig.from_json(exec_properties[MODEL_CONFIG_KEY])
            ingest_cfg = IngestConfig.from_json(exec_properties[INGEST_CONFIG_KEY])
            root = exec_properties[standard_component_specs.INPUT_BASE_KEY]
            files = list_input_files(root, split_pattern)
            top = top_folder(root, split_pattern)
            vocabulary = label_vocabulary(files, ingest_cfg.label_source, top)
            executor._write_vocabulary(vocabulary)
            held_out = eval_sources([os.path.relpath(f, root) for f in files],
                                    lambda source: label_name_for(os.path.join(root, source),
                                                                  ingest_cfg.label_source, top),
                                    ingest_cfg.eval_percent)
            log.info("ingesting %d files from %s (pattern %s), %d held out for eval", len(files), root,
                     split_pattern, len(held_out))
            examples = pipeline | "ReadAudio" >> ReadAudioExamples(
                files, root, model_cfg, ingest_cfg, vocabulary, os.path.join(executor._report_dir, REPORT_FILE), top)
            train, held = examples | "SplitData" >> beam.Partition(_split_of, 2, sorted(held_out))
            return {"train": train, "eval": held}
        return transform

    def _write_vocabulary(self, vocabulary: list) -> None:
        import tensorflow as tf
        tf.io.gfile.makedirs(self._vocabulary_dir)
        with tf.io.gfile.GFile(os.path.join(self._vocabulary_dir, VOCABULARY_FILE), "w") as f:
            f.write("".join(f"{name}\n" for name in vocabulary))


def _split_of(example, num_splits: int, held_out: list) -> int:
    """beam.Partition: 1 (eval) for the slices of a held-out source file, else 0 (train)."""
    import bisect
    source = example.features.feature[schema.SOURCE_ID].bytes_list.value[0].decode()
    at = bisect.bisect_left(held_out, source)
    return int(at < len(held_out) and held_out[at] == source)


class AudioExampleGen(FileBasedExampleGen):
    """Folder tree of audio -> validated-ready Examples (train/eval), report, vocabulary.

    A FileBasedExampleGen subclass so that every orchestrator treats it as one: the
    local runner and the Kubeflow v2 compiler both run its span-resolving driver.
    """

    SPEC_CLASS = AudioExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
    DRIVER_CLASS = driver.FileBasedDriver

    def __init__(self, input_base: str, model_config: WaveGANConfig, ingest_config: Optional[IngestConfig] = None,
                 input_pattern: str = "*", range_config: Optional[range_config_pb2.RangeConfig] = None):
        """input_pattern is relative to input_base, e.g. 'span-{SPAN}/*' to ingest the latest span."""
        ingest_config = ingest_config or IngestConfig()
        spec = AudioExampleGenSpec(
            input_base=input_base,
            input_config=example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="all",
                                                                                   pattern=input_pattern)]),
            output_config=split_output_config(ingest_config.eval_percent),
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            range_config=range_config,
            model_config=model_config.to_json(),
            ingest_config=ingest_config.to_json(),
            examples=types.Channel(type=standard_artifacts.Examples),
            ingest_report=types.Channel(type=IngestReport),
            label_vocabulary=types.Channel(type=LabelVocabulary))
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)  # FileBasedExampleGen's builds its own spec


def run_standalone(data_root: str, out_dir: str, model_cfg: WaveGANConfig, ingest_cfg: IngestConfig,
                   beam_pipeline_args: Optional[list] = None) -> dict:
    """Runs the same executor outside TFX (the `wavegan ingest` command); returns the report.

    Writes <out>/examples/Split-{train,eval}/*.gz, <out>/report/ingest_report.json and
    <out>/vocabulary/labels.txt. They are written under <out>/.incomplete and moved into
    place only when the whole job succeeded: a run that fails (a worker killed, a runner
    gone) leaves the previous output as it was, never a half-written one.
    """
    import tensorflow as tf
    staging = os.path.join(out_dir, STAGING)
    if tf.io.gfile.exists(staging):
        tf.io.gfile.rmtree(staging)
    outputs = {name: os.path.join(staging, name) for name in OUTPUTS}
    try:
        report = _run_executor(data_root, outputs, model_cfg, ingest_cfg, beam_pipeline_args)
    except IngestError:
        tf.io.gfile.rmtree(staging)
        raise
    except Exception as error:  # noqa: BLE001 - the runner's own failure, said in one line
        if tf.io.gfile.exists(staging):
            tf.io.gfile.rmtree(staging)
        raise IngestError(f"the Beam job failed, so nothing was written to {out_dir}: {_one_line(error)}") from error
    for name in OUTPUTS:
        _move_tree(outputs[name], os.path.join(out_dir, name))
    tf.io.gfile.rmtree(staging)
    return report


def _one_line(error: Exception) -> str:
    """A runner's failure in one line: a gRPC error by its status, anything else by its first line."""
    if callable(getattr(error, "code", None)) and callable(getattr(error, "details", None)):
        return f"{error.code().name}: {error.details()}"
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _move_tree(source: str, destination: str) -> None:
    """Replaces destination by source, file by file (object stores cannot rename folders)."""
    import tensorflow as tf
    if tf.io.gfile.exists(destination):
        tf.io.gfile.rmtree(destination)
    for folder, _, names in tf.io.gfile.walk(source):
        target = os.path.join(destination, os.path.relpath(folder, source))
        tf.io.gfile.makedirs(target)
        for name in names:
            tf.io.gfile.rename(os.path.join(folder, name), os.path.join(target, name))


def _run_executor(data_root: str, outputs: dict, model_cfg: WaveGANConfig, ingest_cfg: IngestConfig,
                  beam_pipeline_args: Optional[list]) -> dict:
    examples, report, vocabulary = standard_artifacts.Examples(), IngestReport(), LabelVocabulary()
    for artifact, name in ((examples, "examples"), (report, "report"), (vocabulary, "vocabulary")):
        artifact.uri = outputs[name]
    exec_properties = {
        standard_component_specs.INPUT_BASE_KEY: data_root,
        standard_component_specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="all", pattern="*")])),
        standard_component_specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
            split_output_config(ingest_cfg.eval_percent)),
        standard_component_specs.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
        standard_component_specs.OUTPUT_FILE_FORMAT_KEY: example_gen_pb2.FORMAT_TFRECORDS_GZIP,
        MODEL_CONFIG_KEY: model_cfg.to_json(),
        INGEST_CONFIG_KEY: ingest_cfg.to_json(),
    }
    context = Executor.Context(beam_pipeline_args=beam_pipeline_args or [])
    Executor(context).Do({}, {"examples": [examples], REPORT_KEY: [report], VOCABULARY_KEY: [vocabulary]},
                         exec_properties)
    return read_report(os.path.join(report.uri, REPORT_FILE))
