"""Persistent per-video cache of CLIP image features, keyed by video identity, decoder, preprocessing, encoder.

One entry per key: a `.npz` file (no pickle) named `<key>.npz` (the key is a hex hash, never the video
name) under `AIR_CLIP_CACHE_DIR` (default `./clip_cache`, read when a cache is used, not at import).
An entry holds `indices` int64 (N,) sorted unique original frame indices, `features` float32 (N, D),
`meta` (utf-8 JSON as uint8) and `checksum` (blake2b of the rest as uint8). Writes are atomic (temp
file created exclusively in the same folder + os.replace) and merge with what other processes wrote in
the meantime (read-modify-write under an exclusive `fcntl.flock` on `<key>.lock`), so frames added later
(e.g. by Localized Density Sampling) are never lost. A failing write (full disk, read-only folder) logs
one warning per cache and the run goes on without caching.

An entry is used only when it fits: readable, checksum right, at most `max_entry_bytes` (1 GiB by
default; array sizes are checked from the headers before anything is allocated), finite features,
non-negative sorted unique indices, and, when the caller says what it expects, the encoder's feature
width and indices inside the video. Anything else is a corrupt entry: one warning per entry, the
features are recomputed and the entry is replaced, so a bad entry never crashes a run or changes a
selection.

Shared caches (one folder for a group, e.g. on cluster storage): entries, temp files and locks are
created with the mode the umask allows (0o666 & ~umask; with umask 002 the group can read, extend and
replace them), locks are opened without following symbolic links, and entries are read only when they
are regular files, not links. The checksum detects damage, not tampering: whoever can write the cache
folder can change the features it holds and so the frames A.I.R. selects (see the README's threat model).

The frame sampling rate is deliberately not part of the key: entries hold features per original frame
index, which do not depend on which indices a sampling rate picks, so all rates share one entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from air.safe_files import FileCheckError, atomic_writer, open_regular

logger = logging.getLogger(__name__)

ENV_VAR = "AIR_CLIP_CACHE_DIR"
DEFAULT_DIR = "./clip_cache"
FORMAT_VERSION = 1
DEFAULT_MAX_ENTRY_BYTES = 1 << 30  # 1 GiB: 250k frames of 1024-dim features
_EDGE_BYTES = 1 << 20
_MEMBERS = ("indices", "features", "meta", "checksum")
_ENTRY_RE = re.compile(r"^[0-9a-f]{32}\.npz$")
_AUX_RE = re.compile(r"^(?:[0-9a-f]{32}\.lock|\.[0-9a-f]{32}\..*\.tmp)$")

try:  # POSIX advisory locks; elsewhere writes stay atomic but concurrent merges may drop frames
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX
    fcntl = None


class CacheEntryError(ValueError):
    """A cache file that cannot be used: unreadable, truncated, too large, wrong shapes/dtypes/values or bad checksum."""


@dataclass(frozen=True)
class CacheEntry:
    """Cached features of one video: indices int64 (N,) sorted unique, features float32 (N, D)."""

    indices: np.ndarray
    features: np.ndarray
    meta: dict = field(default_factory=dict)

    def as_dict(self) -> dict[int, np.ndarray]:
        """{frame index: feature row float32 (D,)}."""
        return {int(i): row for i, row in zip(self.indices, self.features)}


def video_identity(video_path: str | Path) -> dict:
    """Identity of a video file: absolute path, size, mtime_ns and blake2b of its first and last MiB."""
    path = Path(video_path).expanduser().resolve()
    st = path.stat()
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        digest.update(fh.read(_EDGE_BYTES))
        if st.st_size > _EDGE_BYTES:
            fh.seek(max(st.st_size - _EDGE_BYTES, _EDGE_BYTES))
            digest.update(fh.read(_EDGE_BYTES))
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "edges_blake2b": digest.hexdigest()}


def _checksum(indices: np.ndarray, features: np.ndarray, meta: bytes) -> np.ndarray:
    digest = hashlib.blake2b(digest_size=32)
    digest.update(f"{FORMAT_VERSION}|{indices.shape}|{features.shape}|".encode())
    digest.update(indices.tobytes())
    digest.update(features.tobytes())
    digest.update(meta)
    return np.frombuffer(digest.digest(), dtype=np.uint8)


class FeatureCache:
    """Per-video CLIP image-feature cache (see module docstring); `root=None` reads AIR_CLIP_CACHE_DIR on use."""

    def __init__(self, root: str | Path | None = None, *, max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES):
        if isinstance(max_entry_bytes, bool) or not isinstance(max_entry_bytes, int) or max_entry_bytes < 1:
            raise ValueError(f"Invalid max_entry_bytes: {max_entry_bytes!r}. Expected an int >= 1 (bytes).")
        self._root = root
        self.max_entry_bytes = max_entry_bytes
        self._write_warned = False
        self._warned_keys: set[str] = set()
        self._meta: dict[str, dict] = {}

    @property
    def root(self) -> Path:
        """The cache folder: `root` if given, else $AIR_CLIP_CACHE_DIR, else ./clip_cache (absolute)."""
        root = self._root if self._root is not None else os.environ.get(ENV_VAR) or DEFAULT_DIR
        return Path(root).expanduser().resolve()

    def key(self, video_path: str | Path, *, decoder: str, preprocess: str, encoder_name: str) -> str:
        """Hex key (32 digits) for one video + decoder + preprocessing + encoder name.

        preprocess: how frames reach the encoder, `video_similarity.preprocess_tag`: the resolved
        clip_resize mode and the input size, e.g. "crop224" or "squash384".

        Raises FileNotFoundError if the video does not exist.
        """
        for label, value in (("decoder", decoder), ("preprocess", preprocess), ("encoder_name", encoder_name)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"Invalid {label}: {value!r}. Expected a non-empty str.")
        fields = {"format": FORMAT_VERSION, "video": video_identity(video_path), "decoder": decoder,
                  "preprocess": preprocess, "encoder": encoder_name}
        text = json.dumps(fields, sort_keys=True)
        key = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        self._meta[key] = fields
        return key

    def path(self, key: str) -> Path:
        """File of the entry for `key`."""
        if not re.fullmatch(r"[0-9a-f]{32}", key or ""):
            raise ValueError(f"Invalid cache key: {key!r}. Expected 32 lowercase hex digits from FeatureCache.key().")
        return self.root / f"{key}.npz"

    # ------------------------------------------------------------------ reading

    def load(self, key: str, *, width: int | None = None, n_frames: int | None = None) -> CacheEntry | None:
        """The entry for `key`, or None when absent or unusable.

        width: the encoder's feature width D; n_frames: the video's frame count (indices must be below
        it). An entry that is corrupt or does not fit them is reported with one warning per entry (later
        occurrences at debug level) and ignored, so its features are recomputed and the entry replaced.
        """
        path = self.path(key)
        try:
            entry = _read_entry(path, self.max_entry_bytes)
            problem = entry_problem(entry, width=width, n_frames=n_frames)
            if problem is not None:
                raise CacheEntryError(problem)
            return entry
        except FileNotFoundError:
            return None
        except CacheEntryError as exc:
            self._warn_entry(key, path, f"Ignoring corrupt CLIP feature cache entry {path} ({exc}); its features "
                                        "will be recomputed and the entry replaced.")
            return None
        except OSError as exc:
            self._warn_entry(key, path, f"Cannot read CLIP feature cache entry {path} ({exc}); features will be "
                                        "recomputed.")
            return None

    def _warn_entry(self, key: str, path: Path, message: str) -> None:
        if key in self._warned_keys:
            logger.debug("%s", message)
        else:
            self._warned_keys.add(key)
            logger.warning("%s", message)

    # ------------------------------------------------------------------ writing

    def add(self, key: str, indices: np.ndarray, features: np.ndarray, *, n_frames: int | None = None) -> bool:
        """Merge features of frames `indices` int (N,) / float32 (N, D) into the entry; True if written.

        Frames already in the entry keep their stored features; rows that are not finite (a failed
        encoding) are not cached. A stored entry that is unusable or does not fit (other width, indices
        at or above `n_frames`) is replaced. Failures to write log one warning per cache object and
        return False.
        """
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[0] != indices.shape[0]:
            raise ValueError(
                f"Invalid cache features: shape {features.shape} for {indices.shape[0]} indices. Expected (N, D)."
            )
        if indices.size and indices.min() < 0:
            raise ValueError(f"Invalid frame indices: minimum {indices.min()}. Expected indices >= 0.")
        finite = np.isfinite(features).all(axis=1)
        if not finite.all():
            logger.debug("Not caching %d non-finite feature rows of entry %s.", int((~finite).sum()), key)
            indices, features = indices[finite], features[finite]
            if indices.size == 0:
                return False
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with _locked(path.with_suffix(".lock")):
                merged = self._merge(key, path, indices, features, n_frames)
                if merged is None:
                    return True
                indices, features, old_meta = merged
                _write_entry(path, indices, features, meta=self._meta.get(key) or old_meta)
            return True
        except OSError as exc:
            if not self._write_warned:
                self._write_warned = True
                logger.warning("Cannot write the CLIP feature cache at %s (%s: %s); continuing without caching "
                               "(further write failures are logged at debug level).", self.root, type(exc).__name__, exc)
            else:
                logger.debug("CLIP feature cache write failed again at %s: %s", path, exc)
            return False

    def _merge(self, key: str, path: Path, indices: np.ndarray, features: np.ndarray, n_frames: int | None):
        """(indices, features, stored meta) to write, or None when the entry already holds every frame."""
        try:
            old = _read_entry(path, self.max_entry_bytes)
            problem = entry_problem(old, width=features.shape[1], n_frames=n_frames)
            if problem is not None:
                raise CacheEntryError(problem)
        except FileNotFoundError:
            old = None
        except CacheEntryError as exc:
            self._warn_entry(key, path, f"Replacing unusable CLIP feature cache entry {path} ({exc}).")
            old = None
        uniq, first = np.unique(indices, return_index=True)
        indices, features = uniq, features[first]
        if old is not None:
            new = ~np.isin(indices, old.indices)
            if not new.any():
                return None
            indices = np.concatenate([old.indices, indices[new]])
            features = np.concatenate([old.features, features[new]])
            order = np.argsort(indices, kind="stable")
            indices, features = indices[order], features[order]
        return indices, np.ascontiguousarray(features), (old.meta if old is not None else {})

    # ------------------------------------------------------------------ maintenance

    def entries(self) -> Iterator[Path]:
        """Entry files under the cache root (only files named like entries)."""
        root = self.root
        if not root.is_dir():
            return iter(())
        return (p for p in sorted(root.iterdir()) if _ENTRY_RE.match(p.name) and p.is_file() and not p.is_symlink())

    def info(self) -> dict:
        """Summary: root, number of entries, total bytes, cached frames, oldest/newest modification (unix s).

        Frames are counted from the entries' array headers (unreadable or oversized entries count 0).
        """
        files = list(self.entries())
        stats = [p.stat() for p in files]
        frames = 0
        for p in files:
            with contextlib.suppress(ValueError, OSError), \
                    open_regular(p, max_bytes=self.max_entry_bytes, what="cache entry", follow_symlinks=False) as fh:
                frames += int(_member_headers(fh)["indices"][0][0])
        return {
            "root": str(self.root), "entries": len(files), "bytes": int(sum(s.st_size for s in stats)),
            "frames": frames,
            "oldest_mtime": min((s.st_mtime for s in stats), default=None),
            "newest_mtime": max((s.st_mtime for s in stats), default=None),
        }

    def clear(self, older_than_days: float | None = None) -> int:
        """Delete entries (all, or those not modified for `older_than_days`) and stale lock/temp files; count."""
        if older_than_days is not None and (
            isinstance(older_than_days, bool) or not isinstance(older_than_days, (int, float))
            or not math.isfinite(older_than_days) or older_than_days < 0
        ):
            raise ValueError(f"Invalid older_than_days: {older_than_days!r}. Expected a finite number >= 0 or None.")
        root = self.root
        if not root.is_dir():
            return 0
        cutoff = None if older_than_days is None else time.time() - older_than_days * 86400.0
        removed = 0
        for p in list(root.iterdir()):
            is_entry, is_aux = bool(_ENTRY_RE.match(p.name)), bool(_AUX_RE.match(p.name))
            if not (is_entry or is_aux) or not (p.is_file() or p.is_symlink()):
                continue
            if cutoff is not None and p.lstat().st_mtime >= cutoff:
                continue
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed += is_entry
        return removed


def entry_problem(entry: CacheEntry, *, width: int | None = None, n_frames: int | None = None) -> str | None:
    """Why a valid entry does not fit an encoder of feature width `width` and a video of `n_frames`, or None."""
    if width is not None and entry.features.shape[1] != width:
        return f"{entry.features.shape[1]}-dim features, the encoder makes {width}-dim ones"
    if n_frames is not None and entry.indices.size and int(entry.indices[-1]) >= n_frames:
        return f"frame index {int(entry.indices[-1])} outside the video's {n_frames} frames"
    return None


def _lock_fd(lock_path: Path) -> int:
    """Open (creating) a lock file without following a symbolic link; read-only when not writable for us."""
    flags = os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(lock_path, os.O_RDWR | flags, 0o666)
    except PermissionError:
        # a lock created by another user without group write: flock works on a read-only descriptor
        return os.open(lock_path, os.O_RDONLY | flags, 0o666)


@contextlib.contextmanager
def _locked(lock_path: Path):
    """Exclusive advisory lock on `lock_path` for the duration of the block (no-op without fcntl).

    The lock file is created with mode 0o666 & ~umask and opened with O_NOFOLLOW: a symbolic link planted
    at its name makes the write fail (and the run continue without caching) instead of being followed.
    """
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = _lock_fd(lock_path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _member_headers(handle) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """{array name: (shape, dtype)} of an entry's members, read from their .npy headers without loading data.

    Raises CacheEntryError unless the archive holds exactly the entry's arrays, stored uncompressed,
    each member's size equal to its header plus shape x itemsize (so loading allocates nothing more).
    """
    out = {}
    try:
        with zipfile.ZipFile(handle) as archive:
            infos = {info.filename: info for info in archive.infolist()}
            expected = {f"{name}.npy" for name in _MEMBERS}
            if set(infos) != expected:
                raise CacheEntryError(f"arrays {sorted(infos)}, expected {sorted(expected)}")
            for name in _MEMBERS:
                info = infos[f"{name}.npy"]
                if info.compress_type != zipfile.ZIP_STORED:
                    raise CacheEntryError(f"array {name} is compressed; entries are stored uncompressed")
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    if version == (1, 0):
                        shape, _fortran, dtype = np.lib.format.read_array_header_1_0(member)
                    else:
                        shape, _fortran, dtype = np.lib.format.read_array_header_2_0(member)
                    header = member.tell()
                if dtype.hasobject:
                    raise CacheEntryError(f"array {name} holds Python objects")
                data = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if header + data != info.file_size:
                    raise CacheEntryError(f"array {name} header says {shape} {dtype} ({data} bytes) but the "
                                          f"member holds {info.file_size - header} bytes")
                out[name] = (tuple(shape), dtype)
    except CacheEntryError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError, KeyError,
            NotImplementedError) as exc:
        raise CacheEntryError(f"unreadable: {type(exc).__name__}: {exc}") from exc
    return out


def _read_entry(path: Path, max_bytes: int = DEFAULT_MAX_ENTRY_BYTES) -> CacheEntry:
    """Read and validate an entry; raises FileNotFoundError or CacheEntryError (OSError when unreadable).

    The file must be a regular file (not a symlink) of at most max_bytes; its arrays' headers are checked
    before any array is loaded (`_member_headers`).
    """
    try:
        handle = open_regular(path, max_bytes=max_bytes, what="cache entry", follow_symlinks=False)
    except FileCheckError as exc:
        raise CacheEntryError(exc.reason) from exc
    with handle:
        _member_headers(handle)
        handle.seek(0)
        try:
            with np.load(handle, allow_pickle=False) as data:
                indices, features = data["indices"], data["features"]
                meta, checksum = data["meta"], data["checksum"]
        except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError) as exc:
            raise CacheEntryError(f"unreadable: {type(exc).__name__}: {exc}") from exc
    if indices.dtype != np.int64 or indices.ndim != 1:
        raise CacheEntryError(f"indices {indices.dtype} {indices.shape}, expected int64 (N,)")
    if features.dtype != np.float32 or features.ndim != 2 or features.shape[0] != indices.shape[0]:
        raise CacheEntryError(f"features {features.dtype} {features.shape}, expected float32 ({indices.shape[0]}, D)")
    if meta.dtype != np.uint8 or checksum.dtype != np.uint8:
        raise CacheEntryError("meta/checksum are not uint8 arrays")
    if not np.array_equal(_checksum(indices, features, meta.tobytes()), checksum):
        raise CacheEntryError("checksum mismatch")
    if indices.size > 1 and not np.all(np.diff(indices) > 0):
        raise CacheEntryError("indices are not sorted and unique")
    if indices.size and indices[0] < 0:
        raise CacheEntryError(f"negative frame index {int(indices[0])}")
    if not np.isfinite(features).all():
        raise CacheEntryError("non-finite features (NaN or infinity)")
    try:
        meta_dict = json.loads(meta.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CacheEntryError(f"meta is not JSON: {exc}") from exc
    return CacheEntry(indices=indices, features=features, meta=meta_dict)


def _write_entry(path: Path, indices: np.ndarray, features: np.ndarray, *, meta: dict) -> None:
    """Write an entry atomically: exclusive temp file in the same folder (mode per umask), fsync, os.replace."""
    meta_bytes = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    checksum = _checksum(indices, features, meta_bytes.tobytes())
    with atomic_writer(path, text=False) as fh:
        np.savez(fh, indices=indices, features=features, meta=meta_bytes, checksum=checksum)
