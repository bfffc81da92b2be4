"""H_VPModel used directly (notebook style) on tiny models, --model_args parsing, entry point."""

import pytest

from air.model import AIRConfig, H_VPModel, Selection, vlm_frame_size
from air.testing.videos import write_video


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    g = write_video(tmp_path_factory.mktemp("v") / "clip.mp4", duration_s=20, fps=6, size=(128, 96),
                    segments=[(0, 12, "red"), (12, 20, "green")])
    return str(g.path), g


def test_h_vp_model_notebook_style(tmp_path, tiny, video):
    pretrained, clip = tiny
    path, g = video
    model = H_VPModel.from_pretrained(pretrained, clip_model=clip, max_rounds=2, candidates_per_round=4,
                                      analysis_max_new_tokens=6, cache_dir=str(tmp_path / "cache"))
    assert model.config.max_rounds == 2 and model.config.clip_model == clip
    assert model.backbone.__class__.__name__ == "Qwen2_5VL"
    sel = model.select(path, "Which colour comes last?", ["red", "green"])
    assert isinstance(sel, Selection)
    assert sel.n_frames == g.n_frames and sel.fps == pytest.approx(6.0)
    assert 1 <= len(sel.frame_indices) <= sel.budget and sel.n_analyzed <= 8
    data = sel.to_dict()
    assert data["decoder"] == "pyav" and data["query"].endswith("B. green")
    # the 20 samples and the LDS frames scored anew (LDS frames that were samples are not encoded again)
    assert data["clip_frames_encoded"] == 20 + sum(1 for *_, src in data["scored"] if src == "lds")
    assert {"vlm_analysis", "clip_encode_frames", "stage1"} <= set(data["timings_s"])
    text, sel2 = model.answer(path, "Which colour comes last? Answer with a word.", gen_kwargs={"max_new_tokens": 3})
    assert isinstance(text, str) and sel2.to_dict()["answer"] == text
    d2 = sel2.to_dict()
    assert d2["prompt"] == "Which colour comes last? Answer with a word.", "the trace holds the text sent"
    # second question on the same video: the 1-FPS samples come from the cache; only new LDS frames are encoded
    assert d2["clip_frames_from_cache"] >= 20
    assert d2["clip_frames_encoded"] <= sum(1 for *_, src in d2["scored"] if src == "lds")
    replay = model.answer_frames(path, [0, 60, 119], "Describe.", {"max_new_tokens": 2})
    assert isinstance(replay, str)
    seen = []
    model.answer_frames(path, [60, 0], lambda chosen: seen.append(chosen) or "Describe.", {"max_new_tokens": 1})
    assert seen[0].frame_indices == (0, 60) and seen[0].timestamps_s == pytest.approx((0.0, 10.0))
    _, sent = model.answer_frames_with_prompt(path, [0, 60], lambda chosen: f"Frames {list(chosen.frame_indices)}?",
                                              {"max_new_tokens": 1})
    assert sent == "Frames [0, 60]?", "a prompt built from the frames comes back as the text the backbone got"


def test_h_vp_model_bad_video_names_file(tmp_path, tiny):
    from air.Process_Utils.process_video import VideoDecodeError

    pretrained, clip = tiny
    model = H_VPModel.from_pretrained(pretrained, clip_model=clip, cache=None)
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(VideoDecodeError, match="garbage.mp4"):
        model.select(str(bad), "q")


def test_from_pretrained_rejects_unknown_field(tiny):
    with pytest.raises(ValueError, match="Unknown A.I.R. option"):
        H_VPModel.from_pretrained(tiny[0], clip_model=tiny[1], max_frame=3)


def test_vlm_frame_size():
    assert vlm_frame_size(640, 360, 1024) is None
    assert vlm_frame_size(3840, 2160, 1024) == (1024, 576)
    assert vlm_frame_size(97, 61, None) is None


def test_split_model_args_converts_and_rejects():
    pytest.importorskip("lmms_eval")
    from air.hvp import split_model_args, valid_model_args

    model, load, air = split_model_args({
        "pretrained": "Qwen/Qwen2.5-VL-7B-Instruct", "device_map": "auto", "resume": "true", "batch_size": "1",
        "max_pixels": 200704.0, "trust_remote_code": False, "torch_dtype": "None", "max_frames": 16.0,
        "preset": "efficient_16_8_4", "analysis_batch_size": "6", "trace_dir": "None", "clip_batch_size": "64",
    })
    assert model == {"pretrained": "Qwen/Qwen2.5-VL-7B-Instruct", "resume": True, "batch_size": 1,
                     "trace_dir": None, "clip_batch_size": 64}
    assert load == {"device_map": "auto", "max_pixels": 200704, "trust_remote_code": False, "torch_dtype": None}
    config = AIRConfig.from_model_args(air)
    assert (config.max_frames, config.candidates_per_round, config.analysis_batch_size) == (16, 8, 6)
    with pytest.raises(ValueError) as err:
        split_model_args({"pretrained": "x", "max_frame": 8})
    msg = str(err.value)
    assert msg.startswith("Unknown --model_args key(s) for hvp: max_frame. Expected keys among:")
    for key in ("gamma", "device_map", "trace_dir", "resume", "max_pixels", "preset"):
        assert key in valid_model_args() and key in msg
    with pytest.raises(ValueError, match="Invalid resume: 'perhaps'"):
        split_model_args({"pretrained": "x", "resume": "perhaps"})


def test_entry_point_lists_hvp():
    pytest.importorskip("lmms_eval")
    from lmms_eval.models import list_available_models

    assert "hvp" in list_available_models()


def test_a_decoder_that_failed_before_the_serving_one_is_traced(tiny, video, monkeypatch):
    import air.Process_Utils.process_video as pv

    def not_installed(path, **options):
        raise ImportError("No module named 'decord'")

    monkeypatch.setitem(pv._READERS, "decord", not_installed)
    pretrained, clip = tiny
    model = H_VPModel.from_pretrained(pretrained, clip_model=clip, cache=None, decoder="decord,pyav", max_rounds=1,
                                      candidates_per_round=2, analysis_max_new_tokens=4)
    data = model.select(video[0], "Which colour comes last?").to_dict()
    assert data["decoder"] == "pyav"
    served_late = [f for f in data["fallbacks"] if f["reason"] == "decoder_fallback"]
    assert len(served_late) == 1 and served_late[0]["detail"].startswith("decord failed (backend not installed")
    assert served_late[0]["detail"].endswith("served by pyav")
