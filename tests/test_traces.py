"""Side-car trace files: per-sample flushing, dedup, torn lines, default location."""

import json
import logging
import os
import threading
from pathlib import Path

import pytest

from air.safe_files import FileCheckError
from air.traces import (
    TraceWriter,
    default_trace_dir,
    iter_jsonl_records,
    iter_trace_records,
    load_traces,
    loads_strict,
    scan_for_resume,
)


def test_writer_dedups_and_reader_takes_last(tmp_path):
    w = TraceWriter(tmp_path, rank=1)
    assert w.write({"task": "t", "doc_id": 0, "answer": "A"})
    assert not w.write({"task": "t", "doc_id": 0, "answer": "B"})
    assert w.path.name == "traces_rank1.jsonl"
    TraceWriter(tmp_path, rank=1).write({"task": "t", "doc_id": 0, "answer": "C", "error": None})
    assert load_traces(tmp_path)["t::0"]["answer"] == "C"


def test_torn_line_is_skipped_and_terminated(tmp_path):
    path = tmp_path / "traces_rank0.jsonl"
    path.write_text(json.dumps({"task": "t", "doc_id": 1}) + "\n" + '{"task": "t", "doc')
    w = TraceWriter(tmp_path, rank=0)
    w.write({"task": "t", "doc_id": 2})
    ids = [r["doc_id"] for r in iter_trace_records(tmp_path)]
    assert ids == [1, 2]


def test_default_trace_dir_follows_output_path():
    assert default_trace_dir(["lmms_eval", "--output_path", "/x/out"]) == Path("/x/out/traces")
    assert default_trace_dir(["lmms_eval", "--output_path=/y"]) == Path("/y/traces")
    assert default_trace_dir(["lmms_eval"]) == Path("logs_air/traces")


def test_summary_hand_over_by_doc_fingerprint():
    from air.traces import doc_fingerprint, recall_summary, remember_summary

    doc = {"videoID": "abc", "question": "q?", "options": ["A. x", "B. y"]}
    record = {"method": "air", "frame_indices": [1, 5], "timestamps_s": [0.1, 0.5], "budget": 8, "n_analyzed": 12,
              "stop_reason": "max_rounds", "fallbacks": [{"reason": "no_events", "detail": "..."}], "rounds": [1]}
    remember_summary(doc, record)
    assert recall_summary(dict(reversed(list(doc.items())))) == {
        "method": "air", "frame_indices": [1, 5], "timestamps_s": [0.1, 0.5], "budget": 8, "n_analyzed": 12,
        "stop_reason": "max_rounds", "fallbacks": ["no_events"]}
    assert recall_summary({"videoID": "other"}) is None
    assert doc_fingerprint(doc) != doc_fingerprint({**doc, "question": "q"})


def _fp(**config):
    from air.fingerprint import make_fingerprint

    return make_fingerprint({"method": "air", "model": {"pretrained": "m"}, "config": {"gamma": 0.7, **config}})


def test_resume_scan_reuses_only_matching_error_free_records_of_its_method(tmp_path):
    from air.traces import scan_for_resume

    mine, other = _fp(), _fp(gamma=0.5, max_rounds=3)
    w = TraceWriter(tmp_path, rank=0)
    w.write({"task": "t", "doc_id": 0, "answer": "A", "method": "air", "fingerprint": mine})
    w.write({"task": "t", "doc_id": 1, "answer": "B", "method": "uniform", "fingerprint": mine})
    w.write({"task": "t", "doc_id": 2, "answer": "", "method": "air", "error": "VideoDecodeError: x", "fingerprint": mine})
    w.write({"task": "t", "doc_id": 3, "answer": "C", "method": "air", "fingerprint": other})
    w.write({"task": "t", "doc_id": 4, "answer": "D"})  # an older version's record: no method, no fingerprint
    w.write({"task": "u", "doc_id": 0, "answer": "E", "method": "air", "fingerprint": other})
    # a sample traced under both configurations counts as ours, whatever the order of its lines
    TraceWriter(tmp_path, rank=1).write({"task": "u", "doc_id": 0, "answer": "F", "method": "air", "fingerprint": mine})
    (tmp_path / "traces_rank1.jsonl").open("a").write('{"task": "t", "doc')  # torn last line
    scan = scan_for_resume(tmp_path, mine, "air")
    assert sorted(scan.reusable) == ["t::0", "u::0"] and scan.reusable["u::0"]["answer"] == "F"
    assert scan.errors == 1 and scan.foreign == 2 and dict(scan.other_methods) == {"uniform": 1}
    assert dict(scan.foreign_fields) == {"config.gamma": 1, "config.max_rounds": 1, "fingerprint": 1}
    summary = scan.summary()
    assert summary.startswith("2 traced samples reused; 1 traced with an error will run again; 2 skipped as foreign")
    assert "config.gamma: 0.7 now, 0.5 before (1 samples)" in summary
    assert 'config.max_rounds: <absent> now, 3 before (1 samples)' in summary
    assert "no fingerprint, written by an older version (1 samples)" in summary
    assert "records of other methods ignored (uniform: 1)" in summary


