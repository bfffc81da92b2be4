"""Helpers for tests that run the real lmms-eval command line on generated local tasks."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

from air.sample_task import task_dir

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
    "WANDB_MODE": "disabled", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_DISABLE_TELEMETRY": "1",
}

# Small loop settings so a CPU run with tiny models stays fast; the logic is the same as the defaults.
FAST_ARGS = "max_rounds=2,candidates_per_round=4,analysis_batch_size=4,analysis_max_new_tokens=6,max_frames=8,min_frames=4"


def write_task(folder: Path, name: str, docs: list[dict]) -> Path:
    """A local lmms-eval task `name` in `folder`, reusing the sample task's hooks; docs carry video_path."""
    folder.mkdir(parents=True, exist_ok=True)
    yaml_text = (task_dir() / "air_sample.yaml").read_text()
    yaml_text = yaml_text.replace("task: air_sample", f"task: {name}").replace("air_sample.jsonl", f"{name}.jsonl")
    yaml_text = yaml_text.replace("max_new_tokens: 8", "max_new_tokens: 4")
    (folder / f"{name}.yaml").write_text(yaml_text)
    (folder / "utils.py").write_text("from air.sample_task.utils import *  # noqa: F401,F403\n")
    with open(folder / f"{name}.jsonl", "w") as handle:
        for doc in docs:
            handle.write(json.dumps(doc) + "\n")
    return folder


def run_lmms_eval(args: list[str], env_extra: dict | None = None, timeout: int = 900, launcher: list[str] | None = None):
    """Run `python -m lmms_eval ARGS` (or a launcher) offline; returns the CompletedProcess."""
    env = {**os.environ, **OFFLINE_ENV, **(env_extra or {})}
    cmd = (launcher or [sys.executable, "-m", "lmms_eval"]) + args
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def results_of(output: Path) -> dict:
    files = sorted(glob.glob(str(output / "**" / "*_results.json"), recursive=True))
    assert files, f"no results file under {output}"
    return json.loads(Path(files[-1]).read_text())


def samples_of(output: Path, task: str) -> list[dict]:
    files = sorted(glob.glob(str(output / "**" / f"*_samples_{task}.jsonl"), recursive=True))
    assert files, f"no samples file for {task} under {output}"
    return [json.loads(line) for line in Path(files[-1]).read_text().splitlines() if line.strip()]
