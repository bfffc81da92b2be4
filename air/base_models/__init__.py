"""The backbone registry: which adapter class serves a checkpoint, picked from its name.

Import-light on purpose: no torch, transformers or adapter module is imported here. An adapter module
is imported (with importlib) only when `resolve_backbone` returns its class.

How a name is resolved (`backbone_key`):
1. `backbone=` given: it names the family directly (a key of BACKBONES or an alias such as
   "qwen2.5-vl", "internvl", "llava_ov", "vila"), whatever the checkpoint is called.
2. Name patterns, matched case-insensitively on the last two path components of `pretrained`
   ("Qwen/Qwen2.5-VL-7B-Instruct", ".../sft-run/checkpoint-500"), after removing the separators
   "-", "_", "." and spaces (so "Qwen2.5-VL", "qwen2_5_vl" and "Qwen25VL" all read "qwen25vl").
   The longest matching pattern wins; when the longest matches of two different families have the
   same length the name is ambiguous and an error is raised. Some patterns are rejections:
   LongVILA and NVILA contain "vila" but are not VILA-1.5 (different architecture and code), so
   they are refused with a clear message rather than loaded with the wrong adapter.
3. A local directory whose name matches nothing resolves through its `config.json`: `model_type`
   first, `architectures` second. When the name and the config of a local directory point to
   different families, an error is raised (pass `backbone=` to decide).
4. Nothing matches: ValueError listing the patterns and suggesting `backbone=`.

Decisions recorded here:
- InternVL3.5 (`OpenGVLab/InternVL3_5-8B`, "internvl35") uses the InternVL3 adapter: same
  architecture family, same prompt format; the `-hf` checkpoints load natively, the others need
  `trust_remote_code=True` (handled by the adapter).
- `lmms-lab/llava-onevision-*` names contain "qwen2" but are LLaVA-OneVision: "llavaonevision" is a
  longer pattern than any Qwen pattern, and no Qwen pattern is a bare "qwen2" anyway.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from pathlib import Path

#: family key -> "module:Class" of its adapter (fixed by the project's layout).
ADAPTER_PATHS: dict[str, str] = {
    "qwen2_5_vl": "air.base_models.Qwen2_5VL:Qwen2_5VL",
    "qwen2_vl": "air.base_models.Qwen2_VL:Qwen2VL",
    "qwen3_vl": "air.base_models.Qwen3_VL:Qwen3VL",
    "internvl3": "air.base_models.InternVL3:InternVL3",
    "llava_onevision": "air.base_models.Llava_OV:LlavaOneVision",
    "vila1_5": "air.base_models.VILA1_5:VILA1_5",
}

#: The family keys, in a stable order.
BACKBONES: tuple[str, ...] = tuple(ADAPTER_PATHS)

#: Name patterns (separators removed, lower case) -> family key.
NAME_PATTERNS: dict[str, str] = {
    "qwen25vl": "qwen2_5_vl",
    "qwen2vl": "qwen2_vl",
    "qwen3vl": "qwen3_vl",
    "internvl3": "internvl3",
    "internvl35": "internvl3",
    "llavaonevision": "llava_onevision",
    "vila15": "vila1_5",
}

#: Name patterns that must not resolve, with the reason given to the user.
REJECTED_PATTERNS: dict[str, str] = {
    "longvila": (
        "LongVILA is not VILA-1.5: it uses a different architecture and code base, which no adapter "
        "here supports. Use a VILA-1.5 checkpoint such as Efficient-Large-Model/Llama-3-VILA1.5-8B."
    ),
    "nvila": (
        "NVILA is not VILA-1.5: it uses a different architecture and code base, which no adapter "
        "here supports. Use a VILA-1.5 checkpoint such as Efficient-Large-Model/Llama-3-VILA1.5-8B."
    ),
}

#: config.json "model_type" -> family key.
MODEL_TYPES: dict[str, str] = {
    "qwen2_5_vl": "qwen2_5_vl",
    "qwen2_vl": "qwen2_vl",
    "qwen3_vl": "qwen3_vl",
    "qwen3_vl_moe": "qwen3_vl",  # Qwen3-VL-30B-A3B and other mixture-of-experts checkpoints
    "internvl": "internvl3",  # transformers-native InternVL (the -hf checkpoints)
    "internvl_chat": "internvl3",  # the original remote-code checkpoints
    "llava_onevision": "llava_onevision",
    "llava_llama": "vila1_5",  # VILA-1.5's model type
}

#: config.json "architectures" entries -> family key (second clue, after model_type).
ARCHITECTURES: dict[str, str] = {
    "Qwen2_5_VLForConditionalGeneration": "qwen2_5_vl",
    "Qwen2VLForConditionalGeneration": "qwen2_vl",
    "Qwen3VLForConditionalGeneration": "qwen3_vl",
    "Qwen3VLMoeForConditionalGeneration": "qwen3_vl",
    "InternVLForConditionalGeneration": "internvl3",
    "InternVLChatModel": "internvl3",
    "LlavaOnevisionForConditionalGeneration": "llava_onevision",
    "LlavaQwenForCausalLM": "llava_onevision",  # lmms-lab's LLaVA-NeXT OneVision checkpoints
    "LlavaLlamaModel": "vila1_5",  # VILA-1.5
}

#: Accepted spellings of `backbone=` besides the keys themselves (separators removed, lower case).
BACKBONE_ALIASES: dict[str, str] = {
    "qwen25vl": "qwen2_5_vl",
    "qwen2vl": "qwen2_vl",
    "qwen3vl": "qwen3_vl",
    "internvl": "internvl3",
    "internvl3": "internvl3",
    "internvl35": "internvl3",
    "llavaonevision": "llava_onevision",
    "llavaov": "llava_onevision",
    "vila": "vila1_5",
    "vila15": "vila1_5",
}

_SEPARATORS = re.compile(r"[-_.\s]+")


def _squash(text: str) -> str:
    """Lower case without separators: "Qwen2.5-VL_7B" -> "qwen25vl7b"."""
    return _SEPARATORS.sub("", text.lower())


def _name_tail(pretrained: str) -> str:
    """The last two path components of a hub id or a local path, squashed, joined by "/"."""
    parts = [part for part in re.split(r"[\\/]+", pretrained.strip()) if part]
    return "/".join(_squash(part) for part in parts[-2:])


def _patterns_text() -> str:
    lines = [f"  {pattern!r} -> {key}" for pattern, key in sorted(NAME_PATTERNS.items(), key=lambda kv: kv[1])]
    return "\n".join(lines)


def _key_from_name(pretrained: str) -> str | None:
    """The family the name's patterns point to, None when no pattern matches; raises when ambiguous."""
    tail = _name_tail(pretrained)
    matches = [(len(p), p, key) for p, key in NAME_PATTERNS.items() if p in tail]
    matches += [(len(p), p, None) for p in REJECTED_PATTERNS if p in tail]
    if not matches:
        return None
    longest = max(length for length, _, _ in matches)
    best = {(pattern, key) for length, pattern, key in matches if length == longest}
    families = {key for _, key in best}
    if len(families) > 1:
        described = ", ".join(f"{pattern!r} -> {key or 'rejected'}" for pattern, key in sorted(best, key=str))
        raise ValueError(
            f"Ambiguous backbone for {pretrained!r}: the longest matching name patterns tie ({described}). "
            f"Pass backbone=<one of {', '.join(BACKBONES)}> to choose."
        )
    pattern, key = best.pop()
    if key is None:
        raise ValueError(f"Unsupported checkpoint {pretrained!r}: {REJECTED_PATTERNS[pattern]}")
    return key


