"""AudioExampleGen / `wavegan ingest`: real Beam runs over real files, real TFX runs."""
import glob
import json
import os

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from components.audio_example_gen import run_standalone
from components.audio_ingest import IngestError
from models import schema
from models.config import IngestConfig, WaveGANConfig
from tests.conftest import FSDD, run_cli, tiny_flags
from tests.test_audio import tone

MODEL = WaveGANConfig(model_size=4)


def read_examples(examples_dir, split):
    files = glob.glob(os.path.join(examples_dir, f"Split-{split}", "*.gz"))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return [tf.train.Example.FromString(r.numpy()) for r in records]


def feature(example, name):
    f = example.features.feature[name]
    return list(getattr(f, f.WhichOneof("kind")).value)


def all_examples(out):
    return read_examples(os.path.join(out, "examples"), "train") + read_examples(os.path.join(out, "examples"), "eval")


def write_good_files(root, n=12):
    """n labelled files in several formats/rates/channel counts; returns their relative paths."""
    specs = [("wav", "PCM_16", 16000, 1), ("flac", "PCM_24", 44100, 2), ("ogg", "VORBIS", 22050, 1),
             ("mp3", "MPEG_LAYER_III", 48000, 2), ("wav", "PCM_U8", 8000, 1), ("wav", "FLOAT", 32000, 6)]
    good = []
    for i in range(n):
        ext, subtype, rate, channels = specs[i % len(specs)]
        label = ["dog", "cat"][i % 2]
        rel = os.path.join(label, f"{label}_{i}.{ext}")
        os.makedirs(os.path.join(root, label), exist_ok=True)
        sf.write(os.path.join(root, rel), tone(rate, 0.3 + 0.1 * i, freq=200 + 50 * i, channels=channels), rate,
                 subtype=subtype)
        good.append(rel)
    return good


def write_bad_files(root):
    """Every kind of bad input; returns {relative path: expected reason fragment}."""
    os.makedirs(os.path.join(root, "dog"), exist_ok=True)
    bad = {}

    def put(rel, content, reason):
        with open(os.path.join(root, rel), "wb") as f:
            f.write(content)
        bad[rel] = reason

    put("dog/corrupt.wav", os.urandom(3000), "not audio")
    put("dog/empty.wav", b"", "empty file")
    put("dog/text.mp3", b"just some text, not an mp3 " * 20, "not audio")
    put("notes.txt", b"a readme", "not an audio file type")
    sf.write(os.path.join(root, "dog/zero.wav"), np.zeros([0, 1]), 16000)
    bad["dog/zero.wav"] = "zero-length"
    nan = tone(16000, 0.5)
    nan[10] = np.inf
    sf.write(os.path.join(root, "dog/inf.wav"), nan, 16000, subtype="FLOAT")
    bad["dog/inf.wav"] = "NaN or Inf"
    flac = os.path.join(root, "dog/whole.flac")
    sf.write(flac, tone(16000, 2.0), 16000, subtype="PCM_16")
    with open(flac, "rb") as f:
        head = f.read(200)
    os.remove(flac)
    put("dog/truncated.flac", head, "")
    os.symlink(os.path.join(root, "missing-target.wav"), os.path.join(root, "dog", "dangling.wav"))
    bad["dog/dangling.wav"] = ""
    return bad


def test_bad_files_are_skipped_and_reported_and_every_good_file_arrives(tmp_path):
    data = str(tmp_path / "data")
    good = write_good_files(data)
    bad = write_bad_files(data)
    report = run_standalone(data, str(tmp_path / "out"), MODEL, IngestConfig())
    examples = all_examples(str(tmp_path / "out"))
    sources = {feature(e, schema.SOURCE_ID)[0].decode() for e in examples}
    assert sources == set(good)
    assert report["files_ok"] == len(good) and report["slices"] == len(examples)
    skipped = {os.path.relpath(s["path"], data): s["reason"] for s in report["skipped"]}
    assert set(skipped) == set(bad)
    for rel, fragment in bad.items():
        assert fragment in skipped[rel], (rel, skipped[rel])
    for example in examples:
        assert len(feature(example, schema.AUDIO)) == MODEL.slice_len
        assert feature(example, schema.SAMPLE_RATE) == [16000]
        native = sf.info(os.path.join(data, feature(example, schema.SOURCE_ID)[0].decode())).samplerate
        assert feature(example, schema.SOURCE_SAMPLE_RATE) == [native]  # the file's own rate, for validation
        assert feature(example, schema.LABEL) == [["cat", "dog"].index(feature(example, schema.LABEL_NAME)[0].decode())]
    vocab = open(tmp_path / "out" / "vocabulary" / "labels.txt").read().split()
    assert vocab == ["cat", "dog"] == report["labels"]


