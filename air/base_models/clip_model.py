"""CLIP image/text encoders behind one interface, chosen by name with `load_clip`.

Backends and their names:
- `open_clip:<model>/<pretrained tag>` e.g. `open_clip:EVA02-L-14/merged2b_s4b_b131k` (the paper's EVA-CLIP-L);
  `open_clip:<model>/<checkpoint file>` (a `<model>.json` config next to the file is registered with
  `open_clip.add_model_config`); `open_clip:hf-hub:<org/repo>`; `open_clip:local-dir:<dir>`.
- `openai:<model>` e.g. `openai:ViT-L/14` (OpenAI `clip` package), or `openai:<path to a .pt checkpoint>`.
- `hf:<hub id or local dir>`: transformers `CLIPModel` or `SiglipModel` (incl. fixed-resolution SigLIP 2
  checkpoints, which are stored as `SiglipModel`), picked from the config's `model_type`.
- `longclip:L`, `longclip:B` (checkpoints `longclip-L.pt` / `longclip-B.pt` in `LONGCLIP_CKPT_DIR`, default
  `$LONGCLIP_PATH/checkpoints`) or `longclip:<path to .pt>`; the code comes from the Long-CLIP repository
  at `LONGCLIP_PATH` (its `model/longclip.py`), 248-token text context.

Frames arrive already at `image_size` x `image_size` from the video decoder, prepared the way
`air.base_models.utils.video_similarity` is told (`clip_resize`); `own_resize` says what the encoder's own
preprocessing does, which is what `clip_resize=own` follows (the default `crop` is SPEC.md's):
- open_clip: its model's `preprocess_cfg["resize_mode"]`: "shortest" (the default, e.g. EVA-CLIP, ViT-B-32)
  resizes the short side and centre-crops -> "crop"; "squash" -> "squash"; "longest" (letterbox, whole
  frame kept) -> "squash", the nearest mode offered here;
- OpenAI clip and Long-CLIP: `Resize(short side) + CenterCrop` -> "crop";
- Hugging Face: the checkpoint's image processor: `CLIPImageProcessor` (shortest_edge + do_center_crop)
  -> "crop"; `SiglipImageProcessor` resizes to height x width without cropping -> "squash".
The encoder converts frames to float, normalises them with the model's own mean/std and batches them on
the device. Texts longer than the model's context are truncated by the model's own tokenizer;
`query_tokens(text)` tells whether that happens.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import types
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

DEFAULT_CLIP_MODEL = "open_clip:EVA02-L-14/merged2b_s4b_b131k"
PROGRESS_MIN_FRAMES = 256
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
LONGCLIP_VARIANTS = ("L", "B")

ACCEPTED_FORMS = (
    "open_clip:<model>/<pretrained tag>        e.g. open_clip:EVA02-L-14/merged2b_s4b_b131k",
    "open_clip:<model>/<checkpoint file>       (a <model>.json config beside the file is registered)",
    "open_clip:hf-hub:<org/repo> | open_clip:local-dir:<dir>",
    "openai:<model> | openai:<checkpoint .pt>  e.g. openai:ViT-L/14",
    "hf:<hub id or local dir>                  CLIPModel or SiglipModel, e.g. hf:openai/clip-vit-large-patch14",
    "longclip:L | longclip:B | longclip:<checkpoint .pt>  (needs LONGCLIP_PATH, LONGCLIP_CKPT_DIR)",
)


def _accepted() -> str:
    return "Accepted forms:\n  " + "\n  ".join(ACCEPTED_FORMS)


def file_fingerprint(*paths: str | Path) -> str:
    """16 hex digits identifying files by absolute path, size and mtime_ns (cheap, no content read)."""
    digest = hashlib.blake2b(digest_size=8)
    for path in paths:
        p = Path(path).resolve()
        st = p.stat()
        digest.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _content_hash(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=8).hexdigest()


class ClipEncoder(ABC):
    """A CLIP-style dual encoder: frames and texts to unit-norm float32 embeddings in one space.

    Subclasses set `name`, `image_size`, `mean`, `std`, `context_length`, `own_resize` ("crop" or "squash",
    see the module docstring) and `model` (the torch module) and implement `_image_features`,
    `_text_features` and `_token_row` (or `query_tokens`); this class does validation, batching, pixel normalisation,
    L2 normalisation and the progress bar.
    """

    name: str
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    context_length: int
    own_resize: str = "crop"

    def __init__(self, *, device: str = "cpu", batch_size: int = 32):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"Invalid batch_size: {batch_size!r}. Expected an int >= 1.")
        self.device = str(device)
        self.batch_size = batch_size
        self._embed_dim: int | None = None

    @abstractmethod
    def _image_features(self, pixels):
        """Raw image embeddings: pixels float (B, 3, S, S) normalised, on device -> tensor (B, D)."""

    @abstractmethod
    def _text_features(self, texts: list[str]):
        """Raw text embeddings: texts -> tensor (M, D); truncation is the tokenizer's job."""

    def _token_row(self, text: str, context_length: int):
        """Token ids of `text` as the model's tokenizer makes them for `context_length` positions (padded)."""
        raise NotImplementedError(f"{type(self).__name__} cannot tokenize")

    def query_tokens(self, text: str) -> QueryTokens:
        """How the tokenizer treats `text`: its token count without truncation and whether it is cut.

        `truncated` compares the row the model gets with the same text tokenized with room to spare, so
        it is exact whatever the tokenizer puts last (CLIP's end token, SigLIP's padding-like `</s>`).
        """
        fitted = [int(t) for t in self._token_row(text, self.context_length)]
        full = [int(t) for t in self._token_row(text, max(_long_context(text), self.context_length + 1))]
        truncated = fitted != full[: len(fitted)]
        return QueryTokens(max(_untruncated_length(full), len(fitted) + 1 if truncated else 0),
                           int(self.context_length), truncated)

    @property
    def model_dtype(self):
        """dtype of the model's weights (pixels are cast to it); subclasses keep their torch module in `model`."""
        return next(self.model.parameters()).dtype

    @property
    def embed_dim(self) -> int:
        """Embedding dimension D (found with one text encoding the first time it is asked)."""
        if self._embed_dim is None:
            self._embed_dim = int(self.encode_text([""]).shape[1])
        return self._embed_dim

    def encode_frames(self, frames: np.ndarray, *, progress: bool | None = None) -> np.ndarray:
        """Embed RGB frames: uint8 (N, H, W, 3), normally H = W = image_size -> float32 (N, D), unit L2 norm.

        Frames of another size are resized (squash, bilinear with antialiasing). A tqdm bar showing
        frames/s appears when N > PROGRESS_MIN_FRAMES unless `progress` says otherwise.
        """
        import torch

        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(
                f"Invalid frames for {self.name}: shape {frames.shape}, dtype {frames.dtype}. "
                "Expected uint8 (N, H, W, 3) RGB."
            )
        n = frames.shape[0]
        if n == 0:
            return np.zeros((0, self.embed_dim), dtype=np.float32)
        show = n > PROGRESS_MIN_FRAMES if progress is None else progress
        mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        out = []
        bar = progress_bar(n, self.name) if show else None
        try:
            with torch.inference_mode():
                for start in range(0, n, self.batch_size):
                    batch = torch.from_numpy(np.ascontiguousarray(frames[start : start + self.batch_size]))
                    pixels = batch.to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
                    if pixels.shape[-2:] != (self.image_size, self.image_size):
                        pixels = torch.nn.functional.interpolate(
                            pixels, size=(self.image_size, self.image_size), mode="bilinear",
                            antialias=True, align_corners=False,
                        ).clamp_(0.0, 1.0)
                    pixels = ((pixels - mean) / std).to(self.model_dtype)
                    out.append(_unit_rows(self._image_features(pixels)))
                    if bar is not None:
                        bar.update(batch.shape[0])
        finally:
            if bar is not None:
                bar.close()
        feats = np.concatenate(out, axis=0)
        self._embed_dim = feats.shape[1]
        return feats

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts: list of M strings -> float32 (M, D), unit L2 norm; long texts are truncated."""
        import torch

        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError(f"Invalid texts for {self.name}: {type(texts).__name__}. Expected a list of str.")
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.embed_dim), dtype=np.float32)
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                out.append(_unit_rows(self._text_features(texts[start : start + self.batch_size])))
        feats = np.concatenate(out, axis=0)
        self._embed_dim = feats.shape[1]
        return feats

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, image_size={self.image_size}, device={self.device!r})"


def _unit_rows(features) -> np.ndarray:
    """Tensor (B, D) -> float32 numpy (B, D) with unit L2 rows (computed in float32)."""
    import torch

    if hasattr(features, "pooler_output"):  # transformers 5 returns an output object
        features = features.pooler_output
    feats = features.float()
    feats = feats / feats.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)
    return feats.cpu().numpy().astype(np.float32, copy=False)


class QueryTokens(NamedTuple):
    """A text's token count before truncation, the model's context length, and whether the text is cut."""

    n_tokens: int
    context_length: int
    truncated: bool


def _untruncated_length(tokens) -> int:
    """Length of a token row padded at the end (its last entry is the padding id): non-padding prefix."""
    row = [int(t) for t in tokens]
    pad = row[-1]
    n = len(row)
    while n and row[n - 1] == pad:
        n -= 1
    return n


def _long_context(text: str) -> int:
    """A context length no tokenizer fills with `text` (bytes x 2 + room for special tokens and padding)."""
    return 2 * len(text.encode("utf-8")) + 16


def progress_bar(total: int, encoder_name: str, limit: int = 48):
    """A tqdm bar counting frames (shows frames/s), labelled with the encoder name without its fingerprint."""
    from tqdm.auto import tqdm

    short = encoder_name.split("@", 1)[0]
    label = "CLIP " + (short if len(short) <= limit else "..." + short[-(limit - 3) :])
    return tqdm(total=total, desc=label, unit="frame", leave=False, dynamic_ncols=True)


def _square_size(size: Any, what: str) -> int:
    if isinstance(size, (tuple, list)):
        if len(size) != 2 or size[0] != size[1]:
            raise ValueError(f"Unsupported image size {tuple(size)} for {what}. Expected a square input.")
        size = size[0]
    return int(size)


# --------------------------------------------------------------------------- open_clip


class OpenClipEncoder(ClipEncoder):
    """open_clip models (incl. EVA-CLIP) with their own tokenizer and preprocessing mean/std."""

    def __init__(self, spec: str, *, device: str = "cpu", batch_size: int = 32):
        super().__init__(device=device, batch_size=batch_size)
        import open_clip

        model_name, pretrained, self.name = _parse_open_clip(spec, open_clip)
        precision = "fp16" if self.device.startswith("cuda") else "fp32"
        try:
            model, _, _ = open_clip.create_model_and_transforms(
                model_name, pretrained=pretrained, device=self.device, precision=precision,
            )
        except RuntimeError as exc:
            raise RuntimeError(
                f"Could not load open_clip model {spec!r} (model {model_name!r}, pretrained {pretrained!r}): {exc}. "
                "Pretrained tags download from the Hugging Face Hub on first use; offline, pass a local "
                "checkpoint file as open_clip:<model>/<file> or a folder as open_clip:local-dir:<dir>."
            ) from exc
        self._setup(model, open_clip.get_tokenizer(model_name), spec)

    @classmethod
    def from_model(cls, model, tokenizer, *, name: str, device: str = "cpu", batch_size: int = 32) -> "OpenClipEncoder":
        """Wrap an open_clip model already built (e.g. `open_clip.create_model("ViT-B-32", pretrained=None)`)."""
        encoder = cls.__new__(cls)
        ClipEncoder.__init__(encoder, device=device, batch_size=batch_size)
        encoder.name = name
        encoder._setup(model.to(encoder.device), tokenizer, name)
        return encoder

    def _setup(self, model, tokenizer, spec: str) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        cfg = getattr(model.visual, "preprocess_cfg", None) or {}
        self.mean = tuple(cfg.get("mean", OPENAI_MEAN))
        self.std = tuple(cfg.get("std", OPENAI_STD))
        self.image_size = _square_size(getattr(model.visual, "image_size", cfg.get("size", 224)), spec)
        self.context_length = int(getattr(self.tokenizer, "context_length", 77) or 77)
        self.own_resize = "crop" if cfg.get("resize_mode", "shortest") == "shortest" else "squash"

    def _image_features(self, pixels):
        return self.model.encode_image(pixels)

    def _text_features(self, texts):
        tokens = self.tokenizer(texts)
        if isinstance(tokens, dict):
            tokens = tokens["input_ids"]
        return self.model.encode_text(tokens.to(self.device))

    def _token_row(self, text, context_length):
        tokens = self.tokenizer([text], context_length=context_length)
        if isinstance(tokens, dict):
            tokens = tokens["input_ids"]
        return tokens[0]


def _parse_open_clip(spec: str, open_clip) -> tuple[str, str | None, str]:
    """`<model>/<tag or file>` or `hf-hub:...` / `local-dir:...` -> (model_name, pretrained, cache name)."""
    if spec.startswith(("hf-hub:", "local-dir:")):
        if spec.startswith("local-dir:"):
            folder = Path(spec[len("local-dir:") :]).expanduser().resolve()
            if not (folder / "open_clip_config.json").is_file():
                raise FileNotFoundError(f"open_clip folder {folder} has no open_clip_config.json.")
            weights = sorted(p for p in folder.iterdir() if p.is_file())
            return f"local-dir:{folder}", None, f"open_clip:local-dir:{folder}@{file_fingerprint(*weights)}"
        return spec, None, f"open_clip:{spec}"
    model_name, sep, pretrained = spec.partition("/")
    if not model_name or not sep or not pretrained:
        raise ValueError(
            f"Invalid open_clip name: 'open_clip:{spec}'. Expected open_clip:<model>/<pretrained tag or file>.\n"
            + _accepted()
        )
    path = Path(pretrained).expanduser()
    if not path.is_file():
        return model_name, pretrained, f"open_clip:{model_name}/{pretrained}"
    path = path.resolve()
    config = path.parent / f"{model_name}.json"
    identity = file_fingerprint(path)
    if config.is_file():
        open_clip.add_model_config(config)
        identity = hashlib.blake2b(f"{identity}|{_content_hash(config)}".encode(), digest_size=8).hexdigest()
    elif model_name.replace("/", "-") not in open_clip.list_models():
        raise ValueError(
            f"Unknown open_clip model {model_name!r} for checkpoint {path}: it is not built into open_clip "
            f"and no config {config.name} lies next to the checkpoint."
        )
    return model_name, str(path), f"open_clip:{model_name}/{path.name}@{identity}"


# --------------------------------------------------------------------------- OpenAI clip and Long-CLIP


class TorchClipEncoder(ClipEncoder):
    """Models with OpenAI CLIP's API (`encode_image`, `encode_text`, a `tokenize` function): OpenAI, Long-CLIP."""

    def __init__(self, model, tokenize: Callable, *, name: str, image_size: int, context_length: int,
                 device: str = "cpu", batch_size: int = 32):
        super().__init__(device=device, batch_size=batch_size)
        self.model = model.eval()
        self._tokenize = tokenize
        self.name = name
        self.image_size = int(image_size)
        self.context_length = int(context_length)
        self.mean, self.std = OPENAI_MEAN, OPENAI_STD
        self.own_resize = "crop"  # both packages preprocess with Resize(short side) + CenterCrop

    def _image_features(self, pixels):
        return self.model.encode_image(pixels)

    def _text_features(self, texts):
        tokens = self._tokenize(texts, context_length=self.context_length, truncate=True)
        return self.model.encode_text(tokens.to(self.device))

    def _token_row(self, text, context_length):
        return self._tokenize([text], context_length=context_length, truncate=True)[0]


