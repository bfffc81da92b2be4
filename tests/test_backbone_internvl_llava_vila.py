"""InternVL3, LLaVA-OneVision and VILA-1.5 adapters.

InternVL (native) and LLaVA-OneVision run for real: tiny random checkpoints are built once per session,
saved, and loaded back through the adapters' own from_pretrained (offline). Their text is gibberish by
design; the tests check shapes, parsing, batching, padding and prompt contents, not answers.

Two paths cannot run a real model here, and their tests say so:
- InternVL's original remote-code checkpoints need the checkpoint's own Python code from the hub (no
  network): their tiling and prompt functions are tested as pure functions, and the adapter's use of
  `model.chat` / `model.batch_chat` with the model layer faked.
- VILA-1.5 exists only as source code (the VILA repository, not installable here): the adapter's
  loading through $VILA_PATH, prompts, frame order and batching run against a fake VILA checkout whose
  model layer is a stand-in; the missing-VILA_PATH errors are tested as they are.
"""

from __future__ import annotations

import json
import logging
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest
from backbone_helpers import pixels_sent, shaded_frames, spy_generate, with_options

from air.base_models.base import LoadOptions
from air.Process_Utils.process_messages import (
    ANALYSIS_INSTRUCTIONS,
    FrameScore,
    build_analysis_prompt,
    parse_analysis_output,
)

MAX_NEW = 8
QUERY = "What is the person holding?\nOptions:\nA. a cup\nB. a phone\nC. a book\nD. a ball"


FRAMES12 = shaded_frames(12)
TIMES12 = np.arange(12, dtype=np.float64) * 1.5


def _family(name: str):
    from air.base_models.InternVL3 import InternVL3
    from air.base_models.Llava_OV import LlavaOneVision

    return {"internvl": InternVL3, "llava_ov": LlavaOneVision}[name]


@pytest.fixture(scope="module", params=["internvl", "llava_ov"])
def adapter(request, tiny_internvl_dir, tiny_llava_ov_dir):
    """A native adapter loaded from its tiny checkpoint with 12-prompt analysis batches."""
    path = {"internvl": tiny_internvl_dir, "llava_ov": tiny_llava_ov_dir}[request.param]
    options = LoadOptions(device="cpu", analysis_batch_size=12, analysis_max_new_tokens=MAX_NEW)
    return _family(request.param).from_pretrained(str(path), options)


@pytest.fixture(scope="module")
def batched_scores(adapter):
    return adapter.analyze(FRAMES12, TIMES12, QUERY)


# ------------------------------------------------------------------------------------------------
# Native InternVL and LLaVA-OneVision, real tiny models
# ------------------------------------------------------------------------------------------------


def test_analyze_twelve_frames_gives_twelve_wellformed_scores(batched_scores):
    assert len(batched_scores) == 12
    for fs in batched_scores:
        assert isinstance(fs, FrameScore)
        assert fs.score is None or fs.score in {1, 2, 3, 4, 5}
        assert isinstance(fs.raw, str) and isinstance(fs.reason, str)
        assert parse_analysis_output(fs.raw) == fs  # score and reason come from the raw text
        assert "Rate how useful" not in fs.raw and "assistant" not in fs.raw  # only the new tokens
    # The image reaches the model: different frames give different generations.
    assert len({fs.raw for fs in batched_scores}) >= 2


def test_batched_analysis_equals_one_by_one_and_chunks_of_five(adapter, batched_scores, tiny_internvl_dir,
                                                                tiny_llava_ov_dir):
    one_by_one = with_options(adapter, analysis_batch_size=1).analyze(FRAMES12, TIMES12, QUERY)
    assert [fs.raw for fs in one_by_one] == [fs.raw for fs in batched_scores]
    path = tiny_internvl_dir if adapter.name == "internvl3" else tiny_llava_ov_dir
    fives = type(adapter).from_pretrained(
        str(path), LoadOptions(device="cpu", analysis_batch_size=5, analysis_max_new_tokens=MAX_NEW)
    ).analyze(FRAMES12, TIMES12, QUERY)
    assert fives == batched_scores


def test_analysis_chunks_follow_batch_size(adapter, monkeypatch):
    spy = spy_generate(monkeypatch, adapter)
    out = with_options(adapter, analysis_batch_size=5).analyze(FRAMES12, TIMES12, QUERY)
    assert [call["batch"] for call in spy.calls] == [5, 5, 2] and len(out) == 12


def test_left_padded_prompts_of_different_lengths_match_single_runs(adapter):
    """Real left padding (rows of different lengths): each row's generation equals its unpadded run."""
    from air.base_models.utils.hf_generation import (
        analysis_generate_kwargs,
        generate_new_text,
    )

    prompts = [build_analysis_prompt("Short?"), build_analysis_prompt(QUERY + " " + "and why " * 12)]
    frames = FRAMES12[[2, 9]]
    texts = [adapter._chat_text("image", p) for p in prompts]
    gen = analysis_generate_kwargs(MAX_NEW)
    batch = adapter.processor(text=texts, images=list(frames), padding=True, padding_side="left", return_tensors="pt")
    mask = batch["attention_mask"]
    assert mask[0, 0] == 0 and mask[0, -1] == 1 and mask[1].all()  # the short row is padded on the left
    together = generate_new_text(adapter.model, adapter.tokenizer, batch, gen)
    alone = [
        generate_new_text(adapter.model, adapter.tokenizer,
                          adapter.processor(text=[t], images=[f], return_tensors="pt"), gen)[0]
        for t, f in zip(texts, frames, strict=True)
    ]
    assert together == alone


