"""The PyAV backend of `process_video` (the default decoder): frame-exact reads by presentation time,
unreferenced frames skipped, frames scaled inside the conversion, key-frame intervals in parallel.
"""

from __future__ import annotations

import array
import collections
import threading

import numpy as np

from air.Process_Utils.video_reader import (
    Size,
    VideoDecodeError,
    VideoReader,
    _short,
    _upright,
    check_video_pixels,
)

# Decode forward instead of seeking unless seeking skips more than this many frames.
SEEK_MIN_GAIN_FRAMES = 8


class PyAVReader(VideoReader):
    """PyAV backend: demuxes once to index frames by presentation time, then decodes forward or seeks.

    Between requested frames only the frames that others refer to are decoded (skip_frame NONREF for
    the rest) and nothing is converted; requested frames are scaled and converted to RGB in one swscale
    step, straight from the decoded picture to the requested size.

    Threads: requested frames that lie in different key-frame intervals (GOPs) are decoded in parallel
    by up to `decode_threads` independent single-threaded decoders ("lanes", each with its own
    demuxer), which scales with the cores for any content, while FFmpeg's frame threads pay a fixed
    hand-over cost per frame (measured: half the CPU time of decoding a simple 720p frame). Reads
    within one GOP are decoded by the first lane, which uses FFmpeg's frame/slice threads.

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
