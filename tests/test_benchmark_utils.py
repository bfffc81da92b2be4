"""benchmark_utils on docs shaped like the real lmms-eval dataset rows (fixtures in tests/fixtures/benchmark_docs)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import benchmark_utils
from benchmark_utils import (
    MissingVideoError,
    egoschema_utils,
    lvb_utils,
    mlvu_utils,
    mme_utils,
    nextqa_utils,
)
from benchmark_utils.common import (
    split_inline_options,
    strip_option_letter,
    strip_option_letters,
)

FIXTURES = Path(__file__).parent / "fixtures" / "benchmark_docs"


def load(name: str) -> list[dict]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00")
    return path


# ---------------------------------------------------------------- option letters


@pytest.mark.parametrize(
    ("text", "letter", "expected"),
    [
        ("A. Apples.", "A", "Apples."),
        ("(B) Blue", "B", "Blue"),
        ("C) Green", "C", "Green"),
        ("D: Yellow", "D", "Yellow"),
        ("  E.   spaced  ", "E", "spaced"),
        ("A man walks in", "A", "A man walks in"),
        ("B. wrong letter", "A", "B. wrong letter"),
        ("A.M. meeting", None, "M. meeting"),
        ("no letter", None, "no letter"),
    ],
)
def test_strip_option_letter(text, letter, expected):
    assert strip_option_letter(text, letter) == expected


def test_strip_option_letters_uses_position_letters():
    assert strip_option_letters(["A. x", "B. y", "D. z"]) == ["x", "y", "D. z"]


def test_split_inline_options_keeps_question_lines_and_stops_at_out_of_order_letters():
    text = "First line\nsecond line\n(A) one\n(B) two\n(D) not C\n"
    assert split_inline_options(text) == ("First line\nsecond line", ["one", "two"])
    assert split_inline_options("No options here?") == ("No options here?", [])


# ---------------------------------------------------------------- Video-MME


def test_videomme_question_and_options():
    doc = load("videomme.json")[0]
    assert mme_utils.question(doc).startswith("When demonstrating the Germany modern Christmas tree")
    assert mme_utils.options(doc) == ["Apples.", "Candles.", "Berries.", "The three kinds are of the same number."]


def test_videomme_video_path_layout_and_fallback_suffixes(tmp_path, monkeypatch):
    doc = load("videomme.json")[1]  # videoID starts with '-'
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    data = tmp_path / "videomme" / "data"
    mkv = touch(data / "-3t0p8VfTzs.mkv")
    assert mme_utils.video_path(doc) == str(mkv)
    mp4 = touch(data / "-3t0p8VfTzs.mp4")
    assert mme_utils.video_path(doc) == str(mp4)  # .mp4 is tried first, as lmms-eval does


def test_missing_video_raises_with_every_path_tried(tmp_path, monkeypatch):
    doc = load("videomme.json")[0]
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(MissingVideoError) as info:
        mme_utils.video_path(doc)
    error = info.value
    assert isinstance(error, FileNotFoundError)
    expected = [str(tmp_path / "videomme" / "data" / f"fFjv93ACGo8{s}") for s in (".mp4", ".MP4", ".mkv")]
    assert list(error.tried) == expected
    message = str(error)
    for path in expected:
        assert path in message
    assert "fFjv93ACGo8" in message and "001-1" in message and "Video-MME" in message
    assert error.filename == expected[0]


def test_hf_home_is_read_at_call_time_and_override_wins(tmp_path, monkeypatch):
    doc = load("egoschema.json")[0]
    first, second, explicit = tmp_path / "one", tmp_path / "two", tmp_path / "three"
    name = doc["video_idx"] + ".mp4"
    touch(second / "egoschema" / "videos" / name)
    touch(explicit / "egoschema" / "videos" / name)
    monkeypatch.setenv("HF_HOME", str(first))
    with pytest.raises(MissingVideoError, match=str(first)):
        egoschema_utils.video_path(doc)
    monkeypatch.setenv("HF_HOME", str(second))
    assert egoschema_utils.video_path(doc) == str(second / "egoschema" / "videos" / name)
    assert egoschema_utils.video_path(doc, hf_home=str(explicit)).startswith(str(explicit))


def test_hf_home_tilde_is_expanded(tmp_path, monkeypatch):
    doc = load("egoschema.json")[0]
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HF_HOME", "~/hf")
    path = touch(tmp_path / "hf" / "egoschema" / "videos" / (doc["video_idx"] + ".MP4"))
    assert egoschema_utils.video_path(doc) == str(path)


# ---------------------------------------------------------------- Video-MME subtitles


def put_srt(hf_home: Path, video_id: str, content: str) -> Path:
    path = hf_home / "videomme" / "subtitle" / f"{video_id}.srt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


@pytest.fixture
def mme_with_subtitles(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    put_srt(tmp_path, "fFjv93ACGo8", (FIXTURES / "videomme_fFjv93ACGo8.srt").read_text(encoding="utf-8"))
    return load("videomme.json")[0]


def test_parse_srt_skips_broken_cues_and_reads_plain_and_multiline_text():
    cues = mme_utils.load_subtitles(str(FIXTURES / "videomme_fFjv93ACGo8.srt"))
    assert [(c.start_s, c.end_s) for c in cues] == [(0.0, 2.5), (2.0, 4.0), (10.0, 12.0), (60.5, 61.0)]
    assert cues[2].text == "Apples, candles and berries."
    assert cues[3].text == "A cue without a font tag."


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:00:02,500", 2.5), ("01:02:03,004", 3723.004), ("00:00:01.5", 1.5), ("02:03,250", 123.25), ("00:00:07", 7.0)],
)
def test_parse_srt_time(text, seconds):
    assert mme_utils.parse_srt_time(text) == pytest.approx(seconds)


def test_parse_srt_time_rejects_garbage():
    with pytest.raises(ValueError, match="Invalid subtitle time"):
        mme_utils.parse_srt_time("13,xyz")


def test_subtitles_at_overlapping_cues_both_returned(mme_with_subtitles):
    assert mme_utils.subtitles_at(mme_with_subtitles, [2.2]) == [
        "Welcome to the Christmas market.",
        "Today we decorate a tree.",
    ]


def test_subtitles_at_gap_and_end_exclusive_give_nothing(mme_with_subtitles):
    assert mme_utils.subtitles_at(mme_with_subtitles, [5.0, 9.99, 4.0, 12.0, 100.0]) == []


def test_subtitles_at_selected_frames_only_in_time_order_once(mme_with_subtitles):
    lines = mme_utils.subtitles_at(mme_with_subtitles, [60.7, 11.0, 0.5, 0.1, 10.5])
    assert lines == ["Welcome to the Christmas market.", "Apples, candles and berries.", "A cue without a font tag."]


def test_subtitles_at_without_subtitle_file_is_empty(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    assert mme_utils.subtitles_at(load("videomme.json")[1], [0.0, 1.0]) == []


def test_subtitles_windows_line_endings_and_bom(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    doc = load("videomme.json")[1]
    content = "\ufeff1\r\n00:00:01,000 --> 00:00:03,000 X1:10 X2:20\r\n<i>Hello</i> there\r\n\r\n"
    put_srt(tmp_path, doc["videoID"], content)
    assert mme_utils.subtitles_at(doc, [2.0]) == ["Hello there"]


def test_subtitle_prompt_layout(mme_with_subtitles):
    prompt = mme_utils.subtitle_prompt(mme_with_subtitles, [2.2, 10.0])
    expected = (
        "This video's subtitles are listed below: \n"
        "Welcome to the Christmas market.\nToday we decorate a tree.\nApples, candles and berries.\n"
        "Select the best answer to the following multiple-choice question based on the video and the subtitles. "
        "Respond with only the letter (A, B, C, or D) of the correct option.\n"
        + mme_with_subtitles["question"]
        + "\nA. Apples.\nB. Candles.\nC. Berries.\nD. The three kinds are of the same number.\n"
        "The best answer is:"
    )
    assert prompt == expected


def test_subtitle_prompt_without_file_and_qwen3_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    doc = load("videomme.json")[1]
    prompt = mme_utils.subtitle_prompt(doc, [1.0])
    assert prompt.startswith("This video's subtitles are listed below: \nNo subtitles available\nSelect the best")
    qwen = mme_utils.subtitle_prompt(
        doc, [1.0], lmms_eval_specific_kwargs={"format": "qwen3_vl", "pre_prompt": "Question: ", "post_prompt": "Answer with the option letter only."}
    )
    assert qwen == (
        "This video's subtitles are listed below: \nNo subtitles available\nQuestion: What happens right after the first goal?\n"
        "Options:\nA. A player is sent off.\nB. The coach shouts at the referee.\nC. The goalkeeper is replaced.\n"
        "D. The scorer runs to the fans.\nAnswer with the option letter only."
    )


def test_subtitle_prompt_matches_lmms_eval_at_its_own_uniform_frames(tmp_path):
    """Same frames as lmms-eval's videomme_w_subtitle (32 uniform frames) -> the same prompt text."""
    pytest.importorskip("cv2")
    av = pytest.importorskip("av")
    np = pytest.importorskip("numpy")
    lmms_utils = pytest.importorskip("lmms_eval.tasks.videomme.utils")
    hf_home = Path(lmms_utils.base_cache_dir)
    doc = dict(load("videomme.json")[0], videoID="airparity" + os.urandom(4).hex())
    video = hf_home / lmms_utils.cache_name / "data" / (doc["videoID"] + ".mp4")
    video.parent.mkdir(parents=True, exist_ok=True)
    fps, n_frames = 10, 100
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 2, dtype=np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    srt = (
        '1\n00:00:00,000 --> 00:00:02,500\n<font color="white" size=".72c">one</font>\n\n'
        '2\n00:00:02,000 --> 00:00:04,000\n<font color="white" size=".72c">two</font>\n\n'
        '3\n00:00:06,050 --> 00:00:06,150\n<font color="white" size=".72c">between frames</font>\n\n'
        '4\n00:00:09,000 --> 00:00:12,000\n<font color="white" size=".72c">four</font>\n'
    )
    srt_path = put_srt(hf_home / "", doc["videoID"], srt)
    try:
        theirs = lmms_utils.videomme_doc_to_text_subtitle(doc, {"frame_num": 32, "pre_prompt": "", "post_prompt": ""})
        indices = np.linspace(0, n_frames - 1, 32, dtype=int)
        ours = mme_utils.subtitle_prompt(doc, (indices / fps).tolist(), hf_home=str(hf_home), fps=fps)
        assert ours == theirs
        assert "one\ntwo\nbetween frames\nfour" in ours
        # Without fps the cue that starts between two frame times (6.05 s; frame 60 is at 6.0 s) is not covered.
        continuous = mme_utils.subtitle_prompt(doc, (indices / fps).tolist(), hf_home=str(hf_home))
        assert "between frames" not in continuous and "one\ntwo\nfour" in continuous
    finally:
        video.unlink()
        srt_path.unlink()


