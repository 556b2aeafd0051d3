"""Audio files -> training Examples, as Beam transforms (used by AudioExampleGen and
`wavegan ingest`). A file that cannot be used is reported with its reason, never fatal.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Optional

import apache_beam as beam
import numpy as np

from models import schema
from models.audio import (AUDIO_EXTENSIONS, AudioDecodeError, db_to_amplitude, decode_blocks, label_name_for,
                          scan_levels, slice_blocks)
from models.config import IngestConfig, WaveGANConfig
from models.errors import WaveGANError

log = logging.getLogger(__name__)

REPORT_TAG = "report"
REPORT_FILE = "ingest_report.json"
VOCABULARY_FILE = "labels.txt"
NAMESPACE = "wavegan_ingest"


class IngestError(WaveGANError):
    """Ingest produced nothing usable; the message says why."""


def list_input_files(root: str, pattern: str = "*") -> list:
    """Every non-hidden file under root matching pattern (folders are walked), sorted."""
    import tensorflow as tf
    found = []
    for match in tf.io.gfile.glob(os.path.join(root, pattern)):
        if tf.io.gfile.isdir(match):
            for folder, _, names in tf.io.gfile.walk(match):
                found.extend(os.path.join(folder, n) for n in names if not n.startswith("."))
        elif not os.path.basename(match).startswith("."):
            found.append(match)
    return sorted(set(found))


def top_folder(root: str, pattern: str = "*") -> str:
    """The folder a pattern lists: files directly in it are unlabelled (models.audio.label_name_for)."""
    return os.path.dirname(os.path.join(root, pattern))


def label_vocabulary(paths: list, source: str, top: str = "") -> list:
    """Sorted label names of the audio files: index in this list = integer label."""
    if source == "none":
        return []
    names = {label_name_for(p, source, top) for p in paths if p.lower().endswith(AUDIO_EXTENSIONS)}
    return sorted(n for n in names if n)


def _duration_seconds(path: str) -> Optional[float]:
    """From the header when libsndfile reads the format; None means decode to find out."""
    import soundfile as sf
    try:
        return float(sf.info(path).duration)
    except Exception:  # noqa: BLE001 - unknown until decoded
        return None


class FileSlicer:
    """One file's slices under an IngestConfig, streamed; counts silent slices dropped."""

    def __init__(self, path: str, model_cfg: WaveGANConfig, ingest_cfg: IngestConfig):
        self.path, self.model_cfg, self.cfg = path, model_cfg, ingest_cfg
        self.dropped_silent = 0
        self.all_silent = False  # trimming left nothing
        self.duration = _duration_seconds(path)
        self.found = {}  # the file's own sample rate, once decoding has begun

    def _blocks(self):
        return decode_blocks(self.path, self.model_cfg.sample_rate, self.model_cfg.num_channels,
                             self.cfg.block_seconds, self.found)

    def __iter__(self):
        cfg, slice_len = self.cfg, self.model_cfg.slice_len
        threshold = db_to_amplitude(cfg.silence_threshold_db)
        gain, start, end = 1.0, 0, None
        if cfg.normalize or cfg.trim_silence or self.duration is None:
            peak, first, last, length = scan_levels(self._blocks(), threshold)  # first pass: levels only
            self.duration = length / self.model_cfg.sample_rate
            if cfg.normalize:
                if peak == 0:
                    raise AudioDecodeError("digital silence: cannot peak-normalise")
                gain = 1.0 / peak
            if cfg.trim_silence:
                start, end = first, last
                self.all_silent = last <= first
        hop = max(1, int(round(slice_len * (1.0 - cfg.overlap))))
        for offset, piece in slice_blocks(self._blocks(), slice_len, hop=hop, first_only=cfg.first_slice_only,
                                          pad_end=cfg.pad_end, start=start, end=end):
            if gain != 1.0:
                piece = np.clip(piece * gain, -1.0, 1.0)
            if cfg.drop_silent_slices and np.sqrt(np.mean(np.square(piece))) < threshold:
                self.dropped_silent += 1
                continue
            yield offset, piece


