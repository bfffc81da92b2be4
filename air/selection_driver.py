"""Several videos' selection loops driven together: one batched analysis call per step across videos.

Pure logic over injected callables (no torch, no I/O), like air/selection.py. Each step gathers the
frames every unfinished loop waits for, turns them into analysis items (`LoopRun.read`, e.g. decode
them), sends all items to `analyze_items` in chunks of `batch_size`, and hands each loop its verdicts.
A loop that finishes leaves the batch; the others go on.

A video's Selection is the one `drive_loop` (one video at a time) gives, by construction: a loop's
next step depends only on the verdicts it receives, and a video whose items cannot go through the
shared path (its `read` raises, or a shared chunk holding its items raises or returns the wrong
count) has its round analysed again on its own by `LoopRun.analyze` through `run_analysis`, exactly
as `drive_loop` analyses it. Any other exception of a loop (its similarity, e.g. CLIP or the video
decoder failing) is that video's result; the other videos are not touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from air.Process_Utils.process_messages import FrameScore
from air.selection import (
    AnalyzeFn,
    Selection,
    SelectionLoop,
    as_frame_score,
    run_analysis,
)

#: analyze_items(items) -> one FrameScore per item, in order: the items of one chunk, any mix of videos.
AnalyzeItemsFn = Callable[[list[Any]], Sequence[FrameScore]]


@dataclass
class LoopRun:
    """One video of a multi-video drive.

    loop: its SelectionLoop (stage 1 may have run already).
    read(frames int64 (k,)) -> k analysis items, one per frame in order (what analyze_items takes).
    analyze(frames int64 (k,)) -> k FrameScores: the video on its own, used when the shared path fails
    for it (drive_loop's analysis of the video).
    charge(seconds): optional; receives this video's share of each shared call's wall time (by items).
    """

    loop: SelectionLoop
    read: Callable[[np.ndarray], Sequence[Any]]
    analyze: AnalyzeFn
    charge: Callable[[float], None] | None = None


@dataclass
class _Waiting:
    """A run's state within one step."""

    index: int
    frames: np.ndarray
    items: list[Any] | None = None  # None: this round goes the one-video way
    scores: list[FrameScore | None] | None = None


class LoopDriver:
    """Drives many SelectionLoops to their end with shared analysis calls.

    analyze_items: rates a chunk of items (frames of any videos and queries) in one call.
    batch_size: most items per analyze_items call (the configuration's analysis_batch_size); a
    video's own fallback analysis uses its loop's config.analysis_batch_size.
    Counters after `run`: steps, analysis_calls (shared calls made, failed ones included),
    solo_rounds (rounds that were analysed one video at a time after the shared path failed), and
    shared_errors: one message per shared call that failed (for the caller to log; results are not
    affected).
    """

    def __init__(self, analyze_items: AnalyzeItemsFn, batch_size: int):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"Invalid batch_size: {batch_size!r}. Expected an int >= 1.")
        self.analyze_items = analyze_items
        self.batch_size = int(batch_size)
        self.steps = 0
        self.analysis_calls = 0
        self.solo_rounds = 0
        self.shared_errors: list[str] = []

    def run(self, runs: Sequence[LoopRun]) -> list[Selection | Exception]:
        """Each run's Selection, or the exception that ended its loop, in the order of `runs`."""
        results: list[Selection | Exception | None] = [None] * len(runs)
        active = list(range(len(runs)))
        while active:
            waiting = self._collect(runs, active, results)
            if not waiting:
                break
            self.steps += 1
            self._analyse_shared(runs, waiting)
            for entry in waiting:
                run = runs[entry.index]
                if entry.scores is None or any(s is None for s in entry.scores):
                    self.solo_rounds += 1
                    scores, errors = run_analysis(run.analyze, entry.frames.tolist(), run.loop.config.analysis_batch_size)
                else:
                    scores, errors = list(entry.scores), []
                try:
                    run.loop.submit(scores, errors)
                except Exception as exc:  # e.g. the similarity of localized density sampling
                    results[entry.index] = exc
            active = [w.index for w in waiting if results[w.index] is None]
        return results  # type: ignore[return-value]

    def _collect(self, runs: Sequence[LoopRun], active: list[int], results: list) -> list[_Waiting]:
        """The runs that wait for analysis, with their items read; finished and failed runs get their result."""
        waiting = []
        for index in active:
            run = runs[index]
            try:
                frames = run.loop.pending()
                if frames is None:
                    results[index] = run.loop.result()
                    continue
            except Exception as exc:
                results[index] = exc
                continue
            entry = _Waiting(index, frames)
            try:
                items = list(run.read(frames))
                if len(items) != len(frames):
                    raise ValueError(f"read returned {len(items)} items for {len(frames)} frames")
                entry.items = items
            except Exception:  # the round goes the one-video way, where the error is recorded per chunk
                entry.items = None
            waiting.append(entry)
        return waiting

    def _analyse_shared(self, runs: Sequence[LoopRun], waiting: list[_Waiting]) -> None:
        """One analyze_items call per chunk of every waiting run's items; verdicts routed back."""
        flat: list[tuple[_Waiting, int, Any]] = []
        for entry in waiting:
            if entry.items is not None:
                entry.scores = [None] * len(entry.items)
                flat.extend((entry, k, item) for k, item in enumerate(entry.items))
        for start in range(0, len(flat), self.batch_size):
            chunk = flat[start : start + self.batch_size]
            self.analysis_calls += 1
            t0 = time.perf_counter()
            try:
                out = list(self.analyze_items([item for _, _, item in chunk]))
                if len(out) != len(chunk):
                    raise ValueError(f"analyze_items returned {len(out)} scores for {len(chunk)} items")
            except Exception as exc:  # each video of the chunk is analysed again on its own (run's `analyze`)
                videos = sorted({entry.index for entry, _, _ in chunk})
                self.shared_errors.append(f"{type(exc).__name__}: {exc} (a call of {len(chunk)} frames of "
                                          f"videos {videos})")
                for entry, _, _ in chunk:
                    entry.scores = None
                continue
            seconds = time.perf_counter() - t0
            for (entry, k, _), score in zip(chunk, out):
                if entry.scores is not None:
                    entry.scores[k] = as_frame_score(score)
            self._charge(runs, chunk, seconds)

    @staticmethod
    def _charge(runs: Sequence[LoopRun], chunk: list, seconds: float) -> None:
        counts: dict[int, int] = {}
        for entry, _, _ in chunk:
            counts[entry.index] = counts.get(entry.index, 0) + 1
        for index, count in counts.items():
            if runs[index].charge is not None:
                runs[index].charge(seconds * count / len(chunk))


def drive_loops(runs: Sequence[LoopRun], analyze_items: AnalyzeItemsFn, batch_size: int) -> list[Selection | Exception]:
    """`LoopDriver(analyze_items, batch_size).run(runs)`: each video's Selection or its exception."""
    return LoopDriver(analyze_items, batch_size).run(runs)
