"""Shared adapter for the Qwen-VL families (Qwen2-VL, Qwen2.5-VL, Qwen3-VL) on transformers' native classes.

Analysis: one chat per frame (a single image, resized to the image budget, + the analysis prompt),
batched with left padding. Answering: the final frames as one video with their real timestamps, so
Qwen2.5-VL's absolute time encoding (second_per_grid_ts) and Qwen3-VL's textual timestamps match the
source video; each frame sized as lmms-eval's wrapper of the family sizes it (qwen-vl-utils' per-frame
video budget from that wrapper's min_pixels / max_pixels). Both chats open with lmms-eval's system
prompt "You are a helpful assistant.". Batching, decoding, the "logits" read-out and loading are hf_generation's, shared with
the InternVL and LLaVA-OneVision adapters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from air.base_models.base import Backbone, LoadOptions
from air.base_models.utils.hf_generation import (
    ProcessorChatBackbone,
    answer_frames,
    load_hf_model,
)
from air.base_models.utils.qwen_vl_utils import (
    effective_fps,
    pad_to_temporal_patch,
    resize_frames,
    video_frame_budget,
    video_metadata,
)


def _size_value(size: Any, key: str) -> int | None:
    """`size[key]` of a processor size (dict or SizeDict), None when absent."""
    value = size.get(key) if isinstance(size, Mapping) else getattr(size, key, None)
    return int(value) if value else None


class QwenVLBackbone(ProcessorChatBackbone, Backbone):
    """A Qwen-VL checkpoint behind the Backbone interface; subclasses name the family and its class."""

    #: config.model_type -> transformers class name, e.g. {"qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration"}.
    model_classes: ClassVar[dict[str, str]] = {}
    #: lmms-eval's wrapper defaults (min_pixels, max_pixels) for this family's video frames; LoadOptions'
    #: min_pixels / max_pixels replace them, as that wrapper's model args do.
    reference_pixels: ClassVar[tuple[int, int]] = (256 * 28 * 28, 1605632)
    system_prompt = "You are a helpful assistant."

    def __init__(self, model, processor, options: LoadOptions, pretrained: str = ""):
        lo, hi = options.min_pixels, options.max_pixels
        if (lo is not None and lo < 1) or (hi is not None and hi < 1) or (lo and hi and lo > hi):
            raise ValueError(
                f"Invalid pixel budget: min_pixels={lo}, max_pixels={hi}. "
                "Expected positive ints with min_pixels <= max_pixels."
            )
        super().__init__(model, processor, options, pretrained)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, pretrained: str, options: LoadOptions | None = None) -> QwenVLBackbone:
        """Load model and processor; honours device, device_map, dtype, attention and trust_remote_code."""
        import transformers
        from transformers import AutoConfig, AutoProcessor

        options = options or LoadOptions()
        trust = bool(options.trust_remote_code)
        config = AutoConfig.from_pretrained(pretrained, trust_remote_code=trust)
        if config.model_type not in cls.model_classes:
            raise ValueError(
                f"{cls.name}: checkpoint {pretrained!r} has model_type {config.model_type!r}. "
                f"Expected one of {tuple(cls.model_classes)}; choose the adapter of that family."
            )
        model_class = getattr(transformers, cls.model_classes[config.model_type])
        model = load_hf_model(model_class, pretrained, options, config=config)
        processor = AutoProcessor.from_pretrained(pretrained, trust_remote_code=trust)
        return cls(model, processor, options, pretrained)

    # ------------------------------------------------------------------ budgets
    def _factor(self, sub_processor) -> int:
        """Pixel side of one merged patch group (patch_size * merge_size)."""
        return int(sub_processor.patch_size) * int(sub_processor.merge_size)

    def _budget(self, sub_processor) -> tuple[int, int]:
        """(min_pixels, max_pixels) of an analysis image: LoadOptions first, else the processor's own sizes."""
        factor = self._factor(sub_processor)
        size = sub_processor.size
        lo = self.options.min_pixels or _size_value(size, "shortest_edge") or 4 * factor * factor
        hi = self.options.max_pixels or _size_value(size, "longest_edge") or 16384 * factor * factor
        lo = max(factor * factor, min(lo, hi))
        return lo, max(lo, hi)

    def video_budget(self, n_frames: int) -> tuple[int, float]:
        """(min_pixels, max_pixels) of each frame of an n-frame answering video, as lmms-eval sends it.

        qwen-vl-utils' per-frame rule (video_frame_budget) applied to the family's lmms-eval defaults
        (reference_pixels) or to LoadOptions' min_pixels / max_pixels; min yields to max when they
        conflict, and neither goes below one factor x factor patch group.
        """
        factor = self._factor(self.processor.video_processor)
        lo = self.options.min_pixels or self.reference_pixels[0]
        hi = self.options.max_pixels or self.reference_pixels[1]
        lo, hi = video_frame_budget(n_frames, factor=factor, min_pixels=lo, max_pixels=hi)
        lo = max(factor * factor, min(lo, int(hi)))
        return lo, max(lo, hi)

    def _prepare_images(self, frames):
        """Frames resized to the image budget, h and w multiples of the patch factor.

        frames: uint8 (N, H, W, 3) -> uint8 (N, h, w, 3); or a list of uint8 (H, W, 3) frames of any
        sizes -> a list, each frame resized on its own.
        """
        image_processor = self.processor.image_processor
        lo, hi = self._budget(image_processor)
        factor = self._factor(image_processor)
        if not isinstance(frames, np.ndarray):
            return [resize_frames(f[None], factor=factor, min_pixels=lo, max_pixels=hi)[0] for f in frames]
        return resize_frames(frames, factor=factor, min_pixels=lo, max_pixels=hi)

    # ------------------------------------------------------------------ processor inputs
    def _analysis_inputs(self, frames, prompt, forced_suffix: str = "", **processor_kwargs):
        """One left-padded prompt per frame (see ProcessorChatBackbone), each resized to the image budget here."""
        return super()._analysis_inputs(self._prepare_images(frames), prompt, forced_suffix, do_resize=False,
                                        **processor_kwargs)

    def _answer_inputs(self, frames: np.ndarray, timestamps_s: np.ndarray, prompt: str):
        """Processor inputs of one video: frames uint8 (N, H, W, 3) in time order, timestamps_s (N,) seconds.

        An odd N is padded by repeating the last frame (temporal patch 2); the frames are resized to the
        video budget here. Returns the processor's BatchFeature (input_ids, attention_mask,
        mm_token_type_ids, pixel_values_videos, video_grid_thw and, for Qwen2.5-VL,
        second_per_grid_ts = temporal_patch_size / effective fps).
        """
        video_processor = self.processor.video_processor
        fps = effective_fps(timestamps_s)
        padded, padded_ts = pad_to_temporal_patch(frames, timestamps_s, int(video_processor.temporal_patch_size))
        lo, hi = self.video_budget(len(padded))
        padded = resize_frames(padded, factor=self._factor(video_processor), min_pixels=lo, max_pixels=hi)
        return self.processor(
            text=[self._chat_text("video", prompt)],
            videos=[padded],
            video_metadata=[video_metadata(padded_ts, fps)],
            do_sample_frames=False,
            do_resize=False,
            cap_pixels_per_frame=False,  # the budget is ours (resize_frames above)
            return_tensors="pt",
        )

    def prepare_video(self, frames: np.ndarray, timestamps_s: Sequence[float], prompt: str):
        """The answering inputs `answer` sends to the model, on the model's device (see _answer_inputs).

        frames: uint8 (N, H, W, 3), N >= 1, in any order (sorted by time first, as `answer` does);
        timestamps_s: (N,) seconds.
        """
        frames, times = answer_frames(frames, timestamps_s, owner=self.pretrained)
        return self._answer_inputs(frames, times, prompt).to(self.model.device)
