"""Helpers shared by the `air` commands: errors, help formatting, --set parsing, trace files, summaries."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


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
    """`path` if it names an existing file, else a CLIError naming the argument."""
    if not os.path.exists(path):
        raise CLIError(f"argument {label}: file not found: {path}")
    if os.path.isdir(path):
        raise CLIError(f"argument {label}: expected a file, got a directory: {path}")
    return path


def json_default(value: Any):
    """JSON form of numpy scalars/arrays, tuples and sets (for json.dumps(default=...))."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# -- trace files ------------------------------------------------------------------------------------
def load_trace_records(source: str | os.PathLike, label: str = "TRACE") -> list[dict]:
    """Trace records from a JSON trace (one record or a list), a JSONL side-car, or a trace folder.

    A folder is read like hvp's trace_dir: every `traces_rank*.jsonl` in it.
    """
    from air.traces import iter_jsonl_records, iter_trace_records

    path = Path(source)
    if path.is_dir():
        if not any(path.glob("traces_rank*.jsonl")):
            raise CLIError(f"argument {label}: no traces_rank*.jsonl files in folder {path}")
        records = list(iter_trace_records(path))  # read exactly as hvp's resume reads its trace_dir
    elif path.suffix == ".jsonl":
        records = list(iter_jsonl_records(existing_file(str(path), label)))
    else:
        existing_file(str(path), label)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CLIError(f"argument {label}: {path} is not valid JSON ({exc}). "
                           "Expected a trace (.json) or hvp's side-car traces (.jsonl).") from exc
        if isinstance(data, dict) and str(data.get("format", "")).startswith("air-selections/"):
            raise CLIError(f"argument {label}: {path} is a selection file (written by `air export`), not a trace.")
        records = data if isinstance(data, list) else [data]
    bad = [i for i, r in enumerate(records) if not isinstance(r, dict)]
    if bad:
        raise CLIError(f"argument {label}: record {bad[0]} of {path} is not a JSON object.")
    return records


def pick_record(records: list[dict], source: str, doc_id: str | None = None, task: str | None = None) -> dict:
    """The one record matching --doc-id/--task; errors list what the file holds."""
    hits = [r for r in records
            if (doc_id is None or str(r.get("doc_id")) == str(doc_id)) and (task is None or r.get("task") == task)]
    if len(hits) == 1:
        return hits[0]
    keys = [f"{r.get('task')}:{r.get('doc_id')}" for r in records[:30]]
    listing = ", ".join(keys) + (" ..." if len(records) > 30 else "")
    if not hits:
        wanted = " ".join(f"{k}={v}" for k, v in (("--doc-id", doc_id), ("--task", task)) if v is not None)
        raise CLIError(f"no trace in {source} matches {wanted or 'the request'}. It holds (task:doc_id): {listing}")
    raise CLIError(f"{len(hits)} traces in {source} match; choose one with --doc-id (and --task). "
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
