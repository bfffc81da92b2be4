"""Every formula and decision of SPEC.md as pure functions (numpy and scikit-learn only, no I/O).

Conventions: frames are addressed by their index in the original video (int64), times are seconds
(float64), similarity scores are min-max normalised to [0, 1] unless a name says `raw`.
Ties are always broken towards the earlier frame / event / interval, so every function is
deterministic.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

_EPS = 1e-9


# ----------------------------------------------------------------------------------------------
# Timeline, budget and normalisation
# ----------------------------------------------------------------------------------------------
def initial_sample_indices(n_frames: int, fps: float, sample_fps: float = 1.0) -> np.ndarray:
    """Original-frame indices of the initial samples: every fps / sample_fps frames (rounded half up).

    Returns int64 (n,) starting at frame 0, n = ceil(n_frames / step); empty when n_frames == 0.
    """
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 0:
        raise ValueError(f"Invalid n_frames: {n_frames!r}. Expected an int >= 0.")
    for name, value in (("fps", fps), ("sample_fps", sample_fps)):
        if not (isinstance(value, (int, float, np.number)) and math.isfinite(value) and value > 0):
            raise ValueError(f"Invalid {name}: {value!r}. Expected a finite number > 0.")
    step = max(1, int(math.floor(fps / sample_fps + 0.5)))
    return np.arange(0, int(n_frames), step, dtype=np.int64)


def adaptive_budget(
    n_samples: int,
    max_frames: int = 32,
    min_frames: int = 8,
    budget_ref_s: float = 300.0,
    n_frames: int | None = None,
) -> int:
    """Frame budget B = max(min(floor(max_frames * n / budget_ref_s), max_frames), min_frames).

    n_samples counts 1-FPS samples (so it is the duration in seconds). When `n_frames` (the video's
    frame count) is given, B is also capped at it.
    """
    if n_samples < 0:
        raise ValueError(f"Invalid n_samples: {n_samples}. Expected an int >= 0.")
    scaled = math.floor(max_frames * n_samples / budget_ref_s + _EPS)
    budget = max(min(scaled, max_frames), min_frames)
    if n_frames is not None:
        budget = min(budget, n_frames)
    return int(budget)


def initial_pool_size(budget: int, candidates_per_round: int, n_samples: int) -> int:
    """K = min(2 * max(B, C), n)."""
    return int(min(2 * max(budget, candidates_per_round), n_samples))


@dataclass(frozen=True)
class ScoreMap:
    """The min-max map fixed by the initial samples; later scores use it and are clipped to [0, 1]."""

    low: float
    high: float

    @property
    def degenerate(self) -> bool:
        return not (self.high > self.low)

    @classmethod
    def fit(cls, raw_scores: np.ndarray) -> "ScoreMap":
        raw_scores = np.asarray(raw_scores, dtype=np.float64)
        finite = raw_scores[np.isfinite(raw_scores)]
        if finite.size == 0:
            return cls(0.0, 0.0)
        return cls(float(finite.min()), float(finite.max()))

    def apply(self, raw_scores: np.ndarray) -> np.ndarray:
        """float64 normalised scores; all zeros when degenerate; NaN/inf map to 0."""
        raw = np.asarray(raw_scores, dtype=np.float64)
        if self.degenerate:
            return np.zeros(raw.shape, dtype=np.float64)
        out = (raw - self.low) / (self.high - self.low)
        out = np.where(np.isfinite(out), out, 0.0)
        return np.clip(out, 0.0, 1.0)


# ----------------------------------------------------------------------------------------------
# Stage 1: threshold, events, event-wise sampling
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThresholdFit:
    """Result of the two-component GMM fit.

    threshold: T = max(means) - gamma * max(stds), NaN when degenerate or failed.
    means / stds: the two components (order as fitted: arbitrary).
    degenerate: fewer than 4 scores, or all scores equal.
    failed: the fit raised or did not converge (`error` says why).
    """

    threshold: float
    means: tuple[float, ...]
    stds: tuple[float, ...]
    degenerate: bool
    failed: bool = False
    error: str = ""

    @property
    def usable(self) -> bool:
        return not (self.degenerate or self.failed)


def gmm_threshold(scores: np.ndarray, gamma: float = 0.7, random_state: int = 0) -> ThresholdFit:
    """Fit a 2-component GaussianMixture to scores (float, shape (n,)) and derive the threshold."""
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    nan = float("nan")
    if values.size < 4 or not np.all(np.isfinite(values)) or values.max() == values.min():
        return ThresholdFit(nan, (), (), degenerate=True)
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    from threadpoolctl import threadpool_limits  # ships with scikit-learn

    gmm = GaussianMixture(n_components=2, random_state=random_state)
    try:
        # One BLAS/OpenMP thread: a 1-D fit of a few thousand points is 4-10x faster than with a pool
        # that competes with the decoder and the VLM for the same cores.
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            gmm.fit(values.reshape(-1, 1))
    except Exception as exc:  # sklearn raises ValueError on collapsed components, among others
        return ThresholdFit(nan, (), (), degenerate=False, failed=True, error=f"{type(exc).__name__}: {exc}")
    means = tuple(float(m) for m in gmm.means_.reshape(-1))
    stds = tuple(float(math.sqrt(max(c, 0.0))) for c in gmm.covariances_.reshape(-1))
    if not gmm.converged_:
        return ThresholdFit(nan, means, stds, degenerate=False, failed=True, error="did not converge")
    threshold = max(means) - gamma * max(stds)
    return ThresholdFit(float(threshold), means, stds, degenerate=False)


def detect_events(
    times_s: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    *,
    sample_period_s: float = 1.0,
    merge_gap_s: float = 2.0,
    min_event_s: float = 3.0,
) -> list[tuple[float, float]]:
    """Query-relevant events: runs of consecutive samples with score >= threshold.

    times_s, scores: float (n,), samples in time order. A run of samples i..j covers
    [t_i, t_j + p) with p = sample_period_s. Neighbouring runs whose gap (next start minus previous
    covered end) is <= merge_gap_s are merged, then events shorter than min_event_s are dropped.
    Returns [(start_s, end_s)] with end exclusive.
    """
    times = np.asarray(times_s, dtype=np.float64).reshape(-1)
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    if times.shape != values.shape:
        raise ValueError(f"Invalid scores: shape {values.shape}. Expected the shape of times_s {times.shape}.")
    above = values >= threshold
    runs: list[list[float]] = []
    start = None
    for k in range(times.size):
        if above[k] and start is None:
            start = k
        if start is not None and (not above[k] or k == times.size - 1):
            last = k if above[k] else k - 1
            runs.append([float(times[start]), float(times[last]) + sample_period_s])
            start = None
    merged: list[list[float]] = []
    for run in runs:
        if merged and run[0] - merged[-1][1] <= merge_gap_s + _EPS:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    return [(s, e) for s, e in merged if e - s >= min_event_s - _EPS]


def _top_by_score(positions: np.ndarray, scores: np.ndarray, count: int) -> np.ndarray:
    """The `count` positions with the highest score (ties: earlier position first), as given order."""
    if count <= 0 or positions.size == 0:
        return positions[:0]
    order = np.lexsort((positions, -scores[positions]))
    return positions[order[:count]]


def allocate_proportional(total: int, weights: Sequence[float], capacities: Sequence[int]) -> list[int]:
    """Share `total` among items in proportion to `weights`, each at least 1 and at most its capacity.

    Largest-remainder rounding so the shares sum exactly to `total` (ties: earlier item first).
    Items clamped at 1 or at their capacity are fixed and the rest is shared again the same way.
    Requires len(weights) <= total <= sum(capacities).
    """
    n = len(weights)
    caps = [int(c) for c in capacities]
    if n == 0:
        return []
    if not n <= total <= sum(caps) or min(caps) < 1:
        raise ValueError(
            f"Invalid total: {total}. Expected {n} <= total <= {sum(caps)} with every capacity >= 1."
        )
    w = [max(float(x), 0.0) for x in weights]
    fixed: dict[int, int] = {}
    while True:
        free = [i for i in range(n) if i not in fixed]
        remaining = total - sum(fixed.values())
        weight_sum = sum(w[i] for i in free)
        quota = {
            i: (remaining * w[i] / weight_sum if weight_sum > 0 else remaining / len(free)) for i in free
        }
        low = [i for i in free if quota[i] < 1.0]
        if low:
            fixed.update({i: 1 for i in low})
            continue
        high = [i for i in free if quota[i] > caps[i]]
        if high:
            fixed.update({i: caps[i] for i in high})
            continue
        break
    shares = [0] * n
    for i, v in fixed.items():
        shares[i] = v
    for i in free:
        shares[i] = int(math.floor(quota[i] + _EPS))
    leftover = total - sum(shares)
    by_remainder = sorted(free, key=lambda i: (-(quota[i] - math.floor(quota[i] + _EPS)), i))
    for i in by_remainder:
        if leftover <= 0:
            break
        if shares[i] < caps[i]:
            shares[i] += 1
            leftover -= 1
    return shares


def event_wise_pool(
    sample_idx: np.ndarray,
    times_s: np.ndarray,
    scores: np.ndarray,
    events: Sequence[tuple[float, float]],
    pool_size: int,
) -> np.ndarray:
    """The initial candidate pool F (sorted original-frame indices, int64) drawn event by event.

    sample_idx int (n,), times_s float (n,), scores float (n,) normalised: the initial samples.
    K = pool_size samples are shared among events in proportion to duration (see SPEC.md stage 1.5).
    """
    sample_idx = np.asarray(sample_idx, dtype=np.int64)
    times = np.asarray(times_s, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    positions = np.arange(sample_idx.size)
    members = [positions[(times >= s - _EPS) & (times < e - _EPS)] for s, e in events]
    members_events = [(m, ev) for m, ev in zip(members, events) if m.size > 0]
    chosen: list[np.ndarray] = []
    if not members_events or pool_size <= 0:
        return top_k_pool(sample_idx, scores, pool_size)
    if len(members_events) > pool_size:
        means = np.array([scores[m].mean() for m, _ in members_events])
        keep = np.lexsort((np.arange(means.size), -means))[:pool_size]
        chosen = [_top_by_score(members_events[k][0], scores, 1) for k in keep]
    else:
        capacity = sum(m.size for m, _ in members_events)
        if capacity <= pool_size:
            inside = np.concatenate([m for m, _ in members_events])
            outside = np.setdiff1d(positions, inside)
            chosen = [inside, _top_by_score(outside, scores, pool_size - capacity)]
        else:
            shares = allocate_proportional(
                pool_size, [e - s for _, (s, e) in members_events], [m.size for m, _ in members_events]
            )
            chosen = [_top_by_score(m, scores, k) for (m, _), k in zip(members_events, shares)]
    picked = np.unique(np.concatenate(chosen)) if chosen else positions[:0]
    return np.sort(sample_idx[picked])


def top_k_pool(sample_idx: np.ndarray, scores: np.ndarray, pool_size: int) -> np.ndarray:
    """Fallback pool: the pool_size highest-scoring samples (ties: earlier), sorted by frame index."""
    sample_idx = np.asarray(sample_idx, dtype=np.int64)
    picked = _top_by_score(np.arange(sample_idx.size), np.asarray(scores, dtype=np.float64), pool_size)
    return np.sort(sample_idx[picked])


# ----------------------------------------------------------------------------------------------
# Stage 2: interval potentials, candidates, fallback quota, early stop, LDS
# ----------------------------------------------------------------------------------------------
def interval_potential(values: Sequence[float], length_frames: float, c_len: float = 0.5) -> float:
    """Potential of one interval from the scores inside it (time order) and its length in frames.

    mean(v) * (1 + sum|v[k+1] - v[k]| / length) * (1 + c_len * log10(length)); 0 without scores.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0 or length_frames <= 0:
        return 0.0
    variation = float(np.abs(np.diff(v)).sum()) if v.size > 1 else 0.0
    return float(v.mean() * (1.0 + variation / length_frames) * (1.0 + c_len * math.log10(length_frames)))


