"""The two callables `air.model.select_frames` takes, backed by a simulated video.

`similarity` reads the noisy CLIP track; `analysis` plays the VLM: evidence frames get 4 or 5,
every other frame 1, 2 or 3, and with probability `error_rate` a frame's verdict is flipped into
the other range. Every frame's verdict is drawn once per video, so a frame always gets the same
score whichever method asks for it.
"""

from __future__ import annotations

import math

import numpy as np

from air.Process_Utils.process_messages import FrameScore


def analysis_scores(evidence: np.ndarray, error_rate: float, rng: np.random.Generator) -> np.ndarray:
    """int8 (n,): the analysis score of every frame (1..5) given the evidence mask (bool (n,)).

    A frame judged as evidence gets 4 or 5 (equally likely), any other frame 1, 2 or 3 (equally
    likely); a frame is misjudged (evidence <-> not evidence) with probability `error_rate`.
    """
    if not (math.isfinite(error_rate) and 0.0 <= error_rate <= 1.0):
        raise ValueError(f"Invalid error_rate: {error_rate!r}. Expected a number in [0, 1].")
    evidence = np.asarray(evidence, dtype=bool)
    flipped = rng.random(evidence.shape) < error_rate
    judged = evidence ^ flipped
    high = 4 + rng.integers(0, 2, size=evidence.shape)
    low = 1 + rng.integers(0, 3, size=evidence.shape)
    return np.where(judged, high, low).astype(np.int8)


class TrackSimilarity:
    """similarity(frames int64 (k,)) -> float64 (k,): the simulated raw CLIP cosine of each frame."""

    def __init__(self, track: np.ndarray):
        self.track = np.asarray(track, dtype=np.float64)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        return self.track[np.asarray(frames, dtype=np.int64)]


class TrackAnalysis:
    """analyze(frames int64 (k,)) -> k FrameScores read from a per-frame score array (int (n,)); 0 = unparseable."""

    def __init__(self, scores: np.ndarray):
        self.scores = np.asarray(scores)
        self.calls = 0
        self.frames_seen = 0

    def __call__(self, frames: np.ndarray) -> list[FrameScore]:
        frames = np.asarray(frames, dtype=np.int64)
        self.calls += 1
        self.frames_seen += int(frames.size)
        return [FrameScore(int(s) if s > 0 else None, "simulated") for s in self.scores[frames].tolist()]
