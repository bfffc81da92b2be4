#!/usr/bin/env python
"""Collect lmms-eval output folders and A.I.R. selection traces into one Markdown table.

Reads, under every folder given (recursively):
- lmms-eval results files ``<model_dir>/<date>_results.json`` ("results" -> task -> "<metric>,<filter>"
  values; "config" -> model and model_args), as lmms-eval 0.7.3's EvaluationTracker writes them into
  ``<output_path>/<sanitized model name>/``;
- the samples files next to them, ``<date>_samples_<task>.jsonl`` (one JSON object per doc, with doc_id);
- A.I.R. trace side-car JSONL files anywhere under a run's ``--output_path`` folder (records with task,
  doc_id, frame_indices, n_analyzed, stop_reason, ...; one file per rank).

Prints one row per benchmark x method x backbone: accuracy (percent), samples, mean answering frames and
mean frames analysed by the VLM (from the traces), and how many samples have a trace.

Usage: python scripts/collect_results.py OUTPUT_DIR [OUTPUT_DIR ...] [--json rows.json]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS_SUFFIX = "_results.json"
SAMPLES_PATTERN = re.compile(r"^(?P<date>.+?)_samples_(?P<task>.+)\.jsonl$")
HVP_SUFFIX = "_hvp"
DEFAULT_CLIP = "open_clip:EVA02-L-14/merged2b_s4b_b131k"

# Main metric of each benchmark task and the factor that turns it into a percentage.
PRIMARY_METRICS: dict[str, float] = {
    "videomme_perception_score": 1.0,
    "mlvu_percetion_score": 1.0,
    "lvb_acc": 100.0,
    "exact_match": 100.0,
    "WUPS": 1.0,
    "score": 100.0,
    "submission": 1.0,
    "acc": 100.0,
}
BENCHMARK_NAMES: dict[str, str] = {
    "videomme": "Video-MME",
    "videomme_long": "Video-MME (long)",
    "videomme_w_subtitle": "Video-MME (w/ subs)",
    "videomme_long_w_subtitle": "Video-MME (long, w/ subs)",
    "mlvu_dev": "MLVU dev",
    "mlvu_test": "MLVU test",
    "longvideobench_val_v": "LongVideoBench val",
    "longvideobench_test_v": "LongVideoBench test",
    "nextqa_mc_test": "NExT-QA MC test",
    "nextqa_oe_val": "NExT-QA OE val",
    "nextqa_oe_test": "NExT-QA OE test",
    "egoschema_subset": "EgoSchema subset",
    "egoschema": "EgoSchema",
}
METHOD_NAMES = {"hvp": "A.I.R.", "air_uniform": "Uniform", "air_clip_topk": "CLIP top-k", "air_bolt": "BOLT"}
METHOD_ORDER = {"air_uniform": 0, "air_clip_topk": 1, "air_bolt": 1, "hvp": 2}
# The 'method' tag the models write into their trace records, used to tell runs apart in a shared folder.
TRACE_METHODS = {"hvp": "air", "air_uniform": "uniform", "air_clip_topk": "clip_topk", "air_bolt": "bolt"}
# model_args that do not change what is measured (paths, devices, resumption) are left out of the method label.
PLUMBING_ARGS = {
    "pretrained", "trace_dir", "resume", "device", "device_map", "attn_implementation", "torch_dtype", "dtype",
    "batch_size", "cache_dir", "decoder", "analysis_batch_size", "trust_remote_code", "max_pixels", "min_pixels",
    "clip_device", "clip_batch_size", "selection_file",
}


@dataclass
class Run:
    """One task of one lmms-eval results file, with what its samples and traces say."""

    task: str
    model: str
    model_args: dict
    run_root: Path
    results_file: Path
    date: str
    metric: str | None
    value: float | None
    scale: float
    n_samples: int | None
    doc_ids: list | None
    traces: dict = field(default_factory=dict)  # doc_id -> record


@dataclass
class Row:
    """One line of the table (JSON-ready)."""

    benchmark: str
    task: str
    method: str
    model: str
    backbone: str
    accuracy: float | None
    metric: str | None
    samples: int | None
    mean_frames: float | None
    mean_frames_analysed: float | None
    traced: int
    trace_errors: int
    results_file: str


def warn(message: str) -> None:
    print(f"collect_results: {message}", file=sys.stderr)


def parse_model_args(raw) -> dict:
    """Turn lmms-eval's model_args (a 'k=v,k=v' string, or a dict from --config) into a dict of strings."""
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    if not isinstance(raw, str) or not raw.strip():
        return {}
    parts, depth, current = [], 0, ""
    for char in raw:
        if char in "[{(":
            depth += 1
        elif char in "]})":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    args = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if sep:
            args[key.strip()] = value.strip()
    return args


