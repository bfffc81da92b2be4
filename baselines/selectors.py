"""Pure frame-choice rules of the baselines: uniform spacing (per lmms-eval wrapper), CLIP top-k, BOLT,
AKS-style adaptive keyframe sampling and MDP3-style list-wise DPP selection.

numpy only, no I/O: the lmms-eval models in `baselines.uniform` and `baselines.clip_selectors` feed
them frame counts, 1-FPS similarity tracks and (MDP3) CLIP embeddings; the selection-quality
simulation (scripts/benchmarks/sim) calls the same functions. Every function returns sorted, unique
original-frame indices as int64 and is deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


# ------------------------------------------------------------------------------------------------
# AKS-style adaptive keyframe sampling (Tang et al., CVPR 2025)
# ------------------------------------------------------------------------------------------------
#: Defaults of AKS's released frame-selection script: judge threshold t1 on min-max normalised
#: scores, a spread threshold t2 that -100 switches off, recursion depth L ("all_depth") and a
#: down-sampling ratio of the score track.
AKS_DEFAULT_T1 = 0.8
AKS_DEFAULT_T2 = -100.0
AKS_DEFAULT_DEPTH = 5
AKS_DEFAULT_RATIO = 1


@dataclass(frozen=True)
class AksBin:
    """One leaf of the AKS partition: samples [start, end) (positions in the track), its frame share.

    kept: True when the bin's top frames stood out (top-share mean minus bin mean > t1 and score std
    > t2), False when it became a leaf because it reached depth L, held one frame of the budget, or
    could not be split further.
    """

    start: int
    end: int
    depth: int
    share: int
    kept: bool


def _check_real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value):
        raise ValueError(f"Invalid {name}: {value!r}. Expected a finite number.")
    return float(value)


def _check_positive_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"Invalid {name}: {value!r}. Expected an int >= {minimum}.")
    return int(value)


def minmax_normalised(values: np.ndarray) -> np.ndarray:
    """Min-max normalised float64 copy; non-finite values count as the minimum; all equal -> zeros."""
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape)
    low, high = values[finite].min(), values[finite].max()
    out = np.where(finite, values, low)
    return (out - low) / (high - low) if high > low else np.zeros(values.shape)


def _top_positions(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k highest values (ties: earlier position), in descending order of value."""
    return np.lexsort((np.arange(values.size), -values))[:k]


def aks_partition(scores, k: int, *, t1: float = AKS_DEFAULT_T1, t2: float = AKS_DEFAULT_T2,
                  depth: int = AKS_DEFAULT_DEPTH) -> list[AksBin]:
    """AKS's judge-and-split of a score track into bins with frame shares summing to k (time order).

    scores: float (n,), already min-max normalised (see aks_frames); k: 1 <= k <= n.
    A bin holding `share` frames is judged: its top-`share` scores' mean minus its mean score must
    exceed t1 (and the std of its scores exceed t2) for its top frames to stand out; such a bin is
    kept. Otherwise, above depth L, it is split at its middle sample (the second half takes the odd
    one) and its share halved, the odd frame going to the half with the higher mean score (ties:
    the earlier half). Choices where the paper and its script leave the detail open, so that the
    budget is exact: a share is never rounded up (the script gives every bin at least one frame,
    which can exceed k); a bin with a share of 1 is a leaf (splitting it could only hand its frame
    to one half); the top-share mean uses the bin's own share (the script uses k at every depth).
    """
    values = np.asarray(scores, dtype=np.float64)
    pending = [(0, int(values.size), 0, int(k))]
    leaves: list[AksBin] = []
    while pending:
        start, end, level, share = pending.pop(0)
        segment = values[start:end]
        top = segment[_top_positions(segment, share)]
        stands_out = float(top.mean() - segment.mean()) > t1 and float(segment.std()) > t2
        if stands_out or level >= depth or share <= 1 or end - start < 2:
            leaves.append(AksBin(start, end, level, share, bool(stands_out)))
            continue
        mid = start + (end - start) // 2
        first = share // 2
        second = share - first
        if share % 2 and values[start:mid].mean() >= values[mid:end].mean():
            first, second = second, first
        pending += [(start, mid, level + 1, first), (mid, end, level + 1, second)]
    return sorted((b for b in leaves if b.share > 0), key=lambda b: b.start)


