"""The selection loop of SPEC.md driven by scripted scorers (no models: the loop's logic alone)."""

import json

import numpy as np
import pytest

from air.model import AIRConfig, FrameScore, Selection, select_frames


class Scripted:
    """A scripted analysis backbone: score(frame) -> int | None; records every call."""

    def __init__(self, score, fail_on_call=None):
        self.score = score
        self.calls: list[list[int]] = []
        self.fail_on_call = fail_on_call

    def __call__(self, frames):
        self.calls.append([int(f) for f in frames])
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise RuntimeError("CUDA out of memory (scripted)")
        return [FrameScore(self.score(int(f)), f"frame {int(f)}", f"Score: {self.score(int(f))}") for f in frames]


def track_with_event(n_frames, fps, start_s, end_s, seed=0, noise=0.01):
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / fps
    track = 0.2 + noise * rng.standard_normal(n_frames)
    track[(t >= start_s) & (t < end_s)] += 0.15
    return track


def similarity_from(track, log=None):
    def sim(frames):
        if log is not None:
            log.append([int(f) for f in frames])
        return track[np.asarray(frames)]

    return sim


def test_early_stop_trims_to_budget_by_similarity():
    fps, n = 30.0, 30 * 600
    track = track_with_event(n, fps, 200, 260)
    analyze = Scripted(lambda f: 5)  # every frame is a positive
    sel = select_frames(n, fps, similarity_from(track), analyze, AIRConfig())
    assert sel.budget == 32
    assert sel.stop_reason == "budget_filled"
    assert len(sel.frame_indices) == 32
    analysed = [f for r in sel.rounds for f in r.candidates]
    norm = {f: s for f, _, s, _ in sel.scored}
    kept = set(sel.frame_indices)
    dropped = set(analysed) - kept
    assert dropped, "more positives than the budget must have been found"
    assert min(norm[f] for f in kept) >= max(norm[f] for f in dropped)


def test_analysed_frames_are_never_repeated_and_bounded():
    fps, n = 25.0, 25 * 900
    track = track_with_event(n, fps, 400, 420)
    analyze = Scripted(lambda f: 1)  # nothing positive: the loop runs all rounds on top-ups
    config = AIRConfig()
    sel = select_frames(n, fps, similarity_from(track), analyze, config)
    flat = [f for call in analyze.calls for f in call]
    assert len(flat) == len(set(flat))
    assert len(flat) <= config.candidates_per_round * config.max_rounds
    assert len(sel.rounds) == config.max_rounds and sel.stop_reason == "max_rounds"
    assert all(len(call) <= config.analysis_batch_size for call in analyze.calls)
    # fallback quota: floor(32 / 6) = 5 top-ups per round when nothing is positive
    assert all(len(r.top_up) == 5 and not r.positives for r in sel.rounds)
    assert len(sel.frame_indices) == 30


def test_reanalyze_allows_repeats():
    fps, n = 10.0, 10 * 120
    track = track_with_event(n, fps, 30, 50)
    analyze = Scripted(lambda f: 1)
    select_frames(n, fps, similarity_from(track), analyze, AIRConfig(reanalyze=True, max_rounds=6))
    flat = [f for call in analyze.calls for f in call]
    assert len(flat) > len(set(flat))


def test_top_up_order_in_loop():
    fps, n = 30.0, 30 * 300
    track = track_with_event(n, fps, 100, 130)
    # scores: 3 for frames divisible by 60, unparseable for odd seconds, 2 otherwise
    def score(f):
        sec = f // 30
        if sec % 2 == 1:
            return None
        return 3 if f % 60 == 0 and sec % 4 == 0 else 2

    analyze = Scripted(score)
    sel = select_frames(n, fps, similarity_from(track), analyze, AIRConfig(max_rounds=2, min_frames=12, max_frames=32))
    r = sel.rounds[0]
    by_frame = dict(zip(r.candidates, r.scores))
    sim = dict(zip(r.candidates, r.similarity))
    groups = [0 if by_frame[f] == 3 else (1 if by_frame[f] is not None else 2) for f in r.top_up]
    assert groups == sorted(groups), "score == theta first, then lower, then unparseable"
    for g in set(groups):
        members = [f for f, gg in zip(r.top_up, groups) if gg == g]
        assert [sim[f] for f in members] == sorted((sim[f] for f in members), reverse=True)