def test_analyze_many_mixes_videos_and_queries_as_each_alone(adapter, monkeypatch):
    """Frames of two videos (different sizes) and two questions batched together: each item's verdict is
    the one its video gets on its own (left padding across prompts of different lengths)."""
    from air.base_models.base import analysis_items

    other = shaded_frames(3, 40, 72, seed=3)
    a_items = analysis_items(FRAMES12[:3], TIMES12[:3], QUERY)
    b_items = analysis_items(other, [0.0, 1.0, 2.0], "Short?")
    spy = spy_generate(monkeypatch, adapter)
    together = adapter.analyze_many([a_items[0], b_items[0], a_items[1], b_items[1], a_items[2], b_items[2]])
    assert [call["batch"] for call in spy.calls] == [6]
    alone_a = adapter.analyze(FRAMES12[:3], TIMES12[:3], QUERY)
    alone_b = adapter.analyze(other, [0.0, 1.0, 2.0], "Short?")
    assert [r.raw for r in together] == [r.raw for pair in zip(alone_a, alone_b) for r in pair]


def test_analysis_prompt_has_one_image_the_rubric_and_the_query(adapter):
    batch = adapter._analysis_inputs(FRAMES12[:3], build_analysis_prompt(QUERY))
    tokenizer = adapter.tokenizer
    image_id = adapter.model.config.image_token_id
    counts = (batch["input_ids"] == image_id).sum(dim=1).tolist()
    assert counts[0] > 0 and counts == [counts[0]] * 3  # one image's worth of placeholders per prompt
    text = tokenizer.decode(batch["input_ids"][0], skip_special_tokens=False)
    assert ANALYSIS_INSTRUCTIONS.splitlines()[0] in text and "B. a phone" in text
    assert text.rstrip().endswith("assistant")
    if adapter.name == "internvl3":  # InternVL wraps the image in <img> ... </img>
        assert text.count("<img>") == 1 and text.count("</img>") == 1


def test_answer_sends_the_frames_as_one_video_and_returns_a_string(adapter, monkeypatch):
    spy = spy_generate(monkeypatch, adapter)
    frames, times = FRAMES12[:8], TIMES12[:8]
    out = adapter.answer(frames, times, "Answer with the letter.", {"max_new_tokens": 6, "temperature": 0})
    seen = spy.calls[-1]["kwargs"]
    assert isinstance(out, str)
    assert seen["max_new_tokens"] == 6 and seen["do_sample"] is False
    if adapter.name == "internvl3":
        assert tuple(seen["pixel_values"].shape) == (8, 3, 56, 56)  # one tile per frame
        text = adapter.tokenizer.decode(seen["input_ids"][0])
        assert [f"Frame{i}:" in text for i in range(1, 9)] == [True] * 8
    else:
        assert tuple(seen["pixel_values_videos"].shape) == (1, 8, 3, 56, 56)
    # Greedy is deterministic, and `until` cuts the text.
    again = adapter.answer(frames, times, "Answer with the letter.", {"max_new_tokens": 6})
    assert again == out
    if len(out) > 2:
        cut = adapter.answer(frames, times, "Answer with the letter.", {"max_new_tokens": 6, "until": [out[2:]]})
        assert cut == out[:2]


def test_answer_puts_frames_in_time_order(adapter, monkeypatch):
    spy = spy_generate(monkeypatch, adapter)
    order = np.array([3, 0, 2, 1])
    adapter.answer(FRAMES12[order], TIMES12[order], "Q", {"max_new_tokens": 1})
    adapter.answer(FRAMES12[:4], TIMES12[:4], "Q", {"max_new_tokens": 1})
    shuffled, ordered = (pixels_sent(call["kwargs"]) for call in spy.calls)
    assert np.array_equal(shuffled.numpy(), ordered.numpy())


def test_logits_mode_reads_digit_distribution(adapter):
    logit_adapter = with_options(adapter, analysis_mode="logits")
    scores = logit_adapter.analyze(FRAMES12[:5], TIMES12[:5], QUERY)
    assert len(scores) == 5
    for fs in scores:
        assert fs.score in {1, 2, 3, 4, 5}
        expected = float(fs.reason.split("=")[1])
        assert 1.0 <= expected <= 5.0
        probs = [float(p) for p in fs.raw[fs.raw.index("[") + 1 : -1].split(",")]
        assert abs(sum(probs) - 1.0) < 0.01 and probs.index(max(probs)) + 1 == fs.score
    # Chunked forward passes give the same read-out (floating point: compare to 3 decimals).
    chunked = with_options(logit_adapter, analysis_batch_size=2).analyze(FRAMES12[:5], TIMES12[:5], QUERY)
    assert [fs.score for fs in chunked] == [fs.score for fs in scores]
    assert [fs.reason for fs in chunked] == [fs.reason for fs in scores]


def test_load_options_dtype_and_attention_are_honoured(tiny_internvl_dir, tiny_llava_ov_dir):
    import torch

    for cls, path in [(_family("internvl"), tiny_internvl_dir), (_family("llava_ov"), tiny_llava_ov_dir)]:
        backbone = cls.from_pretrained(
            str(path), LoadOptions(device="cpu", torch_dtype="bfloat16", attn_implementation="eager",
                                   analysis_max_new_tokens=2)
        )
        assert backbone.model.dtype == torch.bfloat16
        assert backbone.model.config._attn_implementation == "eager"
        assert str(backbone.model.device) == "cpu"
        assert len(backbone.analyze(FRAMES12[:2], TIMES12[:2], QUERY)) == 2  # pixels cast to bf16
        placed = cls.from_pretrained(str(path), LoadOptions(device_map="cpu", torch_dtype="float32"))
        assert placed.model.device.type == "cpu" and placed.model.dtype == torch.float32


