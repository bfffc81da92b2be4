"""The A.I.R. selection loop (SPEC.md) over two injected callables, and its immutable result.

No torch and no I/O here: `similarity` and `analyze` hide the CLIP encoder, the decoder and the VLM,
so the loop runs the same with real models, scripted scorers in tests, or the simulation.
`air.model` re-exports `select_frames` and `Selection`; import from there.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from air.config import AIRConfig
from air.Process_Utils import sample_logic as sl
from air.Process_Utils.process_messages import FrameScore

SimilarityFn = Callable[[np.ndarray], np.ndarray]
AnalyzeFn = Callable[[np.ndarray], Sequence[FrameScore]]

STOP_BUDGET_FILLED = "budget_filled"
STOP_MAX_ROUNDS = "max_rounds"
STOP_POOL_EXHAUSTED = "pool_exhausted"


@dataclass(frozen=True)
class RoundTrace:
    """One iteration of stage 2. Frame lists hold original-frame indices."""

    round: int
    candidates: tuple[int, ...]
    scores: tuple[int | None, ...]
    reasons: tuple[str, ...]
    similarity: tuple[float, ...]
    intervals: tuple[tuple[int, int], ...]
    positives: tuple[int, ...]
    top_up: tuple[int, ...]
    lds_added: tuple[int, ...]
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "candidates": list(self.candidates),
            "scores": list(self.scores),
            "reasons": list(self.reasons),
            "similarity": [round(s, 6) for s in self.similarity],
            "intervals": [list(iv) for iv in self.intervals],
            "positives": list(self.positives),
            "top_up": list(self.top_up),
            "lds_added": list(self.lds_added),
            "errors": list(self.errors),
        }


@dataclass(frozen=True)
class Selection:
    """The frames A.I.R. chose for one video and question, with the full trace of how.

    frame_indices: sorted original-frame indices; timestamps_s = frame_indices / fps.
    scored: every frame that got a CLIP score: (frame, raw cosine, normalised score, source) with
    source "sample" (1-FPS) or "lds" (localized density sampling).
    """

    frame_indices: tuple[int, ...]
    fps: float
    n_frames: int
    budget: int
    threshold: float | None
    gmm_means: tuple[float, ...]
    gmm_stds: tuple[float, ...]
    events: tuple[tuple[float, float], ...]
    initial_pool: tuple[int, ...]
    rounds: tuple[RoundTrace, ...]
    stop_reason: str
    fallbacks: tuple[dict[str, str], ...]
    scored: tuple[tuple[int, float, float, str], ...]
    timings_s: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    video: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def timestamps_s(self) -> tuple[float, ...]:
        return tuple(f / self.fps for f in self.frame_indices)

    @property
    def n_analyzed(self) -> int:
        return sum(len(r.candidates) for r in self.rounds)

    @property
    def fallback_reasons(self) -> tuple[str, ...]:
        return tuple(f["reason"] for f in self.fallbacks)

    def with_info(self, **info: Any) -> "Selection":
        """A copy with fields replaced (e.g. video=...) or extra keys merged into `extra`."""
        own = {k: v for k, v in info.items() if k in self.__dataclass_fields__}
        extra = {k: v for k, v in info.items() if k not in self.__dataclass_fields__}
        from dataclasses import replace

        return replace(self, **own, extra={**self.extra, **extra})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready trace (ARCHITECTURE.md's public contract)."""
        return {
            "video": self.video,
            "fps": self.fps,
            "n_frames": self.n_frames,
            "frame_indices": list(self.frame_indices),
            "timestamps_s": [round(t, 4) for t in self.timestamps_s],
            "budget": self.budget,
            "threshold": _json_float(self.threshold),
            "gmm": {"means": list(self.gmm_means), "stds": list(self.gmm_stds)},
            "events": [list(e) for e in self.events],
            "initial_pool": list(self.initial_pool),
            "rounds": [r.to_dict() for r in self.rounds],
            "n_analyzed": self.n_analyzed,
            "stop_reason": self.stop_reason,
            "fallbacks": [dict(f) for f in self.fallbacks],
            "scored": [[f, round(raw, 6), round(norm, 6), src] for f, raw, norm, src in self.scored],
            "timings_s": {k: round(v, 6) for k, v in self.timings_s.items()},
            "config": dict(self.config),
            **self.extra,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Selection":
        """Rebuild a Selection from `to_dict()` output (e.g. a saved trace)."""
        known = {
            "video", "fps", "n_frames", "frame_indices", "timestamps_s", "budget", "threshold", "gmm",
            "events", "initial_pool", "rounds", "n_analyzed", "stop_reason", "fallbacks", "scored",
            "timings_s", "config",
        }
        rounds = tuple(
            RoundTrace(
                round=r["round"],
                candidates=tuple(r["candidates"]),
                scores=tuple(r["scores"]),
                reasons=tuple(r["reasons"]),
                similarity=tuple(r.get("similarity", ())),
                intervals=tuple(tuple(iv) for iv in r.get("intervals", ())),
                positives=tuple(r["positives"]),
                top_up=tuple(r["top_up"]),
                lds_added=tuple(r["lds_added"]),
                errors=tuple(r.get("errors", ())),
            )
            for r in data.get("rounds", [])
        )
        return cls(
            frame_indices=tuple(data["frame_indices"]),
            fps=float(data["fps"]),
            n_frames=int(data["n_frames"]),
            budget=int(data["budget"]),
            threshold=data.get("threshold"),
            gmm_means=tuple(data.get("gmm", {}).get("means", ())),
            gmm_stds=tuple(data.get("gmm", {}).get("stds", ())),
            events=tuple(tuple(e) for e in data.get("events", ())),
            initial_pool=tuple(data.get("initial_pool", ())),
            rounds=rounds,
            stop_reason=data.get("stop_reason", ""),
            fallbacks=tuple(dict(f) for f in data.get("fallbacks", ())),
            scored=tuple((int(f), float(r), float(n), str(s)) for f, r, n, s in data.get("scored", ())),
            timings_s=dict(data.get("timings_s", {})),
            config=dict(data.get("config", {})),
            video=data.get("video"),
            extra={k: v for k, v in data.items() if k not in known},
        )


def _json_float(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 6)


class _Scores:
    """The sparse score track S: raw and normalised scores of every frame that has one."""

    def __init__(self, similarity: SimilarityFn, timings: dict[str, float]):
        self._similarity = similarity
        self._timings = timings
        self.raw: dict[int, float] = {}
        self.norm: dict[int, float] = {}
        self.source: dict[int, str] = {}
        self.map = sl.ScoreMap(0.0, 0.0)

    def compute(self, frames: np.ndarray) -> np.ndarray:
        """Raw cosine scores for `frames` (int64 (n,)) through the injected callable, checked."""
        start = time.perf_counter()
        raw = np.asarray(self._similarity(np.asarray(frames, dtype=np.int64)), dtype=np.float64).reshape(-1)
        self._timings["similarity"] = self._timings.get("similarity", 0.0) + time.perf_counter() - start
        if raw.shape != (len(frames),):
            raise ValueError(
                f"Invalid similarity output: shape {raw.shape}. Expected one score per frame ({len(frames)},)."
            )
        return raw

    def add(self, frames: np.ndarray, raw: np.ndarray, source: str) -> None:
        norm = self.map.apply(raw)
        for f, r, n in zip(frames.tolist(), raw.tolist(), norm.tolist()):
            self.raw[f], self.norm[f], self.source[f] = r, n, source

    def sorted_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        idx = np.fromiter(sorted(self.norm), dtype=np.int64, count=len(self.norm))
        return idx, np.array([self.norm[f] for f in idx.tolist()], dtype=np.float64)


def select_frames(
    n_frames: int,
    fps: float,
    similarity: SimilarityFn,
    analyze: AnalyzeFn,
    config: AIRConfig | None = None,
    *,
    video: str | None = None,
) -> Selection:
    """Run A.I.R. on one video: adaptive initial sampling, then the iterative VLM loop.

    n_frames: decoded frame count N; fps: the stream's average rate (frames per second).
    similarity(frames int64 (k,)) -> float (k,) raw cosine similarity of each frame to the query.
    analyze(frames int64 (k,)) -> k FrameScores; called with at most `analysis_batch_size` frames.
    """
    config = config or AIRConfig()
    if not (isinstance(n_frames, (int, np.integer)) and n_frames >= 1):
        raise ValueError(f"Invalid n_frames: {n_frames!r}. Expected an int >= 1.")
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"Invalid fps: {fps!r}. Expected a finite number > 0.")
    n_frames = int(n_frames)
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    fallbacks: list[dict[str, str]] = []
    scores = _Scores(similarity, timings)

    # ---- Stage 1: adaptive initial sampling ----
    samples = sl.initial_sample_indices(n_frames, fps, config.sample_fps)
    raw_samples = scores.compute(samples)
    t_stage1 = time.perf_counter()
    scores.map = sl.ScoreMap.fit(raw_samples)
    scores.add(samples, raw_samples, "sample")
    norm_samples = scores.map.apply(raw_samples)
    times = samples / fps
    budget = sl.adaptive_budget(samples.size, config.max_frames, config.min_frames, config.budget_ref_s, n_frames)
    pool_size = sl.initial_pool_size(budget, config.candidates_per_round, samples.size)

    fit = sl.ThresholdFit(float("nan"), (), (), degenerate=True)
    events: list[tuple[float, float]] = []
    if samples.size < 4 or scores.map.degenerate:
        fallbacks.append({"reason": "degenerate_scores", "detail": f"{samples.size} samples, min == max: {scores.map.degenerate}"})
    else:
        fit = sl.gmm_threshold(norm_samples, config.gamma, config.gmm_seed)
        if fit.degenerate:
            fallbacks.append({"reason": "degenerate_scores", "detail": "GMM input degenerate"})
        elif fit.failed:
            fallbacks.append({"reason": "gmm_failed", "detail": fit.error})
        else:
            events = sl.detect_events(
                times, norm_samples, fit.threshold,
                sample_period_s=1.0 / config.sample_fps,
                merge_gap_s=config.merge_gap_s,
                min_event_s=config.min_event_s,
            )
            if not events:
                fallbacks.append({"reason": "no_events", "detail": f"threshold {fit.threshold:.4f}"})
    if events:
        pool_arr = sl.event_wise_pool(samples, times, norm_samples, events, pool_size)
    else:
        pool_arr = sl.top_k_pool(samples, norm_samples, pool_size)
    pool: set[int] = set(pool_arr.tolist())
    initial_pool = tuple(sorted(pool))
    timings["stage1"] = time.perf_counter() - t_stage1

    # ---- Stage 2: iterative selection ----
    alpha_min_frames = config.alpha_min_s * fps
    quota = sl.fallback_quota(budget, config.max_rounds)
    analysed: dict[int, FrameScore] = {}
    final: list[int] = []
    rounds: list[RoundTrace] = []
    stop_reason = STOP_MAX_ROUNDS
    timings.setdefault("analysis", 0.0)
    timings.setdefault("lds", 0.0)
    for round_no in range(1, config.max_rounds + 1):
        pool_sorted = np.fromiter(sorted(pool), dtype=np.int64, count=len(pool))
        intervals = sl.pool_intervals(pool_sorted, n_frames)
        scored_idx, scored_val = scores.sorted_arrays()
        potentials = sl.interval_potentials(intervals, scored_idx, scored_val, config.c_len)
        excluded = set(final) if config.reanalyze else set(analysed) | set(final)
        if config.spread_candidates:
            chosen = _spread_candidates(intervals, potentials, pool_sorted, excluded, scores.norm, config, fps)
        else:
            chosen = sl.choose_candidates(
                intervals, potentials, pool_sorted, excluded, scores.norm, config.candidates_per_round
            )
        if not chosen:
            stop_reason = STOP_POOL_EXHAUSTED
            break
        cand = [f for f, _ in chosen]
        nominated = {f: iv for f, iv in chosen}

        t_an = time.perf_counter()
        results, errors = _run_analysis(analyze, cand, config.analysis_batch_size)
        timings["analysis"] += time.perf_counter() - t_an
        if errors:
            fallbacks.append({"reason": "analysis_error", "detail": f"round {round_no}: " + "; ".join(errors)})
        for f, r in zip(cand, results):
            analysed[f] = r
        cand_scores = [r.score for r in results]
        cand_sim = [scores.norm.get(f, 0.0) for f in cand]
        positives, top_up = sl.positives_and_top_up(cand, cand_scores, cand_sim, config.score_threshold, quota)
        anchors = positives + top_up
        final = sorted(set(final) | set(anchors))

        lds_added: list[int] = []
        done = len(final) >= budget
        if done:
            if config.spread_candidates:  # opt-in: one frame per sample period first, then by score
                final = sl.trim_to_budget_spread(final, scores.norm, budget, fps / config.sample_fps)
            else:
                final = sl.trim_to_budget(final, scores.norm, budget)
            stop_reason = STOP_BUDGET_FILLED
        elif round_no < config.max_rounds:
            t_lds = time.perf_counter()
            lds_added = _localized_density_sampling(
                anchors, nominated, scores, pool, budget, len(final), alpha_min_frames, n_frames, config
            )
            timings["lds"] += time.perf_counter() - t_lds
        rounds.append(
            RoundTrace(
                round=round_no,
                candidates=tuple(cand),
                scores=tuple(cand_scores),
                reasons=tuple(r.reason for r in results),
                similarity=tuple(cand_sim),
                intervals=tuple(nominated[f] for f in cand),
                positives=tuple(positives),
                top_up=tuple(top_up),
                lds_added=tuple(lds_added),
                errors=tuple(errors),
            )
        )
        if done:
            break

    # ---- Output ----
    if not final:
        fallbacks.append({"reason": "empty_selection", "detail": "no anchors found; using the top pool frames by S"})
        final = sl.trim_to_budget(sorted(pool), scores.norm, budget)
    if config.fixed_budget and len(final) < budget:
        pool_ranked = sorted(pool - set(final), key=lambda f: (-scores.norm[f], f))
        other_ranked = sorted(set(scores.norm) - pool - set(final), key=lambda f: (-scores.norm[f], f))
        final, uniform_added = sl.pad_selection(final, pool_ranked + other_ranked, budget, n_frames)
        if uniform_added:
            fallbacks.append({"reason": "padded_uniform", "detail": f"{uniform_added} evenly spaced frames added"})
    timings["total"] = time.perf_counter() - t_start
    return Selection(
        frame_indices=tuple(int(f) for f in sorted(final)),
        fps=float(fps),
        n_frames=n_frames,
        budget=budget,
        threshold=fit.threshold if fit.usable else None,
        gmm_means=fit.means,
        gmm_stds=fit.stds,
        events=tuple((round(s, 4), round(e, 4)) for s, e in events),
        initial_pool=initial_pool,
        rounds=tuple(rounds),
        stop_reason=stop_reason,
        fallbacks=tuple(fallbacks),
        scored=tuple((f, scores.raw[f], scores.norm[f], scores.source[f]) for f in sorted(scores.norm)),
        timings_s=timings,
        config=config.to_dict(),
        video=video,
    )


