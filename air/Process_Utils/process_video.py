"""Open videos and read frames at given indices and sizes, with timestamps, through one interface.

Backends: "pyav" (default), "decord" and "torchcodec". `open_video(path, decoder="pyav,decord")` tries
the listed backends in order; the first one that opens the file and reads its first frame serves it,
`reader.backend` names it and `reader.fallback_errors` keeps why the earlier ones failed (also logged
once). Every failure to read a video raises `VideoDecodeError`, whose message names the file.

Conventions shared by all backends:
- frame i is the i-th frame in presentation order; `n_frames` counts the frames of the stream as the
  backend indexes it by demuxing the whole file (container headers are not trusted);
- `fps` is the stream's average frame rate and `duration_s = n_frames / fps` (the timeline of SPEC.md);
- display-rotation metadata is applied (a portrait phone video comes out upright), and `size=(w, h)`
  is the size of the returned, upright frame (squashed, never cropped);
- frames asked for at a size are scaled inside the decoder's conversion from the decoded picture: no
  native-size RGB frame is made on the way (opening a video reads metadata and decodes its first
  frame without converting it);
- a video of more than `max_video_pixels` pixels per frame (default 8K, 7680 x 4320) is refused from its
  metadata, before any frame is decoded;
- `decode_threads` decoder threads (default: the cores this process may use, shared among the ranks
  of this node, see `default_decode_threads`);
- timestamps are the decoder's presentation times in seconds.
"""

from __future__ import annotations

import array
import collections
import contextlib
import logging
import math
import os
import threading
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from air.config import DEFAULT_MAX_VIDEO_PIXELS
from air.Process_Utils.sample_logic import initial_sample_indices as sample_indices  # noqa: F401  (public here too)

logger = logging.getLogger(__name__)

BACKENDS = ("pyav", "decord", "torchcodec")
DEFAULT_DECODER = "pyav"
DECORD_EOF_RETRY_DEFAULT = "20480"
# Decode forward instead of seeking unless seeking skips more than this many frames.
SEEK_MIN_GAIN_FRAMES = 8
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


def _parse_decoder(decoder: str) -> list[str]:
    """Split "pyav,decord" into backend names, checking each one."""
    if not isinstance(decoder, str):
        raise ValueError(f"Invalid decoder: {decoder!r}. Expected a backend name or a comma list of {BACKENDS}.")
    names = [part.strip().lower() for part in decoder.split(",") if part.strip()]
    unknown = [name for name in names if name not in BACKENDS]
    if not names or unknown:
        raise ValueError(f"Invalid decoder: {decoder!r}. Expected one or more of {BACKENDS}, comma-separated.")
    return list(dict.fromkeys(names))


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


