"""Feature cache: keys, hit/miss, merging, corruption handling, failing writes, concurrent writers, no pickle."""

from __future__ import annotations

import errno
import logging
import multiprocessing as mp
import os
import time

import numpy as np
import pytest

from air.base_models.utils import feature_cache as fc
from air.base_models.utils.feature_cache import FeatureCache

KEY_ARGS = {"decoder": "decord", "preprocess": "squash224", "encoder_name": "open_clip:tiny@abc"}


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "my holiday video.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 3 * (1 << 20), dtype=np.uint8).tobytes())
    return path


@pytest.fixture
def cache(tmp_path):
    return FeatureCache(tmp_path / "cache")


def _feats(indices, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    out = rng.standard_normal((len(indices), dim)).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _rewrite_keep_mtime(path, offset, value=0xFF):
    st = os.stat(path)
    with open(path, "r+b") as fh:
        fh.seek(offset)
        old = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([value if old != bytes([value]) else 0]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_key_is_stable_and_covers_each_component(cache, video):
    key = cache.key(video, **KEY_ARGS)
    assert key == cache.key(video, **KEY_ARGS) == FeatureCache("/elsewhere").key(video, **KEY_ARGS)
    assert len(key) == 32 and int(key, 16) >= 0
    for field, value in (("decoder", "pyav"), ("preprocess", "squash336"), ("encoder_name", "hf:x@1")):
        assert cache.key(video, **{**KEY_ARGS, field: value}) != key, field
    st = os.stat(video)
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert cache.key(video, **KEY_ARGS) != key, "mtime"


def test_key_hashes_first_and_last_mib(cache, video):
    key = cache.key(video, **KEY_ARGS)
    _rewrite_keep_mtime(video, 3 * (1 << 20) - 10)  # last MiB, same size and mtime
    key_tail = cache.key(video, **KEY_ARGS)
    assert key_tail != key
    _rewrite_keep_mtime(video, 100)  # first MiB
    assert cache.key(video, **KEY_ARGS) not in (key, key_tail)


def test_key_changes_with_size_and_path(cache, video, tmp_path):
    key = cache.key(video, **KEY_ARGS)
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(video.read_bytes())
    assert cache.key(copy, **KEY_ARGS) != key
    with open(video, "ab") as fh:
        fh.write(b"x")
    assert cache.key(video, **KEY_ARGS) != key


def test_key_validation(cache, video, tmp_path):
    with pytest.raises(FileNotFoundError):
        cache.key(tmp_path / "missing.mp4", **KEY_ARGS)
    with pytest.raises(ValueError, match="Invalid decoder"):
        cache.key(video, **{**KEY_ARGS, "decoder": ""})
    with pytest.raises(ValueError, match="Invalid cache key"):
        cache.load("../../etc/passwd")


def test_miss_then_hit_round_trip(cache, video):
    key = cache.key(video, **KEY_ARGS)
    assert cache.load(key) is None
    idx = np.array([30, 0, 60])
    feats = _feats(idx)
    assert cache.add(key, idx, feats)
    entry = cache.load(key)
    np.testing.assert_array_equal(entry.indices, [0, 30, 60])
    np.testing.assert_array_equal(entry.features, feats[[1, 0, 2]])
    assert entry.indices.dtype == np.int64 and entry.features.dtype == np.float32
    assert entry.meta["decoder"] == "decord" and entry.meta["encoder"] == KEY_ARGS["encoder_name"]
    assert set(entry.as_dict()) == {0, 30, 60}


def test_file_name_is_the_hash_and_loads_without_pickle(cache, video):
    key = cache.key(video, **KEY_ARGS)
    cache.add(key, [1, 2], _feats([1, 2]))
    files = sorted(p.name for p in cache.root.iterdir())
    assert files == [f"{key}.lock", f"{key}.npz"]
    assert "holiday" not in "".join(files)
    with np.load(cache.path(key), allow_pickle=False) as data:
        assert {name: data[name].dtype.kind for name in data.files} == {
            "indices": "i", "features": "f", "meta": "u", "checksum": "u"}


def test_lds_frames_are_appended_and_existing_rows_kept(cache, video):
    key = cache.key(video, **KEY_ARGS)
    first = _feats([0, 30, 60], seed=1)
    cache.add(key, [0, 30, 60], first)
    lds = _feats([28, 30, 33], seed=2)
    assert cache.add(key, [33, 28, 30], lds[[2, 0, 1]])
    entry = cache.load(key)
    np.testing.assert_array_equal(entry.indices, [0, 28, 30, 33, 60])
    np.testing.assert_array_equal(entry.features[2], first[1])  # frame 30 kept from the first write
    np.testing.assert_array_equal(entry.features[1], lds[0])
    np.testing.assert_array_equal(entry.features[3], lds[2])
    mtime = cache.path(key).stat().st_mtime_ns
    assert cache.add(key, [0, 60], first[[0, 2]])  # nothing new: no rewrite
    assert cache.path(key).stat().st_mtime_ns == mtime


def _corrupt_garbage(path):
    path.write_bytes(b"\x93NUMPY garbage" * 10)


def _corrupt_truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt_checksum(path):
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["features"] = arrays["features"].copy()
    arrays["features"][0, 0] += 0.5
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _corrupt_dtype(path):
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["features"] = arrays["features"].astype(np.float64)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


@pytest.mark.parametrize("corrupt, reason", [
    (_corrupt_garbage, "unreadable"), (_corrupt_truncate, "unreadable"),
    (_corrupt_checksum, "checksum mismatch"), (_corrupt_dtype, "features float64"),
])
def test_corrupt_entry_is_reported_and_recomputed(cache, video, caplog, corrupt, reason):
    key = cache.key(video, **KEY_ARGS)
    cache.add(key, [0, 1], _feats([0, 1]))
    corrupt(cache.path(key))
    with caplog.at_level(logging.WARNING, logger=fc.__name__):
        assert cache.load(key) is None
    assert any("corrupt" in r.getMessage() and reason in r.getMessage() for r in caplog.records), caplog.text
    assert cache.add(key, [5], _feats([5]))  # recomputed features replace the bad entry
    np.testing.assert_array_equal(cache.load(key).indices, [5])


def test_failing_write_warns_once_and_continues(tmp_path, video, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    cache = FeatureCache(blocker / "cache")
    key = cache.key(video, **KEY_ARGS)
    with caplog.at_level(logging.WARNING, logger=fc.__name__):
        results = [cache.add(key, [i], _feats([i])) for i in range(3)]
    assert results == [False, False, False]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "continuing without caching" in warnings[0].getMessage()
    assert cache.load(key) is None


def test_disk_full_keeps_old_entry_and_leaves_no_temp_file(cache, video, monkeypatch, caplog):
    key = cache.key(video, **KEY_ARGS)
    cache.add(key, [0], _feats([0]))

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fc.os, "fsync", full_disk)
    with caplog.at_level(logging.WARNING, logger=fc.__name__):
        assert not cache.add(key, [1], _feats([1]))
        assert not cache.add(key, [2], _feats([2]))
    assert sum("No space left" in r.getMessage() for r in caplog.records) == 1
    np.testing.assert_array_equal(cache.load(key).indices, [0])
    assert not [p for p in cache.root.iterdir() if p.name.endswith(".tmp")]


def _worker(root: str, key: str, worker: int, rounds: int) -> None:
    cache = FeatureCache(root)
    for r in range(rounds):
        idx = np.arange(r * 40 + worker * 10, r * 40 + worker * 10 + 10)
        cache.add(key, idx, np.full((len(idx), 4), float(worker), np.float32))
        cache.add(key, [1000], np.zeros((1, 4), np.float32))  # a frame every worker writes


def test_four_processes_fill_one_entry(cache, video):
    key = cache.key(video, **KEY_ARGS)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(cache.root), key, w, 5)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    entry = cache.load(key)
    assert entry is not None
    np.testing.assert_array_equal(entry.indices, np.append(np.arange(200), 1000))
    for worker in range(4):
        rows = [(r * 40 + worker * 10) for r in range(5)]
        assert np.all(entry.features[rows] == worker)
    assert not [p for p in cache.root.iterdir() if p.name.endswith(".tmp")]


def test_root_is_read_from_environment_at_use(monkeypatch, tmp_path):
    cache = FeatureCache()
    monkeypatch.setenv("AIR_CLIP_CACHE_DIR", str(tmp_path / "a"))
    assert cache.root == tmp_path / "a"
    monkeypatch.setenv("AIR_CLIP_CACHE_DIR", str(tmp_path / "b"))
    assert cache.root == tmp_path / "b"
    monkeypatch.delenv("AIR_CLIP_CACHE_DIR")
    assert cache.root == (fc.Path.cwd() / "clip_cache").resolve()


def test_info_and_clear(cache, video, tmp_path):
    assert cache.info()["entries"] == 0 and cache.clear() == 0
    keys = [cache.key(video, **{**KEY_ARGS, "encoder_name": f"e{i}"}) for i in range(3)]
    for i, key in enumerate(keys):
        cache.add(key, np.arange(i + 1), _feats(np.arange(i + 1)))
    (cache.root / "notes.txt").write_text("not ours")
    info = cache.info()
    assert info["entries"] == 3 and info["frames"] == 6 and info["bytes"] > 0
    old = time.time() - 3 * 86400
    os.utime(cache.path(keys[0]), (old, old))
    assert cache.clear(older_than_days=1) == 1
    assert cache.load(keys[0]) is None and cache.load(keys[1]) is not None
    with pytest.raises(ValueError, match="older_than_days"):
        cache.clear(older_than_days=-1)
    assert cache.clear() == 2
    assert [p.name for p in cache.root.iterdir()] == ["notes.txt"]


def test_add_validates_shapes(cache, video):
    key = cache.key(video, **KEY_ARGS)
    with pytest.raises(ValueError, match=r"Expected \(N, D\)"):
        cache.add(key, [0, 1], np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="indices >= 0"):
        cache.add(key, [-1], np.zeros((1, 4), np.float32))