def _declare_data_bytes(path, size):
    """Rewrites a WAV's data-chunk size field, as a writer that died mid-file leaves it."""
    import struct
    with open(path, "r+b") as f:
        content = f.read()
        at = content.index(b"data") + 4
        f.seek(at)
        f.write(struct.pack("<I", size))


def test_truncated_wavs_are_partial_or_skipped_with_the_numbers(tmp_path):
    data = str(tmp_path / "data")
    os.makedirs(os.path.join(data, "x"))
    long_path, short_path, huge_path, ok_path = (os.path.join(data, "x", n) for n in
                                                 ("long.wav", "short.wav", "huge.wav", "ok.wav"))
    sf.write(long_path, tone(16000, 2.5), 16000, subtype="PCM_16")      # 40,000 frames in the file
    _declare_data_bytes(long_path, 100000 * 2)                           # header: 100,000
    sf.write(short_path, tone(16000, 0.008), 16000, subtype="PCM_16")   # 128 frames
    _declare_data_bytes(short_path, 3751 * 2)
    sf.write(huge_path, tone(16000, 1000 / 2 / 16000), 16000, subtype="PCM_16")  # 1,000 bytes of data
    _declare_data_bytes(huge_path, 1 << 30)                             # header: a gigabyte
    sf.write(ok_path, tone(16000, 1.0), 16000, subtype="PCM_16")
    report = run_standalone(data, str(tmp_path / "out"), MODEL, IngestConfig())
    entries = {os.path.basename(s["path"]): s for s in report["skipped"]}
    assert set(entries) == {"long.wav", "short.wav", "huge.wav"}
    assert entries["long.wav"]["status"] == "partial" and report["files_partial"] == 1
    assert "header declares 100000 frames, the file holds 40000" in entries["long.wav"]["reason"]
    assert "after 2 slices, which were kept" in entries["long.wav"]["reason"]
    assert entries["short.wav"]["status"] == "skipped"
    assert "header declares 3751 frames, the file holds 128" in entries["short.wav"]["reason"]
    assert entries["huge.wav"]["status"] == "skipped"
    assert f"header declares {(1 << 30) // 2} frames, the file holds 500" in entries["huge.wav"]["reason"]
    sources = {feature(e, schema.SOURCE_ID)[0].decode() for e in all_examples(str(tmp_path / "out"))}
    assert sources == {"x/long.wav", "x/ok.wav"} and report["files_ok"] == 1


def test_files_directly_in_the_data_root_are_unlabelled(tmp_path):
    data = str(tmp_path / "flat")
    os.makedirs(os.path.join(data, "kick"))
    for name in ("a.wav", "b.wav"):
        sf.write(os.path.join(data, name), tone(16000, 0.5), 16000)
    sf.write(os.path.join(data, "kick", "k.wav"), tone(16000, 0.5), 16000)
    report = run_standalone(data, str(tmp_path / "out"), MODEL, IngestConfig())
    assert report["labels"] == ["kick"]
    labels = {feature(e, schema.SOURCE_ID)[0].decode(): (feature(e, schema.LABEL)[0],
                                                         feature(e, schema.LABEL_NAME)[0].decode())
              for e in all_examples(str(tmp_path / "out"))}
    assert labels == {"a.wav": (schema.NO_LABEL, ""), "b.wav": (schema.NO_LABEL, ""), "kick/k.wav": (0, "kick")}


def test_splits_never_share_a_source_file(tmp_path):
    data = str(tmp_path / "data")
    for i in range(40):
        os.makedirs(os.path.join(data, "x"), exist_ok=True)
        sf.write(os.path.join(data, "x", f"f{i}.wav"), tone(16000, 3.0, freq=100 + i), 16000)
    run_standalone(data, str(tmp_path / "out"), MODEL, IngestConfig(eval_percent=30))
    train = read_examples(str(tmp_path / "out" / "examples"), "train")
    eval_ = read_examples(str(tmp_path / "out" / "examples"), "eval")
    train_sources = {feature(e, schema.SOURCE_ID)[0] for e in train}
    eval_sources = {feature(e, schema.SOURCE_ID)[0] for e in eval_}
    assert train_sources and eval_sources and not train_sources & eval_sources
    assert len(train_sources | eval_sources) == 40
    assert len(train) + len(eval_) == 40 * 3  # 3 s at 16 kHz -> 3 slices each (last one padded)


