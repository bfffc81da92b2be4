"""`air select VIDEO --question Q`: run A.I.R. on one video, write the trace JSON and a figure, print a summary.

The helpers here (arguments, validation, model loading, output writing) are shared with `air answer`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from dataclasses import fields as dc_fields
from pathlib import Path
from typing import Any

from air.cli.common import (
    CLIError,
    add_command,
    existing_file,
    output_folder,
    parse_sets,
    summary_lines,
)
from air.safe_files import atomic_write, safe_name

#: H_VPModel.from_pretrained options that are neither AIRConfig nor LoadOptions fields, with their types.
MODEL_OPTIONS = {
    "analysis_pretrained": "str | None",
    "backbone": "str | None",
    "clip_device": "str | None",
    "clip_batch_size": "int",
    "frame_max_side": "int | None",
}

RUN_EPILOG = """\
Models: --pretrained names the backbone checkpoint (hub id or local folder; the family is picked from
its name or config.json: Qwen2-VL, Qwen2.5-VL, Qwen3-VL, InternVL3, LLaVA-OneVision, VILA-1.5).
--clip defaults to the paper's EVA-CLIP-L (open_clip:EVA02-L-14/merged2b_s4b_b131k).
--tiny instead builds tiny RANDOM-WEIGHT models offline (once, under ~/.cache/air/tiny or
$AIR_DEMO_CACHE): the output shows the machinery, not meaningful choices.

--set KEY=VALUE (repeatable) takes any AIRConfig field (max_frames, candidates_per_round, max_rounds,
gamma, decoder, fixed_budget, ...), any backbone loading field (torch_dtype, attn_implementation,
max_pixels, analysis_max_new_tokens, analysis_mode, trust_remote_code, ...) and backbone,
analysis_pretrained, clip_device, clip_batch_size, frame_max_side -- the names of hvp's --model_args.
--set values override the --preset.
"""


@dataclass
class RunPlan:
    """Validated inputs of a select/answer run."""

    video: str
    question: str
    options: list[str] | None
    pretrained: str
    clip: str | None
    tiny: bool
    fields: dict[str, Any]


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by `air select` and `air answer`."""
    from air.config import PRESETS

    parser.add_argument("video", metavar="VIDEO", help="video file")
    parser.add_argument("-q", "--question", required=True, help="the question about the video")
    parser.add_argument("--options", nargs="+", metavar="OPTION", default=None,
                        help="answer options (lettered A, B, C, ... in the prompts)")
    models = parser.add_argument_group("models")
    models.add_argument("--pretrained", default=None,
                        help="backbone checkpoint, e.g. Qwen/Qwen2.5-VL-7B-Instruct (required unless --tiny)")
    models.add_argument("--clip", default=None,
                        help="CLIP model name (default: AIRConfig.clip_model, the paper's EVA-CLIP-L; "
                             "with --tiny: the tiny CLIP)")
    models.add_argument("--tiny", action="store_true",
                        help="use tiny RANDOM-WEIGHT models built offline (to try the command; choices are meaningless)")
    models.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: cuda when available)")
    config = parser.add_argument_group("A.I.R. settings")
    config.add_argument("--preset", default=None, choices=sorted(PRESETS), help="named preset of the paper")
    config.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting (repeatable); see below")
    config.add_argument("--cache-dir", default=None,
                        help="CLIP feature cache folder (default: $AIR_CLIP_CACHE_DIR, else ./clip_cache)")
    config.add_argument("--no-cache", action="store_true", help="do not read or write the CLIP feature cache")
    out = parser.add_argument_group("output")
    out.add_argument("--out", default="air_out",
                     help="output folder for the trace JSON and the figure (created; files of the same name are "
                          "replaced)")
    out.add_argument("--name", default=None,
                     help="file name stem, without '/' (default: <video stem>_<8 hex of the question and options>)")
    out.add_argument("--no-figure", action="store_true", help="write the trace only")
    out.add_argument("--dpi", type=int, default=100, help="figure resolution (dots per inch, 10..1000)")


def _split_sets(sets: dict[str, str]) -> tuple[dict, dict, dict]:
    """--set items -> (AIRConfig fields, LoadOptions fields converted, model options converted)."""
    from air.base_models.base import LoadOptions
    from air.config import AIRConfig, convert_value

    air_names = set(AIRConfig.field_names())
    load_types = {f.name: str(f.type) for f in dc_fields(LoadOptions) if f.name not in air_names}
    unknown = sorted(k for k in sets if k not in air_names and k not in load_types and k not in MODEL_OPTIONS)
    if unknown:
        valid = sorted(air_names | set(load_types) | set(MODEL_OPTIONS))
        raise CLIError(f"argument --set: unknown key(s) {', '.join(unknown)}. Expected keys among: {', '.join(valid)}.")
    air, load, model = {}, {}, {}
    try:
        for key, value in sets.items():
            if key in air_names:
                air[key] = value
            elif key in load_types:
                load[key] = convert_value(key, value, load_types[key])
            else:
                model[key] = convert_value(key, value, MODEL_OPTIONS[key])
    except ValueError as exc:
        raise CLIError(f"argument --set: {exc}") from exc
    return air, load, model


