"""Side-car trace files: per-sample flushing, dedup, torn lines, default location."""

import json
from pathlib import Path

from air.traces import TraceWriter, default_trace_dir, iter_trace_records, load_traces


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


def test_hvp_resume_only_skips_its_own_method(tmp_path):
    import pytest

    pytest.importorskip("lmms_eval")
    from air.hvp import HVP

    w = TraceWriter(tmp_path, rank=0)
    w.write({"task": "t", "doc_id": 0, "answer": "A", "method": "air"})
    w.write({"task": "t", "doc_id": 1, "answer": "B", "method": "uniform"})
    w.write({"task": "t", "doc_id": 2, "answer": "", "method": "air", "error": "VideoDecodeError: x"})
    model = HVP.__new__(HVP)  # only the resume bookkeeping is under test
    model.traces, model.method_name = TraceWriter(tmp_path, rank=1), "air"
    assert set(model._previous_traces()) == {"t::0"}


def test_question_id_from_dataset_fields():
    import pytest

    pytest.importorskip("lmms_eval")
    from air.hvp import _question_id

    assert _question_id({"question_id": "001-1", "id": 7}) == "001-1"
    assert _question_id({"qid": 3}) == "3"
    assert _question_id({"video": "x"}) is None


def test_summaries_of_two_tasks_over_the_same_doc_stay_apart():
    from air.traces import recall_summary, remember_summary

    doc = {"videoID": "shared", "question": "q?"}
    remember_summary(doc, {"task": "videomme_hvp", "frame_indices": [1], "method": "air"})
    remember_summary(doc, {"task": "videomme_w_subtitle_hvp", "error": "VideoDecodeError: x", "method": "air"})
    assert recall_summary(doc, "videomme_hvp") == {"method": "air", "frame_indices": [1]}
    assert recall_summary(doc, "videomme_w_subtitle_hvp")["error"].startswith("VideoDecodeError")
    assert recall_summary(doc, "mlvu_dev_hvp") is None
    assert recall_summary(doc) == recall_summary(doc, "videomme_w_subtitle_hvp"), "without a task: the latest"
