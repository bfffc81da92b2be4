"""Qwen3-VL backbone (transformers' native Qwen3VLForConditionalGeneration), beyond the paper.

Answering passes the frames as one video; the processor writes each temporal patch's real timestamp
("<12.5 seconds>") into the prompt. Qwen3-VL's video pixel budget covers all frames together.
"""

from __future__ import annotations

from air.base_models.utils.qwen_common import QwenVLBackbone


class Qwen3VL(QwenVLBackbone):
    """Qwen/Qwen3-VL-*-Instruct checkpoints (dense models)."""

    name = "Qwen3-VL"
    model_class_name = "Qwen3VLForConditionalGeneration"
    model_types = ("qwen3_vl",)
    video_budget_is_total = True