# ---------------------------------------------------------------- MLVU


def test_mlvu_dev_question_options_and_video(tmp_path, monkeypatch):
    doc = load("mlvu_dev.json")[0]
    assert mlvu_utils.question(doc) == "What color is the coat of the man who opens the door?"
    assert mlvu_utils.options(doc) == ["Red", "Blue", "Green", "Yellow"]
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    path = touch(tmp_path / "mlvu" / "movie101_66.mp4")
    assert mlvu_utils.video_path(doc) == str(path)
    with pytest.raises(MissingVideoError, match=str(tmp_path / "mlvu_test" / "movie101_66.mp4")):
        mlvu_utils.video_path(doc, split="test")
    with pytest.raises(ValueError, match="Invalid MLVU split"):
        mlvu_utils.video_path(doc, split="val")


def test_mlvu_options_fall_back_to_inline_lines():
    doc = dict(load("mlvu_dev.json")[1])
    doc["candidates"] = []
    assert mlvu_utils.options(doc) == ["A stick", "A ball", "A shoe", "A bone"]


def test_mlvu_test_six_options(tmp_path):
    doc = load("mlvu_test.json")[0]
    assert benchmark_utils.doc_query("mlvu_test", doc) == (
        "How many goals are scored in the second half?",
        ["0", "1", "2", "3", "4", "5"],
    )
    path = touch(tmp_path / "mlvu_test" / "sportsQA_4.mp4")
    assert benchmark_utils.doc_video("mlvu_test_hvp", doc, hf_home=str(tmp_path)) == str(path)


