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
from air.strict_json import strict_json_value

SimilarityFn = Callable[[np.ndarray], np.ndarray]
AnalyzeFn = Callable[[np.ndarray], Sequence[FrameScore]]

STOP_BUDGET_FILLED = "budget_filled"
STOP_MAX_ROUNDS = "max_rounds"
STOP_POOL_EXHAUSTED = "pool_exhausted"


@dataclass(frozen=True)
class RoundTrace:
    """One iteration of stage 2. Frame lists hold original-frame indices.

    similarity: the candidates' normalised CLIP scores (None for a failed score).
    lds_added: frames that joined the pool F by localized density sampling this round (newly scored
    ones and earlier 1-FPS samples outside the pool alike).
    """

    round: int
    candidates: tuple[int, ...]
    scores: tuple[int | None, ...]
    reasons: tuple[str, ...]
    similarity: tuple[float | None, ...]
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
            "similarity": [_json_float(s) for s in self.similarity],
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
    events: the events in seconds on the video's clock, (time of the first sample, time of the
    last sample); event_samples: the same events as (first, last) sample numbers, inclusive.
    scored: every frame whose CLIP score was computed: (frame, raw cosine, normalised score, source)
    with source "sample" (1-FPS) or "lds" (localized density sampling); raw and normalised are None
    for a failed score (NaN or infinite similarity), which nothing else uses.
    `to_dict()` / `to_json()` are strict JSON: a non-finite number anywhere is written as null.
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
    scored: tuple[tuple[int, float | None, float | None, str], ...]
    timings_s: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    video: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    event_samples: tuple[tuple[int, int], ...] = ()

    @property
    def timestamps_s(self) -> tuple[float, ...]:
        return tuple(f / self.fps for f in self.frame_indices)

    @property
    def n_analyzed(self) -> int:
        """Frames the analysis backbone rated (0 with ablate_analysis: candidates were not rated)."""
        if self.config.get("ablate_analysis"):
            return 0
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
        """JSON-ready trace (ARCHITECTURE.md's public contract): plain Python values, strict JSON."""
        return strict_json_value({
            "video": self.video,
            "fps": self.fps,
            "n_frames": self.n_frames,
            "frame_indices": list(self.frame_indices),
            "timestamps_s": [round(t, 4) for t in self.timestamps_s],
            "budget": self.budget,
            "threshold": _json_float(self.threshold),
            "gmm": {"means": list(self.gmm_means), "stds": list(self.gmm_stds)},
            "events": [[round(float(s), 4), round(float(e), 4)] for s, e in self.events],
            "event_samples": [[int(i), int(j)] for i, j in self.event_samples],
            "initial_pool": list(self.initial_pool),
            "rounds": [r.to_dict() for r in self.rounds],
            "n_analyzed": self.n_analyzed,
            "stop_reason": self.stop_reason,
            "fallbacks": [dict(f) for f in self.fallbacks],
            "scored": [[f, _json_float(raw), _json_float(norm), src] for f, raw, norm, src in self.scored],
            "timings_s": {k: _json_float(v) for k, v in self.timings_s.items()},
            "config": dict(self.config),
            **self.extra,
        })[0]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Selection":
        """Rebuild a Selection from `to_dict()` output (e.g. a saved trace)."""
        known = {
            "video", "fps", "n_frames", "frame_indices", "timestamps_s", "budget", "threshold", "gmm",
            "events", "event_samples", "initial_pool", "rounds", "n_analyzed", "stop_reason", "fallbacks",
            "scored", "timings_s", "config",
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
            event_samples=tuple((int(i), int(j)) for i, j in data.get("event_samples", ())),
            initial_pool=tuple(data.get("initial_pool", ())),
            rounds=rounds,
            stop_reason=data.get("stop_reason", ""),
            fallbacks=tuple(dict(f) for f in data.get("fallbacks", ())),
            scored=tuple((int(f), _float_or_none(r), _float_or_none(n), str(s)) for f, r, n, s in data.get("scored", ())),
            timings_s=dict(data.get("timings_s", {})),
            config=dict(data.get("config", {})),
            video=data.get("video"),
            extra={k: v for k, v in data.items() if k not in known},
        )


