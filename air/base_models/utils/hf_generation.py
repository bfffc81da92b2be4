"""Batched, left-padded generation and analysis scoring shared by the Hugging Face backbone adapters.

An adapter supplies one callable that turns a chunk of frames plus the analysis prompt text into
generated strings (or next-token logits); the helpers here do the chunking, the decoding of only the
new tokens, the parsing into FrameScores and the digit read-out of the "logits" analysis mode. Also
here for every adapter: the frame checks, the time ordering of answer frames (answer_frames), model
loading with LoadOptions (load_hf_model), and ProcessorChatBackbone, the analysis/answering of
chat-template processors that InternVL3, LLaVA-OneVision and the Qwen-VL families build on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from air.base_models.base import AnalysisItem, analysis_items
from air.base_models.utils.generation import chunked, generation_kwargs
from air.Process_Utils.process_messages import FrameScore, build_analysis_prompt

#: Longest side, in pixels, of a frame the VLM rates. Answering frames arrive larger (H_VPModel reads them
#: up to its frame_max_side, so that per-frame budgets and tiling match lmms-eval's, which work from the
#: native frame); rating frames are cut back to this side first, so the cost of analysis stays that of
#: a 1024-pixel frame whatever the answering resolution.
ANALYSIS_MAX_SIDE = 1024

#: Text forced after the assistant turn in the "logits" analysis mode; the next token is the digit.
SCORE_PREFIX = "Score:"
SCORE_DIGITS = ("1", "2", "3", "4", "5")
ANALYSIS_MODES = ("generate", "logits")


def check_frames(frames: np.ndarray, timestamps_s: Sequence[float] | None = None, *, owner: str = "",
                 allow_empty: bool = False) -> np.ndarray:
    """Validate a frame batch: uint8 array (N, H, W, 3) with N >= 1 (or 0 if allow_empty) and N timestamps (s)."""
    where = f" ({owner})" if owner else ""
    arr = np.asarray(frames)
    least = 0 if allow_empty else 1
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] < least:
        raise ValueError(f"Invalid frames{where}: shape {arr.shape}. Expected uint8 (N>={least}, H, W, 3) RGB.")
    if arr.dtype != np.uint8:
        raise ValueError(f"Invalid frames{where}: dtype {arr.dtype}. Expected uint8 (N, H, W, 3) RGB.")
    if timestamps_s is not None and len(timestamps_s) != arr.shape[0]:
        raise ValueError(
            f"Invalid timestamps_s{where}: {len(timestamps_s)} values for {arr.shape[0]} frames. "
            "Expected one timestamp (seconds) per frame."
        )
    return arr


def time_ordered(frames: np.ndarray, timestamps_s: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Frames (N, H, W, 3) and timestamps (N,) float64 seconds sorted by time (stable for ties)."""
    times = np.asarray(timestamps_s, dtype=np.float64)
    order = np.argsort(times, kind="stable")
    return frames[order], times[order]


def answer_frames(frames: np.ndarray, timestamps_s: Sequence[float], owner: str = "") -> tuple[np.ndarray, np.ndarray]:
    """The frames to answer from, as every adapter takes them: checked (N >= 1) and sorted by time.

    Returns uint8 frames (N, H, W, 3) and float64 timestamps (N,) in seconds, both in time order
    (stable for equal times), so callers may pass frames in any order (see Backbone.answer).
    """
    return time_ordered(check_frames(frames, timestamps_s, owner=owner), timestamps_s)


def limit_side(frames: np.ndarray | Sequence[np.ndarray], max_side: int | None = ANALYSIS_MAX_SIDE):
    """Frames shrunk (bicubic, aspect kept) so that max(H, W) <= max_side; unchanged frames are not copied.

    frames: uint8 (N, H, W, 3), or a list of uint8 (H, W, 3) frames of any sizes (returned as a list).
    """
    if not isinstance(frames, np.ndarray):
        return [limit_side(frame[None], max_side)[0] for frame in frames]
    if not max_side or len(frames) == 0 or max(frames.shape[1:3]) <= max_side:
        return frames
    from PIL import Image

    height, width = frames.shape[1:3]
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(f)).resize(size, Image.BICUBIC)) for f in frames])


