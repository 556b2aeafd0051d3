"""Demo data: deterministic, labelled, decodable; spoken digits when espeak-ng exists."""
import os
import shutil

import pytest
import soundfile as sf

from pipeline.demo_data import CLASSES, DIGITS, make_demo_data, make_spoken_digits


def test_demo_data_is_labelled_and_deterministic_by_seed(tmp_path):
    a = make_demo_data(str(tmp_path / "a"), files_per_class=3, seed=4)
    b = make_demo_data(str(tmp_path / "b"), files_per_class=3, seed=4)
    c = make_demo_data(str(tmp_path / "c"), files_per_class=3, seed=5)
    assert sorted(os.listdir(tmp_path / "a")) == sorted(CLASSES) and len(a) == 15
    for pa, pb, pc in zip(a, b, c):
        assert open(pa, "rb").read() == open(pb, "rb").read()
        assert open(pa, "rb").read() != open(pc, "rb").read()
        info = sf.info(pa)
        assert info.samplerate == 16000 and info.channels == 1 and info.subtype == "PCM_16"
        audio, _ = sf.read(pa)
        assert 0.4 < abs(audio).max() <= 1.0


def test_spoken_digits_when_espeak_is_installed(tmp_path):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    paths = make_spoken_digits(str(tmp_path), files_per_digit=1)
    assert sorted(os.listdir(tmp_path)) == sorted(DIGITS) and len(paths) == 10
    audio, rate = sf.read(paths[0])
    assert rate == 16000 and 0.2 < len(audio) / rate < 2.0 and abs(audio).max() > 0.05