def aks_frames(frame_indices, scores, k: int, *, t1: float = AKS_DEFAULT_T1, t2: float = AKS_DEFAULT_T2,
               depth: int = AKS_DEFAULT_DEPTH, ratio: int = AKS_DEFAULT_RATIO) -> np.ndarray:
    """AKS-style adaptive keyframe sampling (Tang et al., CVPR 2025): exactly min(k, n) frames.

    frame_indices: int (n,) strictly increasing (the 1-FPS samples); scores: float (n,) raw cosine
    (NaN / inf count as the lowest). Every `ratio`-th sample is a candidate (AKS's down-sampling,
    default 1: all); candidate scores are min-max normalised, partitioned by `aks_partition`
    (thresholds t1, t2, depth L), and each bin contributes its top-share candidates (ties: earlier).
    A bin shorter than its share, or candidates fewer than k, leave a shortfall that the
    highest-scoring unselected samples fill (ties: earlier), so the budget is always met.
    Returns int64 (min(k, n),) sorted. Deterministic.
    """
    frames, values = _check_track(frame_indices, scores)
    k = min(_check_count("k", k), frames.size)
    t1, t2 = _check_real("t1", t1), _check_real("t2", t2)
    depth = _check_positive_int("depth", depth, 0)
    ratio = _check_positive_int("ratio", ratio, 1)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    if k == frames.size:
        return frames.copy()
    candidates = np.arange(0, frames.size, ratio)
    chosen = np.zeros(frames.size, dtype=bool)
    norm = minmax_normalised(values[candidates])
    if candidates.size > k:
        for leaf in aks_partition(norm, k, t1=t1, t2=t2, depth=depth):
            inside = norm[leaf.start:leaf.end]
            chosen[candidates[leaf.start + _top_positions(inside, leaf.share)]] = True
    else:
        chosen[candidates] = True
    missing = k - int(chosen.sum())
    if missing > 0:
        rest = np.flatnonzero(~chosen)
        ranked = np.where(np.isfinite(values[rest]), values[rest], -np.inf)
        chosen[rest[_top_positions(ranked, missing)]] = True
    return frames[chosen]


# ------------------------------------------------------------------------------------------------
# MDP3-style selection (Sun et al., ICCV 2025)
# ------------------------------------------------------------------------------------------------
#: Defaults of MDP3's released selector: relevance temperature lambda, the bandwidths (2 * sigma^2)
#: of its multiple Gaussian kernel, segments of 32 candidates (128 when more than 32 frames are
#: selected) and one previously selected frame as the condition of the next segment.
MDP3_DEFAULT_LAMBDA = 0.2
MDP3_DEFAULT_KERNEL_SCALES = (0.125, 0.25, 0.5, 1.0, 2.0)
MDP3_DEFAULT_CONDITION_SIZE = 1
_MDP3_MIN_RESIDUAL = 1e-12  # floor of a Schur complement, so a duplicate frame costs a finite log


def mdp3_segment_size(k: int) -> int:
    """MDP3's segment length for a budget of k frames: 32 candidates, 128 when k > 32."""
    return 32 if k <= 32 else 128


def multi_gaussian_kernel(a: np.ndarray, b: np.ndarray, scales=MDP3_DEFAULT_KERNEL_SCALES) -> np.ndarray:
    """Mean over scales s of exp(-||a_i - b_j||^2 / (2 s)): float64 (len(a), len(b)), values in (0, 1].

    a: float (m, D), b: float (p, D). MDP3's released kernel sums the five Gaussians; the mean only
    rescales every DPP kernel entry by a constant, which changes no selection of a fixed size.
    """
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    sq = np.maximum(sq, 0.0)
    return np.mean([np.exp(-sq / (2.0 * s)) for s in scales], axis=0)


def _check_features(image_features, query_features, n: int) -> tuple[np.ndarray, np.ndarray]:
    images = np.asarray(image_features, dtype=np.float64)
    query = np.asarray(query_features, dtype=np.float64).reshape(-1)
    if images.ndim != 2 or images.shape[0] != n or images.shape[1] != query.size:
        raise ValueError(f"Invalid image_features: shape {images.shape}. Expected ({n}, {query.size}): one "
                         "embedding per frame index, as long as the query embedding.")
    if not (np.isfinite(images).all() and np.isfinite(query).all()):
        raise ValueError("Invalid image_features or query_features: not finite. Expected finite CLIP embeddings.")

    def unit(x):
        norm = np.linalg.norm(x, axis=-1, keepdims=True)
        return x / np.where(norm > 0, norm, 1.0)

    return unit(images), unit(query)


