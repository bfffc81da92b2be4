"""VILA-1.5 backbone, loaded through the VILA repository's own code (found at $VILA_PATH).

VILA-1.5 (`Efficient-Large-Model/VILA1.5-{3b,13b,40b}`, `Efficient-Large-Model/Llama-3-VILA1.5-8B`) has
no transformers-native class and no pip package: clone https://github.com/NVlabs/VILA, install its
requirements, and export VILA_PATH=/path/to/VILA. This adapter adds VILA_PATH to sys.path and uses the
repository's API: `llava.model.builder.load_pretrained_model`, `llava.mm_utils.process_images` and
`tokenizer_image_token`, `llava.conversation.conv_templates` and `llava.constants`.

Frames are images: one `<image>` line per frame (frames in time order) before the text, inside the
checkpoint's conversation template. Answering prompts carry the literal "<video>\n " that lmms-eval's
`vila` wrapper puts before the task text (VIDEO_TEXT_PREFIX), so that they read as its prompts do. Analysis batches prompts with left padding (VILA-1.5 re-pads the
spliced image features on the side named by `config.tokenizer_padding_side`, set to "left" here).
VILA's `generate` feeds embeddings to the language model, so its output holds only the new tokens.
The paper runs VILA-1.5 with 8 frames: default_max_frames = default_min_frames = 8.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from air.base_models.base import AnalysisItem, Backbone, LoadOptions
from air.base_models.utils.hf_generation import (
    analyze_items_by_generation,
    answer_frames,
    frames_as_items,
    frames_to_pil,
)
from air.Process_Utils.process_messages import FrameScore

logger = logging.getLogger(__name__)

VILA_PATH_ENV = "VILA_PATH"
VILA_REPO_URL = "https://github.com/NVlabs/VILA"

#: Name fragment (lower case) -> VILA conversation template, first match wins.
CONVERSATION_MODES = (
    ("llama-3-vila1.5", "llama_3"),
    ("vila1.5-8b", "llama_3"),
    ("llama3", "llama_3"),
    ("vila1.5-40b", "hermes-2"),
    ("vila1.5-3b", "vicuna_v1"),
    ("vila1.5-13b", "vicuna_v1"),
)
DEFAULT_CONVERSATION_MODE = "vicuna_v1"
#: Text lmms-eval's `vila` wrapper writes between the image lines and the task's prompt of a video.
VIDEO_TEXT_PREFIX = "<video>\n "


class VILAUnavailableError(ImportError):
    """The VILA repository (needed for VILA-1.5) is not where VILA_PATH says, or VILA_PATH is unset."""


def _how_to_get_vila() -> str:
    return (
        f"VILA-1.5 runs through the VILA repository's own code: git clone {VILA_REPO_URL}, install its "
        f"requirements (pip install -e /path/to/VILA), then export {VILA_PATH_ENV}=/path/to/VILA."
    )


def import_vila(vila_path: str | os.PathLike | None = None) -> SimpleNamespace:
    """Import VILA's `llava` modules from `vila_path` (default: $VILA_PATH) and return them.

    Returns a namespace with `builder`, `mm_utils`, `conversation`, `constants` (the modules).
    Raises VILAUnavailableError saying how to get the repository when the path is unset or wrong.
    """
    raw = vila_path if vila_path is not None else os.environ.get(VILA_PATH_ENV)
    if not raw:
        raise VILAUnavailableError(f"{VILA_PATH_ENV} is not set. {_how_to_get_vila()}")
    root = Path(raw).expanduser().resolve()
    builder_file = root / "llava" / "model" / "builder.py"
    if not builder_file.is_file():
        raise VILAUnavailableError(
            f"{VILA_PATH_ENV}={raw} is not a VILA checkout: {builder_file} does not exist. {_how_to_get_vila()}"
        )
    loaded = sys.modules.get("llava")
    loaded_file = getattr(loaded, "__file__", None) or ""
    if loaded is not None and not Path(loaded_file).resolve().is_relative_to(root):
        raise VILAUnavailableError(
            f"Another package named 'llava' is already imported from {loaded_file or loaded!r} "
            f"(e.g. LLaVA-NeXT); VILA's 'llava' in {root} cannot be loaded in the same process."
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        return SimpleNamespace(
            builder=importlib.import_module("llava.model.builder"),
            mm_utils=importlib.import_module("llava.mm_utils"),
            conversation=importlib.import_module("llava.conversation"),
            constants=importlib.import_module("llava.constants"),
        )
    except ImportError as err:
        raise VILAUnavailableError(
            f"Importing VILA from {root} failed ({err}); its requirements may be missing. {_how_to_get_vila()}"
        ) from err


def conversation_mode(pretrained: str) -> str:
    """The VILA conversation template for a checkpoint name (vicuna_v1 when the name says nothing)."""
    name = pretrained.lower()
    for fragment, mode in CONVERSATION_MODES:
        if fragment in name:
            return mode
    logger.warning("%s: no VILA conversation template known for this name; using %s.", pretrained,
                   DEFAULT_CONVERSATION_MODE)
    return DEFAULT_CONVERSATION_MODE


def image_lines(n_images: int, constants, use_im_start_end: bool) -> str:
    """One image placeholder line per image, in order (wrapped in start/end tokens when the model uses them)."""
    token = constants.DEFAULT_IMAGE_TOKEN
    if use_im_start_end:
        token = constants.DEFAULT_IM_START_TOKEN + token + constants.DEFAULT_IM_END_TOKEN
    return (token + "\n") * n_images


def build_prompt(conv_template, n_images: int, text: str, constants, use_im_start_end: bool) -> str:
    """The full VILA prompt: `n_images` image lines then `text` as the user turn, assistant turn open."""
    if n_images < 1:
        raise ValueError(f"Invalid n_images: {n_images}. Expected an int >= 1.")
    conv = conv_template.copy()
    conv.append_message(conv.roles[0], image_lines(n_images, constants, use_im_start_end) + text)
    conv.append_message(conv.roles[1], None)
    return conv.get_prompt()


def stop_string(conv_template) -> str:
    """The text that ends an assistant turn in this template (sep2 for two-separator styles)."""
    style = getattr(conv_template.sep_style, "name", str(conv_template.sep_style))
    return conv_template.sep2 if style == "TWO" else conv_template.sep


def left_pad(rows: Sequence[Sequence[int]], pad_id: int):
    """Left-pad token id rows: (input_ids int64 (B, L), attention_mask int64 (B, L), 0 on padding)."""
    import torch

    length = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), length), int(pad_id), dtype=torch.long)
    attention_mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, row in enumerate(rows):
        if len(row):
            input_ids[i, length - len(row) :] = torch.as_tensor(list(row), dtype=torch.long)
            attention_mask[i, length - len(row) :] = 1
    return input_ids, attention_mask


class VILA1_5(Backbone):
    """VILA-1.5 through the VILA repository: frames as `<image>` lines, left-padded batched analysis."""

    name = "vila1_5"
    lmms_eval_model = "vila"
    uniform_rule = "floor_linspace_skip_last"
    default_max_frames = 8
    default_min_frames = 8

    def __init__(self, model, tokenizer, image_processor, api: SimpleNamespace, conv_mode: str,
                 options: LoadOptions, pretrained: str):
        self.model, self.tokenizer, self.image_processor = model, tokenizer, image_processor
        self.api, self.options, self.pretrained = api, options, pretrained
        templates = api.conversation.conv_templates
        if conv_mode not in templates:
            raise ValueError(f"{pretrained}: unknown VILA conversation mode {conv_mode!r}. Expected one of {sorted(templates)}.")
        self.conv_template = templates[conv_mode]
        self.tokenizer.padding_side = "left"
        for config in (getattr(model, "config", None), getattr(getattr(model, "llm", None), "config", None)):
            if config is not None:
                config.tokenizer_padding_side = "left"

    @classmethod
    def from_pretrained(cls, pretrained: str, options: LoadOptions | None = None) -> VILA1_5:
        """Load through VILA's `load_pretrained_model` (the repository at $VILA_PATH)."""
        from air.base_models.utils.generation import (
            default_device,
            resolve_attn_implementation,
            resolve_dtype,
        )

        options = options or LoadOptions()
        api = import_vila()
        device = default_device(options.device)
        tokenizer, model, image_processor, _ = api.builder.load_pretrained_model(
            pretrained,
            api.mm_utils.get_model_name_from_path(pretrained),
            device_map=options.device_map or "auto",
            device=device,
            attn_implementation=resolve_attn_implementation(options.attn_implementation, device),
        )
        # VILA's builder loads in float16; keep that on GPU unless asked, use float32 on CPU.
        if options.torch_dtype is not None or not str(device).startswith("cuda"):
            model = model.to(resolve_dtype(options.torch_dtype, device))
        return cls(model, tokenizer, image_processor, api, conversation_mode(pretrained), options, pretrained)

    def _use_im_start_end(self) -> bool:
        return bool(getattr(self.model.config, "mm_use_im_start_end", False))

    def _images_tensor(self, frames: np.ndarray):
        """VILA's image preprocessing of uint8 frames (N, H, W, 3): float tensor (N, 3, S, S) on the model."""
        pixels = self.api.mm_utils.process_images(frames_to_pil(frames), self.image_processor, self.model.config)
        return pixels.to(device=self.model.device, dtype=self.model.dtype)

    def generate_for(self, frame_groups: Sequence[np.ndarray], texts: Sequence[str], generate_kwargs: Mapping[str, Any]) -> list[str]:
        """One left-padded `generate` call: prompt i shows frame_groups[i] (uint8 (n_i, H, W, 3)) then texts[i]."""
        import torch

        constants = self.api.constants
        prompts = [
            build_prompt(self.conv_template, len(group), text, constants, self._use_im_start_end())
            for group, text in zip(frame_groups, texts, strict=True)
        ]
        rows = [self.api.mm_utils.tokenizer_image_token(p, self.tokenizer, constants.IMAGE_TOKEN_INDEX) for p in prompts]
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        input_ids, attention_mask = left_pad(rows, pad_id)
        images = [self._images_tensor(group) for group in frame_groups]
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids.to(self.model.device),
                images=images,
                attention_mask=attention_mask.to(self.model.device),
                **generate_kwargs,
            )
        stop = stop_string(self.conv_template)
        decoded = self.tokenizer.batch_decode(output, skip_special_tokens=True)
        return [(text.split(stop)[0] if stop else text).strip() for text in decoded]

    def analyze(self, frames: np.ndarray, timestamps_s: Sequence[float], query: str) -> list[FrameScore]:
        """One prompt per frame (uint8 (N, H, W, 3)), left-padded batches of analysis_batch_size."""
        return self.analyze_many(frames_as_items(frames, timestamps_s, query, self.pretrained))

    def analyze_many(self, items: Sequence[AnalysisItem]) -> list[FrameScore]:
        """One prompt per item (any mix of videos and queries), left-padded batches of analysis_batch_size."""
        def run(chunk, prompts: list[str], gen: dict) -> list[str]:
            return self.generate_for([frame[None] for frame in chunk], prompts, gen)

        return analyze_items_by_generation(
            items, self.options, run, owner=self.pretrained, name=self.name,
            logits_error=f"{self.pretrained}: VILA-1.5 supports analysis_mode='generate' only.",
        )

    def answer(self, frames: np.ndarray, timestamps_s: Sequence[float], prompt: str,
               gen_kwargs: Mapping[str, Any] | None = None) -> str:
        """Answer from all frames (uint8 (N, H, W, 3)) as N image lines in time order, one generate call.

        The text is VIDEO_TEXT_PREFIX + prompt, as lmms-eval's vila wrapper sends it.
        """
        from air.base_models.utils.generation import generation_kwargs, truncate_at_stop

        frames, _ = answer_frames(frames, timestamps_s, owner=self.pretrained)
        text = self.generate_for([frames], [VIDEO_TEXT_PREFIX + prompt], generation_kwargs(gen_kwargs))[0]
        return truncate_at_stop(text, (gen_kwargs or {}).get("until"))
