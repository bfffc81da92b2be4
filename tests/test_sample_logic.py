"""Hand-computed cases for every formula of SPEC.md (air/Process_Utils/sample_logic.py)."""

import math

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from air.Process_Utils import sample_logic as sl


@pytest.mark.parametrize(
    "n, expected",
    [(30, 8), (60, 8), (75, 8), (76, 8), (90, 9), (150, 16), (299, 31), (300, 32), (301, 32), (3600, 32), (0, 8)],
)
def test_adaptive_budget_paper_formula(n, expected):
    assert sl.adaptive_budget(n) == expected


def test_video_budget_uses_the_duration_in_seconds():
    # 8991 frames at 29.97 fps last exactly 300 s (B = 32) though only ceil(8991 / 30) = 300 samples
    assert sl.video_budget(8991, 29.97) == 32
    assert sl.video_budget(8990, 29.97) == 31  # 299.97 s
    # fps below the sample rate: every frame is a sample, but 150 frames at 0.5 fps last 300 s
    assert sl.initial_sample_indices(150, 0.5).size == 150
    assert sl.video_budget(150, 0.5) == 32
    assert sl.video_budget(20, 0.1) == 20  # 200 s: floor(21.3) = 21, capped at N = 20
    assert sl.video_budget(60, 0.5) == 12  # 120 s: floor(12.8); from the 60 samples it would be 8
    assert sl.video_budget(900, 30.0) == 8  # 30 s: min_frames
    assert sl.video_budget(5, 30.0) == 5  # min_frames 8 capped at N
    assert sl.video_budget(np.int64(9000), np.float32(30.0)) == 32
    assert sl.adaptive_budget(299.97) == 31 and sl.adaptive_budget(300.0) == 32
    with pytest.raises(ValueError, match="Invalid n_samples"):
        sl.adaptive_budget(float("nan"))


def test_adaptive_budget_capped_at_frame_count_and_vila_preset():
    assert sl.adaptive_budget(3, n_frames=5) == 5
    assert sl.adaptive_budget(1, n_frames=1) == 1
    assert sl.adaptive_budget(600, max_frames=8, min_frames=8) == 8
    assert sl.adaptive_budget(150, max_frames=16) == 8  # floor(16 * 150 / 300) = 8


def test_initial_samples_use_real_fps():
    assert sl.initial_sample_indices(100, 30.0).tolist() == [0, 30, 60, 90]
    assert sl.initial_sample_indices(100, 29.97).tolist() == [0, 30, 60, 90]
    # round(k * fps): at 29.97 fps sample 50 is frame 1499 (49.98 s), not 1500 (a fixed 30-frame step)
    drift_free = sl.initial_sample_indices(30000, 29.97)
    assert drift_free[50] == 1499 and drift_free[1000] == 29970
    assert np.all(np.abs(drift_free / 29.97 - np.arange(drift_free.size)) <= 0.5 / 29.97 + 1e-9)
    assert sl.initial_sample_indices(50, 24.0).tolist() == [0, 24, 48]
    assert sl.initial_sample_indices(10, 0.5).tolist() == list(range(10))  # fps below sample rate
    assert sl.initial_sample_indices(61, 30.0, sample_fps=2.0).tolist() == [0, 15, 30, 45, 60]
    assert sl.initial_sample_indices(100, 25.0, sample_fps=2.0).tolist() == [0, 13, 25, 38, 50, 63, 75, 88]  # k * 12.5, half up
    assert sl.initial_sample_indices(0, 30.0).tolist() == []
    with pytest.raises(ValueError, match="Invalid fps"):
        sl.initial_sample_indices(10, 0.0)
    with pytest.raises(ValueError, match="Invalid n_frames"):
        sl.initial_sample_indices(-1, 30.0)


def test_initial_pool_size():
    assert sl.initial_pool_size(8, 12, 100) == 24
    assert sl.initial_pool_size(32, 12, 3600) == 64
    assert sl.initial_pool_size(32, 12, 40) == 40


def test_score_map_normalises_and_clips_later_scores():
    m = sl.ScoreMap.fit(np.array([0.1, 0.3, 0.2]))
    assert np.allclose(m.apply(np.array([0.1, 0.2, 0.3])), [0.0, 0.5, 1.0])
    assert np.allclose(m.apply(np.array([0.0, 0.5])), [0.0, 1.0])
    flat = sl.ScoreMap.fit(np.array([0.2, 0.2]))
    assert flat.degenerate and flat.apply(np.array([0.2, 0.9])).tolist() == [0.0, 0.0]


