"""The interface every VLM backbone adapter implements, and the loading options they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from air.config import validate_value
from air.Process_Utils.process_messages import FrameScore


@dataclass(frozen=True)
class AnalysisItem:
    """One frame to rate: uint8 (H, W, 3) RGB, its time in seconds, and the query it is rated against.

    A list of items may mix videos (frame sizes) and queries: every analysis prompt holds one image.
    """

    frame: np.ndarray
    time_s: float
    query: str


def analysis_items(frames: np.ndarray, timestamps_s: Sequence[float], query: str) -> list[AnalysisItem]:
    """The items of `Backbone.analyze`'s arguments: frames uint8 (N, H, W, 3), timestamps_s (N,) s, one query."""
    return [AnalysisItem(frames[i], float(t), query) for i, t in enumerate(timestamps_s)]


@dataclass(frozen=True)
class LoadOptions:
    """How to load a backbone. `None` means "choose the sensible default for this machine".

    torch_dtype: "bfloat16" | "float16" | "float32" | "auto" | None (bf16 on GPU, fp32 on CPU).
    attn_implementation: "flash_attention_2" | "sdpa" | "eager" | None (flash-attn when installed and
        a GPU is present, else sdpa).
    max_pixels / min_pixels: per-frame pixel budget, for families that have one (Qwen).
    """

    device: str | None = None
    device_map: str | None = None
    torch_dtype: str | None = None
    attn_implementation: str | None = None
    max_pixels: int | None = None
    min_pixels: int | None = None
    trust_remote_code: bool = False
    analysis_batch_size: int = 12
    analysis_max_new_tokens: int = 64
    analysis_mode: str = "generate"  # "generate" (paper) or "logits" (one forward pass over digits 1..5)

    def __post_init__(self) -> None:
        for name in ("max_pixels", "min_pixels", "analysis_batch_size", "analysis_max_new_tokens"):
            validate_value(name, getattr(self, name))  # the shared rules of air/config.py


class Backbone(ABC):
    """A VLM used for two jobs: rating single frames (analysis) and answering from the final frames.

    Frames are uint8 arrays of shape (N, H, W, 3), RGB; timestamps_s are float seconds, shape (N,).
    """

    #: Default frame budget of this family, if it differs from SPEC.md's (VILA-1.5: 8 / 8).
    default_max_frames: int | None = None
    default_min_frames: int | None = None

    name: str = "backbone"

    #: The lmms-eval model whose conventions this adapter reproduces (its task prompt kwargs are the ones
    #: keyed by this name in a task's `lmms_eval_specific_kwargs`), e.g. "qwen2_5_vl"; None: "default".
    lmms_eval_model: str | None = None
    #: System prompt of every chat (analysis and answering), as that lmms-eval wrapper sends it; None: none
    #: beyond what the checkpoint's own template adds.
    system_prompt: str | None = None
    #: The uniform frame rule of that wrapper, a name of baselines.selectors.UNIFORM_RULES.
    uniform_rule: str = "linspace"

    @classmethod
    @abstractmethod
    def from_pretrained(cls, pretrained: str, options: LoadOptions | None = None) -> Backbone:
        """Load the model, processor and tokenizer from a hub id or a local directory."""

    @abstractmethod
    def analyze(self, frames: np.ndarray, timestamps_s: Sequence[float], query: str) -> list[FrameScore]:
        """Score each frame's relevance to `query` (question plus its options, already formatted).

        One prompt per frame; prompts run as batched greedy generation in chunks of
        `options.analysis_batch_size`. Returns one FrameScore per frame, in input order.
        """

    def analyze_many(self, items: Sequence[AnalysisItem]) -> list[FrameScore]:
        """Score items that may come from several videos and questions; one FrameScore per item, in order.

        Each item gets its own prompt, as in `analyze`, which is the case of one video and one query.
        The adapters of this package batch any mix (chunks of `options.analysis_batch_size`); this
        default, for adapters that implement `analyze` only, calls it once per run of consecutive items
        with the same query and frame size.
        """
        out: list[FrameScore] = []
        start = 0
        while start < len(items):
            first = items[start]
            end = start + 1
            while end < len(items) and items[end].query == first.query and items[end].frame.shape == first.frame.shape:
                end += 1
            run = items[start:end]
            frames = np.stack([item.frame for item in run])
            out.extend(self.analyze(frames, [item.time_s for item in run], first.query))
            start = end
        return out

    @abstractmethod
    def answer(
        self,
        frames: np.ndarray,
        timestamps_s: Sequence[float],
        prompt: str,
        gen_kwargs: Mapping[str, Any] | None = None,
    ) -> str:
        """Answer `prompt` (the task's own text) from `frames` in time order, in one generation call.

        Frames may arrive in any order: every adapter first sorts them by timestamps_s (stable for equal
        times, frames reordered with their timestamps) and shows them to the model in that order, with
        those times where the family encodes time (Qwen2.5-VL, Qwen3-VL). N must be >= 1.
        gen_kwargs follows lmms-eval: max_new_tokens, temperature, do_sample, top_p, num_beams, until.
        """