def test_load_hf_model_passes_options_through():
    """The loading plumbing, with the model class faked: device_map vs .to(device), dtype, attention."""
    import torch

    from air.base_models.utils.hf_generation import load_hf_model

    class FakeModel:

        @classmethod
        def from_pretrained(cls, name, **kwargs):
            model = cls()
            model.name, model.kwargs, model.moved_to, model.evaluated = name, kwargs, None, False
            return model

        def to(self, device):
            self.moved_to = device
            return self

        def eval(self):
            self.evaluated = True
            return self

    mapped = load_hf_model(FakeModel, "x", LoadOptions(device_map="auto", torch_dtype="fp16", trust_remote_code=True))
    assert mapped.kwargs == {"dtype": torch.float16, "trust_remote_code": True, "device_map": "auto",
                             "attn_implementation": "sdpa"}
    assert mapped.moved_to is None and mapped.evaluated
    moved = load_hf_model(FakeModel, "x", LoadOptions(device="cpu"), pass_attn_implementation=False, use_flash_attn=False)
    assert moved.kwargs == {"dtype": torch.float32, "trust_remote_code": False, "use_flash_attn": False}
    assert moved.moved_to == "cpu"


def test_bad_frames_and_mode_are_rejected_with_clear_messages(adapter):
    with pytest.raises(ValueError, match=r"shape \(48, 64, 3\). Expected uint8 \(N>=0, H, W, 3\)"):
        adapter.analyze(FRAMES12[0], TIMES12[:1], QUERY)
    assert adapter.analyze(FRAMES12[:0], TIMES12[:0], QUERY) == []  # no candidates, no work
    with pytest.raises(ValueError, match=r"Expected uint8 \(N>=1, H, W, 3\)"):
        adapter.answer(FRAMES12[:0], TIMES12[:0], "Q")
    with pytest.raises(ValueError, match="Invalid analysis_batch_size: 0. Expected an int >= 1."):
        with_options(adapter, analysis_batch_size=0).analyze(FRAMES12[:1], TIMES12[:1], QUERY)
    with pytest.raises(ValueError, match="dtype float32"):
        adapter.analyze(FRAMES12[:2].astype(np.float32), TIMES12[:2], QUERY)
    with pytest.raises(ValueError, match="3 values for 2 frames"):
        adapter.answer(FRAMES12[:2], TIMES12[:3], "Q")
    with pytest.raises(ValueError, match="Invalid analysis_mode .*'beam'"):
        with_options(adapter, analysis_mode="beam").analyze(FRAMES12[:1], TIMES12[:1], QUERY)


# ------------------------------------------------------------------------------------------------
# InternVL: checkpoint kinds and the remote-code path (pure functions + faked model layer)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, kind",
    [
        ("OpenGVLab/InternVL3-8B-hf", "native"),
        ("OpenGVLab/InternVL3-1B-hf/", "native"),
        ("OpenGVLab/InternVL3_5-8B-HF", "native"),
        ("OpenGVLab/InternVL3-8B", "remote"),
        ("OpenGVLab/InternVL3_5-8B", "remote"),
    ],
)
def test_internvl_checkpoint_kind_by_name(name, kind):
    from air.base_models.InternVL3 import checkpoint_kind

    assert checkpoint_kind(name) == kind


def test_internvl_checkpoint_kind_of_local_dirs(tmp_path, tiny_internvl_dir):
    from air.base_models.InternVL3 import checkpoint_kind

    assert checkpoint_kind(str(tiny_internvl_dir)) == "native"
    remote = tmp_path / "my-internvl"
    remote.mkdir()
    (remote / "config.json").write_text(json.dumps({"model_type": "internvl_chat"}))
    assert checkpoint_kind(str(remote)) == "remote"
    (remote / "config.json").write_text(json.dumps({"model_type": "qwen2_vl"}))
    with pytest.raises(ValueError, match="model_type 'qwen2_vl'"):
        checkpoint_kind(str(remote))


def test_internvl_remote_checkpoint_without_trust_remote_code_fails_clearly(tmp_path):
    from air.base_models.InternVL3 import InternVL3

    with pytest.raises(ValueError, match=r"InternVL3-8B-hf.*trust_remote_code=True"):
        InternVL3.from_pretrained("OpenGVLab/InternVL3-8B", LoadOptions(device="cpu"))
    local = tmp_path / "internvl-original"
    local.mkdir()
    (local / "config.json").write_text(json.dumps({"model_type": "internvl_chat"}))
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        InternVL3.from_pretrained(str(local), LoadOptions(device="cpu"))


@pytest.mark.parametrize(
    "width, height, max_tiles, grid",
    [
        (448, 448, 12, (1, 1)),      # square and small: no blow-up to 2x2
        (1000, 1000, 12, (3, 3)),    # square tie: the largest grid the image fills more than half of
        (896, 448, 12, (2, 1)),      # 2:1 landscape
        (448, 1344, 12, (1, 3)),     # 1:3 portrait
        (1280, 720, 12, (4, 2)),     # 16:9 -> closest ratio 2.0 with the larger grid (area rule)
        (1280, 720, 1, (1, 1)),      # video frames: one tile
        (5000, 100, 6, (6, 1)),      # extreme panorama, capped by max_tiles
    ],
)
def test_internvl_tile_grid(width, height, max_tiles, grid):
    from air.base_models.InternVL3 import tile_grid

    assert tile_grid(width, height, max_tiles=max_tiles) == grid


