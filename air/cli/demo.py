"""`air demo` (what `make demo` runs; logic in air/demo.py) and `air sample-task-path`."""

from __future__ import annotations

import argparse

from air.cli.common import add_command


def _demo(args: argparse.Namespace) -> int:
    from air.demo import run_demo

    return run_demo(args.out, pretrained=args.pretrained, clip=args.clip)


def _sample_task_path(args: argparse.Namespace) -> int:
    from air.sample_task import task_dir

    print(task_dir())
    return 0


def register(sub) -> None:
    demo = add_command(sub, "demo", help="run the offline end-to-end demo (lmms-eval + hvp on the sample task)",
                       description="Run `python -m lmms_eval --model hvp` on the bundled air_sample task and print "
                                   "the accuracy, the traces and a figure. Without --pretrained it builds tiny "
                                   "RANDOM-WEIGHT models offline: the answers are meaningless, the machinery is real.")
    demo.add_argument("--out", default="logs_air/demo", help="output folder")
    demo.add_argument("--pretrained", default=None,
                      help="backbone checkpoint (hub id or path); default: a tiny random-weight Qwen2.5-VL")
    demo.add_argument("--clip", default=None, help="CLIP model name; default: a tiny random-weight open_clip")
    demo.set_defaults(func=_demo)
    path = add_command(sub, "sample-task-path", help="print the folder of the air_sample task (for --include_path)",
                       description="Print the folder of the bundled offline air_sample lmms-eval task.")
    path.set_defaults(func=_sample_task_path)
