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

With --table NAME (a table of scripts/paper_tables.py: tab1, efficiency, ablations, strategies, selectors,
or `all`), prints that table in the paper's shape instead: one row per run config, one column per
benchmark, the paper's reference numbers beside ours, blank where a run is missing. A results file fills
a cell when its model and model_args match the row's run config (run-only arguments such as trace_dir,
devices or resume do not count); when several do, the latest results file wins.

Usage: python scripts/collect_results.py OUTPUT_DIR [OUTPUT_DIR ...] [--json rows.json] [--table NAME ...]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paper_tables import (
    DEFAULT_CLIP,
    PAPER_REFERENCE,
    PLUMBING_ARGS,
    TABLES,
    load_run,
    parse_model_args,
    run_identity,
)

from air.traces import supersedes  # noqa: E402  (after the sys.path line, like paper_tables)

RESULTS_SUFFIX = "_results.json"
SAMPLES_PATTERN = re.compile(r"^(?P<date>.+?)_samples_(?P<task>.+)\.jsonl$")
HVP_SUFFIX = "_hvp"

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
METHOD_NAMES = {"hvp": "A.I.R.", "air_uniform": "Uniform", "air_clip_topk": "CLIP top-k", "air_bolt": "BOLT",
                "air_aks": "AKS-style", "air_mdp3": "MDP3-style"}
METHOD_ORDER = {"air_uniform": 0, "air_clip_topk": 1, "air_bolt": 1, "air_aks": 1, "air_mdp3": 1, "hvp": 2}
# The 'method' tag the models write into their trace records, used to tell runs apart in a shared folder.
TRACE_METHODS = {"hvp": "air", "air_uniform": "uniform", "air_clip_topk": "clip_topk", "air_bolt": "bolt",
                 "air_aks": "aks", "air_mdp3": "mdp3"}


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
    so a rerun's appended record replaces the earlier one and padding duplicates collapse; but a failed
    record never replaces an error-free one of the same configuration (air.traces.supersedes). When several
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
            if matching and supersedes(record, matching[0].traces.get(record["doc_id"])):
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


def collect_runs(folders: Iterable[str | Path]) -> list[Run]:
    """Every run (task of a results file, latest per folder and settings) under the folders, traces attached."""
    roots = [Path(folder) for folder in folders]
    for root in roots:
        if not root.is_dir():
            raise FileNotFoundError(f"Results folder not found: {root}. Expected an lmms-eval --output_path folder.")
    results_files = sorted({p.resolve(): p for root in roots for p in root.rglob(f"*{RESULTS_SUFFIX}")}.values())
    runs = latest_runs(run for path in results_files for run in load_runs(path))
    attach_traces(runs, roots)
    return runs


def collect(folders: Iterable[str | Path]) -> list[Row]:
    """Read every results file, samples file and trace file under the folders; return sorted table rows."""
    return sorted((summarize(run) for run in collect_runs(folders)), key=_row_order)


def _row_order(row: Row) -> tuple:
    benchmark_rank = {name: i for i, name in enumerate(BENCHMARK_NAMES.values())}
    return (benchmark_rank.get(row.benchmark, len(benchmark_rank)), row.benchmark, row.backbone,
            METHOD_ORDER.get(row.model, 1), row.method)


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


# ------------------------------------------------------------------------------------------------ paper tables
def table_cells(name: str, runs: list[Run]) -> dict[tuple[str, str], Row]:
    """{(run config, task): the Row of the latest results file matching that run config} for one table."""
    wanted = {}
    for row in TABLES[name].rows:
        config = load_run(row.run)
        wanted.setdefault(run_identity(config.model, config.model_args), row.run)
    found: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        config_name = wanted.get(run_identity(run.model, run.model_args))
        if config_name is not None:
            found.setdefault((config_name, run.task), []).append(run)
    cells = {}
    for key, matches in found.items():
        matches.sort(key=lambda r: (r.date, str(r.results_file)))
        if len(matches) > 1:
            warn(f"{len(matches)} results files match {key[0]} on {key[1]}; using the latest, {matches[-1].results_file} "
                 f"(others: {', '.join(str(m.results_file) for m in matches[:-1])}).")
        cells[key] = summarize(matches[-1])
    return cells


def _mean_over(rows: list[Row], field_name: str) -> float | None:
    """Mean of a per-run mean, weighted by the run's error-free traced samples."""
    pairs = [(getattr(r, field_name), r.traced - r.trace_errors) for r in rows if getattr(r, field_name) is not None]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else None