def test_every_label_with_two_files_is_in_both_splits_and_adding_files_moves_none(tmp_path):
    from models.splits import eval_sources
    data = str(tmp_path / "data")
    labels = [f"kit{i}" for i in range(8)]
    for label in labels:
        os.makedirs(os.path.join(data, label))
        for j in range(2):
            sf.write(os.path.join(data, label, f"{j}.wav"), tone(16000, 0.5), 16000)
    os.makedirs(os.path.join(data, "solo"))
    sf.write(os.path.join(data, "solo", "only.wav"), tone(16000, 0.5), 16000)
    run_standalone(data, str(tmp_path / "out"), MODEL, IngestConfig(eval_percent=10))
    split_labels = {split: {feature(e, schema.LABEL_NAME)[0].decode()
                            for e in read_examples(str(tmp_path / "out" / "examples"), split)}
                    for split in ("train", "eval")}
    assert split_labels["eval"] == set(labels) and split_labels["train"] == set(labels) | {"solo"}

    files = [f"{label}/{j}.wav" for label in "abc" for j in range(50)]
    before = eval_sources(files, lambda f: f[0], 10)
    after = eval_sources(files + [f"a/new{j}.wav" for j in range(10)], lambda f: f[0], 10)
    assert before == {f for f in after if "new" not in f} and 5 <= len(before) <= 30


def test_thousands_of_damaged_files_are_counted_not_listed_on_the_terminal(tmp_path):
    data = tmp_path / "data"
    (data / "dog").mkdir(parents=True)
    sf.write(str(data / "dog" / "good.wav"), tone(16000, 1.0), 16000)
    for i in range(40):
        (data / "dog" / f"broken{i}.wav").write_bytes(os.urandom(500))
    result = run_cli("ingest", "--data-dir", data, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr[-2000:]
    listed = [line for line in result.stderr.splitlines() if line.startswith("skipped ")]
    assert len(listed) == 10 and "... and 30 more skipped or partial files" in result.stderr
    assert "1 files ok, 0 partial, 40 skipped" in result.stdout
    report = json.load(open(tmp_path / "out" / "report" / "ingest_report.json"))
    assert len(report["skipped"]) == 40  # every one, once, in the report file


def test_segmentation_options(tmp_path):
    data = str(tmp_path / "data")
    os.makedirs(os.path.join(data, "a"))
    quiet_loud = np.concatenate([np.zeros([16000, 1]), tone(16000, 2.0, amplitude=0.25), np.zeros([20000, 1])])
    sf.write(os.path.join(data, "a", "a_1.wav"), quiet_loud, 16000, subtype="FLOAT")
    sf.write(os.path.join(data, "a", "a_silent.wav"), np.full([40000, 1], 1e-5), 16000, subtype="FLOAT")
    cfg = IngestConfig(trim_silence=True, normalize=True, drop_silent_slices=True, label_source="prefix")
    report = run_standalone(data, str(tmp_path / "out"), MODEL, cfg)
    examples = all_examples(str(tmp_path / "out"))
    assert {feature(e, schema.SOURCE_ID)[0] for e in examples} == {b"a/a_1.wav"}
    offsets = sorted(feature(e, schema.OFFSET)[0] for e in examples)
    assert len(offsets) == 2 and abs(offsets[0] - 16000) <= 2  # trimmed start; 2 s -> 2 slices
    assert offsets[1] - offsets[0] == 16384
    assert max(max(feature(e, schema.PEAK)) for e in examples) == pytest.approx(1.0, abs=1e-3)  # normalised
    assert {feature(e, schema.LABEL_NAME)[0] for e in examples} == {b"a"}
    assert [s["path"].endswith("a_silent.wav") for s in report["skipped"]] == [True]
    assert "silence" in report["skipped"][0]["reason"]
    kept = IngestConfig(first_slice_only=True, overlap=0.5, drop_silent_slices=False)
    assert run_standalone(data, str(tmp_path / "first"), MODEL, kept)["slices"] == 2  # one per file
    # By default near-silent slices are dropped and counted: the silent file is reported, not trained on.
    default = run_standalone(data, str(tmp_path / "default"), MODEL, IngestConfig(first_slice_only=True))
    assert default["slices"] == 1 and default["silent_slices_dropped"] == 1
    assert [s["reason"] for s in default["skipped"]] == ["every slice was below -50 dBFS"]


@pytest.mark.e2e
def test_no_valid_audio_fails_with_one_clear_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "junk.wav").write_bytes(b"nope")
    with pytest.raises(IngestError, match="no valid audio slices"):
        run_standalone(str(data), str(tmp_path / "out"), MODEL, IngestConfig())
    result = run_cli("ingest", "--data-dir", data, "--out", tmp_path / "cli")
    assert result.returncode == 2
    assert [line for line in result.stderr.splitlines() if "error" in line] == [
        line for line in result.stderr.splitlines() if line.startswith("wavegan ingest: error: no valid audio")]
    assert "Traceback" not in result.stderr