def test_internvl_tile_grid_rejects_bad_input():
    from air.base_models.InternVL3 import tile_grid

    with pytest.raises(ValueError, match="Invalid image size: 0x10"):
        tile_grid(0, 10)
    with pytest.raises(ValueError, match="min_tiles=3, max_tiles=2"):
        tile_grid(10, 10, min_tiles=3, max_tiles=2)


def test_internvl_tile_image_cuts_row_major_and_adds_thumbnail():
    from air.base_models.InternVL3 import tile_image

    image = np.zeros((20, 40, 3), dtype=np.uint8)
    image[:, :20] = (255, 0, 0)
    image[:, 20:] = (0, 0, 255)
    tiles = tile_image(image, max_tiles=12, tile_size=28)
    assert tiles.shape == (3, 28, 28, 3) and tiles.dtype == np.uint8  # 2x1 grid + thumbnail
    assert tiles[0, :, :20].mean(axis=(0, 1)).round().tolist() == [255, 0, 0]
    assert tiles[1, :, 8:].mean(axis=(0, 1)).round().tolist() == [0, 0, 255]
    assert tiles[2, :, :10, 0].mean() > 200 and tiles[2, :, -10:, 2].mean() > 200  # whole image, shrunk
    single = tile_image(image, max_tiles=1, tile_size=28)
    assert single.shape == (1, 28, 28, 3)  # one tile, no thumbnail


def test_internvl_pixel_values_and_prompts():
    from air.base_models.InternVL3 import (
        IMAGENET_MEAN,
        IMAGENET_STD,
        image_question,
        tiles_to_pixel_values,
        video_question,
    )

    pixels = tiles_to_pixel_values(np.full((2, 4, 4, 3), 255, dtype=np.uint8))
    assert tuple(pixels.shape) == (2, 3, 4, 4)
    expected = [(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    assert np.allclose(pixels[0, :, 0, 0].numpy(), expected, atol=1e-6)
    assert video_question(3, "Which?") == "Frame1: <image>\nFrame2: <image>\nFrame3: <image>\nWhich?"
    assert image_question("Rate.") == "<image>\nRate."
    with pytest.raises(ValueError, match="Invalid n_frames: 0"):
        video_question(0, "x")


class _FakeInternVLChatModel:
    """Stands in for the remote-code InternVLChatModel: records chat / batch_chat arguments."""

    def __init__(self):
        import torch

        self.device, self.dtype, self.calls = torch.device("cpu"), torch.float32, []

    def batch_chat(self, tokenizer, pixel_values, questions, generation_config, num_patches_list=None):
        self.calls.append(("batch_chat", pixel_values, list(questions), dict(generation_config), list(num_patches_list)))
        return [f"Score: {1 + i % 5}\nReasoning: frame {i}." for i in range(len(questions))]

    def chat(self, tokenizer, pixel_values, question, generation_config, num_patches_list=None):
        self.calls.append(("chat", pixel_values, question, dict(generation_config), list(num_patches_list)))
        return "B. because STOP here"


def test_internvl_remote_code_adapter_with_faked_model_layer():
    """The remote-code checkpoint's Python cannot be downloaded here; its model layer is faked."""
    from air.base_models.InternVL3 import _RemoteInternVL

    fake = _FakeInternVLChatModel()
    backbone = _RemoteInternVL(fake, None, LoadOptions(analysis_batch_size=5, analysis_max_new_tokens=9),
                               "OpenGVLab/InternVL3-8B")
    frames = shaded_frames(7, 16, 16)
    scores = backbone.analyze(frames, np.arange(7.0), QUERY)
    assert [c[0] for c in fake.calls] == ["batch_chat", "batch_chat"]
    assert [len(c[2]) for c in fake.calls] == [5, 2]
    _, pixels, questions, gen, patches = fake.calls[0]
    assert tuple(pixels.shape) == (5, 3, 448, 448) and patches == [1] * 5  # square frame: one tile
    assert questions[0] == "<image>\n" + build_analysis_prompt(QUERY)
    assert gen["max_new_tokens"] == 9 and gen["do_sample"] is False
    assert [fs.score for fs in scores] == [1, 2, 3, 4, 5, 1, 2]

    reply = backbone.answer(frames[::-1], np.arange(7.0)[::-1], "Pick one.", {"max_new_tokens": 4, "until": ["STOP"]})
    assert reply == "B. because "
    _, pixels, question, gen, patches = fake.calls[-1]
    assert question.startswith("Frame1: <image>\nFrame2: <image>\n") and question.endswith("Frame7: <image>\nPick one.")
    assert patches == [1] * 7 and gen["max_new_tokens"] == 4
    first = pixels[0].numpy()  # time order restored: the first tile is frame 0
    from air.base_models.InternVL3 import tile_image, tiles_to_pixel_values

    assert np.allclose(first, tiles_to_pixel_values(tile_image(frames[0], max_tiles=1))[0].numpy())


def test_internvl_remote_code_analyze_many_asks_each_item_its_own_question():
    from air.base_models.base import analysis_items
    from air.base_models.InternVL3 import _RemoteInternVL

    fake = _FakeInternVLChatModel()
    backbone = _RemoteInternVL(fake, None, LoadOptions(analysis_batch_size=4), "OpenGVLab/InternVL3-8B")
    items = analysis_items(shaded_frames(2, 16, 16), [0.0, 1.0], "Q one?") + analysis_items(
        shaded_frames(2, 16, 32), [0.0, 1.0], "Q two?")
    scores = backbone.analyze_many(items)
    (call,) = fake.calls
    _, pixels, questions, _, patches = call
    assert questions == ["<image>\n" + build_analysis_prompt(q) for q in ("Q one?", "Q one?", "Q two?", "Q two?")]
    assert len(patches) == 4 and tuple(pixels.shape[1:]) == (3, 448, 448)
    assert [fs.score for fs in scores] == [1, 2, 3, 4]


# ------------------------------------------------------------------------------------------------
# LLaVA-OneVision: lmms-lab names mapped to their llava-hf twins
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("lmms-lab/llava-onevision-qwen2-0.5b-ov", "llava-hf/llava-onevision-qwen2-0.5b-ov-hf"),
        ("lmms-lab/llava-onevision-qwen2-7b-ov", "llava-hf/llava-onevision-qwen2-7b-ov-hf"),
        ("lmms-lab/llava-onevision-qwen2-72b-ov", "llava-hf/llava-onevision-qwen2-72b-ov-hf"),
        ("lmms-lab/llava-onevision-qwen2-0.5b-si", "llava-hf/llava-onevision-qwen2-0.5b-si-hf"),
        ("lmms-lab/llava-onevision-qwen2-7b-si", "llava-hf/llava-onevision-qwen2-7b-si-hf"),
        ("lmms-lab/llava-onevision-qwen2-72b-si", "llava-hf/llava-onevision-qwen2-72b-si-hf"),
        ("lmms-lab/llava-onevision-qwen2-7b-ov-chat", "llava-hf/llava-onevision-qwen2-7b-ov-chat-hf"),
        ("lmms-lab/llava-onevision-qwen2-72b-ov-chat", "llava-hf/llava-onevision-qwen2-72b-ov-chat-hf"),
        ("LMMS-Lab/LLaVA-OneVision-Qwen2-7B-OV/", "llava-hf/llava-onevision-qwen2-7b-ov-hf"),
        ("llava-hf/llava-onevision-qwen2-7b-ov-hf", "llava-hf/llava-onevision-qwen2-7b-ov-hf"),
        ("/models/my-llava-ov", "/models/my-llava-ov"),
    ],
)
def test_llava_ov_checkpoint_mapping(name, expected):
    from air.base_models.Llava_OV import hf_checkpoint_name

    assert hf_checkpoint_name(name) == expected