def pool_intervals(pool: np.ndarray, n_frames: int) -> np.ndarray:
    """Intervals between consecutive points of [0] + pool + [N-1], zero-length ones dropped.

    Returns int64 (P, 2) of (a, b) with b > a, in time order.
    """
    points = np.unique(np.concatenate([[0], np.asarray(pool, dtype=np.int64), [n_frames - 1]]))
    if points.size < 2:
        return np.zeros((0, 2), dtype=np.int64)
    return np.stack([points[:-1], points[1:]], axis=1)


def interval_potentials(
    intervals: np.ndarray, scored_idx: np.ndarray, scored_values: np.ndarray, c_len: float = 0.5
) -> np.ndarray:
    """Vectorised `interval_potential` for many intervals.

    intervals int (P, 2); scored_idx int (M,) sorted unique frame indices with a score;
    scored_values float (M,) their normalised scores. Returns float64 (P,).
    """
    intervals = np.asarray(intervals, dtype=np.int64).reshape(-1, 2)
    idx = np.asarray(scored_idx, dtype=np.int64)
    vals = np.asarray(scored_values, dtype=np.float64)
    if intervals.shape[0] == 0:
        return np.zeros(0)
    lo = np.searchsorted(idx, intervals[:, 0], side="left")
    hi = np.searchsorted(idx, intervals[:, 1], side="right")
    count = hi - lo
    csum = np.concatenate([[0.0], np.cumsum(vals)])
    jumps = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(vals)))]) if vals.size else np.zeros(1)
    # sum of |diff| over positions lo..hi-1 = jumps[hi-1] - jumps[lo] (when count >= 1)
    length = (intervals[:, 1] - intervals[:, 0]).astype(np.float64)
    safe_count = np.maximum(count, 1)
    mean = (csum[hi] - csum[lo]) / safe_count
    variation = np.where(count > 1, jumps[np.maximum(hi - 1, 0)] - jumps[np.minimum(lo, jumps.size - 1)], 0.0)
    potential = mean * (1.0 + variation / length) * (1.0 + c_len * np.log10(length))
    return np.where(count > 0, potential, 0.0)