def test_fsdd_spoken_digits(tmp_path):
    if not os.path.isdir(FSDD):
        pytest.skip(f"FSDD not found at {FSDD}")
    data = tmp_path / "fsdd"
    data.mkdir()
    files = sorted(f for f in os.listdir(FSDD) if f.endswith(".wav"))[::30]  # 50 recordings, every digit
    for name in files:
        os.symlink(os.path.join(FSDD, name), data / name)
    report = run_standalone(str(data), str(tmp_path / "out"), MODEL, IngestConfig(label_source="prefix"))
    assert report["files_ok"] == len(files) and report["labels"] == [str(d) for d in range(10)]
    examples = all_examples(str(tmp_path / "out"))
    assert len(examples) == len(files)  # every clip is under a second: one padded slice each
    for example in examples:
        audio = np.array(feature(example, schema.AUDIO))
        source = feature(example, schema.SOURCE_ID)[0].decode()
        seconds = sf.info(os.path.join(FSDD, source)).duration
        assert audio.shape == (16384,)
        nonzero = np.nonzero(audio)[0]
        assert abs((nonzero[-1] + 1) / 16000 - seconds) < 0.01  # 8 kHz -> 16 kHz, then zero-padded
        assert feature(example, schema.LABEL_NAME)[0].decode() == source.split("_")[0]


@pytest.mark.e2e
def test_cli_ingest_then_train_on_the_tfrecords(tmp_path):
    data = str(tmp_path / "data")
    write_good_files(data, n=6)
    result = run_cli("ingest", "--data-dir", data, "--out", tmp_path / "ingested", "--overlap", "0.5")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "6 files ok" in result.stdout
    result = run_cli("train", "--tfrecords", str(tmp_path / "ingested" / "examples" / "Split-*" / "*.gz"),
                     "--out", tmp_path / "run", *tiny_flags(steps=1, batch_size=2, d_updates=1), "--num-classes", "2")
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_share_out_of_range_is_read_from_the_quantiles():
    from tensorflow_metadata.proto.v0 import statistics_pb2
    from components.anomaly_gate import share_outside
    histogram = statistics_pb2.Histogram(type=statistics_pb2.Histogram.QUANTILES)
    edges = np.concatenate([[0.0], np.linspace(0.0, 1.0, 99)])  # 1 bucket of zeros, then 98 spread ones
    for low, high in zip(edges[:-1], edges[1:]):
        histogram.buckets.add(low_value=low, high_value=high, sample_count=10)
    assert share_outside(histogram, 0.0, 1.0) == 0.0
    assert share_outside(histogram, 0.5, 1.0) == pytest.approx(50 / 99, abs=0.01)
    assert share_outside(histogram, 1e-9, 1.0) == pytest.approx(1 / 99, abs=0.001)  # the zeros are below


def test_a_window_of_spans_skips_unfinished_ingests_and_labels_go_by_name(tmp_path):
    from components.spans import span_window, train_files, write_span_marker
    from models.data import tfrecord_dataset
    root = tmp_path / "examples"
    for execution, span, finished in ((1, 1, True), (2, 2, True), (3, 3, False), (4, 2, True), (5, 3, True)):
        (root / str(execution) / "Split-train").mkdir(parents=True)
        if finished:
            write_span_marker(str(root / str(execution)), span)
    assert span_window(str(root / "5"), 2) == {2: str(root / "4"), 3: str(root / "5")}  # 4 re-ingested span 2
    assert list(span_window(str(root / "5"), 0)) == [1, 2, 3]
    assert span_window(str(root / "2"), 0) == {1: str(root / "1"), 2: str(root / "2")}  # never a later span
    # Each span's integer labels index its own vocabulary; the model's names decide.
    path = str(root / "4" / "Split-train" / "data.gz")
    with tf.io.TFRecordWriter(path, "GZIP") as writer:
        for index, name in enumerate(["kick", "snare"]):  # this span's vocabulary
            writer.write(schema.make_example(np.zeros([16384, 1], np.float32), sample_rate=16000, source_id=name,
                                             offset=0, label=index, label_name=name).SerializeToString())
    assert train_files(span_window(str(root / "5"), 2)) == [path]
    cfg = WaveGANConfig(model_size=4, batch_size=2, num_classes=5, label_names=["clap", "hat", "kick", "snare", "tom"])
    _, labels = next(iter(tfrecord_dataset([path], cfg, shuffle=False)))
    assert labels.numpy().tolist() == [2, 3]