def check_items(items: Sequence[AnalysisItem], *, owner: str = "") -> list[AnalysisItem]:
    """Validate analysis items: each frame uint8 (H, W, 3) RGB, a finite time in seconds, a str query."""
    where = f" ({owner})" if owner else ""
    checked = list(items)
    for k, item in enumerate(checked):
        if not isinstance(item, AnalysisItem):
            raise TypeError(f"Invalid analysis item {k}{where}: {type(item).__name__}. Expected an AnalysisItem.")
        frame = item.frame
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
            shape = getattr(frame, "shape", None)
            raise ValueError(f"Invalid frame of analysis item {k}{where}: shape {shape}, dtype "
                             f"{getattr(frame, 'dtype', type(frame).__name__)}. Expected uint8 (H, W, 3) RGB.")
        if not isinstance(item.query, str):
            raise TypeError(f"Invalid query of analysis item {k}{where}: {type(item.query).__name__}. Expected a str.")
    return checked


def batch_frames(frames: Sequence[np.ndarray]) -> np.ndarray | list[np.ndarray]:
    """Frames of one chunk: stacked uint8 (B, H, W, 3) when they share a size, else the list as given."""
    if len(frames) and all(f.shape == frames[0].shape for f in frames):
        return np.stack(frames)
    return list(frames)


def check_analysis_mode(mode: str, owner: str = "") -> str:
    """Return `mode` if it is one of ANALYSIS_MODES, else raise naming the backbone."""
    if mode not in ANALYSIS_MODES:
        where = f" for {owner}" if owner else ""
        raise ValueError(f"Invalid analysis_mode{where}: {mode!r}. Expected one of {list(ANALYSIS_MODES)}.")
    return mode


def check_batch_size(batch_size: int) -> int:
    """analysis_batch_size as an int >= 1, else a ValueError saying so."""
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or int(batch_size) < 1:
        raise ValueError(f"Invalid analysis_batch_size: {batch_size!r}. Expected an int >= 1.")
    return int(batch_size)


def frames_to_pil(frames: np.ndarray) -> list:
    """One PIL RGB image per frame of a uint8 (N, H, W, 3) array."""
    from PIL import Image

    return [Image.fromarray(np.ascontiguousarray(frame)) for frame in frames]


def to_model(batch: Mapping[str, Any], model) -> dict:
    """Move a processor batch to the model's device; pixel tensors (pixel_values*) take the model's dtype.

    Other floating tensors keep their dtype: Qwen2.5-VL's second_per_grid_ts (seconds) would lose
    precision in bfloat16.
    """
    import torch

    device = getattr(model, "device", "cpu")
    dtype = getattr(model, "dtype", None)
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            if key.startswith("pixel_values") and value.is_floating_point() and dtype is not None:
                value = value.to(device=device, dtype=dtype)
            else:
                value = value.to(device)
        out[key] = value
    return out


def analysis_generate_kwargs(max_new_tokens: int) -> dict:
    """Greedy `model.generate` arguments for analysis (deterministic, at most `max_new_tokens`)."""
    return generation_kwargs({"max_new_tokens": max_new_tokens, "do_sample": False}, max_new_tokens)