class AudioToExamples(beam.DoFn):
    """path -> Examples of its slices, plus one report record on the 'report' output."""

    def __init__(self, data_root: str, model_cfg_json: str, ingest_cfg_json: str, vocabulary: list,
                 top: str = ""):
        self.data_root, self.vocabulary, self.top = data_root, list(vocabulary), top or data_root
        self.model_cfg_json, self.ingest_cfg_json = model_cfg_json, ingest_cfg_json
        self.files_ok = beam.metrics.Metrics.counter(NAMESPACE, "files_ok")
        self.files_skipped = beam.metrics.Metrics.counter(NAMESPACE, "files_skipped")
        self.slices = beam.metrics.Metrics.counter(NAMESPACE, "slices")

    def setup(self):
        self.model_cfg = WaveGANConfig.from_json(self.model_cfg_json)
        self.ingest_cfg = IngestConfig.from_json(self.ingest_cfg_json)

    def _report(self, path, status, reason="", slices=0, dropped_silent=0, seconds=0.0):
        (self.files_ok if status == "ok" else self.files_skipped).inc()
        return beam.pvalue.TaggedOutput(REPORT_TAG, {
            "path": path, "status": status, "reason": reason, "slices": slices,
            "dropped_silent": dropped_silent, "seconds": round(seconds or 0.0, 3)})

    def process(self, path: str):
        relative = os.path.relpath(path, self.data_root)
        if not path.lower().endswith(AUDIO_EXTENSIONS):
            yield self._report(path, "skipped", f"not an audio file type ({os.path.splitext(path)[1] or 'none'})")
            return
        label_name = label_name_for(path, self.ingest_cfg.label_source, self.top)
        label = self.vocabulary.index(label_name) if label_name in self.vocabulary else schema.NO_LABEL
        slicer = FileSlicer(path, self.model_cfg, self.ingest_cfg)
        count = 0
        try:
            for offset, piece in slicer:
                yield schema.make_example(piece, sample_rate=self.model_cfg.sample_rate, source_id=relative,
                                          offset=offset, label=label, label_name=label_name,
                                          source_duration=slicer.duration or 0.0,
                                          source_sample_rate=slicer.found["rate"])
                count += 1
        except AudioDecodeError as error:
            reason = str(error) if not count else f"{error} (after {count} slices, which were kept)"
            yield self._report(path, "skipped" if not count else "partial", reason, count, slicer.dropped_silent)
            self.slices.inc(count)
            return
        except Exception as error:  # noqa: BLE001 - one bad file must never stop the run
            reason = f"{type(error).__name__}: {error}"
            yield self._report(path, "skipped" if not count else "partial", reason, count, slicer.dropped_silent)
            self.slices.inc(count)
            return
        self.slices.inc(count)
        if count == 0:
            threshold = f"{self.ingest_cfg.silence_threshold_db:g} dBFS"
            why = (f"all silence (nothing above {threshold})" if slicer.all_silent
                   else f"every slice was below {threshold}" if slicer.dropped_silent
                   else "shorter than one slice and pad_end is off")
            yield self._report(path, "skipped", why, 0, slicer.dropped_silent, slicer.duration)
        else:
            yield self._report(path, "ok", "", count, slicer.dropped_silent, slicer.duration)


class SummarizeReport(beam.CombineFn):
    """Per-file report records -> totals plus every file that was not ok, with its reason.

    Only the files that were not ok are kept, so the report's memory grows with the damage,
    not with the corpus.
    """
    COUNTS = ("files_total", "files_ok", "files_partial", "files_skipped", "slices", "silent_slices_dropped")

    def create_accumulator(self):
        return {**{k: 0 for k in self.COUNTS}, "audio_seconds": 0.0, "skipped": []}

    def add_input(self, totals, record):
        totals["files_total"] += 1
        totals[f"files_{record['status']}"] += 1
        totals["slices"] += record["slices"]
        totals["silent_slices_dropped"] += record["dropped_silent"]
        totals["audio_seconds"] += record["seconds"]
        if record["status"] != "ok":
            totals["skipped"].append({k: record[k] for k in ("path", "status", "reason")})
        return totals

    def merge_accumulators(self, accumulators):
        merged = self.create_accumulator()
        for totals in accumulators:
            for key in (*self.COUNTS, "audio_seconds"):
                merged[key] += totals[key]
            merged["skipped"].extend(totals["skipped"])
        return merged

    def extract_output(self, totals):
        return {**totals, "audio_seconds": round(totals["audio_seconds"], 3),
                "skipped": sorted(totals["skipped"], key=lambda r: r["path"])}


def write_report(totals: dict, path: str, data_root: str, vocabulary: list) -> None:
    import tensorflow as tf
    tf.io.gfile.makedirs(os.path.dirname(path))
    report = {"data_root": data_root, **{k: v for k, v in totals.items() if k != "skipped"},
              "labels": vocabulary, "skipped": totals["skipped"]}
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(report, indent=2))


@beam.ptransform_fn
def ReadAudioExamples(pipeline, files: list, data_root: str, model_cfg: WaveGANConfig,
                      ingest_cfg: IngestConfig, vocabulary: list, report_path: str, top: str = ""):
    """PTransform: file paths -> PCollection of tf.train.Example; writes the report.
    top: the folder whose own files are unlabelled (default data_root)."""
    outputs = (pipeline
               | "ListFiles" >> beam.Create(files)
               | "Distribute" >> beam.Reshuffle()
               | "DecodeAndSlice" >> beam.ParDo(AudioToExamples(data_root, model_cfg.to_json(), ingest_cfg.to_json(),
                                                                vocabulary, top)).with_outputs(REPORT_TAG, main="examples"))
    _ = (outputs[REPORT_TAG]
         | "SummarizeReport" >> beam.CombineGlobally(SummarizeReport())
         | "WriteReport" >> beam.Map(write_report, report_path, data_root, vocabulary))
    return outputs["examples"]


def read_report(path: str) -> dict:
    import tensorflow as tf
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def skipped_lines(report: dict, limit: int = 10) -> list:
    """The first `limit` damaged or skipped files, one line each, then how many more the report lists:
    a corpus with thousands of bad files must not flood the terminal."""
    lines = [f"{s['status']} {s['path']}: {s['reason']}" for s in report["skipped"][:limit]]
    if len(report["skipped"]) > limit:
        lines.append(f"... and {len(report['skipped']) - limit} more skipped or partial files, "
                     f"listed in {REPORT_FILE}")
    return lines


def check_report(report: dict) -> None:
    """Raises IngestError, one clear line, when no usable slice came out."""
    if report["slices"] == 0:
        reasons = sorted({s["reason"] for s in report["skipped"]})[:3]
        raise IngestError(f"no valid audio slices in {report['data_root']}: {report['files_total']} files, "
                          f"{report['files_skipped']} skipped ({'; '.join(reasons) or 'no files'})")