def _key_from_config(directory: Path) -> str | None:
    """The family a local checkpoint's config.json declares (model_type, then architectures), or None."""
    config_path = directory / "config.json"
    if not config_path.is_file():
        return None
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"Cannot read {config_path}: {exc}. Expected a JSON object with a 'model_type'.") from exc
    if not isinstance(config, dict):
        raise ValueError(f"Invalid {config_path}: expected a JSON object, got {type(config).__name__}.")
    model_type = config.get("model_type")
    if isinstance(model_type, str) and model_type.lower() in MODEL_TYPES:
        return MODEL_TYPES[model_type.lower()]
    architectures = config.get("architectures") or []
    if isinstance(architectures, str):
        architectures = [architectures]
    for architecture in architectures if isinstance(architectures, list) else []:
        if isinstance(architecture, str) and architecture in ARCHITECTURES:
            return ARCHITECTURES[architecture]
    return None


def _key_from_override(backbone: str) -> str:
    if not isinstance(backbone, str) or not backbone.strip():
        raise ValueError(f"Invalid backbone: {backbone!r}. Expected one of {', '.join(BACKBONES)}.")
    squashed = _squash(backbone)
    for key in BACKBONES:
        if squashed == _squash(key):
            return key
    if squashed in BACKBONE_ALIASES:
        return BACKBONE_ALIASES[squashed]
    raise ValueError(
        f"Invalid backbone: {backbone!r}. Expected one of {', '.join(BACKBONES)} "
        f"(aliases: {', '.join(sorted(BACKBONE_ALIASES))})."
    )