def read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        warn(f"skipping {path}: cannot read it as JSON ({error}).")
        return None


def read_jsonl(path: Path) -> Iterator[dict]:
    """Yield the JSON objects of a JSONL file; a broken line (e.g. a killed writer's last one) is skipped."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as error:
        warn(f"skipping {path}: {error}.")
        return
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            warn(f"{path}:{number}: not valid JSON, line skipped.")
            continue
        if isinstance(record, dict):
            yield record


def primary_metric(task_results: dict) -> tuple[str | None, float | None, float]:
    """Pick (metric name, value, factor to percent) from one task's results; unknown metrics keep factor 1."""
    numeric = {}
    for key, value in task_results.items():
        if "," not in key or "_stderr" in key:
            continue
        name = key.split(",", 1)[0]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            continue
        numeric.setdefault(name, float(value))
    for name, factor in PRIMARY_METRICS.items():
        if name in numeric:
            return name, numeric[name], factor
    if numeric:
        name = next(iter(numeric))
        return name, numeric[name], 1.0
    return None, None, 1.0


def load_runs(results_file: Path) -> list[Run]:
    """Read one results file and the samples files written with it; one Run per task."""
    data = read_json(results_file)
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        if data is not None:
            warn(f"skipping {results_file}: no 'results' mapping (not an lmms-eval results file).")
        return []
    config = data.get("config") or {}
    model = str(config.get("model") or "unknown")
    model_args = parse_model_args(config.get("model_args"))
    if "pretrained" not in model_args and data.get("model_name"):
        model_args["pretrained"] = str(data["model_name"])
    date = results_file.name[: -len(RESULTS_SUFFIX)]
    n_declared = data.get("n-samples") or {}
    runs = []
    for task, task_results in data["results"].items():
        if not isinstance(task_results, dict):
            continue
        metric, value, factor = primary_metric(task_results)
        if metric is None:
            continue  # a group entry or a task without a numeric metric
        samples_file = results_file.parent / f"{date}_samples_{task}.jsonl"
        doc_ids = None
        if samples_file.is_file():
            doc_ids = list(dict.fromkeys(record["doc_id"] for record in read_jsonl(samples_file) if "doc_id" in record))
        n_samples = len(doc_ids) if doc_ids is not None else (n_declared.get(task) or {}).get("effective")
        runs.append(
            Run(task, model, model_args, results_file.parent.parent, results_file, date, metric, value, factor, n_samples, doc_ids)
        )
    return runs


def latest_runs(runs: Iterable[Run]) -> list[Run]:
    """Keep, per run folder, model, model_args and task, the run of the latest results file."""
    chosen: dict[tuple, Run] = {}
    for run in runs:
        key = (run.run_root, run.model, tuple(sorted(run.model_args.items())), run.task)
        if key not in chosen or (run.date, str(run.results_file)) > (chosen[key].date, str(chosen[key].results_file)):
            chosen[key] = run
    return list(chosen.values())


def trace_matches_model(record: dict, model: str) -> bool:
    """True when a trace record names this lmms-eval model ('model' key) or its method ('method' key)."""
    if "model" in record:
        return record["model"] == model
    if "method" in record:
        return record["method"] in (model, TRACE_METHODS.get(model))
    return True


def is_trace_file(path: Path) -> bool:
    return path.suffix == ".jsonl" and SAMPLES_PATTERN.match(path.name) is None


def attach_traces(runs: list[Run], folders: list[Path]) -> None:
    """Give each run the trace records found under its run folder (the deepest run folder holding the file).

    Per (task, doc_id) the last record wins, reading trace files in sorted path order and lines in order,
    so a rerun's appended record replaces the earlier one and padding duplicates collapse. When several
    runs in one folder share a task, a record goes to the run its 'model' or 'method' field names.
    """
    roots = sorted({run.run_root for run in runs}, key=lambda p: len(p.parts), reverse=True)
    seen_files: set[Path] = set()
    trace_files = []
    for folder in folders:
        for path in sorted(folder.rglob("*.jsonl")):
            resolved = path.resolve()
            if resolved not in seen_files and is_trace_file(path):
                seen_files.add(resolved)
                trace_files.append(path)
    for path in sorted(trace_files):
        owner = next((root for root in roots if root == path.parent or root in path.parents), None)
        if owner is None:
            continue
        candidates = [run for run in runs if run.run_root == owner]
        for record in read_jsonl(path):
            if "task" not in record or "doc_id" not in record:
                continue
            matching = [run for run in candidates if run.task == record["task"]]
            if len(matching) > 1:
                matching = [run for run in matching if trace_matches_model(record, run.model)]
            if len(matching) > 1:
                warn(f"{path}: trace of {record['task']} doc {record['doc_id']} fits {len(matching)} runs in {owner} "
                     "(several methods or backbones share one output folder); give each run its own --output_path.")
                continue
            if matching:
                matching[0].traces[record["doc_id"]] = record