def test_llava_ov_mapping_is_logged_and_unknown_lmms_lab_names_fail(caplog):
    from air.base_models.Llava_OV import hf_checkpoint_name

    with caplog.at_level(logging.WARNING, logger="air.base_models.Llava_OV"):
        hf_checkpoint_name("lmms-lab/llava-onevision-qwen2-7b-ov")
    assert "llava-hf/llava-onevision-qwen2-7b-ov-hf" in caplog.text and "LLaVA-NeXT" in caplog.text
    with pytest.raises(ValueError, match=r"lmms-lab/LLaVA-Video-7B-Qwen2.*lmms-lab/llava-onevision-qwen2-7b-ov"):
        hf_checkpoint_name("lmms-lab/LLaVA-Video-7B-Qwen2")


# ------------------------------------------------------------------------------------------------
# VILA-1.5: no real model can run (source-only repository); fake checkout + faked model layer
# ------------------------------------------------------------------------------------------------

_FAKE_VILA_FILES = {
    "llava/__init__.py": "",
    "llava/constants.py": """
        IMAGE_TOKEN_INDEX = -200
        DEFAULT_IMAGE_TOKEN = "<image>"
        DEFAULT_IM_START_TOKEN = "<im_start>"
        DEFAULT_IM_END_TOKEN = "<im_end>"
    """,
    "llava/conversation.py": """
        import enum

        class SeparatorStyle(enum.Enum):
            TWO = 1
            LLAMA_3 = 2

        class Conversation:
            def __init__(self, system, roles, sep_style, sep, sep2):
                self.system, self.roles, self.sep_style, self.sep, self.sep2 = system, roles, sep_style, sep, sep2
                self.messages = []

            def copy(self):
                return Conversation(self.system, self.roles, self.sep_style, self.sep, self.sep2)

            def append_message(self, role, message):
                self.messages.append((role, message))

            def get_prompt(self):
                if self.sep_style is SeparatorStyle.TWO:
                    out = self.system + self.sep
                    for i, (role, msg) in enumerate(self.messages):
                        out += role + ": " + msg + (self.sep, self.sep2)[i % 2] if msg else role + ":"
                    return out
                out = self.system + self.sep
                for role, msg in self.messages:
                    out += role + msg + self.sep if msg else role
                return out

        conv_templates = {
            "vicuna_v1": Conversation("SYS", ("USER", "ASSISTANT"), SeparatorStyle.TWO, " ", "</s>"),
            "llama_3": Conversation("<sys>", ("<u>", "<a>"), SeparatorStyle.LLAMA_3, "<|eot_id|>", "<|end_of_text|>"),
        }
    """,
    "llava/mm_utils.py": """
        import numpy as np
        import torch

        def get_model_name_from_path(path):
            return path.rstrip("/").split("/")[-1]

        def process_images(images, image_processor, model_cfg):
            # Each image becomes a 3x4x4 tensor filled with its per-channel mean brightness in [0, 1].
            means = [np.asarray(im, dtype=np.float32).mean(axis=(0, 1)) / 255.0 for im in images]
            return torch.stack([torch.tensor(m).view(3, 1, 1).expand(3, 4, 4) for m in means])

        def tokenizer_image_token(prompt, tokenizer, image_token_index=-200, return_tensors=None):
            ids = []
            for i, chunk in enumerate(prompt.split("<image>")):
                if i:
                    ids.append(image_token_index)
                ids.extend(tokenizer(chunk, add_special_tokens=False).input_ids)
            return ids
    """,
    "llava/model/__init__.py": "",
    "llava/model/builder.py": """
        import torch
        from transformers import AutoTokenizer

        LOAD_CALLS = []

        class FakeVilaModel:
            # VILA's LlavaLlamaModel stand-in: generate returns only new tokens (it feeds embeddings).
            def __init__(self, tokenizer):
                self.tokenizer = tokenizer
                self.config = type("Cfg", (), {"mm_use_im_start_end": False})()
                self.llm = type("LLM", (), {"config": type("Cfg", (), {})()})()
                self.device, self.dtype, self.calls = torch.device("cpu"), torch.float16, []

            def to(self, dtype):
                self.dtype = dtype
                return self

            def generate(self, input_ids, images, attention_mask, **kwargs):
                self.calls.append({"input_ids": input_ids, "images": images, "attention_mask": attention_mask,
                                   "kwargs": kwargs, "padding_side": self.config.tokenizer_padding_side})
                rows = []
                for ids, imgs in zip(input_ids, images):
                    assert int((ids == -200).sum()) == imgs.shape[0], "one <image> per image tensor"
                    assert imgs.dtype == self.dtype
                    level = float(imgs[0].mean())
                    text = f"Score: {1 + min(int(level * 5), 4)}\\nReasoning: brightness {level:.2f}.<|eot_id|>junk"
                    rows.append(self.tokenizer(text, add_special_tokens=False).input_ids)
                width = max(len(r) for r in rows)
                pad = self.tokenizer.pad_token_id
                return torch.tensor([r + [pad] * (width - len(r)) for r in rows])

        def load_pretrained_model(model_path, model_name, model_base=None, load_8bit=False, load_4bit=False,
                                  device_map="auto", device="cuda", **kwargs):
            LOAD_CALLS.append(dict(model_path=model_path, model_name=model_name, device_map=device_map,
                                   device=device, **kwargs))
            tokenizer = AutoTokenizer.from_pretrained(model_path)
            return tokenizer, FakeVilaModel(tokenizer), object(), 2048
    """,
}