def _greedy_conditional_dpp(kernel: np.ndarray, quality: np.ndarray, n_given: int, steps: int):
    """Greedy MAP of a conditional DPP for a batch of ground sets, with incremental Cholesky rows.

    kernel: float64 (m, g, g), similarity of each batch member's ground set: its first n_given items
    are the condition (already selected), the rest the candidates; quality: float64 (g - n_given,),
    the relevance term of each candidate (the same for every member). Each step adds, per member,
    the candidate with the largest quality + log(residual variance given the items so far) (ties:
    the earlier candidate). Returns (picks int (m, steps) candidate positions in pick order,
    cumulative gains float64 (m, steps + 1) with gains[:, 0] = 0).
    """
    m, g, _ = kernel.shape
    rows = np.zeros((m, n_given + steps, g))  # row t: the t-th Cholesky column, for every item
    residual = np.einsum("mii->mi", kernel).copy()
    open_quality = np.broadcast_to(np.r_[np.full(n_given, -np.inf), quality], (m, g)).copy()
    members = np.arange(m)
    picks = np.zeros((m, steps), dtype=np.int64)
    gains = np.zeros((m, steps + 1))
    for step in range(n_given + steps):
        if step < n_given:
            pick = np.full(m, step)
        else:
            value = np.log(np.maximum(residual, _MDP3_MIN_RESIDUAL)) + open_quality
            pick = np.argmax(value, axis=1)
            t = step - n_given
            picks[:, t] = pick - n_given
            gains[:, t + 1] = gains[:, t] + value[members, pick]
            open_quality[members, pick] = -np.inf
        d = np.sqrt(np.maximum(residual[members, pick], _MDP3_MIN_RESIDUAL))
        new = kernel[members, pick, :]
        if step:
            new = new - np.einsum("mtg,mt->mg", rows[:, :step], rows[members, :step, pick])
        new /= d[:, None]
        rows[:, step] = new
        residual -= new * new
    return picks, gains


