"""Random cases for the selection-loop property tests: video lengths, loop configurations, score tracks.

Shared by test_selection_properties (one video at a time) and test_selection_driver (many driven together).
"""

import numpy as np
from hypothesis import strategies as st

from air.model import AIRConfig

#: The kinds of scripted CLIP track `score_track` makes.
TRACK_KINDS = ("noise", "events", "flat", "steps", "failed", "all_failed")


def video_length(draw, max_seconds: int) -> tuple[float, int]:
    """(fps, n_frames) of a random video of 1..max_seconds seconds, a few frames over whole seconds."""
    fps = draw(st.sampled_from([1.0, 10.0, 23.976, 25.0, 30.0]))
    seconds = draw(st.integers(min_value=1, max_value=max_seconds))
    return fps, max(1, int(seconds * fps) + draw(st.integers(0, 5)))


def loop_config(draw, ablate_analysis=None) -> AIRConfig:
    """A random AIRConfig over the loop's sizes, switches and ablations (ablate_analysis: its strategy)."""
    return AIRConfig(
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
        ablate_analysis=draw(ablate_analysis if ablate_analysis is not None else st.booleans()),
        ablate_lds=draw(st.booleans()),
    )


def score_track(n_frames: int, seed: int, kind: str) -> np.ndarray:
    """A scripted raw CLIP similarity per frame, float64 (n_frames,), of one of TRACK_KINDS."""
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