def test_hvp_resume_logs_why_records_were_foreign(tmp_path, caplog):
    import pytest

    pytest.importorskip("lmms_eval")
    from air.hvp import HVP

    w = TraceWriter(tmp_path, rank=0)
    w.write({"task": "t", "doc_id": 0, "answer": "A", "method": "air", "fingerprint": _fp()})
    w.write({"task": "t", "doc_id": 1, "answer": "B", "method": "air", "fingerprint": _fp(gamma=0.9)})
    model = HVP.__new__(HVP)  # only the resume bookkeeping is under test
    model.traces, model.method_name, model.fingerprint = TraceWriter(tmp_path, rank=1), "air", _fp()
    with caplog.at_level("INFO", logger="air"):
        assert set(model._previous_traces()) == {"t::0"}
    (record,) = [r for r in caplog.records if "resume=True" in r.getMessage()]
    assert record.levelname == "WARNING", "foreign records are worth a warning: the user changed the configuration"
    assert "1 skipped as foreign" in record.getMessage() and "config.gamma: 0.7 now, 0.9 before" in record.getMessage()


def test_trace_lines_are_strict_json(tmp_path, caplog):
    import math

    import numpy as np

    def strict(text):
        return json.loads(text, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))

    w = TraceWriter(tmp_path, rank=0)
    with caplog.at_level("WARNING", logger="air"):
        w.write({"task": "t", "doc_id": 0, "threshold": float("nan"), "scores": [1.0, float("inf"), np.float32("nan")],
                 "gmm": {"stds": np.array([0.5, -np.inf])}, "fps": np.float64(29.97), "n": np.int64(3),
                 "pair": (1, 2), "ok": True})
        w.write({"task": "t", "doc_id": 1, "x": -math.inf})
    first, second = [strict(line) for line in w.path.read_text().splitlines()]
    assert first["threshold"] is None and first["scores"] == [1.0, None, None] and first["gmm"]["stds"] == [0.5, None]
    assert first["fps"] == 29.97 and first["n"] == 3 and first["pair"] == [1, 2] and first["ok"] is True
    assert first["non_finite_replaced"] == ["threshold", "scores[1]", "scores[2]", "gmm.stds[1]"]
    assert second["x"] is None and second["non_finite_replaced"] == ["x"]
    assert len([r for r in caplog.records if "non-finite" in r.getMessage()]) == 1, "warned once per writer"


def test_question_id_from_dataset_fields():
    from air.hvp_requests import question_id
    from benchmark_utils import recognise_task

    assert question_id({"question_id": "001-1", "id": 7}) == "001-1"
    assert question_id({"qid": 3}) == "3"
    assert question_id({"question_idx": "0074f737", "id": 9}) == "0074f737"
    assert question_id({"video": "x"}) is None
    ego = {"question_idx": "0074f737", "question": "q", "video_idx": "v1", "option": ["A. a"]}
    assert question_id(ego, recognise_task("my_egoschema_copy", ego)) == "0074f737"
    nextqa = {"video": 4010069381, "qid": 6, "question": "q", "type": "CW"}
    assert question_id(nextqa, recognise_task("my_nextqa", nextqa)) == "4010069381_6", "qid repeats across videos"


def test_summaries_of_two_tasks_over_the_same_doc_stay_apart():
    from air.traces import recall_summary, remember_summary

    doc = {"videoID": "shared", "question": "q?"}
    remember_summary(doc, {"task": "videomme_hvp", "frame_indices": [1], "method": "air"})
    remember_summary(doc, {"task": "videomme_w_subtitle_hvp", "error": "VideoDecodeError: x", "method": "air"})
    assert recall_summary(doc, "videomme_hvp") == {"method": "air", "frame_indices": [1]}
    assert recall_summary(doc, "videomme_w_subtitle_hvp")["error"].startswith("VideoDecodeError")
    assert recall_summary(doc, "mlvu_dev_hvp") is None
    assert recall_summary(doc) == recall_summary(doc, "videomme_w_subtitle_hvp"), "without a task: the latest"