@pytest.fixture
def clean_llava_modules(monkeypatch):
    """Forget any imported `llava` package before and after the test; restore sys.path."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    for key in [k for k in sys.modules if k == "llava" or k.startswith("llava.")]:
        monkeypatch.delitem(sys.modules, key)
    yield
    for key in [k for k in sys.modules if k == "llava" or k.startswith("llava.")]:
        del sys.modules[key]


@pytest.fixture
def fake_vila(tmp_path, monkeypatch, clean_llava_modules, tiny_llava_ov_dir):
    """A fake VILA checkout at $VILA_PATH and a checkpoint dir named like Llama-3-VILA1.5-8B."""
    from transformers import AutoTokenizer

    root = tmp_path / "VILA"
    for rel, body in _FAKE_VILA_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body))
    checkpoint = tmp_path / "Llama-3-VILA1.5-8B"
    AutoTokenizer.from_pretrained(tiny_llava_ov_dir).save_pretrained(checkpoint)
    monkeypatch.setenv("VILA_PATH", str(root))
    return SimpleNamespace(root=root, checkpoint=checkpoint)


def _levels_frames(levels: list[int]) -> np.ndarray:
    """Solid grey frames uint8 (N, 8, 8, 3) with the given brightness levels."""
    return np.stack([np.full((8, 8, 3), v, dtype=np.uint8) for v in levels])


def test_vila_budget_defaults_are_the_papers():
    from air.base_models.VILA1_5 import VILA1_5

    assert VILA1_5.default_max_frames == 8 and VILA1_5.default_min_frames == 8


def test_vila_missing_or_wrong_path_says_how_to_get_the_repo(monkeypatch, tmp_path, clean_llava_modules):
    from air.base_models.VILA1_5 import VILA1_5, VILAUnavailableError

    monkeypatch.delenv("VILA_PATH", raising=False)
    with pytest.raises(VILAUnavailableError, match=r"VILA_PATH is not set.*github.com/NVlabs/VILA"):
        VILA1_5.from_pretrained("Efficient-Large-Model/Llama-3-VILA1.5-8B", LoadOptions(device="cpu"))
    monkeypatch.setenv("VILA_PATH", str(tmp_path / "nowhere"))
    with pytest.raises(VILAUnavailableError, match=r"nowhere.*llava/model/builder.py does not exist.*git clone"):
        VILA1_5.from_pretrained("Efficient-Large-Model/Llama-3-VILA1.5-8B", LoadOptions(device="cpu"))


def test_vila_refuses_a_different_llava_package_already_imported(fake_vila, monkeypatch, tmp_path):
    from air.base_models.VILA1_5 import VILAUnavailableError, import_vila

    other = SimpleNamespace(__file__=str(tmp_path / "LLaVA-NeXT" / "llava" / "__init__.py"))
    monkeypatch.setitem(sys.modules, "llava", other)
    with pytest.raises(VILAUnavailableError, match="LLaVA-NeXT.*cannot be loaded"):
        import_vila()


@pytest.mark.parametrize(
    "name, mode",
    [
        ("Efficient-Large-Model/Llama-3-VILA1.5-8B", "llama_3"),
        ("Efficient-Large-Model/VILA1.5-3b", "vicuna_v1"),
        ("Efficient-Large-Model/VILA1.5-3b-s2", "vicuna_v1"),
        ("Efficient-Large-Model/VILA1.5-13b", "vicuna_v1"),
        ("Efficient-Large-Model/VILA1.5-40b", "hermes-2"),
        ("/ckpt/my-vila", "vicuna_v1"),
    ],
)
def test_vila_conversation_mode_by_name(name, mode):
    from air.base_models.VILA1_5 import conversation_mode

    assert conversation_mode(name) == mode


def test_vila_left_pad():
    from air.base_models.VILA1_5 import left_pad

    ids, mask = left_pad([[5, -200, 6], [7]], pad_id=0)
    assert ids.tolist() == [[5, -200, 6], [0, 0, 7]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_vila_prompt_building_with_image_lines():
    from air.base_models.VILA1_5 import build_prompt, image_lines, stop_string

    constants = SimpleNamespace(DEFAULT_IMAGE_TOKEN="<image>", DEFAULT_IM_START_TOKEN="<s>", DEFAULT_IM_END_TOKEN="</s>")
    assert image_lines(2, constants, False) == "<image>\n<image>\n"
    assert image_lines(1, constants, True) == "<s><image></s>\n"

    class Conv:  # the shape of VILA's Conversation, TWO separator style
        roles, sep, sep2, sep_style = ("USER", "ASSISTANT"), " ", "</s>", SimpleNamespace(name="TWO")

        def __init__(self):
            self.messages = []

        def copy(self):
            return Conv()

        def append_message(self, role, msg):
            self.messages.append((role, msg))

        def get_prompt(self):
            return "|".join(f"{r}={m}" for r, m in self.messages)

    template = Conv()
    assert build_prompt(template, 3, "Q?", constants, False) == "USER=<image>\n<image>\n<image>\nQ?|ASSISTANT=None"
    assert template.messages == []  # the shared template is copied, never mutated
    assert stop_string(template) == "</s>"
    with pytest.raises(ValueError, match="Invalid n_images: 0"):
        build_prompt(template, 0, "Q?", constants, False)


def test_vila_analysis_batches_left_padded_one_image_per_prompt(fake_vila):
    """Loads through $VILA_PATH for real; only VILA's model layer is a stand-in (see module docstring)."""
    import torch

    from air.base_models.VILA1_5 import VILA1_5

    backbone = VILA1_5.from_pretrained(
        str(fake_vila.checkpoint), LoadOptions(device="cpu", analysis_batch_size=5, analysis_max_new_tokens=7)
    )
    builder = sys.modules["llava.model.builder"]
    assert builder.__file__.startswith(str(fake_vila.root))
    load = builder.LOAD_CALLS[-1]
    assert load["model_name"] == "Llama-3-VILA1.5-8B" and load["device"] == "cpu"
    assert load["attn_implementation"] == "sdpa"
    assert backbone.model.dtype == torch.float32  # VILA loads fp16; on CPU we compute in fp32

    levels = [10, 250, 60, 120, 200, 30, 90, 180, 240, 0, 150, 100]
    scores = backbone.analyze(_levels_frames(levels), np.arange(12.0), QUERY)
    assert [fs.score for fs in scores] == [1 + min(int(v / 255 * 5), 4) for v in levels]
    assert all(fs.raw.endswith(".") and "eot_id" not in fs.raw for fs in scores)  # cut at the template's stop
    calls = backbone.model.calls
    assert [c["input_ids"].shape[0] for c in calls] == [5, 5, 2]
    assert all(c["padding_side"] == "left" for c in calls)
    assert calls[0]["kwargs"]["max_new_tokens"] == 7 and calls[0]["kwargs"]["do_sample"] is False
    prompt = backbone.tokenizer.decode([t for t in calls[0]["input_ids"][0].tolist() if t >= 0])
    assert prompt.startswith("<sys><|eot_id|><u>") and prompt.endswith("<a>")  # llama_3 template
    assert ANALYSIS_INSTRUCTIONS.splitlines()[0] in prompt and "C. a book" in prompt