def plan_run(args: argparse.Namespace) -> RunPlan:
    """Check every argument before any model loads; errors name the argument (exit code 2)."""
    from air.config import AIRConfig
    from air.plotting import MAX_DPI, MIN_DPI

    video = existing_file(args.video, "VIDEO")
    if not args.question.strip():
        raise CLIError("argument --question: empty question.")
    if args.tiny and args.pretrained:
        raise CLIError("arguments --tiny and --pretrained exclude each other: --tiny uses tiny random-weight models.")
    if not args.tiny and not args.pretrained:
        raise CLIError("argument --pretrained is required: a checkpoint such as Qwen/Qwen2.5-VL-7B-Instruct or a "
                       "local folder. Pass --tiny to try the command with tiny random-weight models instead.")
    air, load, model = _split_sets(parse_sets(args.sets))
    if args.preset:
        air["preset"] = args.preset
    if args.clip:
        air["clip_model"] = args.clip
    if args.cache_dir:
        air["cache_dir"] = args.cache_dir
    if args.device:
        load["device"] = args.device
    try:
        config = AIRConfig.from_model_args({k: v for k, v in air.items() if not (k == "clip_model" and args.tiny)})
    except ValueError as exc:
        raise CLIError(f"invalid A.I.R. settings (--preset/--set): {exc}") from exc
    if args.cache_dir and os.path.exists(args.cache_dir) and not os.path.isdir(args.cache_dir):
        raise CLIError(f"argument --cache-dir: {args.cache_dir} is not a folder.")
    if not MIN_DPI <= args.dpi <= MAX_DPI:
        raise CLIError(f"argument --dpi: invalid value {args.dpi}. Expected an int >= {MIN_DPI} and <= {MAX_DPI}.")
    check_name(args.name)
    if args.clip:
        check_clip_argument(args.clip)
    pretrained = args.pretrained
    if not args.tiny:
        from air.base_models import backbone_key

        try:
            backbone_key(pretrained, model.get("backbone"))
        except ValueError as exc:
            raise CLIError(f"argument --pretrained: {exc}") from exc
    output_folder(args.out, "--out")
    check_video(video, config)
    return RunPlan(video=video, question=args.question.strip(), options=args.options, pretrained=pretrained or "",
                   clip=args.clip, tiny=args.tiny, fields={**air, **load, **model})


def check_video(video: str, config) -> None:
    """Open the video once as the run will (AIRConfig `config`) before any model loads, so a bad file fails
    in a second (exit code 1)."""
    from air.Process_Utils.process_video import VideoDecodeError, open_configured

    try:
        with open_configured(video, config) as reader:
            if reader.n_frames < 1:
                raise VideoDecodeError(video, "no video frames")
    except VideoDecodeError as exc:
        raise CLIError(str(exc), code=1) from exc


def check_name(name: str | None) -> None:
    """--name is a file name stem: one path component, so the outputs stay in --out."""
    if name is None:
        return
    if not name.strip() or name in (".", "..") or any(ch in name for ch in ("/", "\\", "\0")) or len(name) > 200:
        raise CLIError(f"argument --name: invalid value {name!r}. Expected a file name stem without '/', '\\' or "
                       "NUL, at most 200 characters (the outputs go into --out).")