def test_lds_frames_get_scores_and_enter_pool_not_final():
    fps, n = 24.0, 24 * 400
    track = track_with_event(n, fps, 100, 110)
    log: list[list[int]] = []
    analyze = Scripted(lambda f: 5 if 100 * 24 <= f < 110 * 24 else 1)
    sel = select_frames(n, fps, similarity_from(track, log), analyze, AIRConfig(max_rounds=3))
    first = sel.rounds[0]
    assert first.lds_added, "anchors must trigger localized density sampling"
    sources = {f: src for f, _, _, src in sel.scored}
    new = [f for f in first.lds_added if sources[f] == "lds"]
    assert new and log[1] == new, "new LDS frames are scored in one similarity call"
    assert not set(first.lds_added) & set(first.positives + first.top_up)
    later_candidates = {f for r in sel.rounds[1:] for f in r.candidates}
    assert later_candidates & set(first.lds_added), "LDS frames join the pool and become candidates"
    # alpha_min = 0.625 s at the real fps = 15 frames at 24 fps
    anchor = first.positives[0] if first.positives else first.top_up[0]
    offsets = {abs(f - anchor) for f in first.lds_added}
    assert 15 in offsets


def test_fallback_degenerate_scores():
    analyze = Scripted(lambda f: 4)
    sel = select_frames(300, 30.0, lambda f: np.full(len(f), 0.25), analyze, AIRConfig())
    assert "degenerate_scores" in sel.fallback_reasons
    assert sel.threshold is None and sel.events == ()
    sel = select_frames(90, 30.0, lambda f: np.arange(len(f), dtype=float), analyze, AIRConfig())
    assert "degenerate_scores" in sel.fallback_reasons  # 3 samples < 4


def test_fallback_no_events():
    # a single high sample: the GMM finds it, but a 1-second event is shorter than l_min
    n, fps = 30 * 60, 30.0
    track = np.full(n, 0.2)
    track[900] = 0.9
    track += np.linspace(0, 1e-3, n)
    sel = select_frames(n, fps, similarity_from(track), Scripted(lambda f: 2), AIRConfig())
    assert "no_events" in sel.fallback_reasons
    assert len(sel.initial_pool) == min(2 * max(sel.budget, 12), 60)


def test_fallback_gmm_failed(monkeypatch):
    from air.Process_Utils import sample_logic

    def broken(*a, **k):
        return sample_logic.ThresholdFit(float("nan"), (), (), degenerate=False, failed=True, error="did not converge")

    monkeypatch.setattr(sample_logic, "gmm_threshold", broken)
    track = track_with_event(3000, 10.0, 50, 80)
    sel = select_frames(3000, 10.0, similarity_from(track), Scripted(lambda f: 2), AIRConfig())
    assert "gmm_failed" in sel.fallback_reasons and sel.frame_indices


def test_fallback_pool_exhausted():
    # a 6-second video: 6 samples, pool of 6, 12 candidates per round -> round 2 has nothing left
    # (no LDS: alpha/beta settings place every new frame on an already-scored one)
    track = track_with_event(60, 10.0, 2, 4)
    sel = select_frames(60, 10.0, similarity_from(track), Scripted(lambda f: 1),
                        AIRConfig(alpha_min_s=0.0, alpha_frac=0.0, lds_max_depth=1))
    assert sel.stop_reason == "pool_exhausted"
    assert sel.n_analyzed == 6


def test_fallback_analysis_error_keeps_going():
    fps, n = 30.0, 30 * 600
    track = track_with_event(n, fps, 200, 260)
    analyze = Scripted(lambda f: 2, fail_on_call=1)
    sel = select_frames(n, fps, similarity_from(track), analyze, AIRConfig(analysis_batch_size=6))
    assert "analysis_error" in sel.fallback_reasons
    r = sel.rounds[0]
    assert r.scores[:6] == (None,) * 6 and all(s == 2 for s in r.scores[6:])
    assert "CUDA out of memory" in r.errors[0]
    assert len(sel.rounds) > 1