def _import_openai_clip():
    with warnings.catch_warnings():  # the package imports pkg_resources, deprecated upstream
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        import clip
    return clip


def load_openai_clip(spec: str, *, device: str = "cpu", batch_size: int = 32) -> TorchClipEncoder:
    """OpenAI `clip`: a model name from `clip.available_models()` or a local checkpoint path.

    Names go through `clip.load` (it downloads the released TorchScript file and checks its SHA-256). A
    local file is never handed to `clip.load`, whose fallback for a file that is not TorchScript unpickles
    it with torch.load's defaults: it is read here as a TorchScript archive or as a state dict with
    `torch.load(weights_only=True)`, else refused (`openai_checkpoint_state`).
    """
    clip = _import_openai_clip()
    path = Path(spec).expanduser()
    if path.is_file():
        path = path.resolve()
        name = f"openai:{path.name}@{file_fingerprint(path)}"
        model = clip.model.build_model(openai_checkpoint_state(path)).to(device)
        if str(device) == "cpu":
            model = model.float()
    elif spec in clip.available_models():
        name = f"openai:{spec}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            warnings.simplefilter("ignore", category=FutureWarning)  # torch.jit.load deprecation
            model, _ = clip.load(spec, device=device, jit=False)
    else:
        raise ValueError(
            f"Unknown OpenAI CLIP model {spec!r}: neither a file nor one of {clip.available_models()}.\n" + _accepted()
        )
    return TorchClipEncoder(
        model, clip.tokenize, name=name, image_size=model.visual.input_resolution,
        context_length=model.context_length, device=device, batch_size=batch_size,
    )