# ---------------------------------------------------------------- LongVideoBench


def test_lvb_options_skip_na_and_video_layout(tmp_path, monkeypatch):
    short, long_ = load("longvideobench_val.json")
    assert lvb_utils.options(short) == [
        "Welcome back to the news.",
        "The weather is getting colder.",
        "Stocks rose sharply today.",
        "Thanks for watching.",
    ]
    assert len(lvb_utils.options(long_)) == 5
    assert lvb_utils.question(short).startswith("In the video, which subtitles")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(MissingVideoError) as info:
        lvb_utils.video_path(short)
    assert info.value.tried == (str(tmp_path / "datasets" / "longvideobench" / "videos" / "86CxyhFV9MI.mp4"),)
    path = touch(tmp_path / "datasets" / "longvideobench" / "videos" / "86CxyhFV9MI.mp4")
    assert benchmark_utils.doc_video("longvideobench_val_v", short) == str(path)


def test_lvb_doc_without_options_is_an_error():
    with pytest.raises(KeyError, match="no option0..option4"):
        lvb_utils.options({"question": "q", "video_path": "v.mp4"})


# ---------------------------------------------------------------- NExT-QA


def test_nextqa_mc_and_oe(tmp_path, monkeypatch):
    mc = load("nextqa_mc.json")[0]
    oe = load("nextqa_oe.json")[0]
    assert benchmark_utils.doc_query("nextqa_mc_test", mc) == (
        "how do the two man play the instrument",
        ["roll the handle", "tap their feet", "strum the string", "hit with sticks", "pat with hand"],
    )
    assert benchmark_utils.doc_query("nextqa_oe_val_hvp", oe) == ("what does the man do after picking up the cup", [])
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    folder = tmp_path / "nextqa" / "NExTVideo"
    with pytest.raises(MissingVideoError) as info:
        nextqa_utils.video_path(mc)
    assert info.value.tried == (str(folder / "4010069381.mp4"), str(folder / "4010069381.MP4"))
    path = touch(folder / "4882821564.MP4")
    assert nextqa_utils.video_path(oe) == str(path)


