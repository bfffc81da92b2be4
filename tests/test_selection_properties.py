"""Property tests over thousands of random score tracks: the loop's invariants always hold."""

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from air.model import AIRConfig, FrameScore, select_frames

SETTINGS = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def tracks(draw):
    fps = draw(st.sampled_from([1.0, 10.0, 23.976, 25.0, 30.0]))
    seconds = draw(st.integers(min_value=1, max_value=600))
    n_frames = max(1, int(seconds * fps) + draw(st.integers(0, 5)))
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(["noise", "events", "flat", "steps", "failed", "all_failed"]))
    config = AIRConfig(
        max_frames=draw(st.sampled_from([8, 16, 32])),
        min_frames=draw(st.sampled_from([1, 4, 8])),
        candidates_per_round=draw(st.integers(1, 16)),
        max_rounds=draw(st.integers(1, 7)),
        analysis_batch_size=draw(st.integers(1, 12)),
        fixed_budget=draw(st.booleans()),
        reanalyze=draw(st.booleans()),
        spread_candidates=draw(st.booleans()),
        ablate_threshold=draw(st.booleans()),
        ablate_ranking=draw(st.booleans()),
        ablate_analysis=draw(st.booleans()),
        ablate_lds=draw(st.booleans()),
    )
    return fps, n_frames, seed, kind, config


def _track(n_frames, seed, kind):
    rng = np.random.default_rng(seed)
    if kind == "flat":
        return np.full(n_frames, 0.3)
    if kind == "all_failed":
        return np.full(n_frames, rng.choice([np.nan, np.inf, -np.inf]))
    if kind == "steps":
        return np.repeat(rng.random(max(1, n_frames // 50 + 1)), 50)[:n_frames]
    base = rng.normal(0.2, 0.03, n_frames)
    if kind == "events":
        for _ in range(rng.integers(1, 4)):
            start = rng.integers(0, n_frames)
            base[start : start + rng.integers(1, max(2, n_frames // 5))] += 0.2
    if kind == "failed":  # NaN / inf similarities sprinkled over a noisy track
        broken = rng.random(n_frames) < rng.uniform(0.05, 0.9)
        base[broken] = rng.choice([np.nan, np.inf, -np.inf], size=int(broken.sum()))
    return base


def _run(fps, n_frames, seed, kind, config):
    track = _track(n_frames, seed, kind)
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