class PyAVReader(VideoReader):
    """PyAV backend: demuxes once to index frames by presentation time, then decodes forward or seeks.

    Between requested frames only the frames that others refer to are decoded (skip_frame NONREF for
    the rest) and nothing is converted; requested frames are scaled and converted to RGB in one swscale
    step, straight from the decoded picture to the requested size.

    Threads: requested frames that lie in different key-frame intervals (GOPs) are decoded in parallel
    by up to `decode_threads` independent single-threaded decoders ("lanes", each with its own
    demuxer), which scales with the cores for any content, while FFmpeg's frame threads pay a fixed
    hand-over cost per frame that is as large as decoding a simple frame. Frames within one GOP are
    decoded by the first lane, which uses FFmpeg's frame/slice threads.

    The frame size is checked against max_video_pixels from the stream parameters before any decoder
    opens, and every decoder refuses larger pictures itself (FFmpeg's max_pixels), so a stream whose
    pictures grow later is refused too.
    """

    backend = "pyav"

    def __init__(self, path: str, **options) -> None:
        super().__init__(path, **options)
        import av

        self._lanes: list[_PyAVLane] = []
        self._gop_lanes: list[_PyAVLane] = []
        container = None
        try:
            container = av.open(path, metadata_errors="ignore")
            streams = [s for s in container.streams.video if not _is_attached_picture(s)]
            if not streams:
                raise VideoDecodeError(path, "the file has no video stream")
            stream = streams[0]
            self._stream_index = stream.index
            check_video_pixels(path, int(stream.codec_context.width or 0), int(stream.codec_context.height or 0),
                               self.max_video_pixels)
            self._index_packets(container, stream)
            self.fps = self._average_rate(stream)
            self._lanes.append(_PyAVLane(self, self.decode_threads, container))
            container = None  # owned by the lane now
            self._probe_first_frame()
        except BaseException:
            if container is not None:
                container.close()
            self.close()
            raise

    def _probe_first_frame(self) -> None:
        """Decode frame 0 (not converted): its picture size and display rotation give the upright size."""
        self._check_metadata()  # frame count and rate; the size is checked once frame 0 gives it
        frame = self._lanes[0].decode_frames([0], lambda slot, target, frame: None)
        self.width, self.height = _upright(frame.width, frame.height, getattr(frame, "rotation", 0))
        check_video_pixels(self.path, self.width, self.height, self.max_video_pixels)

    def _index_packets(self, container, stream) -> None:
        """Demux the stream once: presentation times of all frames (sorted) and key-frame positions.

        Kept as compact int64 arrays (16 bytes per frame), so a 3-hour video indexes in a few MB.
        """
        pts_all, key_pts = array.array("q"), array.array("q")
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            pts = packet.pts if packet.pts is not None else packet.dts
            if pts is None:
                continue
            pts_all.append(pts)
            if packet.is_keyframe:
                key_pts.append(pts)
        self._pts = np.sort(np.frombuffer(pts_all, dtype=np.int64))
        self.n_frames = len(self._pts)
        keys = np.searchsorted(self._pts, np.sort(np.frombuffer(key_pts, dtype=np.int64)))
        self._key_idx = np.unique(np.concatenate([[0], keys])).astype(np.int64) if self.n_frames else np.zeros(0, np.int64)
        self._time_base = float(stream.time_base) if stream.time_base else 0.0
        container.seek(0)

    def _index_of_pts(self, pts: int | None) -> int | None:
        """Frame index of a presentation time, or None if no frame has it."""
        if pts is None:
            return None
        i = int(np.searchsorted(self._pts, pts))
        return i if i < self.n_frames and self._pts[i] == pts else None

    def _average_rate(self, stream) -> float:
        """The stream's average frame rate; else the guessed, base or codec rate; else from the pts span."""
        codec_rate = getattr(stream.codec_context, "framerate", None)
        for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate, codec_rate):
            if rate is not None and float(rate) > 0:
                return float(rate)
        if self.n_frames > 1 and self._time_base > 0:
            span = (self._pts[-1] - self._pts[0]) * self._time_base
            if span > 0:
                return (self.n_frames - 1) / span
        return 0.0

    def _key_before(self, index: int) -> int:
        """Index of the last key frame at or before frame `index`."""
        return int(self._key_idx[np.searchsorted(self._key_idx, index, side="right") - 1])

    def _segments(self, indices: np.ndarray) -> list[tuple[int, int]]:
        """(start, stop) slices of sorted `indices` that one decoder reads without seeking in between."""
        bounds = [0]
        for pos in range(1, len(indices)):
            if self._key_before(int(indices[pos])) - int(indices[pos - 1]) - 1 > SEEK_MIN_GAIN_FRAMES:
                bounds.append(pos)
        bounds.append(len(indices))
        return list(zip(bounds[:-1], bounds[1:]))

    def _decode_sorted(self, indices, size):
        out_w, out_h = size or (self.width, self.height)
        frames = np.empty((len(indices), out_h, out_w, 3), np.uint8)
        times = np.empty(len(indices), np.float64)
        targets = indices.tolist()
        segments = self._segments(indices) if self.decode_threads > 1 else [(0, len(targets))]
        if len(segments) == 1:
            lane = self._lanes[0]
            lane.decode_frames(targets, lambda slot, target, frame: _store(frames, times, self, lane, size, slot,
                                                                            target, frame))
        else:
            self._decode_parallel(targets, segments, frames, times, size)
        return frames, times

    def _decode_parallel(self, targets: list[int], segments: list[tuple[int, int]], frames, times, size) -> None:
        """Decode `segments` of `targets` on up to decode_threads GOP lanes, the calling thread being one."""
        n_lanes = min(self.decode_threads, len(segments))
        while len(self._gop_lanes) < n_lanes:
            self._gop_lanes.append(_PyAVLane(self, 1))
        state = {"next": 0, "error": None}
        lock = threading.Lock()

        def work(lane: _PyAVLane) -> None:
            while True:
                with lock:
                    if state["error"] is not None or state["next"] >= len(segments):
                        return
                    start, stop = segments[state["next"]]
                    state["next"] += 1
                try:
                    lane.decode_frames(targets[start:stop], lambda slot, target, frame: _store(
                        frames, times, self, lane, size, start + slot, target, frame))
                except BaseException as exc:  # noqa: BLE001 - re-raised by the calling thread
                    with lock:
                        state["error"] = state["error"] or exc
                    return

        helpers = [threading.Thread(target=work, args=(lane,), name=f"air-pyav-lane-{i + 1}", daemon=True)
                   for i, lane in enumerate(self._gop_lanes[1:n_lanes])]
        for thread in helpers:
            thread.start()
        try:
            work(self._gop_lanes[0])
        finally:
            for thread in helpers:
                thread.join()
        if state["error"] is not None:
            raise state["error"]

    def close(self) -> None:
        for lane in self._lanes + self._gop_lanes:
            lane.close()
        self._lanes, self._gop_lanes = [], []


