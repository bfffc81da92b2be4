"""Pixel budgets and frame lists for the Qwen-VL family, with or without the `qwen-vl-utils` package.

Our own arithmetic, not an import: the adapters never need `qwen-vl-utils` (its torchvision video
reader is broken with torchvision 0.29, and frames always come from our own decoder). `fit_pixel_budget`
gives the sizes of the package's `smart_resize` (a test compares them on a table) except where that
function's floating-point floor lands one patch group short and leaves the area below min_pixels
(e.g. 300x300 with min = max = 56*56 px gives 28x28 there, 56x56 here).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: Largest aspect ratio the Qwen vision towers accept (same bound as the reference implementation).
MAX_ASPECT_RATIO = 200
# Slack for float error when a scaled side lands on an exact multiple of the factor.
_EPS = 1e-9


def _builtin_smart_resize(
    height: int, width: int, factor: int, min_pixels: int, max_pixels: int
) -> tuple[int, int]:
    """Nearest (height, width) that are multiples of `factor`, with the area scaled into the budget."""
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        shrink = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / shrink / factor + _EPS) * factor)
        w_bar = max(factor, math.floor(width / shrink / factor + _EPS) * factor)
    elif h_bar * w_bar < min_pixels:
        grow = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * grow / factor - _EPS) * factor
        w_bar = math.ceil(width * grow / factor - _EPS) * factor
    return h_bar, w_bar


def fit_pixel_budget(
    height: int, width: int, *, factor: int, min_pixels: int, max_pixels: int
) -> tuple[int, int]:
    """(height, width) in pixels, multiples of `factor`, aspect ratio kept, area scaled into the budget.

    factor = patch_size * spatial_merge_size (28 for Qwen2/2.5-VL, 32 for Qwen3-VL). A frame above
    max_pixels is scaled down (sides floored to the factor, so the area stays <= max_pixels, except
    that each side keeps at least one factor); one below min_pixels is scaled up (sides ceiled, area
    >= min_pixels). With min_pixels close to max_pixels the floor can land below min_pixels.
    """
    if height < 1 or width < 1:
        raise ValueError(f"Invalid frame size: {height}x{width} (height x width). Expected both >= 1 pixel.")
    if factor < 1:
        raise ValueError(f"Invalid patch factor: {factor}. Expected an int >= 1.")
    if not 0 < min_pixels <= max_pixels:
        raise ValueError(
            f"Invalid pixel budget: min_pixels={min_pixels}, max_pixels={max_pixels}. "
            "Expected 0 < min_pixels <= max_pixels."
        )
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(
            f"Invalid frame size: {height}x{width} (height x width). Expected an aspect ratio <= "
            f"{MAX_ASPECT_RATIO}, which the Qwen vision tower requires."
        )
    return _builtin_smart_resize(height, width, factor, min_pixels, max_pixels)


#: qwen-vl-utils' per-frame video limits, in merged patch groups (factor x factor pixels) per frame.
VIDEO_MIN_TOKENS = 128
VIDEO_MAX_TOKENS = 768
#: qwen-vl-utils' whole-video pixel limit: 0.9 x MODEL_SEQ_LEN patch groups, spread over the frames
#: (each temporal patch of FRAME_FACTOR frames counts once).
DEFAULT_MODEL_SEQ_LEN = 128000
FRAME_FACTOR = 2


def video_frame_budget(n_frames: int, *, factor: int, min_pixels: int | None = None,
                       max_pixels: int | None = None) -> tuple[int, float]:
    """(min_pixels, max_pixels) of each frame of an n-frame video, as qwen-vl-utils' fetch_video sets them.

    This is the budget lmms-eval's Qwen wrappers give every video frame: min_pixels as asked (default
    VIDEO_MIN_TOKENS groups); max_pixels = the smaller of the one asked and the package's cap
    max(min(VIDEO_MAX_TOKENS groups, total / n_frames * FRAME_FACTOR), int(min_pixels * 1.05)), with
    total = 0.9 * MODEL_SEQ_LEN groups ($MODEL_SEQ_LEN, default 128000). factor = patch * merge size.
    """
    import os

    if n_frames < 1:
        raise ValueError(f"Invalid n_frames: {n_frames}. Expected an int >= 1.")
    group = factor * factor
    lo = int(min_pixels) if min_pixels is not None else VIDEO_MIN_TOKENS * group
    total = int(float(os.environ.get("MODEL_SEQ_LEN", DEFAULT_MODEL_SEQ_LEN))) * group * 0.9
    cap = max(min(VIDEO_MAX_TOKENS * group, total / n_frames * FRAME_FACTOR), int(lo * 1.05))
    hi = cap if max_pixels is None else min(int(max_pixels), cap)
    return lo, hi


def resize_frames(frames: np.ndarray, *, factor: int, min_pixels: int, max_pixels: int) -> np.ndarray:
    """Resize every frame to the budgeted size (bicubic), so the processor needs no resize of its own.

    frames: uint8 (N, H, W, 3) RGB. Returns uint8 (N, h, w, 3) with h, w multiples of `factor`.
    """
    from PIL import Image

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"Invalid frames: shape {frames.shape}, dtype {frames.dtype}. Expected uint8 (N, H, W, 3) RGB."
        )
    n, height, width, _ = frames.shape
    if n == 0:
        return frames
    new_h, new_w = fit_pixel_budget(
        height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels
    )
    if (new_h, new_w) == (height, width):
        return frames
    out = np.empty((n, new_h, new_w, 3), dtype=np.uint8)
    for i in range(n):
        out[i] = np.asarray(Image.fromarray(frames[i]).resize((new_w, new_h), Image.BICUBIC))
    return out


def pad_to_temporal_patch(
    frames: np.ndarray, timestamps_s: Sequence[float], temporal_patch: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Repeat the last frame (and its timestamp) until the count is a multiple of `temporal_patch`.

    frames: (N, H, W, 3), N >= 1; timestamps_s: (N,) seconds. Returns (frames, float64 timestamps) of
    length ceil(N / temporal_patch) * temporal_patch.
    """
    ts = np.asarray(timestamps_s, dtype=np.float64)
    if len(frames) == 0 or len(frames) != len(ts):
        raise ValueError(
            f"Invalid frame list: {len(frames)} frames and {len(ts)} timestamps. "
            "Expected the same number, at least 1."
        )
    pad = -len(frames) % temporal_patch
    if pad == 0:
        return frames, ts
    frames = np.concatenate([frames, np.repeat(frames[-1:], pad, axis=0)], axis=0)
    ts = np.concatenate([ts, np.repeat(ts[-1:], pad)])
    return frames, ts