def weights_only_state(path: str | Path) -> Any:
    """`torch.load(path, weights_only=True)` on the CPU, memory-mapped when the file allows it.

    weights_only refuses any pickled object other than tensors and plain containers, so a crafted file
    cannot run code here. Raises ValueError naming the file when torch cannot read it that way.
    """
    import torch

    path = Path(path)
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:  # legacy (non-zip) torch.save files cannot be memory-mapped
            if "mmap" not in str(exc):
                raise
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # every failure means "not a weights-only checkpoint"
        raise ValueError(
            f"Cannot read {path} as a checkpoint of weights: {type(exc).__name__}: {str(exc)[:300]}"
        ) from exc


def openai_checkpoint_state(path: str | Path) -> dict:
    """The CLIP state dict of an OpenAI-format checkpoint file, read without unpickling arbitrary objects.

    A TorchScript archive (OpenAI's released files) is read with `torch.jit.load`, whose restricted
    loader builds only TorchScript modules and tensors, and its weights are taken; any other file must be
    a state dict that `torch.load(weights_only=True)` reads, with CLIP's 'text_projection'. Anything
    else raises ValueError naming the file (it is not a CLIP model).
    """
    import torch

    path = Path(path)
    if _is_torchscript_archive(path):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=FutureWarning)  # torch.jit.load deprecation
                warnings.simplefilter("ignore", category=UserWarning)
                state = torch.jit.load(str(path), map_location="cpu").state_dict()
        except Exception as exc:  # a damaged archive: refused, never retried another way
            raise ValueError(f"Invalid OpenAI CLIP checkpoint {path}: a TorchScript archive that torch.jit.load "
                             f"cannot read ({type(exc).__name__}: {str(exc)[:300]}).") from exc
    else:
        try:
            state = weights_only_state(path)
        except ValueError as exc:
            raise ValueError(f"Invalid OpenAI CLIP checkpoint {path}: neither a TorchScript archive nor a state "
                             f"dict of weights ({exc.__cause__ or exc}). Expected a CLIP model file.") from exc
    if not isinstance(state, dict) or "text_projection" not in state:
        raise ValueError(f"Invalid OpenAI CLIP checkpoint {path}: expected a CLIP state dict with 'text_projection'.")
    if "positional_embedding_res" in state:
        raise ValueError(f"{path} is a Long-CLIP checkpoint; load it as longclip:{path}.")
    return state