def _store(frames: np.ndarray, times: np.ndarray, reader: PyAVReader, lane: "_PyAVLane", size: Size | None,
           slot: int, target: int, frame) -> None:
    """Convert decoded `frame` (frame `target`) into frames[slot] and its time into times[slot]."""
    frames[slot] = lane.to_rgb(frame, size)
    pts = frame.pts if frame.pts is not None else reader._pts[target]
    times[slot] = pts * reader._time_base


class _PyAVLane:
    """One demuxer and decoder over a PyAV reader's file, with its decoding position; one thread at a time.

    thread_count: FFmpeg decoder threads of this lane (frame and slice threads).
    """

    def __init__(self, reader: PyAVReader, thread_count: int, container=None) -> None:
        import av
        from av.video.reformatter import VideoReformatter

        self.reader = reader
        self.container = container if container is not None else av.open(reader.path, metadata_errors="ignore")
        try:
            self.stream = self.container.streams[reader._stream_index]
            _limit_decoder_pixels(self.stream.codec_context, reader.max_video_pixels)
            self.stream.thread_type = "AUTO"
            self.stream.codec_context.thread_count = int(thread_count)
        except BaseException:
            self.container.close()
            raise
        self.reformatter = VideoReformatter()
        self.packets = None  # demuxing iterator after the last seek (None: must seek)
        self.pending: collections.deque = collections.deque()  # decoded frames not yet consumed
        self.next = None  # index of the frame decoding yields next (None: unknown)
        self.seek_key = 0
        self.targets: set[int] = set()  # frames the current read wants
        self.skip_unwanted = True

    def decode_frames(self, targets: list[int], sink) -> object:
        """Decode sorted frames `targets`, calling sink(slot, target, frame) for each; returns the last frame."""
        self.targets = set(targets)
        frame = None
        try:
            for slot, target in enumerate(targets):
                frame = self.decode_to(target)
                sink(slot, target, frame)
        finally:
            self.targets = set()
        return frame

    def seek_to_key(self, key: int) -> None:
        """Seek to key frame `key` and restart demuxing there (the seek flushes the decoder)."""
        self.container.seek(int(self.reader._pts[key]), stream=self.stream, backward=True, any_frame=False)
        self.packets = self.container.demux(self.stream)
        self.pending.clear()
        self.next = None
        self.seek_key = key

    def next_frame(self):
        """Next decoded frame and its index, or (None, None) at the end of the stream.

        Packets of frames that are not wanted are decoded with skip_frame="NONREF": frames no other
        frame refers to (most B-frames) are then dropped by the decoder without being reconstructed.
        """
        codec = self.stream.codec_context
        index_of = self.reader._index_of_pts
        while not self.pending:
            if self.packets is None:
                return None, None
            packet = next(self.packets, None)
            if packet is None or packet.size == 0:  # end of the stream: drain the decoder
                codec.skip_frame = "DEFAULT"
                self.pending.extend(codec.decode(None))
                self.packets = None
                continue
            index = index_of(packet.pts)
            wanted = not self.skip_unwanted or index is None or index in self.targets
            codec.skip_frame = "DEFAULT" if wanted else "NONREF"
            self.pending.extend(codec.decode(packet))
        frame = self.pending.popleft()
        index = index_of(frame.pts)
        if index is None:
            index = self.next if self.next is not None else self.seek_key
        self.next = index + 1
        return frame, index

    def decode_to(self, target: int):
        """Decoded frame `target`, decoding forward when that is cheaper than seeking to its key frame."""
        reader = self.reader
        key = reader._key_before(target)
        if self.packets is None or self.next is None or self.next > target or key - self.next > SEEK_MIN_GAIN_FRAMES:
            self.seek_to_key(key)
        frame, index = self.advance_to(target)
        if frame is not None and index == target:
            return frame
        # Target not produced (open GOP, inexact index, a decoder that misjudged a frame as unreferenced):
        # decode again from earlier key frames without skipping anything, twice at most.
        self.skip_unwanted = False
        try:
            for earlier in reader._key_idx[reader._key_idx <= key][::-1][:2]:
                self.seek_to_key(int(earlier))
                frame, index = self.advance_to(target)
                if frame is not None and index == target:
                    return frame
        finally:
            self.skip_unwanted = True
        seen = "the end of the stream" if frame is None else f"frame {index}"
        raise VideoDecodeError(reader.path, f"pyav could not decode frame {target}: decoding reached {seen} instead")

    def advance_to(self, target: int):
        """Decode until a frame with index >= target; returns (frame, index) or (None, None) at the end."""
        while True:
            frame, index = self.next_frame()
            if frame is None or index >= target:
                return frame, index

    def to_rgb(self, frame, size: Size | None) -> np.ndarray:
        """RGB uint8 (H, W, 3) of a decoded frame, upright, at `size` (width, height) if given.

        Scaling and the conversion to RGB are one swscale call from the decoded picture (bilinear).
        """
        quarter_turns = (int(round(float(getattr(frame, "rotation", 0) or 0) / 90.0))) % 4
        width, height = size if size is not None else (self.reader.width, self.reader.height)
        if quarter_turns % 2:
            width, height = height, width
        rgb = self.reformatter.reformat(frame, width=width, height=height, format="rgb24").to_ndarray()
        if quarter_turns:
            rgb = np.rot90(rgb, quarter_turns)
        return rgb

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None


