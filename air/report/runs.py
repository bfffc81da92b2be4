"""Find and read one run for `air report`: lmms-eval's results JSON and samples files, and our traces.

A run is named by any of:
- an lmms-eval `--output_path` folder (`<out>/<model>/<date>_results.json`, `<date>_samples_<task>.jsonl`,
  and the side-car traces in `<out>/traces` or the `trace_dir=` of the run's --model_args);
- the `<out>/<model>` folder, or one `<date>_results.json` file (to choose among several runs);
- a trace folder alone (`traces_rank*.jsonl`) or one trace JSONL file: no metrics, correctness unknown.
Samples are keyed by (task, doc_id). Every field is read defensively: a record from an older or newer
version of the trace shows what it has.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from air.safe_files import FileCheckError, read_limited
from air.traces import iter_jsonl_records, record_method, supersedes

logger = logging.getLogger(__name__)

_RESULTS = re.compile(r"^(?P<date>.+)_results\.json$")
_SAMPLES = re.compile(r"^(?P<date>.+?)_samples_(?P<task>.+)\.jsonl$")
_TRACE_DIR_ARG = re.compile(r"(?:^|,)\s*trace_dir=(?P<path>.*?)(?=,\s*[A-Za-z_][A-Za-z0-9_]*=|$)")
#: lmms-eval model names whose trace "method" is not the name without its `air_` prefix.
MODEL_METHODS = {"hvp": "air"}
#: Largest lmms-eval results JSON read (they are a few MiB at most).
MAX_RESULTS_BYTES = 256 << 20


class RunError(ValueError):
    """A run cannot be read: the message names the path and what was expected."""


@dataclass
class Sample:
    """One (task, doc_id) of a run: its trace record and/or its samples-file entry (either may be None)."""

    task: str
    doc_id: Any
    trace: dict | None = None
    trace_file: Path | None = None
    logged: dict | None = None


@dataclass
class Run:
    """Everything read from one run. `samples` is keyed by (task, str(doc_id)), in file order."""

    source: Path
    label: str
    results: dict | None = None
    results_file: Path | None = None
    trace_files: list[Path] = field(default_factory=list)
    samples_files: list[Path] = field(default_factory=list)
    samples: dict[tuple[str, str], Sample] = field(default_factory=dict)
    method: str | None = None
    notes: list[str] = field(default_factory=list)

    def task_metrics(self, task: str) -> dict[str, Any]:
        """The results JSON's entry for `task` ({"accuracy,none": 0.5, ...}), or {}."""
        entry = ((self.results or {}).get("results") or {}).get(task)
        return entry if isinstance(entry, dict) else {}


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(read_limited(path, max_bytes=MAX_RESULTS_BYTES, what="results file").decode("utf-8"))
    except FileCheckError as exc:
        raise RunError(str(exc)) from exc
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RunError(f"cannot read {path}: {exc}. Expected an lmms-eval results JSON.") from exc
    if not isinstance(data, dict):
        raise RunError(f"{path} holds a {type(data).__name__}. Expected an lmms-eval results JSON object.")
    return data


def _read_jsonl(path: Path) -> list[dict]:
    """The JSON objects of a samples or trace file (regular files only, long lines skipped; see iter_jsonl_records)."""
    try:
        return list(iter_jsonl_records(path, strict=False))  # lmms-eval samples files may hold NaN
    except FileCheckError as exc:
        raise RunError(str(exc)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"cannot read {path}: {exc}") from exc


def _trace_dir_from_results(results: dict) -> Path | None:
    """The `trace_dir=` of the run's --model_args, when it names an existing folder."""
    config = results.get("config") if isinstance(results.get("config"), dict) else {}
    match = _TRACE_DIR_ARG.search(str(config.get("model_args") or ""))
    if match:
        path = Path(match.group("path").strip())
        if path.is_dir():
            return path
    return None


def _pick_results(files: list[Path], source: Path, notes: list[str]) -> Path | None:
    if not files:
        return None
    files = sorted(files, key=lambda p: (p.name, str(p)))
    if len(files) > 1:
        notes.append(f"{source} holds {len(files)} results files; using the latest, {files[-1]} "
                     "(name a results file to choose another)")
    return files[-1]


def _samples_files(folder: Path, date: str | None) -> list[Path]:
    """`<date>_samples_<task>.jsonl` files of `folder`: those of `date`, else those of the latest date."""
    found = [(m.group("date"), p) for p in folder.glob("*_samples_*.jsonl") if (m := _SAMPLES.match(p.name))]
    if not found:
        return []
    dates = {d for d, _ in found}
    wanted = date if date in dates else max(dates)
    return sorted(p for d, p in found if d == wanted)


