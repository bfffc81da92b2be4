"""Qwen2-VL backbone (transformers' native Qwen2VLForConditionalGeneration).

Answering passes the frames as one video (even frame count for the temporal patch of 2); Qwen2-VL has
no absolute time encoding, so only the frame order reaches the model. As lmms-eval's `qwen2_vl` sends
it: system prompt "You are a helpful assistant.", video then text, each frame within qwen-vl-utils'
video budget of min_pixels 3136 and max_pixels 602112.
"""

from __future__ import annotations

from air.base_models.utils.qwen_common import QwenVLBackbone


class Qwen2VL(QwenVLBackbone):
    """Qwen/Qwen2-VL-*-Instruct checkpoints."""

    name = "Qwen2-VL"
    model_classes = {"qwen2_vl": "Qwen2VLForConditionalGeneration"}
    lmms_eval_model = "qwen2_vl"
    reference_pixels = (3136, 602112)
