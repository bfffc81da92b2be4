"""Feature cache under hostile conditions: a writer killed mid-write (SIGKILL), entries that do not fit the
encoder or the video, oversized or crafted files, planted links, and a cache shared by a group of users."""

import io
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from air.base_models.utils import feature_cache as fc
from air.base_models.utils.feature_cache import FeatureCache

KEY_ARGS = {"decoder": "decord", "preprocess": "squash32", "encoder_name": "open_clip:tiny@x"}

# The child writes a valid entry, then starts a second write that stalls after the temp file is
# written and before the rename, and signals the parent, which kills it with SIGKILL.
CHILD = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from air.base_models.utils import feature_cache as fc
    cache = fc.FeatureCache(sys.argv[1])
    key = cache.key(sys.argv[2], decoder="decord", preprocess="squash32", encoder_name="open_clip:tiny@x")
    cache.add(key, np.arange(5), np.ones((5, 4), np.float32))
    real_replace = os.replace
    def stall(src, dst):
        open(sys.argv[3], "w").write("stalled")
        time.sleep(120)
    fc.os.replace = stall
    cache.add(key, np.arange(5, 10), np.full((5, 4), 2.0, np.float32))
""")


def test_writer_killed_mid_write_leaves_a_valid_entry(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x" * 4096)
    flag = tmp_path / "stalled.flag"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "cache"), str(video), str(flag)])
    deadline = time.time() + 120
    while not flag.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert flag.exists(), "the child never reached the stalled rename"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    cache = FeatureCache(tmp_path / "cache")
    key = cache.key(video, **KEY_ARGS)
    entry = cache.load(key)
    assert entry is not None, "the first, complete write survives"
    assert entry.indices.tolist() == [0, 1, 2, 3, 4] and np.all(entry.features == 1.0)
    leftovers = [p.name for p in (tmp_path / "cache").iterdir() if p.name.endswith(".tmp")]
    assert leftovers, "the killed writer left its temp file behind (never read as an entry)"
    # the dead writer's lock is released by the kernel: a new writer proceeds and merges
    assert cache.add(key, np.arange(5, 8), np.full((3, 4), 3.0, np.float32))
    assert cache.load(key).indices.tolist() == list(range(8))
    assert all(not e.name.endswith(".tmp") for e in cache.entries())


# ---------------------------------------------------------------------------------------------------
# Entries that do not fit (issue 15 item 1): a shared cache folder is written by other people's runs.
# Each crafted entry has a valid checksum, so only the new checks can catch it. Expected: load() gives
# None with one warning naming the problem (not repeated), and the next add() replaces the entry.




WIDTH, N_FRAMES = 8, 100


def _unit(n, dim=WIDTH, seed=0):
    rows = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _raw_entry(path, indices, features, *, compressed=False, **extra):
    """An entry written by hand with a correct checksum (what a careless or hostile writer could leave)."""
    indices = np.asarray(indices)
    meta = np.frombuffer(b"{}", np.uint8)
    save = np.savez_compressed if compressed else np.savez
    with open(path, "wb") as fh:
        save(fh, indices=indices, features=features, meta=meta,
             checksum=fc._checksum(indices, features, meta.tobytes()), **extra)


def _npy(array, shape=None) -> bytes:
    buf = io.BytesIO()
    header = np.lib.format.header_data_from_array_1_0(array)
    if shape is not None:
        header["shape"] = shape
    np.lib.format.write_array_header_1_0(buf, header)
    buf.write(array.tobytes())
    return buf.getvalue()


def _lying_header(path):
    """indices.npy claims 10**11 frames (400 GB of features) but holds two: loading must not allocate it."""
    idx, feats = np.array([0, 1], np.int64), _unit(2)
    meta = np.frombuffer(b"{}", np.uint8)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("indices.npy", _npy(idx, shape=(10**11,)))
        archive.writestr("features.npy", _npy(feats, shape=(10**11, WIDTH)))
        archive.writestr("meta.npy", _npy(meta))
        archive.writestr("checksum.npy", _npy(fc._checksum(idx, feats, meta.tobytes())))


BAD_ENTRIES = [
    ("wider features", lambda p: _raw_entry(p, np.array([0, 1]), _unit(2, dim=16)), "16-dim features"),
    ("float64 features", lambda p: _raw_entry(p, np.array([0, 1]), _unit(2).astype(np.float64)), "float64"),
    ("int32 indices", lambda p: _raw_entry(p, np.array([0, 1], np.int32), _unit(2)), "indices int32"),
    ("index past the video", lambda p: _raw_entry(p, np.array([0, N_FRAMES]), _unit(2)), "outside the video"),
    ("negative index", lambda p: _raw_entry(p, np.array([-3, 1]), _unit(2)), "negative frame index"),
    ("unsorted indices", lambda p: _raw_entry(p, np.array([5, 1]), _unit(2)), "not sorted"),
    ("NaN features", lambda p: _raw_entry(p, np.array([0, 1]), np.where(np.eye(2, WIDTH) > 0, np.nan,
                                                                          _unit(2)).astype(np.float32)), "non-finite"),
    ("inf features", lambda p: _raw_entry(p, np.array([0, 1]), np.full((2, WIDTH), np.inf, np.float32)), "non-finite"),
    ("compressed arrays", lambda p: _raw_entry(p, np.array([0, 1]), _unit(2), compressed=True), "compressed"),
    ("extra array", lambda p: _raw_entry(p, np.array([0, 1]), _unit(2), extra=np.zeros(3)), "arrays"),
    ("lying array header", _lying_header, "header says"),
    ("not a zip", lambda p: p.write_bytes(b"PK\x03\x04" + b"\x00" * 200), "unreadable"),
]


@pytest.mark.parametrize("name, write, problem", BAD_ENTRIES, ids=[b[0] for b in BAD_ENTRIES])
def test_entry_that_does_not_fit_is_ignored_once_then_replaced(tmp_path, name, write, problem, caplog):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"v" * 4096)
    cache = FeatureCache(tmp_path / "cache")
    key = cache.key(video, **KEY_ARGS)
    cache.root.mkdir()
    write(cache.path(key))
    with caplog.at_level(logging.DEBUG, logger=fc.__name__):
        assert cache.load(key, width=WIDTH, n_frames=N_FRAMES) is None
        assert cache.load(key, width=WIDTH, n_frames=N_FRAMES) is None  # a second look: no second warning
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and problem in warnings[0] and str(cache.path(key)) in warnings[0], warnings
    good = _unit(3, seed=4)
    assert cache.add(key, [2, 7, 9], good, n_frames=N_FRAMES)  # recomputed features replace the entry
    entry = cache.load(key, width=WIDTH, n_frames=N_FRAMES)
    assert entry.indices.tolist() == [2, 7, 9] and np.array_equal(entry.features, good)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_entry_size_limit(tmp_path, caplog):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"v" * 4096)
    big = FeatureCache(tmp_path / "cache")
    key = big.key(video, **KEY_ARGS)
    assert big.add(key, np.arange(64), _unit(64))
    small = FeatureCache(tmp_path / "cache", max_entry_bytes=1024)
    with caplog.at_level(logging.WARNING, logger=fc.__name__):
        assert small.load(key) is None
    assert "above the limit of 1.0 KiB" in caplog.text
    assert small.info()["frames"] == 0 and big.info()["frames"] == 64  # counted from headers, within the limit
    with pytest.raises(ValueError, match="max_entry_bytes"):
        FeatureCache(tmp_path, max_entry_bytes=0)


def test_lying_header_is_never_allocated_by_info(tmp_path):
    cache = FeatureCache(tmp_path)
    _lying_header(tmp_path / ("0" * 32 + ".npz"))
    assert cache.info() == {**cache.info(), "entries": 1, "frames": 0}


def test_non_finite_rows_are_not_cached(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"v" * 4096)
    cache = FeatureCache(tmp_path / "cache")
    key = cache.key(video, **KEY_ARGS)
    feats = _unit(3)
    feats[1, 0] = np.nan
    assert cache.add(key, [0, 1, 2], feats)
    assert cache.load(key).indices.tolist() == [0, 2]
    assert not cache.add(key, [5], np.full((1, WIDTH), np.nan, np.float32))  # nothing finite: nothing written


def test_special_files_and_symlinks_at_entry_and_lock_names_are_not_followed(tmp_path, caplog):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"v" * 4096)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    cache = FeatureCache(tmp_path / "cache")
    key = cache.key(video, **KEY_ARGS)
    cache.root.mkdir()
    # an entry that is a FIFO or a link to /dev/zero: refused at once, never read (no hang, no memory blow-up)
    os.mkfifo(cache.path(key))
    with caplog.at_level(logging.WARNING, logger=fc.__name__):
        assert cache.load(key) is None
    assert "a FIFO" in caplog.text
    os.unlink(cache.path(key))
    os.symlink("/dev/zero", cache.path(key))
    assert FeatureCache(cache.root).load(key) is None
    assert cache.add(key, [1], _unit(1))  # the rename replaces the link itself
    assert not cache.path(key).is_symlink() and cache.load(key).indices.tolist() == [1]
    # a lock planted as a link to someone else's file: the write is skipped (warned), the file untouched
    lock = cache.path(key).with_suffix(".lock")
    lock.unlink()
    lock.symlink_to(victim)
    mode = victim.stat().st_mode
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=fc.__name__):
        assert not cache.add(key, [2], _unit(1))
    assert "continuing without caching" in caplog.text
    assert victim.read_text() == "precious" and victim.stat().st_mode == mode
    assert cache.load(key).indices.tolist() == [1]


@pytest.mark.parametrize("umask, mode", [(0o002, 0o664), (0o022, 0o644), (0o077, 0o600)])
def test_entries_and_locks_get_the_mode_the_umask_allows(tmp_path, umask, mode):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"v" * 4096)
    cache = FeatureCache(tmp_path / "cache")
    key = cache.key(video, **KEY_ARGS)
    old = os.umask(umask)
    try:
        assert cache.add(key, [0], _unit(1))
        assert cache.add(key, [1], _unit(1, seed=1))  # a rewrite keeps the mode
    finally:
        os.umask(old)
    for path in (cache.path(key), cache.path(key).with_suffix(".lock")):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path.name


SECOND_UID, SHARED_GID = 65534, 4242


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to a second user needs root")
def test_a_second_user_of_the_group_reads_and_extends_the_cache():
    """Group cache: root (umask 002) writes an entry; uid 65534 (same group only) reads and extends it."""
    shared = Path(tempfile.mkdtemp(prefix="air-shared-cache-"))
    try:
        os.chown(shared, 0, SHARED_GID)
        os.chmod(shared, 0o2775)  # setgid folder: files and folders inside get its group
        video = shared / "v.mp4"
        video.write_bytes(b"v" * 4096)
        os.chmod(video, 0o644)
        old = os.umask(0o002)
        try:
            cache = FeatureCache(shared / "cache")
            key = cache.key(video, **KEY_ARGS)
            assert cache.add(key, [0, 1], _unit(2))
        finally:
            os.umask(old)
        for path in (cache.root, cache.path(key), cache.path(key).with_suffix(".lock")):
            st = path.stat()
            assert st.st_gid == SHARED_GID and st.st_mode & 0o060 == 0o060, (path, oct(st.st_mode))
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # the second user: only the group gives it access
            status = b"child failed"
            try:
                os.close(reader)
                os.setgroups([SHARED_GID])
                os.setgid(SHARED_GID)
                os.setuid(SECOND_UID)
                os.umask(0o002)
                theirs = FeatureCache(shared / "cache")
                entry = theirs.load(key, width=WIDTH, n_frames=N_FRAMES)
                read_ok = entry is not None and entry.indices.tolist() == [0, 1]
                wrote = theirs.add(key, [2, 3], _unit(2, seed=5), n_frames=N_FRAMES)
                status = f"read={read_ok} wrote={wrote}".encode()
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                status = repr(exc).encode()
            finally:
                os.write(writer, status)
                os._exit(0)
        os.close(writer)
        os.waitpid(pid, 0)
        status = os.read(reader, 4096).decode()
        os.close(reader)
        assert status == "read=True wrote=True", status
        entry = FeatureCache(shared / "cache").load(key)
        assert entry.indices.tolist() == [0, 1, 2, 3]
        st = cache.path(key).stat()
        assert st.st_uid == SECOND_UID and st.st_gid == SHARED_GID and stat.S_IMODE(st.st_mode) == 0o664
    finally:
        shutil.rmtree(shared, ignore_errors=True)


# -- end to end: a poisoned entry never changes a selection ------------------------------------------
def _poison_nan(entry):
    feats = entry.features.copy()
    feats[::2] = np.nan
    return entry.indices, feats


def _poison_width(entry):
    return entry.indices, np.concatenate([entry.features, entry.features], axis=1)


def _poison_index(entry):
    return np.append(entry.indices, 10**6), np.concatenate([entry.features, entry.features[:1]])


@pytest.mark.parametrize("poison, problem", [(_poison_nan, "non-finite"), (_poison_width, "-dim features"),
                                             (_poison_index, "outside the video")])
def test_poisoned_entry_gives_the_uncached_selection(tmp_path_factory, poison, problem, caplog):
    from air.base_models.clip_model import load_clip
    from air.base_models.utils.video_similarity import VideoSimilarity
    from air.config import AIRConfig
    from air.Process_Utils.process_messages import FrameScore
    from air.Process_Utils.process_video import open_video
    from air.selection import select_frames
    from air.testing import tiny_clip
    from air.testing.videos import write_video

    root = tmp_path_factory.mktemp("poison")
    video = write_video(root / "clip.mp4", duration_s=20.0, fps=5.0, size=(64, 48),
                        segments=[(0.0, 8.0, "red"), (8.0, 14.0, "blue"), (14.0, 20.0, "green")])
    encoder = load_clip(tiny_clip.build_tiny_open_clip(root / "oc"), batch_size=16)
    config = AIRConfig(max_rounds=2, candidates_per_round=4)
    question = "Which colour comes second?"

    def analyze(frames):
        return [FrameScore(int(f) % 5 + 1, "scripted", "") for f in frames]

    def run(cache):
        with open_video(video.path) as reader:
            sim = VideoSimilarity(reader, encoder, question, cache=cache)
            selection = select_frames(reader.n_frames, reader.fps, sim, analyze, config)
            return sim, selection

    _, reference = run(None)
    cache = FeatureCache(root / "cache")
    first, _ = run(cache)
    entry = cache.load(first.cache_key)
    indices, features = poison(entry)
    _raw_entry(cache.path(first.cache_key), indices, features.astype(np.float32))
    with caplog.at_level(logging.WARNING, logger=fc.__name__):
        poisoned_sim, poisoned = run(FeatureCache(root / "cache"))
    assert poisoned_sim.n_from_cache == 0 and poisoned.frame_indices == reference.frame_indices
    assert poisoned.to_dict()["scored"] == reference.to_dict()["scored"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and problem in warnings[0], warnings
    repaired, again = run(FeatureCache(root / "cache"))  # the recomputed features replaced the entry
    assert repaired.n_from_cache > 0 and repaired.n_encoded == 0 and again.frame_indices == reference.frame_indices
