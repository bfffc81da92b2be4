"""resume=True when the number of ranks changes between attempts (multi-node runs requeued on fewer nodes).

lmms-eval hands doc i to rank i % world_size (`lmms_eval.utils.create_iterator`), and each hvp rank appends
to `traces_rank<R>.jsonl`; a resumed attempt reads every rank file of the folder. These tests write the
files as the attempts would and check what the next attempt reuses; the real two-process lmms-eval run
resumed with one process is in tests/test_hvp_lmms_eval.py.
"""

from __future__ import annotations

from air.fingerprint import make_fingerprint
from air.traces import TraceWriter, load_traces, scan_for_resume

FINGERPRINT = make_fingerprint({"method": "air", "model": {"pretrained": "m"}, "config": {"gamma": 0.7}})


def attempt(trace_dir, world_size: int, doc_ids, failing=(), method: str = "air"):
    """One attempt: doc i traced by rank i % world_size (lmms-eval's split), `failing` docs with an error.

    Each successful record selected frame [doc_id] of a 1-fps video, so it can be exported.
    """
    writers = {rank: TraceWriter(trace_dir, rank=rank) for rank in range(world_size)}
    for doc_id in doc_ids:
        record = {"task": "t", "doc_id": doc_id, "method": method, "fingerprint": FINGERPRINT, "answer": f"a{doc_id}",
                  "frame_indices": [doc_id], "fps": 1.0}
        if doc_id in failing:
            record.update(answer="", error="RuntimeError: CUDA out of memory")
        writers[doc_id % world_size].write(record)


def test_records_of_ranks_that_no_longer_exist_are_reused(tmp_path):
    # attempt 1 on 2 nodes x 6 GPUs (12 ranks, so traces_rank10/11 sort before traces_rank2): killed after 30 docs
    attempt(tmp_path, 12, range(30))
    scan = scan_for_resume(tmp_path, FINGERPRINT, "air")
    assert sorted(int(k.split("::")[1]) for k in scan.reusable) == list(range(30))
    # attempt 2 on 1 node x 4 GPUs: each rank skips what any former rank traced and runs the rest
    for rank in range(4):
        mine = [d for d in range(40) if d % 4 == rank]
        assert [d for d in mine if f"t::{d}" not in scan.reusable] == [d for d in mine if d >= 30]
    attempt(tmp_path, 4, range(30, 40))
    scan = scan_for_resume(tmp_path, FINGERPRINT, "air")
    assert len(scan.reusable) == 40 and scan.errors == 0 and scan.foreign == 0
    assert all(scan.reusable[f"t::{d}"]["answer"] == f"a{d}" for d in range(40))


def test_a_failure_on_a_former_rank_does_not_hide_the_later_success(tmp_path):
    # attempt 1 on 8 ranks: doc 13 fails on rank 5; attempt 2 on 4 ranks runs doc 13 again on rank 1
    attempt(tmp_path, 8, range(16), failing={13})
    first = scan_for_resume(tmp_path, FINGERPRINT, "air")
    assert "t::13" not in first.reusable and first.errors == 1
    attempt(tmp_path, 4, [13])
    # traces_rank1.jsonl (the success) is read before traces_rank5.jsonl (the failure)
    scan = scan_for_resume(tmp_path, FINGERPRINT, "air")
    assert scan.reusable["t::13"]["answer"] == "a13" and "error" not in scan.reusable["t::13"]
    assert len(scan.reusable) == 16 and scan.errors == 0
    assert load_traces(tmp_path)["t::0"]["answer"] == "a0"


def test_a_later_failure_in_the_same_file_does_not_discard_an_earlier_success(tmp_path):
    attempt(tmp_path, 1, [0])
    TraceWriter(tmp_path, rank=0).write({"task": "t", "doc_id": 0, "method": "air", "fingerprint": FINGERPRINT,
                                         "answer": "", "error": "RuntimeError: x"})
    scan = scan_for_resume(tmp_path, FINGERPRINT, "air")
    assert scan.reusable["t::0"]["answer"] == "a0" and scan.errors == 0


def test_every_reader_of_a_trace_folder_picks_the_record_resume_picks(tmp_path):
    """air export, air report, load_traces and collect_results see doc 13's success, not the failed attempt
    in a rank file read after it; a failure under another configuration is the newer experiment and wins."""
    import sys
    from pathlib import Path

    from air.cli import main
    from air.report.runs import load_run
    from air.selection_io import load_selection_file
    from air.traces import latest_records, supersedes

    attempt(tmp_path, 8, range(16), failing={13})
    attempt(tmp_path, 4, [13])
    assert load_traces(tmp_path)["t::13"]["answer"] == "a13"
    assert load_run(tmp_path).samples[("t", "13")].trace["answer"] == "a13"
    out = tmp_path / "sel.json"
    assert main(["export", str(tmp_path), "--out", str(out)]) == 0
    entries = load_selection_file(out).entries
    assert len(entries) == 16 and [e["frame_indices"] for e in entries if e["doc_id"] == 13] == [[13]]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import collect_results

    assert collect_results.supersedes is supersedes  # attach_traces uses the same rule
    ok = {"task": "t", "doc_id": 13, "fingerprint": FINGERPRINT, "answer": "a13"}
    failed = {**ok, "answer": "", "error": "x"}
    other = {**failed, "fingerprint": make_fingerprint({"method": "air", "config": {"gamma": 0.5}})}
    assert not supersedes(failed, ok) and supersedes(ok, failed) and supersedes(other, ok) and supersedes(ok, other)
    assert latest_records([ok, failed])["t::13"] is ok and latest_records([ok, other])["t::13"] is other


def test_export_of_a_folder_shared_by_several_methods_needs_method(tmp_path, capsys):
    from air.cli import main

    attempt(tmp_path, 1, range(3))
    attempt(tmp_path / "u", 1, [0], method="uniform")
    (tmp_path / "traces_rank1.jsonl").write_text((tmp_path / "u" / "traces_rank0.jsonl").read_text())
    out = tmp_path / "sel.json"
    assert main(["export", str(tmp_path), "--out", str(out)]) == 2
    assert "several methods (air, uniform): name one with --method" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--out", str(out), "--method", "uniform"]) == 0
    assert main(["export", str(tmp_path), "--out", str(out), "--method", "bolt"]) == 2
    assert "no records of method 'bolt'" in capsys.readouterr().err
