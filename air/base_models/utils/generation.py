"""Generation helpers shared by the adapters: device/dtype defaults, lmms-eval gen_kwargs, chunking."""

from __future__ import annotations

import importlib.util
from typing import Any, Iterator, Mapping, Sequence, TypeVar

T = TypeVar("T")

_DTYPES = {"bfloat16", "bf16", "float16", "fp16", "half", "float32", "fp32", "float", "auto"}


def default_device(device: str | None) -> str:
    """`device` if given, else "cuda" when a GPU is visible, else "cpu"."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(torch_dtype: str | None, device: str):
    """bf16 on GPU and fp32 on CPU unless the user asked for something else; returns a torch.dtype."""
    import torch

    if torch_dtype is None or torch_dtype == "auto":
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    key = str(torch_dtype).lower().replace("torch.", "")
    table = {
        "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
        "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
        "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    }
    if key not in table:
        raise ValueError(f"Invalid torch_dtype: {torch_dtype!r}. Expected one of {sorted(_DTYPES)}.")
    return table[key]


def resolve_attn_implementation(attn_implementation: str | None, device: str) -> str:
    """flash_attention_2 when flash-attn is installed and the device is a GPU, else sdpa."""
    if attn_implementation:
        return attn_implementation
    if str(device).startswith("cuda") and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def generation_kwargs(gen_kwargs: Mapping[str, Any] | None, default_max_new_tokens: int = 128) -> dict:
    """Translate lmms-eval gen_kwargs into `model.generate` keyword arguments.

    Greedy unless do_sample is true or temperature > 0. `until` is not a generate argument: apply it
    to the decoded text with `truncate_at_stop`.
    """
    gk = dict(gen_kwargs or {})
    max_new = int(float(gk.get("max_new_tokens", default_max_new_tokens)))
    temperature = float(gk.get("temperature", 0.0) or 0.0)
    do_sample = gk.get("do_sample", False)
    if isinstance(do_sample, str):
        do_sample = do_sample.strip().lower() in {"1", "true", "yes"}
    do_sample = bool(do_sample) or temperature > 0
    out: dict[str, Any] = {"max_new_tokens": max_new, "do_sample": do_sample}
    if do_sample:
        out["temperature"] = temperature if temperature > 0 else 1.0
        if gk.get("top_p") is not None:
            out["top_p"] = float(gk["top_p"])
    else:
        # Silence the "generation flags are not valid" warnings of checkpoints that ship sampling defaults.
        out.update(temperature=None, top_p=None, top_k=None)
    if gk.get("num_beams") is not None:
        out["num_beams"] = int(float(gk["num_beams"]))
    return out


def truncate_at_stop(text: str, until: str | Sequence[str] | None) -> str:
    """Cut `text` at the first occurrence of any stop string in `until`."""
    if not until:
        return text
    stops = [until] if isinstance(until, str) else list(until)
    cut = len(text)
    for stop in stops:
        if stop:
            pos = text.find(stop)
            if pos != -1:
                cut = min(cut, pos)
    return text[:cut]


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` items."""
    if size < 1:
        raise ValueError(f"Invalid chunk size: {size}. Expected an int >= 1.")
    for start in range(0, len(items), size):
        yield items[start : start + size]
