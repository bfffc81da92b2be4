"""Generators of test and demo videos, including the hostile cases of QUALITY.md.

Every generated frame carries its own index as a bar code of large black/white cells across the top
third of the picture, so a test can check that the frame a decoder returns for index i really is
frame i (`decode_frame_index`). Below the bar code the frame is painted with the colour of the
segment it belongs to, plus a square that moves with the frame index so that consecutive frames
differ. Videos are written with PyAV (libx264, libx265 and libvpx-vp9 ship inside its wheel); the
ffmpeg command line is used only where PyAV cannot write the case (rotation metadata).
"""

from __future__ import annotations

import hashlib
import math
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence, Union

import numpy as np

RGB = tuple[int, int, int]
Segment = tuple[float, float, Union[RGB, str]]

PALETTE: dict[str, RGB] = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (40, 70, 220),
    "yellow": (230, 210, 40),
    "cyan": (40, 200, 210),
    "magenta": (200, 50, 200),
    "orange": (240, 140, 30),
    "gray": (128, 128, 128),
}

_CODECS = {
    # name: (encoder, default pixel format, encoder options)
    "h264": ("libx264", "yuv420p", {"preset": "ultrafast"}),
    "hevc": ("libx265", "yuv420p", {"preset": "ultrafast", "x265-params": "log-level=error"}),
    "vp9": ("libvpx-vp9", "yuv420p", {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}),
    "mpeg4": ("mpeg4", "yuv420p", {}),
}


@dataclass(frozen=True)
class GeneratedVideo:
    """What was written: the file and the facts a test checks a decoder against.

    `timestamps_s` float64 (n_frames,) are the presentation times of the frames in seconds.
    """

    path: Path
    n_frames: int
    fps: float
    size: tuple[int, int]
    codec: str
    n_bits: int
    timestamps_s: np.ndarray

    def frame_at_time(self, t_s: float) -> int:
        """Index of the frame shown at time `t_s` (seconds)."""
        return int(np.searchsorted(self.timestamps_s, t_s + 1e-9, side="right") - 1)


def index_bits(n_frames: int) -> int:
    """Number of bar-code cells needed to write indices 0 .. n_frames - 1."""
    return max(1, math.ceil(math.log2(max(n_frames, 2))))


def label_colour(label: Union[RGB, str]) -> RGB:
    """RGB colour of a segment: an explicit triple, a PALETTE name, or a colour derived from the text."""
    if isinstance(label, str):
        if label in PALETTE:
            return PALETTE[label]
        digest = hashlib.sha1(label.encode("utf-8")).digest()
        return (60 + digest[0] % 160, 60 + digest[1] % 160, 60 + digest[2] % 160)
    colour = tuple(int(c) for c in label)
    if len(colour) != 3 or not all(0 <= c <= 255 for c in colour):
        raise ValueError(f"Invalid segment colour: {label!r}. Expected 3 ints in 0..255 or a name.")
    return colour  # type: ignore[return-value]


