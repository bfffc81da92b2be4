"""Public entry point of A.I.R.: configuration, the selection loop and `H_VPModel`, which wires them up.

`AIRConfig` (air/config.py) and `select_frames` / `Selection` (air/selection.py) live in their own
files and are re-exported here, so `from air.model import ...` is the one import users need.
`H_VPModel` needs no lmms-eval: use it directly in a notebook.
"""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from air.base_models.base import Backbone, LoadOptions
from air.config import PRESETS, AIRConfig
from air.Process_Utils.process_messages import FrameScore, format_query
from air.selection import RoundTrace, Selection, select_frames

__all__ = [
    "AIRConfig", "PRESETS", "FrameScore", "RoundTrace", "Selection", "select_frames", "H_VPModel",
    "LoadOptions",
]

logger = logging.getLogger(__name__)

#: Longest side, in pixels, of frames handed to the VLM (its own processor resizes further).
DEFAULT_FRAME_MAX_SIDE = 1024

# analysis_batch_size belongs to AIRConfig; LoadOptions gets the config's value.
_LOAD_FIELDS = {f for f in LoadOptions.__dataclass_fields__} - set(AIRConfig.field_names())


_TRUNCATION_WARNED: set[str] = set()


def warn_truncated_query(clip_name: str, tokens) -> None:
    """Log, once per process and CLIP model, that queries are cut by the CLIP tokenizer (the trace records each)."""
    if clip_name in _TRUNCATION_WARNED:
        return
    _TRUNCATION_WARNED.add(clip_name)
    logger.warning(
        "The CLIP query has %d tokens but %s reads only %d: the tokenizer cuts the rest (the question's end or "
        "its options), so frames are scored against part of it. Each selection records query_truncated in its "
        "trace; this warning is shown once per run. A CLIP model with a longer text context (e.g. longclip:L, "
        "248 tokens) reads more.", tokens.n_tokens, clip_name, tokens.context_length)


def vlm_frame_size(width: int, height: int, max_side: int | None) -> tuple[int, int] | None:
    """(width, height) that fits `max_side` keeping the aspect ratio, or None to keep the native size."""
    if not max_side or max(width, height) <= max_side:
        return None
    scale = max_side / max(width, height)
    return max(2, int(round(width * scale))), max(2, int(round(height * scale)))