# ---------------------------------------------------------------- EgoSchema


def test_egoschema_question_and_options():
    doc = load("egoschema.json")[0]
    question, options = benchmark_utils.doc_query("egoschema_subset", doc)
    assert question.startswith("Taking into account all the actions performed by c")
    assert options == ["C is cooking.", "C is doing laundry.", "C is cleaning the kitchen.", "C is cleaning dishes.", "C is cleaning the bathroom."]


# ---------------------------------------------------------------- registry


@pytest.mark.parametrize(
    ("task", "module"),
    [
        ("videomme", mme_utils),
        ("videomme_hvp", mme_utils),
        ("videomme_w_subtitle", mme_utils),
        ("videomme_w_subtitle_hvp", mme_utils),
        ("mlvu_dev", mlvu_utils),
        ("mlvu_test_hvp", mlvu_utils),
        ("longvideobench_val_v", lvb_utils),
        ("longvideobench_val_v_hvp", lvb_utils),
        ("nextqa_mc_test", nextqa_utils),
        ("nextqa_oe_val", nextqa_utils),
        ("nextqa_mc_test_hvp", nextqa_utils),
        ("egoschema", egoschema_utils),
        ("egoschema_subset", egoschema_utils),
        ("egoschema_subset_hvp", egoschema_utils),
    ],
)
def test_for_task_maps_task_names(task, module):
    assert benchmark_utils.for_task(task) is module


@pytest.mark.parametrize("task", ["mmbench", "videomme_hvp_hvp", "hvp", "", "VIDEOMME", None])
def test_for_task_unknown_is_none_and_doc_query_raises(task):
    assert benchmark_utils.for_task(task) is None
    with pytest.raises(KeyError, match="Unknown benchmark task"):
        benchmark_utils.doc_query(task, {})


def test_uses_subtitles_only_for_subtitle_tasks():
    assert benchmark_utils.uses_subtitles("videomme_w_subtitle_hvp")
    assert benchmark_utils.uses_subtitles("videomme_w_subtitle")
    assert not benchmark_utils.uses_subtitles("videomme_hvp")
    assert not benchmark_utils.uses_subtitles("unknown")


def test_missing_field_names_the_benchmark_and_the_keys():
    with pytest.raises(KeyError, match=r"Video-MME doc: missing field 'videoID'"):
        benchmark_utils.doc_video("videomme", {"question": "q"})


def test_package_import_has_no_side_effects_on_environment(monkeypatch):
    import importlib
    import sys

    monkeypatch.delenv("HF_HOME", raising=False)
    for name in [n for n in sys.modules if n == "benchmark_utils" or n.startswith("benchmark_utils.")]:
        monkeypatch.delitem(sys.modules, name)
    module = importlib.import_module("benchmark_utils")
    assert "HF_HOME" not in os.environ
    assert module.for_task("videomme").__name__ == "benchmark_utils.mme_utils"
    assert "HF_HOME" not in os.environ


def test_fps_rule_uses_frame_indices():
    cues = [mme_utils.Cue(6.05, 6.15, "short"), mme_utils.Cue(1.0, 2.0, "one")]
    assert mme_utils.cues_at(cues, [6.0]) == []
    assert [c.text for c in mme_utils.cues_at(cues, [6.0], fps=10)] == ["short"]
    assert mme_utils.cues_at(cues, [2.0], fps=10) == []  # end is exclusive
    with pytest.raises(ValueError, match="Invalid fps"):
        mme_utils.cues_at(cues, [1.0], fps=0)


