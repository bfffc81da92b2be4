"""air/safe_files.py: regular-file reads with limits, exclusive atomic writes, safe names, writable folders."""

from __future__ import annotations

import os
import stat

import pytest

from air.safe_files import (
    FileCheckError,
    atomic_write,
    atomic_writer,
    open_regular,
    probe_writable_folder,
    read_limited,
    safe_name,
)


@pytest.mark.parametrize("make, kind", [
    (lambda p: os.mkfifo(p), "a FIFO (named pipe)"),
    (lambda p: p.mkdir(), "a folder"),
    (lambda p: p.symlink_to("/dev/zero"), "a character device"),
])
def test_only_regular_files_are_opened(tmp_path, make, kind):
    path = tmp_path / "input"
    make(path)
    with pytest.raises(FileCheckError) as info:
        open_regular(path, max_bytes=None, what="trace file")
    assert str(info.value) == f"Invalid trace file {path}: {kind}. Expected a regular file."


def test_size_limit_and_symlinks(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 100)
    assert read_limited(path, max_bytes=100) == b"x" * 100
    with pytest.raises(FileCheckError, match="100 B, above the limit of 99 B") as info:
        read_limited(path, max_bytes=99)
    assert info.value.reason.startswith("100 B") and str(path) in str(info.value)
    link = tmp_path / "link.bin"
    link.symlink_to(path)
    assert read_limited(link, max_bytes=100) == b"x" * 100
    with pytest.raises(FileCheckError, match="a symbolic link"):
        open_regular(link, max_bytes=None, follow_symlinks=False)
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "missing", max_bytes=None)


@pytest.mark.parametrize("text, name", [
    ("videomme", "videomme"), ("../../etc/passwd", "_.._etc_passwd"), ("..", "x"), ("", "x"), (".hidden", "hidden"),
    ("a b/c\\d:e", "a_b_c_d_e"), (12, "12"), (None, "None"), ("tâche", "t_che"), ("a\0b", "a_b"),
])
def test_safe_name(text, name):
    assert safe_name(text) == name
    assert "/" not in safe_name(text) and not safe_name(text).startswith(".")


def test_safe_name_is_bounded():
    assert len(safe_name("a" * 1000)) == 120 and len(safe_name("a" * 1000, max_len=10)) == 10


def test_atomic_write_replaces_a_link_and_never_touches_its_target(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    target = tmp_path / "out.json"
    target.symlink_to(victim)
    for guess in ("out.json.tmp", ".out.json.tmp"):
        (tmp_path / guess).symlink_to(victim)
    atomic_write(target, '{"a": 1}')
    assert victim.read_text() == "precious" and not target.is_symlink() and target.read_text() == '{"a": 1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.json.tmp", "out.json", "out.json.tmp", "victim"]


def test_atomic_writer_failure_leaves_the_target_and_no_temp_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_writer(target, text=False) as handle:
        handle.write(b"half")
        raise RuntimeError("disk on fire")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_atomic_writer_fsyncs_unless_told_not_to(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(os, "fsync", synced.append)
    with atomic_writer(tmp_path / "thumb.jpg", text=False, fsync=False) as handle:
        handle.write(b"jpeg")
    assert synced == [] and (tmp_path / "thumb.jpg").read_bytes() == b"jpeg"
    with atomic_writer(tmp_path / "trace.json") as handle:
        handle.write("{}")
    assert len(synced) == 1 and (tmp_path / "trace.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thumb.jpg", "trace.json"]


@pytest.mark.parametrize("umask, mode", [(0o002, 0o664), (0o022, 0o644), (0o077, 0o600)])
def test_atomic_write_gives_the_mode_of_a_new_file(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = atomic_write(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_probe_writable_folder(tmp_path):
    assert probe_writable_folder(tmp_path / "a" / "b").is_dir()
    assert list((tmp_path / "a" / "b").iterdir()) == [], "the probe file is removed"
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        probe_writable_folder(tmp_path / "file")
    with pytest.raises(OSError):
        probe_writable_folder(tmp_path / "file" / "sub")
