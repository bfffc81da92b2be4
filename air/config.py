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
            validate_value(spec.name, getattr(self, spec.name))
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
# One table of the values every option may take: AIRConfig fields, the backbone loading fields
# (LoadOptions), the options of the lmms-eval models (hvp and the baselines) and of the `air` commands.
# `validate_value` checks a value against it; AIRConfig.__post_init__ and `convert_value` (used for
# --model_args, --set, YAML presets and baseline options) call it, so every entry point agrees.
# The bounds reject absurd values (1e-308, 1e300, 2**70) and accept every preset and any realistic
# experiment; the README lists them.
MAX_FRAME_COUNT = 4096  # frames in a budget, a round of analysis or a fixed frame choice
MAX_SECONDS = 1e7  # about 116 days
MAX_TOKENS = 1_000_000
MAX_BATCH = 65536
MAX_PIXELS = 1 << 40


@dataclass(frozen=True)
class ValueRule:
    """Allowed values of one option: kind "int" or "real" within [low, high]; `optional`: None allowed too.

    unit: shown after the range ("frames", "seconds"); none_means: what None stands for.
    """

    kind: str
    low: float
    high: float
    unit: str = ""
    optional: bool = False
    none_means: str = ""

    def expected(self) -> str:
        if self.kind == "int":
            text = f"an int >= {int(self.low)} and <= {int(self.high)}"
        else:
            text = f"a finite number >= {self.low:g} and <= {self.high:g}"
        if self.unit:
            text += f" ({self.unit})"
        if self.optional:
            text += f", or None ({self.none_means})" if self.none_means else ", or None"
        return text

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.optional
        ok_type = _is_int(value) if self.kind == "int" else _is_real(value)
        return ok_type and self.low <= value <= self.high


def _frames(optional: bool = False, none_means: str = "") -> ValueRule:
    return ValueRule("int", 1, MAX_FRAME_COUNT, "frames", optional, none_means)


VALUE_RULES: dict[str, ValueRule] = {
    # AIRConfig
    "sample_fps": ValueRule("real", 1e-3, 1e3, "samples per second"),
    "max_frames": _frames(),
    "min_frames": _frames(),
    "budget_ref_s": ValueRule("real", 1e-3, MAX_SECONDS, "seconds"),
    "gamma": ValueRule("real", 0, 100),
    "merge_gap_s": ValueRule("real", 0, MAX_SECONDS, "seconds"),
    "min_event_s": ValueRule("real", 0, MAX_SECONDS, "seconds"),
    "candidates_per_round": _frames(),
    "max_rounds": ValueRule("int", 1, 10_000, "rounds"),
    "c_len": ValueRule("real", 0, 1000),
    "alpha_frac": ValueRule("real", 0, 1, "fraction of the video"),
    "alpha_min_s": ValueRule("real", 0, MAX_SECONDS, "seconds"),
    "beta": ValueRule("real", 1e-3, 100),
    "lds_max_depth": ValueRule("int", 1, 64, "levels"),
    "gmm_seed": ValueRule("int", 0, 2**32 - 1),
    "spread_explore_frac": ValueRule("real", 0, 1, "fraction of a round"),
    "decode_threads": ValueRule("int", 1, 1024, "threads", True,
                                "the cores this process may use, shared among the ranks of this node"),
    "max_video_pixels": ValueRule("int", 1, MAX_PIXELS, "pixels per frame", True, "no limit"),
    "analysis_batch_size": ValueRule("int", 1, MAX_BATCH, "frames per call"),
    # backbone loading (LoadOptions)
    "analysis_max_new_tokens": ValueRule("int", 1, MAX_TOKENS, "tokens"),
    "max_pixels": ValueRule("int", 1, MAX_PIXELS, "pixels per frame", True, "the wrapper's default"),
    "min_pixels": ValueRule("int", 1, MAX_PIXELS, "pixels per frame", True, "the wrapper's default"),
    # options of the lmms-eval models and of the `air` commands
    "clip_batch_size": ValueRule("int", 1, MAX_BATCH, "frames per call"),
    "frame_max_side": ValueRule("int", 28, 65536, "pixels", True, "the native size"),
    "batch_size": ValueRule("int", 1, MAX_BATCH, "requests"),
    "max_new_tokens": ValueRule("int", 1, MAX_TOKENS, "tokens", True, "the task's own"),
    "replay_max_frames": ValueRule("int", 1, 1_000_000, "frames per replayed sample"),
    # baselines
    "num_frames": _frames(True, "the A.I.R. budget of the video"),
    "bolt_power": ValueRule("real", 1e-3, 1e3),
    "aks_t1": ValueRule("real", -1e6, 1e6),
    "aks_t2": ValueRule("real", -1e6, 1e6),
    "aks_depth": ValueRule("int", 0, 64, "levels"),
    "aks_ratio": ValueRule("int", 1, 1_000_000, "samples"),
    "mdp3_lambda": ValueRule("real", 1e-6, 1e6),
    "mdp3_segment_size": ValueRule("int", 1, 1_000_000, "samples", True, "MDP3's own size for the budget"),
    "mdp3_condition_size": ValueRule("int", 0, 1_000_000, "frames"),
}

_BOOLS = {"reanalyze", "fixed_budget", "spread_candidates", "ablate_threshold", "ablate_ranking", "ablate_analysis",
          "ablate_lds"}


def _fail(name: str, value: Any, expected: str) -> None:
    shown = repr(value)
    if len(shown) > 60:  # int(1e300) has 301 digits
        shown = f"{shown[:24]}...({len(shown)} characters)"
    raise ValueError(f"Invalid {name}: {shown}. Expected {expected}.")


def validate_value(name: str, value: Any) -> None:
    """Raise ValueError naming `name`, `value` and what is expected when `value` is not allowed.

    Names without a rule (free text such as `pretrained`) pass.
    """
    rule = VALUE_RULES.get(name)
    if rule is not None:
        if not rule.accepts(value):
            _fail(name, value, rule.expected())
        return
    _validate_other(name, value)


def _validate_other(name: str, value: Any) -> None:
    if name == "score_threshold":
        if not (_is_int(value) and 1 <= value <= 5):
            _fail(name, value, "an int in 1..5")
    elif name in _BOOLS:
        if not isinstance(value, bool):
            _fail(name, value, "a bool")
    elif name == "clip_model":
        if not (isinstance(value, str) and value.strip()):
            _fail(name, value, "a non-empty CLIP model name such as 'open_clip:EVA02-L-14/merged2b_s4b_b131k'")
    elif name == "decoder":
        parts = [p.strip() for p in re.split(r"[,|+]", value)] if isinstance(value, str) else []
        if not parts or any(p not in DECODERS for p in parts):
            _fail(name, value, f"one of {', '.join(DECODERS)} or a comma-separated fallback list of them")
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
    """Convert one loosely typed value to the field's type and check it (`validate_value`).

    Errors use the config message format and name the field, the value and what is expected.
    """
    converted = _convert(name, value, type_hint)
    validate_value(name, converted)
    return converted


def _convert(name: str, value: Any, type_hint: Any) -> Any:
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
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d{1,30}\s*", value):
            return int(value)  # exact, also beyond float precision
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
