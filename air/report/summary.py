"""The summary part of the report: per task and run, the metric and the statistics of the rows.

Numbers come from the rows (`air.report.rows`), so the summary and the rows never disagree; the task
metric comes from lmms-eval's results JSON when the run has one.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from air.report.rows import num, text
from air.report.runs import Run

DURATION_ORDER = ("short", "medium", "long")
GROUP_KEYS = (("duration", "by duration"), ("task_type", "by task type"))


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def metric_list(entry: dict[str, Any]) -> list[list]:
    """[[name, value], ...] of a results-JSON task entry: numeric metrics without their stderr."""
    out = []
    for key, value in entry.items():
        if key == "alias" or "_stderr" in key or num(value) is None:
            continue
        name, _, flt = key.partition(",")
        name = name if flt in ("", "none") else f"{name} ({flt})"
        if name == "air_selection":
            name = "air_selection (mean answering frames)"
        out.append([name, num(value, 4)])
    return out


def side_stats(sides: list[dict]) -> dict[str, Any]:
    """Statistics of one run's rows of one task (sides from rows.side_part, absent ones excluded)."""
    ok = [s for s in sides if not s.get("error")]
    known = [s for s in sides if s.get("correct") is not None]
    fallbacks: Counter = Counter()
    for s in sides:
        fallbacks.update({f["reason"] for f in s.get("fallbacks") or []})
    stages: dict[str, list[float]] = {}
    for s in ok:
        for stage, seconds in (s.get("timings") or {}).items():
            if seconds is not None:
                stages.setdefault(stage, []).append(seconds)
    correct = sum(1 for s in known if s["correct"])
    return {
        "samples": len(sides),
        "errors": len(sides) - len(ok),
        "correct": correct,
        "known": len(known),
        "accuracy": round(correct / len(known), 4) if known else None,
        "fallbacks": dict(sorted(fallbacks.items(), key=lambda kv: (-kv[1], kv[0]))),
        "with_fallback": sum(1 for s in sides if s.get("fallbacks")),
        "frames_mean": _mean([s["n_sel"] for s in ok if s.get("n_sel") is not None]),
        "analysed_mean": _mean([s["n_an"] for s in ok if s.get("n_an") is not None]),
        "seconds_mean": _mean([s["seconds"] for s in sides if s.get("seconds") is not None]),
        "stages": {k: _mean(v) for k, v in stages.items()},
    }


def _group_order(name: str) -> tuple:
    if name.lower() in DURATION_ORDER:
        return (0, DURATION_ORDER.index(name.lower()), "")
    parts = re.split(r"(\d+)", name)
    return (1, 0, tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in parts))


def _groups(rows: list[dict], n_runs: int, key: str) -> list[dict]:
    names = sorted({r[key] for r in rows if r.get(key)}, key=_group_order)
    out = []
    for name in names:
        members = [r for r in rows if r.get(key) == name]
        sides = []
        for k in range(n_runs):
            present = [r["sides"][k] for r in members if r["sides"][k] is not None]
            stats = side_stats(present)
            sides.append({key_: stats[key_] for key_ in ("samples", "correct", "known", "accuracy", "frames_mean")})
        out.append({"name": name, "sides": sides})
    return out


def task_summaries(rows: list[dict], runs: list[Run]) -> list[dict[str, Any]]:
    """One entry per task (in order of first appearance): per-run stats, metrics, groups, differences."""
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    out = []
    for task in tasks:
        members = [r for r in rows if r["task"] == task]
        sides = []
        for k, run in enumerate(runs):
            stats = side_stats([r["sides"][k] for r in members if r["sides"][k] is not None])
            stats["metrics"] = metric_list(run.task_metrics(task))
            sides.append(stats)
        entry: dict[str, Any] = {"task": task, "sides": sides, "groups": []}
        for key, title in GROUP_KEYS:
            groups = _groups(members, len(runs), key)
            if groups:
                entry["groups"].append({"key": key, "title": title, "rows": groups})
        if len(runs) == 2:
            counts = Counter(r["cmp"] for r in members)
            entry["diff"] = {name: counts.get(name, 0) for name in
                             ("fixed", "broken", "both_right", "both_wrong", "unknown", "only_a", "only_b")}
            entry["diff"]["answer_changed"] = sum(1 for r in members if r.get("answer_changed"))
        out.append(entry)
    return out


def run_info(run: Run) -> dict[str, Any]:
    """What the page header says about a run: where it came from and how it was configured."""
    results = run.results or {}
    config = results.get("config") if isinstance(results.get("config"), dict) else {}
    first = next((s.trace for s in run.samples.values() if isinstance(s.trace, dict) and
                  isinstance(s.trace.get("config"), dict)), None)
    trace_config = first["config"] if first else {}
    return {
        "label": run.label,
        "source": str(run.source),
        "results_file": str(run.results_file) if run.results_file else None,
        "trace_files": [str(p) for p in run.trace_files],
        "samples_files": [str(p) for p in run.samples_files],
        "model": text(config.get("model")),
        "model_name": text(results.get("model_name")),
        "model_args": text(config.get("model_args"), 2000),
        "date": text(results.get("date")),
        "lmms_eval_version": text(results.get("lmms_eval_version")),
        "method": run.method,
        "samples": len(run.samples),
        "config": [[str(k), text(v, 300)] for k, v in trace_config.items()],
        "ablations": [k for k, v in sorted(trace_config.items()) if k.startswith("ablate_") and v is True],
        "notes": list(run.notes),
    }
