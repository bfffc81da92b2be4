"""Selection quality in simulation (QUALITY.md): uniform vs CLIP top-k vs A.I.R. at equal frame counts.

No pretrained model runs on these machines, so this is a SIMULATION: synthetic videos of 2-40 minutes
at 30 fps with 1-2 short evidence segments (4-15 s) or one long event (20-90 s), 1-3 distractor
segments that CLIP likes as much as the evidence, a slowly drifting background, and Gaussian CLIP noise
of several levels (std in units of the evidence's similarity lift). The "VLM" scores evidence frames 4-5
and every other frame 1-3, misjudging a frame with a given error rate. A.I.R. runs through the
product's own `air.selection.select_frames` (default preset and the (16, 8, 4) and (16, 4, 4)
efficiency presets, each also with the opt-in `spread_candidates`, alone and with
`spread_explore_frac=0.5`); uniform sampling and CLIP top-k (over the noisy 1-FPS samples) take
exactly as many frames as A.I.R. (paper variant) returned for that video.

Figures per setting, preset and method (means over videos): hit_rate, precision, coverage, redundancy,
mean_frames, and for A.I.R. analyzed_mean / analyzed_max (frames sent to the VLM). See sim/metrics.py.
JSON keys: settings[] (clip_noise, analysis_error_rate, n_videos, presets -> method -> figures),
analyzed_max (over every preset, setting and A.I.R. variant; QUALITY.md bound C * I_max per preset in
analyzed_bound_per_preset, analyzed_within_bound), expectation_checks_default (QUALITY.md's expectations
as differences A - T, A - U and spread variant - A), run_time_s, machine, date.
Exit status 1 if any A.I.R. run analysed more than C * I_max frames.

Usage: python scripts/benchmarks/simulate_selection.py --json PATH [--videos N] [--seed S] [--quick]
       [--workers W]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sim.runner import SimulationPlan, run_simulation

QUICK = {"noise_levels": (0.1, 1.0), "error_rates": (0.1,), "n_videos": 4}
METHOD_LABELS = {"uniform": "U", "clip_topk": "T", "air": "A", "air_spread": "S", "air_spread_explore": "X"}
FIGURES = (("hit_rate", "hit"), ("precision", "prec"), ("coverage", "cov"), ("redundancy", "red"))


def format_table(result: dict) -> str:
    """A Markdown table per preset: one row per setting, each figure for every method."""
    lines: list[str] = []
    methods = result["methods"]
    labels = [METHOD_LABELS.get(m, m) for m in methods]
    air_methods = [m for m in methods if m.startswith("air")]
    for preset in result["presets"]:
        bound = result["analyzed_bound_per_preset"][preset]
        lines.append(f"\n### preset {preset} (analysed bound C * I_max = {bound})")
        lines.append("methods: " + ", ".join(f"{METHOD_LABELS.get(m, m)} = {m}" for m in methods))
        head = ["noise", "err"]
        for _, short in FIGURES:
            head += [f"{short} {label}" for label in labels]
        head += ["frames"] + [f"analysed {METHOD_LABELS.get(m, m)} mean/max" for m in air_methods]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for setting in result["settings"]:
            figs = setting["presets"][preset]
            row = [f"{setting['clip_noise']:g}", f"{setting['analysis_error_rate']:g}"]
            for key, _ in FIGURES:
                row += [f"{figs[m][key]:.2f}" for m in methods]
            row.append(" / ".join(f"{figs[m]['mean_frames']:.1f}" for m in air_methods))
            row += [f"{figs[m]['analyzed_mean']:.1f} / {figs[m]['analyzed_max']}" for m in air_methods]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def expectation_checks(result: dict, preset: str = "default") -> list[dict]:
    """Per setting, QUALITY.md's expectations for one preset as numbers (A = paper A.I.R.).

    hit_gap_vs_topk = hit(A) - hit(T) (expected >= -0.05); the *_vs_topk / *_vs_uniform gains are
    A minus the baseline; opt-in deltas are each spread variant minus A.
    """
    rows = []
    for setting in result["settings"]:
        figs = setting["presets"][preset]
        a, t, u = figs["air"], figs["clip_topk"], figs["uniform"]
        row = {
            "clip_noise": setting["clip_noise"],
            "analysis_error_rate": setting["analysis_error_rate"],
            "hit_gap_vs_topk": round(a["hit_rate"] - t["hit_rate"], 4),
            "hit_within_0.05_of_topk": a["hit_rate"] >= t["hit_rate"] - 0.05,
            "hit_gain_vs_uniform": round(a["hit_rate"] - u["hit_rate"], 4),
            "precision_gain_vs_topk": round(a["precision"] - t["precision"], 4),
            "coverage_gain_vs_topk": round(a["coverage"] - t["coverage"], 4),
        }
        for variant in (m for m in result["methods"] if m.startswith("air_")):
            v = figs[variant]
            row[variant] = {k: round(v[k] - a[k], 4) for k in ("hit_rate", "precision", "coverage", "redundancy")}
        rows.append(row)
    return rows


def format_checks(rows: list[dict]) -> str:
    variants = [k for k in rows[0] if k.startswith("air_")]
    head = ["noise", "err", "hit A-T", "within 0.05", "hit A-U", "prec A-T", "cov A-T"]
    for v in variants:
        head += [f"{METHOD_LABELS.get(v, v)}-A {k}" for k in ("hit", "prec", "cov", "red")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [f"{r['clip_noise']:g}", f"{r['analysis_error_rate']:g}", f"{r['hit_gap_vs_topk']:+.2f}",
                 "yes" if r["hit_within_0.05_of_topk"] else "NO", f"{r['hit_gain_vs_uniform']:+.2f}",
                 f"{r['precision_gain_vs_topk']:+.2f}", f"{r['coverage_gain_vs_topk']:+.2f}"]
        for v in variants:
            cells += [f"{r[v][k]:+.2f}" for k in ("hit_rate", "precision", "coverage", "redundancy")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", required=True, help="where to write the figures (JSON)")
    parser.add_argument("--videos", type=int, default=None, help="simulated videos per setting (default 500)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2 settings x 4 videos: a smoke run")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes (default 2)")
    args = parser.parse_args(argv)
    fields = dict(QUICK) if args.quick else {}
    if args.videos is not None:
        fields["n_videos"] = args.videos
    plan = SimulationPlan(seed=args.seed, **fields)
    if plan.n_videos < 1:
        parser.error(f"Invalid --videos: {plan.n_videos}. Expected an int >= 1.")
    start = time.perf_counter()
    figures = run_simulation(plan, workers=max(1, args.workers))
    elapsed = time.perf_counter() - start
    result = {
        "kind": "simulation",
        "note": "Synthetic score tracks, not real videos or models (see the script's docstring).",
        "seed": plan.seed,
        "n_videos_per_setting": plan.n_videos,
        "noise_levels": list(plan.noise_levels),
        "error_rates": list(plan.error_rates),
        "presets": list(plan.presets),
        "variants": plan.variants,
        "methods": ["uniform", "clip_topk", *plan.variants],
        "layout": asdict(plan.spec),
        **figures,
        "run_time_s": round(elapsed, 2),
        "workers": args.workers,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    result["expectation_checks_default"] = expectation_checks(result)
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    print(f"Selection-quality SIMULATION: {plan.n_videos} videos per setting, seed {plan.seed}, "
          f"{elapsed:.1f} s on {args.workers} process(es)")
    print(format_table(result))
    print("\n### QUALITY.md expectations, preset default (A = air, T = clip_topk, U = uniform; opt-in deltas vs A)")
    print(format_checks(result["expectation_checks_default"]))
    ok = "within" if result["analyzed_within_bound"] else "EXCEEDS"
    print(f"\nanalyzed_max = {result['analyzed_max']} ({ok} C * I_max per preset: {result['analyzed_bound_per_preset']})")
    print(f"JSON written to {path}")
    return 0 if result["analyzed_within_bound"] else 1


if __name__ == "__main__":
    sys.exit(main())