def test_vila_analyze_many_mixes_videos_and_queries(fake_vila):
    from air.base_models.base import analysis_items
    from air.base_models.VILA1_5 import VILA1_5

    backbone = VILA1_5.from_pretrained(str(fake_vila.checkpoint), LoadOptions(device="cpu", analysis_batch_size=8))
    small = _levels_frames([10, 250])
    large = np.stack([np.full((12, 20, 3), v, dtype=np.uint8) for v in (120, 200)])
    items = analysis_items(small, [0.0, 1.0], QUERY) + analysis_items(large, [0.0, 1.0], "Other question?")
    scores = backbone.analyze_many([items[0], items[2], items[1], items[3]])
    assert [fs.score for fs in scores] == [1 + min(int(v / 255 * 5), 4) for v in (10, 120, 250, 200)]
    (call,) = backbone.model.calls
    prompts = [backbone.tokenizer.decode([t for t in row.tolist() if t >= 0]) for row in call["input_ids"]]
    assert "C. a book" in prompts[0] and "Other question?" in prompts[1] and "C. a book" not in prompts[1]


def test_vila_answer_uses_all_frames_in_time_order(fake_vila):
    from air.base_models.VILA1_5 import VILA1_5

    backbone = VILA1_5.from_pretrained(str(fake_vila.checkpoint), LoadOptions(device="cpu"))
    levels = [200, 40, 120, 80, 240, 0, 160, 20]
    times = np.array([5.0, 1.0, 3.0, 2.0, 6.0, 0.0, 4.0, 0.5])
    reply = backbone.answer(_levels_frames(levels), times, "Which one?", {"max_new_tokens": 5, "until": ["Reasoning"]})
    assert reply.startswith("Score: ") and "Reasoning" not in reply
    call = backbone.model.calls[-1]
    assert len(call["images"]) == 1 and call["images"][0].shape[0] == 8
    means = (call["images"][0].mean(dim=(1, 2, 3)) * 255).round().tolist()
    assert means == [float(levels[i]) for i in np.argsort(times)]
    assert int((call["input_ids"][0] == -200).sum()) == 8
    assert call["kwargs"]["max_new_tokens"] == 5