def _bimodal(seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0.2, 0.05, 150), rng.normal(0.8, 0.08, 50)])


def test_gmm_threshold_matches_independent_fit():
    scores = _bimodal()
    fit = sl.gmm_threshold(scores, gamma=0.7, random_state=0)
    ref = GaussianMixture(n_components=2, random_state=0).fit(scores.reshape(-1, 1))
    mu = ref.means_.ravel()
    sd = np.sqrt(ref.covariances_.ravel())
    assert fit.usable
    assert fit.threshold == pytest.approx(mu.max() - 0.7 * sd.max(), abs=1e-12)
    assert sorted(fit.means) == pytest.approx(sorted(mu))
    # the high component is found whatever order sklearn returns
    assert max(fit.means) == pytest.approx(0.8, abs=0.03)


def test_gmm_threshold_gamma_moves_threshold_down():
    scores = _bimodal(1)
    assert sl.gmm_threshold(scores, gamma=0.9).threshold < sl.gmm_threshold(scores, gamma=0.3).threshold


def test_gmm_threshold_degenerate_inputs():
    assert sl.gmm_threshold(np.array([0.1, 0.5, 0.9])).degenerate
    assert sl.gmm_threshold(np.full(20, 0.4)).degenerate
    assert math.isnan(sl.gmm_threshold(np.full(20, 0.4)).threshold)


def _events(mask, **kw):
    return sl.detect_events(np.array(mask, dtype=float), 0.5, **kw)


def _runs(*lengths_and_gaps):
    """A 0/1 mask from alternating run lengths and gap lengths, with 2 low samples at each end."""
    mask = [0, 0]
    for k, length in enumerate(lengths_and_gaps):
        mask += [1 - k % 2] * length
    return mask + [0, 0]


def test_events_are_sample_numbers_first_and_last_inclusive():
    assert _events([0, 0, 1, 1, 1, 1, 1, 0, 0, 0]) == [(2, 6)]
    assert _events([0, 0, 0, 0, 1, 1, 1, 1, 1, 1]) == [(4, 9)]  # run reaching the last sample
    assert _events([1, 1, 1, 1, 1, 1]) == [(0, 5)]
    assert _events([0, 0, 0]) == [] and _events([]) == []


def test_eq2_merge_one_low_sample_yes_two_no():
    # (i_next - j_prev) * P <= 2 s: one low sample between runs -> difference 2 -> merged
    assert _events(_runs(3, 1, 3)) == [(2, 8)]
    # two low samples -> difference 3 -> apart; each 3-sample run then lasts 2 s <= 3 s: dropped
    assert _events(_runs(3, 2, 3)) == []
    assert _events(_runs(5, 2, 5)) == [(2, 6), (9, 13)]


def test_eq2_prune_four_samples_dropped_five_kept():
    assert _events(_runs(4)) == []  # (j - i) * P = 3 s <= l_min: dropped
    assert _events(_runs(5)) == [(2, 6)]  # 4 s > 3 s: kept
    assert _events(_runs(1)) == []  # a one-sample run has length 0


def test_eq2_merge_before_prune():
    # two 2-sample runs split by one low sample merge into 5 samples: 4 s, kept
    assert _events(_runs(2, 1, 2)) == [(2, 6)]
    # chains of single low samples merge into one event
    assert _events(_runs(1, 1, 1, 1, 1)) == [(2, 6)]


