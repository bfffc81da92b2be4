"""Run uniform, CLIP top-k and A.I.R. variants on simulated videos and average the figures.

One task = one (setting, video) pair. A video's layout and clean CLIP track depend only on
(seed, video); its CLIP noise on (seed, video, noise level); its analysis verdicts on
(seed, video, error rate). So every setting sees the same videos, and every method the same
tracks and verdicts: the comparisons are paired.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from air.config import AIRConfig
from air.Process_Utils.sample_logic import initial_sample_indices
from air.selection import select_frames

from .baselines import clip_topk_frames, uniform_frames
from .metrics import EvidenceIndex, aggregate
from .scorers import TrackAnalysis, TrackSimilarity, analysis_scores
from .tracks import (
    LayoutSpec,
    clean_similarity,
    evidence_mask,
    generate_layout,
    noisy_similarity,
)

PRESETS = ("default", "efficient_16_8_4", "efficient_16_4_4")
# A.I.R. variants run for every preset: name -> AIRConfig fields set on top of the preset.
VARIANTS: dict[str, dict[str, Any]] = {
    "air": {},
    "air_spread": {"spread_candidates": True},
    "air_spread_explore": {"spread_candidates": True, "spread_explore_frac": 0.5},
}


@dataclass(frozen=True)
class SimulationPlan:
    """What to simulate: CLIP noise levels (units of tracks.CONTRAST) x analysis error rates."""

    noise_levels: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0)
    error_rates: tuple[float, ...] = (0.05, 0.2)
    n_videos: int = 500
    seed: int = 0
    presets: tuple[str, ...] = PRESETS
    variants: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(VARIANTS))
    spec: LayoutSpec = field(default_factory=LayoutSpec)

    def settings(self) -> list[tuple[float, float]]:
        return [(noise, err) for noise in self.noise_levels for err in self.error_rates]


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


def _level_key(value: float) -> int:
    """A stable integer for a noise level or error rate (its value in thousandths)."""
    return round(value * 1000)


def simulate_video(plan: SimulationPlan, video: int, noise: float, error_rate: float) -> dict[str, Any]:
    """Every method's per-video figures for one simulated video under one setting.

    Returns {preset: {method: {hit, precision, coverage, redundancy, frames[, analyzed, stop, fallbacks]}}}.
    """
    layout_rng = _rng(plan.seed, video, 0)
    layout = generate_layout(layout_rng, plan.spec)
    clean = clean_similarity(layout, layout_rng)
    track = noisy_similarity(clean, noise, _rng(plan.seed, video, 1, _level_key(noise)))
    scores = analysis_scores(evidence_mask(layout), error_rate, _rng(plan.seed, video, 2, _level_key(error_rate)))
    index = EvidenceIndex(layout)
    samples = initial_sample_indices(layout.n_frames, layout.fps, 1.0)
    similarity = TrackSimilarity(track)
    out: dict[str, Any] = {}
    for preset in plan.presets:
        rows: dict[str, dict[str, Any]] = {}
        for name, overrides in plan.variants.items():
            config = AIRConfig.from_preset(preset, **overrides)
            analysis = TrackAnalysis(scores)
            sel = select_frames(layout.n_frames, layout.fps, similarity, analysis, config)
            row: dict[str, Any] = index.video_metrics(sel.frame_indices)
            row["analyzed"] = sel.n_analyzed
            row["stop"] = sel.stop_reason
            row["fallbacks"] = list(sel.fallback_reasons)
            rows[name] = row
        k = int(rows["air"]["frames"])
        rows["uniform"] = index.video_metrics(uniform_frames(layout.n_frames, k))
        rows["clip_topk"] = index.video_metrics(clip_topk_frames(samples, track[samples], k))
        out[preset] = rows
    return out


def _task(args: tuple[SimulationPlan, int, float, float]) -> dict[str, Any]:
    return simulate_video(*args)


def _limit_threads() -> None:
    """Worker initialiser: one BLAS/OpenMP thread per process (sklearn's GMM would spawn more).

    threadpoolctl limits only the libraries already loaded, so sklearn is imported first.
    """
    import sklearn.mixture  # noqa: F401  (loads the OpenMP and BLAS libraries the GMM uses)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _results(plan: SimulationPlan, workers: int) -> Iterator[tuple[int, dict[str, Any]]]:
    tasks = [(plan, v, noise, err) for noise, err in plan.settings() for v in range(plan.n_videos)]
    setting_of = [i for i in range(len(plan.settings())) for _ in range(plan.n_videos)]
    if workers <= 1:
        import sklearn.mixture  # noqa: F401
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            for s, t in zip(setting_of, tasks):
                yield s, _task(t)
        return
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers, initializer=_limit_threads) as pool:
        for s, r in zip(setting_of, pool.imap(_task, tasks, chunksize=4)):
            yield s, r


METHOD_ORDER = ("uniform", "clip_topk")


def run_simulation(plan: SimulationPlan, workers: int = 1) -> dict[str, Any]:
    """Simulate every setting of `plan`; returns the JSON-ready figures (see simulate_selection.py)."""
    if plan.n_videos < 1:
        raise ValueError(f"Invalid n_videos: {plan.n_videos}. Expected an int >= 1.")
    settings = plan.settings()
    per_setting: list[list[dict[str, Any]]] = [[] for _ in settings]
    for s, result in _results(plan, workers):
        per_setting[s].append(result)
    methods = METHOD_ORDER + tuple(plan.variants)
    out_settings = []
    for (noise, err), videos in zip(settings, per_setting):
        presets: dict[str, Any] = {}
        for preset in plan.presets:
            figures: dict[str, Any] = {}
            for method in methods:
                rows = [v[preset][method] for v in videos]
                figures[method] = aggregate(rows)
                if method in plan.variants:
                    figures[method]["stop_reasons"] = dict(sorted(Counter(r["stop"] for r in rows).items()))
                    figures[method]["fallbacks"] = dict(sorted(Counter(f for r in rows for f in r["fallbacks"]).items()))
            presets[preset] = figures
        out_settings.append({"clip_noise": noise, "analysis_error_rate": err, "n_videos": len(videos), "presets": presets})
    bounds = {}
    for preset in plan.presets:
        cfg = AIRConfig.from_preset(preset)
        bounds[preset] = cfg.candidates_per_round * cfg.max_rounds
    analyzed_max = {
        preset: max(s["presets"][preset][m]["analyzed_max"] for s in out_settings for m in plan.variants)
        for preset in plan.presets
    }
    return {
        "settings": out_settings,
        "analyzed_max": max(analyzed_max.values()),
        "analyzed_max_per_preset": analyzed_max,
        "analyzed_bound_per_preset": bounds,
        "analyzed_within_bound": all(analyzed_max[p] <= bounds[p] for p in plan.presets),
    }
