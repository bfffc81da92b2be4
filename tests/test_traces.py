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
