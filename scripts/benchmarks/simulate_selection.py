"""Selection quality in simulation (QUALITY.md): every selector the project ships, at equal frame counts.

No pretrained model runs on these machines, so this is a SIMULATION: synthetic videos of 2-40 minutes
at 30 fps with 1-2 short evidence segments (4-15 s) or one long event (20-90 s), 1-3 distractor
segments that CLIP likes as much as the evidence, a slowly drifting background, and Gaussian CLIP noise
of several levels (std in units of the evidence's similarity lift). The "VLM" scores evidence frames 4-5
and every other frame 1-3, misjudging a frame with a given error rate. A.I.R. runs through the
product's own `air.selection.select_frames` (default preset and the (16, 8, 4) and (16, 4, 4)
efficiency presets, each also with the opt-in `spread_candidates`, alone and with
`spread_explore_frac=0.5`; the default preset also with each of the paper's four ablations). The
fixed-budget baselines are the product's own functions from `baselines.selectors` (uniform, CLIP
top-k, BOLT, AKS-style, and in the default preset MDP3-style) over the noisy 1-FPS samples; MDP3
reads synthetic embeddings whose cosine to the query reproduces the noisy track exactly
(sim/embeddings.py). Each baseline takes exactly as many frames as A.I.R. (paper variant) returned
for that video under the same preset. The default preset's table is the one with every selector.

Figures per setting, preset and method (means over videos): hit_rate, precision, coverage, redundancy,
mean_frames, and for A.I.R. runs analyzed_mean / analyzed_max (frames sent to the VLM). See sim/metrics.py.
JSON keys: settings[] (clip_noise, analysis_error_rate, n_videos, presets -> method -> figures),
methods (every method, table order), methods_per_preset, analyzed_max (over every preset, setting and
A.I.R. run; QUALITY.md bound C * I_max per preset in analyzed_bound_per_preset, analyzed_within_bound),
expectation_checks_default (QUALITY.md's expectations as differences A - T, A - U and opt-in variant - A),
run_time_s, machine, date.
Exit status 1 if any A.I.R. run analysed more than C * I_max frames.

Usage: python scripts/benchmarks/simulate_selection.py --json PATH [--videos N] [--seed S] [--quick]
       [--workers W] [--presets P [P ...]] [--noise X [X ...]] [--errors E [E ...]]
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

from sim.runner import PRESETS, SimulationPlan, run_simulation

QUICK = {"noise_levels": (0.1, 1.0), "error_rates": (0.1,), "n_videos": 4}
METHOD_LABELS = {
    "uniform": "uniform (U)", "clip_topk": "CLIP top-k (T)", "bolt": "BOLT", "aks": "AKS-style", "mdp3": "MDP3-style",
    "air": "A.I.R. (A)", "air_ablate_threshold": "A.I.R. w/o threshold", "air_ablate_ranking": "A.I.R. w/o ranking",
    "air_ablate_analysis": "A.I.R. w/o VLM analysis", "air_ablate_lds": "A.I.R. w/o LDS",
    "air_spread": "A.I.R. + spread (S)", "air_spread_explore": "A.I.R. + spread + explore (X)",
}
SHORT_LABELS = {"uniform": "U", "clip_topk": "T", "air": "A", "air_spread": "S", "air_spread_explore": "X"}
FIGURES = (("hit_rate", "hit rate"), ("precision", "precision"), ("coverage", "coverage"),
           ("redundancy", "redundancy"), ("mean_frames", "mean final frames"))


def _setting_label(setting: dict) -> str:
    return f"{setting['clip_noise']:g} / {setting['analysis_error_rate']:g}"


def figure_matrix(result: dict, preset: str, key: str) -> str:
    """One Markdown table: a row per method of `preset`, a column per setting (CLIP noise / VLM error).

    key: a figure of sim/metrics.aggregate, or "analyzed" for "mean / max" frames rated (A.I.R. rows only).
    """
    settings = result["settings"]
    lines = ["| method | " + " | ".join(_setting_label(s) for s in settings) + " |",
             "|---|" + "---:|" * len(settings)]
    for method in result["methods_per_preset"][preset]:
        cells = []
        for setting in settings:
            figs = setting["presets"][preset][method]
            if key == "analyzed":
                cells.append(f"{figs['analyzed_mean']:.1f} / {figs['analyzed_max']}" if "analyzed_mean" in figs else "-")
            else:
                cells.append(f"{figs[key]:.1f}" if key == "mean_frames" else f"{figs[key]:.2f}")
        if key == "analyzed" and set(cells) == {"-"}:
            continue
        lines.append(f"| {METHOD_LABELS.get(method, method)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_table(result: dict) -> str:
    """Per preset, one method x setting table per figure (columns: CLIP noise / VLM error rate)."""
    lines: list[str] = []
    for preset in result["presets"]:
        bound = result["analyzed_bound_per_preset"][preset]
        lines.append(f"\n### preset {preset} (analysed bound C * I_max = {bound}); columns: CLIP noise / VLM error")
        for key, title in (*FIGURES, ("analyzed", "frames rated by the VLM, mean / max")):
            lines.append(f"\n{title}\n")
            lines.append(figure_matrix(result, preset, key))
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
        for variant in result["opt_in_variants"]:
            v = figs[variant]
            row[variant] = {k: round(v[k] - a[k], 4) for k in ("hit_rate", "precision", "coverage", "redundancy")}
        rows.append(row)
    return rows


def format_checks(rows: list[dict]) -> str:
    variants = [k for k in rows[0] if k.startswith("air_")]
    head = ["noise", "err", "hit A-T", "within 0.05", "hit A-U", "prec A-T", "cov A-T"]
    for v in variants:
        head += [f"{SHORT_LABELS.get(v, v)}-A {k}" for k in ("hit", "prec", "cov", "red")]
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
    parser.add_argument("--presets", nargs="+", choices=PRESETS, help=f"presets to run (default: all of {PRESETS})")
    parser.add_argument("--noise", nargs="+", type=float, help="CLIP noise levels (default 0.1 0.5 1 2)")
    parser.add_argument("--errors", nargs="+", type=float, help="VLM error rates (default 0.05 0.2)")
    args = parser.parse_args(argv)
    fields = dict(QUICK) if args.quick else {}
    if args.videos is not None:
        fields["n_videos"] = args.videos
    for name, value in (("presets", args.presets), ("noise_levels", args.noise), ("error_rates", args.errors)):
        if value:
            fields[name] = tuple(value)
    if "default" not in fields.get("presets", PRESETS):
        parser.error("Invalid --presets: the default preset is required (the QUALITY.md checks and ablations use it).")
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
        "ablations": plan.ablations,
        "opt_in_variants": [m for m in plan.variants if m != "air"],
        "methods": list(dict.fromkeys(m for p in plan.presets for m in plan.methods(p))),
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
