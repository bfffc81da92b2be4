"""Tiny random-weight CLIP encoders for every backend of `air.base_models.clip_model`, built offline.

Each builder writes files into `out_dir` in the exact format the real loader of that family reads, and
returns the name to pass to `load_clip` (for Long-CLIP: the name of a checkpoint in Long-CLIP's format,
which loads only where the Long-CLIP repository is available, see `build_tiny_longclip_checkpoint`).
Builders are deterministic (fixed seeds, the global torch RNG is left untouched) and take well under 2 s.
The tokenizers are the real ones: the CLIP BPE vocabulary shipped inside open_clip and OpenAI clip, and
for SigLIP a small SentencePiece model trained here on a fixed corpus.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

SEED = 0
EMBED_DIM = 32
CLIP_VOCAB_SIZE = 49408
OPEN_CLIP_MODEL_NAME = "air-tiny-open-clip"
LONGCLIP_CONTEXT = 248
LONGCLIP_SHORT_POSITIONS = 20

_OPEN_CLIP_CONFIG = {
    "embed_dim": EMBED_DIM,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 64, "layers": 2, "head_width": 32, "mlp_ratio": 2.0},
    "text_cfg": {"context_length": 77, "vocab_size": CLIP_VOCAB_SIZE, "width": 64, "heads": 2, "layers": 2,
                 "mlp_ratio": 2.0},
}

_SPM_CORPUS = [
    "a person opens the red door and walks into the kitchen",
    "the dog runs across the green field after a yellow ball",
    "what is the man holding in his left hand at the end of the video",
    "a woman cooks pasta while the radio plays music",
    "two children ride bicycles along the river at sunset",
    "which color is the car parked next to the blue house",
    "the cat sleeps on the sofa near the window",
    "a chef slices onions and carrots on a wooden board",
    "players kick the football towards the goal in the rain",
    "answer with the option letter from the given choices directly",
]


def _seeded():
    """Context manager: a forked torch RNG seeded with SEED, so builders never disturb the caller's RNG."""
    import torch

    ctx = torch.random.fork_rng(devices=[])
    ctx.__enter__()
    torch.manual_seed(SEED)
    return ctx


def build_tiny_open_clip(out_dir: str | Path) -> str:
    """Write a tiny open_clip model (config JSON + safetensors weights); return its `load_clip` name.

    The config `<out_dir>/air-tiny-open-clip.json` sits next to the weights file, so `load_clip`
    registers it with `open_clip.add_model_config` and loads the weights through
    `open_clip.create_model_and_transforms(name, pretrained=<file>)`. Image input: 32 x 32 pixels;
    embedding dimension 32; text tower with the real CLIP BPE vocabulary (49408 tokens, 77 positions).
    """
    from open_clip.model import CLIP
    from safetensors.torch import save_file

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / f"{OPEN_CLIP_MODEL_NAME}.json"
    config_path.write_text(json.dumps(_OPEN_CLIP_CONFIG, indent=2))
    ctx = _seeded()
    try:
        model = CLIP(**_OPEN_CLIP_CONFIG)
    finally:
        ctx.__exit__(None, None, None)
    weights = out / f"{OPEN_CLIP_MODEL_NAME}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    return f"open_clip:{OPEN_CLIP_MODEL_NAME}/{weights}"


def _openai_clip_model(context_length: int):
    """A tiny `clip.model.CLIP` (ViT, widths 64 = one head of 64) with a forked, seeded RNG."""
    import warnings

    with warnings.catch_warnings():  # the clip package imports the deprecated pkg_resources
        warnings.simplefilter("ignore", category=UserWarning)
        from clip.model import CLIP

    ctx = _seeded()
    try:
        return CLIP(
            embed_dim=EMBED_DIM, image_resolution=32, vision_layers=2, vision_width=64, vision_patch_size=8,
            context_length=context_length, vocab_size=CLIP_VOCAB_SIZE, transformer_width=64,
            transformer_heads=1, transformer_layers=2,
        ).eval()
    finally:
        ctx.__exit__(None, None, None)


def build_tiny_openai_clip(out_dir: str | Path) -> str:
    """Write a tiny OpenAI-CLIP state dict (`tiny-openai-clip.pt`) that `load_clip("openai:<path>")` rebuilds.

    The loader reads the plain state dict with torch.load(weights_only=True) and calls clip's
    `build_model` on it, which infers every width and depth from the tensor shapes. Image input 32 x 32;
    embedding 32.
    """
    import torch

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "tiny-openai-clip.pt"
    torch.save(_openai_clip_model(77).state_dict(), path)
    return f"openai:{path}"


