"""AIRConfig: defaults, validation messages, loose lmms-eval values and presets."""

import dataclasses

import pytest

from air.config import VALUE_RULES, convert_value, validate_value
from air.model import PRESETS, AIRConfig


def test_defaults_are_specs():
    c = AIRConfig()
    assert (c.sample_fps, c.max_frames, c.min_frames, c.budget_ref_s) == (1.0, 32, 8, 300.0)
    assert (c.gamma, c.merge_gap_s, c.min_event_s) == (0.7, 2.0, 3.0)
    assert (c.candidates_per_round, c.max_rounds, c.score_threshold, c.c_len) == (12, 6, 3, 0.5)
    assert (c.alpha_frac, c.alpha_min_s, c.beta, c.lds_max_depth) == (0.05, 0.625, 1.5, 4)
    assert (c.gmm_seed, c.reanalyze, c.fixed_budget) == (0, False, False)
    assert c.clip_model == "open_clip:EVA02-L-14/merged2b_s4b_b131k"
    assert (c.decoder, c.analysis_batch_size, c.cache_dir) == ("pyav", 12, None)
    assert (c.decode_threads, c.max_video_pixels, c.clip_resize) == (None, 7680 * 4320, "crop")


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        AIRConfig().gamma = 0.1


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("candidates_per_round", 0, "Invalid candidates_per_round: 0. Expected an int >= 1 and <= 4096 (frames)."),
        ("max_rounds", 2.5, "Invalid max_rounds: 2.5. Expected an int >= 1 and <= 10000 (rounds)."),
        ("max_frames", True, "Invalid max_frames: True. Expected an int >= 1 and <= 4096 (frames)."),
        ("sample_fps", 0.0, "Invalid sample_fps: 0.0. Expected a finite number >= 0.001 and <= 1000 (samples per second)."),
        ("beta", float("inf"), "Invalid beta: inf. Expected a finite number >= 0.001 and <= 100."),
        ("gamma", -0.1, "Invalid gamma: -0.1. Expected a finite number >= 0 and <= 100."),
        ("merge_gap_s", "2", "Invalid merge_gap_s: '2'. Expected a finite number >= 0 and <= 1e+07 (seconds)."),
        ("score_threshold", 6, "Invalid score_threshold: 6. Expected an int in 1..5."),
        ("gmm_seed", -1, "Invalid gmm_seed: -1. Expected an int >= 0 and <= 4294967295."),
        ("reanalyze", "yes", "Invalid reanalyze: 'yes'. Expected a bool."),
        ("decoder", "ffmpeg", "Invalid decoder: 'ffmpeg'. Expected one of decord, pyav, torchcodec"),
        ("clip_model", "", "Invalid clip_model: ''. Expected a non-empty CLIP model name"),
        ("cache_dir", 3, "Invalid cache_dir: 3. Expected a directory path or None."),
        ("analysis_batch_size", -2, "Invalid analysis_batch_size: -2. Expected an int >= 1 and <= 65536 (frames per call)."),
        ("decode_threads", 0, "Invalid decode_threads: 0. Expected an int >= 1 and <= 1024 (threads), or None (the cores"),
        ("max_video_pixels", 2.5, "Invalid max_video_pixels: 2.5. Expected an int >= 1 and <= 1099511627776 (pixels per frame), or None (no limit)."),
        ("clip_resize", "pad", "Invalid clip_resize: 'pad'. Expected one of crop (short side + centre crop, SPEC.md), squash, own"),
    ],
)
def test_invalid_values_rejected_with_message(field, value, expected):
    with pytest.raises(ValueError) as err:
        AIRConfig(**{field: value})
    assert str(err.value).startswith(expected)


def test_min_frames_above_max_frames():
    with pytest.raises(ValueError, match=r"Invalid min_frames: 40. Expected an int <= max_frames \(32\)."):
        AIRConfig(min_frames=40)


