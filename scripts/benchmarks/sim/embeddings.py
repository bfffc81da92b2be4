"""Synthetic CLIP image embeddings consistent with a simulated similarity track (for MDP3's DPP).

The simulation's CLIP is a score track; MDP3 needs the embeddings behind the scores. They are built so
that the cosine of every embedding to a fixed query direction q is exactly the frame's (noisy) track
value a_i, while frames of one shot look alike and frames of different shots do not:

    x_i = a_i * q + sqrt(1 - a_i^2) * u_i,   u_i = unit(d_shot(i) + JITTER * xi_i),

with q = e_0, u_i, d and xi_i orthogonal to q (d unit, xi_i ~ N(0, I / (D - 1))). Each evidence or
distractor segment is one shot; the background between them is cut into shots of SHOT_S seconds (drawn
uniformly). Residuals of two frames of one shot have a cosine of about 1 / (1 + JITTER^2) = 0.8; of two
shots, about 0. So cos(x_i, q) = a_i for every frame, and near-duplicates are exactly the frames of
one shot, which is what a diversity term should spread over.
"""

from __future__ import annotations

import numpy as np

from .tracks import VideoLayout

DIM = 32
JITTER = 0.5
SHOT_S = (5.0, 30.0)


def _shot_ids(layout: VideoLayout, times_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """int (n,): a shot number per time; each evidence/distractor segment is its own shot."""
    cuts = [0.0]
    while cuts[-1] < layout.duration_s:
        cuts.append(cuts[-1] + float(rng.uniform(*SHOT_S)))
    ids = np.searchsorted(np.asarray(cuts), times_s, side="right")
    for number, (start, end) in enumerate(sorted(layout.evidence + layout.distractors)):
        ids[(times_s >= start) & (times_s < end)] = len(cuts) + 1 + number
    return ids


def synthetic_embeddings(layout: VideoLayout, frames: np.ndarray, similarity: np.ndarray, rng: np.random.Generator,
                         dim: int = DIM) -> tuple[np.ndarray, np.ndarray]:
    """(image embeddings float64 (n, dim) unit-norm, query embedding float64 (dim,)) for `frames`.

    frames: int (n,) frame indices of the video; similarity: float (n,) their simulated raw cosine
    (|a| < 1), reproduced exactly by image @ query. The shot structure and jitter come from `rng`.
    """
    a = np.asarray(similarity, dtype=np.float64)
    if a.shape != np.shape(frames) or not np.all(np.abs(a) < 1.0):
        raise ValueError(f"Invalid similarity: shape {a.shape}, range {a.min(initial=0):.3f}..{a.max(initial=0):.3f}. "
                         f"Expected one value in (-1, 1) per frame {np.shape(frames)}.")
    ids = _shot_ids(layout, np.asarray(frames, dtype=np.float64) / layout.fps, rng)
    _, inverse = np.unique(ids, return_inverse=True)
    directions = rng.normal(size=(inverse.max(initial=-1) + 1, dim - 1))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    residual = directions[inverse] + JITTER * rng.normal(size=(a.size, dim - 1)) / np.sqrt(dim - 1)
    residual /= np.linalg.norm(residual, axis=1, keepdims=True)
    images = np.concatenate([a[:, None], np.sqrt(1.0 - a * a)[:, None] * residual], axis=1)
    query = np.zeros(dim)
    query[0] = 1.0
    return images, query