def _limit_decoder_pixels(codec, max_video_pixels: int | None) -> None:
    """Make an unopened PyAV decoder refuse pictures above max_video_pixels (FFmpeg's max_pixels option)."""
    if max_video_pixels is not None:
        # FFmpeg checks the line-aligned width: leave room for 64-pixel alignment of up to 16384 lines.
        codec.options = {**(codec.options or {}), "max_pixels": str(max_video_pixels + 64 * 16384)}


def _is_attached_picture(stream) -> bool:
    """True for a cover-art stream (a still picture attached to an audio file)."""
    flags = getattr(stream, "disposition", None)
    attached = getattr(type(flags), "attached_pic", None)
    return bool(flags is not None and attached is not None and flags & attached)


def probe_with_pyav(path: str, max_video_pixels: int | None) -> tuple[Size, float]:
    """Upright (width, height) and display rotation (degrees) of a video, read with PyAV.

    The size is checked against max_video_pixels from the stream parameters first; then frame 0 is
    decoded, not converted, for its display rotation. For backends that cannot tell the frame size
    without decoding a native-size RGB frame (decord).
    """
    import av

    try:
        with av.open(path, metadata_errors="ignore") as container:
            streams = [s for s in container.streams.video if not _is_attached_picture(s)]
            if not streams:
                raise VideoDecodeError(path, "the file has no video stream")
            stream = streams[0]
            codec = stream.codec_context
            check_video_pixels(path, int(codec.width or 0), int(codec.height or 0), max_video_pixels)
            _limit_decoder_pixels(codec, max_video_pixels)
            codec.thread_count = 1
            frame = next(container.decode(stream), None)
    except VideoDecodeError:
        raise
    except Exception as exc:  # PyAV raises many types
        raise VideoDecodeError(path, f"cannot read its frame size with PyAV: {_short(exc)}") from exc
    if frame is None:
        raise VideoDecodeError(path, "the video stream holds no frames")
    rotation = float(getattr(frame, "rotation", 0) or 0)
    width, height = _upright(frame.width, frame.height, rotation)
    check_video_pixels(path, width, height, max_video_pixels)
    return (width, height), rotation