def test_eq2_thresholds_with_other_periods_and_tolerance():
    # sample_fps 3 (P = 1/3 s): 7 low samples between runs -> 8 * P = 2.67 s: apart; 5 -> 2.0 s: merged
    assert _events(_runs(11, 7, 11), sample_period_s=1 / 3) == [(2, 12), (20, 30)]
    assert _events(_runs(10, 5, 10), sample_period_s=1 / 3) == [(2, 26)]
    assert _events(_runs(10), sample_period_s=1 / 3) == []  # 9 * P = 3 s: dropped
    assert _events(_runs(11), sample_period_s=1 / 3) == [(2, 12)]
    # P = 0.5 s: merge across up to 3 low samples (4 * 0.5 = 2.0), keep 8 samples (3.5 s)
    assert _events(_runs(8, 3, 8), sample_period_s=0.5) == [(2, 20)]
    assert _events(_runs(7), sample_period_s=0.5) == []
    # tolerance 1e-9: 30 * P within it of l_min counts as equal (dropped); 3e-8 s above does not
    assert _events(_runs(31), sample_period_s=0.1 + 1e-12) == []
    assert _events(_runs(31), sample_period_s=0.1 + 1e-9) == [(2, 32)]
    assert _events(_runs(5, 19, 5), sample_period_s=0.1 + 1e-12, min_event_s=0.1) == [(2, 30)]
    assert len(_events(_runs(5, 19, 5), sample_period_s=0.1 + 1e-9, min_event_s=0.1)) == 2


def test_events_use_the_threshold_inclusively_and_skip_failed_scores():
    scores = np.array([0.1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.1])
    assert sl.detect_events(scores, 0.5) == [(1, 5)]
    # a failed (NaN) score is never above the threshold: it splits a run like a low sample
    scores[3] = np.nan
    assert sl.detect_events(scores, 0.5) == [(1, 5)]  # split by one sample: merged again
    scores[2] = np.nan
    assert sl.detect_events(scores, 0.5) == []  # split by two: 1 and 4..5 are too short


@pytest.mark.parametrize("merge_gap_s, min_event_s", [(2.0, 3.0), (1.0, 2.25), (3.0, 4.5)])
def test_events_match_an_independent_reading_of_eq2(merge_gap_s, min_event_s):
    """Random masks against a direct transcription of Eq. 2 on run lists."""
    rng = np.random.default_rng(7)
    for _ in range(300):
        mask = (rng.random(rng.integers(0, 60)) < rng.uniform(0.2, 0.8)).astype(float)
        runs, k = [], 0
        while k < mask.size:
            if mask[k]:
                j = k
                while j + 1 < mask.size and mask[j + 1]:
                    j += 1
                runs.append([k, j])
                k = j + 1
            else:
                k += 1
        events = []
        for i, j in runs:
            if events and i - events[-1][1] <= merge_gap_s + 1e-9:
                events[-1][1] = j
            else:
                events.append([i, j])
        expected = [(i, j) for i, j in events if j - i > min_event_s + 1e-9]
        assert sl.detect_events(mask, 0.5, merge_gap_s=merge_gap_s, min_event_s=min_event_s) == expected


def test_allocate_proportional_largest_remainder():
    assert sl.allocate_proportional(10, [5, 3, 2], [100, 100, 100]) == [5, 3, 2]
    # quotas 3.33 / 3.33 / 3.33 -> the earlier event gets the extra frame
    assert sl.allocate_proportional(10, [1, 1, 1], [100, 100, 100]) == [4, 3, 3]
    # each event gets at least one
    assert sl.allocate_proportional(5, [100, 1, 1], [100, 100, 100]) == [3, 1, 1]


def test_allocate_proportional_capacity_overflow_goes_to_others():
    # first event can hold only 2; the other 8 go to the rest in proportion (1:1)
    assert sl.allocate_proportional(10, [8, 1, 1], [2, 100, 100]) == [2, 4, 4]
    assert sum(sl.allocate_proportional(17, [3, 9, 1, 4], [5, 6, 2, 9])) == 17


def test_allocate_proportional_rejects_impossible_totals():
    with pytest.raises(ValueError, match="Invalid total"):
        sl.allocate_proportional(2, [1, 1, 1], [5, 5, 5])
    with pytest.raises(ValueError, match="Invalid total"):
        sl.allocate_proportional(20, [1, 1], [5, 5])
    with pytest.raises(ValueError, match="Invalid weights"):
        sl.allocate_proportional(4, [1, float("nan")], [5, 5])


def test_allocate_proportional_exact_when_a_capped_item_frees_frames_for_a_small_one():
    # the share the first two cannot hold goes to the third, which first sat at its minimum of 1
    shares = sl.allocate_proportional(45, [47.17, 45.10, 1.23], [18, 23, 18])
    assert shares == [18, 23, 4] and sum(shares) == 45
    assert sl.allocate_proportional(10, [1, 0], [5, 5]) == [5, 5]  # a zero weight still takes the rest
    assert sl.allocate_proportional(6, [0, 0, 0], [5, 5, 5]) == [2, 2, 2]
    assert sl.allocate_proportional(3, [5, 1, 1], [1, 9, 9]) == [1, 1, 1]