def summarize(run: Run) -> Row:
    """Turn a Run into a table row: accuracy in percent, trace statistics over the run's own docs."""
    records = run.traces
    if run.doc_ids is not None:
        wanted = set(run.doc_ids)
        records = {doc_id: r for doc_id, r in records.items() if doc_id in wanted}
    errors = sum(1 for r in records.values() if r.get("error"))
    good = [r for r in records.values() if not r.get("error") and isinstance(r.get("frame_indices"), list)]
    frames = [len(r["frame_indices"]) for r in good]
    analysed = [float(r["n_analyzed"]) for r in good if isinstance(r.get("n_analyzed"), (int, float))]
    base = run.task.removesuffix(HVP_SUFFIX)
    pretrained = run.model_args.get("pretrained", "")
    settings = [
        f"{k}={v}" for k, v in sorted(run.model_args.items())
        if k not in PLUMBING_ARGS and not (k == "clip_model" and v == DEFAULT_CLIP)
    ]
    method = METHOD_NAMES.get(run.model, run.model) + (f" ({', '.join(settings)})" if settings else "")
    return Row(
        benchmark=BENCHMARK_NAMES.get(base, base),
        task=run.task,
        method=method,
        model=run.model,
        backbone=pretrained.rstrip("/").split("/")[-1] if pretrained else "unknown",
        accuracy=None if run.value is None else run.value * run.scale,
        metric=run.metric,
        samples=run.n_samples,
        mean_frames=sum(frames) / len(frames) if frames else None,
        mean_frames_analysed=sum(analysed) / len(analysed) if analysed else None,
        traced=len(records),
        trace_errors=errors,
        results_file=str(run.results_file),
    )


def collect(folders: Iterable[str | Path]) -> list[Row]:
    """Read every results file, samples file and trace file under the folders; return sorted table rows."""
    roots = [Path(folder) for folder in folders]
    for root in roots:
        if not root.is_dir():
            raise FileNotFoundError(f"Results folder not found: {root}. Expected an lmms-eval --output_path folder.")
    results_files = sorted({p.resolve(): p for root in roots for p in root.rglob(f"*{RESULTS_SUFFIX}")}.values())
    runs = latest_runs(run for path in results_files for run in load_runs(path))
    attach_traces(runs, roots)
    rows = [summarize(run) for run in runs]
    benchmark_rank = {name: i for i, name in enumerate(BENCHMARK_NAMES.values())}
    rows.sort(key=lambda r: (benchmark_rank.get(r.benchmark, len(benchmark_rank)), r.benchmark, r.backbone,
                             METHOD_ORDER.get(r.model, 1), r.method))
    return rows


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def markdown_table(rows: list[Row]) -> str:
    """Render rows as a GitHub Markdown table."""
    header = ["Benchmark", "Method", "Backbone", "Accuracy (%)", "Samples", "Mean frames", "Mean frames analysed", "Traced"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * 5) + "|"]
    for row in rows:
        traced = str(row.traced) + (f" ({row.trace_errors} failed)" if row.trace_errors else "")
        cells = [row.benchmark, row.method, row.backbone, fmt(row.accuracy), fmt(row.samples),
                 fmt(row.mean_frames), fmt(row.mean_frames_analysed), traced]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="lmms-eval --output_path folders (searched recursively)")
    parser.add_argument("--json", dest="json_path", help="also write the rows as a JSON list to this file")
    args = parser.parse_args(argv)
    try:
        rows = collect(args.folders)
    except FileNotFoundError as error:
        print(f"collect_results: {error}", file=sys.stderr)
        return 2
    if not rows:
        print(f"collect_results: no lmms-eval *{RESULTS_SUFFIX} file with a metric under: {', '.join(args.folders)}", file=sys.stderr)
        return 1
    print(markdown_table(rows))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps([asdict(row) for row in rows], indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
