"""The reader interface shared by the decoder backends of `process_video`, its errors and its limits.

`VideoReader` validates arguments, decodes unique sorted indices through a backend's `_decode_sorted`
and puts the frames back in the requested order; `VideoDecodeError` (and `VideoTooLargeError`, a video
above `max_video_pixels`) name the file; `default_decode_threads` shares the cores among the ranks of a
node. Users import these names from `air.Process_Utils.process_video`.
"""

from __future__ import annotations

import math
import os
from typing import Iterator, Sequence

import numpy as np

from air.config import DEFAULT_MAX_VIDEO_PIXELS

# Longest side of the frame decoded to check that a backend can read a video (decord, torchcodec).
PROBE_SIDE = 64
# Environment variables holding the number of ranks on this node (torchrun / accelerate, Open MPI).
LOCAL_RANKS_ENV = ("LOCAL_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE")

Size = tuple[int, int]


class VideoDecodeError(RuntimeError):
    """A video cannot be opened or one of its frames cannot be read; names the file and the cause."""

    def __init__(self, path: str | os.PathLike, cause: object) -> None:
        self.path = os.fspath(path)
        self.cause = _short(cause)
        super().__init__(f"Cannot decode video '{self.path}': {self.cause}")

    def __reduce__(self):
        return (type(self), (self.path, self.cause))


class VideoTooLargeError(VideoDecodeError):
    """A video whose frames have more pixels than `max_video_pixels`: refused before decoding."""


def _short(cause: object, limit: int = 400) -> str:
    """One-line text of an error or message, at most `limit` characters."""
    if isinstance(cause, BaseException):
        text = str(cause).strip() or type(cause).__name__
        if not isinstance(cause, VideoDecodeError):
            text = f"{type(cause).__name__}: {text}"
    else:
        text = str(cause)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = " | ".join(lines[:3]) if lines else text
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_size(size: Sequence[int] | None) -> Size | None:
    """Validate a (width, height) pair of positive ints."""
    if size is None:
        return None
    try:
        width, height = (int(v) for v in size)
        ok = all(float(v) == int(v) for v in size)
    except (TypeError, ValueError):
        ok = False
    if not ok or width < 1 or height < 1:
        raise ValueError(f"Invalid size: {size!r}. Expected (width, height), two ints >= 1.")
    return width, height


def _positive_int_or_none(name: str, value, meaning: str) -> int | None:
    """`value` as an int >= 1, or None; else ValueError naming the argument."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Invalid {name}: {value!r}. Expected an int >= 1 or None ({meaning}).")
    return int(value)


def local_ranks() -> int:
    """Processes of this job on this node: LOCAL_WORLD_SIZE (torchrun, accelerate) or Open MPI's; else 1."""
    for var in LOCAL_RANKS_ENV:
        text = os.environ.get(var, "").strip()
        if text.isdigit() and int(text) >= 1:
            return int(text)
    return 1