def test_analyze_wrong_length_is_an_error_not_a_crash():
    track = track_with_event(3000, 10.0, 50, 80)
    sel = select_frames(3000, 10.0, similarity_from(track), lambda f: [FrameScore(5)], AIRConfig())
    assert "analysis_error" in sel.fallback_reasons


def test_fixed_budget_pads_to_budget():
    fps, n = 30.0, 30 * 600
    track = track_with_event(n, fps, 200, 260)
    sel = select_frames(n, fps, similarity_from(track), Scripted(lambda f: 1),
                        AIRConfig(fixed_budget=True, max_rounds=2))
    assert len(sel.frame_indices) == sel.budget == 32


def test_fixed_budget_short_video_pads_uniformly():
    # 5 samples, one round (so no LDS): 1 anchor + 4 pool frames + 3 evenly spaced frames
    sel = select_frames(50, 10.0, lambda f: np.asarray(f, float), Scripted(lambda f: 1),
                        AIRConfig(fixed_budget=True, max_rounds=1))
    assert len(sel.frame_indices) == 8 and "padded_uniform" in sel.fallback_reasons


def test_one_frame_video():
    sel = select_frames(1, 25.0, lambda f: np.array([0.3]), Scripted(lambda f: 4), AIRConfig())
    assert sel.frame_indices == (0,) and sel.budget == 1


def test_similarity_shape_is_checked():
    with pytest.raises(ValueError, match="Invalid similarity output"):
        select_frames(300, 30.0, lambda f: np.zeros(3), Scripted(lambda f: 1), AIRConfig())


