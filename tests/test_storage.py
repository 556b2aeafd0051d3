"""Folders published to and read back from an object-store URI (TF's in-memory ram:// file system)."""
import os

import tensorflow as tf

from components.storage import local_copy, local_folder


def test_a_folder_written_locally_lands_at_a_remote_uri_and_comes_back(tmp_path):
    uri = "ram://wavegan-test/report"
    with local_folder(uri) as folder:
        assert not folder.startswith("ram://")
        os.makedirs(os.path.join(folder, "media"))
        open(os.path.join(folder, "index.html"), "w").write("<html></html>")
        open(os.path.join(folder, "media", "a.wav"), "wb").write(b"RIFF1234")
    assert not os.path.exists(folder)  # the staging folder is gone
    assert tf.io.gfile.exists(uri + "/media/a.wav")
    with local_copy(uri) as copy:
        assert open(os.path.join(copy, "media", "a.wav"), "rb").read() == b"RIFF1234"
        assert open(os.path.join(copy, "index.html")).read() == "<html></html>"


def test_a_local_uri_is_used_as_it_is(tmp_path):
    with local_folder(str(tmp_path / "out")) as folder:
        assert folder == str(tmp_path / "out")
    with local_copy(str(tmp_path / "out")) as copy:
        assert copy == str(tmp_path / "out")


def test_a_tree_with_a_marker_file_is_copied_whole(tmp_path):
    from components.storage import copy_tree
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    for name in ("judge.json", "judge.keras", "sub/x"):
        (source / name).write_text(name)
    copy_tree(str(source), "ram://wavegan-test/marker", last="judge.json")
    assert tf.io.gfile.exists("ram://wavegan-test/marker/judge.json")
    assert tf.io.gfile.exists("ram://wavegan-test/marker/sub/x")
