"""Shared adapter for the Qwen-VL families (Qwen2-VL, Qwen2.5-VL, Qwen3-VL) on transformers' native classes.

Analysis: one chat per frame (a single image + the analysis prompt), batched with left padding.
Answering: the final frames as one video with their real timestamps, so Qwen2.5-VL's absolute time
encoding (second_per_grid_ts) and Qwen3-VL's textual timestamps match the source video.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from air.base_models.base import Backbone, LoadOptions
from air.base_models.utils.generation import (
    chunked, default_device, generation_kwargs, resolve_attn_implementation, resolve_dtype, truncate_at_stop,
)
from air.base_models.utils.qwen_vl_utils import (
    effective_fps, pad_to_temporal_patch, resize_frames, video_metadata,
)
from air.Process_Utils.process_messages import FrameScore, build_analysis_prompt, parse_analysis_output

ANALYSIS_MODES = ("generate", "logits")
#: Assistant prefix forced in "logits" mode; the next token is read as the score.
LOGITS_PREFIX = "Score: "
SCORE_DIGITS = ("1", "2", "3", "4", "5")
ANSWER_DEFAULT_MAX_NEW_TOKENS = 128


def _size_value(size: Any, key: str) -> int | None:
    """`size[key]` of a processor size (dict or SizeDict), None when absent."""
    value = size.get(key) if isinstance(size, Mapping) else getattr(size, key, None)
    return int(value) if value else None


def check_frames(
    frames: np.ndarray, timestamps_s: Sequence[float], who: str
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a frame batch and its timestamps: uint8 (N, H, W, 3) and float seconds (N,)."""
    frames = np.asarray(frames)
    ts = np.asarray(timestamps_s, dtype=np.float64).reshape(-1)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"{who}: invalid frames of shape {frames.shape}, dtype {frames.dtype}. "
                         "Expected uint8 (N, H, W, 3) RGB.")
    if len(ts) != len(frames):
        raise ValueError(f"{who}: {len(frames)} frames but {len(ts)} timestamps. Expected one per frame.")
    return frames, ts