def test_vila_answer_prompt_is_lmms_eval_vilas(fake_vila):
    """lmms_eval/models/simple/vila.py, VILA.generate_until (mm_use_im_start_end False): the user turn is
    "<image>\n" per frame, then the literal "<video>\n " and the task context, in the conversation template;
    VILA.load_video takes np.linspace(0, N - 2, k, dtype=int) (the last frame is never taken)."""
    from air.base_models.VILA1_5 import VILA1_5
    from baselines.selectors import frames_by_rule

    backbone = VILA1_5.from_pretrained(str(fake_vila.checkpoint), LoadOptions(device="cpu"))
    backbone.answer(_levels_frames([10, 20, 30]), [0.0, 1.0, 2.0], "Which one?", {"max_new_tokens": 2})
    ids = backbone.model.calls[-1]["input_ids"][0].tolist()
    text = backbone.tokenizer.decode([t if t >= 0 else backbone.tokenizer.convert_tokens_to_ids("<image>") for t in ids])
    assert text == "<sys><|eot_id|><u><image>\n<image>\n<image>\n<video>\n Which one?<|eot_id|><a>"
    assert backbone.lmms_eval_model == "vila" and backbone.uniform_rule == "floor_linspace_skip_last"
    assert frames_by_rule(backbone.uniform_rule, 100, 8).tolist() == np.linspace(0, 98, 8, dtype=int).tolist()


def test_vila_rejects_logits_mode(fake_vila):
    from air.base_models.VILA1_5 import VILA1_5

    backbone = VILA1_5.from_pretrained(str(fake_vila.checkpoint), LoadOptions(device="cpu", analysis_mode="logits"))
    with pytest.raises(ValueError, match="VILA-1.5 supports analysis_mode='generate' only"):
        backbone.analyze(_levels_frames([1]), [0.0], QUERY)


@pytest.mark.parametrize("builder_name", ["build_tiny_internvl", "build_tiny_llava_onevision"])
def test_tiny_builders_are_deterministic_and_fast(builder_name, tmp_path):
    import hashlib
    import time

    from air.testing import tiny_vlms

    builder = getattr(tiny_vlms, builder_name)
    first = builder(tmp_path / "a")  # the first call also pays for importing transformers' model modules
    start = time.perf_counter()
    second = builder(tmp_path / "b")
    elapsed = time.perf_counter() - start
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    for name in ["model.safetensors", "tokenizer.json", "config.json"]:
        assert digest(first / name) == digest(second / name), name
    assert (first / "processor_config.json").is_file() or (first / "preprocessor_config.json").is_file()
    assert elapsed < 5.0  # about 0.2 s on an idle machine; generous for shared CI cores


def test_vila_frame_limits_hold_under_a_preset(fake_vila, tmp_path, caplog):
    """H_VPModel.from_pretrained on VILA-1.5 (model layer faked) with an efficiency preset: 8 / 8 hold,
    the capped preset value is logged as a warning and recorded in the trace; explicit fields override."""
    from air.model import H_VPModel
    from air.testing.tiny_clip import build_tiny_open_clip
    from air.testing.videos import write_video

    clip = build_tiny_open_clip(tmp_path / "clip")
    with caplog.at_level(logging.WARNING, logger="air.model"):
        model = H_VPModel.from_pretrained(str(fake_vila.checkpoint), clip_model=clip, preset="efficient_16_8_4",
                                          device="cpu", cache=None)
    config = model.config
    assert (config.max_frames, config.min_frames, config.candidates_per_round, config.max_rounds) == (8, 8, 8, 4)
    assert "preset 'efficient_16_8_4' sets max_frames=16, but vila1_5 keeps its own max_frames=8" in caplog.text
    video = write_video(tmp_path / "v.mp4", duration_s=400, fps=1, size=(64, 48),
                        segments=[(0, 200, "red"), (200, 400, "green")])
    data = model.select(str(video.path), "Which colour comes last?", ["red", "green"]).to_dict()
    assert data["budget"] == 8 and data["config"]["max_frames"] == 8  # 400 s would give 16 under the preset
    assert data["config_notes"] == list(model.config_notes) and len(data["config_notes"]) == 1
    explicit = H_VPModel.from_pretrained(str(fake_vila.checkpoint), clip_model=clip, preset="efficient_16_8_4",
                                         max_frames="16", device="cpu", cache=None)
    assert (explicit.config.max_frames, explicit.config.min_frames, explicit.config_notes) == (16, 8, ())
