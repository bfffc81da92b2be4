"""Decode frame chunks in one worker thread while the caller works on the previous ones.

    with ChunkPrefetcher(reader, indices, size=(398, 224), transform=crop) as chunks:
        for frames, timestamps_s in chunks:
            encode(frames)          # runs while the worker decodes the next chunk

The worker reads `reader.iter_chunks(indices, size, chunk_size)` and puts each chunk (after
`transform`) into a queue of at most `depth` chunks, so at most depth + 2 chunks are alive at a time
(queued, being decoded, being used) whatever the video's length. Decoders release the GIL (PyAV, decord,
torchcodec call into FFmpeg), so decoding really runs beside the caller's work (e.g. CLIP encoding).

Errors: an exception in the worker is raised in the caller at the next chunk, the `VideoDecodeError`
and `ValueError` of the reader as they are (both name the file), anything else as a `VideoDecodeError`
naming the file. Leaving the `with` block early (break, an exception in the caller) stops the worker
after its current chunk and joins it: no thread outlives the block. The reader must not be used by
anyone else while the block runs.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from air.Process_Utils.process_video import VideoDecodeError

_DONE = object()
_POLL_S = 0.05


class _Failure:
    """An exception raised in the worker, carried to the caller."""

    def __init__(self, exc: BaseException):
        self.exc = exc


class ChunkPrefetcher:
    """Context manager yielding (frames uint8 (n, H, W, 3), timestamps_s float64 (n,)) chunks in order.

    reader: an opened video (`open_video`); indices: frame indices (sorted for sequential decoding);
    size: (width, height) the reader scales to; chunk_size: frames per chunk; depth: chunks queued ahead;
    transform: applied to each chunk's frames in the worker (e.g. a centre crop), or None.
    After the block, `decode_s` is the worker's time spent reading and transforming (seconds) and
    `wait_s` the caller's time spent waiting for chunks.
    """

    def __init__(self, reader, indices, *, size: tuple[int, int] | None, chunk_size: int = 64, depth: int = 2,
                 transform: Callable[[np.ndarray], np.ndarray] | None = None):
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"Invalid depth: {depth!r}. Expected an int >= 1.")
        self.reader = reader
        # Arguments are checked here, in the caller's thread, before any decoding starts.
        self._chunks = reader.iter_chunks(indices, size=size, chunk_size=chunk_size)
        self._transform = transform
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.decode_s = 0.0
        self.wait_s = 0.0

    def __enter__(self) -> "ChunkPrefetcher":
        name = f"air-decode-{os.path.basename(str(getattr(self.reader, 'path', 'video')))}"
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()
        return self

    def _put(self, item) -> bool:
        """Queue `item` unless the caller has stopped; False when stopped."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                chunk = next(self._chunks, _DONE)
                if chunk is _DONE:
                    break
                frames, times = chunk
                if self._transform is not None:
                    frames = self._transform(frames)
                self.decode_s += time.perf_counter() - t0
                if not self._put((frames, times)):
                    return
            self._put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - carried to the caller and raised there
            self._put(_Failure(exc))
        finally:
            self._chunks.close()

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if self._thread is None:
            raise RuntimeError("ChunkPrefetcher must be used as a context manager: `with ChunkPrefetcher(...) as c:`.")
        while True:
            t0 = time.perf_counter()
            item = self._queue.get()
            self.wait_s += time.perf_counter() - t0
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                self._raise(item.exc)
            yield item

    def _raise(self, exc: BaseException):
        if isinstance(exc, (VideoDecodeError, ValueError)) or not isinstance(exc, Exception):
            raise exc
        path = getattr(self.reader, "path", "?")
        raise VideoDecodeError(path, f"decoding failed in the decode worker: {type(exc).__name__}: {exc}") from exc

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                self._drain()
                self._thread.join(timeout=_POLL_S)
            self._drain()
            self._thread = None

    def _drain(self) -> None:
        """Drop queued chunks (frees their memory and unblocks a worker waiting to queue)."""
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
