"""The CLIP-only lmms-eval baselines `air_clip_topk`, `air_bolt`, `air_aks`, `air_mdp3`: frames chosen from CLIP alone.

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
- `air_aks` (`AdaptiveKeyframeSampling`): AKS's judge-and-split over the 1-FPS similarity (Tang et al.,
  CVPR 2025; `aks_t1`, `aks_t2`, `aks_depth`, `aks_ratio`), see baselines.selectors.aks_frames. AKS
  scores frames with BLIP image-text matching; here the score is the CLIP similarity every baseline uses.
- `air_mdp3` (`ListwiseDPP`): MDP3's segment-wise conditional DPP over the cached CLIP image embeddings
  of the 1-FPS samples with a query-conditioned kernel (Sun et al., ICCV 2025; `mdp3_lambda`,
  `mdp3_segment_size`, `mdp3_condition_size`, `mdp3_kernel_scales`), see baselines.selectors.mdp3_frames.
  MDP3 uses SigLIP embeddings of uniformly pre-sampled frames; here they are `clip_model=`'s embeddings
  of the same 1-FPS samples as the other baselines, read from the shared feature cache.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from baselines.selectors import (
    AKS_DEFAULT_DEPTH,
    AKS_DEFAULT_RATIO,
    AKS_DEFAULT_T1,
    AKS_DEFAULT_T2,
    BOLT_DEFAULT_POWER,
    MDP3_DEFAULT_CONDITION_SIZE,
    MDP3_DEFAULT_KERNEL_SCALES,
    MDP3_DEFAULT_LAMBDA,
    aks_frames,
    aks_partition,
    inverse_transform_frames,
    mdp3_frames,
    mdp3_segment_size,
    minmax_normalised,
    sharpened_weights,
    topk_frames,
)
from baselines.uniform import FrameChoice, SelectorBaseline


class ClipSelectorBaseline(SelectorBaseline):
    """A baseline that picks frames from the CLIP similarity of the 1-FPS samples; subclasses implement `pick`."""

    uses_clip = True

    def pick(self, samples: np.ndarray, similarity: np.ndarray, k: int, clip) -> np.ndarray:
        """k frames int64 (<= k,) sorted, from samples int64 (n,) and their raw cosine float64 (n,).

        clip: the video's `VideoSimilarity`, for selectors that need the embeddings themselves
        (`frame_features(samples)` float32 (n, D), `text_features()` float32 (D,)); both unit-norm.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement pick.")

    def pick_info(self, samples: np.ndarray, similarity: np.ndarray, frames: np.ndarray, k: int) -> dict[str, Any]:
        """Extra trace keys describing how `pick` chose (none by default)."""
        return {}

    def choose_frames(self, reader, samples, budget, question, options) -> FrameChoice:
        from air.base_models.utils.video_similarity import VideoSimilarity
        from air.Process_Utils.process_messages import format_query
        from air.Process_Utils.sample_logic import ScoreMap

        query = format_query(question, options or None)
        similarity = VideoSimilarity(reader, self.model.clip, query, cache=self.model.cache,
                                     resize=self.model.config.clip_resize)
        raw = np.asarray(similarity(samples), dtype=np.float64)
        t0 = time.perf_counter()
        frames = self.pick(samples, raw, int(budget), similarity)
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
            **self.pick_info(samples, raw, frames, int(budget)),
        }
        timings = {f"clip_{k}": v for k, v in similarity.timings_s.items()}
        timings["selection"] = pick_s
        scored = tuple((f, r, n, "sample") for f, r, n in zip(samples.tolist(), raw.tolist(), norm.tolist()))
        return FrameChoice(frames=frames, scored=scored, fallbacks=tuple(fallbacks), info=info, timings_s=timings)


class ClipTopK(ClipSelectorBaseline):
    """`air_clip_topk`: the B 1-FPS samples most similar to the query (ties: earlier), in time order."""

    model_id = "air_clip_topk"
    method_name = "clip_topk"

    def pick(self, samples, similarity, k, clip):
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

    def pick(self, samples, similarity, k, clip):
        return inverse_transform_frames(samples, similarity, k, power=self.baseline_args["bolt_power"])


