"""Synthetic videos: where the evidence and the distractors are, and what CLIP says about each frame.

A layout lists segments in seconds (start inclusive, end exclusive). Evidence segments answer the
question; distractor segments look just as relevant to CLIP (their similarity bump is drawn from the
same distribution) but do not answer it. Frame f is at time f / fps seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Raw cosine similarities of a CLIP model to a question sit around 0.2; a relevant segment lifts them
# by a few hundredths. CLIP noise levels are given in units of that lift (CONTRAST).
BASE_SIMILARITY = 0.20
CONTRAST = 0.05
BACKGROUND_AMPLITUDE = 0.2  # slow background drift, in units of CONTRAST
RAMP_S = 0.5  # similarity ramps up/down over this many seconds at segment edges


@dataclass(frozen=True)
class LayoutSpec:
    """How videos are drawn. Durations in seconds."""

    fps: float = 30.0
    min_duration_s: float = 120.0
    max_duration_s: float = 2400.0
    long_event_prob: float = 0.3
    short_evidence_s: tuple[float, float] = (4.0, 15.0)
    long_evidence_s: tuple[float, float] = (20.0, 90.0)
    max_short_evidence: int = 2
    distractors: tuple[int, int] = (1, 3)
    distractor_s: tuple[float, float] = (4.0, 15.0)
    min_gap_s: float = 10.0


@dataclass(frozen=True)
class VideoLayout:
    """One synthetic video: frame count, rate and its segments (seconds, end exclusive).

    levels_*: each segment's similarity lift in units of CONTRAST (evidence and distractors alike).
    """

    fps: float
    n_frames: int
    evidence: tuple[tuple[float, float], ...]
    distractors: tuple[tuple[float, float], ...]
    evidence_levels: tuple[float, ...]
    distractor_levels: tuple[float, ...]
    long_event: bool

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    def frame_times(self) -> np.ndarray:
        """float64 (n_frames,): the time of every frame in seconds."""
        return np.arange(self.n_frames, dtype=np.float64) / self.fps


def _place(rng: np.random.Generator, lengths: list[float], duration: float, min_gap: float) -> list[tuple[float, float]]:
    """Segments of the given lengths in the given order, at least `min_gap` apart and from both ends.

    The slack (duration minus lengths and minimum gaps) is shared among the gaps at random
    (Dirichlet weights). Requires the slack to be >= 0.
    """
    slack = duration - sum(lengths) - (len(lengths) + 1) * min_gap
    if slack < 0:
        raise ValueError(f"Invalid lengths: {sum(lengths):.1f} s of segments do not fit in {duration:.1f} s with gaps of {min_gap} s.")
    gaps = min_gap + slack * rng.dirichlet(np.ones(len(lengths) + 1))
    placed: list[tuple[float, float]] = []
    t = 0.0
    for gap, length in zip(gaps[:-1], lengths):
        t += float(gap)
        placed.append((t, t + length))
        t += length
    return placed


def generate_layout(rng: np.random.Generator, spec: LayoutSpec = LayoutSpec()) -> VideoLayout:
    """Draw one video: duration, 1-2 short evidence segments or one long event, 1-3 distractors.

    Segments are placed in random order, at least `min_gap_s` apart; a video too short for all of them
    drops distractors (never evidence) until they fit.
    """
    duration = float(rng.uniform(spec.min_duration_s, spec.max_duration_s))
    n_frames = math.floor(duration * spec.fps)
    long_event = bool(rng.random() < spec.long_event_prob)
    if long_event:
        ev_lengths = [float(rng.uniform(*spec.long_evidence_s))]
    else:
        count = int(rng.integers(1, spec.max_short_evidence + 1))
        ev_lengths = [float(rng.uniform(*spec.short_evidence_s)) for _ in range(count)]
    n_dis = int(rng.integers(spec.distractors[0], spec.distractors[1] + 1))
    dis_lengths = [float(rng.uniform(*spec.distractor_s)) for _ in range(n_dis)]
    # A short video may not hold every segment with its gaps: drop distractors until it does.
    while dis_lengths and sum(ev_lengths + dis_lengths) + (len(ev_lengths) + len(dis_lengths) + 1) * spec.min_gap_s > n_frames / spec.fps:
        dis_lengths.pop()
        n_dis -= 1
    order = rng.permutation(len(ev_lengths) + n_dis)
    lengths = ev_lengths + dis_lengths
    placed = _place(rng, [lengths[i] for i in order], n_frames / spec.fps, spec.min_gap_s)
    by_kind: dict[int, tuple[float, float]] = {int(i): seg for i, seg in zip(order, placed)}
    evidence = tuple(sorted(by_kind[i] for i in range(len(ev_lengths))))
    distractors = tuple(sorted(by_kind[i] for i in range(len(ev_lengths), len(lengths))))
    # One lift distribution for both kinds: CLIP likes distractors as much as evidence.
    levels = rng.uniform(0.8, 1.2, size=len(lengths))
    return VideoLayout(
        fps=float(spec.fps),
        n_frames=n_frames,
        evidence=evidence,
        distractors=distractors,
        evidence_levels=tuple(float(x) for x in levels[: len(ev_lengths)]),
        distractor_levels=tuple(float(x) for x in levels[len(ev_lengths):]),
        long_event=long_event,
    )


def segment_mask(layout: VideoLayout, segments: tuple[tuple[float, float], ...]) -> np.ndarray:
    """bool (n_frames,): frames whose time t satisfies start <= t < end for one of `segments`."""
    t = layout.frame_times()
    mask = np.zeros(layout.n_frames, dtype=bool)
    for s, e in segments:
        mask |= (t >= s) & (t < e)
    return mask


def evidence_mask(layout: VideoLayout) -> np.ndarray:
    """bool (n_frames,): the evidence frames."""
    return segment_mask(layout, layout.evidence)


def clean_similarity(layout: VideoLayout, rng: np.random.Generator) -> np.ndarray:
    """float64 (n_frames,): noise-free raw cosine similarity of every frame to the question.

    Base level plus a slow drift (three random sinusoids with periods of 30-300 s) plus a lift of
    level * CONTRAST over each evidence or distractor segment (half the lift at its edges, full
    lift RAMP_S / 2 seconds inside).
    """
    t = layout.frame_times()
    track = np.full(layout.n_frames, BASE_SIMILARITY)
    for _ in range(3):
        period = float(rng.uniform(30.0, 300.0))
        phase = float(rng.uniform(0.0, 2 * math.pi))
        track += BACKGROUND_AMPLITUDE * CONTRAST / 3.0 * np.sin(2 * math.pi * t / period + phase)
    segments = list(zip(layout.evidence, layout.evidence_levels)) + list(zip(layout.distractors, layout.distractor_levels))
    for (s, e), level in segments:
        # 0 outside; inside, half the lift at an edge, full lift RAMP_S / 2 seconds inside.
        inside = (t >= s) & (t < e)
        shape = np.where(inside, np.clip(0.5 + np.minimum(t - s, e - t) / RAMP_S, 0.0, 1.0), 0.0)
        track += level * CONTRAST * shape
    return track


def noisy_similarity(clean: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """float64 (n,): `clean` plus i.i.d. Gaussian noise of std `noise` * CONTRAST on every frame."""
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"Invalid noise: {noise!r}. Expected a finite number >= 0 (units of CONTRAST).")
    return clean + rng.normal(0.0, noise * CONTRAST, size=clean.shape)
