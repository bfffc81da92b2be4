"""InternVL3 backbone: transformers-native `-hf` checkpoints by default, remote code only on request.

Native path (`OpenGVLab/InternVL3-8B-hf`, local dirs with model_type "internvl"):
`InternVLForConditionalGeneration` + `AutoProcessor`; analysis images go through the processor's own
dynamic tiling, answering passes the frames as one video (the processor writes `Frame{i}: <img>...`).

Remote-code path (`OpenGVLab/InternVL3-8B`, model_type "internvl_chat"), only with
trust_remote_code=True: `AutoModel` + `AutoTokenizer` with the checkpoint's own code, 448-pixel tiles
with InternVL's dynamic tiling, the `Frame{i}: <image>` multi-image prompt, and `model.chat` /
`model.batch_chat`.

Both paths send what lmms-eval's wrapper of the path sends: the native one what `internvl_hf` sends (no
system prompt of its own, one tile per frame), the remote one what `internvl3` (modality=video) sends:
up to max(1, min(12, 64 // n_frames)) tiles per frame plus a thumbnail (the grid chosen by InternVL's
own dynamic_preprocess; see tile_grid for the ties that lmms-eval's copy decides otherwise).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from air.base_models.base import AnalysisItem, Backbone, LoadOptions
from air.base_models.utils.hf_generation import (
    ProcessorChatBackbone,
    analyze_items_by_generation,
    answer_frames,
    frames_as_items,
    load_hf_model,
)
from air.Process_Utils.process_messages import FrameScore

logger = logging.getLogger(__name__)

#: InternVL's remote-code preprocessing: 448-pixel tiles normalised with the ImageNet statistics.
TILE_SIZE = 448
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Tiles of a single image (analysis), and the tile allowance lmms-eval's `internvl3` shares among the
#: frames of a video (max_num 12, total_max_num 64).
IMAGE_MAX_TILES = 12
VIDEO_TOTAL_TILES = 64

_NATIVE_MODEL_TYPE = "internvl"
_REMOTE_MODEL_TYPE = "internvl_chat"


def checkpoint_kind(pretrained: str) -> str:
    """"native" for transformers-format InternVL checkpoints, "remote" for the original remote-code ones.

    A local directory is judged by its config.json model_type; a hub id by its `-hf` suffix.
    """
    config_path = Path(pretrained) / "config.json"
    if config_path.is_file():
        model_type = json.loads(config_path.read_text()).get("model_type", "")
        if model_type == _NATIVE_MODEL_TYPE:
            return "native"
        if model_type == _REMOTE_MODEL_TYPE:
            return "remote"
        raise ValueError(
            f"{pretrained}: config.json has model_type {model_type!r}. "
            f"Expected {_NATIVE_MODEL_TYPE!r} (transformers-native) or {_REMOTE_MODEL_TYPE!r} (remote code)."
        )
    return "native" if pretrained.rstrip("/").lower().endswith("-hf") else "remote"


# ---------------------------------------------------------------------------------------------------
# Remote-code path: pure preprocessing and prompt functions (testable without the checkpoint's code).
# ---------------------------------------------------------------------------------------------------


def video_max_tiles(n_frames: int) -> int:
    """Tiles per frame of an n-frame video in lmms-eval's `internvl3`: max(1, min(12, 64 // n_frames))."""
    if n_frames < 1:
        raise ValueError(f"Invalid n_frames: {n_frames}. Expected an int >= 1.")
    return max(1, min(IMAGE_MAX_TILES, VIDEO_TOTAL_TILES // n_frames))


def tile_grid(width: int, height: int, *, min_tiles: int = 1, max_tiles: int = IMAGE_MAX_TILES,
              tile_size: int = TILE_SIZE) -> tuple[int, int]:
    """The (columns, rows) tile grid InternVL picks for an image of `width` x `height` pixels.

    Among grids with min_tiles <= columns * rows <= max_tiles, the one whose aspect ratio is closest
    to the image's; on a tie, the larger grid wins when the image has more than half of that grid's
    pixel area (so small images are not blown up). This is InternVL's own recipe, which walks the grids
    by tile count. lmms-eval's internvl3 copy walks them in the order of a Python set instead, which
    decides some ties the other way (a 1000x1000 image: 1x1 there, 3x3 here; 16:9 frames with 8 tiles
    allowed: 2x1 there, 4x2 here); without a tie, and so for 16:9 or 4:3 video of 16 frames or more,
    both pick the same grid.
    """
    if width < 1 or height < 1:
        raise ValueError(f"Invalid image size: {width}x{height}. Expected positive width and height in pixels.")
    if not 1 <= min_tiles <= max_tiles:
        raise ValueError(f"Invalid tile bounds: min_tiles={min_tiles}, max_tiles={max_tiles}. Expected 1 <= min <= max.")
    grids = sorted(
        ((c, r) for c in range(1, max_tiles + 1) for r in range(1, max_tiles + 1) if min_tiles <= c * r <= max_tiles),
        key=lambda g: (g[0] * g[1], g),
    )
    aspect = width / height
    best, best_diff = grids[0], math.inf
    for cols, rows in grids:
        diff = abs(aspect - cols / rows)
        if diff < best_diff:
            best, best_diff = (cols, rows), diff
        elif diff == best_diff and width * height > 0.5 * tile_size * tile_size * cols * rows:
            best = (cols, rows)
    return best


def tile_image(image: np.ndarray, *, max_tiles: int = IMAGE_MAX_TILES, tile_size: int = TILE_SIZE,
               use_thumbnail: bool = True) -> np.ndarray:
    """Cut one uint8 (H, W, 3) image into InternVL tiles: uint8 (T, tile_size, tile_size, 3).

    The image is resized (bicubic) to the chosen grid, cut row by row, and, when that gives more than
    one tile and use_thumbnail is set, a whole-image thumbnail is appended as the last tile.
    """
    from PIL import Image

    height, width = image.shape[:2]
    cols, rows = tile_grid(width, height, max_tiles=max_tiles, tile_size=tile_size)
    pil = Image.fromarray(np.ascontiguousarray(image), mode="RGB")
    resized = np.asarray(pil.resize((cols * tile_size, rows * tile_size), Image.BICUBIC))
    tiles = [
        resized[r * tile_size : (r + 1) * tile_size, c * tile_size : (c + 1) * tile_size]
        for r in range(rows)
        for c in range(cols)
    ]
    if use_thumbnail and len(tiles) > 1:
        tiles.append(np.asarray(pil.resize((tile_size, tile_size), Image.BICUBIC)))
    return np.stack(tiles)


def tiles_to_pixel_values(tiles: np.ndarray):
    """uint8 tiles (T, S, S, 3) -> float32 tensor (T, 3, S, S) normalised with ImageNet mean/std."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(tiles)).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def video_question(n_frames: int, prompt: str) -> str:
    """InternVL's multi-image video prompt: one `Frame{i}: <image>` line per frame, then the prompt."""
    if n_frames < 1:
        raise ValueError(f"Invalid n_frames: {n_frames}. Expected an int >= 1.")
    return "".join(f"Frame{i + 1}: <image>\n" for i in range(n_frames)) + prompt


def image_question(prompt: str) -> str:
    """InternVL's single-image prompt: the image placeholder line, then the prompt."""
    return "<image>\n" + prompt


class _RemoteInternVL(Backbone):
    """InternVL3 through the checkpoint's own remote code (model.chat / model.batch_chat)."""

    name = "internvl3"
    lmms_eval_model = "internvl3"
    uniform_rule = "segment_centres"

    def __init__(self, model, tokenizer, options: LoadOptions, pretrained: str):
        self.model, self.tokenizer, self.options, self.pretrained = model, tokenizer, options, pretrained

    @classmethod
    def from_pretrained(cls, pretrained: str, options: LoadOptions | None = None) -> _RemoteInternVL:
        from transformers import AutoModel, AutoTokenizer

        from air.base_models.utils.generation import (
            default_device,
            resolve_attn_implementation,
        )

        options = options or LoadOptions()
        if not options.trust_remote_code:
            raise ValueError(_remote_code_message(pretrained))
        # InternVL's own code picks flash attention through `use_flash_attn`, as its model cards do.
        attn = resolve_attn_implementation(options.attn_implementation, default_device(options.device))
        model = load_hf_model(AutoModel, pretrained, options, pass_attn_implementation=False,
                              low_cpu_mem_usage=True, use_flash_attn=attn == "flash_attention_2")
        tokenizer = AutoTokenizer.from_pretrained(pretrained, trust_remote_code=True, use_fast=False)
        return cls(model, tokenizer, options, pretrained)

    def _pixel_values(self, tiles: np.ndarray):
        return tiles_to_pixel_values(tiles).to(device=self.model.device, dtype=self.model.dtype)

    def analyze(self, frames: np.ndarray, timestamps_s: Sequence[float], query: str) -> list[FrameScore]:
        return self.analyze_many(frames_as_items(frames, timestamps_s, query, self.pretrained))

    def analyze_many(self, items: Sequence[AnalysisItem]) -> list[FrameScore]:
        """One `batch_chat` per chunk: each item's frame tiled on its own, with its own question."""
        def run(chunk, prompts: list[str], gen: dict) -> list[str]:
            tiles = [tile_image(frame, max_tiles=IMAGE_MAX_TILES) for frame in chunk]
            pixel_values = self._pixel_values(np.concatenate(tiles))
            return self.model.batch_chat(
                self.tokenizer, pixel_values, num_patches_list=[len(t) for t in tiles],
                questions=[image_question(p) for p in prompts], generation_config=gen,
            )

        return analyze_items_by_generation(
            items, self.options, run, owner=self.pretrained, name=self.name,
            logits_error=f"{self.pretrained}: analysis_mode='logits' needs the -hf checkpoint. Expected 'generate'.",
        )

    def answer(self, frames: np.ndarray, timestamps_s: Sequence[float], prompt: str,
               gen_kwargs: Mapping[str, Any] | None = None) -> str:
        from air.base_models.utils.generation import generation_kwargs, truncate_at_stop

        frames, _ = answer_frames(frames, timestamps_s, owner=self.pretrained)
        tiles = [tile_image(frame, max_tiles=video_max_tiles(len(frames))) for frame in frames]
        pixel_values = self._pixel_values(np.concatenate(tiles))
        text = self.model.chat(
            self.tokenizer, pixel_values, video_question(len(frames), prompt), generation_kwargs(gen_kwargs),
            num_patches_list=[len(t) for t in tiles],
        )
        return truncate_at_stop(text, (gen_kwargs or {}).get("until"))


def _remote_code_message(pretrained: str) -> str:
    return (
        f"{pretrained} is an original InternVL checkpoint that runs its own remote code. "
        f"Use the transformers-native twin ({pretrained.rstrip('/')}-hf, e.g. OpenGVLab/InternVL3-8B-hf), "
        "or pass trust_remote_code=True to run the checkpoint's code."
    )


class InternVL3(ProcessorChatBackbone, Backbone):
    """InternVL3 (also InternVL2.5/3.5 `-hf`) through transformers' InternVLForConditionalGeneration."""

    name = "internvl3"
    lmms_eval_model = "internvl_hf"
    uniform_rule = "shifted_arange"

    @classmethod
    def from_pretrained(cls, pretrained: str, options: LoadOptions | None = None) -> Backbone:
        """Native for `-hf` / model_type "internvl"; remote code only with options.trust_remote_code."""
        options = options or LoadOptions()
        if checkpoint_kind(pretrained) == "remote":
            if not options.trust_remote_code:
                raise ValueError(_remote_code_message(pretrained))
            logger.info("%s: loading InternVL through its remote code (trust_remote_code=True).", pretrained)
            return _RemoteInternVL.from_pretrained(pretrained, options)
        from transformers import AutoProcessor, InternVLForConditionalGeneration

        model = load_hf_model(InternVLForConditionalGeneration, pretrained, options)
        processor = AutoProcessor.from_pretrained(pretrained, trust_remote_code=options.trust_remote_code)
        return cls(model, processor, options, pretrained)
