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


def attempt(trace_dir, world_size: int, doc_ids, failing=()):
    """One attempt: doc i traced by rank i % world_size (lmms-eval's split), `failing` docs with an error."""
    writers = {rank: TraceWriter(trace_dir, rank=rank) for rank in range(world_size)}
    for doc_id in doc_ids:
        record = {"task": "t", "doc_id": doc_id, "method": "air", "fingerprint": FINGERPRINT, "answer": f"a{doc_id}"}
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
