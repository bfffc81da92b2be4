"""Per-rank side-car JSONL of selection traces, written one flushed line per sample.

lmms-eval's samples file drops request arguments and docs, so the traces live here: one record per
(task, doc_id) with `Selection.to_dict()` plus task, doc_id, split and the answer (or the error).
A killed run keeps every line it wrote; `resume=True` skips what is already traced without error.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Iterator

logger = logging.getLogger(__name__)


def default_trace_dir(argv: list[str] | None = None) -> Path:
    """`<--output_path>/traces` when the lmms-eval command line names one, else ./logs_air/traces."""
    argv = list(sys.argv if argv is None else argv)
    for i, arg in enumerate(argv):
        if arg == "--output_path" and i + 1 < len(argv):
            return Path(argv[i + 1]) / "traces"
        if arg.startswith("--output_path="):
            return Path(arg.split("=", 1)[1]) / "traces"
    return Path("logs_air") / "traces"


def trace_key(task: str, doc_id: Any) -> str:
    return f"{task}::{doc_id}"


def iter_jsonl_records(path: str | Path) -> Iterator[dict]:
    """Every record of one JSONL file; a torn line (a run killed mid-write) is skipped with a warning."""
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                logger.warning("Skipping unreadable trace line %s:%d (a run killed mid-write?)", path, line_no)


def iter_trace_records(trace_dir: str | Path) -> Iterator[dict]:
    """Every record of every `traces_rank*.jsonl` in trace_dir."""
    for path in sorted(Path(trace_dir).glob("traces_rank*.jsonl")):
        yield from iter_jsonl_records(path)


def load_traces(trace_dir: str | Path) -> dict[str, dict]:
    """The last record per (task, doc_id) found in trace_dir."""
    out: dict[str, dict] = {}
    for record in iter_trace_records(trace_dir):
        if "task" in record and "doc_id" in record:
            out[trace_key(record["task"], record["doc_id"])] = record
    return out


class TraceWriter:
    """Appends trace records for one rank; each line is flushed and fsynced before returning."""

    def __init__(self, trace_dir: str | Path, rank: int = 0):
        self.dir = Path(trace_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / f"traces_rank{rank}.jsonl"
        self._written: set[str] = set()
        self._terminate_torn_line()

    def _terminate_torn_line(self) -> None:
        """A run killed mid-write leaves a partial last line: end it so new records start clean."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as handle:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                handle.write(b"\n")

    def write(self, record: dict) -> bool:
        """Append `record` unless its (task, doc_id) was already written by this writer."""
        key = trace_key(record["task"], record["doc_id"])
        if key in self._written:
            return False
        line = json.dumps(record, default=_json_default)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._written.add(key)
        return True


def _json_default(value: Any):
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


# -- in-process hand-over of selection summaries to task `process_results` ------------------------
# lmms-eval calls process_results(doc, results) in the process that generated the answer, after
# generation; the model remembers each sample's selection summary under a fingerprint of the doc so
# the *_hvp task variants can add it to the samples file.
_SUMMARIES: dict[str, dict] = {}


def doc_fingerprint(doc: Any) -> str:
    """A stable hash of a dataset row (its JSON form, keys sorted)."""
    import hashlib

    try:
        items = dict(doc)
    except (TypeError, ValueError):
        items = {"value": str(doc)}
    text = json.dumps(items, sort_keys=True, default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def selection_summary(record: dict) -> dict:
    """The compact per-sample summary written into the samples file."""
    keys = ("method", "frame_indices", "timestamps_s", "budget", "n_analyzed", "stop_reason", "error")
    out = {k: record[k] for k in keys if k in record}
    if "fallbacks" in record:
        out["fallbacks"] = [f.get("reason", "") for f in record["fallbacks"]]
    return out


def remember_summary(doc: Any, record: dict) -> None:
    """Keep the record's summary under the doc, and under (task, doc) when the record names its task."""
    summary = selection_summary(record)
    fingerprint = doc_fingerprint(doc)
    _SUMMARIES[fingerprint] = summary
    if record.get("task"):
        _SUMMARIES[f"{record['task']}::{fingerprint}"] = summary


def recall_summary(doc: Any, task: str | None = None) -> dict | None:
    """The summary remembered for `doc` in this process, or None.

    With `task`, only that task's summary: two tasks over the same docs in one run (Video-MME with and
    without subtitles) keep theirs apart.
    """
    fingerprint = doc_fingerprint(doc)
    return _SUMMARIES.get(f"{task}::{fingerprint}" if task else fingerprint)
