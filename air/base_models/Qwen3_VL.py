"""Qwen3-VL backbone (transformers' native Qwen3VL / Qwen3VLMoe ForConditionalGeneration), beyond the paper.

Answering passes the frames as one video; the processor writes each temporal patch's real timestamp
("<12.5 seconds>") into the prompt. Qwen3-VL's video pixel budget covers all frames together.
"""

from __future__ import annotations

from air.base_models.utils.qwen_common import QwenVLBackbone


class Qwen3VL(QwenVLBackbone):
    """Qwen/Qwen3-VL-*-Instruct checkpoints, dense and mixture-of-experts."""

    name = "Qwen3-VL"
    model_classes = {
        "qwen3_vl": "Qwen3VLForConditionalGeneration",
        "qwen3_vl_moe": "Qwen3VLMoeForConditionalGeneration",  # Qwen3-VL-30B-A3B, -235B-A22B
    }
    video_budget_is_total = True