def test_every_field_rejects_garbage():
    for name in AIRConfig.field_names():
        if name in ("cache_dir",):
            continue
        with pytest.raises(ValueError, match=f"Invalid {name}"):
            AIRConfig(**{name: object()})


def test_from_model_args_converts_loose_types():
    c = AIRConfig.from_model_args({
        "max_frames": "16", "min_frames": 4.0, "gamma": "0.5", "candidates_per_round": "1.0e1",
        "reanalyze": "true", "fixed_budget": "0", "spread_candidates": 1, "cache_dir": "None",
        "decoder": " decord,pyav ", "gmm_seed": "7", "beta": 2, "score_threshold": "4.0",
    })
    assert (c.max_frames, c.min_frames, c.gamma, c.candidates_per_round) == (16, 4, 0.5, 10)
    assert (c.reanalyze, c.fixed_budget, c.spread_candidates, c.cache_dir) == (True, False, True, None)
    assert c.decoder == "decord,pyav" and c.decoders == ("decord", "pyav")
    assert AIRConfig.from_model_args({"decoder": "torchcodec|pyav"}).decoder == "torchcodec,pyav"
    assert (c.gmm_seed, c.beta, c.score_threshold) == (7, 2.0, 4)
    assert isinstance(c.beta, float) and isinstance(c.max_frames, int)


@pytest.mark.parametrize(
    "args, message",
    [
        ({"max_frames": "sixteen"}, "Invalid max_frames: 'sixteen'. Expected an int."),
        ({"max_rounds": "2.5"}, "Invalid max_rounds: '2.5'. Expected an int."),
        ({"reanalyze": "maybe"}, "Invalid reanalyze: 'maybe'. Expected a bool (true/false)."),
        ({"gamma": "None"}, "Invalid gamma: 'None'. Expected a value of type float."),
        ({"max_rounds": "-1.0"}, "Invalid max_rounds: -1. Expected an int >= 1 and <= 10000 (rounds)."),
    ],
)
def test_from_model_args_bad_values(args, message):
    with pytest.raises(ValueError) as err:
        AIRConfig.from_model_args(args)
    assert str(err.value) == message


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ValueError) as err:
        AIRConfig.from_model_args({"max_frame": 8, "gama": 1})
    msg = str(err.value)
    assert "Unknown A.I.R. option(s): gama, max_frame." in msg
    for name in AIRConfig.field_names():
        assert name in msg
    assert "preset" in msg


def test_presets_from_model_args():
    assert AIRConfig.from_model_args({"preset": "efficient_16_8_4"}).max_frames == 16
    c = AIRConfig.from_model_args({"preset": "efficient_16_4_4", "max_rounds": "5"})
    assert (c.max_frames, c.candidates_per_round, c.max_rounds) == (16, 4, 5)
    assert AIRConfig.from_model_args({"preset": "None"}) == AIRConfig()
    with pytest.raises(ValueError, match=r"Invalid preset: 'fast'. Expected one of \["):
        AIRConfig.from_preset("fast")


# SPEC.md: efficiency presets (max_frames, C, I_max); strategy presets scale the paper's alpha_min
# (default 15) and l_min (default 20) by alpha_min_s = value / 15 * 0.625, min_event_s = value / 20 * 3.0.
EXPECTED_PRESETS = {
    "default": {},
    "efficient_16_8_4": {"max_frames": 16, "candidates_per_round": 8, "max_rounds": 4},
    "efficient_16_4_4": {"max_frames": 16, "candidates_per_round": 4, "max_rounds": 4},
    "efficient_16_8_2": {"max_frames": 16, "candidates_per_round": 8, "max_rounds": 2},
    "efficient_32_8_4": {"max_frames": 32, "candidates_per_round": 8, "max_rounds": 4},
    "efficient_32_16_8": {"max_frames": 32, "candidates_per_round": 16, "max_rounds": 8},
    "short": {"gamma": 0.5, "alpha_min_s": 0.4166667, "min_event_s": 2.25, "merge_gap_s": 1.0},
    "long": {"alpha_min_s": 1.0416667, "min_event_s": 4.5, "merge_gap_s": 3.0},
    "conservative": {"gamma": 0.3, "alpha_min_s": 0.8333333, "beta": 1.7},
    "aggressive": {"gamma": 0.9, "alpha_min_s": 0.8333333, "beta": 1.2},
    "vila": {"max_frames": 8, "min_frames": 8},
}


