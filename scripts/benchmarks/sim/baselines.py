"""The fixed-budget selectors A.I.R. is compared with, run on one simulated video.

Each is the product's own pure function from `baselines.selectors` (what `air_uniform`, `air_clip_topk`,
`air_bolt`, `air_aks` and `air_mdp3` call), fed the simulated 1-FPS samples, their noisy CLIP scores
and (MDP3) synthetic embeddings that reproduce those scores (sim/embeddings.py). Every selector gets
the same number of frames k. Uniform takes the centres of k equal parts of the video
(int((j + 0.5) * N / k), transformers' InternVL rule); the others use their papers' defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from baselines.selectors import (
    aks_frames,
    inverse_transform_frames,
    mdp3_frames,
    shifted_arange_frames,
    topk_frames,
)

from .embeddings import synthetic_embeddings
from .tracks import VideoLayout


@dataclass
class SimVideo:
    """One simulated video as the selectors see it: samples int64 (n,), their noisy raw cosine float64 (n,).

    embedding_rng: the generator the synthetic embeddings are drawn from (only when a selector asks).
    """

    layout: VideoLayout
    samples: np.ndarray
    scores: np.ndarray
    embedding_rng: np.random.Generator
    _embeddings: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """(image embeddings float64 (n, D), query embedding float64 (D,)), drawn once."""
        if self._embeddings is None:
            self._embeddings = synthetic_embeddings(self.layout, self.samples, self.scores, self.embedding_rng)
        return self._embeddings


SELECTORS: dict[str, Callable[[SimVideo, int], np.ndarray]] = {
    "uniform": lambda v, k: shifted_arange_frames(v.layout.n_frames, k),
    "clip_topk": lambda v, k: topk_frames(v.samples, v.scores, k),
    "bolt": lambda v, k: inverse_transform_frames(v.samples, v.scores, k),
    "aks": lambda v, k: aks_frames(v.samples, v.scores, k),
    "mdp3": lambda v, k: mdp3_frames(v.samples, *v.embeddings(), k),
}
