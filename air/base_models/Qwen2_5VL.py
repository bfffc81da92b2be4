"""Qwen2.5-VL backbone (transformers' native Qwen2_5_VLForConditionalGeneration).

Answering passes the frames as one video with their real timestamps: the processor turns the effective
frame rate into second_per_grid_ts, which drives Qwen2.5-VL's absolute time encoding. As lmms-eval's
`qwen2_5_vl` sends it: system prompt "You are a helpful assistant.", video then text, each frame within
qwen-vl-utils' video budget of min_pixels 256*28*28 and max_pixels 1605632 (at most 768 patch groups).
"""

from __future__ import annotations

from air.base_models.utils.qwen_common import QwenVLBackbone


class Qwen2_5VL(QwenVLBackbone):
    """Qwen/Qwen2.5-VL-*-Instruct checkpoints."""

    name = "Qwen2.5-VL"
    model_classes = {"qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration"}
    lmms_eval_model = "qwen2_5_vl"
    reference_pixels = (256 * 28 * 28, 1605632)