def test_trace_round_trips_through_json():
    fps, n = 30.0, 30 * 300
    track = track_with_event(n, fps, 100, 130)
    sel = select_frames(n, fps, similarity_from(track), Scripted(lambda f: 4 if (f // 30) % 2 else None), AIRConfig(),
                        video="clip.mp4")
    data = json.loads(sel.to_json())
    for key in ("frame_indices", "timestamps_s", "budget", "threshold", "events", "rounds", "n_analyzed",
                "stop_reason", "fallbacks", "timings_s", "video", "fps", "n_frames", "config"):
        assert key in data
    for key in ("candidates", "scores", "reasons", "positives", "top_up", "lds_added"):
        assert key in data["rounds"][0]
    assert set(data["timings_s"]) >= {"similarity", "stage1", "analysis", "lds", "total"}
    assert data["timestamps_s"] == [round(f / fps, 4) for f in data["frame_indices"]]
    again = Selection.from_dict(data)
    assert again.frame_indices == sel.frame_indices
    assert [r.candidates for r in again.rounds] == [r.candidates for r in sel.rounds]
    assert again.to_dict()["rounds"] == data["rounds"]
    assert sel.with_info(task="t", doc_id=3).to_dict()["doc_id"] == 3


def test_spread_candidates_keeps_candidates_apart():
    fps, n = 30.0, 30 * 600
    track = track_with_event(n, fps, 200, 206)
    analyze = Scripted(lambda f: 5 if 200 * 30 <= f < 206 * 30 else 1)
    sel = select_frames(n, fps, similarity_from(track), analyze, AIRConfig(spread_candidates=True))
    for r in sel.rounds:
        c = sorted(r.candidates)
        close = sum(1 for a, b in zip(c, c[1:]) if b - a < 30)
        assert close == 0 or len(c) == 12


def test_three_hour_video_stays_bounded():
    fps, n = 30.0, 30 * 3 * 3600
    track = track_with_event(n, fps, 5000, 5030, noise=0.02)
    analyze = Scripted(lambda f: 5 if 5000 * 30 <= f < 5030 * 30 else 2)
    sel = select_frames(n, fps, similarity_from(track), analyze, AIRConfig())
    assert sel.budget == 32 and len(sel.initial_pool) == 64
    assert sel.n_analyzed <= 72
    lds = {f for r in sel.rounds for f in r.lds_added}
    sources = {f: src for f, _, _, src in sel.scored}
    assert sum(src == "sample" for src in sources.values()) == 10800
    assert {f for f, src in sources.items() if src == "lds"} <= lds, "only the 1-FPS samples and LDS frames are scored"
    assert any(5000 * 30 <= f < 5030 * 30 for f in sel.frame_indices)


# ---------------------------------------------------------------------------------------------
# Events per Eq. 2 on sample numbers: independent of the frame rate
# ---------------------------------------------------------------------------------------------
def _per_sample_similarity(per_sample, n_frames, fps):
    """Similarity of any frame = the score of its nearest 1-FPS sample (same track at every fps)."""
    from air.Process_Utils.sample_logic import initial_sample_indices

    samples = initial_sample_indices(n_frames, fps)

    def sim(frames):
        k = np.clip(np.searchsorted(samples, frames), 0, samples.size - 1)
        nearer_left = (k > 0) & (np.abs(samples[np.maximum(k - 1, 0)] - frames) <= np.abs(samples[k] - frames))
        return per_sample[np.where(nearer_left, k - 1, k)]

    return sim, samples


def _eq2_track(n_samples=600):
    rng = np.random.default_rng(0)
    track = 0.2 + 0.01 * rng.standard_normal(n_samples)
    for start, stop in [(100, 103), (104, 107),   # split by one low sample: merged into 100..106
                        (200, 205),               # 5 samples: kept
                        (300, 304),               # 4 samples: dropped
                        (400, 403), (405, 408),   # split by two: 3-sample runs, both dropped
                        (500, 505), (507, 512)]:  # split by two: two 5-sample events
        track[start:stop] = 0.8
    return track


@pytest.mark.parametrize("fps", [23.976, 24.0, 25.0, 29.97, 30.0, 59.94])
def test_same_score_track_gives_the_same_events_at_every_frame_rate(fps):
    per_sample = _eq2_track()
    n_frames = round(600 * fps)
    sim, samples = _per_sample_similarity(per_sample, n_frames, fps)
    assert samples.size == 600
    sel = select_frames(n_frames, fps, sim, Scripted(lambda f: 2), AIRConfig(max_rounds=1))
    assert sel.event_samples == ((100, 106), (200, 204), (500, 504), (507, 511))
    # in seconds on the video's clock: from the real time of the first sample to that of the last
    assert sel.events == tuple((round(samples[i] / fps, 4), round(samples[j] / fps, 4)) for i, j in sel.event_samples)
    data = json.loads(sel.to_json())
    assert data["event_samples"] == [[100, 106], [200, 204], [500, 504], [507, 511]]
    assert all(len(e) == 2 and e[0] < e[1] for e in data["events"])
    # pool shares follow the sample count: 7 + 5 + 5 + 5 samples hold 22 < K = 64, so all of them are in
    assert set(samples[np.r_[100:107, 200:205, 500:505, 507:512]]) <= set(sel.initial_pool)


def test_pool_shares_follow_the_sample_count():
    per_sample = np.full(600, 0.2) + 0.001 * np.random.default_rng(1).standard_normal(600)
    per_sample[100:160] = 0.8  # 60 samples
    per_sample[300:330] = 0.8 + np.linspace(0, 0.01, 30)  # 30 samples
    sim, _ = _per_sample_similarity(per_sample, 600 * 30, 30.0)
    sel = select_frames(600 * 30, 30.0, sim, Scripted(lambda f: 2), AIRConfig(max_rounds=1))
    assert sel.event_samples == ((100, 159), (300, 329))
    pool = np.asarray(sel.initial_pool) // 30
    # K = 64 shared 60 : 30 -> 42.67 : 21.33 -> 43 and 21
    assert ((pool >= 100) & (pool <= 159)).sum() == 43 and ((pool >= 300) & (pool <= 329)).sum() == 21


def test_budget_from_duration_when_fps_is_below_the_sample_rate():
    # 200 frames at 0.5 fps: 400 s of video, every frame a sample; B from 400 s = 32 (from 200 samples: 21)
    track = np.random.default_rng(2).random(200)
    sel = select_frames(200, 0.5, similarity_from(track), Scripted(lambda f: 1), AIRConfig(max_rounds=1))
    assert sel.budget == 32
    sel = select_frames(8991, 29.97, similarity_from(track_with_event(8991, 29.97, 100, 130)), Scripted(lambda f: 1),
                        AIRConfig(max_rounds=1))
    assert sel.budget == 32  # exactly 300 s, though only 300 samples at a 30-frame step


# ---------------------------------------------------------------------------------------------
# Degenerate scores and failed (NaN / inf) similarities
# ---------------------------------------------------------------------------------------------
def test_degenerate_pool_is_evenly_spaced_over_the_video():
    fps, n = 30.0, 30 * 120  # B = 12, K = 24 of 120 samples
    sel = select_frames(n, fps, lambda f: np.full(len(f), 0.25), Scripted(lambda f: 1), AIRConfig(max_rounds=1))
    assert sel.fallback_reasons[0] == "degenerate_scores"
    pool = np.asarray(sel.initial_pool) // 30
    assert pool.size == 24 and pool[0] == 0 and pool[-1] == 119  # not the first 24 seconds
    assert np.diff(pool).min() >= 5 and np.diff(pool).max() <= 6


def _with_failures(track, nan_every=7, inf_every=11):
    track = track.copy()
    track[::nan_every] = np.nan
    track[3::inf_every] = np.inf
    track[5::inf_every * 3] = -np.inf
    return track


def test_failed_scores_are_recorded_never_used_and_written_as_null():
    fps, n = 10.0, 10 * 600
    clean = track_with_event(n, fps, 200, 260)
    track = _with_failures(clean)
    failed = {int(f) for f in np.flatnonzero(~np.isfinite(track))}
    analyze = Scripted(lambda f: 5 if 2000 <= f < 2600 else 2)
    sel = select_frames(n, fps, similarity_from(track), analyze, AIRConfig())
    data = json.loads(sel.to_json(), parse_constant=lambda name: pytest.fail(f"non-strict JSON constant {name}"))
    json.dumps(sel.to_dict(), allow_nan=False)
    failed_seen = {f for f, raw, norm, _ in sel.scored if raw is None}
    assert failed_seen and failed_seen <= failed
    assert all(norm is None for f, raw, norm, _ in sel.scored if f in failed_seen)
    assert "failed_scores" in sel.fallback_reasons
    # never in the pool, never a candidate, never selected
    analysed = {f for r in sel.rounds for f in r.candidates}
    assert not failed_seen & (set(sel.initial_pool) | analysed | set(sel.frame_indices))
    # normalisation and the GMM saw the finite sample scores only
    from air.Process_Utils import sample_logic as sl

    samples = sl.initial_sample_indices(n, fps)
    raw = track[samples]
    finite = np.isfinite(raw)
    norm = (raw[finite] - raw[finite].min()) / (raw[finite].max() - raw[finite].min())
    assert sel.threshold == pytest.approx(sl.gmm_threshold(norm).threshold)
    assert data["threshold"] == round(sel.threshold, 6)
    # the same with a fixed budget: padding never takes a failed frame
    padded = select_frames(n, fps, similarity_from(track), Scripted(lambda f: 1),
                           AIRConfig(fixed_budget=True, max_rounds=1))
    assert len(padded.frame_indices) == padded.budget and not set(padded.frame_indices) & failed


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_no_finite_score_at_all_is_degenerate_and_strict_json(value):
    sel = select_frames(3000, 10.0, lambda f: np.full(len(f), value), Scripted(lambda f: 4), AIRConfig())
    assert sel.fallback_reasons[0] == "degenerate_scores" and "failed_scores" in sel.fallback_reasons
    assert "no finite score" in sel.fallbacks[0]["detail"]
    pool = np.asarray(sel.initial_pool)
    assert pool[0] == 0 and pool[-1] == 2990 and pool.size == 64  # B = 32 for 300 s, K = 64
    data = json.loads(sel.to_json())
    assert all(row[1] is None and row[2] is None for row in data["scored"])
    assert all(s is None for r in data["rounds"] for s in r["similarity"])
    assert sel.frame_indices


def test_selection_json_is_strict_whatever_extra_holds():
    sel = select_frames(300, 30.0, lambda f: np.full(len(f), np.nan), Scripted(lambda f: 4), AIRConfig())
    odd = sel.with_info(score=float("nan"), nested={"a": [np.float32(np.inf), np.int64(3)]}, arr=np.array([1.5, np.nan]))
    data = json.loads(odd.to_json())
    assert data["score"] is None and data["nested"] == {"a": [None, 3]} and data["arr"] == [1.5, None]
    again = Selection.from_dict(data)
    assert again.scored == sel.scored


def test_fewer_than_four_finite_samples_is_degenerate():
    track = np.full(600, np.nan)
    track[[0, 300, 450]] = [0.1, 0.5, 0.9]
    sel = select_frames(600, 30.0, similarity_from(track), Scripted(lambda f: 4), AIRConfig())
    assert sel.fallbacks[0]["reason"] == "degenerate_scores" and "(< 4)" in sel.fallbacks[0]["detail"]
    assert set(sel.initial_pool) == {0, 300, 450}  # only samples with a score, when there are any


# ---------------------------------------------------------------------------------------------
# Localized density sampling: rounded sums, already-scored frames join the pool
# ---------------------------------------------------------------------------------------------
def test_lds_frames_scored_earlier_join_the_pool_without_new_scores():
    # alpha = 24 frames at 24 fps and beta 2: every LDS frame lands on a 1-FPS sample (already scored)
    fps, n = 24.0, 24 * 400
    track = track_with_event(n, fps, 100, 110)
    log: list[list[int]] = []
    analyze = Scripted(lambda f: 5 if 100 * 24 <= f < 110 * 24 else 1)
    config = AIRConfig(max_rounds=3, alpha_min_s=1.0, alpha_frac=0.0, beta=2.0)
    sel = select_frames(n, fps, similarity_from(track, log), analyze, config)
    assert len(log) == 1, "no frame needed a new CLIP score"
    first = sel.rounds[0]
    assert first.lds_added and all(f % 24 == 0 for f in first.lds_added)
    assert not set(first.lds_added) & set(sel.initial_pool), "they were samples outside the pool"
    later = {f for r in sel.rounds[1:] for f in r.candidates}
    assert later & set(first.lds_added), "and now they are pool frames the loop analyses"
    assert all(src == "sample" for _, _, _, src in sel.scored)


def test_lds_frames_are_rounded_sums_around_the_anchor():
    # fps 10: alpha = max(0.05 * (b - a), 0.625 s * 10) = 6.25 frames; beta 1.5 -> 6.25, 9.375, 14.0625, 21.09
    fps, n = 10.0, 10 * 600
    track = track_with_event(n, fps, 300, 310)
    analyze = Scripted(lambda f: 5 if 3000 <= f < 3100 else 1)
    sel = select_frames(n, fps, similarity_from(track), analyze, AIRConfig(max_rounds=2, alpha_frac=0.0))
    first = sel.rounds[0]
    anchors = first.positives + first.top_up
    offsets = [6.25 * 1.5 ** m for m in range(4)]
    allowed = {min(max(round(a + s * o), 0), n - 1) for a in anchors for o in offsets for s in (-1, 1)} - set(anchors)
    assert first.lds_added and set(first.lds_added) <= allowed


# ---------------------------------------------------------------------------------------------
# Argument types
# ---------------------------------------------------------------------------------------------
def test_select_frames_accepts_numpy_numbers():
    track = track_with_event(30 * 300, 30.0, 100, 130)
    ref = select_frames(30 * 300, 30.0, similarity_from(track), Scripted(lambda f: 4), AIRConfig())
    expected = {k: v for k, v in ref.to_dict().items() if k != "timings_s"}
    for n_frames, fps in [(np.int64(9000), np.float64(30.0)), (np.int32(9000), np.int64(30)), (9000, np.float32(30.0)),
                          (np.uint16(9000), 30)]:
        sel = select_frames(n_frames, fps, similarity_from(track), Scripted(lambda f: 4), AIRConfig())
        got = {k: v for k, v in sel.to_dict().items() if k != "timings_s"}
        assert got == expected and type(sel.fps) is float and type(sel.n_frames) is int
        json.dumps(sel.to_dict(), allow_nan=False)
    for bad in (np.float64("nan"), np.float32(0.0), True, "30"):
        with pytest.raises(ValueError, match="Invalid fps"):
            select_frames(9000, bad, similarity_from(track), Scripted(lambda f: 4), AIRConfig())
    with pytest.raises(ValueError, match="Invalid n_frames"):
        select_frames(np.bool_(True), 30.0, similarity_from(track), Scripted(lambda f: 4), AIRConfig())


# ---------------------------------------------------------------------------------------------
# Ablations (paper Tab. 4): each changes what it should and nothing else
# ---------------------------------------------------------------------------------------------
ABLATION_CASE = {"n": 30 * 600, "fps": 30.0}


def _ablation_run(**switches):
    n, fps = ABLATION_CASE["n"], ABLATION_CASE["fps"]
    track = track_with_event(n, fps, 200, 230)
    log: list[list[int]] = []
    analyze = Scripted(lambda f: 5 if 200 * 30 <= f < 230 * 30 else 2)
    sel = select_frames(n, fps, similarity_from(track, log), analyze, AIRConfig(**switches))
    return sel, analyze, log


STAGE1_KEYS = ("budget", "threshold", "gmm", "events", "event_samples", "initial_pool")


def _config_differs_only_in(sel, base, name):
    diff = {k for k in sel.config if sel.config[k] != base.config[k]}
    assert diff == {name} and sel.config[name] is True


def test_ablate_threshold_pool_is_evenly_spaced_and_the_loop_is_unchanged():
    base, _, _ = _ablation_run()
    sel, analyze, _ = _ablation_run(ablate_threshold=True)
    _config_differs_only_in(sel, base, "ablate_threshold")
    assert base.threshold is not None and base.events
    assert sel.threshold is None and sel.events == () and sel.event_samples == () and sel.gmm_means == ()
    assert sel.budget == base.budget and sel.fallbacks == base.fallbacks == ()
    pool = np.asarray(sel.initial_pool) // 30
    assert pool.size == 64 and pool[0] == 0 and pool[-1] == 599 and np.diff(pool).max() <= 10
    assert analyze.calls and any(r.lds_added for r in sel.rounds), "analysis and LDS still run"


def test_ablate_ranking_candidates_in_time_order():
    base, _, _ = _ablation_run()
    sel, _, _ = _ablation_run(ablate_ranking=True)
    _config_differs_only_in(sel, base, "ablate_ranking")
    a, b = base.to_dict(), sel.to_dict()
    assert {k: a[k] for k in STAGE1_KEYS} == {k: b[k] for k in STAGE1_KEYS}
    first = sel.rounds[0].candidates
    assert list(first) == sorted(sel.initial_pool)[:12], "the first C pool frames in time order"
    assert list(base.rounds[0].candidates) != list(first)
    for r in sel.rounds:
        assert list(r.candidates) == sorted(r.candidates)


def test_ablate_analysis_no_vlm_every_candidate_is_positive():
    base, _, _ = _ablation_run()
    sel, analyze, _ = _ablation_run(ablate_analysis=True)
    _config_differs_only_in(sel, base, "ablate_analysis")
    a, b = base.to_dict(), sel.to_dict()
    assert {k: a[k] for k in STAGE1_KEYS} == {k: b[k] for k in STAGE1_KEYS}
    assert analyze.calls == [] and sel.n_analyzed == 0 and sel.timings_s["analysis"] < 0.01
    assert sel.rounds[0].candidates == base.rounds[0].candidates, "same ranking, same first candidates"
    for r in sel.rounds:
        assert r.positives == r.candidates and r.top_up == () and all(s is None for s in r.scores)
    # 12 positives a round fill B = 32 in round 3: early stop keeps the 32 best by S
    assert sel.stop_reason == "budget_filled" and len(sel.rounds) == 3 and len(sel.frame_indices) == 32


def test_ablate_lds_no_localized_density_sampling():
    base, _, base_log = _ablation_run()
    sel, _, log = _ablation_run(ablate_lds=True)
    _config_differs_only_in(sel, base, "ablate_lds")
    a, b = base.to_dict(), sel.to_dict()
    assert {k: a[k] for k in STAGE1_KEYS} == {k: b[k] for k in STAGE1_KEYS}
    assert sel.rounds[0].candidates == base.rounds[0].candidates
    assert sel.rounds[0].scores == base.rounds[0].scores and sel.rounds[0].positives == base.rounds[0].positives
    assert any(r.lds_added for r in base.rounds) and len(base_log) > 1
    assert all(r.lds_added == () for r in sel.rounds) and len(log) == 1
    assert {src for *_, src in sel.scored} == {"sample"}