def effective_fps(timestamps_s: Sequence[float], default: float = 1.0) -> float:
    """Frames per second implied by the mean gap between consecutive frames (before any padding).

    Qwen2.5-VL encodes one time step per video (second_per_grid_ts), so uneven gaps are represented by
    their mean: the first and the last frame then sit at their true distance. With fewer than two
    frames, or all at the same time, there is no gap to measure and `default` is returned.
    """
    ts = np.asarray(timestamps_s, dtype=np.float64)
    if ts.size < 2:
        return float(default)
    span = float(ts[-1] - ts[0])
    if not span > 0:
        return float(default)
    return (ts.size - 1) / span


def video_metadata(padded_timestamps_s: Sequence[float], fps: float) -> dict:
    """Video metadata for the transformers processors from real timestamps.

    The timeline ticks at `fps` (the effective rate), so frame positions are timestamp * fps, possibly
    fractional. The processors then read back `timestamps = position / fps` (Qwen3-VL writes them into
    the prompt) and `sampled_fps = len(positions) / total_num_frames * fps = fps` (Qwen2.5-VL turns it
    into second_per_grid_ts = temporal_patch_size / fps).
    """
    ts = [float(t) for t in padded_timestamps_s]
    return {
        "fps": float(fps),
        "frames_indices": [t * fps for t in ts],
        "total_num_frames": len(ts),
        "duration": (ts[-1] - ts[0]) if ts else 0.0,
    }