# -- crafted trace files (issue 15 item 5) -------------------------------------------------------------



GOOD = {"task": "t", "doc_id": 1, "answer": "A", "fingerprint": {"hash": "h", "parts": {}}}

BAD_LINES = [
    ("array", "[1, 2]", "a JSON list, not an object"),
    ("number", "3", "a JSON int, not an object"),
    ("string", '"text"', "a JSON str, not an object"),
    ("null", "null", "a JSON NoneType, not an object"),
    ("NaN", '{"task": "t", "doc_id": 2, "fps": NaN}', "NaN is not strict JSON"),
    ("Infinity", '{"task": "t", "doc_id": 3, "fps": -Infinity}', "-Infinity is not strict JSON"),
    ("overflow", '{"task": "t", "doc_id": 4, "fps": 1e400}', "number 1e400 overflows a float"),
    ("huge int", '{"task": "t", "doc_id": ' + "9" * 5000 + "}", "unreadable JSON"),
    ("deep nesting", "[" * 100_000 + "]" * 100_000, "unreadable JSON"),
    ("torn", '{"task": "t", "doc', "unreadable JSON"),
    ("not utf-8", b'{"task": "\xff\xfe"}', "not UTF-8"),
]


@pytest.mark.parametrize("name, line, why", BAD_LINES, ids=[b[0] for b in BAD_LINES])
def test_unusable_line_is_skipped_with_a_warning_and_resume_goes_on(tmp_path, caplog, name, line, why):
    raw = line if isinstance(line, bytes) else line.encode()
    (tmp_path / "traces_rank0.jsonl").write_bytes(raw + b"\n" + json.dumps(GOOD).encode() + b"\n")
    with caplog.at_level(logging.WARNING, logger="air.traces"):
        assert list(iter_trace_records(tmp_path)) == [GOOD]
        scan = scan_for_resume(tmp_path, {"hash": "h", "parts": {}}, "air")  # used to crash on non-objects
    assert list(scan.reusable) == ["t::1"]
    assert f"traces_rank0.jsonl:1: {why}" in caplog.text


def test_overlong_line_is_skipped_unread_and_warnings_are_capped(tmp_path, caplog):
    path = tmp_path / "traces_rank0.jsonl"
    lines = ['{"pad": "' + "x" * 5000 + '"}'] + ["[]"] * 6 + [json.dumps(GOOD)]
    path.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING, logger="air.traces"):
        assert list(iter_jsonl_records(path, max_line_bytes=1000)) == [GOOD]
    warnings = [r.getMessage() for r in caplog.records]
    assert "longer than 1000 B" in warnings[0] and len(warnings) == 4 and "Skipped 4 more" in warnings[-1]


def test_non_strict_reading_accepts_nan_for_lmms_eval_samples(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text('{"score": NaN}\n')
    assert list(iter_jsonl_records(path)) == []
    (record,) = iter_jsonl_records(path, strict=False)
    assert record["score"] != record["score"]


def test_loads_strict():
    assert loads_strict('{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}
    for text in ("NaN", "[Infinity]", "1e400", "-1e999"):
        with pytest.raises(ValueError, match="strict JSON|overflows"):
            loads_strict(text)


@pytest.mark.parametrize("special", ["fifo", "dev_zero", "folder"])
def test_special_files_are_refused_at_once(tmp_path, special):
    path = tmp_path / "traces_rank0.jsonl"
    if special == "fifo":
        os.mkfifo(path)
    elif special == "dev_zero":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()
    result = {}

    def read():
        try:
            list(iter_jsonl_records(path))
        except Exception as exc:  # noqa: BLE001 - inspected below
            result["error"] = exc

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "reading a special file hung"
    assert isinstance(result.get("error"), FileCheckError) and "Expected a regular file" in str(result["error"])


def test_writer_refuses_a_planted_symlink(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "traces_rank0.jsonl").symlink_to(victim)
    with pytest.raises(ValueError, match="a symbolic link"):
        TraceWriter(tmp_path / "traces", rank=0)
    assert victim.read_text() == "precious\n"