def mdp3_frames(frame_indices, image_features, query_features, k: int, *, lam: float = MDP3_DEFAULT_LAMBDA,
                segment_size: int | None = None, condition_size: int = MDP3_DEFAULT_CONDITION_SIZE,
                kernel_scales=MDP3_DEFAULT_KERNEL_SCALES) -> np.ndarray:
    """MDP3-style list-wise selection (Sun et al., ICCV 2025): exactly min(k, n) frames.

    frame_indices: int (n,) strictly increasing (the 1-FPS samples); image_features: float (n, D)
    CLIP image embeddings of those frames; query_features: float (D,) the query's text embedding
    (both are L2-normalised here). With K the multiple Gaussian kernel (`multi_gaussian_kernel`,
    bandwidths `kernel_scales`), relevance r_i = K(query, frame_i) and the DPP kernel
    L = diag(r^(1/lam)) K diag(r^(1/lam)): log det L_A = (2 / lam) sum_{i in A} log r_i + log det K_A,
    relevance times diversity. The candidates are cut into consecutive segments of `segment_size`
    (default 32, or 128 when k > 32); a dynamic programme over segments (the paper's Markov decision
    process) decides how many frames each segment gets, a segment's frames being picked greedily
    from a DPP conditioned on the last `condition_size` frames selected before it (sequentiality).
    The state is the number of frames selected so far; its value the sum of the segments'
    conditional log-determinant gains; the best state with exactly k frames wins.
    Choices where the released code differs or is silent: a segment's value is the conditional gain
    log det L_{C u A} - log det L_C (the script adds the condition's own terms, which favour some
    start states over others); ties go to the earlier candidate and the state reached with more
    frames in the current segment; a residual variance is floored at 1e-12 so duplicates cost a
    large but finite amount; the last segment may be shorter.
    Returns int64 (min(k, n),) sorted. Deterministic.
    """
    frames, _ = _check_track(frame_indices, np.zeros(np.asarray(frame_indices).shape))
    n = frames.size
    k = min(_check_count("k", k), n)
    lam = _check_real("lam", lam)
    if lam <= 0:
        raise ValueError(f"Invalid lam: {lam!r}. Expected a number > 0.")
    condition_size = _check_positive_int("condition_size", condition_size, 0)
    size = mdp3_segment_size(k) if segment_size is None else _check_positive_int("segment_size", segment_size, 1)
    scales = tuple(_check_real("kernel scale", s) for s in kernel_scales)
    if not scales or min(scales) <= 0:
        raise ValueError(f"Invalid kernel_scales: {kernel_scales!r}. Expected one or more numbers > 0.")
    images, query = _check_features(image_features, query_features, n)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    if k == n:
        return frames.copy()
    quality = (2.0 / lam) * np.log(multi_gaussian_kernel(query[None, :], images, scales)[0])

    best = np.full(k + 1, -np.inf)
    best[0] = 0.0
    last: list[tuple[int, ...]] = [()] * (k + 1)  # the last condition_size selected positions per state
    history = []  # per segment: {state: (previous state, positions chosen in the segment)}
    for start in range(0, n, size):
        cand = np.arange(start, min(start + size, n))
        states = np.flatnonzero(np.isfinite(best))
        conditions = sorted({last[s] for s in states.tolist()})  # states sharing one share a greedy run
        row_of = {c: i for i, c in enumerate(conditions)}
        steps = min(cand.size, k - int(states[0]))
        kernel = _segment_kernel(images, cand, conditions, condition_size, scales)
        picks, gains = _greedy_conditional_dpp(kernel, quality[cand], condition_size, steps)
        # every (state s, t frames here) reaches state s + t; keep the best value per state reached,
        # ties to the smaller s (more frames in this segment)
        t = np.arange(steps + 1)
        value = best[states][:, None] + gains[[row_of[last[s]] for s in states.tolist()]]
        target = states[:, None] + t[None, :]
        origin = np.broadcast_to(states[:, None], target.shape)
        ok = target <= k
        value, target, origin, count = value[ok], target[ok], origin[ok], np.broadcast_to(t, ok.shape)[ok]
        order = np.lexsort((origin, -value, target))
        first = order[np.r_[True, target[order][1:] != target[order][:-1]]]
        best = np.full(k + 1, -np.inf)
        best[target[first]] = value[first]
        step_choice = {}
        new_last = list(last)
        for reached, s, c in zip(target[first].tolist(), origin[first].tolist(), count[first].tolist()):
            chosen = tuple(sorted(cand[picks[row_of[last[s]], :c]].tolist()))
            step_choice[reached] = (s, chosen)
            new_last[reached] = (last[s] + chosen)[-condition_size:] if condition_size else ()
        history.append(step_choice)
        last = new_last
    selected: list[int] = []
    state = k
    for step_choice in reversed(history):
        state, chosen = step_choice[state]
        selected.extend(chosen)
    return np.sort(frames[np.asarray(selected, dtype=np.int64)])


def _segment_kernel(images: np.ndarray, cand: np.ndarray, conditions: list[tuple[int, ...]], n_given: int,
                    scales) -> np.ndarray:
    """float64 (m, n_given + p, n_given + p): kernel over each condition's frames, then the candidates.

    images: unit embeddings (n, D); cand: int (p,) candidate positions; conditions: m tuples of at
    most n_given earlier positions. A shorter condition is padded in front with neutral items
    (similarity 1 to themselves, 0 to everything else), which condition on nothing.
    """
    given = sorted({i for condition in conditions for i in condition})
    items = np.r_[np.asarray(given, dtype=np.int64), cand]
    extended = np.zeros((n_given + items.size, n_given + items.size))
    extended[:n_given, :n_given] = np.eye(n_given)
    extended[n_given:, n_given:] = multi_gaussian_kernel(images[items], images[items], scales)
    slot = {i: n_given + j for j, i in enumerate(given)}
    index = np.empty((len(conditions), n_given + cand.size), dtype=np.int64)
    for row, condition in enumerate(conditions):
        pad = n_given - len(condition)
        index[row, :n_given] = list(range(pad)) + [slot[i] for i in condition]
    index[:, n_given:] = n_given + len(given) + np.arange(cand.size)
    return extended[index[:, :, None], index[:, None, :]]
