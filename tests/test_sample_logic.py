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


def test_adaptive_budget_capped_at_frame_count_and_vila_preset():
    assert sl.adaptive_budget(3, n_frames=5) == 5
    assert sl.adaptive_budget(1, n_frames=1) == 1
    assert sl.adaptive_budget(600, max_frames=8, min_frames=8) == 8
    assert sl.adaptive_budget(150, max_frames=16) == 8  # floor(16 * 150 / 300) = 8


def test_initial_samples_use_real_fps():
    assert sl.initial_sample_indices(100, 30.0).tolist() == [0, 30, 60, 90]
    assert sl.initial_sample_indices(100, 29.97).tolist() == [0, 30, 60, 90]
    assert sl.initial_sample_indices(50, 24.0).tolist() == [0, 24, 48]
    assert sl.initial_sample_indices(10, 0.5).tolist() == list(range(10))  # fps below sample rate
    assert sl.initial_sample_indices(61, 30.0, sample_fps=2.0).tolist() == [0, 15, 30, 45, 60]
    assert sl.initial_sample_indices(100, 25.0, sample_fps=2.0).tolist() == [0, 13, 26, 39, 52, 65, 78, 91]  # 12.5 -> 13
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
    times = np.arange(len(mask), dtype=float)
    return sl.detect_events(times, np.array(mask, dtype=float), 0.5, **kw)


def test_events_cover_seconds_end_exclusive():
    # samples 2..6 above: covers [2, 7), duration 5
    assert _events([0, 0, 1, 1, 1, 1, 1, 0, 0, 0]) == [(2.0, 7.0)]


def test_events_merge_at_exactly_two_seconds_gap():
    # run 0..2 covers [0,3); run 5..7 starts at 5: gap 5 - 3 = 2.0 -> merged
    assert _events([1, 1, 1, 0, 0, 1, 1, 1, 0, 0]) == [(0.0, 8.0)]
    # gap of 3.0 s -> kept apart
    assert _events([1, 1, 1, 0, 0, 0, 1, 1, 1, 0]) == [(0.0, 3.0), (6.0, 9.0)]


def test_events_prune_at_exactly_three_seconds():
    # a 3-sample run lasts exactly 3.0 s: kept; a 2-sample run lasts 2.0 s: dropped
    assert _events([0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0]) == [(1.0, 4.0)]


def test_events_merge_happens_before_prune():
    # two 1-second runs 1 s apart merge into [0, 3): exactly 3.0 s, kept
    assert _events([1, 0, 1, 0, 0, 0]) == [(0.0, 3.0)]
    # run reaching the last sample
    assert _events([0, 0, 0, 0, 1, 1, 1]) == [(4.0, 7.0)]


def test_events_respect_sample_period():
    times = np.arange(0, 10, 0.5)
    mask = np.zeros(20)
    mask[4:8] = 1  # samples at 2.0..3.5 -> covers [2.0, 4.0) = 2.0 s with p = 0.5
    assert sl.detect_events(times, mask, 0.5, sample_period_s=0.5, min_event_s=2.0) == [(2.0, 4.0)]


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


def test_event_wise_pool_shares_by_duration_and_takes_best_samples():
    idx = np.arange(0, 40) * 30  # 40 samples at 30 fps
    times = idx / 30.0
    scores = np.linspace(0, 1, 40)[::-1].copy()  # decreasing: ties impossible
    events = [(0.0, 10.0), (20.0, 25.0)]  # 10 s and 5 s
    pool = sl.event_wise_pool(idx, times, scores, events, 6)
    # 6 shared 4 : 2, highest scores inside each event = earliest samples here
    assert pool.tolist() == [0, 30, 60, 90, 600, 630]


def test_event_wise_pool_more_events_than_pool_keeps_best_mean():
    idx = np.arange(20)
    times = idx.astype(float)
    scores = np.zeros(20)
    scores[[1, 5, 9, 13]] = [0.6, 0.9, 0.7, 0.8]
    events = [(1.0, 2.0), (5.0, 6.0), (9.0, 10.0), (13.0, 14.0)]
    assert sl.event_wise_pool(idx, times, scores, events, 2).tolist() == [5, 13]


def test_event_wise_pool_fills_from_outside_when_events_are_small():
    idx = np.arange(10)
    times = idx.astype(float)
    scores = np.array([0.9, 0.1, 0.5, 0.5, 0.2, 0.3, 0.8, 0.0, 0.0, 0.0])
    pool = sl.event_wise_pool(idx, times, scores, [(4.0, 6.0)], 5)  # event holds samples 4, 5
    # all of the event, then best outside: 0 (0.9), 6 (0.8), 2 (0.5, earlier than 3)
    assert pool.tolist() == [0, 2, 4, 5, 6]


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


def test_lds_offsets_and_clipping():
    assert sl.lds_frames(1000, alpha=15, beta=1.5, depth=4, n_frames=5000) == [
        1000 - 51, 1000 - 34, 1000 - 22, 1000 - 15, 1015, 1022, 1034, 1051]
    assert sl.lds_frames(10, alpha=15, beta=1.5, depth=2, n_frames=5000) == [0, 25, 32]
    assert sl.lds_frames(95, alpha=15, beta=1.5, depth=2, n_frames=100) == [73, 80, 99]
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


def test_trim_to_budget_spread_prefers_distinct_seconds():
    score_of = {100: 0.9, 101: 0.95, 102: 0.85, 400: 0.5, 700: 0.4}
    # gap 30 frames: 101 first, 100/102 too close, then 400, 700; budget 4 fills with 100 by score
    assert sl.trim_to_budget_spread(list(score_of), score_of, 3, 30) == [101, 400, 700]
    assert sl.trim_to_budget_spread(list(score_of), score_of, 4, 30) == [100, 101, 400, 700]
    assert sl.trim_to_budget(list(score_of), score_of, 3) == [100, 101, 102]