def _reference_quotas(total, weights, caps):
    """Water-filling quotas by float bisection on lam: an independent way to the same quotas."""
    w = np.maximum(np.asarray(weights, float), 0.0)
    caps = np.asarray(caps, float)
    if not w.any():
        w = np.ones_like(w)
    positive = w > 0
    if total > caps[positive].sum() + (~positive).sum():  # zero weights take what the others cannot
        rest = _reference_quotas(total - caps[positive].sum(), np.ones((~positive).sum()), caps[~positive])
        out = caps.copy()
        out[~positive] = rest
        return out
    lo, hi = 0.0, float((caps[positive] / w[positive]).max()) + 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if np.clip(mid * w, 1.0, caps).sum() < total:
            lo = mid
        else:
            hi = mid
    return np.clip(hi * w, 1.0, caps)


def test_allocate_proportional_against_independent_reference():
    rng = np.random.default_rng(11)
    for case in range(3000):
        n = int(rng.integers(1, 12))
        caps = rng.integers(1, 30, n).tolist()
        total = int(rng.integers(n, sum(caps) + 1))
        kind = case % 3
        weights = (rng.integers(1, 40, n).astype(float) if kind == 0       # sample counts
                   else rng.uniform(0, 50, n).round(2) if kind == 1          # durations
                   else rng.choice([0.0, 0.5, 3.0, 40.0], n))               # zeros and ties
        shares = sl.allocate_proportional(total, weights.tolist(), caps)
        assert sum(shares) == total, (total, weights, caps, shares)
        assert all(1 <= k <= c for k, c in zip(shares, caps))
        quotas = _reference_quotas(total, weights, caps)
        # each share is its quota rounded down or up, and the rounded-up ones have the largest remainders
        assert np.all(np.abs(np.asarray(shares) - quotas) < 1 + 1e-6), (total, weights, caps, shares, quotas)
        up = [q - math.floor(q + 1e-9) for k, q in zip(shares, quotas) if k > math.floor(q + 1e-9)]
        down = [q - math.floor(q + 1e-9) for k, q in zip(shares, quotas) if k <= math.floor(q + 1e-9) and k < q - 1e-9]
        if up and down:
            assert min(up) >= max(down) - 1e-6


def test_allocate_proportional_brute_force_small_cases():
    """Every integer split for small cases: ours is the one closest to the quotas (sum of |share - quota|)."""
    import itertools

    rng = np.random.default_rng(5)
    for _ in range(300):
        n = int(rng.integers(1, 4))
        caps = rng.integers(1, 7, n).tolist()
        total = int(rng.integers(n, sum(caps) + 1))
        weights = rng.integers(1, 10, n).astype(float)
        quotas = _reference_quotas(total, weights, caps)
        splits = [c for c in itertools.product(*[range(1, k + 1) for k in caps]) if sum(c) == total]
        best = min(float(np.abs(np.asarray(c) - quotas).sum()) for c in splits)
        ours = sl.allocate_proportional(total, weights.tolist(), caps)
        assert float(np.abs(np.asarray(ours) - quotas).sum()) <= best + 1e-6


def test_event_wise_pool_shares_by_sample_count_and_takes_best_samples():
    idx = np.arange(0, 40) * 30  # 40 samples at 30 fps
    scores = np.linspace(0, 1, 40)[::-1].copy()  # decreasing: ties impossible
    events = [(0, 9), (20, 24)]  # 10 samples and 5 samples
    pool = sl.event_wise_pool(idx, scores, events, 6)
    # 6 shared 4 : 2, highest scores inside each event = earliest samples here
    assert pool.tolist() == [0, 30, 60, 90, 600, 630]


def test_event_wise_pool_more_events_than_pool_keeps_best_mean():
    idx = np.arange(20)
    scores = np.zeros(20)
    scores[[1, 5, 9, 13]] = [0.6, 0.9, 0.7, 0.8]
    events = [(1, 1), (5, 5), (9, 9), (13, 13)]
    assert sl.event_wise_pool(idx, scores, events, 2).tolist() == [5, 13]