def render_frame(index: int, size: tuple[int, int], colour: RGB, n_bits: int, phase: int = 0) -> np.ndarray:
    """Paint frame `index`: bar code of the index on top, segment colour and a moving square below.

    Returns uint8 (height, width, 3) RGB.
    """
    width, height = size
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[:] = colour
    band = max(1, height // 3)
    cell = width / n_bits
    for bit in range(n_bits):
        value = (index >> (n_bits - 1 - bit)) & 1
        x0, x1 = int(round(bit * cell)), int(round((bit + 1) * cell))
        frame[:band, x0:x1] = 255 if value else 0
    side = max(1, min(width, height - band) // 4)
    span = max(1, width - side)
    x = (phase + 3 * index) % span
    y = band + max(0, (height - band - side) // 2)
    frame[y : y + side, x : x + side] = (255 - colour[0], 255 - colour[1], 255 - colour[2])
    return frame


def _rgb_to_yuv(colour: RGB) -> tuple[int, int, int]:
    """BT.601 limited-range Y, Cb, Cr of an RGB colour (what decoders assume for untagged video)."""
    r, g, b = (c / 255.0 for c in colour)
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    cb = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    cr = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    return int(round(y)), int(round(cb)), int(round(cr))


class _Yuv420Painter:
    """Paints the frames of `render_frame` straight into yuv420p planes (even sizes), reusing one
    background per colour, so large videos are written without an RGB-to-YUV conversion per frame.
    """

    def __init__(self, size: tuple[int, int], n_bits: int, phase: int) -> None:
        self.width, self.height = size
        self.n_bits, self.phase = n_bits, phase
        self._backgrounds: dict[RGB, np.ndarray] = {}

    def _background(self, colour: RGB) -> np.ndarray:
        if colour not in self._backgrounds:
            w, h = self.width, self.height
            y, cb, cr = _rgb_to_yuv(colour)
            planes = np.empty((h * 3 // 2, w), np.uint8)
            planes[:h] = y
            flat = planes[h:].reshape(-1)  # U plane then V plane, each (h/2, w/2)
            half = (h // 2) * (w // 2)
            flat[:half] = cb
            flat[half:] = cr
            self._backgrounds[colour] = planes
        return self._backgrounds[colour]

    def paint(self, index: int, colour: RGB) -> np.ndarray:
        """uint8 (height * 3 / 2, width) yuv420p planes of frame `index`."""
        w, h = self.width, self.height
        planes = self._background(colour).copy()
        y_plane = planes[:h]
        flat = planes[h:].reshape(-1)
        half = (h // 2) * (w // 2)
        u_plane = flat[:half].reshape(h // 2, w // 2)
        v_plane = flat[half:].reshape(h // 2, w // 2)
        band = max(1, h // 3)
        cell = w / self.n_bits
        for bit in range(self.n_bits):
            value = (index >> (self.n_bits - 1 - bit)) & 1
            x0, x1 = int(round(bit * cell)), int(round((bit + 1) * cell))
            y_plane[:band, x0:x1] = 235 if value else 16
            u_plane[: (band + 1) // 2, x0 // 2 : (x1 + 1) // 2] = 128
            v_plane[: (band + 1) // 2, x0 // 2 : (x1 + 1) // 2] = 128
        side = max(1, min(w, h - band) // 4)
        span = max(1, w - side)
        x = (self.phase + 3 * index) % span
        y = band + max(0, (h - band - side) // 2)
        sy, su, sv = _rgb_to_yuv((255 - colour[0], 255 - colour[1], 255 - colour[2]))
        y_plane[y : y + side, x : x + side] = sy
        u_plane[y // 2 : (y + side + 1) // 2, x // 2 : (x + side + 1) // 2] = su
        v_plane[y // 2 : (y + side + 1) // 2, x // 2 : (x + side + 1) // 2] = sv
        return planes


def decode_frame_index(frame: np.ndarray, n_bits: int) -> int:
    """Read back the index that `render_frame` wrote into `frame` (uint8 (H, W, 3), any size).

    Each cell is judged by the mean brightness of its central part, so scaling and lossy coding do
    not change the result as long as a cell stays a few pixels wide.
    """
    height, width = frame.shape[:2]
    band = max(1, height // 3)
    cell = width / n_bits
    y0, y1 = band // 4, max(band // 4 + 1, (3 * band) // 4)
    index = 0
    for bit in range(n_bits):
        x0 = int(bit * cell + cell / 4)
        x1 = max(x0 + 1, int(bit * cell + 3 * cell / 4))
        value = frame[y0:y1, x0:x1].astype(np.float32).mean() > 127.5
        index = (index << 1) | int(value)
    return index


def _segment_colours(n_frames: int, times_s: np.ndarray, segments, seed: int) -> list[RGB]:
    """Colour of every frame: the last segment covering its time, else a seed-derived background."""
    rng = np.random.default_rng(seed)
    background = tuple(int(c) for c in rng.integers(70, 180, size=3))
    colours: list[RGB] = [background] * n_frames  # type: ignore[list-item]
    for start_s, end_s, label in segments or ():
        if not end_s > start_s:
            raise ValueError(f"Invalid segment ({start_s}, {end_s}): expected end_s > start_s.")
        colour = label_colour(label)
        for i in np.nonzero((times_s >= start_s) & (times_s < end_s))[0]:
            colours[int(i)] = colour
    return colours


def _encode(
    path: Path,
    *,
    times_s: np.ndarray,
    fps: float,
    size: tuple[int, int],
    codec: str,
    segments,
    seed: int,
    bframes: bool,
    gop: int | None,
    pix_fmt: str | None,
    time_base: Fraction | None,
    n_bits: int | None,
    faststart: bool,
    audio: bool,
    open_gop: bool = False,
) -> GeneratedVideo:
    """Write frames shown at `times_s` (seconds, increasing) with PyAV and return what was written."""
    import av

    if codec not in _CODECS:
        raise ValueError(f"Invalid codec: {codec!r}. Expected one of {sorted(_CODECS)}.")
    width, height = int(size[0]), int(size[1])
    if width < 1 or height < 1:
        raise ValueError(f"Invalid size: {size!r}. Expected (width, height) >= 1.")
    encoder, default_fmt, options = _CODECS[codec]
    n_frames = len(times_s)
    bits = n_bits or index_bits(n_frames)
    colours = _segment_colours(n_frames, times_s, segments, seed)
    phase = int(np.random.default_rng(seed + 1).integers(0, 1000))
    rate = Fraction(fps).limit_denominator(1001)
    tb = time_base or Fraction(rate.denominator, rate.numerator)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    container_options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=container_options) as out:
        stream = out.add_stream(encoder, rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = pix_fmt or default_fmt
        stream.time_base = tb
        stream.codec_context.time_base = tb
        opts = dict(options)
        if codec in ("h264", "hevc", "mpeg4"):
            opts["bf"] = "3" if bframes else "0"
        if codec == "hevc":
            opts["x265-params"] += f":open-gop={int(open_gop)}" + ("" if bframes else ":bframes=0")
        elif codec == "h264" and open_gop:
            opts["x264-params"] = "open-gop=1"
        stream.codec_context.options = opts
        if gop is not None:
            stream.codec_context.gop_size = int(gop)
        audio_stream = out.add_stream("aac", rate=16000) if audio else None
        painter = None
        if stream.pix_fmt == "yuv420p" and width % 2 == 0 and height % 2 == 0:
            painter = _Yuv420Painter((width, height), bits, phase)
        for i in range(n_frames):
            if painter is not None:
                frame = av.VideoFrame.from_ndarray(painter.paint(i, colours[i]), format="yuv420p")
            else:
                frame = av.VideoFrame.from_ndarray(render_frame(i, (width, height), colours[i], bits, phase), format="rgb24")
            frame.pts = int(round(times_s[i] / tb))
            frame.time_base = tb
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if audio_stream is not None:
            _write_tone(out, audio_stream, float(times_s[-1] + 1.0 / fps) if n_frames else 1.0)
    return GeneratedVideo(path, n_frames, float(fps), (width, height), codec, bits, np.asarray(times_s, np.float64))


def _write_tone(out, stream, duration_s: float) -> None:
    """Mux a quiet 440 Hz tone of `duration_s` seconds into audio `stream` of container `out`."""
    import av

    rate = stream.codec_context.sample_rate
    frame_size = stream.codec_context.frame_size or 1024
    total = int(duration_s * rate)
    t = np.arange(total, dtype=np.float32) / rate
    samples = (0.1 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    for start in range(0, total, frame_size):
        chunk = samples[start : start + frame_size]
        if len(chunk) < frame_size:
            chunk = np.pad(chunk, (0, frame_size - len(chunk)))
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


def write_video(
    path: str | Path,
    *,
    duration_s: float,
    fps: float,
    size: tuple[int, int] = (160, 120),
    codec: str = "h264",
    segments: Sequence[Segment] | None = None,
    seed: int = 0,
    bframes: bool = True,
    gop: int | None = 250,
    pix_fmt: str | None = None,
    n_bits: int | None = None,
    faststart: bool = False,
    audio: bool = False,
    open_gop: bool = False,
) -> GeneratedVideo:
    """Write a constant-frame-rate video of round(duration_s * fps) frames, each carrying its index.

    segments: (start_s, end_s, colour) triples; colour is an RGB triple or a name (PALETTE or any
    text, mapped to a stable colour). codec: "h264" (mp4), "hevc", "vp9", "mpeg4"; the container
    follows the file suffix. gop: key-frame interval in frames (None = encoder default).
    open_gop: let B-frames before a key frame reference it (HEVC CRA pictures, x265's own default);
    off by default so every key frame starts a closed group of pictures.
    """
    if not (duration_s > 0 and fps > 0):
        raise ValueError(f"Invalid duration_s={duration_s!r}, fps={fps!r}. Expected both > 0.")
    n_frames = max(1, int(round(duration_s * fps)))
    times_s = np.arange(n_frames, dtype=np.float64) / fps
    return _encode(
        Path(path), times_s=times_s, fps=fps, size=size, codec=codec, segments=segments, seed=seed,
        bframes=bframes, gop=gop, pix_fmt=pix_fmt, time_base=None, n_bits=n_bits, faststart=faststart,
        audio=audio, open_gop=open_gop,
    )


def write_vfr_video(
    path: str | Path, *, n_frames: int = 90, size: tuple[int, int] = (160, 120), seed: int = 0
) -> GeneratedVideo:
    """Write a variable-frame-rate H.264 mp4: frame durations drawn from {20, 33, 50, 100} ms.

    The reported `fps` is the average rate, n_frames / total duration.
    """
    rng = np.random.default_rng(seed)
    durations_ms = rng.choice([20, 33, 50, 100], size=n_frames)
    times_s = np.concatenate([[0], np.cumsum(durations_ms[:-1])]).astype(np.float64) / 1000.0
    fps = n_frames / (durations_ms.sum() / 1000.0)
    return _encode(
        Path(path), times_s=times_s, fps=fps, size=size, codec="h264", segments=None, seed=seed,
        bframes=True, gop=30, pix_fmt=None, time_base=Fraction(1, 1000), n_bits=None, faststart=False,
        audio=False,
    )


def write_rotated_video(path: str | Path, *, rotation_deg: int = 90, **kwargs) -> GeneratedVideo:
    """Write an H.264 mp4 whose stream carries display-rotation metadata (`rotate` tag, ffmpeg CLI).

    The coded frames are those of `write_video(**kwargs)`; only the metadata says "rotate".
    """
    path = Path(path)
    plain = path.with_name(path.stem + ".unrotated" + path.suffix)
    video = write_video(plain, **kwargs)
    _run_ffmpeg(["-i", str(plain), "-c", "copy", "-metadata:s:v:0", f"rotate={int(rotation_deg)}", str(path)])
    plain.unlink()
    return GeneratedVideo(path, video.n_frames, video.fps, video.size, video.codec, video.n_bits, video.timestamps_s)


def write_single_frame_video(path: str | Path, *, size: tuple[int, int] = (160, 120), fps: float = 30.0) -> GeneratedVideo:
    """Write a video of exactly one frame (a 4K picture with size=(3840, 2160))."""
    return write_video(path, duration_s=1.0 / fps, fps=fps, size=size, gop=1, n_bits=1)


def write_odd_size_video(path: str | Path, *, size: tuple[int, int] = (97, 61), codec: str = "h264", **kwargs) -> GeneratedVideo:
    """Write a video whose width and height are odd; H.264 then needs 4:4:4 chroma (yuv444p)."""
    pix_fmt = "yuv444p" if codec == "h264" else None
    kwargs.setdefault("duration_s", 1.0)
    kwargs.setdefault("fps", 30.0)
    return write_video(path, size=size, codec=codec, pix_fmt=pix_fmt, **kwargs)


def write_zero_duration_video(path: str | Path, *, size: tuple[int, int] = (160, 120)) -> GeneratedVideo:
    """Write a one-frame H.264 mp4 whose duration fields are 0 (movie, track, media and sample).

    The edit list is left alone: an empty edit would tell demuxers to discard the frame itself.

    Containers then report a zero-length stream; the one frame is still decodable.
    """
    path = Path(path)
    video = write_single_frame_video(path, size=size)
    data = bytearray(path.read_bytes())
    patched = _zero_mp4_durations(data, 0, len(data))
    if not {"mvhd", "tkhd", "mdhd", "stts"} <= patched:
        raise RuntimeError(f"Could not zero the durations of '{path}': only found boxes {sorted(patched)}.")
    path.write_bytes(bytes(data))
    return video


_MP4_CONTAINERS = {"moov", "trak", "mdia", "minf", "stbl"}


def _zero_mp4_durations(data: bytearray, start: int, end: int) -> set[str]:
    """Set the duration fields of the mp4 boxes in data[start:end] to 0 in place; names of boxes patched."""
    patched: set[str] = set()
    pos = start
    while pos + 8 <= end:
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8].decode("latin-1")
        header = 8
        if size == 1:
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            break
        body = pos + header
        version = data[body]
        if kind in _MP4_CONTAINERS:
            patched |= _zero_mp4_durations(data, body, pos + size)
        elif kind in ("mvhd", "mdhd"):
            # version/flags, creation, modification, timescale, then duration (4 bytes, or 8 in version 1)
            offset, width = (body + 4 + 16 + 4, 8) if version == 1 else (body + 4 + 8 + 4, 4)
            data[offset : offset + width] = bytes(width)
            patched.add(kind)
        elif kind == "tkhd":
            # version/flags, creation, modification, track id, reserved, then duration
            offset, width = (body + 4 + 16 + 8, 8) if version == 1 else (body + 4 + 8 + 8, 4)
            data[offset : offset + width] = bytes(width)
            patched.add(kind)
        elif kind == "stts":
            count = int.from_bytes(data[body + 4 : body + 8], "big")
            for entry in range(count):
                delta = body + 8 + entry * 8 + 4
                data[delta : delta + 4] = bytes(4)
            patched.add(kind)
        pos += size
    return patched


def _flat_grey_jpeg(width: int, height: int) -> bytes:
    """A baseline greyscale JPEG of width x height whose every 8x8 block is mid-grey, built byte by byte.

    Both Huffman tables hold one code of length 1 ("0"): DC difference 0 and end-of-block, so each block
    costs 2 bits and the entropy-coded data is a run of zero bytes (1 MB for 16000 x 16000). No
    encoder runs and no picture is held in memory, so any size JPEG allows (65535 a side) is written
    in milliseconds.
    """
    import struct

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">HH", marker, len(payload) + 2) + payload

    one_code = bytes([1] + [0] * 15)  # BITS: one code of length 1
    quant = segment(0xFFDB, bytes([0]) + bytes([1] * 64))
    frame = segment(0xFFC0, struct.pack(">BHHB", 8, height, width, 1) + bytes([1, 0x11, 0]))
    tables = segment(0xFFC4, bytes([0x00]) + one_code + bytes([0]) + bytes([0x10]) + one_code + bytes([0]))
    scan = segment(0xFFDA, bytes([1, 1, 0x00, 0, 63, 0]))
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    return b"\xff\xd8" + quant + frame + tables + scan + bytes((2 * blocks + 7) // 8) + b"\xff\xd9"


def write_pixel_bomb(path: str | Path, *, size: tuple[int, int] = (16000, 16000), n_frames: int = 3,
                     fps: float = 30.0) -> GeneratedVideo:
    """Write an MJPEG .mkv of `n_frames` flat grey frames of `size` (default 16000 x 16000, 256 megapixels).

    A few MB on disk, written without encoding (hand-made JPEGs, `_flat_grey_jpeg`): the cheap way to a
    file whose decoded frames are enormous. H.264 encoders refuse or take minutes and gigabytes at this
    size; MJPEG allows 65535 pixels a side and a flat picture codes to almost nothing. Decoded, each frame
    is a 256 MB greyscale picture (768 MB as RGB). No bar code: `n_bits` is 0.
    """
    import av

    width, height = int(size[0]), int(size[1])
    if not (0 < width <= 65535 and 0 < height <= 65535):
        raise ValueError(f"Invalid size: {size!r}. Expected (width, height) in 1..65535 (the JPEG limit).")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = _flat_grey_jpeg(width, height)
    rate = Fraction(fps).limit_denominator(1001)
    time_base = Fraction(rate.denominator, rate.numerator)
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("mjpeg", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
        stream.time_base = time_base
        for i in range(n_frames):
            packet = av.Packet(picture)
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, i, i, time_base
            packet.is_keyframe = True
            out.mux(packet)
    times = np.arange(n_frames, dtype=np.float64) / float(rate)
    return GeneratedVideo(path, n_frames, float(rate), (width, height), "mjpeg", 0, times)


def write_audio_only(path: str | Path, *, duration_s: float = 1.0) -> Path:
    """Write an m4a-style mp4 with one AAC audio stream and no video stream."""
    import av

    path = Path(path)
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=16000)
        _write_tone(out, stream, duration_s)
    return path


def write_truncated_mp4(path: str | Path, *, keep_fraction: float = 0.5, faststart: bool = False, **kwargs) -> Path:
    """Write an H.264 mp4 and cut it to `keep_fraction` of its bytes.

    faststart=False leaves the index (moov) at the end, so it is cut off and the file cannot open;
    faststart=True keeps the index, so the file opens but its later frames are missing.
    """
    path = Path(path)
    kwargs.setdefault("duration_s", 2.0)
    kwargs.setdefault("fps", 30.0)
    write_video(path, faststart=faststart, **kwargs)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    return path


def write_empty_file(path: str | Path) -> Path:
    """Write a 0-byte file with a video suffix."""
    path = Path(path)
    path.write_bytes(b"")
    return path


def write_random_bytes(path: str | Path, *, n_bytes: int = 64 * 1024, seed: int = 0) -> Path:
    """Write `n_bytes` of seeded random bytes with a video suffix."""
    path = Path(path)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, size=n_bytes, dtype=np.uint8).tobytes())
    return path


def _run_ffmpeg(args: list[str]) -> None:
    """Run the ffmpeg command line quietly; raise RuntimeError with its stderr on failure."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise RuntimeError("The ffmpeg command line is needed for this video and was not found on PATH.")
    proc = subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-y", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed with code {proc.returncode}: {proc.stderr.strip()}")
