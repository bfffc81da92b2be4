"""AKS-style and MDP3-style selectors (baselines.selectors): hand cases, a slow reference, properties.

The MDP3 reference below is an independent transcription of the method (explicit log-determinants of
the DPP kernel for every greedy step, explicit loops over the states of the dynamic programme), so the
fast version's incremental Cholesky, batching of start states and padding of conditions are checked
against plain linear algebra.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baselines.selectors import (
    AKS_DEFAULT_DEPTH,
    AKS_DEFAULT_RATIO,
    AKS_DEFAULT_T1,
    AKS_DEFAULT_T2,
    MDP3_DEFAULT_CONDITION_SIZE,
    MDP3_DEFAULT_KERNEL_SCALES,
    MDP3_DEFAULT_LAMBDA,
    aks_frames,
    aks_partition,
    mdp3_frames,
    mdp3_segment_size,
    multi_gaussian_kernel,
)


def test_published_defaults():
    # AKS's released frame-selection script: t1 0.8, t2 -100 (off), all_depth 5, ratio 1
    assert (AKS_DEFAULT_T1, AKS_DEFAULT_T2, AKS_DEFAULT_DEPTH, AKS_DEFAULT_RATIO) == (0.8, -100.0, 5, 1)
    # MDP3's released selector: lambda 0.2, Gaussian bandwidths 2^-3 .. 2^1, condition on 1 frame,
    # segments of 32 (128 when more than 32 frames are chosen)
    assert MDP3_DEFAULT_LAMBDA == 0.2 and MDP3_DEFAULT_CONDITION_SIZE == 1
    assert MDP3_DEFAULT_KERNEL_SCALES == tuple(2.0**e for e in range(-3, 2))
    assert (mdp3_segment_size(8), mdp3_segment_size(32), mdp3_segment_size(33)) == (32, 32, 128)


# ---------------------------------------------------------------------------------------------
# AKS
# ---------------------------------------------------------------------------------------------
def test_aks_keeps_a_bin_whose_top_frames_stand_out():
    scores = np.zeros(64)
    scores[[10, 11, 12, 13]] = 1.0  # 4 frames far above the rest: top-4 mean 1, bin mean 1/16
    leaves = aks_partition(scores, 4, t1=0.8)
    assert [(b.start, b.end, b.depth, b.share, b.kept) for b in leaves] == [(0, 64, 0, 4, True)]
    assert aks_frames(np.arange(64) * 30, scores, 4).tolist() == [300, 330, 360, 390]


def test_aks_splits_flat_bins_down_to_one_frame_each():
    # a flat track never stands out: halve until a bin holds one frame (32 = 2^5 -> depth 5)
    leaves = aks_partition(np.zeros(128), 32, t1=0.8, depth=5)
    assert len(leaves) == 32 and {b.share for b in leaves} == {1} and {b.depth for b in leaves} == {5}
    assert [b.start for b in leaves] == list(range(0, 128, 4))
    # each bin takes its first (tied) frame: evenly spread
    assert aks_frames(np.arange(128), np.zeros(128), 32).tolist() == list(range(0, 128, 4))
    # depth limit: at depth 2 four bins hold 8 frames each
    leaves = aks_partition(np.zeros(128), 32, t1=0.8, depth=2)
    assert [(b.start, b.share, b.kept) for b in leaves] == [(0, 8, False), (32, 8, False), (64, 8, False), (96, 8, False)]


def test_aks_odd_share_goes_to_the_half_with_the_higher_mean():
    scores = np.r_[np.zeros(10), np.full(10, 0.5)]
    leaves = aks_partition(scores, 3, t1=0.8, depth=1)
    assert [(b.start, b.end, b.share) for b in leaves] == [(0, 10, 1), (10, 20, 2)]
    leaves = aks_partition(scores[::-1].copy(), 3, t1=0.8, depth=1)
    assert [(b.start, b.end, b.share) for b in leaves] == [(0, 10, 2), (10, 20, 1)]
    leaves = aks_partition(np.zeros(20), 3, t1=0.8, depth=1)  # tie: the earlier half
    assert [b.share for b in leaves] == [2, 1]


def test_aks_t2_and_threshold_change_the_partition():
    scores = np.zeros(64)
    scores[5] = 1.0
    assert len(aks_partition(scores, 1, t1=0.8)) == 1
    # one frame at 1 among 64: top-2 mean 0.5 minus mean 1/64 < 0.8 -> split; t1 = 0.4 keeps it
    assert aks_partition(scores, 2, t1=0.8, depth=0)[0].kept is False
    assert aks_partition(scores, 2, t1=0.4, depth=3)[0].kept is True
    assert aks_partition(scores, 2, t1=0.4, t2=0.5, depth=3)[0].kept is False, "std 0.12 is not above t2 0.5"


def test_aks_ratio_and_shortfall_top_up():
    frames = np.arange(10) * 10
    scores = np.array([0, 9, 1, 8, 2, 7, 3, 6, 4, 5], dtype=float)
    # ratio 2: candidates are positions 0, 2, 4, 6, 8 (5 < 6 requested), then the best of the rest
    out = aks_frames(frames, scores, 6, ratio=2)
    assert out.tolist() == [0, 10, 20, 40, 60, 80]
    # a bin shorter than its share: the budget is still met from the best unselected samples
    out = aks_frames(np.arange(5), [1.0, 0.0, 0.0, 0.0, np.nan], 4, t1=0.1, depth=3)
    assert out.size == 4


@pytest.mark.parametrize("bad", [{"t1": float("nan")}, {"t2": "x"}, {"depth": -1}, {"ratio": 0}, {"depth": 1.5}])
def test_aks_rejects_bad_options(bad):
    with pytest.raises(ValueError, match="Invalid"):
        aks_frames([0, 1, 2], [0.1, 0.2, 0.3], 2, **bad)


# ---------------------------------------------------------------------------------------------
# MDP3
# ---------------------------------------------------------------------------------------------
def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def reference_mdp3(images, query, k, lam, size, condition_size, scales):
    """Positions chosen by MDP3 written out plainly (slow): explicit slogdet per greedy step."""
    images, query = _unit(np.asarray(images, float)), _unit(np.asarray(query, float))
    n = len(images)
    r = multi_gaussian_kernel(query[None], images, scales)[0]
    quality = r ** (1.0 / lam)
    big_l = quality[:, None] * multi_gaussian_kernel(images, images, scales) * quality[None, :]

    def logdet(items):
        if not items:
            return 0.0
        sign, value = np.linalg.slogdet(big_l[np.ix_(items, items)])
        return value if sign > 0 else -math.inf

    dp = {0: (0.0, [])}
    for start in range(0, n, size):
        cand = list(range(start, min(start + size, n)))
        new = {}
        for s in sorted(dp):
            value_s, trace = dp[s]
            given = trace[-condition_size:] if condition_size else []
            base, chosen, total = logdet(given), [], 0.0
            options = [(0.0, [])]
            for _ in range(min(len(cand), k - s)):
                best_gain, best_i = -math.inf, None
                for i in cand:
                    if i in chosen:
                        continue
                    gain = logdet(given + chosen + [i]) - base - total
                    gain = max(gain, -1e300)
                    if gain > best_gain + 1e-9 * max(1.0, abs(best_gain)) or best_i is None:
                        best_gain, best_i = gain, i
                chosen.append(best_i)
                total += best_gain
                options.append((total, sorted(chosen)))
            for t, (gain, picked) in enumerate(options):
                value = value_s + gain
                if s + t not in new or value > new[s + t][0] + 1e-9 * max(1.0, abs(value)):
                    new[s + t] = (value, trace + picked)
        dp = new
    return dp[k][1]


@pytest.mark.parametrize("seed", range(40))
def test_mdp3_matches_the_plain_reference(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(6, 16))
    d = int(rng.integers(3, 9))
    images = rng.normal(size=(n, d))
    query = rng.normal(size=d)
    k = int(rng.integers(1, n))
    size = int(rng.integers(2, 6))
    condition = int(rng.integers(0, 3))
    lam = float(rng.choice([0.2, 1.0, 5.0]))
    scales = (0.25, 1.0)
    expected = reference_mdp3(images, query, k, lam, size, condition, scales)
    frames = np.arange(n) * 7
    out = mdp3_frames(frames, images, query, k, lam=lam, segment_size=size, condition_size=condition,
                      kernel_scales=scales)
    assert out.tolist() == (np.array(sorted(expected)) * 7).tolist(), (seed, n, k, size, condition, lam)


def test_mdp3_relevance_vs_diversity():
    rng = np.random.default_rng(0)
    d = 16
    query = _unit(rng.normal(size=d))
    other = _unit(rng.normal(size=d) - (rng.normal(size=d) @ query) * query)
    relevant = _unit(0.9 * query + 0.44 * other)
    # 6 near-duplicates of a relevant frame, 6 distinct irrelevant frames
    images = np.vstack([relevant + 1e-3 * rng.normal(size=(6, d)), _unit(rng.normal(size=(6, d)))])
    frames = np.arange(12)
    # small lambda: relevance dominates, duplicates of the relevant frame are worth taking
    strong = mdp3_frames(frames, images, query, 3, lam=0.01, segment_size=12)
    assert set(strong.tolist()) <= set(range(6))
    # large lambda: diversity dominates, at most one of the near-duplicates
    diverse = mdp3_frames(frames, images, query, 3, lam=100.0, segment_size=12)
    assert sum(f < 6 for f in diverse.tolist()) <= 1


def test_mdp3_handles_exact_duplicates_and_static_videos():
    images = np.tile(np.eye(4)[0], (40, 1))  # a static video: every embedding equal
    out = mdp3_frames(np.arange(40), images, np.eye(4)[1], 10, segment_size=8)
    assert out.size == 10 and np.all(np.diff(out) > 0)


def test_mdp3_rejects_bad_inputs():
    images, query = np.eye(3), np.ones(3)
    with pytest.raises(ValueError, match=r"Expected \(3, 3\)"):
        mdp3_frames([0, 1, 2], images[:2], query, 1)
    with pytest.raises(ValueError, match="not finite"):
        mdp3_frames([0, 1, 2], np.full((3, 3), np.nan), query, 1)
    with pytest.raises(ValueError, match="Invalid lam"):
        mdp3_frames([0, 1, 2], images, query, 1, lam=0)
    with pytest.raises(ValueError, match="Invalid segment_size"):
        mdp3_frames([0, 1, 2], images, query, 1, segment_size=0)
    with pytest.raises(ValueError, match="Invalid kernel_scales"):
        mdp3_frames([0, 1, 2], images, query, 1, kernel_scales=(1.0, -1.0))
    with pytest.raises(ValueError, match="not strictly increasing"):
        mdp3_frames([0, 2, 1], images, query, 1)


# ---------------------------------------------------------------------------------------------
# Properties shared by both: exact budget, unique sorted sample indices, determinism
# ---------------------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(n=st.integers(0, 90), k=st.integers(0, 40), seed=st.integers(0, 2**31 - 1),
       scale=st.sampled_from([0.0, 1e-9, 1.0, 100.0]), depth=st.integers(0, 6), ratio=st.integers(1, 4),
       t1=st.sampled_from([0.0, 0.3, 0.8, 2.0]))
def test_aks_budget_exact_unique_sorted_deterministic(n, k, seed, scale, depth, ratio, t1):
    rng = np.random.default_rng(seed)
    frames = np.sort(rng.choice(10 * n + 1, size=n, replace=False)).astype(np.int64)
    scores = rng.normal(size=n) * scale
    if n and seed % 7 == 0:
        scores[rng.integers(0, n)] = np.nan
    out = aks_frames(frames, scores, k, t1=t1, depth=depth, ratio=ratio)
    assert out.dtype == np.int64 and out.size == min(k, n)
    assert np.all(np.diff(out) > 0) and np.isin(out, frames).all()
    assert np.array_equal(out, aks_frames(frames, scores, k, t1=t1, depth=depth, ratio=ratio))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 70), k=st.integers(0, 40), seed=st.integers(0, 2**31 - 1), d=st.integers(2, 12),
       size=st.sampled_from([None, 1, 3, 8, 32]), condition=st.integers(0, 2),
       duplicates=st.booleans())
def test_mdp3_budget_exact_unique_sorted_deterministic(n, k, seed, d, size, condition, duplicates):
    rng = np.random.default_rng(seed)
    frames = np.sort(rng.choice(10 * n + 1, size=n, replace=False)).astype(np.int64)
    images = rng.normal(size=(n, d)).astype(np.float32)
    if duplicates and n > 1:
        images[rng.integers(0, n, size=n // 2)] = images[0]
    query = rng.normal(size=d)
    out = mdp3_frames(frames, images, query, k, segment_size=size, condition_size=condition)
    assert out.dtype == np.int64 and out.size == min(k, n)
    assert np.all(np.diff(out) > 0) and np.isin(out, frames).all()
    assert np.array_equal(out, mdp3_frames(frames, images, query, k, segment_size=size, condition_size=condition))