def _path_like(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~")) or os.path.exists(os.path.expanduser(text))


def check_clip_argument(name: str) -> None:
    """--clip checked before any model loads: a known backend, and a local checkpoint that exists and is a
    model file (an `openai:` file must be a TorchScript or torch.save archive or a legacy torch file)."""
    from air.base_models.clip_model import ACCEPTED_FORMS, check_openai_checkpoint_file

    backend, sep, spec = name.partition(":")
    forms = "; ".join(form.split("  ")[0] for form in ACCEPTED_FORMS)
    if not sep or backend not in ("open_clip", "openai", "hf", "longclip") or not spec.strip():
        raise CLIError(f"argument --clip: invalid CLIP model name {name!r}. Expected one of: {forms}.")
    if backend == "open_clip":
        if spec.startswith("hf-hub:"):
            return
        spec = spec[len("local-dir:"):] if spec.startswith("local-dir:") else spec.partition("/")[2]
    if not _path_like(spec):
        return
    path = os.path.expanduser(spec)
    if backend == "hf" or name.startswith("open_clip:local-dir:"):
        if not os.path.isdir(path):
            raise CLIError(f"argument --clip: folder not found: {path}")
        return
    existing_file(path, "--clip")
    if backend == "openai":
        try:
            check_openai_checkpoint_file(path)
        except ValueError as exc:
            raise CLIError(f"argument --clip: {exc}") from exc


def load_model(plan: RunPlan, no_cache: bool):
    """H_VPModel for the plan (builds the tiny models with --tiny); load failures exit with code 1."""
    from air.model import H_VPModel

    fields = dict(plan.fields)
    if plan.tiny:
        from air.demo import build_tiny_models, demo_cache

        print("!! --tiny: tiny RANDOM-WEIGHT Qwen2.5-VL and open_clip (built offline under "
              f"{demo_cache()}): the selection shows the machinery, not meaningful choices.", file=sys.stderr,
              flush=True)
        pretrained, tiny_clip = build_tiny_models()
        fields["clip_model"] = plan.clip or tiny_clip
        plan.pretrained = pretrained
    try:
        return H_VPModel.from_pretrained(plan.pretrained, cache=None if no_cache else "default", **fields)
    except (OSError, ValueError, ImportError, RuntimeError) as exc:
        raise CLIError(f"cannot load the models (--pretrained {plan.pretrained}, clip "
                       f"{fields.get('clip_model', 'default')}): {type(exc).__name__}: {exc}", code=1) from exc


def output_stem(plan: RunPlan, name: str | None) -> str:
    if name:
        return name
    key = json.dumps([plan.question, plan.options or []], ensure_ascii=False)
    return f"{safe_name(Path(plan.video).stem, max_len=80)}_{hashlib.sha1(key.encode('utf-8')).hexdigest()[:8]}"


def trace_json(record: dict) -> str:
    """Strict JSON text of a trace: one top-level key per line, each value compact (readable, and small)."""
    from air.strict_json import dumps_strict

    items = [f" {json.dumps(str(k))}: {dumps_strict(v, separators=(',', ':'))}" for k, v in record.items()]
    return "{\n" + ",\n".join(items) + "\n}\n"


def write_outputs(record: dict, plan: RunPlan, args: argparse.Namespace) -> tuple[Path, Path | None]:
    """Write `<out>/<stem>.json` (the trace) and `<out>/<stem>.png` (the figure), each replaced atomically if it
    exists; returns their paths."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = output_stem(plan, args.name)
    trace_path = atomic_write(out / f"{stem}.json", trace_json(record))
    png = None
    if not args.no_figure:
        from air.plotting import plot_trace

        png = plot_trace(record, out / f"{stem}.png", video=plan.video, dpi=args.dpi)
    return trace_path, png


def run_and_report(args: argparse.Namespace, answer: bool) -> int:
    """select (answer=False) or answer (True): plan, load, run, write, print the summary."""
    from air.Process_Utils.process_video import VideoDecodeError

    plan = plan_run(args)
    model = load_model(plan, args.no_cache)
    try:
        if answer:
            from air.cli.answer import answer_prompt

            prompt = args.prompt or answer_prompt(plan.question, plan.options)
            gen_kwargs = {"max_new_tokens": args.max_new_tokens, "temperature": 0, "do_sample": False}
            text, selection = model.answer(plan.video, prompt, plan.question, plan.options, gen_kwargs)
        else:
            text, selection = None, model.select(plan.video, plan.question, plan.options)
    except VideoDecodeError as exc:
        raise CLIError(str(exc), code=1) from exc
    record = selection.to_dict()
    record.update(method="air", command="answer" if answer else "select", question=plan.question, options=plan.options,
                  pretrained=plan.pretrained, tiny_random_weights=plan.tiny)
    if answer:
        record["prompt"] = prompt
    trace_path, png = write_outputs(record, plan, args)
    for line in summary_lines(record):
        print(line)
    if answer:
        print(f"  answer: {text!r}")
    print(f"  trace:  {trace_path}")
    if png is not None:
        print(f"  figure: {png}")
    if plan.tiny:
        print("  (tiny random-weight models: the frames and the answer are not meaningful)")
    return 0


def _run(args: argparse.Namespace) -> int:
    return run_and_report(args, answer=False)


def register(sub) -> None:
    parser = add_command(
        sub, "select", help="run A.I.R. on one video: trace JSON, figure and a summary",
        description="Select frames of VIDEO for a question with A.I.R. (CLIP coarse filter, VLM-rated rounds, "
                    "localized density sampling). Writes <out>/<stem>.json (the full trace, Selection.to_dict() "
                    "plus the question) and <out>/<stem>.png, and prints the budget, events, rounds, frames "
                    "analysed, final frames with timestamps, stop reason and seconds per stage.",
        epilog=RUN_EPILOG,
    )
    add_run_arguments(parser)
    parser.set_defaults(func=_run)