def _run_analysis(analyze: AnalyzeFn, frames: list[int], batch_size: int) -> tuple[list[FrameScore], list[str]]:
    """Analyse `frames` in chunks; a chunk that raises or returns the wrong count becomes unparseable."""
    results: list[FrameScore] = []
    errors: list[str] = []
    for start in range(0, len(frames), batch_size):
        chunk = frames[start : start + batch_size]
        try:
            out = list(analyze(np.asarray(chunk, dtype=np.int64)))
            if len(out) != len(chunk):
                raise ValueError(f"analyze returned {len(out)} scores for {len(chunk)} frames")
            out = [r if isinstance(r, FrameScore) else FrameScore(None, "", repr(r)) for r in out]
        except Exception as exc:  # one failing batch must not end the loop (SPEC.md fallbacks)
            errors.append(f"{type(exc).__name__}: {exc}")
            out = [FrameScore(None, "analysis_error", "") for _ in chunk]
        results.extend(out)
    return results, errors


def _localized_density_sampling(
    anchors: list[int],
    nominated: dict[int, tuple[int, int]],
    scores: _Scores,
    pool: set[int],
    budget: int,
    n_final: int,
    alpha_min_frames: float,
    n_frames: int,
    config: AIRConfig,
) -> list[int]:
    """Add frames around each anchor to the pool (not to the final set) and score them."""
    depth = sl.lds_depth(budget, n_final, len(anchors), config.lds_max_depth)
    new: set[int] = set()
    for f in anchors:
        a, b = nominated[f]
        alpha = sl.lds_alpha(b - a, config.alpha_frac, alpha_min_frames)
        new.update(sl.lds_frames(f, alpha=alpha, beta=config.beta, depth=depth, n_frames=n_frames))
    new -= set(scores.norm)
    if not new:
        return []
    frames = np.fromiter(sorted(new), dtype=np.int64, count=len(new))
    scores.add(frames, scores.compute(frames), "lds")
    pool.update(frames.tolist())
    return frames.tolist()


