#!/usr/bin/env python
"""The paper's tables as runs: which run config (configs/runs/*.yaml) fills which row, and the paper's numbers.

A table is a list of rows, each one run config (model + model_args + tasks, runnable as
`accelerate launch -m lmms_eval --config configs/runs/<run>.yaml`), and a column per benchmark task.
A job is one (row, task) pair: scripts/slurm/table.sbatch runs job i of a table as SLURM array element i,
and `scripts/collect_results.py --table NAME OUTPUT_DIR` fills the table from lmms-eval output folders,
matching each results file to a row by its model and model_args (run-only arguments such as trace_dir,
devices or resume left out), beside the paper's reference numbers (PAPER_REFERENCE, the only place they
are written in code; they come from SPEC.md).

    python scripts/paper_tables.py list                  # the tables and their number of jobs
    python scripts/paper_tables.py list tab1             # job index -> run config, task (and the --array range)
    python scripts/paper_tables.py slurm-env tab1 3      # shell `export` lines for job 3 (used by table.sbatch)
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS_DIR = REPO / "configs" / "runs"
DEFAULT_CLIP = "open_clip:EVA02-L-14/merged2b_s4b_b131k"
# model_args that do not change what is measured (paths, devices, resumption, batching): left out when a
# results file is matched to a run config, and from method labels.
PLUMBING_ARGS = frozenset({
    "pretrained", "trace_dir", "resume", "device", "device_map", "attn_implementation", "torch_dtype", "dtype",
    "batch_size", "cache_dir", "decoder", "analysis_batch_size", "trust_remote_code", "max_pixels", "min_pixels",
    "clip_device", "clip_batch_size", "selection_file",
})

#: (column label, lmms-eval task) of every table, in column order.
BENCHMARKS = (
    ("Video-MME", "videomme_hvp"),
    ("MLVU dev", "mlvu_dev_hvp"),
    ("LongVideoBench val", "longvideobench_val_v_hvp"),
    ("NExT-QA MC", "nextqa_mc_test_hvp"),
    ("EgoSchema subset", "egoschema_subset_hvp"),
)

#: The paper's reference numbers (SPEC.md, "Reference numbers from the paper"). results: (run config,
#: task) -> accuracy in percent and, where the paper states it, the mean number of answering frames.
#: video_mme_cost: the paper's cost of A.I.R. on Video-MME.
PAPER_REFERENCE = {
    "results": {
        ("uniform_internvl3", "videomme_hvp"): {"accuracy": 65.6, "frames": 32},
        ("air_internvl3", "videomme_hvp"): {"accuracy": 68.2, "frames": 24.8},
        ("uniform_baseline", "videomme_hvp"): {"accuracy": 60.8},
        ("air_default", "videomme_hvp"): {"accuracy": 65.0},
        ("uniform_llava_ov", "videomme_hvp"): {"accuracy": 58.5},
        ("air_llava_ov", "videomme_hvp"): {"accuracy": 61.4},
        ("uniform_vila", "videomme_hvp"): {"accuracy": 48.9, "frames": 8},
        ("air_vila", "videomme_hvp"): {"accuracy": 53.7},
        ("uniform_internvl3", "mlvu_dev_hvp"): {"accuracy": 68.4},
        ("air_internvl3", "mlvu_dev_hvp"): {"accuracy": 74.5},
        ("uniform_internvl3", "longvideobench_val_v_hvp"): {"accuracy": 58.3},
        ("air_internvl3", "longvideobench_val_v_hvp"): {"accuracy": 62.8},
        ("uniform_internvl3", "nextqa_mc_test_hvp"): {"accuracy": 82.3},
        ("air_internvl3", "nextqa_mc_test_hvp"): {"accuracy": 82.6},
        ("uniform_baseline", "nextqa_mc_test_hvp"): {"accuracy": 74.3},
        ("air_default", "nextqa_mc_test_hvp"): {"accuracy": 81.3},
    },
    "video_mme_cost": {"frames_analysed_mean": 36.5, "analysis_s_per_video": 42.31, "analysis_s_128_frames": 162.03,
                       "other_stages_s": 0.21},
}


@dataclass(frozen=True)
class TableRow:
    """One row: its label cells (one per header column) and the run config (configs/runs/<run>.yaml) filling it."""

    label: tuple[str, ...]
    run: str


@dataclass(frozen=True)
class PaperTable:
    name: str
    title: str
    header: tuple[str, ...]
    rows: tuple[TableRow, ...]
    note: str = ""
    columns: tuple[tuple[str, str], ...] = BENCHMARKS

    def jobs(self) -> list[tuple[TableRow, str]]:
        """Every (row, task) to run, row by row: SLURM array element i runs jobs()[i]."""
        return [(row, task) for row in self.rows for _, task in self.columns if task in load_run(row.run).tasks]


TABLES: dict[str, PaperTable] = {
    table.name: table for table in (
        PaperTable(
            "tab1", "Tab. 1: A.I.R. against uniform sampling, per backbone (accuracy, %)", ("Backbone", "Method"),
            (TableRow(("InternVL3-8B", "Uniform (32 frames)"), "uniform_internvl3"),
             TableRow(("InternVL3-8B", "A.I.R."), "air_internvl3"),
             TableRow(("Qwen2.5-VL-7B", "Uniform (32 frames)"), "uniform_baseline"),
             TableRow(("Qwen2.5-VL-7B", "A.I.R."), "air_default"),
             TableRow(("LLaVA-OneVision-7B", "Uniform (32 frames)"), "uniform_llava_ov"),
             TableRow(("LLaVA-OneVision-7B", "A.I.R."), "air_llava_ov"),
             TableRow(("VILA-1.5-8B", "Uniform (8 frames)"), "uniform_vila"),
             TableRow(("VILA-1.5-8B", "A.I.R. (8 / 8)"), "air_vila")),
            "InternVL3 runs use the transformers-native OpenGVLab/InternVL3-8B-hf checkpoint."),
        PaperTable(
            "efficiency", "Efficiency study: frame budget V_max, candidates per round C, rounds I_max (accuracy, %)",
            ("(V_max, C, I_max)",),
            (TableRow(("(32, 12, 6) default",), "air_default"),
             TableRow(("(16, 8, 4)",), "air_16_8_4"),
             TableRow(("(16, 4, 4)",), "air_16_4_4"),
             TableRow(("(16, 8, 2)",), "air_16_8_2"),
             TableRow(("(32, 8, 4)",), "air_32_8_4"),
             TableRow(("(32, 16, 8)",), "air_32_16_8")),
            "Backbone Qwen2.5-VL-7B. The paper's per-setting numbers of this study are not recorded in SPEC.md."),
        PaperTable(
            "ablations", "Ablations (paper Tab. 4; accuracy, %)", ("Variant",),
            (TableRow(("A.I.R.",), "air_default"),
             TableRow(("w/o adaptive threshold (even pool)",), "air_ablate_threshold"),
             TableRow(("w/o potential ranking (time order)",), "air_ablate_ranking"),
             TableRow(("w/o VLM analysis (CLIP-only loop)",), "air_ablate_analysis"),
             TableRow(("w/o localized density sampling",), "air_ablate_lds")),
            "Backbone Qwen2.5-VL-7B. The paper's ablation numbers are not recorded in SPEC.md."),
        PaperTable(
            "strategies", "Strategy presets (paper Tab. 14; accuracy, %)", ("Preset",),
            (TableRow(("default",), "air_default"),
             TableRow(("short",), "air_short"),
             TableRow(("long",), "air_long"),
             TableRow(("conservative",), "air_conservative"),
             TableRow(("aggressive",), "air_aggressive")),
            "Backbone Qwen2.5-VL-7B. The paper's preset numbers are not recorded in SPEC.md."),
        PaperTable(
            "selectors", "Frame selectors at A.I.R.'s budget B (beyond the paper; accuracy, %)", ("Selector",),
            (TableRow(("Uniform",), "uniform_budget"),
             TableRow(("CLIP top-k",), "clip_topk"),
             TableRow(("BOLT",), "bolt"),
             TableRow(("AKS-style",), "aks"),
             TableRow(("MDP3-style",), "mdp3"),
             TableRow(("A.I.R.",), "air_default")),
            "Backbone Qwen2.5-VL-7B; every selector answers from as many frames as A.I.R.'s budget B of the video."),
    )
}


# ------------------------------------------------------------------------------------------------ runs
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


@dataclass(frozen=True)
class RunConfig:
    """One configs/runs/<name>.yaml: the lmms-eval model, its model_args (strings) and tasks."""

    name: str
    model: str
    model_args: dict
    tasks: tuple[str, ...]

    @property
    def path(self) -> Path:
        return RUNS_DIR / f"{self.name}.yaml"


_RUN_CACHE: dict[str, RunConfig] = {}


def load_run(name: str) -> RunConfig:
    """Read configs/runs/<name>.yaml (a FileNotFoundError / ValueError names the file)."""
    if name not in _RUN_CACHE:
        import yaml

        path = RUNS_DIR / f"{name}.yaml"
        if not path.is_file():
            raise FileNotFoundError(f"Run config not found: {path}. Expected one of: "
                                    f"{', '.join(sorted(p.stem for p in RUNS_DIR.glob('*.yaml')))}.")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not {"model", "model_args", "tasks"} <= set(data):
            raise ValueError(f"Invalid run config {path}: expected a mapping with model, model_args and tasks.")
        tasks = tuple(t.strip() for t in str(data["tasks"]).split(",") if t.strip())
        _RUN_CACHE[name] = RunConfig(name, str(data["model"]), parse_model_args(data["model_args"]), tasks)
    return _RUN_CACHE[name]


def _canonical_value(value: str) -> str:
    text = str(value).strip()
    if text.lower() in ("true", "false"):
        return text.lower()
    try:
        number = float(text)
    except ValueError:
        return text
    return repr(int(number)) if math.isfinite(number) and number.is_integer() else repr(number)


def run_identity(model: str, model_args: dict) -> tuple:
    """What a run measures: the model, the backbone (last path part of `pretrained`, lower case) and every
    model_arg that changes results, canonical ("True" == "true", "32" == "32.0"; preset=default and the
    default CLIP encoder count as absent). Two runs with the same identity fill the same table cell."""
    settings = {}
    for key, value in model_args.items():
        value = str(value).strip()
        if key in PLUMBING_ARGS or (key == "clip_model" and value == DEFAULT_CLIP) or (key == "preset" and value == "default"):
            continue
        settings[key] = _canonical_value(value)
    backbone = str(model_args.get("pretrained", "")).rstrip("/").split("/")[-1].lower()
    return (model, backbone, tuple(sorted(settings.items())))


def table(name: str) -> PaperTable:
    """The table called `name`; a miss lists the tables."""
    if name not in TABLES:
        raise ValueError(f"Unknown table: {name!r}. Expected one of: {', '.join(TABLES)}.")
    return TABLES[name]


# ------------------------------------------------------------------------------------------------ command line
def slurm_env(name: str, index: int) -> str:
    """`export` lines (shell-quoted) for job `index` of a table: MODEL, PRETRAINED, CLIP, MODEL_ARGS_EXTRA, TASKS, RUN_TAG."""
    jobs = table(name).jobs()
    if not 0 <= index < len(jobs):
        raise ValueError(f"Invalid job index {index} for table {name}. Expected 0..{len(jobs) - 1} "
                         f"(sbatch --array=0-{len(jobs) - 1}).")
    row, task = jobs[index]
    run = load_run(row.run)
    args = dict(run.model_args)
    pretrained = args.pop("pretrained", "")
    clip = args.pop("clip_model", "none")
    values = {"MODEL": run.model, "PRETRAINED": pretrained, "CLIP": clip,
              "MODEL_ARGS_EXTRA": ",".join(f"{k}={v}" for k, v in args.items()), "TASKS": task, "RUN_TAG": run.name,
              "RUN_CONFIG": str(run.path)}
    return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in values.items())


def list_text(name: str | None) -> str:
    if name is None:
        lines = [f"{t.name:<11} {len(t.jobs()):>3} jobs  {t.title}" for t in TABLES.values()]
        return "\n".join(lines)
    jobs = table(name).jobs()
    lines = [f"{i:>3}  {row.run:<22} {task}" for i, (row, task) in enumerate(jobs)]
    lines.append(f"TABLE={name} sbatch --array=0-{len(jobs) - 1} scripts/slurm/table.sbatch")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="the tables, or the jobs of one table")
    listing.add_argument("table", nargs="?", choices=list(TABLES))
    env = sub.add_parser("slurm-env", help="shell export lines for one job of a table")
    env.add_argument("table", choices=list(TABLES))
    env.add_argument("index", type=int)
    args = parser.parse_args(argv)
    try:
        print(list_text(args.table) if args.command == "list" else slurm_env(args.table, args.index))
    except (ValueError, FileNotFoundError) as error:
        print(f"paper_tables.py: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