class AdaptiveKeyframeSampling(ClipSelectorBaseline):
    """`air_aks`: AKS's judge-and-split of the 1-FPS similarity into bins, top frames per bin (fixed budget)."""

    model_id = "air_aks"
    method_name = "aks"
    baseline_options: ClassVar[dict[str, tuple[str, Any]]] = {
        **SelectorBaseline.baseline_options,
        "aks_t1": ("float", AKS_DEFAULT_T1), "aks_t2": ("float", AKS_DEFAULT_T2),
        "aks_depth": ("int", AKS_DEFAULT_DEPTH), "aks_ratio": ("int", AKS_DEFAULT_RATIO),
    }

    def _options(self) -> dict[str, Any]:
        a = self.baseline_args
        return {"t1": a["aks_t1"], "t2": a["aks_t2"], "depth": a["aks_depth"], "ratio": a["aks_ratio"]}

    def _check_baseline_args(self, args: dict[str, Any]) -> None:
        super()._check_baseline_args(args)
        aks_frames([0, 1], [0.0, 1.0], 1, **self._options())  # raises on an invalid value

    def pick(self, samples, similarity, k, clip):
        return aks_frames(samples, similarity, k, **self._options())

    def pick_info(self, samples, similarity, frames, k):
        """The leaves of the judge-and-split as [first sample frame, last sample frame, depth, share, kept]."""
        options = self._options()
        candidates = np.arange(0, samples.size, options.pop("ratio"))
        if k < 1 or candidates.size <= k:
            return {"aks_bins": []}
        leaves = aks_partition(minmax_normalised(similarity[candidates]), k, **options)
        return {"aks_bins": [[int(samples[candidates[b.start]]), int(samples[candidates[b.end - 1]]), b.depth,
                              b.share, b.kept] for b in leaves]}


def parse_kernel_scales(text: str) -> tuple[float, ...]:
    """'0.125|0.25|0.5|1|2' -> (0.125, 0.25, 0.5, 1.0, 2.0) ('|' separates: lmms-eval splits model_args on ',')."""
    parts = [p.strip() for p in str(text).split("|")]
    try:
        scales = tuple(float(p) for p in parts)
    except ValueError:
        scales = ()
    if not scales or not all(np.isfinite(s) and s > 0 for s in scales):
        raise ValueError(f"Invalid mdp3_kernel_scales: {text!r}. Expected numbers > 0 separated by '|', "
                         "e.g. 0.125|0.25|0.5|1|2.")
    return scales


class ListwiseDPP(ClipSelectorBaseline):
    """`air_mdp3`: MDP3's segment-wise conditional DPP over the cached CLIP image embeddings (fixed budget)."""

    model_id = "air_mdp3"
    method_name = "mdp3"
    baseline_options: ClassVar[dict[str, tuple[str, Any]]] = {
        **SelectorBaseline.baseline_options,
        "mdp3_lambda": ("float", MDP3_DEFAULT_LAMBDA), "mdp3_segment_size": ("int | None", None),
        "mdp3_condition_size": ("int", MDP3_DEFAULT_CONDITION_SIZE),
        "mdp3_kernel_scales": ("str", "|".join(f"{s:g}" for s in MDP3_DEFAULT_KERNEL_SCALES)),
    }

    def _options(self) -> dict[str, Any]:
        a = self.baseline_args
        return {"lam": a["mdp3_lambda"], "segment_size": a["mdp3_segment_size"],
                "condition_size": a["mdp3_condition_size"], "kernel_scales": parse_kernel_scales(a["mdp3_kernel_scales"])}

    def _check_baseline_args(self, args: dict[str, Any]) -> None:
        super()._check_baseline_args(args)
        mdp3_frames([0, 1], np.eye(2), np.ones(2), 1, **self._options())  # raises on an invalid value

    def pick(self, samples, similarity, k, clip):
        features = clip.frame_features(samples)  # from the feature cache the similarity was computed with
        return mdp3_frames(samples, features, clip.text_features(), k, **self._options())

    def pick_info(self, samples, similarity, frames, k):
        size = self.baseline_args["mdp3_segment_size"] or mdp3_segment_size(k)
        segment_of = np.searchsorted(samples, frames) // size
        counts = np.bincount(segment_of, minlength=-(-samples.size // size)) if samples.size else np.zeros(0)
        return {"mdp3_segment_size": int(size), "mdp3_frames_per_segment": [int(c) for c in counts]}