def _spread_candidates(
    intervals: np.ndarray,
    potentials: np.ndarray,
    pool: np.ndarray,
    excluded: set[int],
    score_of: dict[int, float],
    config: AIRConfig,
    fps: float,
) -> list[tuple[int, tuple[int, int]]]:
    """Opt-in (beyond the paper): a round's candidates spread out in time.

    Walks the paper's candidate order (intervals by descending potential) and fills the round in
    three passes, gap = one sample period (fps / sample_fps frames):
    1. exploration: up to round(spread_explore_frac * C) frames at least `gap` away from every frame
       already analysed or selected (`excluded`) and from each other (0 slots by default);
    2. spread: frames at least `gap` away from the round's other candidates;
    3. fill: any frame left, in the paper's order (so a round never has fewer candidates than the
       paper's would).
    Returns (frame, nominating interval) pairs; frames unique, from the pool, none in `excluded`.
    """
    count = config.candidates_per_round
    ordered = sl.choose_candidates(intervals, potentials, pool, excluded, score_of, len(pool))
    gap = fps / config.sample_fps
    looked_at = np.fromiter(sorted(excluded), dtype=np.int64, count=len(excluded))
    chosen: list[tuple[int, tuple[int, int]]] = []
    taken: set[int] = set()

    def far_from_chosen(f: int) -> bool:
        return all(abs(f - g) >= gap for g, _ in chosen)

    def far_from_looked_at(f: int) -> bool:
        if looked_at.size == 0:
            return True
        k = int(np.searchsorted(looked_at, f))
        near = [abs(f - int(looked_at[j])) for j in (k - 1, k) if 0 <= j < looked_at.size]
        return min(near) >= gap

    explore = min(count, math.floor(config.spread_explore_frac * count + 0.5))
    passes = (
        (explore, lambda f: far_from_looked_at(f) and far_from_chosen(f)),
        (count, far_from_chosen),
        (count, lambda f: True),
    )
    for limit, accept in passes:
        for f, iv in ordered:
            if len(chosen) >= limit:
                break
            if f not in taken and accept(f):
                chosen.append((f, iv))
                taken.add(f)
    return chosen
