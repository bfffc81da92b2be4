"""Qwen2-VL, Qwen2.5-VL and Qwen3-VL adapters on tiny random checkpoints, loaded through from_pretrained.

The tiny models (air/testing/tiny_qwen.py) are built once per session, saved, and loaded back by the
adapters through transformers' real from_pretrained code, offline. Their weights are random, so the
generated text is garbage and the analysis parser mostly returns score None: the tests check the
mechanics (batching, padding, prompts, timestamps, gen_kwargs), not answer quality.
"""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
from backbone_helpers import make_frames, pixels_sent, shaded_frames, spy_generate, with_options

from air.base_models.base import LoadOptions
from air.base_models.Qwen2_5VL import Qwen2_5VL
from air.base_models.Qwen2_VL import Qwen2VL
from air.base_models.Qwen3_VL import Qwen3VL
from air.base_models.utils import qwen_vl_utils as qvu
from air.Process_Utils.process_messages import FrameScore, parse_analysis_output

# family -> adapter; the tiny checkpoints come from the session fixture tiny_qwen_dirs (conftest.py)
FAMILIES = {
    "qwen2_5_vl": Qwen2_5VL,
    "qwen2_vl": Qwen2VL,
    "qwen3_vl": Qwen3VL,
    "qwen3_vl_moe": Qwen3VL,  # the Qwen3-VL-30B-A3B architecture
}
QUERY = "What does the man hold?\nOptions:\nA. a cup\nB. a phone"


@pytest.fixture(scope="module")
def loaded(tiny_qwen_dirs) -> dict:
    """family -> backbone loaded through the adapter's from_pretrained (CPU, fp32 by default)."""
    options = LoadOptions(device="cpu", analysis_batch_size=5, analysis_max_new_tokens=8)
    return {family: cls.from_pretrained(tiny_qwen_dirs[family], options) for family, cls in FAMILIES.items()}


@pytest.fixture(params=sorted(FAMILIES))
def family(request) -> str:
    return request.param


# ---------------------------------------------------------------------------------------------- loading
def test_from_pretrained_loads_native_class_fp32_on_cpu(loaded, family):
    import torch

    backbone = loaded[family]
    cls = FAMILIES[family]
    assert isinstance(backbone, cls)
    assert type(backbone.model).__name__ == cls.model_classes[family]
    assert backbone.model.dtype == torch.float32
    assert backbone.model.device.type == "cpu"
    assert not backbone.model.training
    assert backbone.processor.tokenizer.padding_side == "left"
    assert backbone.model.config._attn_implementation == "sdpa"


def test_from_pretrained_passes_loading_options_through(tiny_qwen_dirs, monkeypatch):
    import torch
    import transformers

    real = transformers.Qwen2VLForConditionalGeneration.from_pretrained
    seen = {}

    def spy(pretrained, **kwargs):
        seen.update(kwargs)
        return real(pretrained, **kwargs)

    monkeypatch.setattr(transformers.Qwen2VLForConditionalGeneration, "from_pretrained", spy)
    options = LoadOptions(device_map="cpu", torch_dtype="bfloat16", attn_implementation="eager")
    backbone = Qwen2VL.from_pretrained(tiny_qwen_dirs["qwen2_vl"], options)
    assert seen["device_map"] == "cpu"
    assert seen["dtype"] == torch.bfloat16 and seen["attn_implementation"] == "eager"
    assert seen["trust_remote_code"] is False
    assert backbone.model.dtype == torch.bfloat16
    assert backbone.model.config._attn_implementation == "eager"


