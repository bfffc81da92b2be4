"""Persistent per-video cache of CLIP image features, keyed by video identity, decoder, preprocessing, encoder.

One entry per key: a `.npz` file (no pickle) named `<key>.npz` (the key is a hex hash, never the video
name) under `AIR_CLIP_CACHE_DIR` (default `./clip_cache`, read when a cache is used, not at import).
An entry holds `indices` int64 (N,) sorted unique original frame indices, `features` float32 (N, D),
`meta` (utf-8 JSON as uint8) and `checksum` (blake2b of the rest as uint8). Writes are atomic (temp
file in the same folder + os.replace) and merge with what other processes wrote in the meantime
(read-modify-write under an exclusive `fcntl.flock` on `<key>.lock`), so frames added later (e.g. by
Localized Density Sampling) are never lost. A corrupt or truncated entry is reported once with a
warning and recomputed; a failing write (full disk, read-only folder) logs one warning per cache and
the run goes on without caching.

The frame sampling rate is deliberately not part of the key: entries hold features per original frame
index, which do not depend on which indices a sampling rate picks, so all rates share one entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

ENV_VAR = "AIR_CLIP_CACHE_DIR"
DEFAULT_DIR = "./clip_cache"
FORMAT_VERSION = 1
_EDGE_BYTES = 1 << 20
_ENTRY_RE = re.compile(r"^[0-9a-f]{32}\.npz$")
_AUX_RE = re.compile(r"^(?:[0-9a-f]{32}\.lock|\.[0-9a-f]{32}\..*\.tmp)$")

try:  # POSIX advisory locks; elsewhere writes stay atomic but concurrent merges may drop frames
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX
    fcntl = None


class CacheEntryError(ValueError):
    """A cache file that cannot be used: unreadable, truncated, wrong shapes/dtypes or bad checksum."""


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

    def __init__(self, root: str | Path | None = None):
        self._root = root
        self._write_warned = False
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

    def load(self, key: str) -> CacheEntry | None:
        """The entry for `key`, or None when absent or unusable (a corrupt entry logs a warning)."""
        path = self.path(key)
        try:
            return _read_entry(path)
        except FileNotFoundError:
            return None
        except CacheEntryError as exc:
            logger.warning("Ignoring corrupt CLIP feature cache entry %s (%s); its features will be recomputed.",
                           path, exc)
            return None
        except OSError as exc:
            logger.warning("Cannot read CLIP feature cache entry %s (%s); features will be recomputed.", path, exc)
            return None

    # ------------------------------------------------------------------ writing

    def add(self, key: str, indices: np.ndarray, features: np.ndarray) -> bool:
        """Merge features of frames `indices` int (N,) / float32 (N, D) into the entry; True if written.

        Frames already in the entry keep their stored features. Failures to write log one warning per
        cache object and return False.
        """
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[0] != indices.shape[0]:
            raise ValueError(
                f"Invalid cache features: shape {features.shape} for {indices.shape[0]} indices. Expected (N, D)."
            )
        if indices.size and indices.min() < 0:
            raise ValueError(f"Invalid frame indices: minimum {indices.min()}. Expected indices >= 0.")
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with _locked(path.with_suffix(".lock")):
                merged = self._merge(path, indices, features)
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

    @staticmethod
    def _merge(path: Path, indices: np.ndarray, features: np.ndarray):
        """(indices, features, stored meta) to write, or None when the entry already holds every frame."""
        try:
            old = _read_entry(path)
        except FileNotFoundError:
            old = None
        except CacheEntryError as exc:
            logger.debug("Overwriting unusable cache entry %s (%s).", path, exc)
            old = None
        if old is not None and old.features.shape[1] != features.shape[1]:
            logger.warning("Cache entry %s holds %d-dim features, new ones have %d; replacing it.",
                           path, old.features.shape[1], features.shape[1])
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
        return (p for p in sorted(root.iterdir()) if _ENTRY_RE.match(p.name) and p.is_file())

    def info(self) -> dict:
        """Summary: root, number of entries, total bytes, cached frames, oldest/newest modification (unix s)."""
        files = list(self.entries())
        stats = [p.stat() for p in files]
        frames = 0
        for p in files:
            with contextlib.suppress(Exception), np.load(p, allow_pickle=False) as data:
                frames += int(data["indices"].shape[0])
        return {
            "root": str(self.root), "entries": len(files), "bytes": int(sum(s.st_size for s in stats)),
            "frames": frames,
            "oldest_mtime": min((s.st_mtime for s in stats), default=None),
            "newest_mtime": max((s.st_mtime for s in stats), default=None),
        }

    def clear(self, older_than_days: float | None = None) -> int:
        """Delete entries (all, or those not modified for `older_than_days`) and stale lock/temp files; count."""
        if older_than_days is not None and (isinstance(older_than_days, bool) or older_than_days < 0):
            raise ValueError(f"Invalid older_than_days: {older_than_days!r}. Expected a number >= 0 or None.")
        root = self.root
        if not root.is_dir():
            return 0
        cutoff = None if older_than_days is None else time.time() - older_than_days * 86400.0
        removed = 0
        for p in list(root.iterdir()):
            is_entry, is_aux = bool(_ENTRY_RE.match(p.name)), bool(_AUX_RE.match(p.name))
            if not (is_entry or is_aux) or not p.is_file():
                continue
            if cutoff is not None and p.stat().st_mtime >= cutoff:
                continue
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed += is_entry
        return removed


@contextlib.contextmanager
def _locked(lock_path: Path):
    """Exclusive advisory lock on `lock_path` for the duration of the block (no-op without fcntl)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_entry(path: Path) -> CacheEntry:
    """Read and validate an entry; raises FileNotFoundError or CacheEntryError."""
    try:
        with np.load(path, allow_pickle=False) as data:
            names = set(data.files)
            missing = {"indices", "features", "meta", "checksum"} - names
            if missing:
                raise CacheEntryError(f"missing arrays {sorted(missing)}")
            indices, features = data["indices"], data["features"]
            meta, checksum = data["meta"], data["checksum"]
    except FileNotFoundError:
        raise
    except CacheEntryError:
        raise
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
    try:
        meta_dict = json.loads(meta.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CacheEntryError(f"meta is not JSON: {exc}") from exc
    return CacheEntry(indices=indices, features=features, meta=meta_dict)


def _write_entry(path: Path, indices: np.ndarray, features: np.ndarray, *, meta: dict) -> None:
    """Write an entry atomically: temp file in the same folder, fsync, os.replace."""
    meta_bytes = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    checksum = _checksum(indices, features, meta_bytes.tobytes())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, indices=indices, features=features, meta=meta_bytes, checksum=checksum)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