def paper_table_markdown(name: str, cells: dict[tuple[str, str], Row]) -> tuple[str, list[dict]]:
    """One table in the paper's shape (ours beside the paper's numbers; blank where a run is missing) + JSON rows."""
    spec = TABLES[name]
    reference = PAPER_REFERENCE["results"]
    with_reference = {task for _, task in spec.columns if any((row.run, task) in reference for row in spec.rows)}
    header = list(spec.header)
    for label, task in spec.columns:
        header += [label, "paper"] if task in with_reference else [label]
    header += ["Mean frames", "Mean frames rated"]
    lines = [f"### {spec.title}", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(spec.header) + "---:|" * (len(header) - len(spec.header))]
    records: list[dict] = []
    missing: dict[str, list[str]] = {}
    for row in spec.rows:
        cells_of_row = [cells[(row.run, task)] for _, task in spec.columns if (row.run, task) in cells]
        line = list(row.label)
        for _, task in spec.columns:
            ours = cells.get((row.run, task))
            paper = reference.get((row.run, task), {}).get("accuracy")
            line.append("" if ours is None or ours.accuracy is None else f"{ours.accuracy:.1f}")
            if task in with_reference:
                line.append("" if paper is None else f"{paper:.1f}")
            if ours is None and task in load_run(row.run).tasks:
                missing.setdefault(row.run, []).append(task)
            records.append({"table": name, "row": list(row.label), "run": row.run, "task": task,
                            "accuracy": None if ours is None else ours.accuracy, "paper_accuracy": paper,
                            "samples": None if ours is None else ours.samples,
                            "mean_frames": None if ours is None else ours.mean_frames,
                            "mean_frames_analysed": None if ours is None else ours.mean_frames_analysed,
                            "results_file": None if ours is None else ours.results_file})
        frames, rated = _mean_over(cells_of_row, "mean_frames"), _mean_over(cells_of_row, "mean_frames_analysed")
        line += ["" if frames is None else f"{frames:.1f}", "" if rated is None else f"{rated:.1f}"]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |")
    notes = [spec.note] if spec.note else []
    frames_ref = [f"{' / '.join(row.label)}: {reference[(row.run, task)]['frames']} frames on {label}"
                  for row in spec.rows for label, task in spec.columns if "frames" in reference.get((row.run, task), {})]
    if frames_ref:
        notes.append("Paper, mean answering frames: " + "; ".join(frames_ref) + ".")
    if name in ("tab1", "efficiency"):
        cost = PAPER_REFERENCE["video_mme_cost"]
        notes.append(f"Paper, Video-MME cost: {cost['frames_analysed_mean']} frames rated per video on average, "
                     f"{cost['analysis_s_per_video']} s of VLM analysis per video ({cost['analysis_s_128_frames']} s "
                     f"to rate 128 frames directly), {cost['other_stages_s']} s for the other stages.")
    absent = [f"{run} ({'all ' + str(len(tasks)) + ' tasks' if len(tasks) == len(load_run(run).tasks) else ', '.join(tasks)})"
              for run, tasks in missing.items()]
    notes.append("Mean frames / rated: over every benchmark of the row found (traced samples). "
                 + (f"Missing runs: {'; '.join(absent)}." if absent else "Every run found."))
    lines += [""] + notes
    return "\n".join(lines), records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="lmms-eval --output_path folders (searched recursively)")
    parser.add_argument("--json", dest="json_path", help="also write the rows as a JSON list to this file")
    parser.add_argument("--table", action="append", choices=[*TABLES, "all"],
                        help="print one of the paper's tables (scripts/paper_tables.py) instead; repeatable, or all")
    args = parser.parse_args(argv)
    try:
        runs = collect_runs(args.folders)
    except FileNotFoundError as error:
        print(f"collect_results: {error}", file=sys.stderr)
        return 2
    if args.table:
        names = list(TABLES) if "all" in args.table else list(dict.fromkeys(args.table))
        records = []
        for name in names:
            text, rows = paper_table_markdown(name, table_cells(name, runs))
            print(text + "\n")
            records += rows
        if args.json_path:
            Path(args.json_path).write_text(json.dumps(records, indent=2), encoding="utf-8")
        return 0
    rows = [summarize(run) for run in runs]
    rows.sort(key=_row_order)
    if not rows:
        print(f"collect_results: no lmms-eval *{RESULTS_SUFFIX} file with a metric under: {', '.join(args.folders)}", file=sys.stderr)
        return 1
    print(markdown_table(rows))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps([asdict(row) for row in rows], indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
