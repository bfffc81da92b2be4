"""Run every selector (fixed-budget baselines, A.I.R., its ablations and opt-in variants) on simulated videos.

One task = one (setting, video) pair. A video's layout and clean CLIP track depend only on
(seed, video); its CLIP noise on (seed, video, noise level); its analysis verdicts on
(seed, video, error rate); its synthetic embeddings' shots and jitter on (seed, video). So every
setting sees the same videos, and every method the same tracks and verdicts: the comparisons are
paired. The baselines take exactly as many frames as A.I.R. (paper variant) returned for the video
under the same preset.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from air.config import AIRConfig
from air.Process_Utils import sample_logic
from air.Process_Utils.sample_logic import initial_sample_indices
from air.selection import select_frames

from .baselines import SELECTORS, SimVideo
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
# The paper's Tab. 4 ablations, run for the presets in SimulationPlan.full_presets (default only:
# each costs as much as A.I.R. itself).
ABLATIONS: dict[str, dict[str, Any]] = {
    "air_ablate_threshold": {"ablate_threshold": True},
    "air_ablate_ranking": {"ablate_ranking": True},
    "air_ablate_analysis": {"ablate_analysis": True},
    "air_ablate_lds": {"ablate_lds": True},
}
# Fixed-budget selectors (sim/baselines.py), each at A.I.R.'s frame count of the video and preset.
BASELINES = tuple(SELECTORS)
# Run only for SimulationPlan.full_presets: MDP3's dynamic programme costs about as much as all the
# A.I.R. runs of a video together.
FULL_PRESET_ONLY = ("mdp3",)


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
    ablations: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(ABLATIONS))
    full_presets: tuple[str, ...] = ("default",)  # presets that also run the ablations and FULL_PRESET_ONLY
    baselines: tuple[str, ...] = BASELINES

    def settings(self) -> list[tuple[float, float]]:
        return [(noise, err) for noise in self.noise_levels for err in self.error_rates]

    def air_runs(self, preset: str) -> dict[str, dict[str, Any]]:
        """The A.I.R. runs of one preset: "air" first, then its ablations (if any), then the opt-in variants."""
        runs = {"air": self.variants.get("air", {})}
        if preset in self.full_presets:
            runs.update(self.ablations)
        runs.update({k: v for k, v in self.variants.items() if k != "air"})
        return runs

    def preset_baselines(self, preset: str) -> list[str]:
        """The fixed-budget baselines run for one preset (FULL_PRESET_ONLY ones only in full_presets)."""
        unknown = [b for b in self.baselines if b not in SELECTORS]
        if unknown:
            raise ValueError(f"Invalid baselines: {unknown}. Expected names among {list(SELECTORS)}.")
        return [b for b in self.baselines if preset in self.full_presets or b not in FULL_PRESET_ONLY]

    def methods(self, preset: str) -> list[str]:
        """Every method of one preset in table order: baselines, then the A.I.R. runs."""
        return [*self.preset_baselines(preset), *self.air_runs(preset)]


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


def _level_key(value: float) -> int:
    """A stable integer for a noise level or error rate (its value in thousandths)."""
    return round(value * 1000)


@contextlib.contextmanager
def memoized_gmm():
    """Within the block, `sample_logic.gmm_threshold` fits each (scores, gamma, seed) only once.

    Every A.I.R. run of a simulated video fits the same Gaussian mixture to the same sample scores;
    the fit is a pure function of its arguments (fixed random_state), so reusing it changes no
    figure (tests/test_simulation.py checks this) and makes the simulation several times faster.
    The selection loop reads the function through the module, so swapping the module attribute
    reaches it.
    """
    original = sample_logic.gmm_threshold
    fits: dict[tuple, Any] = {}

    def fit_once(scores, gamma=0.7, random_state=0):
        key = (np.asarray(scores, dtype=np.float64).tobytes(), float(gamma), int(random_state))
        if key not in fits:
            fits[key] = original(scores, gamma, random_state)
        return fits[key]

    sample_logic.gmm_threshold = fit_once
    try:
        yield
    finally:
        sample_logic.gmm_threshold = original


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
    sim_video = SimVideo(layout, samples, track[samples], _rng(plan.seed, video, 3))
    out: dict[str, Any] = {}
    with memoized_gmm():
        for preset in plan.presets:
            rows: dict[str, dict[str, Any]] = {}
            for name, overrides in plan.air_runs(preset).items():
                config = AIRConfig.from_preset(preset, **overrides)
                analysis = TrackAnalysis(scores)
                sel = select_frames(layout.n_frames, layout.fps, similarity, analysis, config)
                row: dict[str, Any] = index.video_metrics(sel.frame_indices)
                row["analyzed"] = sel.n_analyzed
                row["stop"] = sel.stop_reason
                row["fallbacks"] = list(sel.fallback_reasons)
                rows[name] = row
            k = int(rows["air"]["frames"])
            for name in plan.preset_baselines(preset):
                rows[name] = index.video_metrics(SELECTORS[name](sim_video, k))
            out[preset] = {method: rows[method] for method in plan.methods(preset)}
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


def run_simulation(plan: SimulationPlan, workers: int = 1) -> dict[str, Any]:
    """Simulate every setting of `plan`; returns the JSON-ready figures (see simulate_selection.py)."""
    if plan.n_videos < 1:
        raise ValueError(f"Invalid n_videos: {plan.n_videos}. Expected an int >= 1.")
    for preset in plan.presets:
        plan.methods(preset)  # raises on an unknown baseline before any work
    settings = plan.settings()
    per_setting: list[list[dict[str, Any]]] = [[] for _ in settings]
    for s, result in _results(plan, workers):
        per_setting[s].append(result)
    out_settings = []
    for (noise, err), videos in zip(settings, per_setting):
        presets: dict[str, Any] = {}
        for preset in plan.presets:
            figures: dict[str, Any] = {}
            air_runs = plan.air_runs(preset)
            for method in plan.methods(preset):
                rows = [v[preset][method] for v in videos]
                figures[method] = aggregate(rows)
                if method in air_runs:
                    figures[method]["stop_reasons"] = dict(sorted(Counter(r["stop"] for r in rows).items()))
                    figures[method]["fallbacks"] = dict(sorted(Counter(f for r in rows for f in r["fallbacks"]).items()))
            presets[preset] = figures
        out_settings.append({"clip_noise": noise, "analysis_error_rate": err, "n_videos": len(videos), "presets": presets})
    bounds = {}
    for preset in plan.presets:
        cfg = AIRConfig.from_preset(preset)
        bounds[preset] = cfg.candidates_per_round * cfg.max_rounds
    analyzed_max = {
        preset: max(s["presets"][preset][m]["analyzed_max"] for s in out_settings for m in plan.air_runs(preset))
        for preset in plan.presets
    }
    return {
        "settings": out_settings,
        "methods_per_preset": {preset: plan.methods(preset) for preset in plan.presets},
        "analyzed_max": max(analyzed_max.values()),
        "analyzed_max_per_preset": analyzed_max,
        "analyzed_bound_per_preset": bounds,
        "analyzed_within_bound": all(analyzed_max[p] <= bounds[p] for p in plan.presets),
    }
