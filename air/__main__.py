"""`python -m air` / `air`: command line of A.I.R."""

from __future__ import annotations

import argparse
import sys


def _demo(args: argparse.Namespace) -> int:
    from air.demo import run_demo

    return run_demo(args.out, pretrained=args.pretrained, clip=args.clip)


def _sample_task_path(args: argparse.Namespace) -> int:
    from air.sample_task import task_dir

    print(task_dir())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="air", description="A.I.R. frame selection for video QA.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="run the offline end-to-end demo on the bundled sample task",
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    demo.add_argument("--out", default="logs_air/demo", help="output folder")
    demo.add_argument("--pretrained", default=None,
                      help="backbone checkpoint (hub id or path); default: a tiny random-weight Qwen2.5-VL")
    demo.add_argument("--clip", default=None, help="CLIP model name; default: a tiny random-weight open_clip")
    demo.set_defaults(func=_demo)
    path = sub.add_parser("sample-task-path", help="print the folder of the air_sample task (for --include_path)")
    path.set_defaults(func=_sample_task_path)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
