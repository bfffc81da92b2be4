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
    assert log[1] == sorted(first.lds_added), "LDS frames are scored in one similarity call"
    sources = {f: src for f, _, _, src in sel.scored}
    assert all(sources[f] == "lds" for f in first.lds_added)
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
    lds = sum(len(r.lds_added) for r in sel.rounds)
    assert len(sel.scored) == 10800 + lds, "only the 1-FPS samples and the LDS frames are ever scored"
    assert any(5000 * 30 <= f < 5030 * 30 for f in sel.frame_indices)
