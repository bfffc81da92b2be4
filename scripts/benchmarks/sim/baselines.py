"""The two baselines A.I.R. is compared with at the same number of final frames k."""

from __future__ import annotations

import numpy as np


def uniform_frames(n_frames: int, k: int) -> np.ndarray:
    """int64 (min(k, n_frames),): k evenly spaced frames, the centre of each of k equal parts."""
    if n_frames < 1 or k < 0:
        raise ValueError(f"Invalid uniform request: n_frames={n_frames}, k={k}. Expected n_frames >= 1, k >= 0.")
    k = min(k, n_frames)
    return np.floor((np.arange(k) + 0.5) * n_frames / max(k, 1)).astype(np.int64)


def clip_topk_frames(sample_frames: np.ndarray, sample_scores: np.ndarray, k: int) -> np.ndarray:
    """int64 (min(k, n),) sorted: the k samples with the highest CLIP score (ties: earlier frame).

    sample_frames int (n,) the 1-FPS sample indices; sample_scores float (n,) their noisy similarity.
    """
    frames = np.asarray(sample_frames, dtype=np.int64)
    scores = np.asarray(sample_scores, dtype=np.float64)
    if frames.shape != scores.shape:
        raise ValueError(f"Invalid sample_scores: shape {scores.shape}. Expected the shape of sample_frames {frames.shape}.")
    order = np.lexsort((frames, -scores))
    return np.sort(frames[order[: max(k, 0)]])