def _json_float(value: float | None) -> float | None:
    """A number rounded to 6 decimals for the trace; None for None, NaN and +-inf."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 6)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


class _Scores:
    """The sparse score track S of one video.

    raw: every frame whose similarity was computed (a failed one holds its NaN/inf);
    norm: the normalised scores of the frames with a finite similarity only: a failed score is
    recorded (`failed`) and never used.
    """

    def __init__(self, similarity: SimilarityFn, timings: dict[str, float]):
        self._similarity = similarity
        self._timings = timings
        self.raw: dict[int, float] = {}
        self.norm: dict[int, float] = {}
        self.source: dict[int, str] = {}
        self.failed: list[int] = []
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
            self.raw[f], self.source[f] = r, source
            if math.isfinite(n):
                self.norm[f] = n
            else:
                self.failed.append(f)

    def sorted_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        idx = np.fromiter(sorted(self.norm), dtype=np.int64, count=len(self.norm))
        return idx, np.array([self.norm[f] for f in idx.tolist()], dtype=np.float64)

    def trace(self) -> tuple[tuple[int, float | None, float | None, str], ...]:
        """(frame, raw, normalised, source) of every computed frame; None for failed scores."""
        return tuple(
            (f, self.raw[f] if f in self.norm else None, self.norm.get(f), self.source[f]) for f in sorted(self.raw)
        )


@dataclass(frozen=True)
class _Stage1:
    """What adaptive initial sampling hands to the loop (SPEC.md Stage 1)."""

    budget: int
    fit: sl.ThresholdFit
    events: tuple[tuple[int, int], ...]  # (first, last) sample numbers
    events_s: tuple[tuple[float, float], ...]  # the same on the video's clock
    pool: tuple[int, ...]


def _check_video(n_frames: Any, fps: Any) -> tuple[int, float]:
    if isinstance(n_frames, (bool, np.bool_)) or not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
        raise ValueError(f"Invalid n_frames: {n_frames!r}. Expected an int >= 1.")
    if not (sl.is_real_number(fps) and fps > 0):
        raise ValueError(f"Invalid fps: {fps!r}. Expected a finite number > 0.")
    return int(n_frames), float(fps)


def _adaptive_initial_sampling(
    n_frames: int, fps: float, scores: _Scores, config: AIRConfig, fallbacks: list[dict[str, str]]
) -> _Stage1:
    """Stage 1: score the 1-FPS samples, derive the budget B and the initial pool F."""
    samples = sl.initial_sample_indices(n_frames, fps, config.sample_fps)
    raw_samples = scores.compute(samples)
    scores.map = sl.ScoreMap.fit(raw_samples)
    scores.add(samples, raw_samples, "sample")
    norm = scores.map.apply(raw_samples)  # NaN where the score failed
    budget = sl.video_budget(n_frames, fps, config.max_frames, config.min_frames, config.budget_ref_s)
    pool_size = sl.initial_pool_size(budget, config.candidates_per_round, samples.size)
    n_finite = int(np.isfinite(norm).sum())

    fit = sl.ThresholdFit(float("nan"), (), (), degenerate=True)
    events: list[tuple[int, int]] = []
    if config.ablate_threshold:  # recorded through the config, not a fallback
        pool = sl.evenly_spaced_pool(samples, norm, pool_size)
    elif n_finite < 4 or scores.map.degenerate:
        why = "no finite score" if n_finite == 0 else (
            f"{n_finite} samples with a score (< 4)" if n_finite < 4 else "all sample scores equal")
        fallbacks.append({"reason": "degenerate_scores", "detail": f"{why}; pool = {pool_size} evenly spaced samples"})
        pool = sl.evenly_spaced_pool(samples, norm, pool_size)
    else:
        fit = sl.gmm_threshold(norm, config.gamma, config.gmm_seed)
        if not fit.usable:
            reason = "degenerate_scores" if fit.degenerate else "gmm_failed"
            detail = "GMM input degenerate" if fit.degenerate else fit.error
            fallbacks.append({"reason": reason, "detail": f"{detail}; pool = {pool_size} evenly spaced samples"})
            pool = sl.evenly_spaced_pool(samples, norm, pool_size)
        else:
            events = sl.detect_events(
                norm, fit.threshold,
                sample_period_s=1.0 / config.sample_fps,
                merge_gap_s=config.merge_gap_s,
                min_event_s=config.min_event_s,
            )
            if events:
                pool = sl.event_wise_pool(samples, norm, events, pool_size)
            else:
                fallbacks.append({"reason": "no_events", "detail": f"threshold {fit.threshold:.4f}; pool = top {pool_size} samples by S"})
                pool = sl.top_k_pool(samples, norm, pool_size)
    events_s = tuple((float(samples[i]) / fps, float(samples[j]) / fps) for i, j in events)
    return _Stage1(budget, fit, tuple(events), events_s, tuple(int(f) for f in pool))


def _round_candidates(
    pool: set[int], scores: _Scores, excluded: set[int], n_frames: int, fps: float, config: AIRConfig
) -> list[tuple[int, tuple[int, int]]]:
    """Stage 2.1-2.2: interval potentials over the pool, then up to C (frame, nominating interval) pairs."""
    pool_sorted = np.fromiter(sorted(pool), dtype=np.int64, count=len(pool))
    intervals = sl.pool_intervals(pool_sorted, n_frames)
    if config.ablate_ranking:
        potentials = np.zeros(len(intervals))  # unused: candidates go in time order
    else:
        scored_idx, scored_val = scores.sorted_arrays()
        potentials = sl.interval_potentials(intervals, scored_idx, scored_val, config.c_len)
    if config.spread_candidates:
        return _spread_candidates(intervals, potentials, pool_sorted, excluded, scores.norm, config, fps)
    return sl.choose_candidates(intervals, potentials, pool_sorted, excluded, scores.norm,
                                config.candidates_per_round, by_time=config.ablate_ranking)


def _ablated_analysis(candidates: list[int]) -> list[FrameScore]:
    """Stage 2.3 under ablate_analysis: no VLM, every candidate gets an empty verdict."""
    return [FrameScore(None, "", "") for _ in candidates]


def _round_anchors(
    candidates: list[int], results: list[FrameScore], similarity: list[float | None], quota: int, config: AIRConfig
) -> tuple[list[int], list[int]]:
    """Stage 2.4: (positives, top-up); with ablate_analysis every candidate is a positive."""
    if config.ablate_analysis:
        return list(candidates), []
    return sl.positives_and_top_up(candidates, [r.score for r in results], similarity, config.score_threshold, quota)


class SelectionLoop:
    """The SPEC.md loop of one video as explicit state: it stops wherever it needs the VLM's verdicts.

    n_frames, fps, similarity, config: as in `select_frames`; `similarity` is called from `pending()`
    (stage 1: the 1-FPS samples) and from `submit()` (localized density sampling), never in between.
    Drive it with:

        loop = SelectionLoop(n_frames, fps, similarity, config)
        while (frames := loop.pending()) is not None:
            loop.submit(*run_analysis(analyze, frames, config.analysis_batch_size))
        selection = loop.result()

    Any number of loops can be driven side by side (air.selection_driver): what a loop does depends
    only on the verdicts it is given, so a video's Selection is the same however its frames were
    batched. With ablate_analysis no frame ever waits: the first `pending()` runs the whole loop.
    An exception from `similarity` ends the loop: it is raised, and raised again by every later call.
    """

    def __init__(self, n_frames: int, fps: float, similarity: SimilarityFn, config: AIRConfig | None = None, *,
                 video: str | None = None):
        self.config = config or AIRConfig()
        self.n_frames, self.fps = _check_video(n_frames, fps)
        self.video = video
        self._timings: dict[str, float] = {}
        self._scores = _Scores(similarity, self._timings)
        self._fallbacks: list[dict[str, str]] = []
        self._stage1: _Stage1 | None = None
        self._pool: set[int] = set()
        self._analysed: dict[int, FrameScore] = {}
        self._final: list[int] = []
        self._rounds: list[RoundTrace] = []
        self._round_no = 0
        self._stop_reason = STOP_MAX_ROUNDS
        self._stopped = False
        self._chosen: list[tuple[int, tuple[int, int]]] = []
        self._waiting = False  # the current round's candidates wait for their verdicts
        self._t_start = 0.0
        self._t_pending = 0.0
        self._result: Selection | None = None
        self._error: BaseException | None = None

    # -- the three calls of a driver ---------------------------------------------------------------
    @property
    def done(self) -> bool:
        """True once the Selection is ready (`result()`)."""
        return self._result is not None

    def pending(self) -> np.ndarray | None:
        """Frames int64 (k,) that wait for the VLM's verdicts, in candidate order; None when done.

        The first call runs stage 1 (the 1-FPS similarity, budget, events, pool). Until `submit()` the
        same frames are returned again.
        """
        self._check_alive()
        if self._stage1 is None:
            self._guarded(self._start)
        if self._result is not None:
            return None
        return np.asarray([f for f, _ in self._chosen], dtype=np.int64)

    def submit(self, scores: Sequence[FrameScore], errors: Sequence[str] = ()) -> None:
        """Give the verdicts on `pending()`'s frames (one FrameScore each, same order) and move on.

        errors: what went wrong while analysing them (recorded as an `analysis_error` fallback and in
        the round's trace), e.g. the second output of `run_analysis`. Runs the rest of the round
        (positives, early stop, localized density sampling) and picks the next candidates.
        """
        self._check_alive()
        if not self._waiting:
            raise RuntimeError("Invalid submit: no frames are waiting for analysis. Call pending() first "
                               "(it returns None once the loop is done).")
        results = list(scores)
        if len(results) != len(self._chosen):
            raise ValueError(f"Invalid scores: {len(results)} for {len(self._chosen)} pending frames. "
                             "Expected one FrameScore per frame of pending(), in the same order.")
        bad = [type(r).__name__ for r in results if not isinstance(r, FrameScore)]
        if bad:
            raise TypeError(f"Invalid scores: {bad[0]} found. Expected FrameScore objects.")
        self._timings["analysis"] += time.perf_counter() - self._t_pending
        self._waiting = False
        self._guarded(lambda: (self._close_round(results, [str(e) for e in errors]), self._advance()))

    def result(self) -> Selection:
        """The finished Selection; raises RuntimeError while frames still wait for analysis."""
        self._check_alive()
        if self._result is None:
            waiting = len(self._chosen) if self._waiting else 0
            raise RuntimeError(f"The selection loop is not finished: {waiting} frames wait for analysis. "
                               "Call pending() and submit() until pending() returns None.")
        return self._result

    # -- internals ------------------------------------------------------------------------------------
    def _check_alive(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"The selection loop failed earlier ({type(self._error).__name__}: "
                               f"{self._error}).") from self._error

    def _guarded(self, step: Callable[[], Any]) -> None:
        try:
            step()
        except BaseException as exc:
            self._error = exc
            raise

    def _start(self) -> None:
        """Stage 1, then the first round's candidates."""
        self._t_start = time.perf_counter()
        config = self.config
        self._stage1 = _adaptive_initial_sampling(self.n_frames, self.fps, self._scores, config, self._fallbacks)
        self._timings["stage1"] = time.perf_counter() - self._t_start - self._timings.get("similarity", 0.0)
        self._pool = set(self._stage1.pool)
        self._alpha_min_frames = config.alpha_min_s * self.fps
        self._quota = sl.fallback_quota(self._stage1.budget, config.max_rounds)
        self._timings.setdefault("analysis", 0.0)
        self._timings.setdefault("lds", 0.0)
        self._advance()

    def _advance(self) -> None:
        """Open rounds until one needs the VLM (its candidates wait) or the loop ends (result built)."""
        config = self.config
        while not self._stopped and self._round_no < config.max_rounds:
            self._round_no += 1
            excluded = set(self._final) if config.reanalyze else set(self._analysed) | set(self._final)
            self._chosen = _round_candidates(self._pool, self._scores, excluded, self.n_frames, self.fps, config)
            if not self._chosen:
                self._stop_reason = STOP_POOL_EXHAUSTED
                break
            if not config.ablate_analysis:
                self._waiting = True
                self._t_pending = time.perf_counter()
                return
            self._close_round(_ablated_analysis([f for f, _ in self._chosen]), [])
        self._chosen = []
        self._result = self._output()

    def _close_round(self, results: list[FrameScore], errors: list[str]) -> None:
        """Stage 2.4-2.6 of the current round, given the verdicts on its candidates."""
        config, scores, budget = self.config, self._scores, self._stage1.budget
        round_no = self._round_no
        cand = [f for f, _ in self._chosen]
        nominated = dict(self._chosen)
        if errors:
            self._fallbacks.append({"reason": "analysis_error", "detail": f"round {round_no}: " + "; ".join(errors)})
        self._analysed.update(zip(cand, results))
        cand_sim = [scores.norm.get(f) for f in cand]
        positives, top_up = _round_anchors(cand, results, cand_sim, self._quota, config)
        anchors = positives + top_up
        final = sorted(set(self._final) | set(anchors))

        lds_added: list[int] = []
        done = len(final) >= budget
        if done:  # Stage 2.5: early stop
            if config.spread_candidates:  # opt-in: one frame per sample period first, then by score
                final = sl.trim_to_budget_spread(final, scores.norm, budget, self.fps / config.sample_fps)
            else:
                final = sl.trim_to_budget(final, scores.norm, budget)
            self._stop_reason = STOP_BUDGET_FILLED
            self._stopped = True
        elif round_no < config.max_rounds and not config.ablate_lds:  # Stage 2.6
            t_lds = time.perf_counter()
            lds_added = _localized_density_sampling(
                anchors, nominated, scores, self._pool, budget, len(final), self._alpha_min_frames, self.n_frames,
                config,
            )
            self._timings["lds"] += time.perf_counter() - t_lds
        self._final = final
        self._rounds.append(
            RoundTrace(
                round=round_no,
                candidates=tuple(cand),
                scores=tuple(r.score for r in results),
                reasons=tuple(r.reason for r in results),
                similarity=tuple(cand_sim),
                intervals=tuple(nominated[f] for f in cand),
                positives=tuple(positives),
                top_up=tuple(top_up),
                lds_added=tuple(lds_added),
                errors=tuple(errors),
            )
        )

    def _output(self) -> Selection:
        """SPEC.md Output: the final frames (empty-selection and fixed-budget rules), with the trace."""
        config, scores, stage1, pool = self.config, self._scores, self._stage1, self._pool
        budget, fallbacks, final = stage1.budget, self._fallbacks, self._final
        if not final:
            fallbacks.append({"reason": "empty_selection", "detail": "no anchors found; using the top pool frames by S"})
            final = sl.trim_to_budget(sorted(pool), scores.norm, budget)
        if config.fixed_budget and len(final) < budget:
            pool_ranked = sl.rank_by_score(pool - set(final), scores.norm)
            other_ranked = sl.rank_by_score(set(scores.norm) - pool - set(final), scores.norm)
            final, uniform_added = sl.pad_selection(final, pool_ranked + other_ranked, budget, self.n_frames,
                                                    scores.failed)
            if uniform_added:
                fallbacks.append({"reason": "padded_uniform", "detail": f"{uniform_added} evenly spaced frames added"})
        if scores.failed:
            shown = ", ".join(str(f) for f in sorted(scores.failed)[:10]) + (", ..." if len(scores.failed) > 10 else "")
            fallbacks.append({"reason": "failed_scores", "detail": (
                f"{len(scores.failed)} of {len(scores.raw)} CLIP similarities were NaN or infinite and were left out "
                f"(frames {shown})")})
        self._timings["total"] = time.perf_counter() - self._t_start
        fit = stage1.fit
        return Selection(
            frame_indices=tuple(int(f) for f in sorted(final)),
            fps=self.fps,
            n_frames=self.n_frames,
            budget=budget,
            threshold=fit.threshold if fit.usable else None,
            gmm_means=fit.means,
            gmm_stds=fit.stds,
            events=tuple((round(s, 4), round(e, 4)) for s, e in stage1.events_s),
            event_samples=stage1.events,
            initial_pool=stage1.pool,
            rounds=tuple(self._rounds),
            stop_reason=self._stop_reason,
            fallbacks=tuple(fallbacks),
            scored=scores.trace(),
            timings_s=dict(self._timings),
            config=config.to_dict(),
            video=self.video,
        )


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

    n_frames: decoded frame count N (any int type); fps: the stream's average rate, frames per
    second (any finite real > 0, numpy scalars included).
    similarity(frames int64 (k,)) -> float (k,) raw cosine similarity of each frame to the query;
    a NaN or infinite value is a failed score (recorded, never used).
    analyze(frames int64 (k,)) -> k FrameScores; called with at most `analysis_batch_size` frames
    (never with ablate_analysis). A call that raises or returns another count makes its frames
    unparseable (an `analysis_error` fallback); the loop goes on.
    """
    return drive_loop(SelectionLoop(n_frames, fps, similarity, config, video=video), analyze)


def drive_loop(loop: SelectionLoop, analyze: AnalyzeFn) -> Selection:
    """Drive one SelectionLoop to its end, each round's frames analysed by `analyze` in chunks (run_analysis)."""
    while (frames := loop.pending()) is not None:
        loop.submit(*run_analysis(analyze, frames.tolist(), loop.config.analysis_batch_size))
    return loop.result()


def as_frame_score(value: Any) -> FrameScore:
    """`value` if it is a FrameScore, else an unparseable verdict that keeps its repr as the raw text."""
    return value if isinstance(value, FrameScore) else FrameScore(None, "", repr(value))


def run_analysis(analyze: AnalyzeFn, frames: Sequence[int], batch_size: int) -> tuple[list[FrameScore], list[str]]:
    """Analyse `frames` in chunks of `batch_size`; returns (one FrameScore per frame, error messages).

    A chunk that raises or returns the wrong count becomes unparseable (reason "analysis_error") and
    its error is returned, so one failing batch never ends the loop (SPEC.md fallbacks).
    """
    results: list[FrameScore] = []
    errors: list[str] = []
    for start in range(0, len(frames), batch_size):
        chunk = frames[start : start + batch_size]
        try:
            out = list(analyze(np.asarray(chunk, dtype=np.int64)))
            if len(out) != len(chunk):
                raise ValueError(f"analyze returned {len(out)} scores for {len(chunk)} frames")
            out = [as_frame_score(r) for r in out]
        except Exception as exc:  # one failing batch must not end the loop (SPEC.md fallbacks)
            errors.append(f"{type(exc).__name__}: {exc}")
            out = failed_verdicts(len(chunk))
        results.extend(out)
    return results, errors


def failed_verdicts(count: int) -> list[FrameScore]:
    """`count` unparseable verdicts of frames whose analysis raised (reason "analysis_error")."""
    return [FrameScore(None, "analysis_error", "") for _ in range(count)]


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
    """Stage 2.6: frames around each anchor join the pool F (not the final set); returns them, sorted.

    Frames never scored are scored now (one similarity call); frames scored earlier (1-FPS samples
    outside the pool) join as they are. A failed score keeps a frame out, and is never retried.
    """
    depth = sl.lds_depth(budget, n_final, len(anchors), config.lds_max_depth)
    new: set[int] = set()
    for f in anchors:
        a, b = nominated[f]
        alpha = sl.lds_alpha(b - a, config.alpha_frac, alpha_min_frames)
        new.update(sl.lds_frames(f, alpha=alpha, beta=config.beta, depth=depth, n_frames=n_frames))
    new -= pool
    unscored = sorted(new - set(scores.raw))
    if unscored:
        frames = np.asarray(unscored, dtype=np.int64)
        scores.add(frames, scores.compute(frames), "lds")
    joined = sorted(f for f in new if f in scores.norm)
    pool.update(joined)
    return joined


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

    Walks the paper's candidate order (intervals by descending potential; time order with
    ablate_ranking) and fills the round in
    three passes, gap = one sample period (fps / sample_fps frames):
    1. exploration: up to round(spread_explore_frac * C) frames at least `gap` away from every frame
       already analysed or selected (`excluded`) and from each other (0 slots by default);
    2. spread: frames at least `gap` away from the round's other candidates;
    3. fill: any frame left, in the paper's order (so a round never has fewer candidates than the
       paper's would).
    Returns (frame, nominating interval) pairs; frames unique, from the pool, none in `excluded`.
    """
    count = config.candidates_per_round
    ordered = sl.choose_candidates(intervals, potentials, pool, excluded, score_of, len(pool),
                                   by_time=config.ablate_ranking)
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