def choose_candidates(
    intervals: np.ndarray,
    potentials: np.ndarray,
    pool: np.ndarray,
    excluded: set[int],
    score_of: dict[int, float],
    count: int,
) -> list[tuple[int, tuple[int, int]]]:
    """Walk intervals by descending potential and take their pool endpoints not in `excluded`.

    Within one interval the endpoint with the higher score goes first (ties: earlier).
    Returns up to `count` (frame, nominating interval) pairs in the order chosen.
    """
    pool_set = set(int(f) for f in np.asarray(pool).tolist())
    order = np.lexsort((np.arange(len(potentials)), -np.asarray(potentials, dtype=np.float64)))
    chosen: list[tuple[int, tuple[int, int]]] = []
    taken: set[int] = set()
    for k in order:
        if len(chosen) >= count:
            break
        a, b = int(intervals[k, 0]), int(intervals[k, 1])
        ends = sorted((a, b), key=lambda f: (-score_of.get(f, 0.0), f))
        for f in ends:
            if len(chosen) >= count:
                break
            if f in pool_set and f not in excluded and f not in taken:
                chosen.append((f, (a, b)))
                taken.add(f)
    return chosen


def fallback_quota(budget: int, max_rounds: int) -> int:
    """q = max(1, floor(B / I_max)): the anchors each round must contribute."""
    return max(1, budget // max_rounds)


def positives_and_top_up(
    frames: Sequence[int],
    scores: Sequence[int | None],
    similarity: Sequence[float],
    threshold: int,
    quota: int,
) -> tuple[list[int], list[int]]:
    """Split a round's analysed candidates into positives (score > threshold) and the top-up.

    The top-up brings the anchors to `quota` from the rest: score == threshold first, then lower
    scores, then unparseable (None); each group by descending similarity (ties: earlier frame).
    """
    positives = [f for f, s in zip(frames, scores) if s is not None and s > threshold]
    missing = quota - len(positives)
    if missing <= 0:
        return positives, []

    def group(f_s_sim):
        _, score, _ = f_s_sim
        if score is None:
            return 2
        return 0 if score == threshold else 1

    rest = [(f, s, sim) for f, s, sim in zip(frames, scores, similarity) if not (s is not None and s > threshold)]
    rest.sort(key=lambda x: (group(x), -x[2], x[0]))
    return positives, [f for f, _, _ in rest[:missing]]


def trim_to_budget(frames: Sequence[int], score_of: dict[int, float], budget: int) -> list[int]:
    """Early stop: keep the `budget` frames with the highest score (ties: earlier), sorted by time."""
    ranked = sorted(set(frames), key=lambda f: (-score_of.get(f, 0.0), f))
    return sorted(ranked[:budget])


def trim_to_budget_spread(frames: Sequence[int], score_of: dict[int, float], budget: int, min_gap: float) -> list[int]:
    """Early stop, diversity first (opt-in): frames at least `min_gap` apart by descending score, then the rest.

    Both passes walk frames by descending score (ties: earlier); returns `budget` frames sorted by time.
    """
    ranked = sorted(set(frames), key=lambda f: (-score_of.get(f, 0.0), f))
    kept: list[int] = []
    for f in ranked:
        if len(kept) >= budget:
            break
        if all(abs(f - g) >= min_gap for g in kept):
            kept.append(f)
    taken = set(kept)
    for f in ranked:
        if len(kept) >= budget:
            break
        if f not in taken:
            kept.append(f)
    return sorted(kept)


def lds_depth(budget: int, n_final: int, n_anchors: int, max_depth: int = 4) -> int:
    """D = clamp(ceil((B - |F_final|) / (2 * #anchors)), 1, max_depth)."""
    if n_anchors <= 0:
        return 1
    depth = math.ceil((budget - n_final) / (2 * n_anchors))
    return int(min(max(depth, 1), max_depth))


def lds_alpha(interval_length_frames: float, alpha_frac: float, alpha_min_frames: float) -> float:
    """alpha = max(alpha_frac * (b - a), alpha_min), in frames."""
    return max(alpha_frac * float(interval_length_frames), float(alpha_min_frames))


def lds_frames(anchor: int, *, alpha: float, beta: float, depth: int, n_frames: int) -> list[int]:
    """Localized density samples around `anchor`: anchor +- round(alpha * beta**(m-1)), m = 1..depth.

    The offsets are rounded half to even (Python's round), so alpha 15, beta 1.5 gives offsets
    15, 22, 34, 51. Clipped to [0, n_frames - 1]; sorted, unique, anchor excluded.
    """
    out: set[int] = set()
    for m in range(1, depth + 1):
        offset = int(round(alpha * beta ** (m - 1)))
        for f in (anchor - offset, anchor + offset):
            out.add(int(min(max(f, 0), n_frames - 1)))
    out.discard(int(anchor))
    return sorted(out)


def pad_selection(
    selected: Sequence[int],
    ranked_extra: Sequence[int],
    budget: int,
    n_frames: int,
) -> tuple[list[int], int]:
    """Pad `selected` to `budget` frames from `ranked_extra` (best first), then evenly spaced frames.

    Returns (sorted frames, how many came from the evenly spaced fill).
    """
    chosen = list(dict.fromkeys(int(f) for f in selected))
    have = set(chosen)
    for f in ranked_extra:
        if len(chosen) >= budget:
            break
        if int(f) not in have:
            chosen.append(int(f))
            have.add(int(f))
    uniform_added = 0
    if len(chosen) < budget:
        for f in np.linspace(0, n_frames - 1, num=min(budget * 4, n_frames)).round().astype(np.int64):
            if len(chosen) >= budget:
                break
            if int(f) not in have:
                chosen.append(int(f))
                have.add(int(f))
                uniform_added += 1
        for f in range(n_frames):  # tiny videos: any frame left
            if len(chosen) >= budget:
                break
            if f not in have:
                chosen.append(f)
                have.add(f)
                uniform_added += 1
    return sorted(chosen), uniform_added
