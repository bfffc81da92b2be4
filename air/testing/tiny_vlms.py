"""Tiny random-weight InternVL and LLaVA-OneVision checkpoints, built offline in about a second.

Each builder writes a complete checkpoint directory (config, safetensors weights, tokenizer, image and
video processors, chat template) that the real `from_pretrained` code of transformers loads offline.
Weights are seeded, so two builds give identical checkpoints. The models are random: their text is
gibberish, but every tensor path of the real checkpoints (vision tower, projector, placeholder tokens,
left-padded batched generation) runs for real.
"""

from __future__ import annotations

from pathlib import Path

from air.testing.tiny_tokenizer import train_bpe_tokenizer

SEED = 0

# Qwen2-style chat tokens, shared by InternVL3 and LLaVA-OneVision (both use Qwen2 language models).
_CHAT_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

_CORPUS = [
    "You are given one frame of a video and a question about the video.",
    "Rate how useful this single frame is for answering the question, on a scale from 1 to 5.",
    "Score: 1\nReasoning: The frame shows nothing related to the question.",
    "Score: 2\nReasoning: The frame gives a weak hint about the context.",
    "Score: 3\nReasoning: The frame shows related context just before the asked moment.",
    "Score: 4\nReasoning: The frame shows clear evidence with some ambiguity.",
    "Score: 5\nReasoning: The frame alone answers the question.",
    "Question: What is the person holding? Options: A. a cup B. a phone C. a book D. a ball",
    "Answer with the option's letter from the given choices directly. The answer is A.",
    "system user assistant image video frame Frame1 Frame2 Frame3 Frame4 0 1 2 3 4 5 6 7 8 9",
]

# InternVL3-hf's chat template, in our own words: an image becomes <IMG_CONTEXT>, a video <video>.
_INTERNVL_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<IMG_CONTEXT>\n"
    "{% elif part['type'] == 'video' %}<video>\n"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# llava-onevision-hf's chat template, in our own words: images, then videos, then text lines.
_LLAVA_OV_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }} "
    "{% if message['content'] is string %}{{ '\\n' + message['content'] }}{% else %}"
    "{% for part in message['content'] if part['type'] == 'image' %}<image>{% endfor %}"
    "{% for part in message['content'] if part['type'] == 'video' %}<video>{% endfor %}"
    "{% for part in message['content'] if part['type'] == 'text' %}{{ '\\n' + part['text'] }}{% endfor %}"
    "{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _train_tokenizer(special_tokens: list[str], named_tokens: dict[str, str]):
    """The shared tiny BPE tokenizer (tiny_tokenizer.py) trained on _CORPUS, placeholders named for the processor."""
    return train_bpe_tokenizer(_CORPUS, special_tokens, named_tokens=named_tokens)


def _qwen2_text_config(vocab_size: int, eos_id: int, pad_id: int) -> dict:
    """A 2-layer Qwen2 language model config (hidden 64)."""
    return {
        "model_type": "qwen2",
        "vocab_size": vocab_size,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "eos_token_id": eos_id,
        "pad_token_id": pad_id,
        "bos_token_id": None,
        "tie_word_embeddings": False,
    }


def _save(model, processor, tokenizer, out_dir: str | Path) -> Path:
    """Save a seeded model with its processor and a greedy generation config; return the directory."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = None
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def build_tiny_internvl(out_dir: str | Path) -> Path:
    """Write a tiny native InternVL (InternVLForConditionalGeneration) checkpoint to `out_dir`.

    Vision: 56x56 input, patch 14, pixel-shuffle 0.5, so 4 image tokens per 56x56 tile; dynamic tiling
    up to 2 tiles plus thumbnail for single images, one tile per video frame. Text: 2-layer Qwen2.
    """
    import torch
    from transformers import (
        GotOcr2ImageProcessor,
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLProcessor,
        InternVLVideoProcessor,
    )

    named = {
        "start_image_token": "<img>",
        "end_image_token": "</img>",
        "context_image_token": "<IMG_CONTEXT>",
        "video_token": "<video>",
    }
    tokenizer = _train_tokenizer(_CHAT_TOKENS + list(named.values()), named)
    side = 56
    image_processor = GotOcr2ImageProcessor(
        size={"height": side, "width": side}, crop_to_patches=True, min_patches=1, max_patches=2
    )
    video_processor = InternVLVideoProcessor(size={"height": side, "width": side})
    processor = InternVLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        image_seq_length=4,
        chat_template=_INTERNVL_CHAT_TEMPLATE,
    )
    config = InternVLConfig(
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": side,
            "patch_size": 14,
        },
        text_config=_qwen2_text_config(len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id),
        image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"),
        image_seq_length=4,
        downsample_ratio=0.5,
        tie_word_embeddings=False,
    )
    torch.manual_seed(SEED)
    model = InternVLForConditionalGeneration(config).eval()
    return _save(model, processor, tokenizer, out_dir)


def build_tiny_llava_onevision(out_dir: str | Path) -> Path:
    """Write a tiny native LLaVA-OneVision (LlavaOnevisionForConditionalGeneration) checkpoint.

    Vision: SigLIP, 56x56 input, patch 14 (16 patch features per image), one grid pinpoint [[56, 56]].
    Text: 2-layer Qwen2.
    """
    import torch
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
    )

    named = {"image_token": "<image>", "video_token": "<video>"}
    tokenizer = _train_tokenizer(_CHAT_TOKENS + list(named.values()), named)
    side, patch = 56, 14
    image_processor = LlavaOnevisionImageProcessor(
        size={"height": side, "width": side},
        image_grid_pinpoints=[[side, side]],
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    video_processor = LlavaOnevisionVideoProcessor(size={"height": side, "width": side})
    processor = LlavaOnevisionProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        num_image_tokens=(side // patch) ** 2,
        vision_feature_select_strategy="full",
        chat_template=_LLAVA_OV_CHAT_TEMPLATE,
        vision_aspect_ratio="anyres_max_9",
    )
    config = LlavaOnevisionConfig(
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": side,
            "patch_size": patch,
            "vision_use_head": False,
        },
        text_config=_qwen2_text_config(len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        image_grid_pinpoints=[[side, side]],
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        vision_aspect_ratio="anyres_max_9",
        tie_word_embeddings=False,
    )
    torch.manual_seed(SEED)
    model = LlavaOnevisionForConditionalGeneration(config).eval()
    return _save(model, processor, tokenizer, out_dir)