def build_tiny_longclip_checkpoint(out_dir: str | Path) -> str:
    """Write a tiny checkpoint in Long-CLIP's format (`longclip-tiny.pt`); return `longclip:<path>`.

    Long-CLIP checkpoints are OpenAI-CLIP state dicts whose text tower has 248 positions and a second
    table `positional_embedding_res` (248, width) used for positions after the first 20. Loading it needs
    the Long-CLIP repository (`LONGCLIP_PATH`), which is not installable here.
    """
    import torch

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    state = dict(_openai_clip_model(LONGCLIP_CONTEXT).state_dict())
    ctx = _seeded()
    try:
        state["positional_embedding_res"] = torch.randn(LONGCLIP_CONTEXT, 64) * 0.01
    finally:
        ctx.__exit__(None, None, None)
    path = out / "longclip-tiny.pt"
    torch.save(state, path)
    return f"longclip:{path}"


def _clip_bpe_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The real CLIP byte-level BPE (49408 tokens) rebuilt from open_clip's `bpe_simple_vocab_16e6.txt.gz`."""
    from open_clip.tokenizer import bytes_to_unicode, default_bpe

    with gzip.open(default_bpe(), "rt", encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    n_merges = CLIP_VOCAB_SIZE - 2 * 256 - 2
    merges = [tuple(line.split()) for line in lines[1 : n_merges + 1]]
    byte_chars = list(bytes_to_unicode().values())
    tokens = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {tok: i for i, tok in enumerate(tokens)}, merges


def build_tiny_hf_clip(out_dir: str | Path) -> str:
    """Write a tiny transformers `CLIPModel` with the real CLIP tokenizer and image processor; return `hf:<dir>`.

    Image input 32 x 32, embedding 32, 77 text positions; saved with `save_pretrained` (safetensors).
    """
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    config = CLIPConfig(
        text_config={"vocab_size": CLIP_VOCAB_SIZE, "hidden_size": 64, "intermediate_size": 128,
                     "num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 77,
                     "bos_token_id": CLIP_VOCAB_SIZE - 2, "eos_token_id": CLIP_VOCAB_SIZE - 1,
                     "pad_token_id": CLIP_VOCAB_SIZE - 1},
        vision_config={"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        projection_dim=EMBED_DIM,
    )
    ctx = _seeded()
    try:
        model = CLIPModel(config).eval()
    finally:
        ctx.__exit__(None, None, None)
    model.save_pretrained(out)
    vocab, merges = _clip_bpe_vocab_and_merges()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
    tokenizer.save_pretrained(out)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(out)
    return f"hf:{out}"


def _train_sentencepiece(prefix: Path, vocab_size: int) -> Path:
    """Train a small unigram SentencePiece model on a fixed corpus (deterministic, single thread)."""
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_SPM_CORPUS), model_prefix=str(prefix), vocab_size=vocab_size,
        model_type="unigram", character_coverage=1.0, num_threads=1, minloglevel=2,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, hard_vocab_limit=False,
        pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>",
    )
    return prefix.with_suffix(".model")


def build_tiny_hf_siglip(out_dir: str | Path) -> str:
    """Write a tiny transformers `SiglipModel` with a SentencePiece `SiglipTokenizer`; return `hf:<dir>`.

    Image input 32 x 32, embedding 64 (SigLIP has no projection: embedding = hidden size), 16 text
    positions (SigLIP pads every text to its maximum length).
    """
    import tempfile

    from transformers import (
        SiglipConfig,
        SiglipImageProcessor,
        SiglipModel,
        SiglipTokenizer,
    )

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="air-spm-") as tmp:
        spm_model = _train_sentencepiece(Path(tmp) / "spiece", vocab_size=96)
        tokenizer = SiglipTokenizer(vocab_file=str(spm_model), model_max_length=16)
        tokenizer.save_pretrained(out)
    vocab_size = len(tokenizer)
    config = SiglipConfig(
        text_config={"vocab_size": vocab_size, "hidden_size": 64, "intermediate_size": 128,
                     "num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 16,
                     "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id,
                     "bos_token_id": tokenizer.eos_token_id},
        vision_config={"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
    )
    ctx = _seeded()
    try:
        model = SiglipModel(config).eval()
    finally:
        ctx.__exit__(None, None, None)
    model.save_pretrained(out)
    SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out)
    return f"hf:{out}"


BUILDERS = {
    "open_clip": build_tiny_open_clip,
    "openai": build_tiny_openai_clip,
    "hf_clip": build_tiny_hf_clip,
    "hf_siglip": build_tiny_hf_siglip,
    "longclip": build_tiny_longclip_checkpoint,
}
