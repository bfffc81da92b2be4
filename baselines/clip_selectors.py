"""The CLIP-only lmms-eval baselines `air_clip_topk` and `air_bolt`: frames chosen from 1-FPS similarity alone.

Both score the 1-FPS samples against the question (plus its options) exactly as A.I.R.'s coarse filter
does: the same CLIP encoder (`clip_model=`), query text, `VideoSimilarity` and feature-cache entries,
so a run after `hvp` on the same videos only encodes the query texts. They answer from the A.I.R.
budget B (or `num_frames=`) like every baseline, which measures what the VLM loop adds over cheap
CLIP-only selection at an equal frame count.
- `air_clip_topk` (`ClipTopK`): the B samples with the highest similarity.
- `air_bolt` (`ClipInverseTransform`): BOLT's inverse transform sampling (Liu et al., CVPR 2025):
  min-max normalise, raise to `bolt_power` (default 3, BOLT's setting for Video-MME and MLVU; it
  uses 2.5 for LongVideoBench), sample the CDF at B evenly spaced quantiles. Differences from BOLT's
  released script, so that the comparison with A.I.R. is at equal input: the query is A.I.R.'s
  (question plus options; BOLT encodes the question alone), the encoder is `clip_model=` (BOLT: CLIP
  ViT-L/14), and repeated frames are replaced by unused neighbours (BOLT passes duplicates on).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from baselines.selectors import (
    BOLT_DEFAULT_POWER,
    inverse_transform_frames,
    sharpened_weights,
    topk_frames,
)
from baselines.uniform import FrameChoice, SelectorBaseline


class ClipSelectorBaseline(SelectorBaseline):
    """A baseline that picks frames from the CLIP similarity of the 1-FPS samples; subclasses implement `pick`."""

    uses_clip = True

    def pick(self, samples: np.ndarray, similarity: np.ndarray, k: int) -> np.ndarray:
        """k frames int64 (<= k,) sorted, from samples int64 (n,) and their raw cosine float64 (n,)."""
        raise NotImplementedError(f"{type(self).__name__} must implement pick.")

    def choose_frames(self, reader, samples, budget, question, options) -> FrameChoice:
        from air.base_models.utils.video_similarity import VideoSimilarity
        from air.Process_Utils.process_messages import format_query
        from air.Process_Utils.sample_logic import ScoreMap

        query = format_query(question, options or None)
        similarity = VideoSimilarity(reader, self.model.clip, query, cache=self.model.cache,
                                     resize=self.model.config.clip_resize)
        raw = np.asarray(similarity(samples), dtype=np.float64)
        t0 = time.perf_counter()
        frames = self.pick(samples, raw, int(budget))
        score_map = ScoreMap.fit(raw)
        norm = score_map.apply(raw)
        pick_s = time.perf_counter() - t0
        raw_of = dict(zip(samples.tolist(), raw.tolist()))
        fallbacks = []
        if score_map.degenerate:
            fallbacks.append({"reason": "degenerate_scores",
                              "detail": f"{samples.size} samples, min == max: every sample is equally similar"})
        info = {
            "query": query,
            "clip_model": getattr(self.model.clip, "name", str(self.model.clip)),
            "clip_resize": similarity.resize,
            "query_truncated": similarity.query_tokens().truncated,
            "clip_frames_encoded": similarity.n_encoded,
            "clip_frames_from_cache": similarity.n_from_cache,
            "frame_similarity": [round(raw_of[f], 6) for f in frames.tolist()],
        }
        timings = {f"clip_{k}": v for k, v in similarity.timings_s.items()}
        timings["selection"] = pick_s
        scored = tuple((f, r, n, "sample") for f, r, n in zip(samples.tolist(), raw.tolist(), norm.tolist()))
        return FrameChoice(frames=frames, scored=scored, fallbacks=tuple(fallbacks), info=info, timings_s=timings)


class ClipTopK(ClipSelectorBaseline):
    """`air_clip_topk`: the B 1-FPS samples most similar to the query (ties: earlier), in time order."""

    model_id = "air_clip_topk"
    method_name = "clip_topk"

    def pick(self, samples, similarity, k):
        return topk_frames(samples, similarity, k)


class ClipInverseTransform(ClipSelectorBaseline):
    """`air_bolt`: BOLT's inverse transform sampling of the sharpened 1-FPS similarity (`bolt_power=`)."""

    model_id = "air_bolt"
    method_name = "bolt"
    baseline_options: ClassVar[dict[str, tuple[str, Any]]] = {
        **SelectorBaseline.baseline_options, "bolt_power": ("float", BOLT_DEFAULT_POWER),
    }

    def _check_baseline_args(self, args: dict[str, Any]) -> None:
        super()._check_baseline_args(args)
        sharpened_weights(np.zeros(0), args["bolt_power"])  # raises on an invalid power

    def pick(self, samples, similarity, k):
        return inverse_transform_frames(samples, similarity, k, power=self.baseline_args["bolt_power"])
