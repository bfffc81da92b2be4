"""Selection files (air/selection_io.py): format, matching, validation, and replay to the answering backbone."""

from __future__ import annotations

import json

import numpy as np
import pytest

from air.base_models.base import Backbone
from air.selection_io import (
    FORMAT,
    export_selections,
    load_selection_file,
    selection_entry,
)


def _record(doc_id, frames, *, task="t1", fps=10.0, video="/data/a.mp4", **extra):
    return {"task": task, "doc_id": doc_id, "video": video, "fps": fps, "frame_indices": frames,
            "timestamps_s": [f / fps for f in frames], "method": "air", **extra}


def test_export_writes_documented_format_and_skips_failures(tmp_path):
    records = [
        _record(0, [5, 25, 40]),
        _record(1, [], error="VideoDecodeError: bad"),
        _record(2, [3], error="boom"),
        _record(3, [100, 7], fps=29.97, video="/data/b.mp4", question_id="q-3"),
    ]
    out = tmp_path / "sub" / "sel.json"
    assert export_selections(records, out) == 2
    assert not list(out.parent.glob("*.tmp"))
    text = out.read_text()
    data = json.loads(text)
    assert len(text.splitlines()) == 2 + 2 + 1  # header lines, one line per selection, closing line
    assert data["format"] == FORMAT
    first, second = data["selections"]
    assert first == {"task": "t1", "doc_id": 0, "question_id": None, "video": "/data/a.mp4", "fps": 10.0,
                     "frame_indices": [5, 25, 40], "timestamps_s": [0.5, 2.5, 4.0], "method": "air"}
    assert second["frame_indices"] == [100, 7] and second["question_id"] == "q-3"
    assert second["timestamps_s"] == [round(100 / 29.97, 4), round(7 / 29.97, 4)]


def test_export_of_nothing_is_a_valid_empty_file(tmp_path):
    assert export_selections([{"task": "t", "doc_id": 0, "error": "x"}], tmp_path / "e.json") == 0
    assert load_selection_file(tmp_path / "e.json").entries == []
    assert [p.name for p in tmp_path.iterdir()] == ["e.json"], "no temporary file left behind"


def _strict_loads(text):
    return json.loads(text, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))


def test_export_is_strict_json_even_with_non_finite_numbers(tmp_path):
    records = [_record(0, [5, 25]),
               {**_record(3, [1, 2]), "fps": None, "timestamps_s": [0.1, float("nan")]},
               {**_record(4, [np.int64(6)]), "fps": np.float64(12.0)}]
    path = tmp_path / "sel.json"
    assert export_selections(records, path) == 3
    entries = _strict_loads(path.read_text())["selections"]
    assert entries[1]["fps"] is None and entries[1]["timestamps_s"] == [0.1, None], "recorded times kept, no NaN"
    assert entries[2]["fps"] == 12.0 and entries[2]["frame_indices"] == [6] and entries[2]["timestamps_s"] == [0.5]
    assert load_selection_file(path).entries == entries


UNREPLAYABLE = [
    ("fractional index", {"frame_indices": [1.5, 3]}, "frame_indices [1.5, 3]"),
    ("negative index", {"frame_indices": [4, -1]}, "frame_indices [4, -1]"),
    ("text index", {"frame_indices": ["3"]}, "frame_indices ['3']"),
    ("bool index", {"frame_indices": [True]}, "frame_indices [True]"),
    ("not a list", {"frame_indices": "12"}, "frame_indices 12"),
    ("NaN fps", {"fps": float("nan")}, "fps nan"),
    ("infinite fps (1e400 in the trace)", {"fps": float("inf")}, "fps inf"),
    ("zero fps", {"fps": 0}, "fps 0"),
    ("negative fps", {"fps": -25.0}, "fps -25.0"),
    ("text fps", {"fps": "fast"}, "fps 'fast'"),
    ("fps replaced by null", {"fps": None, "non_finite_replaced": ["fps"]}, "a non-finite value in the trace"),
]


