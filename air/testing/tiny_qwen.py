"""Tiny random-weight Qwen2-VL, Qwen2.5-VL and Qwen3-VL checkpoints, built offline in about a second.

Each builder writes a complete checkpoint directory (config, seeded weights, a byte-level BPE tokenizer
with the family's special tokens, chat template, and the real processor classes with image and video
processors), loadable with `AutoProcessor.from_pretrained` and the native `*ForConditionalGeneration`
classes without network access. The weights are random: generated text is meaningless by design.
"""

from __future__ import annotations

from pathlib import Path

from air.testing.tiny_tokenizer import train_bpe_tokenizer

SEED = 0
HIDDEN = 64
LAYERS = 2
HEADS = 4
HEAD_DIM = HIDDEN // HEADS  # 16: the three mrope sections below sum to HEAD_DIM // 2 = 8
MROPE_SECTION = [4, 2, 2]
# Wider than the 0.02 of real checkpoints so that random outputs depend visibly on the image: the
# batched-versus-one-by-one tests then compare different texts per frame, not one repeated string.
INIT_STD = 0.2

#: Special tokens of the Qwen2-VL / Qwen2.5-VL tokenizer, in the order the real vocabulary lists them.
QWEN2_SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
    "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
)
#: Qwen3-VL adds tool-call and thinking markers to the same set.
QWEN3_EXTRA_TOKENS = ("<tool_call>", "</tool_call>", "<think>", "</think>")

_TRAINING_TEXT = (
    "You are a helpful assistant. Rate how useful this single frame is for answering the question.\n"
    "Score: 1\nScore: 2\nScore: 3\nScore: 4\nScore: 5\nReasoning: the frame shows the person opening "
    "the door, which is the moment the question asks about.\n"
    "Question: What does the man hold in his hand? Options: A. a cup B. a phone C. a book D. a key\n"
    "Answer with the option's letter from the given choices directly. The answer is A.\n"
    "video frame image seconds minutes scene person car dog kitchen table red blue green 0 6 7 8 9\n"
)

# Our own Jinja template producing the Qwen chat format: <|im_start|>role\n...<|im_end|>\n, with an
# image or video item rendered as <|vision_start|><|image_pad|><|vision_end|> (resp. <|video_pad|>).
_CHAT_TEMPLATE = (
    "{% set default_system = DEFAULT_SYSTEM %}"
    "{% if default_system and messages[0]['role'] != 'system' %}"
    "<|im_start|>system\n{{ default_system }}<|im_end|>\n"
    "{% endif %}"
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' or 'image' in item %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'video' or 'video' in item %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}"
    "{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _chat_template(default_system: str) -> str:
    """The chat template with the family's default system prompt ("" for none)."""
    quoted = "'" + default_system.replace("'", "\\'") + "'"
    return _CHAT_TEMPLATE.replace("DEFAULT_SYSTEM", quoted)


def _build_tokenizer(special_tokens: tuple[str, ...], chat_template: str):
    """The shared tiny BPE tokenizer (tiny_tokenizer.py) trained on this module's text, with `chat_template`."""
    return train_bpe_tokenizer([_TRAINING_TEXT] * 4, special_tokens, chat_template=chat_template)


def _token_ids(tokenizer) -> dict:
    """The vision and end-of-sequence token ids the model config must agree on."""
    ids = {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"),
    )}
    ids["eos"] = tokenizer.convert_tokens_to_ids("<|im_end|>")
    ids["pad"] = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    return ids


def _vocab_size(tokenizer) -> int:
    """len(tokenizer) rounded up to a multiple of 64, as real checkpoints pad their embeddings."""
    return (len(tokenizer) + 63) // 64 * 64


def _text_config(tokenizer, ids: dict, **extra) -> dict:
    """Text-tower settings shared by the three families."""
    return dict(
        vocab_size=_vocab_size(tokenizer), hidden_size=HIDDEN, intermediate_size=2 * HIDDEN,
        num_hidden_layers=LAYERS, num_attention_heads=HEADS, num_key_value_heads=2,
        max_position_embeddings=4096, bos_token_id=ids["pad"], eos_token_id=ids["eos"],
        pad_token_id=ids["pad"], initializer_range=INIT_STD, **extra,
    )