def check_openai_checkpoint_file(path: str | Path) -> None:
    """A cheap look at a file meant for `openai:<file>`, without loading it: ValueError unless it is a zip
    archive of torch (TorchScript or torch.save) or a legacy torch.save file (a pickle stream)."""
    import zipfile

    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
            if any(n.endswith(("/data.pkl", "/constants.pkl")) for n in names):
                return
        elif head[:1] == b"\x80" and 2 <= head[1] <= 5:  # pickle protocol 2..5: legacy torch.save
            return
    except (OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"Invalid OpenAI CLIP checkpoint {path}: cannot read it ({exc}).") from exc
    raise ValueError(f"Invalid OpenAI CLIP checkpoint {path}: not a model file (neither a TorchScript archive nor a "
                     "torch.save file). Expected a CLIP checkpoint such as OpenAI's ViT-L-14.pt.")


def _is_torchscript_archive(path: Path) -> bool:
    """True for a TorchScript zip archive (it holds code/ and constants.pkl), as OpenAI's released files are."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


@dataclass(frozen=True)
class LongClipCheckpoint:
    """What a Long-CLIP checkpoint holds: text context (positions), embedding size, input image side."""

    path: Path
    context_length: int
    embed_dim: int
    image_size: int
    text_width: int


def inspect_longclip_checkpoint(path: str | Path) -> LongClipCheckpoint:
    """Check that `path` is a Long-CLIP state dict and read its geometry (memory-mapped, weights only).

    Long-CLIP format: OpenAI-CLIP keys plus `positional_embedding_res`, both position tables (P, width)
    with P = 248 for the released models.
    """
    path = Path(path)
    try:
        state = weights_only_state(path)
    except ValueError as exc:
        raise ValueError(f"Cannot read Long-CLIP checkpoint {path}: {exc.__cause__ or exc}") from exc
    if not isinstance(state, dict):  # a bad file, not a bad argument: same error type as the checks below
        raise ValueError(  # noqa: TRY004
            f"Invalid Long-CLIP checkpoint {path}: expected a state dict, got {type(state).__name__}."
        )
    missing = [k for k in ("positional_embedding", "token_embedding.weight", "text_projection", "ln_final.weight")
               if k not in state]
    if missing:
        raise ValueError(f"Invalid Long-CLIP checkpoint {path}: missing keys {missing}.")
    pos = state["positional_embedding"]
    if "positional_embedding_res" not in state:
        raise ValueError(
            f"Invalid Long-CLIP checkpoint {path}: no 'positional_embedding_res' and {pos.shape[0]} text positions. "
            "This looks like an OpenAI CLIP checkpoint; load it as openai:<path> instead."
        )
    res = state["positional_embedding_res"]
    if tuple(res.shape) != tuple(pos.shape) or pos.ndim != 2:
        raise ValueError(
            f"Invalid Long-CLIP checkpoint {path}: positional_embedding {tuple(pos.shape)} and "
            f"positional_embedding_res {tuple(res.shape)} should both be (positions, width)."
        )
    if "visual.proj" in state:  # ViT
        patch = state["visual.conv1.weight"].shape[-1]
        grid = round((state["visual.positional_embedding"].shape[0] - 1) ** 0.5)
        image_size = int(patch * grid)
    elif "visual.attnpool.positional_embedding" in state:  # ModifiedResNet
        image_size = int(round((state["visual.attnpool.positional_embedding"].shape[0] - 1) ** 0.5) * 32)
    else:
        raise ValueError(f"Invalid Long-CLIP checkpoint {path}: no visual tower (visual.proj or visual.attnpool).")
    return LongClipCheckpoint(
        path=path.resolve(), context_length=int(pos.shape[0]), embed_dim=int(state["text_projection"].shape[1]),
        image_size=image_size, text_width=int(pos.shape[1]),
    )


def longclip_checkpoint_path(spec: str) -> Path:
    """`L`/`B` -> `$LONGCLIP_CKPT_DIR/longclip-<v>.pt` (default dir `$LONGCLIP_PATH/checkpoints`); a path -> itself."""
    if spec in LONGCLIP_VARIANTS:
        ckpt_dir = os.environ.get("LONGCLIP_CKPT_DIR")
        if not ckpt_dir and os.environ.get("LONGCLIP_PATH"):
            ckpt_dir = str(Path(os.environ["LONGCLIP_PATH"]) / "checkpoints")
        if not ckpt_dir:
            raise FileNotFoundError(
                f"Long-CLIP checkpoint for longclip:{spec} not found: set LONGCLIP_CKPT_DIR (or LONGCLIP_PATH, whose "
                f"checkpoints/ folder is used) to a folder holding longclip-{spec}.pt, downloaded from the Hugging "
                f"Face repository BeichenZhang/LongCLIP-{spec}."
            )
        path = Path(ckpt_dir).expanduser() / f"longclip-{spec}.pt"
    else:
        path = Path(spec).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"Long-CLIP checkpoint not found: {path}. Download longclip-L.pt / longclip-B.pt from the Hugging Face "
            "repositories BeichenZhang/LongCLIP-L / LongCLIP-B into LONGCLIP_CKPT_DIR."
        )
    return path


def import_longclip_module():
    """Import `model/longclip.py` of the Long-CLIP repository at LONGCLIP_PATH under a private package name.

    The repository's package is called `model`, a name other code may use too, so it is loaded as
    `_air_longclip_repo` from its folder instead of putting the repository on sys.path.
    """
    root = os.environ.get("LONGCLIP_PATH")
    hint = ("Clone the Long-CLIP repository (github.com/beichenzbc/Long-CLIP) and set LONGCLIP_PATH to "
            "its folder (the one holding model/longclip.py).")
    if not root:
        raise ModuleNotFoundError(f"Long-CLIP code not found: LONGCLIP_PATH is not set. {hint}")
    pkg_dir = Path(root).expanduser().resolve() / "model"
    if not (pkg_dir / "longclip.py").is_file():
        raise ModuleNotFoundError(f"Long-CLIP code not found: {pkg_dir / 'longclip.py'} does not exist. {hint}")
    alias = "_air_longclip_repo"
    if alias not in sys.modules or list(getattr(sys.modules[alias], "__path__", [])) != [str(pkg_dir)]:
        init = pkg_dir / "__init__.py"
        if init.is_file():
            spec = importlib.util.spec_from_file_location(alias, init, submodule_search_locations=[str(pkg_dir)])
            package = importlib.util.module_from_spec(spec)
            sys.modules[alias] = package
            spec.loader.exec_module(package)
        else:
            package = types.ModuleType(alias)
            package.__path__ = [str(pkg_dir)]
            sys.modules[alias] = package
        sys.modules.pop(f"{alias}.longclip", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        return importlib.import_module(f"{alias}.longclip")


def load_longclip(spec: str, *, device: str = "cpu", batch_size: int = 32) -> TorchClipEncoder:
    """Long-CLIP: checkpoint located and checked here, model built by the repository's `longclip.load`."""
    path = longclip_checkpoint_path(spec)
    info = inspect_longclip_checkpoint(path)
    module = import_longclip_module()
    model, _ = module.load(str(info.path), device=device)
    image_size = int(getattr(model.visual, "input_resolution", info.image_size))
    tag = spec if spec in LONGCLIP_VARIANTS else path.name
    return TorchClipEncoder(
        model, module.tokenize, name=f"longclip:{tag}@{file_fingerprint(path)}", image_size=image_size,
        context_length=info.context_length, device=device, batch_size=batch_size,
    )