class H_VPModel:
    """A.I.R. on one backbone: CLIP coarse filter, VLM-rated iterative selection, then answering.

    backbone: answers questions (and rates frames unless `analysis_backbone` is given).
    clip: a ClipEncoder (`air.base_models.clip_model.load_clip`).
    cache: a FeatureCache, None to disable the persistent cache, or "default" for the config's dir.
    """

    def __init__(
        self,
        backbone: Backbone,
        clip,
        config: AIRConfig | None = None,
        *,
        analysis_backbone: Backbone | None = None,
        cache: Any = "default",
        frame_max_side: int | None = DEFAULT_FRAME_MAX_SIDE,
    ):
        self.backbone = backbone
        self.analysis_backbone = analysis_backbone or backbone
        self.clip = clip
        self.config = config or AIRConfig()
        if cache == "default":
            from air.base_models.utils.feature_cache import FeatureCache

            cache = FeatureCache(self.config.resolved_cache_dir)
        self.cache = cache
        self.frame_max_side = frame_max_side

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        pretrained: str,
        clip_model: str | None = None,
        *,
        analysis_pretrained: str | None = None,
        backbone: str | None = None,
        clip_device: str | None = None,
        clip_batch_size: int = 32,
        frame_max_side: int | None = DEFAULT_FRAME_MAX_SIDE,
        cache: Any = "default",
        **fields: Any,
    ) -> "H_VPModel":
        """Load the backbone picked from `pretrained`'s name and a CLIP encoder.

        fields: any AIRConfig field (max_frames=16, preset="efficient_16_8_4", ...) and any
        LoadOptions field (device, device_map, torch_dtype, attn_implementation, max_pixels,
        min_pixels, trust_remote_code, analysis_mode). Loosely typed strings are converted.
        """
        from air.base_models import resolve_backbone
        from air.base_models.clip_model import load_clip
        from air.base_models.utils.generation import default_device

        load_args = {k: fields.pop(k) for k in list(fields) if k in _LOAD_FIELDS}
        adapter = resolve_backbone(pretrained, backbone)
        air_args = dict(fields)
        if clip_model is not None:
            air_args["clip_model"] = clip_model
        if adapter.default_max_frames and "max_frames" not in air_args and "preset" not in air_args:
            air_args["max_frames"] = adapter.default_max_frames
            air_args["min_frames"] = air_args.get("min_frames", adapter.default_min_frames or adapter.default_max_frames)
        config = AIRConfig.from_model_args(air_args)
        load_args["analysis_batch_size"] = config.analysis_batch_size
        options = LoadOptions(**load_args)
        model = adapter.from_pretrained(pretrained, options)
        analysis_model = None
        if analysis_pretrained and analysis_pretrained != pretrained:
            analysis_adapter = resolve_backbone(analysis_pretrained, None)
            analysis_model = analysis_adapter.from_pretrained(analysis_pretrained, options)
        encoder = load_clip(
            config.clip_model, device=clip_device or default_device(options.device), batch_size=clip_batch_size
        )
        return cls(model, encoder, config, analysis_backbone=analysis_model, cache=cache,
                   frame_max_side=frame_max_side)

    # -- selection -------------------------------------------------------------------------------
    def open(self, video_path: str):
        """Open a video with the configured decoder list (raises VideoDecodeError naming the file)."""
        from air.Process_Utils.process_video import open_video

        cfg = self.config
        return open_video(video_path, decoder=cfg.decoder, decode_threads=cfg.decode_threads,
                          max_video_pixels=cfg.max_video_pixels)

    def _vlm_frames(self, reader, frame_indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        size = vlm_frame_size(reader.width, reader.height, self.frame_max_side)
        return reader.read(np.asarray(frame_indices, dtype=np.int64), size=size)

    def select(self, video_path: str, question: str, options: Sequence[str] | None = None) -> Selection:
        """Run A.I.R. on one video for one question; returns the Selection with its full trace."""
        with self.open(video_path) as reader:
            return self._select(reader, video_path, question, options)

    def _select(self, reader, video_path: str, question: str, options: Sequence[str] | None) -> Selection:
        from air.base_models.utils.video_similarity import VideoSimilarity

        query = format_query(question, list(options) if options else None)
        similarity = VideoSimilarity(reader, self.clip, query, cache=self.cache, resize=self.config.clip_resize)
        tokens = similarity.query_tokens()
        if tokens.truncated:
            warn_truncated_query(getattr(self.clip, "name", str(self.clip)), tokens)
        timing = {"decode_vlm": 0.0, "vlm_analysis": 0.0}

        def analyze(frame_indices: np.ndarray) -> list[FrameScore]:
            t0 = time.perf_counter()
            frames, times_s = self._vlm_frames(reader, frame_indices)
            t1 = time.perf_counter()
            out = self.analysis_backbone.analyze(frames, times_s, query)
            timing["decode_vlm"] += t1 - t0
            timing["vlm_analysis"] += time.perf_counter() - t1
            return out

        selection = select_frames(reader.n_frames, reader.fps, similarity, analyze, self.config, video=str(video_path))
        info: dict[str, Any] = {
            "query": query,
            "decoder": reader.backend,
            "decode_threads": reader.decode_threads,
            "clip_model": getattr(self.clip, "name", str(self.clip)),
            "clip_resize": similarity.resize,
            "query_truncated": tokens.truncated,
            "query_tokens": tokens.n_tokens,
            "clip_context_length": tokens.context_length,
            "clip_frames_encoded": similarity.n_encoded,
            "clip_frames_from_cache": similarity.n_from_cache,
            "timings_s": {**selection.timings_s, **{f"clip_{k}": v for k, v in similarity.timings_s.items()}, **timing},
        }
        fallbacks = list(selection.fallbacks)
        for backend, cause in getattr(reader, "fallback_errors", ()):
            fallbacks.append({"reason": "decoder_fallback", "detail": f"{backend} failed ({cause}); served by {reader.backend}"})
        if len(fallbacks) != len(selection.fallbacks):
            info["fallbacks"] = tuple(fallbacks)
        return selection.with_info(**info)

    # -- answering -------------------------------------------------------------------------------
    def answer(
        self,
        video_path: str,
        prompt: str | Callable[[Selection], str],
        question: str | None = None,
        options: Sequence[str] | None = None,
        gen_kwargs: Mapping[str, Any] | None = None,
    ) -> tuple[str, Selection]:
        """Select frames for `question` (default: the prompt itself), then answer `prompt` from them.

        prompt: the task's own text, or a function of the Selection that builds it (e.g. to add the
        subtitles at the selected frames).
        """
        if question is None:
            if callable(prompt):
                raise ValueError("Invalid question: None. Expected the question text when prompt is a function.")
            question = prompt
        with self.open(video_path) as reader:
            selection = self._select(reader, video_path, question, options)
            text = self._answer_from(reader, selection.frame_indices, prompt, selection, gen_kwargs)
        timings = {**selection.timings_s, "answer": self._last_answer_s}
        return text, selection.with_info(answer=text, timings_s=timings)

    def answer_frames(
        self,
        video_path: str,
        frame_indices: Sequence[int],
        prompt: str | Callable[[Any], str],
        gen_kwargs: Mapping[str, Any] | None = None,
    ) -> str:
        """Answer `prompt` from given frames (uniform baselines, replayed selections).

        A callable prompt receives an object with `frame_indices`, `fps` and `timestamps_s`.
        """
        with self.open(video_path) as reader:
            return self._answer_from(reader, frame_indices, prompt, None, gen_kwargs)

    def _answer_from(self, reader, frame_indices, prompt, selection, gen_kwargs) -> str:
        t0 = time.perf_counter()
        order = np.unique(np.asarray(frame_indices, dtype=np.int64))
        frames, times_s = self._vlm_frames(reader, order)
        if callable(prompt) and selection is None:
            selection = SimpleNamespace(frame_indices=tuple(order.tolist()), fps=reader.fps,
                                        timestamps_s=tuple((order / reader.fps).tolist()))
        text_prompt = prompt(selection) if callable(prompt) else prompt
        text = self.backbone.answer(frames, times_s, text_prompt, gen_kwargs)
        self._last_answer_s = time.perf_counter() - t0
        return text

    _last_answer_s = 0.0
