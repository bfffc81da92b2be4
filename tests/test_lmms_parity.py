"""Parity with lmms-eval 0.7.3's own model wrappers: each backbone is asked as its reference wrapper asks.

Where the wrapper runs here (offline, transformers 5, tiny random checkpoints), both lmms-eval's wrapper
and our adapter answer the same request on the same generated 1280x720 video; `model.generate` is
replaced by a recorder (no model compute), and the test asserts the same decoded prompt, the same
visual-token count and the same visual grid: Qwen2.5-VL (chat `qwen2_5_vl`), Qwen3-VL (chat
`qwen3_vl`), Qwen2-VL (`qwen2_vl`), native InternVL (chat `internvl_hf`). Our adapter gets the frames the
wrapper decoded (recorded from its video reader), read by our own decoder at native size.

Where the wrapper cannot run here (remote-code InternVL needs the checkpoint's code; LLaVA-OneVision's
needs the LLaVA-NeXT package; VILA needs the VILA repository), the test checks our adapter against the
prompt and tiling written out from that wrapper's code, cited at each test. The prompt kwargs that a task
gives each family are checked on real lmms-eval task objects built from configs/videomme_hvp.yaml.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from air.base_models.base import LoadOptions
from air.Process_Utils.process_video import open_video

CONTEXT = ("Select the best answer.\nWhat colour is shown?\nA. red\nB. blue\nC. green\nD. gray\n"
           "Answer with the option's letter from the given choices directly.")
GEN_KWARGS = {"max_new_tokens": 4, "temperature": 0, "do_sample": False}
N_VIDEO_FRAMES, VIDEO_FPS = 32, 4.0


@pytest.fixture(scope="module")
def hd_video(tmp_path_factory) -> Path:
    """A 1280x720 H.264 video of 32 frames at 4 fps, one colour per second (frames differ over time)."""
    from air.testing.videos import write_video

    path = tmp_path_factory.mktemp("parity") / "hd.mp4"
    colours = ["red", "green", "blue", "yellow", "cyan", "magenta", "white", "gray"]
    segments = [(float(i), float(i + 1), c) for i, c in enumerate(colours)]
    video = write_video(path, duration_s=N_VIDEO_FRAMES / VIDEO_FPS, fps=VIDEO_FPS, size=(1280, 720),
                        segments=segments, seed=3)
    assert video.n_frames == N_VIDEO_FRAMES
    return video.path


class GenerateRecorder:
    """Stands in for `model.generate`: records its keyword arguments and returns the prompt plus one token."""

    def __init__(self):
        self.calls: list[dict] = []

    def __call__(self, *args, **kwargs):
        import torch

        if args:
            kwargs = {"input_ids": args[0], **kwargs}
        self.calls.append(kwargs)
        ids = kwargs["input_ids"]
        return torch.cat([ids, ids[:, -1:]], dim=1)

    @property
    def last(self) -> dict:
        assert self.calls, "model.generate was not called"
        return self.calls[-1]


def _record_generate(monkeypatch, model) -> GenerateRecorder:
    recorder = GenerateRecorder()
    monkeypatch.setattr(model, "generate", recorder)
    return recorder


def _native_frames(path: Path, indices) -> tuple[np.ndarray, np.ndarray]:
    """Frames uint8 (N, 720, 1280, 3) at native size and their timestamps (s), through our decoder."""
    with open_video(str(path)) as reader:
        return reader.read(np.asarray(indices, dtype=np.int64))


def _decoded(tokenizer, input_ids) -> str:
    return tokenizer.decode(input_ids[0].tolist())


def _count(tokenizer, input_ids, token: str) -> int:
    return int((input_ids[0] == tokenizer.convert_tokens_to_ids(token)).sum())


# ------------------------------------------------------------------------------------------ Qwen families
@pytest.fixture
def qwen_reader_log(monkeypatch) -> list[list[int]]:
    """Frame indices qwen-vl-utils decodes for lmms-eval (its decord reader, forced for every run)."""
    from qwen_vl_utils import vision_process

    log: list[list[int]] = []
    real = vision_process.VIDEO_READER_BACKENDS["decord"]

    def recording(ele):
        video, metadata, sample_fps = real(ele)
        log.append([int(i) for i in metadata["frames_indices"]])
        return video, metadata, sample_fps

    monkeypatch.setitem(vision_process.VIDEO_READER_BACKENDS, "decord", recording)
    monkeypatch.setattr(vision_process, "get_video_reader_backend", lambda: "decord")
    return log


def _chat_request(lm, video: Path):
    """One lmms-eval chat request whose messages are what lmms-eval builds from doc_to_visual + doc_to_text."""
    from lmms_eval.api.instance import Instance
    from lmms_eval.api.task import ConfigurableMessagesTask

    def doc_to_messages(doc):
        return ConfigurableMessagesTask._build_user_turn([str(video)], CONTEXT)

    lm.task_dict = {"parity": {"test": {0: {"video": str(video)}}}}
    return Instance(request_type="generate_until", idx=0,
                    arguments=(CONTEXT, doc_to_messages, dict(GEN_KWARGS), 0, "parity", "test"),
                    metadata={"task": "parity", "doc_id": 0, "repeats": 1})


def _simple_request(lm, video: Path):
    """One lmms-eval simple-model request (context, gen_kwargs, doc_to_visual, doc_id, task, split)."""
    from lmms_eval.api.instance import Instance

    lm.task_dict = {"parity": {"test": {0: {"video": str(video)}}}}
    return Instance(request_type="generate_until", idx=0,
                    arguments=(CONTEXT, dict(GEN_KWARGS), lambda doc: [doc["video"]], 0, "parity", "test"),
                    metadata={"task": "parity", "doc_id": 0, "repeats": 1})


def _assert_same_qwen_inputs(theirs: dict, ours: dict, tokenizer) -> None:
    assert _decoded(tokenizer, ours["input_ids"]) == _decoded(tokenizer, theirs["input_ids"])
    assert _count(tokenizer, ours["input_ids"], "<|video_pad|>") == _count(tokenizer, theirs["input_ids"], "<|video_pad|>")
    assert ours["video_grid_thw"].tolist() == theirs["video_grid_thw"].tolist()
    assert tuple(ours["pixel_values_videos"].shape) == tuple(theirs["pixel_values_videos"].shape)


def test_qwen2_5_vl_asks_as_lmms_eval_chat_wrapper(tiny_qwen_dirs, hd_video, qwen_reader_log, monkeypatch):
    from lmms_eval.models.chat.qwen2_5_vl import Qwen2_5_VL as LmmsQwen25

    from air.base_models.Qwen2_5VL import Qwen2_5VL
    from baselines.selectors import frames_by_rule

    lm = LmmsQwen25(pretrained=tiny_qwen_dirs["qwen2_5_vl"], device="cpu", device_map="cpu", max_num_frames=8)
    theirs = _record_generate(monkeypatch, lm.model)
    lm.generate_until([_chat_request(lm, hd_video)])
    (indices,) = qwen_reader_log
    # our uniform rule for the family picks the frames the wrapper decoded
    ours_backbone = Qwen2_5VL.from_pretrained(tiny_qwen_dirs["qwen2_5_vl"], LoadOptions(device="cpu"))
    assert frames_by_rule(ours_backbone.uniform_rule, N_VIDEO_FRAMES, 8).tolist() == indices
    ours = _record_generate(monkeypatch, ours_backbone.model)
    frames, times = _native_frames(hd_video, indices)
    ours_backbone.answer(frames, times, CONTEXT, GEN_KWARGS)

    tokenizer = ours_backbone.processor.tokenizer
    _assert_same_qwen_inputs(theirs.last, ours.last, tokenizer)
    text = _decoded(tokenizer, ours.last["input_ids"])
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n")
    # 720p frames: 560x1008 pixels = 20x36 merged groups, 720 tokens per temporal patch of 2 frames
    assert ours.last["video_grid_thw"].tolist() == [[4, 40, 72]]
    assert _count(tokenizer, ours.last["input_ids"], "<|video_pad|>") == 4 * 720
    # Kept on purpose (README): our time step is the frames' mean spacing (8 frames over 7.75 s), theirs
    # n / duration (8 frames per 8 s).
    assert ours.last["second_per_grid_ts"].tolist() == pytest.approx([2 * 7.75 / 7])
    assert theirs.last["second_per_grid_ts"].tolist() == pytest.approx([2.0])


def test_qwen3_vl_asks_as_lmms_eval_chat_wrapper(tiny_qwen_dirs, hd_video, qwen_reader_log, monkeypatch):
    from lmms_eval.models.chat.qwen3_vl import Qwen3_VL as LmmsQwen3

    from air.base_models.Qwen3_VL import Qwen3VL
    from baselines.selectors import frames_by_rule

    lm = LmmsQwen3(pretrained=tiny_qwen_dirs["qwen3_vl"], device="cpu", device_map="cpu", max_num_frames=8)
    theirs = _record_generate(monkeypatch, lm.model)
    lm.generate_until([_chat_request(lm, hd_video)])
    (indices,) = qwen_reader_log
    backbone = Qwen3VL.from_pretrained(tiny_qwen_dirs["qwen3_vl"], LoadOptions(device="cpu"))
    assert frames_by_rule(backbone.uniform_rule, N_VIDEO_FRAMES, 8).tolist() == indices
    ours = _record_generate(monkeypatch, backbone.model)
    frames, times = _native_frames(hd_video, indices)
    backbone.answer(frames, times, CONTEXT, GEN_KWARGS)

    tokenizer = backbone.processor.tokenizer
    _assert_same_qwen_inputs(theirs.last, ours.last, tokenizer)
    text = _decoded(tokenizer, ours.last["input_ids"])
    # the tiny template has no default system turn: this one is sent explicitly, as lmms-eval does
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")
    # frames 0, 4, 9, 13, 18, 22, 27, 31 at 4 fps; each temporal patch shows the mean time of its two frames
    assert re.findall(r"<([\d.]+) seconds>", text) == ["0.5", "2.8", "5.0", "7.2"]
    # 720p frames: 640x1152 pixels = 20x36 groups of 32x32 pixels per temporal patch
    assert ours.last["video_grid_thw"].tolist() == [[4, 40, 72]]


def test_qwen2_vl_asks_as_lmms_eval_wrapper_for_the_same_frames(tiny_qwen_dirs, hd_video, qwen_reader_log,
                                                                monkeypatch):
    from lmms_eval.models.simple.qwen2_vl import Qwen2_VL as LmmsQwen2

    from air.base_models.Qwen2_VL import Qwen2VL

    lm = LmmsQwen2(pretrained=tiny_qwen_dirs["qwen2_vl"], device="cpu", device_map="cpu", max_num_frames=8)
    theirs = _record_generate(monkeypatch, lm.model)
    lm.generate_until([_simple_request(lm, hd_video)])
    (decoded,) = qwen_reader_log
    # lmms_eval/models/simple/qwen2_vl.py, Qwen2_VL.generate_until: qwen-vl-utils decodes at 2 fps, then
    # the wrapper keeps np.unique(np.linspace(0, n - 1, max_num_frames, dtype=int)) of those frames (its
    # second linspace: uneven spacing; our uniform rule does not repeat it, see README).
    kept = np.unique(np.linspace(0, len(decoded) - 1, 8, dtype=int))
    indices = [decoded[i] for i in kept]
    backbone = Qwen2VL.from_pretrained(tiny_qwen_dirs["qwen2_vl"], LoadOptions(device="cpu"))
    ours = _record_generate(monkeypatch, backbone.model)
    frames, times = _native_frames(hd_video, indices)
    backbone.answer(frames, times, CONTEXT, GEN_KWARGS)

    tokenizer = backbone.processor.tokenizer
    _assert_same_qwen_inputs(theirs.last, ours.last, tokenizer)
    assert ours.last["video_grid_thw"].tolist() == [[4, 40, 72]]


# ------------------------------------------------------------------------------------- InternVL (native)
def test_native_internvl_asks_as_lmms_eval_internvl_hf(tiny_internvl_dir, hd_video, monkeypatch):
    from lmms_eval.models.chat.internvl_hf import InternVLHf
    from transformers import InternVLVideoProcessor

    from air.base_models.InternVL3 import InternVL3
    from baselines.selectors import frames_by_rule

    sampled: list[list[int]] = []
    real = InternVLVideoProcessor.sample_frames

    def recording(self, metadata, *args, **kwargs):
        indices = real(self, metadata, *args, **kwargs)
        sampled.append([int(i) for i in indices])
        return indices

    monkeypatch.setattr(InternVLVideoProcessor, "sample_frames", recording)
    lm = InternVLHf(pretrained=str(tiny_internvl_dir), device="cpu", device_map="cpu", num_frames=8)
    theirs = _record_generate(monkeypatch, lm.model)
    lm.generate_until([_chat_request(lm, hd_video)])
    (indices,) = sampled
    backbone = InternVL3.from_pretrained(str(tiny_internvl_dir), LoadOptions(device="cpu"))
    assert backbone.lmms_eval_model == "internvl_hf" and backbone.system_prompt is None
    assert frames_by_rule(backbone.uniform_rule, N_VIDEO_FRAMES, 8).tolist() == indices == list(range(2, 32, 4))
    ours = _record_generate(monkeypatch, backbone.model)
    frames, times = _native_frames(hd_video, indices)
    backbone.answer(frames, times, CONTEXT, GEN_KWARGS)

    tokenizer = backbone.processor.tokenizer
    assert _decoded(tokenizer, ours.last["input_ids"]) == _decoded(tokenizer, theirs.last["input_ids"])
    assert _count(tokenizer, ours.last["input_ids"], "<IMG_CONTEXT>") == 8 * 4  # one 56-pixel tile per frame
    assert tuple(ours.last["pixel_values"].shape) == tuple(theirs.last["pixel_values"].shape) == (8, 3, 56, 56)


# ----------------------------------------------------------------------------------- InternVL remote code
def test_remote_internvl_frames_follow_lmms_eval_internvl3_get_index():
    from lmms_eval.models.simple.internvl3 import get_index

    from baselines.selectors import segment_centre_frames

    for n_frames in (9, 32, 97, 300, 1801, 54000):
        for k in (8, 16, 32):
            expected = np.unique(get_index(None, 30.0, n_frames - 1, first_idx=0, num_segments=k))
            assert segment_centre_frames(n_frames, k).tolist() == expected.tolist(), (n_frames, k)


@pytest.mark.parametrize("n_frames", [32, 24, 16, 6])
@pytest.mark.parametrize("size", [(1280, 720), (640, 480), (720, 1280)])
def test_remote_internvl_tiles_per_frame_follow_lmms_eval_internvl3(n_frames, size):
    """Tile counts of lmms-eval's internvl3 load_video: dynamic_preprocess(max_num=max(1, min(12, 64 // n))),
    thumbnail added (lmms_eval/models/simple/internvl3.py, InternVL3.generate_until, modality video)."""
    from lmms_eval.models.simple.internvl3 import dynamic_preprocess
    from PIL import Image

    from air.base_models.InternVL3 import tile_image, video_max_tiles

    max_num = max(1, min(12, 64 // n_frames))
    assert video_max_tiles(n_frames) == max_num
    width, height = size
    frame = np.zeros((height, width, 3), np.uint8)
    theirs = dynamic_preprocess(Image.fromarray(frame), image_size=448, use_thumbnail=True, max_num=max_num)
    ours = tile_image(frame, max_tiles=max_num)
    tie = (size, n_frames) in {((1280, 720), 6), ((720, 1280), 6)}  # 10 tiles allowed: 2x1 or 4x2
    if not tie:
        assert len(ours) == len(theirs)
    else:  # lmms-eval's copy breaks aspect-ratio ties by set order; ours by InternVL's own rule (README)
        assert len(ours) > len(theirs)


def test_remote_internvl_answer_sends_lmms_eval_video_prompt_and_tiles(hd_video):
    """lmms-eval's internvl3 video branch: "Frame{i}: <image>\\n" per frame + context, model.chat with one
    num_patches entry per frame (3 tiles for a 16:9 frame of a 32-frame video: 2x1 + thumbnail)."""
    from lmms_eval.models.simple.internvl3 import load_video

    from air.base_models.InternVL3 import _RemoteInternVL

    class FakeChat:  # the checkpoint's remote code cannot be fetched here: its chat() is recorded
        device, dtype = "cpu", None

        def __init__(self):
            import torch

            self.dtype, self.calls = torch.float32, []

        def chat(self, tokenizer, pixel_values, question, generation_config, **kwargs):
            self.calls.append({"pixel_values": pixel_values, "question": question, **kwargs})
            return "A"

    model = FakeChat()
    backbone = _RemoteInternVL(model, None, LoadOptions(device="cpu"), "OpenGVLab/InternVL3-8B")
    indices = backbone_indices = list(range(N_VIDEO_FRAMES))
    frames, times = _native_frames(hd_video, backbone_indices)
    backbone.answer(frames, times, CONTEXT, GEN_KWARGS)
    (call,) = model.calls
    assert call["question"] == "".join(f"Frame{i + 1}: <image>\n" for i in range(32)) + CONTEXT
    theirs, patches = load_video(str(hd_video), num_segments=32, max_num=max(1, min(12, 64 // 32)))
    # lmms-eval's get_index on a 32-frame video with 32 segments takes every frame
    assert len(indices) == len(patches)
    assert call["num_patches_list"] == patches == [3] * 32
    assert tuple(call["pixel_values"].shape) == tuple(theirs.shape) == (96, 3, 448, 448)


# -------------------------------------------------------------------------------------- LLaVA-OneVision
def test_llava_onevision_asks_as_lmms_eval_llava_onevision(tiny_llava_ov_dir, hd_video, monkeypatch):
    """lmms_eval/models/simple/llava_onevision.py, Llava_OneVision.generate_until with the default
    conv_template "qwen_1_5" and one <image> placeholder for the video: the prompt is LLaVA-NeXT's
    conv_qwen ChatML "<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n<|im_start|>user\\n
    <image>\\n{context}<|im_end|>\\n<|im_start|>assistant\\n"; frames np.linspace(0, N - 1, k, dtype=int)
    (Llava_OneVision.load_video); each frame pooled 2x2 (mm_spatial_pool_stride 2), plus one newline token."""
    from air.base_models.Llava_OV import LlavaOneVision
    from baselines.selectors import frames_by_rule

    backbone = LlavaOneVision.from_pretrained(str(tiny_llava_ov_dir), LoadOptions(device="cpu"))
    k = 7
    indices = frames_by_rule(backbone.uniform_rule, N_VIDEO_FRAMES, k)
    assert indices.tolist() == np.linspace(0, N_VIDEO_FRAMES - 1, k, dtype=int).tolist()
    ours = _record_generate(monkeypatch, backbone.model)
    frames, times = _native_frames(hd_video, indices)
    backbone.answer(frames, times, CONTEXT, GEN_KWARGS)

    tokenizer = backbone.processor.tokenizer
    text = _decoded(tokenizer, ours.last["input_ids"])
    expected = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                "<video>\n" + CONTEXT + "<|im_end|>\n<|im_start|>assistant\n")
    assert re.sub(r"(<video>)+", "<video>", text) == expected
    pooled = math.ceil((56 // 14) / 2) ** 2  # 4 tokens per 56-pixel frame (14 x 14 = 196 at 384 pixels)
    assert _count(tokenizer, ours.last["input_ids"], "<video>") == k * pooled + 1


def test_llava_onevision_analysis_uses_the_same_conversation(tiny_llava_ov_dir):
    from air.base_models.Llava_OV import LlavaOneVision

    backbone = LlavaOneVision.from_pretrained(str(tiny_llava_ov_dir), LoadOptions(device="cpu"))
    batch = backbone._analysis_inputs(np.zeros((1, 56, 56, 3), np.uint8), "Rate it.")
    text = backbone.processor.tokenizer.decode(batch["input_ids"][0].tolist())
    assert re.sub(r"(<image>)+", "<image>", text) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<image>\nRate it.<|im_end|>\n"
        "<|im_start|>assistant\n")


# ---------------------------------------------------------------------------------- analysis framing
@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_qwen_analysis_prompts_carry_the_answering_system_prompt(tiny_qwen_dirs, family):
    from air.base_models import resolve_backbone

    backbone = resolve_backbone(tiny_qwen_dirs[family], family).from_pretrained(
        tiny_qwen_dirs[family], LoadOptions(device="cpu"))
    batch = backbone._analysis_inputs(np.zeros((1, 64, 64, 3), np.uint8), "Rate it.")
    text = backbone.processor.tokenizer.decode(batch["input_ids"][0].tolist())
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n")


def test_analysis_frames_are_cut_to_1024_pixels(tiny_qwen_dirs, monkeypatch):
    from air.base_models.Qwen2_5VL import Qwen2_5VL

    backbone = Qwen2_5VL.from_pretrained(tiny_qwen_dirs["qwen2_5_vl"], LoadOptions(device="cpu"))
    seen = []

    class Seen(Exception):
        pass

    def inputs(frames, prompt, *args, **kwargs):
        seen.append(frames.shape)
        raise Seen

    monkeypatch.setattr(backbone, "_analysis_inputs", inputs)
    with pytest.raises(Seen):
        backbone.analyze(np.zeros((2, 1152, 2048, 3), np.uint8), [0.0, 1.0], "Q?")
    assert seen == [(2, 576, 1024, 3)]


# ------------------------------------------------------------------------------ Qwen per-frame budget
@pytest.mark.parametrize("n_frames", [2, 8, 32, 300, 768])
@pytest.mark.parametrize(("factor", "lo", "hi"), [(28, 256 * 28 * 28, 1605632), (28, 3136, 602112),
                                                   (32, 256 * 28 * 28, 1605632)])
def test_video_frame_budget_is_qwen_vl_utils_fetch_video(n_frames, factor, lo, hi, monkeypatch):
    """fetch_video's per-frame max_pixels (qwen_vl_utils/vision_process.py) for the wrappers' defaults."""
    import torch
    from qwen_vl_utils import vision_process

    from air.base_models.utils.qwen_vl_utils import video_frame_budget

    seen = {}

    def fake_resize(height, width, factor, min_pixels=None, max_pixels=None):
        seen.update(min_pixels=min_pixels, max_pixels=max_pixels)
        return 2 * factor, 2 * factor

    monkeypatch.setattr(vision_process, "smart_resize", fake_resize)
    frames = [np.zeros((4, 4, 3), np.uint8)] * n_frames  # a list of frames: no decoding involved
    monkeypatch.setattr(vision_process, "fetch_image", lambda ele, *a: torch.zeros(3, 4, 4).numpy().transpose(1, 2, 0))
    vision_process.fetch_video({"video": frames, "min_pixels": lo, "max_pixels": hi}, image_patch_size=factor // 2)
    assert video_frame_budget(n_frames, factor=factor, min_pixels=lo, max_pixels=hi) == (
        seen["min_pixels"], pytest.approx(seen["max_pixels"]))


# ---------------------------------------------------------------------------------- task prompt kwargs
@pytest.fixture(scope="module")
def videomme_task(tmp_path_factory):
    """configs/videomme_hvp.yaml as lmms-eval builds it for `--model hvp`, on a one-row local dataset."""
    import json

    from lmms_eval.tasks import TaskManager, get_task_dict

    root = tmp_path_factory.mktemp("tasks")
    doc = {"videoID": "v1", "question_id": "001-1", "question": "What colour is shown?", "duration": "short",
           "domain": "Knowledge", "sub_category": "Art", "task_type": "Counting Problem",
           "options": ["A. red", "B. blue", "C. green", "D. gray"], "answer": "A", "url": "x"}
    (root / "data.jsonl").write_text(json.dumps(doc) + "\n")
    source = (Path(__file__).resolve().parents[1] / "configs" / "videomme_hvp.yaml").read_text()
    body = re.sub(r"dataset_path: .*\ndataset_kwargs:\n(  .*\n)+", "", source)
    assert body != source
    (root / "videomme_hvp.yaml").write_text(
        f"dataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {root / 'data.jsonl'}\n" + body)
    task = get_task_dict(["videomme_hvp"], TaskManager(include_path=str(root), include_defaults=False,
                                                       model_name="hvp"))["videomme_hvp"]
    task.build_all_requests(limit=1, rank=0, world_size=1)
    (instance,) = task.instances
    return task, instance.args


@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_5_vl", "internvl3", None])
def test_task_prompt_uses_the_family_prompt_kwargs(videomme_task, family):
    from air.task_prompts import family_prompt

    task, (context, _, doc_to_visual, doc_id, task_name, split) = videomme_task
    doc = task.dataset[split][doc_id]
    assert doc_to_visual.__self__ is task
    prompt = family_prompt(task_name, doc, context, doc_to_visual, family)
    if family == "qwen3_vl":  # Video-MME's qwen3_vl entry, as lmms-eval's qwen3_vl gets it
        assert prompt == ("Question: What colour is shown?\nOptions:\nA. red\nB. blue\nC. green\nD. gray\n"
                          "Answer with the option letter only.")
    else:  # no entry of their own: default, which is what hvp got
        assert prompt == context
        assert context.endswith("D. gray\n\nAnswer with the option's letter from the given choices directly.")


def test_kwargs_for_model_follows_lmms_eval_resolution():
    from air.task_prompts import kwargs_for_model

    raw = {"default": {"post_prompt": "d"}, "qwen3_vl": {"post_prompt": "q", "format": "qwen3_vl"}}
    assert kwargs_for_model(raw, "qwen3_vl") == ({"post_prompt": "q", "format": "qwen3_vl"}, "qwen3_vl")
    merged, key = kwargs_for_model(raw, "internvl_hf")
    assert key == "default" and merged["post_prompt"] == "d" and "qwen3_vl" in merged
    assert kwargs_for_model(None, "qwen3_vl") == (None, None)
    assert kwargs_for_model({"dataset": {"a": 1}}, "x") == ({"dataset": {"a": 1}, "a": 1}, "dataset")


def test_subtitle_task_prompt_gets_the_family_kwargs(videomme_task, monkeypatch):
    from types import SimpleNamespace

    from air.task_prompts import family_prompt
    from benchmark_utils import mme_utils

    task, (context, _, doc_to_visual, doc_id, _, split) = videomme_task
    seen = {}
    monkeypatch.setattr(mme_utils, "subtitle_prompt", lambda doc, ts, **kw: seen.update(ts=ts, **kw) or "P")
    builder = family_prompt("videomme_w_subtitle_hvp", task.dataset[split][doc_id], context, doc_to_visual, "qwen3_vl")
    assert builder(SimpleNamespace(timestamps_s=(1.0, 2.0), fps=25.0)) == "P"
    assert seen["ts"] == [1.0, 2.0] and seen["fps"] == 25.0
    assert seen["lmms_eval_specific_kwargs"]["format"] == "qwen3_vl"


# -------------------------------------------------------------------------------------- uniform rules
def test_uniform_rules_match_the_wrappers_index_code():
    """Each rule against the expression in the wrapper it reproduces (float64 numpy; lmms-eval's torch
    float32 versions agree below 60,000 frames, checked below for the Qwen and internvl_hf rules)."""
    import torch

    from baselines.selectors import frames_by_rule

    for n in (9, 33, 100, 901, 7200, 59999):
        for k in (8, 16, 32):
            if k > n:
                continue
            qwen = torch.linspace(0, n - 1, k).round().long().tolist()  # qwen-vl-utils _read_video_*
            assert frames_by_rule("linspace", n, k).tolist() == sorted(set(qwen))
            hf = torch.arange(n / k / 2, n, n / k).int().tolist()  # InternVLVideoProcessor.sample_frames
            assert frames_by_rule("shifted_arange", n, k).tolist() == hf
            llava = np.linspace(0, n - 1, k, dtype=int)  # Llava_OneVision.load_video
            assert frames_by_rule("floor_linspace", n, k).tolist() == np.unique(llava).tolist()
            vila = np.linspace(0, n - 2, k, dtype=int)  # VILA.load_video
            assert frames_by_rule("floor_linspace_skip_last", n, k).tolist() == np.unique(vila).tolist()


def test_every_backbone_names_a_known_rule_and_lmms_eval_model():
    import importlib

    from air.base_models import ADAPTER_PATHS
    from air.base_models.InternVL3 import _RemoteInternVL
    from baselines.selectors import UNIFORM_RULES

    expected = {"qwen2_5_vl": "qwen2_5_vl", "qwen2_vl": "qwen2_vl", "qwen3_vl": "qwen3_vl",
                "internvl3": "internvl_hf", "llava_onevision": "llava_onevision", "vila1_5": "vila"}
    assert set(ADAPTER_PATHS) == set(expected)
    for name, path in ADAPTER_PATHS.items():
        module, cls_name = path.split(":")
        cls = getattr(importlib.import_module(module), cls_name)
        assert cls.lmms_eval_model == expected[name], name
        assert cls.uniform_rule in UNIFORM_RULES, name
    assert _RemoteInternVL.lmms_eval_model == "internvl3" and _RemoteInternVL.uniform_rule == "segment_centres"