# --------------------------------------------------------------------------- Hugging Face


class HFClipEncoder(ClipEncoder):
    """transformers `CLIPModel` / `SiglipModel` (SigLIP texts are padded to max length, as trained)."""

    MODEL_TYPES = ("clip", "siglip")

    def __init__(self, spec: str, *, device: str = "cpu", batch_size: int = 32):
        super().__init__(device=device, batch_size=batch_size)
        import torch
        from transformers import AutoConfig, AutoTokenizer

        try:
            config = AutoConfig.from_pretrained(spec)
        except (OSError, ValueError) as exc:
            raise OSError(
                f"Could not load the Hugging Face config of {spec!r}: {exc}. Expected a hub id (downloaded once, "
                "then cached) or a local folder saved with save_pretrained."
            ) from exc
        model_type = getattr(config, "model_type", None)
        if model_type not in self.MODEL_TYPES:
            raise ValueError(
                f"Unsupported Hugging Face model {spec!r}: model_type {model_type!r}. Expected one of "
                f"{list(self.MODEL_TYPES)} (CLIPModel, SiglipModel; SigLIP 2 NaFlex checkpoints are not supported)."
            )
        if model_type == "clip":
            from transformers import CLIPModel as model_cls
        else:
            from transformers import SiglipModel as model_cls
        dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
        self.model = model_cls.from_pretrained(spec, dtype=dtype).to(self.device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(spec)
        self.model_type = model_type
        self.image_size = _square_size(config.vision_config.image_size, spec)
        self.context_length = int(config.text_config.max_position_embeddings)
        self.mean, self.std, self.own_resize = _hf_preprocessing(spec, model_type)
        self.name = _hf_name(spec, config)

    def _image_features(self, pixels):
        return self.model.get_image_features(pixel_values=pixels)

    def _text_features(self, texts):
        padding = "max_length" if self.model_type == "siglip" else True
        batch = self.tokenizer(texts, padding=padding, truncation=True, max_length=self.context_length,
                               return_tensors="pt")
        kwargs = {"input_ids": batch["input_ids"].to(self.device)}
        if self.model_type == "clip" and "attention_mask" in batch:
            kwargs["attention_mask"] = batch["attention_mask"].to(self.device)
        return self.model.get_text_features(**kwargs)

    def query_tokens(self, text: str) -> QueryTokens:
        n_tokens = len(self.tokenizer(text, truncation=False, verbose=False)["input_ids"])
        return QueryTokens(n_tokens, int(self.context_length), n_tokens > self.context_length)


def _hf_preprocessing(spec: str, model_type: str) -> tuple[tuple, tuple, str]:
    """(mean, std, own_resize) from the checkpoint's image processor; family defaults without one.

    own_resize is "crop" when the processor resizes the shortest edge and centre-crops (CLIP), else
    "squash" (SigLIP resizes to height x width).
    """
    clip = model_type == "clip"
    mean, std = (OPENAI_MEAN, OPENAI_STD) if clip else ((0.5,) * 3, (0.5,) * 3)
    own = "crop" if clip else "squash"
    try:
        from transformers import AutoImageProcessor

        proc = AutoImageProcessor.from_pretrained(spec)
    except (OSError, ValueError):
        return mean, std, own
    if getattr(proc, "image_mean", None) is not None and getattr(proc, "image_std", None) is not None:
        mean, std = tuple(float(x) for x in proc.image_mean), tuple(float(x) for x in proc.image_std)
    size = getattr(proc, "size", None)
    shortest = size.get("shortest_edge") if hasattr(size, "get") else getattr(size, "shortest_edge", None)
    own = "crop" if getattr(proc, "do_center_crop", False) and shortest else "squash"
    return mean, std, own


def _hf_name(spec: str, config) -> str:
    folder = Path(spec).expanduser()
    if folder.is_dir():
        folder = folder.resolve()
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".safetensors", ".bin", ".json"))
        return f"hf:{folder}@{file_fingerprint(*files)}"
    revision = getattr(config, "_commit_hash", None)
    return f"hf:{spec}@{revision}" if revision else f"hf:{spec}"


