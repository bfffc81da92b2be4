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
from fractions import Fraction
from typing import Sequence

import numpy as np

_EPS = 1e-9


def is_real_number(value) -> bool:
    """A finite real number of any numeric type (Python or numpy), bools excluded."""
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, (bool, np.bool_))
        and math.isfinite(value)
    )


# ----------------------------------------------------------------------------------------------
# Timeline, budget and normalisation
# ----------------------------------------------------------------------------------------------
def initial_sample_indices(n_frames: int, fps: float, sample_fps: float = 1.0) -> np.ndarray:
    """Original-frame indices of the initial samples (SPEC.md): sample k sits at round(k * fps / sample_fps).

    Rounded half up; k = 0, 1, ... while the index is < n_frames, so sample k lies within half a frame
    of k / sample_fps seconds whatever the rate (29.97 fps: 0, 30, 60, ..., 1499, ...; a fixed step of
    30 frames would drift 3.6 s per hour). When fps <= sample_fps every frame is a sample.
    Returns int64 (n,) strictly increasing, starting at frame 0; empty when n_frames == 0.
    """
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 0:
        raise ValueError(f"Invalid n_frames: {n_frames!r}. Expected an int >= 0.")
    for name, value in (("fps", fps), ("sample_fps", sample_fps)):
        if not (is_real_number(value) and value > 0):
            raise ValueError(f"Invalid {name}: {value!r}. Expected a finite number > 0.")
    n_frames = int(n_frames)
    period = float(fps) / float(sample_fps)
    if period <= 1.0:
        return np.arange(n_frames, dtype=np.int64)
    k = np.arange(int(math.ceil(n_frames / period)) + 1, dtype=np.float64)
    # the 1e-9 keeps k * period that lands on .5 (up to float error) rounding up, as documented
    indices = np.floor(k * period + 0.5 + _EPS).astype(np.int64)
    return indices[indices < n_frames]


def adaptive_budget(
    n_samples: float,
    max_frames: int = 32,
    min_frames: int = 8,
    budget_ref_s: float = 300.0,
    n_frames: int | None = None,
) -> int:
    """Frame budget B = max(min(floor(max_frames * n / budget_ref_s), max_frames), min_frames).

    n_samples: the video's duration in seconds (the number of 1-FPS samples when it is a whole
    number of seconds; any real >= 0 is accepted). When `n_frames` (the video's frame count) is
    given, B is also capped at it. See `video_budget` for a video given by its frames and fps.
    """
    if not (is_real_number(n_samples) and n_samples >= 0):
        raise ValueError(f"Invalid n_samples: {n_samples!r}. Expected a finite number >= 0 (seconds of video).")
    scaled = math.floor(max_frames * float(n_samples) / budget_ref_s + _EPS)
    budget = max(min(scaled, max_frames), min_frames)
    if n_frames is not None:
        budget = min(budget, int(n_frames))
    return int(budget)


def video_budget(
    n_frames: int, fps: float, max_frames: int = 32, min_frames: int = 8, budget_ref_s: float = 300.0
) -> int:
    """B of SPEC.md Stage 1.1 for a video of `n_frames` frames at `fps`: duration N / fps s, capped at N.

    The duration is the real one whatever the sample rate (a 0.5-fps video of 150 frames lasts 300 s).
    """
    return adaptive_budget(int(n_frames) / float(fps), max_frames, min_frames, budget_ref_s, n_frames=int(n_frames))


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
        """float64 normalised scores in [0, 1]; all zeros when degenerate.

        A failed score (NaN or +-inf raw) stays NaN: callers skip it, it is never a value.
        """
        raw = np.asarray(raw_scores, dtype=np.float64)
        failed = ~np.isfinite(raw)
        if self.degenerate:
            out = np.zeros(raw.shape, dtype=np.float64)
        else:
            with np.errstate(invalid="ignore"):
                out = np.clip((raw - self.low) / (self.high - self.low), 0.0, 1.0)
        return np.where(failed, np.nan, out)


