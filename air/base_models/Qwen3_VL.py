"""Qwen3-VL backbone (transformers' native Qwen3VL / Qwen3VLMoe ForConditionalGeneration), beyond the paper.

Answering passes the frames as one video; the processor writes each temporal patch's real timestamp
("<12.5 seconds>") into the prompt. As lmms-eval's `qwen3_vl` sends it: system prompt "You are a
helpful assistant.", video then text, each frame within qwen-vl-utils' video budget (patch 16) of
min_pixels 256*28*28 and max_pixels 1605632 (at most 768 patch groups of 32x32 pixels).
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
    lmms_eval_model = "qwen3_vl"
    reference_pixels = (256 * 28 * 28, 1605632)