def test_event_wise_pool_fills_from_outside_when_events_are_small():
    idx = np.arange(10)
    scores = np.array([0.9, 0.1, 0.5, 0.5, 0.2, 0.3, 0.8, 0.0, 0.0, 0.0])
    pool = sl.event_wise_pool(idx, scores, [(4, 5)], 5)  # event holds samples 4, 5
    # all of the event, then best outside: 0 (0.9), 6 (0.8), 2 (0.5, earlier than 3)
    assert pool.tolist() == [0, 2, 4, 5, 6]


def test_event_wise_pool_never_draws_failed_scores():
    idx = np.arange(12) * 10
    scores = np.array([0.1, 0.9, np.nan, 0.8, 0.7, 0.6, 0.2, np.nan, 0.3, 0.1, 0.0, np.inf])
    pool = sl.event_wise_pool(idx, scores, [(1, 5)], 6)  # 4 finite samples inside
    assert pool.tolist() == [10, 30, 40, 50, 60, 80]  # then the best two outside (0.3, 0.2)
    assert sl.top_k_pool(idx, scores, 20).size == 9


def test_evenly_spaced_pool_spreads_over_the_whole_video():
    idx = np.arange(100) * 30
    pool = sl.evenly_spaced_pool(idx, np.full(100, 0.5), 24)
    assert pool.size == 24 and pool[0] == 0 and pool[-1] == 99 * 30
    gaps = np.diff(pool // 30)
    assert gaps.min() >= 4 and gaps.max() <= 5
    assert sl.evenly_spaced_pool(idx[:5], np.zeros(5), 24).tolist() == idx[:5].tolist()
    # failed scores are left out while any sample has one; without any finite score all samples count
    scores = np.full(10, np.nan)
    scores[[2, 5, 9]] = 0.3
    assert sl.evenly_spaced_pool(np.arange(10), scores, 2).tolist() == [2, 9]
    assert sl.evenly_spaced_pool(np.arange(10), np.full(10, np.nan), 3).tolist() == [0, 5, 9]
    assert sl.evenly_spaced_pool(np.arange(0), np.zeros(0), 3).size == 0


def test_top_k_pool_ties_prefer_earlier():
    assert sl.top_k_pool(np.array([0, 10, 20, 30]), np.array([0.5, 0.9, 0.5, 0.5]), 2).tolist() == [0, 10]


def test_interval_potential_formula():
    v = [0.2, 0.6, 0.4]
    expected = np.mean(v) * (1 + (0.4 + 0.2) / 100) * (1 + 0.5 * math.log10(100))
    assert sl.interval_potential(v, 100) == pytest.approx(expected)
    assert sl.interval_potential([], 50) == 0.0
    assert sl.interval_potential([0.7], 10, c_len=0.0) == pytest.approx(0.7)


def test_vectorised_potentials_match_scalar():
    rng = np.random.default_rng(3)
    idx = np.unique(rng.integers(0, 5000, 300))
    vals = rng.random(idx.size)
    pool = np.sort(rng.choice(idx, 40, replace=False))
    intervals = sl.pool_intervals(pool, 5000)
    vec = sl.interval_potentials(intervals, idx, vals, 0.5)
    for (a, b), p in zip(intervals, vec):
        inside = vals[(idx >= a) & (idx <= b)]
        assert p == pytest.approx(sl.interval_potential(inside, b - a, 0.5), rel=1e-9, abs=1e-12)


def test_pool_intervals_use_video_ends_and_drop_empty():
    assert sl.pool_intervals(np.array([0, 50, 99]), 100).tolist() == [[0, 50], [50, 99]]
    assert sl.pool_intervals(np.array([10, 20]), 100).tolist() == [[0, 10], [10, 20], [20, 99]]


def test_choose_candidates_only_pool_frames_by_potential():
    intervals = np.array([[0, 10], [10, 20], [20, 99]])
    potentials = np.array([0.1, 0.9, 0.5])
    score_of = {10: 0.2, 20: 0.8}
    chosen = sl.choose_candidates(intervals, potentials, np.array([10, 20]), set(), score_of, 12)
    # best interval (10, 20): higher-S endpoint 20 first; 0 and 99 are not pool frames
    assert chosen == [(20, (10, 20)), (10, (10, 20))]
    assert sl.choose_candidates(intervals, potentials, np.array([10, 20]), {20}, score_of, 1) == [(10, (10, 20))]


def test_fallback_quota():
    assert sl.fallback_quota(32, 6) == 5
    assert sl.fallback_quota(8, 6) == 1
    assert sl.fallback_quota(3, 6) == 1


def test_top_up_order_threshold_then_lower_then_unparseable():
    frames = [1, 2, 3, 4, 5, 6]
    scores = [None, 2, 3, 1, 3, 5]
    sims = [0.9, 0.8, 0.1, 0.95, 0.5, 0.0]
    pos, top = sl.positives_and_top_up(frames, scores, sims, threshold=3, quota=5)
    assert pos == [6]
    assert top == [5, 3, 4, 2]  # score 3 by S (0.5, 0.1), then lower by S (0.95, 0.8)
    pos, top = sl.positives_and_top_up(frames, scores, sims, threshold=3, quota=6)
    assert top[-1] == 1  # unparseable last
    assert sl.positives_and_top_up([1, 2], [4, 5], [0, 0], 3, 1) == ([1, 2], [])


def test_trim_to_budget_keeps_highest_similarity():
    score_of = {1: 0.5, 2: 0.9, 3: 0.5, 4: 0.1}
    assert sl.trim_to_budget([4, 3, 2, 1], score_of, 2) == [1, 2]


def test_lds_rounds_the_sum_not_the_offset():
    # offsets 15, 22.5, 33.75, 50.625: the sums are rounded (half to even) -> 977.5 -> 978, 1022.5 -> 1022
    assert sl.lds_frames(1000, alpha=15, beta=1.5, depth=4, n_frames=5000) == [
        949, 966, 978, 985, 1015, 1022, 1034, 1051]
    # only at halves do the two readings differ: 7 +- 2.5 -> 4.5, 9.5 -> [4, 10]; 7 +- round(2.5) would be [5, 9]
    assert sl.lds_frames(7, alpha=2.5, beta=1.0, depth=1, n_frames=100) == [4, 10]
    assert sl.lds_frames(8, alpha=2.5, beta=1.0, depth=1, n_frames=100) == [6, 10]  # 5.5 -> 6, 10.5 -> 10


def test_lds_offsets_and_clipping():
    assert sl.lds_frames(10, alpha=15, beta=1.5, depth=2, n_frames=5000) == [0, 25, 32]
    assert sl.lds_frames(95, alpha=15, beta=1.5, depth=2, n_frames=100) == [72, 80, 99]  # 72.5 -> 72
    assert sl.lds_frames(0, alpha=15, beta=1.5, depth=1, n_frames=1) == []


def test_lds_depth_and_alpha():
    assert sl.lds_depth(32, 5, 5, 4) == 3  # ceil(27 / 10)
    assert sl.lds_depth(32, 0, 1, 4) == 4
    assert sl.lds_depth(8, 8, 2, 4) == 1
    assert sl.lds_alpha(1000, 0.05, 15) == 50
    assert sl.lds_alpha(100, 0.05, 15) == 15


def test_pad_selection_uses_ranked_then_uniform():
    frames, uniform = sl.pad_selection([5], [7, 5, 9], 3, 100)
    assert frames == [5, 7, 9] and uniform == 0
    frames, uniform = sl.pad_selection([5], [], 4, 10)
    assert len(frames) == 4 and uniform == 3 and len(set(frames)) == 4
    frames, uniform = sl.pad_selection([5], [], 4, 10, excluded=[0, 9])
    assert 0 not in frames and 9 not in frames and len(frames) == 4 and uniform == 3
    frames, _ = sl.pad_selection([], [], 3, 4, excluded=[0, 1])
    assert frames == [0, 2, 3]  # an excluded frame only when nothing else is left


def test_trim_to_budget_spread_prefers_distinct_seconds():
    score_of = {100: 0.9, 101: 0.95, 102: 0.85, 400: 0.5, 700: 0.4}
    # gap 30 frames: 101 first, 100/102 too close, then 400, 700; budget 4 fills with 100 by score
    assert sl.trim_to_budget_spread(list(score_of), score_of, 3, 30) == [101, 400, 700]
    assert sl.trim_to_budget_spread(list(score_of), score_of, 4, 30) == [100, 101, 400, 700]
    assert sl.trim_to_budget(list(score_of), score_of, 3) == [100, 101, 102]
