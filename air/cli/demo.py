"""`air demo` (what `make demo` runs; logic in air/demo.py) and `air sample-task-path`."""

from __future__ import annotations

import argparse
import os

from air.cli.common import CLIError, add_command, output_folder


def _demo(args: argparse.Namespace) -> int:
    from air.demo import check_model_arg, run_demo

    labels = {"pretrained": "--pretrained", "clip": "--clip", "out": "--out"}
    for name, value in (("pretrained", args.pretrained), ("clip", args.clip), ("out", os.path.abspath(args.out))):
        if value is not None:
            try:
                check_model_arg(value, name)
            except ValueError as exc:
                raise CLIError(f"argument {labels[name]}: {exc}") from exc
    if args.clip:
        from air.cli.select import check_clip_argument

        check_clip_argument(args.clip)
    output_folder(args.out, "--out")
    return run_demo(args.out, pretrained=args.pretrained, clip=args.clip)


def _sample_task_path(args: argparse.Namespace) -> int:
    from air.sample_task import task_dir

    print(task_dir())
    return 0


def register(sub) -> None:
    demo = add_command(sub, "demo", help="run the offline end-to-end demo (lmms-eval + hvp on the sample task)",
                       description="Run `python -m lmms_eval --model hvp` on the bundled air_sample task and print "
                                   "the accuracy, the traces and a figure. Without --pretrained it builds tiny "
                                   "RANDOM-WEIGHT models offline: the answers are meaningless, the machinery is real. "
                                   "--pretrained, --clip and --out are joined into lmms-eval's --model_args, so they "
                                   "may not contain , ' \" { } [ ].")
    demo.add_argument("--out", default="logs_air/demo",
                      help="output folder (its traces/ subfolder is recreated on each run)")
    demo.add_argument("--pretrained", default=None,
                      help="backbone checkpoint (hub id or path); default: a tiny random-weight Qwen2.5-VL")
    demo.add_argument("--clip", default=None, help="CLIP model name; default: a tiny random-weight open_clip")
    demo.set_defaults(func=_demo)
    path = add_command(sub, "sample-task-path", help="print the folder of the air_sample task (for --include_path)",
                       description="Print the folder of the bundled offline air_sample lmms-eval task.")
    path.set_defaults(func=_sample_task_path)