# ---------------------------------------------------------------- task recognition (renamed copies)

FIXTURE_HELPERS = [
    ("videomme.json", "mme_utils", "Video-MME", "001-1"),
    ("mlvu_dev.json", "mlvu_utils", "MLVU", "plotQA_0"),
    ("mlvu_test.json", "mlvu_utils", "MLVU", "sportsQA_4"),
    ("longvideobench_val.json", "lvb_utils", "LongVideoBench", "86CxyhFV9MI_0"),
    ("nextqa_mc.json", "nextqa_utils", "NExT-QA", "4010069381_6"),
    ("nextqa_oe.json", "nextqa_utils", "NExT-QA", "4882821564_2"),
    ("egoschema.json", "egoschema_utils", "EgoSchema", "0074f737-11cb-497d-8d07-77c3a8127391"),
]


@pytest.mark.parametrize(("fixture", "helper", "benchmark", "qid"), FIXTURE_HELPERS)
def test_renamed_task_is_recognised_by_its_doc_fields(fixture, helper, benchmark, qid):
    doc = load(fixture)[0]
    found = benchmark_utils.recognise_task("my_local_copy", doc, context="Question?\nA. x")
    assert (found.via, found.helper, found.benchmark, found.subtitles) == ("doc_fields", helper, benchmark, False)
    assert found.known and found.module() is getattr(benchmark_utils, helper)
    assert found.module().question_id(doc) == qid
    assert found.module().question(doc) == benchmark_utils.doc_query(_builtin_of(helper), doc)[0]
    assert benchmark in found.to_dict()["detail"]


def _builtin_of(helper):
    return {"mme_utils": "videomme", "mlvu_utils": "mlvu_dev", "lvb_utils": "longvideobench_val_v",
            "nextqa_utils": "nextqa_mc_test", "egoschema_utils": "egoschema"}[helper]


def test_recognition_needs_every_signature_field():
    doc = dict(load("videomme.json")[0])
    del doc["videoID"]
    assert not benchmark_utils.recognise_task("copy", doc).known
    ego = dict(load("egoschema.json")[0])
    del ego["option"]
    assert benchmark_utils.recognise_task("copy", ego).via == "unknown"


def test_videomme_copy_gets_subtitles_only_when_its_context_has_lmms_evals_subtitle_block():
    doc = load("videomme.json")[0]
    with_subs = mme_utils.SUBTITLES_HEADER + "Hello there\n" + mme_utils.OPTION_PROMPT + "\nWhen ...?"
    found = benchmark_utils.recognise_task("videomme_local_subs", doc, context=with_subs)
    assert found.subtitles and found.subtitles_via == "context: lmms-eval's subtitle header"
    plain = benchmark_utils.recognise_task("videomme_local", doc, context=mme_utils.OPTION_PROMPT + "\nWhen ...?")
    assert plain.via == "doc_fields" and not plain.subtitles and plain.subtitles_via is None
    # the header only counts for Video-MME docs
    mlvu = benchmark_utils.recognise_task("mlvu_local", load("mlvu_dev.json")[0], context=with_subs)
    assert not mlvu.subtitles


def test_copy_of_an_hvp_yaml_is_recognised_by_its_metadata_base_task():
    doc = load("videomme.json")[0]
    found = benchmark_utils.recognise_task("my_subs", doc, context="no header here",
                                           metadata={"version": 0.0, "base_task": "videomme_w_subtitle"})
    assert (found.via, found.subtitles, found.subtitles_via) == ("metadata", True, "metadata")
    # metadata naming another benchmark than the doc's fields is not trusted: the fields decide
    odd = benchmark_utils.recognise_task("my_subs", doc, context="", metadata={"base_task": "mlvu_dev"})
    assert (odd.via, odd.helper, odd.subtitles) == ("doc_fields", "mme_utils", False)


def test_name_wins_and_unknown_tasks_say_why():
    by_name = benchmark_utils.recognise_task("videomme_w_subtitle_hvp", {"anything": 1})
    assert (by_name.via, by_name.helper, by_name.subtitles) == ("name", "mme_utils", True)
    sample = benchmark_utils.recognise_task("air_sample", {"id": "s0", "question": "q", "options": ["a"]})
    assert sample.known and sample.helper is None and sample.module() is None
    unknown = benchmark_utils.recognise_task("my_task", {"id": "s0", "question": "q", "options": ["a"]})
    assert not unknown.known and unknown.helper is None
    assert "'my_task'" in unknown.detail and "['id', 'options', 'question']" in unknown.detail
    assert "parsed from the prompt text" in unknown.detail