# --------------------------------------------------------------------------- factory


def load_clip(name: str, device: str = "cpu", batch_size: int = 32) -> ClipEncoder:
    """Load a CLIP encoder from a backend-prefixed name (see ACCEPTED_FORMS); unknown names raise ValueError."""
    if not isinstance(name, str) or ":" not in name:
        raise ValueError(f"Invalid CLIP model name: {name!r}. Expected '<backend>:<model>'.\n" + _accepted())
    backend, _, spec = name.partition(":")
    spec = spec.strip()
    if not spec:
        raise ValueError(f"Invalid CLIP model name: {name!r}: nothing after '{backend}:'.\n" + _accepted())
    if backend == "open_clip":
        return OpenClipEncoder(spec, device=device, batch_size=batch_size)
    if backend == "openai":
        return load_openai_clip(spec, device=device, batch_size=batch_size)
    if backend == "hf":
        return HFClipEncoder(spec, device=device, batch_size=batch_size)
    if backend == "longclip":
        if spec not in LONGCLIP_VARIANTS and not spec.endswith((".pt", ".pth", ".bin")) and "/" not in spec:
            raise ValueError(f"Invalid Long-CLIP name: {name!r}. Expected longclip:L, longclip:B or longclip:<path>.\n"
                             + _accepted())
        return load_longclip(spec, device=device, batch_size=batch_size)
    raise ValueError(f"Unknown CLIP backend {backend!r} in {name!r}.\n" + _accepted())


__all__ = [
    "ACCEPTED_FORMS", "DEFAULT_CLIP_MODEL", "ClipEncoder", "HFClipEncoder", "LongClipCheckpoint", "OpenClipEncoder",
    "QueryTokens",
    "TorchClipEncoder", "check_openai_checkpoint_file", "file_fingerprint", "import_longclip_module", "inspect_longclip_checkpoint", "load_clip",
    "load_longclip", "load_openai_clip", "longclip_checkpoint_path", "openai_checkpoint_state", "weights_only_state",
]