def default_decode_threads() -> int:
    """Decoder threads per process: the cores this process may use (its CPU affinity, e.g. a SLURM
    allocation) divided among the ranks on this node, at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // local_ranks())


def probe_size(width: int, height: int, side: int = PROBE_SIDE) -> Size:
    """A small (width, height) with the aspect ratio of (width, height), longest side `side` (>= 2 px each)."""
    scale = side / max(width, height, 1)
    return max(2, int(round(width * scale))), max(2, int(round(height * scale)))


def check_video_pixels(path: str, width: int, height: int, max_video_pixels: int | None) -> None:
    """Raise VideoDecodeError naming the file and its frame size when width * height > max_video_pixels."""
    if max_video_pixels is not None and width * height > max_video_pixels:
        raise VideoTooLargeError(
            path,
            f"its frames are {width}x{height} ({width * height / 1e6:.1f} megapixels), above max_video_pixels="
            f"{max_video_pixels} ({max_video_pixels / 1e6:.1f} megapixels); refused before decoding. Raise "
            "max_video_pixels (or set it to None) to read it anyway.",
        )


class VideoReader:
    """One opened video: metadata, `read` and `iter_chunks`. Created by `open_video`.

    Attributes: path (str), backend (str), n_frames (int), fps (float), duration_s (float),
    width/height (int, upright frame), decode_threads (int), max_video_pixels (int or None),
    fallback_errors (tuple of (backend, cause) pairs).
    """

    backend = ""

    def __init__(self, path: str, *, decode_threads: int | None = None,
                 max_video_pixels: int | None = DEFAULT_MAX_VIDEO_PIXELS) -> None:
        self.path = path
        self.n_frames = 0
        self.fps = 0.0
        self.width = 0
        self.height = 0
        self.decode_threads = decode_threads or default_decode_threads()
        self.max_video_pixels = max_video_pixels
        self.fallback_errors: tuple[tuple[str, str], ...] = ()

    @property
    def duration_s(self) -> float:
        """Length of the frame timeline, n_frames / fps, in seconds."""
        return self.n_frames / self.fps

    def read(self, indices: Sequence[int] | np.ndarray, size: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Frames at `indices` (any order, duplicates allowed), resized to size=(width, height) if given.

        Returns frames uint8 (N, H, W, 3) RGB in the order of `indices` and timestamps_s float64 (N,).
        """
        idx = self._check_indices(indices)
        return self._read_checked(idx, _check_size(size))

    def iter_chunks(
        self, indices: Sequence[int] | np.ndarray, size: Sequence[int] | None = None, chunk_size: int = 64
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield `read` results for consecutive slices of `indices` of at most `chunk_size` frames.

        Only one chunk of frames is alive at a time; pass sorted indices for sequential decoding.
        Arguments are checked when this is called, before the first chunk is decoded.
        """
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
            raise ValueError(f"Invalid chunk_size: {chunk_size!r}. Expected an int >= 1.")
        idx = self._check_indices(indices)
        checked_size = _check_size(size)
        return self._chunks(idx, checked_size, int(chunk_size))

    def _chunks(self, idx: np.ndarray, size: Size | None, chunk_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, len(idx), chunk_size):
            yield self._read_checked(idx[start : start + chunk_size], size)

    def _read_checked(self, idx: np.ndarray, size: Size | None) -> tuple[np.ndarray, np.ndarray]:
        """Decode validated indices: unique sorted decode, then back to the requested order."""
        out_w, out_h = size or (self.width, self.height)
        if len(idx) == 0:
            return np.zeros((0, out_h, out_w, 3), np.uint8), np.zeros((0,), np.float64)
        unique, inverse = np.unique(idx, return_inverse=True)
        try:
            frames, times = self._decode_sorted(unique, size)
        except VideoDecodeError:
            raise
        except Exception as exc:  # decoder libraries raise many types; one error type leaves here
            raise VideoDecodeError(self.path, f"{self.backend} failed to read frames {_span(unique)}: {_short(exc)}") from exc
        if frames.shape[1:] != (out_h, out_w, 3) or len(frames) != len(unique):
            raise VideoDecodeError(
                self.path,
                f"{self.backend} returned frames of shape {frames.shape}, expected ({len(unique)}, {out_h}, {out_w}, 3)",
            )
        if len(unique) == len(idx) and np.array_equal(unique, idx):
            return frames, times
        return frames[inverse], times[inverse]

    def _check_indices(self, indices) -> np.ndarray:
        """Indices as int64 (N,), each in 0 .. n_frames - 1, else ValueError naming the valid range."""
        arr = np.asarray(indices)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim != 1:
            raise ValueError(f"Invalid frame indices of shape {arr.shape}. Expected a 1-D sequence of ints.")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            if not (np.issubdtype(arr.dtype, np.floating) and np.all(np.mod(arr, 1) == 0)):
                raise ValueError(f"Invalid frame indices of dtype {arr.dtype}. Expected ints.")
        arr = arr.astype(np.int64)
        bad = arr[(arr < 0) | (arr >= self.n_frames)]
        if bad.size:
            raise ValueError(
                f"Invalid frame index {int(bad[0])} for video '{self.path}': expected 0 .. {self.n_frames - 1} "
                f"({self.n_frames} frames)."
            )
        return arr

    def _decode_sorted(self, indices: np.ndarray, size: Size | None) -> tuple[np.ndarray, np.ndarray]:
        """Backend work: frames uint8 (N, H, W, 3) and timestamps float64 (N,) for sorted unique indices."""
        raise NotImplementedError

    def _check_metadata(self) -> None:
        """Raise if the frame count or rate is unusable, or the frames are larger than max_video_pixels."""
        if self.n_frames < 1:
            raise VideoDecodeError(self.path, "the video stream holds no frames")
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise VideoDecodeError(self.path, f"unknown frame rate ({self.fps!r}): the stream reports no usable rate")
        check_video_pixels(self.path, self.width, self.height, self.max_video_pixels)

    def _check_first_frame(self) -> None:
        """Read frame 0 at a small size: the backend can decode this video (the frame is dropped)."""
        frames, _ = self._decode_sorted(np.zeros(1, np.int64), probe_size(self.width, self.height))
        if len(frames) != 1:
            raise VideoDecodeError(self.path, f"{self.backend} returned no first frame")

    def close(self) -> None:
        """Release the decoder."""

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(path={self.path!r}, backend={self.backend!r}, n_frames={self.n_frames}, "
            f"fps={self.fps:.3f}, size=({self.width}, {self.height}), decode_threads={self.decode_threads})"
        )


def _span(indices: np.ndarray) -> str:
    """Short text for a sorted index array, e.g. '3..120 (12 frames)'."""
    if len(indices) == 1:
        return str(int(indices[0]))
    return f"{int(indices[0])}..{int(indices[-1])} ({len(indices)} frames)"


def _upright(width: int, height: int, rotation_deg: float | int | None) -> Size:
    """(width, height) of a picture after its display rotation (quarter turns swap the sides)."""
    quarter_turns = (int(round(float(rotation_deg or 0) / 90.0))) % 4
    return (height, width) if quarter_turns % 2 else (width, height)


# --------------------------------------------------------------------------- PyAV