@pytest.mark.parametrize("name", sorted(EXPECTED_PRESETS))
def test_every_preset_value(name):
    assert set(PRESETS) == set(EXPECTED_PRESETS)
    config = AIRConfig.from_preset(name)
    default = AIRConfig().to_dict()
    expected = {**default, **EXPECTED_PRESETS[name]}
    for key, value in config.to_dict().items():
        assert value == (pytest.approx(expected[key], abs=1e-6) if isinstance(value, float) else expected[key]), key


def test_long_prunes_more_and_short_less_than_the_default():
    short, default, long = (AIRConfig.from_preset(n) for n in ("short", "default", "long"))
    assert short.min_event_s < default.min_event_s < long.min_event_s
    assert short.alpha_min_s < default.alpha_min_s < long.alpha_min_s
    assert AIRConfig.from_preset("conservative").alpha_min_s == pytest.approx(20 / 15 * 0.625)


def test_backbone_frame_limits_hold_under_every_preset():
    from air.config import config_for_backbone

    for name in PRESETS:
        config, notes = config_for_backbone({"preset": name}, max_frames=8, min_frames=8, backbone="vila1_5")
        assert (config.max_frames, config.min_frames) == (8, 8), name
        preset = PRESETS[name]
        assert {k: v for k, v in config.to_dict().items() if k in preset and k not in ("max_frames", "min_frames")} == {
            k: v for k, v in preset.items() if k not in ("max_frames", "min_frames")}, name
        capped = "max_frames" in preset and preset["max_frames"] != 8
        assert bool(notes) == capped, (name, notes)
    config, notes = config_for_backbone({"preset": "efficient_32_16_8"}, max_frames=8, min_frames=8, backbone="vila1_5")
    assert (config.candidates_per_round, config.max_rounds) == (16, 8)
    assert notes == (("preset 'efficient_32_16_8' sets max_frames=32, but vila1_5 keeps its own max_frames=8 "
                      "(pass max_frames= explicitly to override)."),)
    # without a preset: the backbone's values, no note
    assert config_for_backbone({}, max_frames=8, min_frames=8, backbone="vila1_5")[0].max_frames == 8
    # fields given explicitly override the limits
    config, notes = config_for_backbone({"preset": "efficient_16_8_4", "max_frames": "16"}, max_frames=8,
                                        min_frames=8, backbone="vila1_5")
    assert (config.max_frames, config.min_frames, notes) == (16, 8, ())
    config, notes = config_for_backbone({"max_frames": 4}, max_frames=8, min_frames=8, backbone="vila1_5")
    assert (config.max_frames, config.min_frames) == (4, 4) and "min_frames=4" in notes[0]
    config, _ = config_for_backbone({"min_frames": 2}, max_frames=8, min_frames=8, backbone="vila1_5")
    assert (config.max_frames, config.min_frames) == (8, 2)
    with pytest.raises(ValueError, match=r"Invalid min_frames: 16. Expected an int <= max_frames \(8\)."):
        config_for_backbone({"min_frames": 16}, max_frames=8, backbone="vila1_5")
    # a backbone without limits: exactly from_model_args
    args = {"preset": "efficient_16_8_4", "gamma": "0.5"}
    assert config_for_backbone(args, max_frames=None) == (AIRConfig.from_model_args(args), ())
    with pytest.raises(ValueError, match="Invalid preset: 'fast'"):
        config_for_backbone({"preset": "fast"}, max_frames=8, backbone="vila1_5")