# --------------------------------------------------------------------------- decord


@contextlib.contextmanager
def _decord_eof_retry() -> Iterator[None]:
    """Set DECORD_EOF_RETRY_MAX to a sane default during a decord call when the user left it unset."""
    if "DECORD_EOF_RETRY_MAX" in os.environ:
        yield
        return
    os.environ["DECORD_EOF_RETRY_MAX"] = DECORD_EOF_RETRY_DEFAULT
    try:
        yield
    finally:
        os.environ.pop("DECORD_EOF_RETRY_MAX", None)


class DecordReader(VideoReader):
    """decord backend: its own index of the file; one decord reader per output size, which scales inside
    decord's FFmpeg filter graph.

    decord cannot tell a video's frame size without decoding a native-size frame, so the size (and the
    max_video_pixels check) comes from a PyAV probe first. decord 0.6 keeps decoding ahead in a
    background thread after a read, holding every frame it decodes, so an idle reader in the middle of
    a long video grows without bound (hundreds of MB within seconds). Every reader is therefore parked
    on the last frame after each read, where there is nothing left to decode ahead; the next read seeks
    back to its key frame.
    """

    backend = "decord"

    def __init__(self, path: str, **options) -> None:
        super().__init__(path, **options)
        import decord

        self._decord = decord
        self._readers: dict[Size | None, object] = {}
        (self.width, self.height), _ = probe_with_pyav(path, self.max_video_pixels)
        size = probe_size(self.width, self.height)
        first = self._reader(size) or self._reader(self._working_size(size))
        self.n_frames = len(first)
        self.fps = float(first.get_avg_fps())
        self._check_metadata()
        self._check_first_frame()
        # Each decord reader holds its own per-frame index: the probe's is not kept.
        self._readers.clear()

    def _park(self, reader) -> None:
        """Stop decord's unbounded read-ahead by moving the reader to the last frame."""
        reader.seek(len(reader) - 1)

    def _open_reader(self, size: Size | None):
        """Open and cache a decord reader that outputs frames at `size` (None: native size)."""
        extra = {} if size is None else {"width": size[0], "height": size[1]}
        with _decord_eof_retry():
            reader = self._decord.VideoReader(self.path, ctx=self._decord.cpu(0), num_threads=self.decode_threads,
                                              **extra)
        self._readers[size] = reader
        return reader

    def _reader(self, size: Size | None):
        """The decord reader producing frames at `size` (opened on first use, then cached), or None.

        None means decord cannot produce that size: decord 0.6 fails on some small widths (8, 16, 24,
        48, 72 px: "The size must exactly match"); such sizes are resized from a larger decord size.
        """
        if size in self._readers:
            return self._readers[size]
        reader = self._open_reader(size)
        if size is not None:
            try:
                with _decord_eof_retry():
                    reader.get_batch([0]).asnumpy()
                    self._park(reader)
            except self._decord.DECORDError as exc:
                if "size must exactly match" not in str(exc):
                    raise
                logger.debug("decord cannot decode '%s' at %s; scaling a larger decord size instead", self.path, size)
                self._readers[size] = reader = None
        return reader

    def _working_size(self, size: Size) -> Size | None:
        """The smallest size decord can produce among size * 2, * 4, ... (native at most); None: native."""
        factor = 2
        while size[0] * factor < self.width and size[1] * factor < self.height:
            candidate = (size[0] * factor, size[1] * factor)
            if self._reader(candidate) is not None:
                return candidate
            factor *= 2
        return None

    def _decode_sorted(self, indices, size):
        reader = self._reader(size)
        source_size = size
        if reader is None:
            source_size = self._working_size(size)
            reader = self._reader(source_size)
        wanted = indices.tolist()
        with _decord_eof_retry():
            try:
                frames = reader.get_batch(wanted).asnumpy()
                times = np.asarray(reader.get_frame_timestamp(wanted), dtype=np.float64).reshape(-1, 2)[:, 0]
            finally:
                self._park(reader)
        if source_size != size:
            frames = _resize_rgb(frames, size)
        return np.ascontiguousarray(frames, dtype=np.uint8), times

    def close(self) -> None:
        self._readers.clear()