def backbone_key(pretrained: str, backbone: str | None = None) -> str:
    """The family key (one of BACKBONES) serving `pretrained`, without importing any adapter."""
    if backbone is not None and str(backbone).strip() and str(backbone).strip().lower() != "none":
        return _key_from_override(backbone)
    if not isinstance(pretrained, str) or not pretrained.strip():
        raise ValueError(f"Invalid pretrained: {pretrained!r}. Expected a hub id or a local directory.")
    from_name = _key_from_name(pretrained)
    directory = Path(os.path.expanduser(pretrained))
    from_config = _key_from_config(directory) if directory.is_dir() else None
    if from_name is not None and from_config is not None and from_name != from_config:
        raise ValueError(
            f"Conflicting backbone for {pretrained!r}: its name points to {from_name} but "
            f"{directory / 'config.json'} declares {from_config}. Pass backbone=<family> to choose."
        )
    key = from_name or from_config
    if key is None:
        where = (
            f" and {directory / 'config.json'} has no known model_type/architectures"
            if directory.is_dir()
            else ""
        )
        raise ValueError(
            f"No backbone adapter matches {pretrained!r}{where}. Known name patterns "
            f"(case and separators ignored):\n{_patterns_text()}\n"
            f"Known config.json model_type values: {', '.join(sorted(MODEL_TYPES))}.\n"
            f"Pass backbone=<one of {', '.join(BACKBONES)}> to choose the adapter explicitly."
        )
    return key


def resolve_backbone(pretrained: str, backbone: str | None = None) -> type:
    """The adapter class (a `Backbone` subclass) serving `pretrained`; imports only that adapter."""
    key = backbone_key(pretrained, backbone)
    module_name, class_name = ADAPTER_PATHS[key].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(
            f"Cannot import the {key} adapter {module_name}.{class_name} for {pretrained!r}: {exc}"
        ) from exc
    try:
        return getattr(module, class_name)
    except AttributeError as exc:
        raise ImportError(f"Module {module_name} defines no class {class_name} (adapter of {key}).") from exc


__all__ = [
    "ADAPTER_PATHS",
    "ARCHITECTURES",
    "BACKBONES",
    "BACKBONE_ALIASES",
    "MODEL_TYPES",
    "NAME_PATTERNS",
    "REJECTED_PATTERNS",
    "backbone_key",
    "resolve_backbone",
]