ABLATIONS = ("ablate_threshold", "ablate_ranking", "ablate_analysis", "ablate_lds")


def test_ablation_switches_off_by_default_validated_and_in_the_trace_config():
    c = AIRConfig()
    assert all(getattr(c, name) is False for name in ABLATIONS)
    for name in ABLATIONS:
        on = AIRConfig.from_model_args({name: "true"})
        assert getattr(on, name) is True and on.to_dict()[name] is True
        assert {k: v for k, v in on.to_dict().items() if k != name} == {k: v for k, v in c.to_dict().items() if k != name}
        with pytest.raises(ValueError, match=f"Invalid {name}: 'yes'. Expected a bool."):
            AIRConfig(**{name: "yes"})
        with pytest.raises(ValueError, match=rf"Invalid {name}: 'maybe'. Expected a bool \(true/false\)."):
            AIRConfig.from_model_args({name: "maybe"})


def test_cache_dir_resolution(monkeypatch):
    monkeypatch.setenv("AIR_CLIP_CACHE_DIR", "/data/cache")
    assert AIRConfig().resolved_cache_dir == "/data/cache"
    assert AIRConfig(cache_dir="/x").resolved_cache_dir == "/x"
    monkeypatch.delenv("AIR_CLIP_CACHE_DIR")
    assert AIRConfig().resolved_cache_dir == "./clip_cache"


def test_decoding_fields_from_model_args():
    c = AIRConfig.from_model_args({"decode_threads": "4", "max_video_pixels": "None", "clip_resize": "squash"})
    assert (c.decode_threads, c.max_video_pixels, c.clip_resize) == (4, None, "squash")
    c = AIRConfig.from_model_args({"decode_threads": "None", "max_video_pixels": "8294400.0"})
    assert (c.decode_threads, c.max_video_pixels) == (None, 3840 * 2160)


# -- one set of value rules for every entry point (issue 15 item 7) -------------------------------------

BAD_VALUES = [
    # (field, value as typed in --model_args / --set, the message)
    ("analysis_max_new_tokens", "0", "Invalid analysis_max_new_tokens: 0. Expected an int >= 1 and <= 1000000 (tokens)."),
    ("max_new_tokens", "0", "Invalid max_new_tokens: 0. Expected an int >= 1 and <= 1000000 (tokens), or None"),
    ("batch_size", "0", "Invalid batch_size: 0. Expected an int >= 1 and <= 65536 (requests)."),
    ("frame_max_side", "27", "Invalid frame_max_side: 27. Expected an int >= 28 and <= 65536 (pixels), or None"),
    ("gmm_seed", "4294967296", "Invalid gmm_seed: 4294967296. Expected an int >= 0 and <= 4294967295."),
    ("gmm_seed", "-1", "Invalid gmm_seed: -1. Expected an int >= 0 and <= 4294967295."),
    ("sample_fps", "1e-308", "Invalid sample_fps: 1e-308. Expected a finite number >= 0.001 and <= 1000"),
    ("sample_fps", "1e300", "Invalid sample_fps: 1e+300. Expected a finite number >= 0.001 and <= 1000"),
    ("sample_fps", "1e400", "Invalid sample_fps: inf. Expected a finite number"),
    ("sample_fps", "nan", "Invalid sample_fps: nan. Expected a finite number"),
    ("budget_ref_s", "1e300", "Invalid budget_ref_s: 1e+300. Expected a finite number >= 0.001 and <= 1e+07 (seconds)."),
    ("beta", "0", "Invalid beta: 0.0. Expected a finite number >= 0.001 and <= 100."),
    ("beta", "1e-308", "Invalid beta: 1e-308."),
    ("alpha_frac", "1.5", "Invalid alpha_frac: 1.5. Expected a finite number >= 0 and <= 1 (fraction of the video)."),
    ("alpha_min_s", "-1", "Invalid alpha_min_s: -1.0. Expected a finite number >= 0 and <= 1e+07 (seconds)."),
    ("max_frames", "1e300", "Invalid max_frames: 100000000000000005250476...(301 characters). Expected an int >= 1"),
    ("lds_max_depth", "1000", "Invalid lds_max_depth: 1000. Expected an int >= 1 and <= 64 (levels)."),
    ("clip_batch_size", "-4", "Invalid clip_batch_size: -4. Expected an int >= 1"),
    ("max_pixels", "0", "Invalid max_pixels: 0. Expected an int >= 1"),
    ("replay_max_frames", "0", "Invalid replay_max_frames: 0. Expected an int >= 1"),
]
AIR_FIELDS = set(AIRConfig.field_names())


