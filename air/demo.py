"""`make demo` / `air demo`: the main job end to end, offline, on the bundled sample task.

Builds a tiny random-weight Qwen2.5-VL and a tiny open_clip encoder once (under ~/.cache/air/tiny,
or $AIR_DEMO_CACHE), runs `python -m lmms_eval --model hvp` on the `air_sample` task, checks the
results file (lmms-eval exits 0 even when evaluation fails) and prints the accuracy, where the
results, traces, figure and HTML report (`air report`) are, and one line per sample. With real
checkpoints (PRETRAINED=..., CLIP=...) the same command runs real models on a GPU machine.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

TINY_VERSION = "v2"  # bump when the tiny builders change, so cached copies are rebuilt
#: Characters lmms-eval's --model_args parser splits on (commas) or groups by (quotes, braces, brackets).
MODEL_ARGS_SPECIAL = ",'\"{}[]"


def check_model_arg(value: object, name: str) -> str:
    """`value` as text, or ValueError when it would change the meaning of a --model_args string it is joined into.

    "pretrained=/ckpt/a,b" would reach lmms-eval as pretrained=/ckpt/a plus an argument "b"; a quote or
    a bracket would swallow the commas after it.
    """
    text = str(value)
    bad = sorted({ch for ch in text if ch in MODEL_ARGS_SPECIAL})
    if bad:
        raise ValueError(f"Invalid {name}: {text!r} contains {' '.join(bad)}, which lmms-eval's --model_args parser "
                         "splits on or groups by. Expected a value without , ' \" { } [ ] (rename the file or "
                         "folder, or link it under a plain name).")
    return text


def demo_cache() -> Path:
    return Path(os.environ.get("AIR_DEMO_CACHE") or Path.home() / ".cache" / "air" / "tiny")


def build_tiny_models(root: Path | None = None) -> tuple[str, str]:
    """Build (once) the tiny Qwen2.5-VL checkpoint and tiny open_clip encoder; returns (pretrained, clip)."""
    root = (root or demo_cache()) / TINY_VERSION
    qwen_dir = root / "tiny-qwen2_5-vl"
    clip_dir = root / "tiny-open-clip"
    marker = root / "clip_name.txt"
    if not (qwen_dir / "config.json").exists() or not marker.exists():
        from air.testing.tiny_clip import build_tiny_open_clip
        from air.testing.tiny_qwen import build_tiny_qwen2_5_vl

        print(f">> building tiny random-weight models in {root} (once)", flush=True)
        build_tiny_qwen2_5_vl(qwen_dir)
        marker.write_text(build_tiny_open_clip(clip_dir))
    return str(qwen_dir), marker.read_text().strip()


def lmms_eval_command(pretrained: str, clip: str, output: Path, *, tasks: str = "air_sample",
                      include_path: str | None = None, extra_model_args: str = "", model: str = "hvp",
                      limit: int | None = None) -> list[str]:
    """The lmms-eval command line of the demo (also used by the tests); values that would split the
    --model_args string raise ValueError (check_model_arg)."""
    from air.sample_task import task_dir

    parts = {"pretrained": pretrained, "clip_model": clip, "trace_dir": output / "traces"}
    model_args = ",".join(f"{key}={check_model_arg(value, key)}" for key, value in parts.items())
    if extra_model_args:
        model_args += "," + extra_model_args
    cmd = [sys.executable, "-m", "lmms_eval", "--model", model, "--model_args", model_args, "--tasks", tasks,
           "--include_path", include_path or str(task_dir()), "--batch_size", "1",
           "--output_path", str(output), "--log_samples"]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    return cmd


def find_results(output: Path) -> Path | None:
    found = sorted(glob.glob(str(output / "**" / "*_results.json"), recursive=True), key=os.path.getmtime)
    return Path(found[-1]) if found else None


def run_demo(out_dir: str | None = None, pretrained: str | None = None, clip: str | None = None) -> int:
    """Run the demo; returns a process exit code (0 on success).

    Raises ValueError, before anything is built or run, when a value joined into --model_args (the
    checkpoint, the CLIP name, the output folder) holds a character that would split that string.
    """
    output = Path(out_dir or "logs_air/demo").resolve()
    for value, name in ((pretrained, "pretrained"), (clip, "clip"), (output / "traces", "out")):
        if value is not None:
            check_model_arg(value, name)
    output.mkdir(parents=True, exist_ok=True)
    traces = output / "traces"
    if traces.is_symlink():  # each demo run traces afresh (no resume here), never through a link
        traces.unlink()
    shutil.rmtree(traces, ignore_errors=True)
    tiny = not pretrained
    if tiny:
        pretrained, tiny_clip = build_tiny_models()
        clip = clip or tiny_clip
    clip = clip or "open_clip:EVA02-L-14/merged2b_s4b_b131k"
    env = dict(os.environ)
    for key, value in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1",
                       "TRANSFORMERS_OFFLINE": "1", "WANDB_MODE": "disabled"}.items():
        if tiny:
            env.setdefault(key, value)
    env.setdefault("AIR_CLIP_CACHE_DIR", str(output / "clip_cache"))
    cmd = lmms_eval_command(pretrained, clip, output)
    print(">> " + " ".join(cmd), flush=True)
    code = subprocess.call(cmd, env=env)
    results = find_results(output)
    if code != 0 or results is None:
        print(f"!! lmms-eval failed (exit code {code}); no results file under {output}", file=sys.stderr)
        return code or 1
    data = json.loads(results.read_text())
    metrics = data.get("results", {}).get("air_sample", {})
    if "accuracy,none" not in metrics:
        print(f"!! results file {results} holds no accuracy for air_sample: {metrics}", file=sys.stderr)
        return 1
    traces = output / "traces"
    print("\n== A.I.R. demo ==")
    if tiny:
        print("Models: tiny RANDOM-WEIGHT Qwen2.5-VL and open_clip built offline: the answers are meaningless;")
        print("        the run shows the machinery (selection, analysis, answering, traces), not accuracy.")
    print(f"accuracy (air_sample): {metrics['accuracy,none']:.3f}")
    print(f"results: {results}")
    samples = sorted(glob.glob(str(results.parent / "*_samples_air_sample.jsonl")))
    if samples:
        print(f"samples: {samples[-1]}")
    print(f"traces:  {traces}")
    from air.traces import iter_trace_records

    records = list(iter_trace_records(traces))
    for r in records:
        if r.get("error"):
            print(f"  doc {r['doc_id']}: ERROR {r['error']}")
        else:
            print(f"  doc {r['doc_id']}: {len(r['frame_indices'])} frames selected (budget {r['budget']}), "
                  f"{r['n_analyzed']} analysed, stop: {r['stop_reason']}, answer: {r.get('answer', '')!r}")
    figure = _figure(records, output)
    if figure:
        print(f"figure:  {figure}")
    from air.report import write_report

    report = write_report(results, out=output / "report.html", figures=None, jobs=1)  # this run's results file
    print(f"report:  {report.path}  (open it in a browser; images in {report.side_folder})")
    return 0


def _figure(records: list[dict], output: Path) -> Path | None:
    """Draw the first good trace, when the plotting module is available."""
    from air.safe_files import safe_name

    good = [r for r in records if not r.get("error")]
    if not good:
        return None
    try:
        from air.plotting import plot_trace
    except ImportError:
        return None
    path = output / f"trace_doc{safe_name(good[0].get('doc_id'))}.png"  # doc_id comes from the trace
    plot_trace(good[0], path, video=good[0].get("video"))
    return path