class QwenVLBackbone(Backbone):
    """A Qwen-VL checkpoint behind the Backbone interface; subclasses name the family and its class."""

    #: config.model_type -> transformers class name, e.g. {"qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration"}.
    model_classes: ClassVar[dict[str, str]] = {}
    #: Qwen3-VL's video processor budgets the pixels of all frames together, the others per frame.
    video_budget_is_total: ClassVar[bool] = False

    def __init__(self, model, processor, options: LoadOptions, pretrained: str = ""):
        if options.analysis_mode not in ANALYSIS_MODES:
            raise ValueError(
                f"Invalid analysis_mode: {options.analysis_mode!r}. Expected one of {ANALYSIS_MODES}."
            )
        if int(options.analysis_batch_size) < 1:
            raise ValueError(
                f"Invalid analysis_batch_size: {options.analysis_batch_size}. Expected an int >= 1."
            )
        lo, hi = options.min_pixels, options.max_pixels
        if (lo is not None and lo < 1) or (hi is not None and hi < 1) or (lo and hi and lo > hi):
            raise ValueError(
                f"Invalid pixel budget: min_pixels={lo}, max_pixels={hi}. "
                "Expected positive ints with min_pixels <= max_pixels."
            )
        self.model = model
        self.processor = processor
        self.options = options
        self.pretrained = pretrained
        processor.tokenizer.padding_side = "left"  # generation continues every row at the same column
        self._digit_ids: list[int] | None = None

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, pretrained: str, options: LoadOptions | None = None) -> "QwenVLBackbone":
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
        device = default_device(options.device)
        kwargs: dict[str, Any] = {
            "config": config,
            "dtype": resolve_dtype(options.torch_dtype, device),
            "attn_implementation": resolve_attn_implementation(options.attn_implementation, device),
            "trust_remote_code": trust,
        }
        if options.device_map:
            kwargs["device_map"] = options.device_map
        model_class = getattr(transformers, cls.model_classes[config.model_type])
        model = model_class.from_pretrained(pretrained, **kwargs)
        if not options.device_map:
            model = model.to(device)
        model.eval()
        processor = AutoProcessor.from_pretrained(pretrained, trust_remote_code=trust)
        return cls(model, processor, options, pretrained)

    # ------------------------------------------------------------------ budgets
    def _factor(self, sub_processor) -> int:
        """Pixel side of one merged patch group (patch_size * merge_size)."""
        return int(sub_processor.patch_size) * int(sub_processor.merge_size)

    def _budget(self, sub_processor, n_frames: int = 1) -> tuple[int, int]:
        """(min_pixels, max_pixels) per frame: LoadOptions first, else the processor's own sizes.

        The processor's defaults may conflict once divided among frames (Qwen3-VL video); min then
        yields to max, and neither goes below one factor x factor patch group.
        """
        factor = self._factor(sub_processor)
        size = sub_processor.size
        lo = _size_value(size, "shortest_edge") or 4 * factor * factor
        hi = _size_value(size, "longest_edge") or 16384 * factor * factor
        if sub_processor is self.processor.video_processor and self.video_budget_is_total:
            lo, hi = lo // n_frames, hi // n_frames
        lo = self.options.min_pixels or lo
        hi = self.options.max_pixels or hi
        lo = max(factor * factor, min(lo, hi))
        return lo, max(lo, hi)

    def _prepare_images(self, frames: np.ndarray) -> np.ndarray:
        """Frames resized to the image budget: uint8 (N, h, w, 3), h and w multiples of the patch factor."""
        image_processor = self.processor.image_processor
        lo, hi = self._budget(image_processor)
        return resize_frames(frames, factor=self._factor(image_processor), min_pixels=lo, max_pixels=hi)

    # ------------------------------------------------------------------ prompts
    def _chat(self, visual: str, text: str, assistant_prefix: str = "") -> str:
        """The chat-template text of one user turn holding one image or video followed by `text`."""
        messages = [{"role": "user", "content": [{"type": visual}, {"type": "text", "text": text}]}]
        text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text + assistant_prefix

    def _image_inputs(self, images: np.ndarray, text: str):
        """Processor inputs for one prompt per image (left-padded batch), on the model's device."""
        inputs = self.processor(
            text=[text] * len(images), images=list(images), padding=True, do_resize=False, return_tensors="pt"
        )
        return inputs.to(self.model.device)

    def prepare_video(self, frames: np.ndarray, timestamps_s: Sequence[float], prompt: str):
        """Processor inputs for answering: frames as one video with their real timestamps.

        frames: uint8 (N, H, W, 3) in time order; timestamps_s: (N,) seconds. An odd N is padded by
        repeating the last frame (temporal patch 2). Returns the processor's BatchFeature on the model's
        device (input_ids, attention_mask, mm_token_type_ids, pixel_values_videos, video_grid_thw and,
        for Qwen2.5-VL, second_per_grid_ts = temporal_patch_size / effective fps).
        """
        frames, ts = check_frames(frames, timestamps_s, self.name)
        if len(frames) == 0:
            raise ValueError(f"{self.name}: no frames to answer from. Expected at least 1 frame.")
        if np.any(np.diff(ts) < 0):
            raise ValueError(f"{self.name}: timestamps are not in time order: {ts.tolist()}. "
                             "Expected non-decreasing seconds.")
        video_processor = self.processor.video_processor
        temporal_patch = int(video_processor.temporal_patch_size)
        fps = effective_fps(ts)
        padded, padded_ts = pad_to_temporal_patch(frames, ts, temporal_patch)
        lo, hi = self._budget(video_processor, n_frames=len(padded))
        padded = resize_frames(padded, factor=self._factor(video_processor), min_pixels=lo, max_pixels=hi)
        inputs = self.processor(
            text=[self._chat("video", prompt)],
            videos=[padded],
            video_metadata=[video_metadata(padded_ts, fps)],
            do_sample_frames=False,
            do_resize=False,
            cap_pixels_per_frame=False,  # the budget is ours (resize_frames above)
            return_tensors="pt",
        )
        return inputs.to(self.model.device)

    # ------------------------------------------------------------------ analysis
    def analyze(self, frames: np.ndarray, timestamps_s: Sequence[float], query: str) -> list[FrameScore]:
        """Score each frame 1..5 for `query`; batched in chunks of analysis_batch_size, in input order.

        frames: uint8 (N, H, W, 3); timestamps_s: (N,) seconds (single images carry no time here).
        """
        frames, _ = check_frames(frames, timestamps_s, self.name)
        if len(frames) == 0:
            return []
        images = self._prepare_images(frames)
        prompt = build_analysis_prompt(query)
        run = self._score_by_logits if self.options.analysis_mode == "logits" else self._score_by_generation
        scores: list[FrameScore] = []
        for chunk in chunked(images, int(self.options.analysis_batch_size)):
            scores.extend(run(chunk, prompt))
        return scores

    def _score_by_generation(self, images: np.ndarray, prompt: str) -> list[FrameScore]:
        """Greedy generation of "Score:/Reasoning:" text for a batch of images, parsed per frame."""
        import torch

        inputs = self._image_inputs(images, self._chat("image", prompt))
        gen = generation_kwargs(None, default_max_new_tokens=self.options.analysis_max_new_tokens)  # greedy
        with torch.inference_mode():
            out = self.model.generate(**inputs, **gen)
        texts = self.processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        return [parse_analysis_output(text) for text in texts]  # raw keeps the text unchanged

    def digit_token_ids(self) -> list[int]:
        """Token ids of "1".."5", each of which must be a single token of this tokenizer."""
        if self._digit_ids is None:
            ids = []
            for digit in SCORE_DIGITS:
                encoded = self.processor.tokenizer.encode(digit, add_special_tokens=False)
                if len(encoded) != 1:
                    raise ValueError(f"{self.name}: the tokenizer of {self.pretrained!r} splits {digit!r} into "
                                     f"{len(encoded)} tokens {encoded}. Expected one token per digit for "
                                     "analysis_mode='logits'.")
                ids.append(encoded[0])
            self._digit_ids = ids
        return self._digit_ids

    def _score_by_logits(self, images: np.ndarray, prompt: str) -> list[FrameScore]:
        """One forward pass after a forced "Score: " prefix; the distribution over digits 1..5 scores.

        FrameScore.score = the most likely digit; reason = "expected_score=<E[score]>"; raw lists the
        five probabilities (renormalised over the digits).
        """
        import torch

        inputs = self._image_inputs(images, self._chat("image", prompt, assistant_prefix=LOGITS_PREFIX))
        with torch.inference_mode():
            logits = self.model(**inputs, logits_to_keep=1).logits[:, -1, :]
        probs = torch.softmax(logits[:, self.digit_token_ids()].float(), dim=-1).cpu().numpy()
        values = np.arange(1, len(SCORE_DIGITS) + 1, dtype=np.float64)
        results = []
        for row in probs:
            expected = float(row @ values)
            raw = "p(1..5)=" + ",".join(f"{p:.4f}" for p in row)
            score = int(np.argmax(row)) + 1
            results.append(FrameScore(score=score, reason=f"expected_score={expected:.2f}", raw=raw))
        return results

    # ------------------------------------------------------------------ answering
    def answer(
        self,
        frames: np.ndarray,
        timestamps_s: Sequence[float],
        prompt: str,
        gen_kwargs: Mapping[str, Any] | None = None,
    ) -> str:
        """Answer `prompt` from the frames as one video; honours max_new_tokens, sampling and `until`."""
        import torch

        inputs = self.prepare_video(frames, timestamps_s, prompt)
        gen = generation_kwargs(gen_kwargs, ANSWER_DEFAULT_MAX_NEW_TOKENS)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **gen)
        text = self.processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)[0]
        return truncate_at_stop(text, (gen_kwargs or {}).get("until"))