def _rope(**extra) -> dict:
    """Multimodal rope settings of the text tower (mrope sections sum to HEAD_DIM // 2)."""
    return {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": MROPE_SECTION, **extra}


def _small_sizes(factor: int) -> dict:
    """Per-frame pixel budget of the tiny processors: 2x2 to 4x4 merged patches (4..16 tokens)."""
    return {"shortest_edge": 4 * factor * factor, "longest_edge": 16 * factor * factor}


def _build(
    out_dir: str | Path,
    *,
    prefix: str,
    processor_name: str,
    special_tokens: tuple[str, ...],
    default_system: str,
    text_extra: dict,
    vision_config: dict,
    image_processor,
    video_processor,
) -> Path:
    """Write one tiny Qwen-VL family checkpoint to out_dir; the family is named by its class prefix.

    prefix: transformers' class prefix ("Qwen2VL", "Qwen2_5_VL", "Qwen3VL", "Qwen3VLMoe") of the
    `<prefix>Config` and `<prefix>ForConditionalGeneration` classes; processor_name: the processor class.
    Weights are seeded with SEED, so two builds give identical files.
    """
    import torch
    import transformers
    from transformers import GenerationConfig

    tokenizer = _build_tokenizer(special_tokens, _chat_template(default_system))
    ids = _token_ids(tokenizer)
    config = getattr(transformers, f"{prefix}Config")(
        text_config=_text_config(tokenizer, ids, **text_extra),
        vision_config=vision_config,
        **{k: v for k, v in ids.items() if k.endswith("token_id")},
    )
    processor = getattr(transformers, processor_name)(
        image_processor=image_processor, video_processor=video_processor,
        tokenizer=tokenizer, chat_template=tokenizer.chat_template,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)
    model = getattr(transformers, f"{prefix}ForConditionalGeneration")(config).eval()
    model.generation_config = GenerationConfig(
        eos_token_id=config.text_config.eos_token_id, pad_token_id=config.text_config.pad_token_id,
        do_sample=False,
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def _qwen2_processors() -> dict:
    """Image and video processors of Qwen2-VL and Qwen2.5-VL (patch 14, merge 2: factor 28)."""
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    sizes = _small_sizes(28)
    return {"image_processor": Qwen2VLImageProcessor(size=dict(sizes)),
            "video_processor": Qwen2VLVideoProcessor(size=dict(sizes))}


def build_tiny_qwen2_vl(out_dir: str | Path) -> Path:
    """Write a tiny Qwen2-VL checkpoint (hidden 64, 2 layers, 4 heads, vision depth 2) to out_dir."""
    return _build(
        out_dir, prefix="Qwen2VL", processor_name="Qwen2VLProcessor",
        special_tokens=QWEN2_SPECIAL_TOKENS, default_system="You are a helpful assistant.",
        text_extra={"rope_parameters": _rope()},
        vision_config=dict(depth=2, embed_dim=32, hidden_size=HIDDEN, num_heads=2, mlp_ratio=2,
                           initializer_range=INIT_STD, patch_size=14, spatial_merge_size=2,
                           temporal_patch_size=2),
        **_qwen2_processors(),
    )


def build_tiny_qwen2_5_vl(out_dir: str | Path) -> Path:
    """Write a tiny Qwen2.5-VL checkpoint (hidden 64, 2 layers, 4 heads, vision depth 2) to out_dir."""
    return _build(
        out_dir, prefix="Qwen2_5_VL", processor_name="Qwen2_5_VLProcessor",
        special_tokens=QWEN2_SPECIAL_TOKENS, default_system="You are a helpful assistant.",
        text_extra={"rope_parameters": _rope()},
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2,
                           initializer_range=INIT_STD, out_hidden_size=HIDDEN, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, window_size=56,
                           fullatt_block_indexes=[1], tokens_per_second=2),
        **_qwen2_processors(),
    )


def _build_qwen3(out_dir: str | Path, moe: bool) -> Path:
    """Tiny Qwen3-VL, dense or mixture-of-experts (4 experts, 2 per token), written to out_dir."""
    from transformers import Qwen2VLImageProcessor, Qwen3VLVideoProcessor

    experts = {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": HIDDEN} if moe else {}
    sizes = _small_sizes(32)
    return _build(
        out_dir, prefix="Qwen3VLMoe" if moe else "Qwen3VL", processor_name="Qwen3VLProcessor",
        special_tokens=QWEN2_SPECIAL_TOKENS + QWEN3_EXTRA_TOKENS, default_system="",
        text_extra={"head_dim": HEAD_DIM, "rope_parameters": _rope(mrope_interleaved=True), **experts},
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2,
                           initializer_range=INIT_STD, out_hidden_size=HIDDEN, patch_size=16,
                           spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64,
                           deepstack_visual_indexes=[1]),
        image_processor=Qwen2VLImageProcessor(
            size=dict(sizes), patch_size=16, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5]
        ),
        # Qwen3-VL's video budget counts the pixels of all frames together.
        video_processor=Qwen3VLVideoProcessor(
            size={"shortest_edge": sizes["shortest_edge"], "longest_edge": 64 * sizes["longest_edge"]}
        ),
    )


def build_tiny_qwen3_vl(out_dir: str | Path) -> Path:
    """Write a tiny Qwen3-VL checkpoint (hidden 64, 2 layers, 4 heads, vision depth 2) to out_dir."""
    return _build_qwen3(out_dir, moe=False)


def build_tiny_qwen3_vl_moe(out_dir: str | Path) -> Path:
    """Write a tiny Qwen3-VL mixture-of-experts checkpoint (as Qwen3-VL-30B-A3B, 4 experts) to out_dir."""
    return _build_qwen3(out_dir, moe=True)
