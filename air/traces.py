"""Per-rank side-car JSONL of selection traces, written one flushed line per sample.

lmms-eval's samples file drops request arguments and docs, so the traces live here: one record per
(task, doc_id) with `Selection.to_dict()` plus task, doc_id, split, the prompt sent, the answer (or
the error) and the run's fingerprint (air/fingerprint.py). Every line is strict JSON: a non-finite
number is written as null and its path listed under "non_finite_replaced". A killed run keeps every
line it wrote; `resume=True` reuses only error-free records with the same fingerprint (`scan_for_resume`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from air.fingerprint import ABSENT, differing_fields, short_value
from air.safe_files import MIB, human_size, open_regular
from air.strict_json import (  # noqa: F401  (loads_strict and dumps_strict are public here too)
    StrictJSONError,
    dumps_strict,
    loads_strict,
    strict_json_value,
)

logger = logging.getLogger(__name__)

#: Longest trace line read (a 3-hour video's record is a few MiB); longer lines are skipped unread.
MAX_LINE_BYTES = 64 * MIB
#: Warnings per file about skipped lines; the rest are counted in one closing warning.
_MAX_LINE_WARNINGS = 3


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


def _lines(handle, max_line_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes without the newline, or None for a line longer than max_line_bytes) of a binary file."""
    line_no = 0
    while True:
        chunk = handle.readline(max_line_bytes + 1)
        if not chunk:
            return
        line_no += 1
        if len(chunk) > max_line_bytes and not chunk.endswith(b"\n"):
            while chunk and not chunk.endswith(b"\n"):  # skip the rest of the line, a piece at a time
                chunk = handle.readline(max_line_bytes)
            yield line_no, None
            continue
        yield line_no, chunk.rstrip(b"\r\n")


