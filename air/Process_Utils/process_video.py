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

The reader interface and its errors live in `video_reader.py`, the PyAV backend in `pyav_reader.py`,
decord and torchcodec below; import every public name from here.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from air.config import DEFAULT_MAX_VIDEO_PIXELS
from air.Process_Utils.pyav_reader import (  # noqa: F401  (public here)
    SEEK_MIN_GAIN_FRAMES,
    PyAVReader,
    _PyAVLane,
    probe_with_pyav,
)
from air.Process_Utils.sample_logic import initial_sample_indices as sample_indices  # noqa: F401  (public here too)
from air.Process_Utils.video_reader import (  # noqa: F401  (public here)
    LOCAL_RANKS_ENV,
    PROBE_SIDE,
    Size,
    VideoDecodeError,
    VideoReader,
    VideoTooLargeError,
    _positive_int_or_none,
    _short,
    check_video_pixels,
    default_decode_threads,
    local_ranks,
    probe_size,
)

logger = logging.getLogger(__name__)

BACKENDS = ("pyav", "decord", "torchcodec")
DEFAULT_DECODER = "pyav"
DECORD_EOF_RETRY_DEFAULT = "20480"


def _parse_decoder(decoder: str) -> list[str]:
    """Split "pyav,decord" into backend names, checking each one."""
    if not isinstance(decoder, str):
        raise ValueError(f"Invalid decoder: {decoder!r}. Expected a backend name or a comma list of {BACKENDS}.")
    names = [part.strip().lower() for part in decoder.split(",") if part.strip()]
    unknown = [name for name in names if name not in BACKENDS]
    if not names or unknown:
        raise ValueError(f"Invalid decoder: {decoder!r}. Expected one or more of {BACKENDS}, comma-separated.")
    return list(dict.fromkeys(names))


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


def open_configured(path: str | os.PathLike, config) -> VideoReader:
    """Open `path` as a run with `config` (an AIRConfig) does: its decoder list, decode_threads and
    max_video_pixels (hvp, the baselines and `air cache build` all open videos through this)."""
    return open_video(path, decoder=config.decoder, decode_threads=config.decode_threads,
                      max_video_pixels=config.max_video_pixels)
