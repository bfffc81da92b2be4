"""`AIRConfig`: the one object that carries A.I.R.'s hyperparameters, and its named presets.

Field names are shared by Python, lmms-eval `--model_args` and the YAML presets in `configs/`.
`air.model` re-exports everything here; import from there.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

DECODERS = ("decord", "pyav", "torchcodec")
CLIP_RESIZE_MODES = ("crop", "squash", "own")
DEFAULT_MAX_VIDEO_PIXELS = 7680 * 4320  # 8K UHD
DEFAULT_CLIP_MODEL = "open_clip:EVA02-L-14/merged2b_s4b_b131k"

# The paper's strategy presets (Tab. 14) give alpha_min and l_min as numbers around the defaults 15
# and 20 without units; SPEC.md scales our defaults by the same ratio (alpha_min_s 0.625 s, min_event_s
# 3.0 s). d_min is in seconds like merge_gap_s.
def _alpha_min_s(paper_value: float) -> float:
    return paper_value / 15 * 0.625


def _min_event_s(paper_value: float) -> float:
    return paper_value / 20 * 3.0


PRESETS: dict[str, dict[str, Any]] = {
    # Efficiency presets (max_frames, candidates_per_round, max_rounds) from the paper.
    "default": {},
    "efficient_16_8_4": {"max_frames": 16, "candidates_per_round": 8, "max_rounds": 4},
    "efficient_16_4_4": {"max_frames": 16, "candidates_per_round": 4, "max_rounds": 4},
    "efficient_16_8_2": {"max_frames": 16, "candidates_per_round": 8, "max_rounds": 2},
    "efficient_32_8_4": {"max_frames": 32, "candidates_per_round": 8, "max_rounds": 4},
    "efficient_32_16_8": {"max_frames": 32, "candidates_per_round": 16, "max_rounds": 8},
    # Strategy presets from the paper.
    "short": {"gamma": 0.5, "alpha_min_s": _alpha_min_s(10), "min_event_s": _min_event_s(15), "merge_gap_s": 1.0},
    "long": {"alpha_min_s": _alpha_min_s(25), "min_event_s": _min_event_s(30), "merge_gap_s": 3.0},
    "conservative": {"gamma": 0.3, "alpha_min_s": _alpha_min_s(20), "beta": 1.7},
    "aggressive": {"gamma": 0.9, "alpha_min_s": _alpha_min_s(20), "beta": 1.2},
    # Backbone default of the paper for VILA-1.5.
    "vila": {"max_frames": 8, "min_frames": 8},
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class AIRConfig:
    """Hyperparameters of A.I.R. frame selection; defaults are SPEC.md's (the paper's where it has them).

    Units are in the names: `_s` seconds, `_frames` frames. See the README's --model_args table.
    """

    sample_fps: float = 1.0
    max_frames: int = 32
    min_frames: int = 8
    budget_ref_s: float = 300.0
    gamma: float = 0.7
    merge_gap_s: float = 2.0
    min_event_s: float = 3.0
    candidates_per_round: int = 12
    max_rounds: int = 6
    score_threshold: int = 3
    c_len: float = 0.5
    alpha_frac: float = 0.05
    alpha_min_s: float = 0.625
    beta: float = 1.5
    lds_max_depth: int = 4
    gmm_seed: int = 0
    reanalyze: bool = False
    fixed_budget: bool = False
    spread_candidates: bool = False
    spread_explore_frac: float = 0.0
    # Ablations of the paper's Tab. 4 (SPEC.md): each removes one part of A.I.R.
    ablate_threshold: bool = False
    ablate_ranking: bool = False
    ablate_analysis: bool = False
    ablate_lds: bool = False
    clip_model: str = DEFAULT_CLIP_MODEL
    decoder: str = "pyav"
    decode_threads: int | None = None
    max_video_pixels: int | None = DEFAULT_MAX_VIDEO_PIXELS
    clip_resize: str = "crop"
    analysis_batch_size: int = 12
    cache_dir: str | None = field(default=None)

    def __post_init__(self) -> None:
        if isinstance(self.decoder, str):
            # "pyav|decord" and "pyav+decord" survive lmms-eval's comma-split --model_args.
            object.__setattr__(self, "decoder", ",".join(p.strip() for p in re.split(r"[,|+]", self.decoder)))
        for spec in fields(self):
            _validate(spec.name, getattr(self, spec.name))
        if self.min_frames > self.max_frames:
            raise ValueError(
                f"Invalid min_frames: {self.min_frames}. Expected an int <= max_frames ({self.max_frames})."
            )

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "AIRConfig":
        """A named preset (see PRESETS), with explicit fields taking precedence."""
        if name not in PRESETS:
            raise ValueError(f"Invalid preset: {name!r}. Expected one of {sorted(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})

    @classmethod
    def from_model_args(cls, args: Mapping[str, Any]) -> "AIRConfig":
        """Build from loosely typed values (lmms-eval `--model_args`, YAML): "None", "-1.0", "true".

        `preset=<name>` applies a preset first; unknown keys raise and list the valid ones.
        """
        args = dict(args)
        preset = args.pop("preset", None)
        valid = cls.field_names()
        unknown = sorted(k for k in args if k not in valid)
        if unknown:
            raise ValueError(
                f"Unknown A.I.R. option(s): {', '.join(unknown)}. Expected keys among: {', '.join(valid + ('preset',))}."
            )
        types = {f.name: f.type for f in fields(cls)}
        converted = {k: convert_value(k, v, types[k]) for k, v in args.items()}
        preset = convert_value("preset", preset, "str | None")
        if preset is not None:
            return cls.from_preset(preset, **converted)
        return cls(**converted)

    def replace(self, **changes: Any) -> "AIRConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    # -- derived values ------------------------------------------------------------------------
    @property
    def resolved_cache_dir(self) -> str:
        """cache_dir, else $AIR_CLIP_CACHE_DIR, else ./clip_cache (read now, not at import)."""
        return self.cache_dir or os.environ.get("AIR_CLIP_CACHE_DIR") or "./clip_cache"

    @property
    def decoders(self) -> tuple[str, ...]:
        """The decoder fallback list, in order."""
        return tuple(d.strip() for d in self.decoder.split(",") if d.strip())


# -- validation and conversion -----------------------------------------------------------------
_POSITIVE_REAL = {"sample_fps", "budget_ref_s", "beta"}
_NON_NEGATIVE_REAL = {"gamma", "merge_gap_s", "min_event_s", "c_len", "alpha_frac", "alpha_min_s"}
_POSITIVE_INT = {"max_frames", "min_frames", "candidates_per_round", "max_rounds", "lds_max_depth", "analysis_batch_size"}
_BOOLS = {"reanalyze", "fixed_budget", "spread_candidates", "ablate_threshold", "ablate_ranking", "ablate_analysis",
          "ablate_lds"}
_OPTIONAL_POSITIVE_INT = {  # field: what None means
    "decode_threads": "None: the cores this process may use, shared among the ranks of this node",
    "max_video_pixels": "None: no limit",
}


def _fail(name: str, value: Any, expected: str) -> None:
    raise ValueError(f"Invalid {name}: {value!r}. Expected {expected}.")


def _validate(name: str, value: Any) -> None:
    if name in _POSITIVE_REAL:
        if not (_is_real(value) and value > 0):
            _fail(name, value, "a finite number > 0")
    elif name in _NON_NEGATIVE_REAL:
        if not (_is_real(value) and value >= 0):
            _fail(name, value, "a finite number >= 0")
    elif name in _POSITIVE_INT:
        if not (_is_int(value) and value >= 1):
            _fail(name, value, "an int >= 1")
    elif name == "score_threshold":
        if not (_is_int(value) and 1 <= value <= 5):
            _fail(name, value, "an int in 1..5")
    elif name == "gmm_seed":
        if not (_is_int(value) and value >= 0):
            _fail(name, value, "an int >= 0")
    elif name in _BOOLS:
        if not isinstance(value, bool):
            _fail(name, value, "a bool")
    elif name == "spread_explore_frac":
        if not (_is_real(value) and 0 <= value <= 1):
            _fail(name, value, "a number in [0, 1]")
    elif name == "clip_model":
        if not (isinstance(value, str) and value.strip()):
            _fail(name, value, "a non-empty CLIP model name such as 'open_clip:EVA02-L-14/merged2b_s4b_b131k'")
    elif name == "decoder":
        parts = [p.strip() for p in value.split(",")] if isinstance(value, str) else []
        if not parts or any(p not in DECODERS for p in parts):
            _fail(name, value, f"one of {', '.join(DECODERS)} or a comma-separated fallback list of them")
    elif name in _OPTIONAL_POSITIVE_INT:
        if value is not None and not (_is_int(value) and value >= 1):
            _fail(name, value, f"an int >= 1 or None ({_OPTIONAL_POSITIVE_INT[name]})")
    elif name == "clip_resize":
        if value not in CLIP_RESIZE_MODES:
            _fail(name, value, "one of crop (short side + centre crop, SPEC.md), squash, own (the CLIP encoder's own preprocessing)")
    elif name == "cache_dir":
        if value is not None and not (isinstance(value, str) and value):
            _fail(name, value, "a directory path or None")


_NONE_STRINGS = {"none", "null", ""}
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def convert_value(name: str, value: Any, type_hint: Any) -> Any:
    """Convert one loosely typed value to the field's type; errors use the config message format."""
    hint = str(type_hint)
    optional = "None" in hint
    if isinstance(value, str) and value.strip().lower() in _NONE_STRINGS:
        if optional:
            return None
        _fail(name, value, f"a value of type {hint.replace(' | None', '')}")
    if value is None:
        if optional:
            return None
        _fail(name, value, f"a value of type {hint}")
    base = hint.replace(" | None", "").strip()
    if base == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        _fail(name, value, "a bool (true/false)")
    if base == "int":
        if isinstance(value, bool):
            _fail(name, value, "an int")
        try:
            number = float(value)
        except (TypeError, ValueError):
            _fail(name, value, "an int")
        if not number.is_integer():
            _fail(name, value, "an int")
        return int(number)
    if base == "float":
        if isinstance(value, bool):
            _fail(name, value, "a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            _fail(name, value, "a number")
    if base == "str":
        return str(value).strip()
    return value


# -- a backbone's own frame limits -------------------------------------------------------------
_FRAME_FIELDS = ("max_frames", "min_frames")


def config_for_backbone(
    args: Mapping[str, Any],
    *,
    max_frames: int | None,
    min_frames: int | None = None,
    backbone: str = "the backbone",
) -> tuple[AIRConfig, tuple[str, ...]]:
    """`AIRConfig.from_model_args(args)` under a backbone's own frame limits (VILA-1.5: 8 / 8).

    The limits hold under every preset: a preset's max_frames / min_frames never replace them; only
    max_frames / min_frames given in `args` do. max_frames None means the backbone has no limits.
    Returns (config, notes): one sentence per value the limits changed, for the caller to log as a
    warning and record in the trace (`config_notes`).
    """
    args = dict(args)
    if max_frames is None:
        return AIRConfig.from_model_args(args), ()
    limits = {"max_frames": int(max_frames), "min_frames": int(min_frames or max_frames)}
    preset = convert_value("preset", args.get("preset"), "str | None")
    preset_values = PRESETS.get(preset, {}) if preset else {}  # an unknown name raises below
    explicit = {name for name in _FRAME_FIELDS if name in args}
    notes: list[str] = []
    for name in _FRAME_FIELDS:
        if name in explicit:
            continue
        if name in preset_values and preset_values[name] != limits[name]:
            notes.append(
                f"preset {preset!r} sets {name}={preset_values[name]}, but {backbone} keeps its own "
                f"{name}={limits[name]} (pass {name}= explicitly to override)."
            )
        args[name] = limits[name]
    if explicit == {"max_frames"}:
        given_max = convert_value("max_frames", args["max_frames"], "int")
        if given_max < limits["min_frames"]:
            notes.append(
                f"min_frames={given_max}: {backbone}'s own min_frames={limits['min_frames']} is above the "
                f"given max_frames={given_max}."
            )
            args["min_frames"] = given_max
    return AIRConfig.from_model_args(args), tuple(notes)