def iter_jsonl_records(path: str | Path, *, strict: bool = True, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[dict]:
    """Every JSON object of one JSONL file (a regular file); other lines are skipped with a warning.

    Skipped: a torn line (a run killed mid-write), a line that is not strict JSON (strict=True: no NaN,
    Infinity or overflowing numbers; strict=False accepts them as Python's json does), a value that is
    not an object, an undecodable line, a line above max_line_bytes (never read into memory). Raises
    OSError when the file cannot be opened and FileCheckError (ValueError) for a non-regular file.
    """
    loads = loads_strict if strict else json.loads
    skipped = 0
    with open_regular(path, max_bytes=None, what="trace file") as handle:
        for line_no, raw in _lines(handle, max_line_bytes):
            if raw is not None and not raw.strip():
                continue
            why = None
            if raw is None:
                why = f"longer than {human_size(max_line_bytes)}"
            else:
                try:
                    record = loads(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    why = "not UTF-8"
                except StrictJSONError as exc:
                    why = str(exc)
                except (ValueError, RecursionError):  # JSONDecodeError, too many digits, too deep
                    why = "unreadable JSON (a run killed mid-write?)"
                else:
                    if isinstance(record, dict):
                        yield record
                        continue
                    why = f"a JSON {type(record).__name__}, not an object"
            skipped += 1
            if skipped <= _MAX_LINE_WARNINGS:
                logger.warning("Skipping trace line %s:%d: %s.", path, line_no, why)
    if skipped > _MAX_LINE_WARNINGS:
        logger.warning("Skipped %d more unusable lines of %s.", skipped - _MAX_LINE_WARNINGS, path)


def iter_trace_records(trace_dir: str | Path) -> Iterator[dict]:
    """Every record of every `traces_rank*.jsonl` in trace_dir."""
    for path in sorted(Path(trace_dir).glob("traces_rank*.jsonl")):
        yield from iter_jsonl_records(path)


def record_method(record: dict) -> str:
    """The method that wrote a trace record (hvp's "air", "uniform", ...); "air" when the record names none."""
    return str(record.get("method") or "air")


def supersedes(new: dict, old: dict | None) -> bool:
    """Whether `new`, read after `old`, becomes its sample's record.

    The later record wins, except that a failed record never replaces an error-free one made under the
    same fingerprint: when the number of ranks changes between attempts, a sample's failed attempt and
    its later success can sit in different rank files, which are read in name order, not in time order.
    """
    if old is None or not new.get("error") or old.get("error"):
        return True
    return _fingerprint_hash(new) != _fingerprint_hash(old)


def _fingerprint_hash(record: dict) -> Any:
    fingerprint = record.get("fingerprint")
    return fingerprint.get("hash") if isinstance(fingerprint, dict) else None


def latest_records(records: Iterable[dict]) -> dict[str, dict]:
    """{trace key: record}: each (task, doc_id)'s record by `supersedes`, records read in the given order."""
    out: dict[str, dict] = {}
    for record in records:
        if isinstance(record, dict) and "task" in record and "doc_id" in record:
            key = trace_key(record["task"], record["doc_id"])
            if supersedes(record, out.get(key)):
                out[key] = record
    return out


def load_traces(trace_dir: str | Path) -> dict[str, dict]:
    """Each (task, doc_id)'s record in trace_dir (the latest; see `supersedes`)."""
    return latest_records(iter_trace_records(trace_dir))


class TraceWriter:
    """Appends trace records for one rank; each line is strict JSON, flushed and fsynced before returning."""

    def __init__(self, trace_dir: str | Path, rank: int = 0):
        self.dir = Path(trace_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / f"traces_rank{rank}.jsonl"
        if self.path.is_symlink() or (self.path.exists() and not self.path.is_file()):
            raise ValueError(f"Invalid trace file {self.path}: a symbolic link or not a regular file. Expected a "
                             "regular file (traces are never written through links); remove it or choose another "
                             "trace_dir.")
        self._written: set[str] = set()
        self._warned_non_finite = False
        self._terminate_torn_line()

    def _open(self, flags: int) -> int:
        """A descriptor on the trace file, never through a symbolic link planted at its name."""
        return os.open(self.path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), 0o666)

    def _terminate_torn_line(self) -> None:
        """A run killed mid-write leaves a partial last line: end it so new records start clean."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with os.fdopen(self._open(os.O_RDWR), "rb+") as handle:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                handle.write(b"\n")

    def write(self, record: dict) -> bool:
        """Append `record` unless its (task, doc_id) was already written by this writer."""
        key = trace_key(record["task"], record["doc_id"])
        if key in self._written:
            return False
        clean, replaced = strict_json_value(record)
        if replaced:
            clean["non_finite_replaced"] = replaced
            if not self._warned_non_finite:
                self._warned_non_finite = True
                logger.warning("Trace of %s holds non-finite numbers at %s: written as null (listed under "
                               "'non_finite_replaced'; later records are not warned about).", key, ", ".join(replaced))
        line = json.dumps(clean, allow_nan=False)
        with os.fdopen(self._open(os.O_WRONLY | os.O_APPEND | os.O_CREAT), "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._written.add(key)
        return True


def find_video(recorded: Any, folders: Iterable[str | Path] = ()) -> str | None:
    """The video file a trace names (`recorded`, its "video"): as written, else relative to (or by name
    inside) one of `folders` (e.g. the trace's own folder); None when no such regular file exists."""
    if not isinstance(recorded, str) or not recorded.strip():
        return None
    candidates = [Path(recorded)]
    for folder in folders:
        candidates += [Path(folder) / recorded, Path(folder) / Path(recorded).name]
    for candidate in candidates:
        try:
            if candidate.is_file():
                return str(candidate)
        except (OSError, ValueError):  # a name too long or holding NUL
            continue
    return None


# -- resume: which earlier records may be reused ------------------------------------------------
@dataclass
class ResumeScan:
    """What `scan_for_resume` found in a trace folder for one method and fingerprint.

    reusable: {trace key: record} made under the same fingerprint without error. errors: samples whose
    matching record holds an error (they run again). foreign: samples of this method traced only under
    another fingerprint (they run again); foreign_fields: {dotted path: count} of what differed, with
    foreign_values {path: (now, then)} from the latest such record. other_methods: {method: records}
    of other methods sharing the folder (ignored).
    """

    reusable: dict[str, dict] = field(default_factory=dict)
    errors: int = 0
    foreign: int = 0
    foreign_fields: Counter = field(default_factory=Counter)
    foreign_values: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    other_methods: Counter = field(default_factory=Counter)

    def summary(self, max_fields: int = 6) -> str:
        """One sentence: reused, rerun and ignored counts, and which fingerprint fields differed."""
        parts = [f"{len(self.reusable)} traced samples reused"]
        if self.errors:
            parts.append(f"{self.errors} traced with an error will run again")
        if self.foreign:
            why = "; ".join(self._field_note(path, count) for path, count in self.foreign_fields.most_common(max_fields))
            more = len(self.foreign_fields) - max_fields
            if more > 0:
                why += f"; and {more} more fields"
            parts.append(f"{self.foreign} skipped as foreign, made under another configuration, will run "
                         f"again (differs: {why})")
        if self.other_methods:
            methods = ", ".join(f"{m}: {n}" for m, n in sorted(self.other_methods.items()))
            parts.append(f"records of other methods ignored ({methods})")
        return "; ".join(parts)

    def _field_note(self, path: str, count: int) -> str:
        if path == NO_FINGERPRINT:
            return f"no fingerprint, written by an older version ({count} samples)"
        now, then = self.foreign_values[path]
        return f"{path}: {short_value(now)} now, {short_value(then)} before ({count} samples)"


#: The fingerprint path reported for a record written before fingerprints existed.
NO_FINGERPRINT = "fingerprint"


def scan_for_resume(trace_dir: str | Path, fingerprint: dict, method: str) -> ResumeScan:
    """Split the records of trace_dir into reusable ones and the rest, for `method` and `fingerprint`.

    A record is reused when its method is `method` (a record without one counts as this method's),
    its fingerprint hash equals fingerprint["hash"] and it holds no error; the last such record per
    (task, doc_id) wins, except that a failed record never replaces an error-free one. Every
    `traces_rank*.jsonl` is read, so records are found whatever rank wrote them: the number of ranks
    (processes, nodes) may change between attempts. A sample whose records all carry another fingerprint (or none) is foreign.
    """
    matching: dict[str, dict] = {}
    foreign: dict[str, dict[str, tuple[Any, Any]]] = {}
    scan = ResumeScan()
    for record in iter_trace_records(trace_dir):
        if "task" not in record or "doc_id" not in record:
            continue
        record_method = record.get("method", method)
        if record_method != method:
            scan.other_methods[str(record_method)] += 1
            continue
        key = trace_key(record["task"], record["doc_id"])
        theirs = record.get("fingerprint")
        if isinstance(theirs, dict) and theirs.get("hash") == fingerprint["hash"]:
            if supersedes(record, matching.get(key)):
                matching[key] = record
        elif isinstance(theirs, dict) and isinstance(theirs.get("parts"), dict):
            foreign[key] = differing_fields(fingerprint["parts"], theirs["parts"]) or {
                "fingerprint.hash": (fingerprint["hash"], theirs.get("hash", ABSENT))}
        else:
            foreign[key] = {NO_FINGERPRINT: (fingerprint["hash"], ABSENT)}
    scan.reusable = {k: r for k, r in matching.items() if not r.get("error")}
    scan.errors = len(matching) - len(scan.reusable)
    for key, diff in foreign.items():
        if key in matching:
            continue
        scan.foreign += 1
        for path, values in diff.items():
            scan.foreign_fields[path] += 1
            scan.foreign_values[path] = values
    return scan


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
