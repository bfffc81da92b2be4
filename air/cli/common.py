"""Helpers shared by the `air` commands: errors, help formatting, --set parsing, input and output paths,
trace files, summaries.

Paths are checked before any work starts: inputs must be readable regular files (a FIFO, a device or a
folder is refused at once), outputs go to a folder that exists or can be made and is writable (tested by
creating a file in it); an existing output file is replaced (atomically), an output that is a folder or
another special file is refused. Names taken from trace content are sanitised before they become file
names (air/safe_files.py).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from air.safe_files import (
    MIB,
    FileCheckError,
    open_regular,
    probe_writable_folder,
    read_limited,
)

#: Largest single JSON trace read by `air plot` / `air export` (JSONL traces are streamed line by line).
MAX_TRACE_JSON_BYTES = 256 * MIB


class CLIError(Exception):
    """A problem the user can fix; printed as `air <command>: error: <message>`, exit `code`.

    code 2: bad arguments or input files (argparse's convention); 1: the run itself failed.
    """

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows meaningful defaults (not None/False/[]) and wraps descriptions paragraph by paragraph."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False, []) or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n")]
        return "\n\n".join(textwrap.fill(p, width, initial_indent=indent, subsequent_indent=indent)
                            for p in paragraphs)


def add_command(sub, name: str, *, help: str, description: str, epilog: str | None = None):
    return sub.add_parser(name, help=help, description=description, epilog=epilog, formatter_class=HelpFormatter)


def parse_sets(items: Iterable[str] | None) -> dict[str, str]:
    """`["max_frames=16", "decoder=decord,pyav"]` -> {"max_frames": "16", ...}; bad items raise CLIError."""
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise CLIError(f"argument --set: invalid value {item!r}. Expected KEY=VALUE, e.g. --set max_frames=16.")
        out[key] = value.strip()
    return out


def existing_file(path: str, label: str) -> str:
    """`path` if it names a readable regular file, else a CLIError naming the argument."""
    if not os.path.exists(path):
        raise CLIError(f"argument {label}: file not found: {path}")
    if os.path.isdir(path):
        raise CLIError(f"argument {label}: expected a file, got a directory: {path}")
    try:
        open_regular(path, max_bytes=None, what="file").close()
    except FileCheckError as exc:
        raise CLIError(f"argument {label}: {exc}") from exc
    except OSError as exc:
        raise CLIError(f"argument {label}: cannot read {path}: {exc.strerror or exc}") from exc
    return path


def output_folder(path: str | os.PathLike, label: str) -> Path:
    """Create the folder `path` if needed and check that files can be written in it; CLIError otherwise."""
    try:
        return probe_writable_folder(path)
    except (NotADirectoryError, FileExistsError) as exc:
        raise CLIError(f"argument {label}: {path} is not a folder (or lies inside a file).") from exc
    except OSError as exc:
        raise CLIError(f"argument {label}: cannot write in folder {path}: {exc.strerror or exc}.") from exc


def output_file(path: str | os.PathLike, label: str) -> Path:
    """Check an output file before any work: a writable folder for it, and not a folder or special file.

    An existing regular file (or a symbolic link, which the atomic rename replaces) is overwritten.
    """
    target = Path(path)
    if target.is_dir():
        raise CLIError(f"argument {label}: {target} is a folder. Expected a file name.")
    if target.exists() and not target.is_symlink() and not target.is_file():
        raise CLIError(f"argument {label}: {target} exists and is not a regular file (a FIFO or device?). "
                       "Expected a file name.")
    output_folder(target.parent if str(target.parent) else ".", label)
    return target


# -- trace files ------------------------------------------------------------------------------------
def iter_trace_file_records(source: str | os.PathLike, label: str = "TRACE") -> Iterator[dict]:
    """Trace records (JSON objects) from a JSON trace (one record or a list), a JSONL side-car, or a trace folder.

    A folder is read like hvp's trace_dir: every `traces_rank*.jsonl` in it, streamed (unusable lines are
    skipped with a warning, air.traces.iter_jsonl_records). A JSON trace is read whole, up to
    MAX_TRACE_JSON_BYTES, as strict JSON. Every problem is a CLIError naming `label` and the file.
    """
    from air.strict_json import loads_strict
    from air.traces import iter_jsonl_records

    path = Path(source)
    try:
        if path.is_dir():
            files = sorted(path.glob("traces_rank*.jsonl"))
            if not files:
                raise CLIError(f"argument {label}: no traces_rank*.jsonl files in folder {path}")
            for file in files:  # read exactly as hvp's resume reads its trace_dir
                yield from iter_jsonl_records(file)
            return
        existing_file(str(path), label)
        if path.suffix == ".jsonl":
            yield from iter_jsonl_records(path)
            return
        raw = read_limited(path, max_bytes=MAX_TRACE_JSON_BYTES, what="trace file")
        try:
            data = loads_strict(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise CLIError(f"argument {label}: {path} is not valid JSON ({str(exc)[:200]}). "
                           "Expected a trace (.json) or hvp's side-car traces (.jsonl).") from exc
        if isinstance(data, dict) and str(data.get("format", "")).startswith("air-selections/"):
            raise CLIError(f"argument {label}: {path} is a selection file (written by `air export`), not a trace.")
        records = data if isinstance(data, list) else [data]
        bad = [i for i, r in enumerate(records) if not isinstance(r, dict)]
        if bad:
            raise CLIError(f"argument {label}: record {bad[0]} of {path} is not a JSON object.")
        yield from records
    except FileCheckError as exc:
        raise CLIError(f"argument {label}: {exc}") from exc
    except OSError as exc:
        raise CLIError(f"argument {label}: cannot read {exc.filename or path}: {exc.strerror or exc}") from exc


def find_record(source: str | os.PathLike, doc_id: str | None = None, task: str | None = None,
                label: str = "TRACE") -> dict:
    """The one record of `source` matching --doc-id/--task, read as a stream (at most two matches are kept)."""
    hits: list[dict] = []
    keys: list[str] = []
    total = matching = 0
    for record in iter_trace_file_records(source, label):
        total += 1
        if len(keys) < 30:
            keys.append(f"{record.get('task')}:{record.get('doc_id')}")
        if (doc_id is None or str(record.get("doc_id")) == str(doc_id)) and (task is None or record.get("task") == task):
            matching += 1
            if len(hits) < 2:
                hits.append(record)
    if total == 0:
        raise CLIError(f"argument {label}: no trace records in {source}")
    if matching == 1:
        return hits[0]
    listing = ", ".join(keys) + (" ..." if total > 30 else "")
    if not matching:
        wanted = " ".join(f"{k}={v}" for k, v in (("--doc-id", doc_id), ("--task", task)) if v is not None)
        raise CLIError(f"no trace in {source} matches {wanted or 'the request'}. It holds (task:doc_id): {listing}")
    raise CLIError(f"{matching} traces in {source} match; choose one with --doc-id (and --task). "
                   f"It holds (task:doc_id): {listing}")


# -- summary ----------------------------------------------------------------------------------------
def _time(seconds: float) -> str:
    from air.plotting import format_time

    return format_time(seconds, tenths=True)


def summary_lines(record: dict[str, Any]) -> list[str]:
    """A short human-readable account of one selection trace."""
    fps = float(record.get("fps") or 0) or None
    n_frames = record.get("n_frames")
    video = os.path.basename(str(record.get("video") or "?"))
    length = f"{_time(n_frames / fps)}, {n_frames} frames at {fps:.4g} fps" if fps and n_frames else "length unknown"
    lines = [f"A.I.R. selection: {video} ({length})"]
    samples = sum(1 for s in record.get("scored", []) if s[3] == "sample")
    threshold = record.get("threshold")
    events = record.get("events") or []
    event_text = ", ".join(f"{_time(s)}-{_time(e)}" for s, e in events) or "none"
    lines.append(f"  budget {record.get('budget')} | 1-FPS samples {samples} | GMM threshold "
                 f"{'n/a' if threshold is None else f'{threshold:.3f}'} | events {len(events)}: {event_text}")
    rounds = record.get("rounds") or []
    parts = [f"r{r['round']}: {len(r['candidates'])} analysed, {len(r['positives'])} positive, "
             f"{len(r['top_up'])} top-up, +{len(r['lds_added'])} LDS" for r in rounds]
    lines.append(f"  rounds {len(rounds)}" + (": " + "; ".join(parts) if parts else ""))
    fallbacks = [f.get("reason", str(f)) if isinstance(f, dict) else str(f) for f in record.get("fallbacks") or []]
    lines.append(f"  frames analysed {record.get('n_analyzed', 0)} | stop reason {record.get('stop_reason')} | "
                 f"fallbacks {', '.join(fallbacks) or 'none'}")
    score_of = {f: s for r in rounds for f, s in zip(r["candidates"], r["scores"])}
    frames = record.get("frame_indices") or []
    shown = []
    for f in frames:
        vlm = score_of.get(f, "-") if f in score_of else "-"
        when = _time(f / fps) if fps else "?"
        shown.append(f"{f}@{when}[{'?' if vlm is None else vlm}]")
    lines.append(f"  final frames ({len(frames)}; frame@m:ss[VLM score]): " + " ".join(shown))
    timings = record.get("timings_s") or {}
    if timings:
        lines.append("  seconds: " + ", ".join(f"{k} {float(v):.2f}" for k, v in timings.items()))
    return lines
