"""QUALITY.md's bad-video list through H_VPModel.select: a valid Selection or one clear error naming the file.

The CLIP encoder is a real tiny open_clip; the backbone is a scripted stand-in (this file is about the
decoders, the similarity stage and the loop on hostile input, not about the VLM, whose real paths
are tested in the backbone and lmms-eval tests).
"""

import os

import numpy as np
import pytest

from air.base_models.base import Backbone
from air.base_models.clip_model import load_clip
from air.model import AIRConfig, FrameScore, H_VPModel, Selection
from air.Process_Utils.process_video import VideoDecodeError
from air.testing import videos as gen
from air.testing.tiny_clip import build_tiny_open_clip


class ScriptedBackbone(Backbone):
    """Rates frames by their mean brightness; records what it was given."""

    name = "scripted"

    def __init__(self):
        self.shapes = []

    @classmethod
    def from_pretrained(cls, pretrained, options=None):
        return cls()

    def analyze(self, frames, timestamps_s, query):
        self.shapes.append(frames.shape)
        assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[-1] == 3
        assert len(timestamps_s) == len(frames)
        return [FrameScore(int(1 + f.mean() // 52), "brightness") for f in frames]

    def answer(self, frames, timestamps_s, prompt, gen_kwargs=None):
        return f"{len(frames)} frames"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    clip = load_clip(build_tiny_open_clip(tmp_path_factory.mktemp("clip")))
    config = AIRConfig(max_rounds=2, candidates_per_round=4, decoder="pyav,decord")
    return H_VPModel(ScriptedBackbone(), clip, config, cache=None)


GOOD_CASES = {
    "vfr": lambda p: gen.write_vfr_video(p / "vfr.mp4"),
    "rotated": lambda p: gen.write_rotated_video(p / "rot.mp4", duration_s=3, fps=10),
    "one_frame": lambda p: gen.write_single_frame_video(p / "one.mp4"),
    "4k_frame": lambda p: gen.write_single_frame_video(p / "4k.mp4", size=(3840, 2160)),
    "odd_size": lambda p: gen.write_odd_size_video(p / "odd.mp4", duration_s=3, fps=10),
    "webm_vp9": lambda p: gen.write_video(p / "v.webm", duration_s=3, fps=10, codec="vp9"),
    "mkv_hevc": lambda p: gen.write_video(p / "v.mkv", duration_s=3, fps=10, codec="hevc"),
    "zero_duration": lambda p: gen.write_zero_duration_video(p / "zero.mp4"),
}


@pytest.mark.parametrize("case", sorted(GOOD_CASES))
def test_decodable_oddities_give_a_valid_selection(case, model, tmp_path):
    made = GOOD_CASES[case](tmp_path)
    path = str(getattr(made, "path", made))
    try:
        sel = model.select(path, "what is shown?", ["a", "b"])
    except VideoDecodeError as exc:  # acceptable only as the one clear error type naming the file
        assert os.path.basename(path) in str(exc)
        pytest.skip(f"{case}: every configured decoder refused the file: {exc}")
    assert isinstance(sel, Selection)
    frames = list(sel.frame_indices)
    assert frames == sorted(set(frames)) and all(0 <= f < sel.n_frames for f in frames) and frames
    assert sel.to_dict()["decoder"] in ("pyav", "decord")
    # 4K frames reach the VLM bounded by frame_max_side
    from air.model import DEFAULT_FRAME_MAX_SIDE

    assert all(max(s[1], s[2]) <= DEFAULT_FRAME_MAX_SIDE for s in model.backbone.shapes)


BAD_CASES = {
    "missing": lambda p: p / "missing.mp4",
    "empty": lambda p: (p / "empty.mp4").write_bytes(b"") or p / "empty.mp4",
    "random_bytes": lambda p: (p / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(50_000)) or p / "noise.mp4",
    "truncated": lambda p: gen.write_truncated_mp4(p / "cut.mp4", duration_s=4, fps=10, keep_fraction=0.3),
    "audio_only": lambda p: gen.write_audio_only(p / "tone.m4a"),
    # the index survives, the later frames do not: the file opens, then reading runs out of data
    "truncated_faststart": lambda p: gen.write_truncated_mp4(p / "cutfs.mp4", duration_s=6, fps=10,
                                                             keep_fraction=0.5, faststart=True),
    # 3 frames of 16000 x 16000: refused from its metadata (max_video_pixels), nothing decoded
    "pixel_bomb": lambda p: gen.write_pixel_bomb(p / "bomb.mkv"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_undecodable_files_raise_one_error_naming_the_file(case, model, tmp_path):
    path = BAD_CASES[case](tmp_path)
    path = str(getattr(path, "path", path))
    try:
        sel = model.select(path, "what is shown?")
    except VideoDecodeError as exc:
        assert os.path.basename(path) in str(exc)
        return
    # a truncated file may still hold decodable frames: then the selection must be valid
    assert case.startswith("truncated"), f"{case} decoded without error"
    assert sel.frame_indices and all(0 <= f < sel.n_frames for f in sel.frame_indices)


class FlakyBackbone(ScriptedBackbone):
    """Raises on its first analysis batch (e.g. a CUDA OOM), then works."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def analyze(self, frames, timestamps_s, query):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().analyze(frames, timestamps_s, query)


def test_backbone_raising_on_one_batch_is_recorded_and_the_loop_goes_on(model, tmp_path):
    made = gen.write_video(tmp_path / "v.mp4", duration_s=20, fps=5, segments=[(0, 10, "red"), (10, 20, "blue")])
    flaky = H_VPModel(FlakyBackbone(), model.clip, model.config.replace(analysis_batch_size=2), cache=None)
    sel = flaky.select(str(made.path), "which colour?")
    assert "analysis_error" in sel.fallback_reasons
    first = sel.rounds[0]
    assert first.scores[:2] == (None, None) and "CUDA out of memory" in first.errors[0]
    assert all(s is not None for s in first.scores[2:]) and len(sel.rounds) == 2


def test_pixel_bomb_is_refused_quickly_with_its_size(model, tmp_path):
    bomb = gen.write_pixel_bomb(tmp_path / "bomb.mkv")
    with pytest.raises(VideoDecodeError, match=r"16000x16000 .* above max_video_pixels=33177600") as info:
        model.select(str(bomb.path), "what is shown?")
    assert str(bomb.path) in str(info.value)
    lifted = H_VPModel(model.backbone, model.clip, model.config.replace(max_video_pixels=16000 * 16000), cache=None)
    small = gen.write_pixel_bomb(tmp_path / "small.mkv", size=(640, 480))
    assert lifted.config.max_video_pixels == 256_000_000
    assert lifted.select(str(small.path), "what is shown?").n_frames == 3


def test_trace_records_decoding_preprocessing_and_query_truncation(model, tmp_path, caplog):
    import logging

    from air import model as air_model

    made = gen.write_video(tmp_path / "v.mp4", duration_s=6, fps=5, segments=[(0, 3, "red"), (3, 6, "blue")])
    air_model._TRUNCATION_WARNED.clear()
    with caplog.at_level(logging.WARNING, logger=air_model.__name__):
        short = model.select(str(made.path), "which colour?", ["red", "blue"]).to_dict()
        long_question = "Which of the colours shown " + "in this very long and winding question " * 12 + "comes first?"
        long = [model.select(str(made.path), long_question).to_dict() for _ in range(2)]
    assert short["query_truncated"] is False and short["query_tokens"] < short["clip_context_length"] == 77
    assert all(t["query_truncated"] is True and t["query_tokens"] > 77 for t in long)
    warnings = [r.getMessage() for r in caplog.records if "cuts the rest" in r.getMessage()]
    assert len(warnings) == 1, "warned once per run, traced every time"
    assert model.clip.name in warnings[0] and f"has {long[0]['query_tokens']} tokens" in warnings[0]
    assert short["clip_resize"] == "crop" and short["decoder"] == "pyav"
    assert short["decode_threads"] >= 1
    squash = H_VPModel(model.backbone, model.clip, model.config.replace(clip_resize="squash", decode_threads=1),
                       cache=None).select(str(made.path), "which colour?").to_dict()
    assert squash["clip_resize"] == "squash" and squash["decode_threads"] == 1
