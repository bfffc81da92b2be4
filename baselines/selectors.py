"""Pure frame-choice rules of the baselines: uniform spacing (per lmms-eval wrapper), CLIP top-k, BOLT.

numpy only, no I/O: the lmms-eval models in `baselines.uniform` and `baselines.clip_selectors` feed
them frame counts and 1-FPS similarity tracks. Every function returns sorted, unique original-frame
indices as int64 and is deterministic.
"""

from __future__ import annotations

import math

import numpy as np

#: BOLT's sharpening power for Video-MME and MLVU (its released frame-selection script uses 3, and 2.5
#: for LongVideoBench); the paper's formula is w_i = ((s_i - min s) / (max s - min s)) ** power.
BOLT_DEFAULT_POWER = 3.0


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"Invalid {name}: {value!r}. Expected an int >= 0.")
    return int(value)


def _check_track(frame_indices, scores) -> tuple[np.ndarray, np.ndarray]:
    frames = np.asarray(frame_indices)
    values = np.asarray(scores, dtype=np.float64)
    if frames.ndim != 1 or (frames.size and not np.issubdtype(frames.dtype, np.integer)):
        raise ValueError(f"Invalid frame_indices: dtype {frames.dtype}, shape {frames.shape}. Expected 1-D ints.")
    if values.shape != frames.shape:
        raise ValueError(
            f"Invalid scores: shape {values.shape}. Expected one score per frame index {frames.shape}."
        )
    frames = frames.astype(np.int64)
    if frames.size > 1 and np.any(np.diff(frames) <= 0):
        raise ValueError("Invalid frame_indices: not strictly increasing. Expected sorted unique frame indices.")
    return frames, values


def uniform_frames(n_frames: int, k: int) -> np.ndarray:
    """k evenly spaced frames of a video with n_frames frames, first and last included.

    round(linspace(0, n_frames - 1, k)), rounding half to even: qwen-vl-utils' rule, which lmms-eval's
    Qwen wrappers use (they compute in float32 torch; identical below 60,000 frames, see the tests).
    Returns int64 (min(k, n_frames),) sorted unique indices in [0, n_frames - 1].
    """
    n_frames = _check_count("n_frames", n_frames)
    k = min(_check_count("k", k), n_frames)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    # With k <= n_frames the spacing is >= 1 frame, so rounding keeps the k positions distinct.
    return np.unique(np.rint(np.linspace(0.0, n_frames - 1, k)).astype(np.int64))


def segment_centre_frames(n_frames: int, k: int) -> np.ndarray:
    """k frames at the centres of k equal segments of [0, n_frames - 1]: lmms-eval's `internvl3` video rule.

    Frame j is int(seg / 2 + round(seg * j)) with seg = (n_frames - 1) / k (InternVL's `get_index`
    without time bounds, as lmms_eval/models/simple/internvl3.py calls it). The ends are not taken.
    Returns int64 sorted unique indices (fewer than k when segments are shorter than a frame).
    """
    n_frames = _check_count("n_frames", n_frames)
    k = _check_count("k", k)
    if k == 0 or n_frames == 0:
        return np.zeros(0, dtype=np.int64)
    seg = float(n_frames - 1) / k
    frames = [int(seg / 2 + np.round(seg * j)) for j in range(k)]
    return np.unique(np.asarray(frames, dtype=np.int64))


def shifted_arange_frames(n_frames: int, k: int) -> np.ndarray:
    """k frames one stride n_frames / k apart, the first half a stride in: transformers' InternVL video rule.

    int(stride / 2 + j * stride), j = 0..k-1: what `InternVLVideoProcessor.sample_frames` picks when
    lmms-eval's `internvl_hf` asks for `num_frames=k` (it computes in float32; identical for videos
    below 60,000 frames, checked against torch in the tests). Returns int64 (min(k, n_frames),) sorted.
    """
    n_frames = _check_count("n_frames", n_frames)
    k = min(_check_count("k", k), n_frames)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    stride = n_frames / k
    return np.unique((stride / 2 + stride * np.arange(k)).astype(np.int64))


def floor_linspace_frames(n_frames: int, k: int, *, skip_last: bool = False) -> np.ndarray:
    """k frames int(linspace(0, last, k)), last = n_frames - 1 (or n_frames - 2 with skip_last).

    lmms-eval's `llava_onevision` (last = n_frames - 1) and `vila` (skip_last: last = n_frames - 2)
    rule: numpy's linspace with dtype=int, which truncates. Returns int64 sorted unique indices.
    """
    n_frames = _check_count("n_frames", n_frames)
    k = min(_check_count("k", k), n_frames)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    last = max(n_frames - (2 if skip_last else 1), 0)
    return np.unique(np.linspace(0.0, last, k).astype(np.int64))