def _resize_rgb(frames: np.ndarray, size: Size) -> np.ndarray:
    """Squash-resize uint8 (N, H, W, 3) frames to size=(width, height) with bilinear filtering."""
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(f).resize(size, Image.BILINEAR)) for f in frames])


# --------------------------------------------------------------------------- torchcodec


class TorchCodecReader(VideoReader):
    """torchcodec backend: exact-seek decoder; resizing inside the decoder by a cached decoder per size.

    The frame size and count come from torchcodec's metadata (no frame decoded); frame 0 is then read
    at a small size to check that torchcodec can decode the stream.
    """

    backend = "torchcodec"

    def __init__(self, path: str, **options) -> None:
        super().__init__(path, **options)
        from torchcodec.decoders import VideoDecoder

        self._decoder_cls = VideoDecoder
        self._decoders: dict[Size | None, object] = {None: self._open(None)}
        meta = self._decoders[None].metadata
        self.n_frames = int(meta.num_frames or 0)
        self.fps = float(meta.average_fps or 0.0)
        self.width, self.height = int(meta.width or 0), int(meta.height or 0)
        self._check_metadata()
        self._check_first_frame()
        self._decoders = {None: self._decoders[None]}

    def _open(self, size: Size | None):
        """A torchcodec decoder for `size` (width, height) or the native size."""
        transforms = None
        if size is not None:
            from torchcodec.transforms import Resize

            transforms = [Resize((size[1], size[0]))]
        return self._decoder_cls(
            self.path, seek_mode="exact", dimension_order="NHWC", num_ffmpeg_threads=self.decode_threads,
            transforms=transforms,
        )

    def _decode_sorted(self, indices, size):
        if size not in self._decoders:
            self._decoders[size] = self._open(size)
        batch = self._decoders[size].get_frames_at(indices.tolist())
        return batch.data.numpy(), batch.pts_seconds.numpy().astype(np.float64)

    def close(self) -> None:
        self._decoders.clear()


_READERS = {"pyav": PyAVReader, "decord": DecordReader, "torchcodec": TorchCodecReader}


def open_video(path: str | os.PathLike, decoder: str = DEFAULT_DECODER, *, decode_threads: int | None = None,
               max_video_pixels: int | None = DEFAULT_MAX_VIDEO_PIXELS) -> VideoReader:
    """Open `path` with the first backend of `decoder` ("pyav", "decord", "torchcodec" or a comma list)
    that opens it and reads its first frame. Raises VideoDecodeError naming the file when none can.

    decode_threads: decoder threads (None: `default_decode_threads()`; 1: one thread).
    max_video_pixels: videos with more pixels per frame are refused before any frame is decoded
    (None: no limit).
    """
    names = _parse_decoder(decoder)
    options = {
        "decode_threads": _positive_int_or_none("decode_threads", decode_threads,
                                                "None: the cores this process may use, shared among the ranks of this node"),
        "max_video_pixels": _positive_int_or_none("max_video_pixels", max_video_pixels, "None: no limit"),
    }
    path_str = os.fspath(path)
    file = Path(path_str)
    if not file.exists():
        raise VideoDecodeError(path_str, "file not found")
    if not file.is_file():
        raise VideoDecodeError(path_str, "not a regular file")
    if file.stat().st_size == 0:
        raise VideoDecodeError(path_str, "the file is empty (0 bytes)")
    failures: list[tuple[str, str]] = []
    for name in names:
        try:
            reader = _READERS[name](path_str, **options)
        except ImportError as exc:
            failures.append((name, f"backend not installed ({_short(exc)})"))
        except VideoTooLargeError:
            raise  # a property of the file: no other backend may read it either
        except VideoDecodeError as exc:
            failures.append((name, exc.cause))
        except Exception as exc:  # decoder libraries raise many types; one error type leaves here
            failures.append((name, _short(exc)))
        else:
            reader.fallback_errors = tuple(failures)
            if failures:
                logger.warning(
                    "Video '%s' is read with %s after %s",
                    path_str, name, "; ".join(f"{n} failed: {c}" for n, c in failures),
                )
            return reader
    if len(failures) == 1:
        raise VideoDecodeError(path_str, f"{failures[0][0]}: {failures[0][1]}")
    raise VideoDecodeError(path_str, "no backend could read it: " + "; ".join(f"{n}: {c}" for n, c in failures))