# ----------------------------------------------------------------------------------------------
# Stage 1: threshold, events, event-wise sampling
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThresholdFit:
    """Result of the two-component GMM fit.

    threshold: T = max(means) - gamma * max(stds), NaN when degenerate or failed.
    means / stds: the two components (order as fitted: arbitrary).
    degenerate: fewer than 4 finite scores, or all of them equal.
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
    """Fit a 2-component GaussianMixture to scores (float, shape (n,)) and derive the threshold.

    Failed scores (NaN, +-inf) are left out of the fit; fewer than 4 finite scores, or all equal,
    is degenerate.
    """
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    values = values[np.isfinite(values)]
    nan = float("nan")
    if values.size < 4 or values.max() == values.min():
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
    scores: np.ndarray,
    threshold: float,
    *,
    sample_period_s: float = 1.0,
    merge_gap_s: float = 2.0,
    min_event_s: float = 3.0,
) -> list[tuple[int, int]]:
    """Query-relevant events on sample numbers (SPEC.md Stage 1.4, the paper's Eq. 2).

    scores: float (n,), the normalised scores of the initial samples in time order (NaN = failed
    score, never above the threshold). Runs of consecutive samples with score >= threshold become
    events; with P = sample_period_s a run i..j starts at i*P and ends at j*P. Neighbours merge when
    (i_next - j_prev) * P <= merge_gap_s, then events with (j - i) * P <= min_event_s are dropped
    (both compared with a 1e-9 tolerance). At the defaults, runs split by one low sample merge and
    by two do not, and an event keeps at least 5 samples.
    Returns [(first_sample, last_sample)], inclusive, in time order.
    """
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    with np.errstate(invalid="ignore"):
        above = np.concatenate([[False], values >= threshold, [False]])
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    runs = [[int(i), int(j) - 1] for i, j in zip(edges[0::2], edges[1::2])]
    merged: list[list[int]] = []
    for run in runs:
        if merged and (run[0] - merged[-1][1]) * sample_period_s <= merge_gap_s + _EPS:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    return [(i, j) for i, j in merged if (j - i) * sample_period_s > min_event_s + _EPS]


def _top_by_score(positions: np.ndarray, scores: np.ndarray, count: int) -> np.ndarray:
    """The `count` positions with the highest score (ties: earlier position first), as given order."""
    if count <= 0 or positions.size == 0:
        return positions[:0]
    order = np.lexsort((positions, -scores[positions]))
    return positions[order[:count]]


def allocate_proportional(total: int, weights: Sequence[float], capacities: Sequence[int]) -> list[int]:
    """Share `total` among items in proportion to `weights`, each at least 1 and at most its capacity.

    Water-filling: the quota of item i is clamp(lam * w_i, 1, c_i) with the one lam that makes the
    quotas sum to `total` (so the share an item cannot take goes to the others in proportion, and
    an item raised to 1 is paid for by the others in proportion). Quotas are then rounded by largest
    remainder (ties: earlier item first). Exact rational arithmetic: the shares always sum to
    `total`, each is the floor or the ceiling of its quota. Negative weights count as 0; all-zero
    weights share equally. Requires len(weights) <= total <= sum(capacities), capacities >= 1.
    """
    n = len(weights)
    caps = [int(c) for c in capacities]
    if len(caps) != n:
        raise ValueError(f"Invalid capacities: {len(caps)} values. Expected one per weight ({n}).")
    if n == 0:
        return []
    if not n <= total <= sum(caps) or min(caps) < 1:
        raise ValueError(
            f"Invalid total: {total}. Expected {n} <= total <= {sum(caps)} with every capacity >= 1."
        )
    if not all(is_real_number(w) for w in weights):
        raise ValueError(f"Invalid weights: {list(weights)!r}. Expected finite numbers.")
    w = [Fraction(max(float(x), 0.0)) for x in weights]
    quotas = _water_fill(total, w, caps)
    shares = [math.floor(q) for q in quotas]
    leftover = total - sum(shares)
    by_remainder = sorted(range(n), key=lambda i: (-(quotas[i] - shares[i]), i))
    for i in by_remainder[:leftover]:
        shares[i] += 1
    return shares


def _water_fill(total: int, weights: list[Fraction], caps: list[int]) -> list[Fraction]:
    """Exact quotas clamp(lam * w_i, 1, c_i) that sum to `total` (see allocate_proportional).

    Items of weight 0 stay at 1 unless the others are all full; then they share the rest equally.
    """
    positive = [i for i, w in enumerate(weights) if w > 0]
    zero = [i for i, w in enumerate(weights) if w == 0]
    if not positive:
        return _water_fill(total, [Fraction(1)] * len(weights), caps)
    reachable = sum(caps[i] for i in positive) + len(zero)
    if zero and total > reachable:
        quotas = [Fraction(c) for c in caps]
        rest = _water_fill(total - sum(caps[i] for i in positive), [Fraction(1)] * len(zero), [caps[i] for i in zero])
        for i, q in zip(zero, rest):
            quotas[i] = q
        return quotas

    def quotas_at(lam: Fraction) -> list[Fraction]:
        return [min(max(lam * w, Fraction(1)), Fraction(c)) for w, c in zip(weights, caps)]

    # sum(quotas_at(lam)) is continuous, non-decreasing and piecewise linear in lam, with breakpoints
    # where an item leaves its floor (lam = 1 / w) or reaches its capacity (lam = c / w): find the
    # segment that holds `total` and interpolate on it (exact, since it is linear there).
    low, low_sum = Fraction(0), sum(quotas_at(Fraction(0)))
    if low_sum >= total:
        return quotas_at(low)
    breaks = sorted({1 / weights[i] for i in positive} | {caps[i] / weights[i] for i in positive})
    for high in breaks:
        high_sum = sum(quotas_at(high))
        if high_sum >= total:
            return quotas_at(low + (total - low_sum) * (high - low) / (high_sum - low_sum))
        low, low_sum = high, high_sum
    raise AssertionError("unreachable: total <= the sum of the reachable capacities")


def event_wise_pool(
    sample_idx: np.ndarray,
    scores: np.ndarray,
    events: Sequence[tuple[int, int]],
    pool_size: int,
) -> np.ndarray:
    """The initial candidate pool F (sorted original-frame indices, int64) drawn event by event.

    sample_idx int (n,) the initial samples; scores float (n,) their normalised scores (NaN = failed,
    never drawn); events [(first_sample, last_sample)] inclusive, from `detect_events`.
    K = pool_size samples are shared among events in proportion to their sample count (SPEC.md 1.5).
    """
    sample_idx = np.asarray(sample_idx, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    positions = np.arange(sample_idx.size)
    valid = np.isfinite(scores)
    members = [positions[i : j + 1][valid[i : j + 1]] for i, j in events]
    members = [m for m in members if m.size > 0]
    if not members or pool_size <= 0:
        return top_k_pool(sample_idx, scores, pool_size)
    if len(members) > pool_size:
        means = np.array([scores[m].mean() for m in members])
        keep = np.lexsort((np.arange(means.size), -means))[:pool_size]
        chosen = [_top_by_score(members[k], scores, 1) for k in keep]
    else:
        capacity = sum(m.size for m in members)
        if capacity <= pool_size:
            inside = np.concatenate(members)
            outside = np.setdiff1d(positions[valid], inside)
            chosen = [inside, _top_by_score(outside, scores, pool_size - capacity)]
        else:
            counts = [m.size for m in members]
            shares = allocate_proportional(pool_size, counts, counts)
            chosen = [_top_by_score(m, scores, k) for m, k in zip(members, shares)]
    picked = np.unique(np.concatenate(chosen))
    return np.sort(sample_idx[picked])


def evenly_spaced_pool(sample_idx: np.ndarray, scores: np.ndarray, pool_size: int) -> np.ndarray:
    """Fallback pool without usable scores: pool_size evenly spaced samples, first and last included.

    Drawn from the samples with a finite score when there are any, else from all samples.
    Returns int64 (min(pool_size, available),) sorted frame indices.
    """
    sample_idx = np.asarray(sample_idx, dtype=np.int64)
    valid = np.isfinite(np.asarray(scores, dtype=np.float64))
    available = sample_idx[valid] if valid.any() else sample_idx
    count = min(int(pool_size), available.size)
    if count <= 0:
        return available[:0]
    # count <= available.size: the spacing is >= 1, so rounding keeps the positions distinct
    positions = np.floor(np.linspace(0.0, available.size - 1, count) + 0.5).astype(np.int64)
    return available[positions]


def top_k_pool(sample_idx: np.ndarray, scores: np.ndarray, pool_size: int) -> np.ndarray:
    """Fallback pool: the pool_size highest-scoring samples (ties: earlier), sorted by frame index.

    Samples with a failed score (NaN, +-inf) are never drawn, so the pool may be smaller.
    """
    sample_idx = np.asarray(sample_idx, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    picked = _top_by_score(np.flatnonzero(np.isfinite(scores)), scores, pool_size)
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
    *,
    by_time: bool = False,
) -> list[tuple[int, tuple[int, int]]]:
    """Walk intervals by descending potential and take their pool endpoints not in `excluded`.

    Within one interval the endpoint with the higher score goes first (ties: earlier; a frame
    without a score ranks last). by_time=True (the ranking ablation) ignores the potentials and
    the scores: intervals and endpoints in time order, i.e. the pool frames in time order.
    Returns up to `count` (frame, nominating interval) pairs in the order chosen.
    """
    pool_set = set(int(f) for f in np.asarray(pool).tolist())
    if by_time:
        order = np.arange(len(intervals))
    else:
        order = np.lexsort((np.arange(len(potentials)), -np.asarray(potentials, dtype=np.float64)))
    chosen: list[tuple[int, tuple[int, int]]] = []
    taken: set[int] = set()
    for k in order:
        if len(chosen) >= count:
            break
        a, b = int(intervals[k, 0]), int(intervals[k, 1])
        ends = (a, b) if by_time else sorted((a, b), key=lambda f: (-score_of.get(f, -math.inf), f))
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
    scores, then unparseable (None); each group by descending similarity (ties: earlier frame;
    a similarity of None or NaN, a failed CLIP score, ranks last).
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

    rest = [(f, s, _rank_value(sim)) for f, s, sim in zip(frames, scores, similarity)
            if not (s is not None and s > threshold)]
    rest.sort(key=lambda x: (group(x), -x[2], x[0]))
    return positives, [f for f, _, _ in rest[:missing]]


def _rank_value(score: float | None) -> float:
    """A score as a sort key: a missing or failed score (None, NaN, inf) ranks below every value."""
    return float(score) if score is not None and math.isfinite(score) else -math.inf


def rank_by_score(frames: Sequence[int], score_of: dict[int, float]) -> list[int]:
    """Unique frames by descending score (ties: earlier); frames without a score come last."""
    return sorted({int(f) for f in frames}, key=lambda f: (-_rank_value(score_of.get(f)), f))


def trim_to_budget(frames: Sequence[int], score_of: dict[int, float], budget: int) -> list[int]:
    """Early stop: keep the `budget` frames with the highest score (ties: earlier), sorted by time."""
    ranked = rank_by_score(frames, score_of)
    return sorted(ranked[:budget])


def trim_to_budget_spread(frames: Sequence[int], score_of: dict[int, float], budget: int, min_gap: float) -> list[int]:
    """Early stop, diversity first (opt-in): frames at least `min_gap` apart by descending score, then the rest.

    Both passes walk frames by descending score (ties: earlier); returns `budget` frames sorted by time.
    """
    ranked = rank_by_score(frames, score_of)
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
    """Localized density samples around `anchor`: round(anchor +- alpha * beta**(m-1)), m = 1..depth.

    The sum is rounded, not the offset (Python's round, half to even): alpha 15, beta 1.5 around
    frame 1000 gives 949, 966, 978, 985, 1015, 1022, 1034, 1051. Clipped to [0, n_frames - 1];
    sorted, unique, anchor excluded.
    """
    out: set[int] = set()
    for m in range(1, depth + 1):
        offset = alpha * beta ** (m - 1)
        for f in (round(anchor - offset), round(anchor + offset)):
            out.add(int(min(max(f, 0), n_frames - 1)))
    out.discard(int(anchor))
    return sorted(out)


def pad_selection(
    selected: Sequence[int],
    ranked_extra: Sequence[int],
    budget: int,
    n_frames: int,
    excluded: Sequence[int] = (),
) -> tuple[list[int], int]:
    """Pad `selected` to `budget` frames from `ranked_extra` (best first), then evenly spaced frames.

    The evenly spaced fill takes `excluded` frames (e.g. frames whose CLIP score failed) only when no
    other frame is left. Returns (sorted frames, how many came from the evenly spaced fill).
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
        last = {int(f) for f in excluded}
        evenly = np.linspace(0, n_frames - 1, num=min(budget * 4, n_frames)).round().astype(np.int64).tolist()
        # evenly spaced frames, then (tiny videos) any frame left, then the excluded ones
        order = [f for f in evenly + list(range(n_frames)) if f not in last] + sorted(last)
        for f in order:
            if len(chosen) >= budget:
                break
            if f not in have:
                chosen.append(f)
                have.add(f)
                uniform_added += 1
    return sorted(chosen), uniform_added
