"""LLaVA-OneVision backbone through transformers' LlavaOnevisionForConditionalGeneration.

Checkpoints: `llava-hf/llava-onevision-qwen2-{0.5b,7b,72b}-{ov,si}-hf`, `...-ov-chat-hf` and local
directories in that format. The original `lmms-lab/llava-onevision-qwen2-*` names are LLaVA-NeXT-format
checkpoints; they are mapped to their llava-hf twins (same weights, converted) with a logged message.
Serving them in their own format would need the LLaVA-NeXT package (`llava`, its
`llava.model.builder.load_pretrained_model` with `conv_templates["qwen_1_5"]` and `modalities=["video"]`
at generate time); the twins give the same model without that dependency, so only the mapping is used.

Analysis sends each frame as a single image (the processor's anyres tiling); answering sends all
frames as one video through the processor's `videos=` argument (lmms-eval's own `llava_hf` model fails
on video with transformers 5.23, so the processor is called here directly).

Prompts follow lmms-eval's `llava_onevision` wrapper (the published LLaVA-OneVision numbers), not the
llava-hf chat template (which writes "user " with a space and no system turn): LLaVA-NeXT's `qwen_1_5`
conversation, i.e. a system turn "You are a helpful assistant.", then the user turn with one visual
placeholder line before the text (QWEN_1_5_TEMPLATE). The processor expands the placeholder into the
frames' tokens (196 per 384-pixel frame after 2x2 pooling, plus one newline token for a video).
"""

from __future__ import annotations

import logging
import re

from air.base_models.base import Backbone, LoadOptions
from air.base_models.utils.hf_generation import ProcessorChatBackbone, load_hf_model

logger = logging.getLogger(__name__)

#: lmms-lab (LLaVA-NeXT format) checkpoint -> its transformers-format twin on the hub.
LMMS_LAB_TO_HF = {
    f"lmms-lab/llava-onevision-qwen2-{size}-{variant}": f"llava-hf/llava-onevision-qwen2-{size}-{variant}-hf"
    for size, variant in [
        ("0.5b", "ov"), ("7b", "ov"), ("72b", "ov"),
        ("0.5b", "si"), ("7b", "si"), ("72b", "si"),
        ("7b", "ov-chat"), ("72b", "ov-chat"),
    ]
}

_LMMS_LAB = re.compile(r"^lmms-lab/", re.IGNORECASE)

#: LLaVA-NeXT's `qwen_1_5` conversation (system, user turn, open assistant turn) that lmms-eval's
#: llava_onevision wrapper uses by default; {visual} is the processor's image or video token.
QWEN_1_5_SYSTEM = "You are a helpful assistant."
QWEN_1_5_TEMPLATE = (
    "<|im_start|>system\n{system}<|im_end|>\n"
    "<|im_start|>user\n{visual}\n{text}<|im_end|>\n"
    "<|im_start|>assistant\n"
)


def hf_checkpoint_name(pretrained: str) -> str:
    """The llava-hf name to load for `pretrained`: lmms-lab names mapped, everything else unchanged.

    Raises for an lmms-lab LLaVA-OneVision name without a known twin, listing the known ones.
    """
    key = pretrained.strip().rstrip("/")
    if not _LMMS_LAB.match(key):
        return pretrained
    for lmms_name, hf_name in LMMS_LAB_TO_HF.items():
        if key.lower() == lmms_name.lower():
            logger.warning(
                "%s is a LLaVA-NeXT-format checkpoint; loading its transformers-format twin %s instead.",
                pretrained, hf_name,
            )
            return hf_name
    known = ", ".join(sorted(LMMS_LAB_TO_HF))
    raise ValueError(
        f"{pretrained}: no transformers-format (llava-hf) twin is known for this lmms-lab checkpoint. "
        f"Expected one of: {known}; or pass a llava-hf/*-hf name or a local directory in that format."
    )


class LlavaOneVision(ProcessorChatBackbone, Backbone):
    """LLaVA-OneVision: single-image analysis prompts, video answering through `videos=`."""

    name = "llava_onevision"
    lmms_eval_model = "llava_onevision"
    system_prompt = QWEN_1_5_SYSTEM
    uniform_rule = "floor_linspace"

    def _chat_text(self, media_type: str, text: str) -> str:
        """The qwen_1_5 conversation of one user turn: a `media_type` ("image"/"video") placeholder line, then text."""
        token = self.processor.video_token if media_type == "video" else self.processor.image_token
        return QWEN_1_5_TEMPLATE.format(system=self.system_prompt, visual=token, text=text)

    @classmethod
    def from_pretrained(cls, pretrained: str, options: LoadOptions | None = None) -> LlavaOneVision:
        """Load a llava-hf checkpoint (hub id or local dir); lmms-lab names go to their -hf twins."""
        from transformers import AutoProcessor, LlavaOnevisionForConditionalGeneration

        options = options or LoadOptions()
        name = hf_checkpoint_name(pretrained)
        model = load_hf_model(LlavaOnevisionForConditionalGeneration, name, options)
        processor = AutoProcessor.from_pretrained(name, trust_remote_code=options.trust_remote_code)
        return cls(model, processor, options, name)