#: Uniform frame rules by name: "linspace" is the plain rule (ends included, rounded, the convention of
#: qwen-vl-utils that lmms-eval's Qwen wrappers use); the others reproduce other lmms-eval wrappers.
UNIFORM_RULES = {
    "linspace": uniform_frames,
    "segment_centres": segment_centre_frames,
    "shifted_arange": shifted_arange_frames,
    "floor_linspace": floor_linspace_frames,
    "floor_linspace_skip_last": lambda n_frames, k: floor_linspace_frames(n_frames, k, skip_last=True),
}


def frames_by_rule(rule: str, n_frames: int, k: int) -> np.ndarray:
    """k uniform frames of a video of n_frames by the named rule of UNIFORM_RULES (int64, sorted, unique)."""
    if rule not in UNIFORM_RULES:
        raise ValueError(f"Invalid uniform rule: {rule!r}. Expected one of {sorted(UNIFORM_RULES)}.")
    return UNIFORM_RULES[rule](n_frames, k)


def topk_frames(frame_indices, scores, k: int) -> np.ndarray:
    """The k frames with the highest score (ties: the earlier frame), returned in time order.

    frame_indices: int (n,) strictly increasing (e.g. the 1-FPS samples); scores: float (n,), raw
    cosine similarity (any monotone map of it gives the same frames). NaN counts as the lowest score.
    Returns int64 (min(k, n),).
    """
    frames, values = _check_track(frame_indices, scores)
    k = min(_check_count("k", k), frames.size)
    values = np.where(np.isnan(values), -np.inf, values)
    order = np.lexsort((np.arange(frames.size), -values))  # primary key: score descending
    return np.sort(frames[order[:k]])


def sharpened_weights(scores, power: float = BOLT_DEFAULT_POWER) -> np.ndarray:
    """BOLT's sampling weights: min-max normalised scores raised to `power`, float64 (n,) summing to 1.

    Non-finite scores count as the minimum. All-equal scores (nothing to prefer) give equal weights.
    """
    if isinstance(power, bool) or not isinstance(power, (int, float)) or not math.isfinite(power) or power <= 0:
        raise ValueError(f"Invalid power: {power!r}. Expected a finite number > 0.")
    values = np.asarray(scores, dtype=np.float64)
    if values.size == 0:
        return np.zeros(0, dtype=np.float64)
    finite = np.isfinite(values)
    low = values[finite].min() if finite.any() else 0.0
    high = values[finite].max() if finite.any() else 0.0
    if not high > low:
        return np.full(values.shape, 1.0 / values.size)
    norm = np.where(finite, (values - low) / (high - low), 0.0)
    weights = np.clip(norm, 0.0, 1.0) ** float(power)
    return weights / weights.sum()


def _claim_free(position: int, used: np.ndarray) -> int:
    """The first unused position at or after `position`, else the nearest unused one before it."""
    free_after = np.flatnonzero(~used[position:])
    if free_after.size:
        return position + int(free_after[0])
    free_before = np.flatnonzero(~used[:position])
    return int(free_before[-1])


def inverse_transform_frames(frame_indices, scores, k: int, power: float = BOLT_DEFAULT_POWER) -> np.ndarray:
    """BOLT's inverse transform sampling: k frames drawn at evenly spaced quantiles of the score CDF.

    weights = sharpened_weights(scores, power); CDF over the frames in time order; quantiles
    q_j = (j + 0.5) / k, j = 0..k-1 (the midpoints of k equal-probability strata; BOLT's script uses
    linspace(1/k, 1 - 1/k, k), which collapses for k <= 2); each q_j maps to the first frame whose
    CDF reaches it. High-similarity stretches get dense frames, flat ones sparse frames.
    Duplicates (several quantiles in one frame) move to the next unused frame in time, or, past the
    end, to the nearest unused earlier frame, so the result has exactly min(k, n) frames.
    frame_indices: int (n,) strictly increasing; scores: float (n,). Returns int64 (min(k, n),) sorted.
    """
    frames, values = _check_track(frame_indices, scores)
    k = min(_check_count("k", k), frames.size)
    weights = sharpened_weights(values, power)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    quantiles = (np.arange(k, dtype=np.float64) + 0.5) / k
    positions = np.minimum(np.searchsorted(cdf, quantiles, side="left"), frames.size - 1)
    used = np.zeros(frames.size, dtype=bool)
    for position in positions.tolist():
        used[_claim_free(position, used)] = True
    return frames[used]