def _locate(source: Path, notes: list[str]) -> tuple[Path | None, list[Path], list[Path]]:
    """(results file, samples files, trace files) of the run named by `source`."""
    if not source.exists():
        raise RunError(f"{source}: no such file or folder. Expected an lmms-eval output folder, "
                       "a results JSON, or a trace folder/JSONL.")
    if not source.is_file() and not source.is_dir():
        raise RunError(f"{source}: neither a regular file nor a folder (a FIFO or a device?). Expected an lmms-eval "
                       "output folder, a results JSON, or a trace folder/JSONL.")
    if source.is_file():
        if _RESULTS.match(source.name):
            results_file = source
        elif source.suffix == ".jsonl":
            if _SAMPLES.match(source.name):
                raise RunError(f"{source} is an lmms-eval samples file. Name its folder or its results JSON.")
            return None, [], [source]
        else:
            raise RunError(f"{source}: unknown file type. Expected `<date>_results.json`, a trace JSONL, "
                           "or a folder.")
    else:
        own_traces = sorted(source.glob("traces_rank*.jsonl"))
        if own_traces:
            return None, [], own_traces
        results_file = _pick_results(list(source.glob("*_results.json")) or list(source.glob("*/*_results.json")),
                                     source, notes)
    trace_dirs: list[Path] = []
    if results_file is not None:
        date = _RESULTS.match(results_file.name).group("date")
        samples = _samples_files(results_file.parent, date)
        from_args = _trace_dir_from_results(_read_json(results_file))
        # the traces next to the results first (a copied run folder), then the run's own trace_dir=
        trace_dirs = [d for d in (results_file.parent.parent / "traces", from_args) if d is not None]
    else:
        model_dirs = sorted({p.parent for p in source.glob("*/*_samples_*.jsonl")} |
                            {p.parent for p in source.glob("*_samples_*.jsonl")})
        samples = _samples_files(model_dirs[-1], None) if model_dirs else []
        if len(model_dirs) > 1:
            notes.append(f"{source} holds samples files in {len(model_dirs)} folders and no results file; "
                         f"using {model_dirs[-1]}")
    if source.is_dir():
        trace_dirs.insert(0, source / "traces")
    traces: list[Path] = []
    for folder in trace_dirs:
        traces = sorted(folder.glob("traces_rank*.jsonl"))
        if traces:
            break
    if results_file is None and not samples and not traces:
        raise RunError(f"{source}: no lmms-eval results (*_results.json), samples (*_samples_*.jsonl) or traces "
                       "(traces_rank*.jsonl) found. Expected an lmms-eval --output_path folder or a trace folder.")
    if not traces:
        notes.append(f"{source}: no traces_rank*.jsonl found (looked in {', '.join(map(str, trace_dirs)) or '-'}): "
                     "frames and ratings come from the samples file's air_selection summary where present")
    return results_file, samples, traces


def _choose_method(records: list[tuple[dict, Path]], method: str | None, results: dict | None, source: Path,
                   notes: list[str]) -> str | None:
    counts = Counter(record_method(r) for r, _ in records)
    if method is not None:
        if method not in counts:
            raise RunError(f"{source}: no trace of method {method!r}. The traces hold: "
                           + ", ".join(f"{m} ({n})" for m, n in sorted(counts.items())))
        return method
    if len(counts) <= 1:
        return next(iter(counts), None)
    model = str(((results or {}).get("config") or {}).get("model") or "")
    guess = MODEL_METHODS.get(model, model.removeprefix("air_"))
    if guess in counts:
        notes.append(f"{source}: the traces hold several methods ({', '.join(sorted(counts))}); "
                     f"showing {guess!r}, the method of the run's model {model!r}")
        return guess
    raise RunError(f"{source}: the traces hold several methods: "
                   + ", ".join(f"{m} ({n} samples)" for m, n in sorted(counts.items()))
                   + ". Choose one with --method (or --other-method for OTHER_RUN).")


def load_run(source: str | Path, *, method: str | None = None) -> Run:
    """Read the run named by `source` (see the module docstring); RunError when it cannot be read."""
    source = Path(source)
    notes: list[str] = []
    results_file, samples_files, trace_files = _locate(source, notes)
    results = _read_json(results_file) if results_file else None
    records: list[tuple[dict, Path]] = []
    for path in trace_files:
        records.extend((r, path) for r in _read_jsonl(path) if "task" in r and "doc_id" in r)
    chosen = _choose_method(records, method, results, source, notes) if records else method
    run = Run(source=source, label=_label(source, results, chosen), results=results, results_file=results_file,
              trace_files=trace_files, samples_files=samples_files, method=chosen, notes=notes)
    for record, path in records:
        if chosen is not None and record_method(record) != chosen:
            continue
        key = (str(record["task"]), str(record["doc_id"]))
        sample = run.samples.setdefault(key, Sample(task=str(record["task"]), doc_id=record["doc_id"]))
        if supersedes(record, sample.trace):  # each sample's latest record, as resume picks it
            sample.trace, sample.trace_file = record, path
    for path in samples_files:
        task = _SAMPLES.match(path.name).group("task")
        for entry in _read_jsonl(path):
            if "doc_id" not in entry:
                continue
            key = (task, str(entry["doc_id"]))
            sample = run.samples.setdefault(key, Sample(task=task, doc_id=entry["doc_id"]))
            sample.logged = entry
    for note in notes:
        logger.warning("%s", note)
    return run


def _label(source: Path, results: dict | None, method: str | None) -> str:
    """A short name for the run: method, model and folder."""
    parts = []
    if method:
        parts.append(method)
    model = (results or {}).get("model_name") or ((results or {}).get("config") or {}).get("model")
    if model:
        parts.append(Path(str(model)).name)
    folder = source.parent.name if source.is_file() else source.name
    parts.append(folder or str(source))
    return " · ".join(dict.fromkeys(parts))
