"""Decoding every format, resampling, channels, and streamed slicing."""
import numpy as np
import pytest
import soundfile as sf

from models.audio import AudioDecodeError, decode_blocks, load_audio, slice_audio, slice_blocks


def tone(rate, seconds, freq=440.0, channels=1, amplitude=0.5):
    t = np.arange(int(rate * seconds)) / rate
    mono = amplitude * np.sin(2 * np.pi * freq * t)
    return np.stack([mono * (0.5 + 0.5 * c / max(channels - 1, 1)) for c in range(channels)], axis=1)


def dominant_hz(audio, rate):
    spectrum = np.abs(np.fft.rfft(audio[:, 0]))
    return np.argmax(spectrum) * rate / len(audio)


FORMATS = [("wav", "PCM_U8"), ("wav", "PCM_16"), ("wav", "PCM_24"), ("wav", "PCM_32"), ("wav", "FLOAT"),
           ("flac", "PCM_16"), ("flac", "PCM_24"), ("ogg", "VORBIS"), ("mp3", "MPEG_LAYER_III")]


@pytest.mark.parametrize("ext,subtype", FORMATS)
@pytest.mark.parametrize("rate", [8000, 44100])
def test_every_format_decodes_resampled_to_the_target_rate(tmp_path, ext, subtype, rate):
    path = str(tmp_path / f"x.{ext}")
    sf.write(path, tone(rate, 1.0, channels=2), rate, subtype=subtype)
    audio = load_audio(path, 16000, 1)
    assert audio.dtype == np.float32 and audio.shape[1] == 1
    assert abs(len(audio) - 16000) <= 0.06 * 16000  # lossy codecs add a little padding
    assert abs(dominant_hz(audio, 16000) - 440) < 5
    assert 0.2 < np.max(np.abs(audio)) <= 1.0


@pytest.mark.parametrize("file_channels,keep", [(1, 1), (2, 1), (6, 1), (1, 2), (2, 2), (6, 2)])
def test_channels_mix_down_or_are_kept(tmp_path, file_channels, keep):
    path = str(tmp_path / "x.wav")
    sf.write(path, tone(22050, 0.5, channels=file_channels), 22050, subtype="PCM_16")
    audio = load_audio(path, 16000, keep)
    assert audio.shape == (8000, keep)


def test_block_decoding_equals_whole_file_decoding(tmp_path):
    path = str(tmp_path / "long.wav")
    sf.write(path, tone(44100, 3.0, freq=300), 44100, subtype="PCM_16")
    whole = np.concatenate(list(decode_blocks(path, 16000, 1, block_seconds=100)))
    blocks = list(decode_blocks(path, 16000, 1, block_seconds=0.1))
    assert len(blocks) > 10
    streamed = np.concatenate(blocks)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-4)


@pytest.mark.parametrize("overlap,first_only,pad_end", [(0.0, False, True), (0.5, False, True),
                                                        (0.25, False, False), (0.0, True, True)])
def test_streamed_slicing_equals_slicing_in_memory(overlap, first_only, pad_end):
    data = np.random.RandomState(0).randn(10_000, 2).astype(np.float32)
    expected = list(slice_audio(data, 1024, overlap=overlap, first_only=first_only, pad_end=pad_end))
    hop = int(round(1024 * (1 - overlap)))
    blocks = [data[i:i + 333] for i in range(0, len(data), 333)]
    got = list(slice_blocks(blocks, 1024, hop=hop, first_only=first_only, pad_end=pad_end))
    assert [o for o, _ in got] == [o for o, _ in expected]
    for (_, a), (_, b) in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    if first_only:
        assert len(got) == 1
    offsets = [o for o, _ in got]
    assert offsets == list(range(0, offsets[-1] + 1, hop))
    for offset, piece in got:  # every slice is the source at its offset, zero-padded past the end
        n = min(1024, len(data) - offset)
        np.testing.assert_array_equal(piece[:n], data[offset:offset + n])
        assert np.all(piece[n:] == 0)
    if not pad_end:
        assert offsets[-1] + 1024 <= len(data)


def test_slice_window_honours_start_and_end():
    data = np.arange(100, dtype=np.float32)[:, None]
    got = list(slice_blocks([data[:40], data[40:]], 16, hop=16, start=10, end=50))
    assert [o for o, _ in got] == [10, 26, 42]
    np.testing.assert_array_equal(got[2][1][:8, 0], np.arange(42, 50))
    assert np.all(got[2][1][8:] == 0)


@pytest.mark.parametrize("content,reason", [
    (b"", "empty file"),
    (b"this is not audio at all", "not audio"),
])
def test_undecodable_files_raise_with_a_reason(tmp_path, content, reason):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioDecodeError, match=reason):
        load_audio(str(path), 16000)


def test_nan_samples_and_zero_length_audio_are_rejected(tmp_path):
    nan_path = str(tmp_path / "nan.wav")
    data = tone(16000, 0.5)
    data[100] = np.nan
    sf.write(nan_path, data, 16000, subtype="FLOAT")
    with pytest.raises(AudioDecodeError, match="NaN"):
        load_audio(nan_path, 16000)
    empty_path = str(tmp_path / "zero.wav")
    sf.write(empty_path, np.zeros([0, 1]), 16000, subtype="PCM_16")
    with pytest.raises(AudioDecodeError, match="zero-length"):
        load_audio(empty_path, 16000)


@pytest.mark.e2e
def test_m4a_decodes_through_ffmpeg_when_installed(tmp_path):
    import shutil
    import subprocess
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed: M4A/AAC files are reported as undecodable")
    wav, m4a = str(tmp_path / "x.wav"), str(tmp_path / "x.m4a")
    sf.write(wav, tone(44100, 1.0), 44100, subtype="PCM_16")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", wav, m4a], check=True, timeout=60)
    audio = load_audio(m4a, 16000)
    assert abs(len(audio) - 16000) < 0.1 * 16000 and abs(dominant_hz(audio, 16000) - 440) < 5
