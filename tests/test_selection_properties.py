"""Property tests over thousands of random score tracks: the loop's invariants always hold."""

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from selection_cases import TRACK_KINDS, loop_config, score_track, video_length

from air.model import FrameScore, select_frames

SETTINGS = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def tracks(draw):
    fps, n_frames = video_length(draw, 600)
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(TRACK_KINDS))
    return fps, n_frames, seed, kind, loop_config(draw)


def _run(fps, n_frames, seed, kind, config):
    track = score_track(n_frames, seed, kind)
    rng = np.random.default_rng(seed + 1)
    verdicts = rng.choice([1, 2, 3, 4, 5, None], size=n_frames)
    analysed: list[int] = []

    def analyze(frames):
        analysed.extend(int(f) for f in frames)
        return [FrameScore(verdicts[f], "") for f in frames]

    sel = select_frames(n_frames, fps, lambda f: track[f], analyze, config)
    return sel, analysed, track


@SETTINGS
@given(tracks())
def test_selection_invariants(case):
    fps, n_frames, seed, kind, config = case
    sel, analysed, _ = _run(*case)
    frames = list(sel.frame_indices)
    assert frames == sorted(set(frames)), "unique and sorted"
    assert all(0 <= f < n_frames for f in frames), "inside the video"
    assert 1 <= len(frames) <= sel.budget
    if config.fixed_budget:
        assert len(frames) == sel.budget
    assert sel.budget <= n_frames
    assert len(analysed) == sel.n_analyzed <= config.candidates_per_round * config.max_rounds
    assert sum(len(r.candidates) for r in sel.rounds) <= config.candidates_per_round * config.max_rounds
    if not config.reanalyze:
        assert len(analysed) == len(set(analysed))
    scored = {f for f, *_ in sel.scored}
    if config.ablate_analysis:
        assert analysed == []
    assert {f for r in sel.rounds for f in r.candidates} <= scored, "only scored pool frames are analysed"
    json.dumps(sel.to_dict(), allow_nan=False)  # strict JSON, whatever the scores were
    failed = {f for f, raw, _, _ in sel.scored if raw is None}
    if any(raw is not None for _, raw, _, src in sel.scored if src == "sample"):
        # some sample has a score: a failed one is never used (without any, the pool is evenly spaced
        # samples; fixed_budget takes one only when the video has no other frame left)
        assert not failed & set(sel.initial_pool)
        if not config.fixed_budget or n_frames - len(failed) >= sel.budget:
            assert not failed & set(frames)


@settings(max_examples=100, deadline=None)
@given(tracks())
def test_selection_is_deterministic(case):
    first, _, _ = _run(*case)
    second, _, _ = _run(*case)
    a, b = first.to_dict(), second.to_dict()
    a.pop("timings_s"), b.pop("timings_s")
    assert a == b