def generate_new_text(model, tokenizer, batch: Mapping[str, Any], generate_kwargs: Mapping[str, Any]) -> list[str]:
    """Run `model.generate` on a left-padded batch and decode only the new tokens of each row."""
    import torch

    inputs = to_model(batch, model)
    with torch.inference_mode():
        output = model.generate(**inputs, **generate_kwargs)
    new_tokens = output[:, inputs["input_ids"].shape[1] :]
    return [text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


def next_token_logits(model, batch: Mapping[str, Any]):
    """Logits (B, V) float32 of the token after the last prompt position (left padding: same column)."""
    import torch

    inputs = to_model(batch, model)
    with torch.inference_mode():
        logits = model(**inputs, use_cache=False, logits_to_keep=1).logits
    return logits[:, -1, :].float()


def score_digit_ids(tokenizer, prefix: str = SCORE_PREFIX) -> tuple[str, list[int]]:
    """The text to force after the assistant turn and the ids of the tokens "1".."5" that follow it.

    Tries `prefix + " "` then `prefix` (digit tokens " 1".." 5"): the first spelling where every
    `forced + digit` tokenises as the forced text's tokens plus exactly one new token wins.
    """
    for forced, digits in ((prefix + " ", SCORE_DIGITS), (prefix, tuple(" " + d for d in SCORE_DIGITS))):
        base = tokenizer.encode(forced, add_special_tokens=False)
        ids = []
        for digit in digits:
            full = tokenizer.encode(forced + digit, add_special_tokens=False)
            if len(full) != len(base) + 1 or full[: len(base)] != base:
                break
            ids.append(full[-1])
        if len(ids) == len(SCORE_DIGITS) and len(set(ids)) == len(ids):
            return forced, ids
    raise ValueError(
        f"Tokenizer {getattr(tokenizer, 'name_or_path', type(tokenizer).__name__)!r} does not give the scores "
        f"1..5 single tokens after {prefix!r}; analysis_mode='logits' needs that. Use analysis_mode='generate'."
    )


def scores_from_digit_logits(logits, digit_ids: Sequence[int]) -> list[FrameScore]:
    """FrameScores from next-token logits (B, V): argmax digit as score, expectation in the reason.

    The softmax is taken over the five digit logits only, so the expectation is in [1, 5].
    """
    import torch

    digit_logits = logits[:, list(digit_ids)].float()
    probs = torch.softmax(digit_logits, dim=-1)
    values = torch.arange(1, len(digit_ids) + 1, dtype=probs.dtype, device=probs.device)
    expected = (probs * values).sum(dim=-1)
    best = probs.argmax(dim=-1) + 1
    out = []
    for score, exp, row in zip(best.tolist(), expected.tolist(), probs.tolist(), strict=True):
        dist = ",".join(f"{p:.4f}" for p in row)
        out.append(FrameScore(score=int(score), reason=f"expected_score={exp:.2f}", raw=f"p(1..5)=[{dist}]"))
    return out


def analyze_items_in_chunks(
    items: Sequence[AnalysisItem],
    batch_size: int,
    run_chunk: Callable[[np.ndarray | list[np.ndarray], list[str]], Any],
    *,
    digit_ids: Sequence[int] | None = None,
) -> list[FrameScore]:
    """Score every item with its own analysis prompt, `batch_size` prompts per `run_chunk` call.

    items: frames of any videos and queries. run_chunk(chunk_frames, prompts) gets the chunk's frames
    (batch_frames: one uint8 (B, H, W, 3) array when they share a size, else a list of (H, W, 3)) and
    one analysis prompt text per frame; it returns, per frame and in order, the generated text
    ("generate" mode: parsed with parse_analysis_output, raw = text), or, when digit_ids is given
    ("logits" mode), next-token logits (B, V) read by scores_from_digit_logits.
    Returns one FrameScore per item, in input order.
    """
    from air.Process_Utils.process_messages import parse_analysis_output

    batch_size = check_batch_size(batch_size)
    prompts: dict[str, str] = {}
    scores: list[FrameScore] = []
    for idx in chunked(range(len(items)), batch_size):
        chunk = [items[i] for i in idx]
        texts = [prompts.setdefault(item.query, build_analysis_prompt(item.query)) for item in chunk]
        out = run_chunk(batch_frames([item.frame for item in chunk]), texts)
        if len(out) != len(idx):
            raise RuntimeError(f"Analysis returned {len(out)} outputs for {len(idx)} frames. Expected one per frame.")
        if digit_ids is None:
            scores.extend(parse_analysis_output(text) for text in out)
        else:
            scores.extend(scores_from_digit_logits(out, digit_ids))
    return scores


def analyze_items_by_generation(
    items: Sequence[AnalysisItem],
    options,
    run_chunk: Callable[[np.ndarray | list[np.ndarray], list[str], dict], Sequence[str]],
    *,
    owner: str,
    name: str,
    logits_error: str,
) -> list[FrameScore]:
    """Backbone.analyze_many for adapters without the "logits" mode: greedy generation in chunks, parsed.

    run_chunk(chunk_frames, prompts, generate_kwargs) returns one generated text per frame of the chunk
    (frames larger than ANALYSIS_MAX_SIDE shrunk first; see analyze_items_in_chunks for chunk_frames).
    options.analysis_mode "logits" raises ValueError(logits_error). Returns one FrameScore per item.
    """
    items = check_items(items, owner=owner)
    if check_analysis_mode(options.analysis_mode, name) != "generate":
        raise ValueError(logits_error)
    gen = analysis_generate_kwargs(options.analysis_max_new_tokens)
    return analyze_items_in_chunks(items, options.analysis_batch_size,
                                   lambda chunk, prompts: run_chunk(limit_side(chunk), prompts, gen))


def frames_as_items(frames: np.ndarray, timestamps_s: Sequence[float], query: str, owner: str) -> list[AnalysisItem]:
    """Backbone.analyze's arguments (frames uint8 (N, H, W, 3), N >= 0, timestamps_s (N,) s) checked, as items."""
    return analysis_items(check_frames(frames, timestamps_s, owner=owner, allow_empty=True), timestamps_s, query)


def load_hf_model(model_cls, pretrained: str, options, *, pass_attn_implementation: bool = True, **extra):
    """Load a transformers model class with LoadOptions honoured; returns the model in eval mode.

    device_map (e.g. "auto") places the weights through accelerate; otherwise the whole model moves
    to `options.device` (default: cuda when visible, else cpu). dtype: resolve_dtype; attention:
    resolve_attn_implementation (not passed when pass_attn_implementation is False, for remote-code
    models that choose their attention through their own arguments). `extra` goes to from_pretrained.
    """
    from air.base_models.utils.generation import (
        default_device,
        resolve_attn_implementation,
        resolve_dtype,
    )

    device = default_device(options.device)
    kwargs = dict(dtype=resolve_dtype(options.torch_dtype, device), trust_remote_code=options.trust_remote_code, **extra)
    if pass_attn_implementation:
        kwargs["attn_implementation"] = resolve_attn_implementation(options.attn_implementation, device)
    if options.device_map:
        kwargs["device_map"] = options.device_map
    model = model_cls.from_pretrained(pretrained, **kwargs)
    if not options.device_map:
        model = model.to(device)
    return model.eval()


class ProcessorChatBackbone:
    """Analysis and answering over a transformers VLM whose processor owns a chat template.

    Mixed into a Backbone: subclasses load the model and processor in `from_pretrained`, and may override
    `_analysis_inputs` / `_answer_inputs` where their family needs other processor arguments (the
    Qwen-VL families do). Analysis: one image (at most ANALYSIS_MAX_SIDE pixels a side) +
    build_analysis_prompt(query) per prompt, left-padded batches of `options.analysis_batch_size`.
    Answering: the frames, in time order, as one video. Both chats carry the adapter's system_prompt.
    """

    name: str
    system_prompt: str | None = None

    def __init__(self, model, processor, options, pretrained: str):
        check_analysis_mode(options.analysis_mode, self.name)
        check_batch_size(options.analysis_batch_size)
        self.model, self.processor, self.options, self.pretrained = model, processor, options, pretrained
        self.processor.tokenizer.padding_side = "left"  # every row continues at the same column

    def _chat_text(self, media_type: str, text: str) -> str:
        """The prompt string of a one-turn user message holding one `media_type` item, then `text`.

        Preceded by a system turn holding `system_prompt` when the adapter has one (as the family's
        lmms-eval wrapper sends it), for analysis and answering alike.
        """
        messages = [{"role": "user", "content": [{"type": media_type}, {"type": "text", "text": text}]}]
        if self.system_prompt:
            messages.insert(0, {"role": "system", "content": [{"type": "text", "text": self.system_prompt}]})
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def _analysis_inputs(self, frames, prompt: str | Sequence[str], forced_suffix: str = "", **processor_kwargs):
        """Processor batch: one prompt per frame, left-padded.

        frames: uint8 (B, H, W, 3), or a list of B uint8 (H, W, 3) frames of any sizes. prompt: one
        analysis text for every frame, or one per frame. forced_suffix is appended after the assistant
        turn ("logits" mode); processor_kwargs go to the processor call (e.g. do_resize=False for
        frames already resized).
        """
        prompts = [prompt] * len(frames) if isinstance(prompt, str) else list(prompt)
        chats: dict[str, str] = {}
        texts = [chats.setdefault(p, self._chat_text("image", p) + forced_suffix) for p in prompts]
        return self.processor(
            text=texts, images=list(frames), padding=True, padding_side="left", return_tensors="pt",
            **processor_kwargs,
        )

    def _answer_inputs(self, frames: np.ndarray, timestamps_s: np.ndarray, prompt: str):
        """Processor batch of one prompt with all frames (uint8 (N, H, W, 3), time order) as one video."""
        text = self._chat_text("video", prompt)
        return self.processor(text=[text], videos=[list(frames)], return_tensors="pt")

    @property
    def tokenizer(self):
        return self.processor.tokenizer

    def digit_token_ids(self) -> list[int]:
        """Ids of the tokens "1".."5" read in "logits" analysis mode (see score_digit_ids)."""
        return score_digit_ids(self.tokenizer)[1]

    def analyze(self, frames: np.ndarray, timestamps_s: Sequence[float], query: str) -> list[FrameScore]:
        """One FrameScore per frame (uint8 (N, H, W, 3)), in order; see Backbone.analyze."""
        return self.analyze_many(frames_as_items(frames, timestamps_s, query, self.pretrained))

    def analyze_many(self, items: Sequence[AnalysisItem]) -> list[FrameScore]:
        """One FrameScore per item (any mix of videos and queries), in order; see Backbone.analyze_many."""
        items = check_items(items, owner=self.pretrained)
        mode = check_analysis_mode(self.options.analysis_mode, self.name)
        batch_size = self.options.analysis_batch_size

        def inputs(chunk, prompts, forced=""):
            prompt = prompts[0] if len(set(prompts)) == 1 else prompts
            return self._analysis_inputs(limit_side(chunk), prompt, forced)

        if mode == "logits":
            forced, digit_ids = score_digit_ids(self.tokenizer)
            run = lambda chunk, prompts: next_token_logits(self.model, inputs(chunk, prompts, forced))
            return analyze_items_in_chunks(items, batch_size, run, digit_ids=digit_ids)
        gen = analysis_generate_kwargs(self.options.analysis_max_new_tokens)
        run = lambda chunk, prompts: generate_new_text(self.model, self.tokenizer, inputs(chunk, prompts), gen)
        return analyze_items_in_chunks(items, batch_size, run)

    def answer(
        self,
        frames: np.ndarray,
        timestamps_s: Sequence[float],
        prompt: str,
        gen_kwargs: Mapping[str, Any] | None = None,
    ) -> str:
        """Answer `prompt` from all frames (uint8 (N, H, W, 3), any order: sorted by time) in one generate call."""
        from air.base_models.utils.generation import truncate_at_stop

        frames, times = answer_frames(frames, timestamps_s, owner=self.pretrained)
        gen = generation_kwargs(gen_kwargs)
        text = generate_new_text(self.model, self.tokenizer, self._answer_inputs(frames, times, prompt), gen)[0]
        return truncate_at_stop(text, (gen_kwargs or {}).get("until"))