@pytest.mark.parametrize("field, text, message", BAD_VALUES, ids=[f"{b[0]}={b[1]}" for b in BAD_VALUES])
def test_bad_values_are_refused_alike_by_config_model_args_and_python(field, text, message):
    from air.hvp import split_model_args

    with pytest.raises(ValueError) as info:
        split_model_args({"pretrained": "x", field: text})  # hvp and every baseline
    assert str(info.value).startswith(message), str(info.value)
    if field in AIR_FIELDS:
        with pytest.raises(ValueError) as info:
            AIRConfig.from_model_args({field: text})  # YAML presets, the `air` --set values
        assert str(info.value).startswith(message)
        with pytest.raises(ValueError) as info:
            AIRConfig(**{field: _typed(field, text)})
        assert str(info.value).startswith(message.split(". Expected")[0])


def _typed(field, text):
    """The value as Python code would pass it (no conversion, so the AIRConfig check itself is exercised)."""
    rule = VALUE_RULES[field]
    number = float(text)
    return int(number) if rule.kind == "int" and number.is_integer() else number


def test_load_options_use_the_same_rules():
    from air.base_models.base import LoadOptions

    with pytest.raises(ValueError, match="Invalid analysis_max_new_tokens: 0. Expected an int >= 1"):
        LoadOptions(analysis_max_new_tokens=0)
    with pytest.raises(ValueError, match="Invalid max_pixels: -5"):
        LoadOptions(max_pixels=-5)
    assert LoadOptions(max_pixels=None, analysis_max_new_tokens=512).analysis_max_new_tokens == 512


@pytest.mark.parametrize("field, value", [
    ("sample_fps", 0.1), ("sample_fps", 2.0), ("sample_fps", 30.0), ("budget_ref_s", 60.0), ("budget_ref_s", 3600.0),
    ("beta", 1.2), ("beta", 1.7), ("beta", 3.0), ("max_frames", 1024), ("candidates_per_round", 64),
    ("gmm_seed", 2**32 - 1), ("alpha_frac", 0.2), ("alpha_min_s", 2.5), ("max_rounds", 20),
    ("frame_max_side", 28), ("frame_max_side", 4096), ("frame_max_side", None), ("max_new_tokens", 4096),
    ("analysis_max_new_tokens", 256), ("batch_size", 16), ("num_frames", 64), ("mdp3_segment_size", None),
])
def test_realistic_values_are_accepted(field, value):
    validate_value(field, value)
    assert convert_value(field, "None" if value is None else str(value), "float" if isinstance(value, float) else
                         "int | None") == value


def test_every_preset_passes_the_rules():
    for name in PRESETS:
        AIRConfig.from_preset(name)
        AIRConfig.from_model_args({"preset": name})


def test_every_rule_names_what_is_expected():
    for name, rule in VALUE_RULES.items():
        with pytest.raises(ValueError) as info:
            validate_value(name, "not a number")
        text = str(info.value)
        what = "an int >= " if rule.kind == "int" else "a finite number >= "
        assert text.startswith(f"Invalid {name}: 'not a number'. Expected {what}") and " and <= " in text