@pytest.mark.parametrize("name, change, message", UNREPLAYABLE, ids=[u[0] for u in UNREPLAYABLE])
def test_export_refuses_a_record_it_could_not_replay(tmp_path, name, change, message):
    records = [_record(0, [5, 25]), {**_record(7, [1, 2]), **change}]
    out = tmp_path / "sel.json"
    with pytest.raises(ValueError, match="Invalid record \\(task 't1' doc_id 7\\)") as info:
        export_selections(records, out)
    assert message in str(info.value) and "Expected" in str(info.value)
    assert not out.exists() and list(tmp_path.iterdir()) == [], "nothing written, no temp file left"


def test_entry_without_fps_keeps_recorded_timestamps():
    entry = selection_entry({"frame_indices": [1, 2], "timestamps_s": [0.1, 0.2], "video": "v.mp4"})
    assert entry["fps"] is None and entry["timestamps_s"] == [0.1, 0.2] and entry["frame_indices"] == [1, 2]


def test_frames_for_matching_order(tmp_path):
    path = tmp_path / "sel.json"
    export_selections([
        _record(0, [1, 2], task="a", video="/x/one.mp4", question_id="Q0"),
        _record(0, [3, 4], task="b", video="/x/two.mp4"),
        _record(5, [5], task="b", video="/y/two.mp4"),
    ], path)
    sel = load_selection_file(path)
    assert sel.frames_for(task="a", doc_id=0) == [1, 2]
    assert sel.frames_for(task="b", doc_id="0") == [3, 4]  # doc ids compare as text
    assert sel.frames_for(question_id="Q0") == [1, 2]
    assert sel.frames_for(task="zzz", doc_id=9, video="/elsewhere/one.mp4") == [1, 2]  # unique file name
    with pytest.raises(KeyError, match="sel.json"):
        sel.frames_for(task="zzz", doc_id=9, video="/elsewhere/two.mp4")  # two entries named two.mp4
    with pytest.raises(KeyError, match="No selection for task='c'"):
        sel.frames_for(task="c", doc_id=1)


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "Expected strict JSON"),
        (json.dumps({"selections": []}), "format="),
        (json.dumps({"format": FORMAT, "selections": {}}), "'selections' list"),
        (json.dumps({"format": FORMAT, "selections": [{"frame_indices": []}]}), "entry 0"),
        (json.dumps({"format": FORMAT, "selections": [{"frame_indices": [1, -2]}]}), "non-negative ints"),
        (json.dumps({"format": FORMAT, "selections": [{"frame_indices": [1.5]}]}), "non-negative ints"),
        (json.dumps({"format": FORMAT, "selections": [{"frame_indices": [True]}]}), "non-negative ints"),
        (json.dumps({"format": FORMAT, "selections": [{"video": "a.mp4", "frame_indices": [1]}, "x"]}), "entry 1"),
        (json.dumps({"format": FORMAT, "selections": [{"doc": 3, "frame_indices": [1]}]}),
         "entry 0 has no task and doc_id, question_id or video"),
        (json.dumps({"format": FORMAT, "selections": [{"video": "a.mp4", "fps": 0, "frame_indices": [1]}]}),
         "entry 0 has fps 0"),
        ('{"format": "%s", "selections": [{"video": "a.mp4", "fps": NaN, "frame_indices": [1]}]}' % FORMAT,
         "NaN is not strict JSON"),
        (json.dumps({"format": FORMAT, "selections": [{"task": "t", "doc_id": 1, "frame_indices": [1]},
                                                      {"task": "t", "doc_id": "1", "frame_indices": [2]}]}),
         "entries 0 and 1 both select for task='t' doc_id='1'"),
    ],
)
def test_invalid_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad_sel.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        load_selection_file(path)
    assert "bad_sel.json" in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="missing.json: no such file"):
        load_selection_file(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="a folder. Expected a regular file"):
        load_selection_file(tmp_path)  # a folder is not a selection file