def test_checkpoint_of_another_family_is_rejected(tiny_qwen_dirs):
    with pytest.raises(ValueError, match=r"model_type 'qwen2_vl'.*qwen2_5_vl"):
        Qwen2_5VL.from_pretrained(tiny_qwen_dirs["qwen2_vl"], LoadOptions(device="cpu"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"analysis_mode": "beam"}, "Invalid analysis_mode for Qwen2-VL: 'beam'"),
     ({"analysis_batch_size": 0}, "Invalid analysis_batch_size: 0"),
     ({"min_pixels": 5000, "max_pixels": 4000}, "Invalid pixel budget: min_pixels=5000, max_pixels=4000")],
)
def test_invalid_options_raise(loaded, changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        with_options(loaded["qwen2_vl"], **changes)


# --------------------------------------------------------------------------------------------- analysis
def test_analyze_batches_in_chunks_and_equals_one_by_one(loaded, family, monkeypatch):
    backbone = loaded[family]  # analysis_batch_size=5
    frames, ts = shaded_frames(12), np.arange(12) * 2.0
    spy = spy_generate(monkeypatch, backbone)
    chunked = backbone.analyze(frames, ts, QUERY)
    assert [call["batch"] for call in spy.calls] == [5, 5, 2]

    assert len(chunked) == 12
    for result in chunked:
        assert isinstance(result, FrameScore)
        assert result.score is None or 1 <= result.score <= 5
        assert isinstance(result.raw, str) and result.raw
        assert result == parse_analysis_output(result.raw)
    raws = [result.raw for result in chunked]
    # The tiny model reacts to the image, so the comparison below is between different texts per frame.
    assert len(set(raws)) > 1, raws

    one_batch = with_options(backbone, analysis_batch_size=12).analyze(frames, ts, QUERY)
    one_by_one = with_options(backbone, analysis_batch_size=1).analyze(frames, ts, QUERY)
    assert [result.raw for result in one_batch] == raws
    assert [result.raw for result in one_by_one] == raws


def test_analyze_honours_max_new_tokens_and_greedy(loaded, monkeypatch):
    backbone = with_options(loaded["qwen2_5_vl"], analysis_max_new_tokens=3)
    spy = spy_generate(monkeypatch, backbone)
    backbone.analyze(make_frames(2), [0.0, 1.0], QUERY)
    (call,) = spy.calls
    assert call["kwargs"]["max_new_tokens"] == 3 and call["kwargs"]["do_sample"] is False
    assert call["new_tokens"] <= 3


def test_analyze_no_frames_and_bad_input(loaded):
    backbone = loaded["qwen2_vl"]
    assert backbone.analyze(np.zeros((0, 56, 56, 3), np.uint8), [], QUERY) == []
    with pytest.raises(ValueError, match="3 values for 2 frames"):
        backbone.analyze(make_frames(2), [0.0, 1.0, 2.0], QUERY)
    with pytest.raises(ValueError, match=r"Expected uint8 \(N, H, W, 3\)"):
        backbone.analyze(make_frames(2).astype(np.float32), [0.0, 1.0], QUERY)


def test_logits_mode_scores_every_frame_and_batches_exactly(loaded, family):
    backbone = with_options(loaded[family], analysis_mode="logits", analysis_batch_size=5)
    frames, ts = make_frames(7, seed=1), np.arange(7) * 1.0
    results = backbone.analyze(frames, ts, QUERY)
    assert len(results) == 7
    for result in results:
        assert result.score in {1, 2, 3, 4, 5}
        assert result.raw.startswith("p(1..5)=[") and result.raw.endswith("]"), result.raw
        probs = np.array([float(p) for p in result.raw.removeprefix("p(1..5)=[").removesuffix("]").split(",")])
        assert probs.shape == (5,) and abs(probs.sum() - 1.0) < 1e-3
        assert result.score == int(np.argmax(probs)) + 1
        expected = float(re.fullmatch(r"expected_score=(\d\.\d\d)", result.reason).group(1))
        assert abs(expected - float(probs @ np.arange(1, 6))) < 0.01
    single = with_options(backbone, analysis_batch_size=1).analyze(frames, ts, QUERY)
    assert [(r.score, r.reason) for r in single] == [(r.score, r.reason) for r in results]


def test_logits_mode_reads_single_digit_tokens(loaded):
    backbone = loaded["qwen2_5_vl"]
    ids = backbone.digit_token_ids()
    tokenizer = backbone.processor.tokenizer
    assert [tokenizer.decode([i]) for i in ids] == ["1", "2", "3", "4", "5"]


# -------------------------------------------------------------------------------------------- answering
def test_answer_even_and_odd_frame_counts(loaded, family, monkeypatch):
    backbone = loaded[family]
    for n in (8, 7):
        frames, ts = make_frames(n, seed=n), np.arange(n) * 3.0
        inputs = backbone.prepare_video(frames, ts, "What happens?")
        assert int(inputs["video_grid_thw"][0][0]) == 4  # 7 frames padded to 8, temporal patch 2
        text = backbone.answer(frames, ts, "What happens?", {"max_new_tokens": 4})
        assert isinstance(text, str)


def test_answer_honours_gen_kwargs(loaded, monkeypatch):
    backbone = loaded["qwen2_5_vl"]
    frames, ts = make_frames(4, seed=3), [0.0, 1.0, 2.0, 3.0]
    spy = spy_generate(monkeypatch, backbone)
    backbone.answer(frames, ts, "Describe.", {"max_new_tokens": 3})
    assert spy.calls[-1]["new_tokens"] <= 3 and spy.calls[-1]["kwargs"]["do_sample"] is False

    long_text = backbone.answer(frames, ts, "Describe.", {"max_new_tokens": 12})
    assert len(long_text) >= 2, long_text
    stop = long_text[len(long_text) // 2]
    cut = backbone.answer(frames, ts, "Describe.", {"max_new_tokens": 12, "until": [stop]})
    assert cut == long_text[: long_text.find(stop)]

    backbone.answer(frames, ts, "Describe.", {"max_new_tokens": 2, "do_sample": True, "temperature": 0.5})
    assert spy.calls[-1]["kwargs"]["do_sample"] is True and spy.calls[-1]["kwargs"]["temperature"] == 0.5


def test_answer_rejects_missing_frames(loaded):
    backbone = loaded["qwen2_vl"]
    with pytest.raises(ValueError, match=r"Expected uint8 \(N>=1, H, W, 3\)"):
        backbone.answer(np.zeros((0, 56, 56, 3), np.uint8), [], "Q?")


def test_answer_puts_frames_in_time_order(loaded, family, monkeypatch):
    """Shuffled frames with their timestamps give the model exactly what time-ordered ones give."""
    backbone = loaded[family]
    frames, times = make_frames(5, seed=4), np.array([0.0, 1.0, 2.5, 4.0, 6.0])
    order = np.array([3, 0, 4, 2, 1])
    shuffled = backbone.prepare_video(frames[order], times[order], "When?")
    ordered = backbone.prepare_video(frames, times, "When?")
    assert sorted(shuffled.keys()) == sorted(ordered.keys())
    for key in ordered:
        assert np.array_equal(shuffled[key].numpy(), ordered[key].numpy()), key
    spy = spy_generate(monkeypatch, backbone)
    backbone.answer(frames[order], times[order], "When?", {"max_new_tokens": 1})
    backbone.answer(frames, times, "When?", {"max_new_tokens": 1})
    first, second = (pixels_sent(call["kwargs"]) for call in spy.calls)
    assert np.array_equal(first.numpy(), second.numpy())
    assert np.array_equal(first.numpy(), ordered["pixel_values_videos"].numpy())


def test_to_model_casts_pixels_only():
    """bfloat16 models get bfloat16 pixels; second_per_grid_ts (seconds) and ids keep their dtype."""
    import torch

    from air.base_models.utils.hf_generation import to_model

    model = type("M", (), {"device": torch.device("cpu"), "dtype": torch.bfloat16})()
    batch = {"input_ids": torch.ones(1, 3, dtype=torch.long), "pixel_values_videos": torch.rand(4, 6),
             "second_per_grid_ts": torch.tensor([1 / 3]), "note": "kept"}
    out = to_model(batch, model)
    assert out["pixel_values_videos"].dtype == torch.bfloat16
    assert out["second_per_grid_ts"].dtype == torch.float32 and out["second_per_grid_ts"].item() == pytest.approx(1 / 3)
    assert out["input_ids"].dtype == torch.long and out["note"] == "kept"


@pytest.mark.parametrize(
    ("timestamps", "second_per_grid"),
    [
        (np.arange(8) * 2.0, 4.0),          # 0.5 fps -> 2 frames per temporal patch = 4 s
        ([0.0, 1.0, 5.0, 9.0], 6.0),        # uneven gaps: mean gap 3 s
        (np.arange(7) * 0.5 + 10.0, 1.0),   # odd count, padded; 2 fps, offset start
    ],
)
def test_qwen2_5_video_carries_absolute_time(loaded, timestamps, second_per_grid):
    backbone = loaded["qwen2_5_vl"]
    frames = make_frames(len(timestamps))
    inputs = backbone.prepare_video(frames, timestamps, "When?")
    assert inputs["second_per_grid_ts"].tolist() == pytest.approx([second_per_grid])

    # The model turns it into temporal rope positions: one step per temporal patch of
    # tokens_per_second * second_per_grid_ts.
    model = backbone.model.model
    positions, _ = model.get_rope_index(
        inputs["input_ids"], inputs["mm_token_type_ids"], video_grid_thw=inputs["video_grid_thw"],
        second_per_grid_ts=inputs["second_per_grid_ts"], attention_mask=inputs["attention_mask"],
    )
    is_video = inputs["mm_token_type_ids"][0] == 2
    temporal = sorted(set(positions[0, 0, is_video].tolist()))
    step = int(backbone.model.config.vision_config.tokens_per_second * second_per_grid)
    assert np.diff(temporal).tolist() == [step] * (len(temporal) - 1)
    assert len(temporal) == (len(timestamps) + 1) // 2


def test_qwen3_prompt_carries_real_timestamps(loaded):
    backbone = loaded["qwen3_vl"]
    timestamps = [12.0, 13.0, 20.0, 21.0, 40.0]  # odd: the last frame is repeated
    inputs = backbone.prepare_video(make_frames(5), timestamps, "When?")
    text = backbone.processor.tokenizer.decode(inputs["input_ids"][0])
    assert re.findall(r"<([\d.]+) seconds>", text) == ["12.5", "20.5", "40.0"]


def test_qwen2_vl_video_has_no_time_field(loaded):
    inputs = loaded["qwen2_vl"].prepare_video(make_frames(4), [0.0, 1.0, 2.0, 3.0], "When?")
    assert "second_per_grid_ts" not in inputs and int(inputs["video_grid_thw"][0][0]) == 2


# ---------------------------------------------------------------------------------------- pixel budgets
def test_load_options_pixel_budget_sets_the_grid(loaded, family):
    backbone = loaded[family]
    processor = backbone.processor.image_processor
    factor = processor.patch_size * processor.merge_size
    small = with_options(backbone, min_pixels=4 * factor**2, max_pixels=4 * factor**2)
    images = small._prepare_images(make_frames(2, 300, 300))
    assert images.shape == (2, 2 * factor, 2 * factor, 3)
    inputs = small._analysis_inputs(make_frames(2, 300, 300), "x")  # resizes to the same budget
    assert inputs["image_grid_thw"].tolist() == [[1, 4, 4]] * 2


# (height, width, factor, min_pixels, max_pixels) -> (height, width), all in pixels.
BUDGET_TABLE = [
    ((60, 80, 28, 4 * 784, 16 * 784), (56, 84)),             # round to the factor, inside the budget
    ((720, 1280, 28, 3136, 256 * 784), (336, 588)),          # shrink to at most 256 patch groups
    ((20, 30, 28, 3136, 16384 * 784), (56, 84)),             # grow to at least min_pixels
    ((480, 640, 32, 4 * 1024, 100 * 1024), (256, 352)),      # Qwen3-VL's factor 32
    ((448, 448, 28, 3136, 10**6), (448, 448)),               # already valid: unchanged
    ((1080, 1920, 28, 128 * 784, 768 * 784), (560, 1008)),   # Qwen2.5-VL video default per frame
]


@pytest.mark.parametrize(("args", "expected"), BUDGET_TABLE)
def test_fit_pixel_budget_table(args, expected):
    height, width, factor, lo, hi = args
    result = qvu.fit_pixel_budget(height, width, factor=factor, min_pixels=lo, max_pixels=hi)
    assert result == expected
    assert result[0] % factor == 0 and result[1] % factor == 0 and lo <= result[0] * result[1] <= hi


@pytest.mark.parametrize(("args", "expected"), BUDGET_TABLE)
def test_builtin_resize_agrees_with_qwen_vl_utils(args, expected):
    reference = pytest.importorskip("qwen_vl_utils.vision_process").smart_resize
    height, width, factor, lo, hi = args
    assert qvu._builtin_smart_resize(height, width, factor, lo, hi) == expected
    assert tuple(reference(height, width, factor=factor, min_pixels=lo, max_pixels=hi)) == expected


def _hide_qwen_vl_utils(monkeypatch):
    """Make `import qwen_vl_utils` fail as if the package were not installed."""
    monkeypatch.setitem(sys.modules, "qwen_vl_utils", None)
    monkeypatch.setitem(sys.modules, "qwen_vl_utils.vision_process", None)


def test_builtin_resize_avoids_the_reference_float_floor():
    # 300 / sqrt(300 * 300 / 3136) is 55.99999... in floats: the package floors it to 28 (area 784,
    # below min_pixels = 3136); ours lands on 56.
    assert qvu.fit_pixel_budget(300, 300, factor=28, min_pixels=3136, max_pixels=3136) == (56, 56)
    reference = pytest.importorskip("qwen_vl_utils.vision_process").smart_resize
    assert tuple(reference(300, 300, factor=28, min_pixels=3136, max_pixels=3136)) == (28, 28)


def test_works_without_qwen_vl_utils(loaded, monkeypatch):
    _hide_qwen_vl_utils(monkeypatch)
    with pytest.raises(ImportError):
        import qwen_vl_utils  # noqa: F401
    for (height, width, factor, lo, hi), expected in BUDGET_TABLE:
        assert qvu.fit_pixel_budget(height, width, factor=factor, min_pixels=lo, max_pixels=hi) == expected
    backbone = loaded["qwen2_5_vl"]
    results = backbone.analyze(make_frames(3), [0.0, 1.0, 2.0], QUERY)
    assert len(results) == 3
    inputs = backbone.prepare_video(make_frames(3), [0.0, 1.0, 2.0], "Q?")
    assert inputs["second_per_grid_ts"].tolist() == pytest.approx([2.0])


@pytest.mark.parametrize(
    ("args", "message"),
    [((0, 10, 28, 1, 2), "Invalid frame size: 0x10"),
     ((10, 10, 28, 5, 4), "Invalid pixel budget: min_pixels=5, max_pixels=4"),
     ((10, 5000, 28, 1, 10**6), "aspect ratio <= 200")],
)
def test_fit_pixel_budget_rejects_bad_input(args, message):
    height, width, factor, lo, hi = args
    with pytest.raises(ValueError, match=re.escape(message)):
        qvu.fit_pixel_budget(height, width, factor=factor, min_pixels=lo, max_pixels=hi)


def test_resize_frames_shapes():
    frames = make_frames(3, 60, 80)
    out = qvu.resize_frames(frames, factor=28, min_pixels=4 * 784, max_pixels=16 * 784)
    assert out.shape == (3, 56, 84, 3) and out.dtype == np.uint8
    same = make_frames(2, 56, 84)
    assert qvu.resize_frames(same, factor=28, min_pixels=784, max_pixels=10**6) is same


# ------------------------------------------------------------------------------------------ frame lists
@pytest.mark.parametrize(
    ("timestamps", "padded"),
    [([0.0, 1.0], [0.0, 1.0]), ([0.0, 1.0, 3.0], [0.0, 1.0, 3.0, 3.0]), ([5.0], [5.0, 5.0])],
)
def test_pad_to_temporal_patch_repeats_last_frame(timestamps, padded):
    frames = make_frames(len(timestamps))
    out_frames, out_ts = qvu.pad_to_temporal_patch(frames, timestamps, 2)
    assert out_ts.tolist() == padded
    assert len(out_frames) == len(padded)
    assert all((out_frames[i] == frames[-1]).all() for i in range(len(frames), len(padded)))


@pytest.mark.parametrize(
    ("timestamps", "fps"),
    [([0.0, 0.5, 1.0], 2.0), ([0.0, 1.0, 5.0, 9.0], 1 / 3), ([3.0], 1.0), ([2.0, 2.0], 1.0), ([], 1.0)],
)
def test_effective_fps(timestamps, fps):
    assert qvu.effective_fps(timestamps) == pytest.approx(fps)


def test_video_metadata_round_trips_timestamps_and_rate():
    from transformers.video_utils import VideoMetadata

    padded = [10.0, 10.4, 11.0, 11.0]
    metadata = VideoMetadata(**qvu.video_metadata(padded, fps=0.75))
    assert metadata.timestamps == pytest.approx(padded)
    assert metadata.sampled_fps == pytest.approx(0.75)


# ------------------------------------------------------------------------------------------- benchmark
def test_analysis_benchmark_reports_its_figures(monkeypatch):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "benchmarks" / "analysis_figures.py"
    monkeypatch.syspath_prepend(str(path.parent))  # as when run as a script: its sibling bench_common
    spec = importlib.util.spec_from_file_location("analysis_figures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.analysis_figures(n_frames=3, repeats=1, max_new_tokens=2, frame_size=(64, 48))
    assert result["batched_vs_sequential"] == pytest.approx(result["batched_s"] / result["sequential_s"])
    assert result["logits_vs_generate"] == pytest.approx(result["logits_s"] / result["batched_s"])
    assert 0.0 <= result["generate_parse_rate"] <= 1.0
    assert result["logits_generate_agreement"] is None or 0.0 <= result["logits_generate_agreement"] <= 1.0
    assert all(len(runs) == 1 for runs in result["runs_s"].values())
    assert "batched_vs_sequential" in module._table(result)


# ------------------------------------------------------------------------------ analysis across videos
def test_analyze_many_mixes_videos_and_queries_as_each_alone(loaded, family, monkeypatch):
    """Frames of two videos (different sizes) and two questions in the same batches: each item's verdict
    is the one the video gets on its own."""
    from air.base_models.base import analysis_items

    backbone = loaded[family]  # analysis_batch_size=5
    a, b = make_frames(4, 60, 80, seed=1), make_frames(3, 96, 64, seed=2)
    a_items = analysis_items(a, [0.0, 1.0, 2.0, 3.0], QUERY)
    b_items = analysis_items(b, [5.0, 6.0, 7.0], "Is anything red?")
    mixed = [a_items[0], b_items[0], a_items[1], b_items[1], a_items[2], b_items[2], a_items[3]]
    spy = spy_generate(monkeypatch, backbone)
    together = backbone.analyze_many(mixed)
    assert [call["batch"] for call in spy.calls] == [5, 2]
    alone_a = backbone.analyze(a, [0.0, 1.0, 2.0, 3.0], QUERY)
    alone_b = backbone.analyze(b, [5.0, 6.0, 7.0], "Is anything red?")
    expected = [alone_a[0], alone_b[0], alone_a[1], alone_b[1], alone_a[2], alone_b[2], alone_a[3]]
    assert [r.raw for r in together] == [r.raw for r in expected]
    assert backbone.analyze_many([]) == []


def test_analyze_many_rejects_bad_items_naming_the_checkpoint(loaded):
    from air.base_models.base import AnalysisItem

    backbone = loaded["qwen2_5_vl"]
    with pytest.raises(ValueError, match=r"Invalid frame of analysis item 1 \(.*\): shape \(4, 4\).*Expected uint8 \(H, W, 3\)"):
        backbone.analyze_many([AnalysisItem(make_frames(1)[0], 0.0, "q"), AnalysisItem(np.zeros((4, 4), np.uint8), 1.0, "q")])
    with pytest.raises(TypeError, match=r"Invalid analysis item 0 .*: tuple\. Expected an AnalysisItem\."):
        backbone.analyze_many([(make_frames(1)[0], 0.0, "q")])


def test_default_analyze_many_calls_analyze_once_per_run_of_one_query_and_size():
    """An adapter that implements `analyze` only still takes items of several videos (Backbone's default)."""
    from air.base_models.base import AnalysisItem, Backbone

    class OnlyAnalyze(Backbone):
        calls: list = []

        @classmethod
        def from_pretrained(cls, pretrained, options=None):
            return cls()

        def analyze(self, frames, timestamps_s, query):
            self.calls.append((frames.shape, list(timestamps_s), query))
            return [FrameScore(int(f[0, 0, 0]), query, "") for f in frames]

        def answer(self, frames, timestamps_s, prompt, gen_kwargs=None):
            return ""

    def item(value, size, query):
        return AnalysisItem(np.full((size, size, 3), value, np.uint8), float(value), query)

    backbone = OnlyAnalyze()
    items = [item(1, 4, "a"), item(2, 4, "a"), item(3, 6, "a"), item(4, 6, "b"), item(5, 4, "a")]
    scores = backbone.analyze_many(items)
    assert [(s.score, s.reason) for s in scores] == [(1, "a"), (2, "a"), (3, "a"), (4, "b"), (5, "a")]
    assert backbone.calls == [((2, 4, 4, 3), [1.0, 2.0], "a"), ((1, 6, 6, 3), [3.0], "a"),
                              ((1, 6, 6, 3), [4.0], "b"), ((1, 4, 4, 3), [5.0], "a")]