def test_loaded_file_carries_its_content_hash(tmp_path):
    import hashlib

    path = tmp_path / "sel.json"
    export_selections([_record(0, [1, 2])], path)
    assert load_selection_file(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


# -- replay through the real decoder and a real tiny backbone ---------------------------------------
class RecordingBackbone(Backbone):
    """Wraps a real backbone and records what `answer` receives (frames, timestamps, prompt)."""

    name = "recording"

    def __init__(self, inner: Backbone):
        self.inner = inner
        self.calls: list[tuple[np.ndarray, np.ndarray, str]] = []

    @classmethod
    def from_pretrained(cls, pretrained, options=None):
        raise TypeError("RecordingBackbone wraps an already loaded backbone")

    def analyze(self, frames, timestamps_s, query):
        return self.inner.analyze(frames, timestamps_s, query)

    def answer(self, frames, timestamps_s, prompt, gen_kwargs=None):
        self.calls.append((np.array(frames, copy=True), np.asarray(timestamps_s, dtype=np.float64), prompt))
        return self.inner.answer(frames, timestamps_s, prompt, gen_kwargs)


@pytest.fixture(scope="module")
def tiny_model(tiny):
    from air.model import H_VPModel

    pretrained, clip = tiny
    model = H_VPModel.from_pretrained(pretrained, clip_model=clip, cache=None, max_rounds=2, candidates_per_round=4,
                                      analysis_batch_size=4, analysis_max_new_tokens=6, max_frames=8, min_frames=4)
    model.backbone = RecordingBackbone(model.backbone)
    return model


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    from air.testing.videos import write_video

    return write_video(tmp_path_factory.mktemp("v") / "replay.mp4", duration_s=20, fps=6, size=(128, 96),
                       segments=[(0, 12, "red"), (12, 20, "green")], seed=1)


def _received_indices(call, n_bits) -> list[int]:
    from air.testing.videos import decode_frame_index

    frames = call[0]
    return [decode_frame_index(frame, n_bits) for frame in frames]


def test_export_then_replay_gives_the_same_frames_to_the_backbone(tmp_path, tiny_model, video):
    """select -> export -> load -> answer_frames: the answering backbone sees exactly the selected frames."""
    selection = tiny_model.select(str(video.path), "Which colour comes last?", ["red", "green"])
    record = {**selection.to_dict(), "task": "replay_task", "doc_id": 4, "method": "air"}
    path = tmp_path / "selections.json"
    assert export_selections([record], path) == 1
    frames = load_selection_file(path).frames_for(task="replay_task", doc_id=4)
    assert frames == list(selection.frame_indices)

    tiny_model.backbone.calls.clear()
    text = tiny_model.answer_frames(str(video.path), frames, "Which colour comes last?", {"max_new_tokens": 2})
    assert isinstance(text, str)
    (call,) = tiny_model.backbone.calls
    assert _received_indices(call, video.n_bits) == sorted(frames)
    assert call[1] == pytest.approx(video.timestamps_s[sorted(frames)], abs=1e-3)


def test_hvp_process_replays_the_selection_file(tmp_path, tiny_model, video):
    """hvp's own replay path (HVP.process with selection_file=) answers from the file's frames, no selection.

    The lmms-eval plumbing around `process` (request parsing, traces) is exercised by test_hvp_lmms_eval;
    the HVP object is made without its __init__ (which needs accelerate and a full model load).
    """
    pytest.importorskip("lmms_eval")
    from air.hvp import HVP

    from air.hvp_requests import Sample

    chosen = [3, 40, 41, 77, 118]
    path = tmp_path / "other_method.json"
    path.write_text(json.dumps({"format": FORMAT, "selections": [
        {"task": "replay_task", "doc_id": 9, "video": str(video.path), "frame_indices": chosen, "method": "uniform"},
        {"task": "egoschema_subset", "doc_id": 0, "question_id": "0074f737", "frame_indices": [5, 6]}]}))
    hvp = HVP.__new__(HVP)
    hvp.options = {"selection_file": str(path)}
    hvp._replay = hvp._open_selection_file(str(path))
    hvp.method_name = "air"
    hvp.model = tiny_model
    hvp.stats = {"samples": 0, "errors": 0, "frames_analyzed": 0, "fallbacks": 0, "resumed": 0}
    tiny_model.backbone.calls.clear()
    sample = Sample(task="replay_task", doc_id=9, split="test", video=str(video.path), question="Describe the video.",
                    options=[], prompt="Describe the video.", gen_kwargs={"max_new_tokens": 2})
    text, extra = hvp.process(sample)
    assert isinstance(text, str)
    assert extra == {"frame_indices": chosen, "replayed_from": str(path), "replay_match": "task_doc_id",
                     "prompt": "Describe the video."}
    (call,) = tiny_model.backbone.calls
    assert _received_indices(call, video.n_bits) == chosen
    assert hvp.stats["frames_analyzed"] == 0  # no selection ran
    # a renamed copy of a task finds its selections by the dataset's question id (EgoSchema: question_idx)
    renamed = Sample(task="my_egoschema", doc_id=0, split="test", video=str(video.path), question="q", options=[],
                     prompt="Describe.", gen_kwargs={"max_new_tokens": 1}, question_id="0074f737")
    _, extra = hvp.process(renamed)
    assert extra["frame_indices"] == [5, 6] and extra["replay_match"] == "question_id"


@pytest.mark.parametrize(
    "content, message",
    [(None, "no such file"), ("{", "Expected strict JSON"), (json.dumps({"format": FORMAT, "selections": []}),
                                                            "holds no selections")],
)
def test_hvp_refuses_a_bad_selection_file_before_loading_anything(tmp_path, content, message):
    pytest.importorskip("lmms_eval")
    from air.hvp import HVP
    from air.lmms_logging import restore_std_logging

    path = tmp_path / "sel.json"
    if content is not None:
        path.write_text(content)
    try:
        with pytest.raises(ValueError, match=message) as info:
            # __init__ opens the file before it touches accelerate or any model: a fake checkpoint name is enough
            HVP("no/such-model-anywhere", selection_file=str(path))
    finally:
        restore_std_logging()  # __init__ routed the package's logs to loguru
    assert str(path) in str(info.value)


# -- replay limits and matching (issue 15 item 4) ------------------------------------------------------
def _write_file(path, entries):
    path.write_text(json.dumps({"format": FORMAT, "selections": entries}))
    return path


def test_an_entry_above_the_replay_cap_is_refused_at_load_unless_the_cap_is_raised(tmp_path):
    from air.selection_io import DEFAULT_REPLAY_MAX_FRAMES

    many = list(range(0, 5000, 1))
    path = _write_file(tmp_path / "sel.json", [{"task": "t", "doc_id": 0, "frame_indices": [1, 2]},
                                               {"task": "t", "doc_id": 1, "frame_indices": many}])
    with pytest.raises(ValueError) as info:
        load_selection_file(path)
    text = str(info.value)
    assert f"entry 1 (task 't' doc_id 1) lists 5000 frames, above replay_max_frames={DEFAULT_REPLAY_MAX_FRAMES}" in text
    assert "pass replay_max_frames=5000" in text and "sel.json" in text
    assert load_selection_file(path, max_frames=5000).frames_for(task="t", doc_id=1) == many
    assert DEFAULT_REPLAY_MAX_FRAMES >= 8 * 32  # every preset's budget, with room for other methods' files
    with pytest.raises(ValueError, match="Invalid replay_max_frames: 0"):
        load_selection_file(path, max_frames=0)


def test_hvp_checks_the_replay_cap_before_loading_anything(tmp_path):
    pytest.importorskip("lmms_eval")
    from air.hvp import HVP, split_model_args
    from air.lmms_logging import restore_std_logging

    path = _write_file(tmp_path / "sel.json", [{"video": "a.mp4", "frame_indices": list(range(300))}])
    try:
        with pytest.raises(ValueError, match="lists 300 frames, above replay_max_frames=256"):
            HVP("no/such-model-anywhere", selection_file=str(path))
        with pytest.raises(ValueError, match="lists 300 frames, above replay_max_frames=299"):
            HVP("no/such-model-anywhere", selection_file=str(path), replay_max_frames="299")
    finally:
        restore_std_logging()
    model, _, _ = split_model_args({"pretrained": "x", "replay_max_frames": "300"})
    assert model["replay_max_frames"] == 300
    with pytest.raises(ValueError, match="Invalid replay_max_frames: 0"):
        split_model_args({"pretrained": "x", "replay_max_frames": "0"})


MATCHES = [
    # (entries, query, expected frames or the KeyError text)
    ("same name in two folders, path given",
     [{"video": "/a/v.mp4", "frame_indices": [1]}, {"video": "/b/v.mp4", "frame_indices": [2]}],
     {"video": "/b/v.mp4"}, [2]),
    ("same name in two folders, third path", [{"video": "/a/v.mp4", "frame_indices": [1]},
                                              {"video": "/b/v.mp4", "frame_indices": [2]}],
     {"video": "/c/v.mp4"}, "Ambiguous selection"),
    ("duplicates with equal frames", [{"video": "/a/v.mp4", "frame_indices": [1]},
                                      {"video": "/b/v.mp4", "frame_indices": [1]}],
     {"video": "/c/v.mp4"}, [1]),
    ("another question of the same video (question_id)",
     [{"video": "/a/v.mp4", "question_id": "001-1", "frame_indices": [1]}],
     {"video": "/a/v.mp4", "question_id": "001-2"}, "No selection"),
    ("another doc of the same task", [{"task": "t", "doc_id": 0, "video": "/a/v.mp4", "frame_indices": [1]}],
     {"task": "t", "doc_id": 1, "video": "/a/v.mp4"}, "No selection"),
    ("the same video under another task", [{"task": "t", "doc_id": 0, "video": "/a/v.mp4", "frame_indices": [1]}],
     {"task": "u", "doc_id": 5, "video": "/data/v.mp4"}, [1]),
    ("a video-only entry", [{"video": "v.mp4", "frame_indices": [3]}], {"task": "t", "doc_id": 2,
                                                                       "video": "/x/v.mp4"}, [3]),
    ("task and doc_id first", [{"video": "/a/v.mp4", "frame_indices": [1]},
                               {"task": "t", "doc_id": 2, "frame_indices": [9]}],
     {"task": "t", "doc_id": 2, "video": "/a/v.mp4"}, [9]),
]


@pytest.mark.parametrize("name, entries, query, expected", MATCHES, ids=[m[0] for m in MATCHES])
def test_matching_by_video_name_only_when_unambiguous(tmp_path, name, entries, query, expected):
    sel = load_selection_file(_write_file(tmp_path / "sel.json", entries))
    if isinstance(expected, list):
        assert sel.frames_for(**query) == expected
        assert sel.match(**query)[1] in ("video", "task_doc_id")
    else:
        with pytest.raises(KeyError, match=expected):
            sel.frames_for(**query)


@pytest.mark.parametrize("content, message", [
    ('{"format": "' + FORMAT + '", "selections": [{"video": "a.mp4", "fps": 1e400, "frame_indices": [1]}]}',
     "number 1e400 overflows a float"),
    ('{"format": "' + FORMAT + '", "selections": [{"video": "a.mp4", "frame_indices": [1]}]}' + "[" * 100_000,
     "Expected strict JSON"),
    (b"\xff\xfe", "Expected strict JSON"),
])
def test_more_invalid_contents(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError, match=message):
        load_selection_file(path)


def test_special_and_oversized_files_are_refused(tmp_path, monkeypatch):
    import os

    from air import selection_io

    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="a FIFO"):
        load_selection_file(fifo)
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    with pytest.raises(ValueError, match="a character device"):
        load_selection_file(zero)
    big = _write_file(tmp_path / "big.json", [{"video": "a.mp4", "frame_indices": [1]}])
    monkeypatch.setattr(selection_io, "MAX_FILE_BYTES", 16)
    with pytest.raises(ValueError, match="above the limit of 16 B"):
        load_selection_file(big)


def test_export_never_writes_through_a_planted_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "sel.json"
    out.symlink_to(victim)
    for guess in ("sel.json.tmp", ".sel.json.tmp"):
        (tmp_path / guess).symlink_to(victim)
    assert export_selections([_record(0, [1, 2])], out) == 1
    assert victim.read_text() == "precious"
    assert not out.is_symlink() and load_selection_file(out).frames_for(task="t1", doc_id=0) == [1, 2]
