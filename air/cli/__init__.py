"""The `air` command line (`python -m air ...`): one module per command, each with `register(subparsers)`.

Commands: select, answer, plot, report, export, cache, demo, sample-task-path. Modules import only argparse
and light parts of `air` at import; models, torch and matplotlib load inside the command that needs them.
"""

from __future__ import annotations

import argparse
import sys

from air.cli import answer, cache, demo, export, plot, report, select
from air.cli.common import CLIError
from air.safe_files import FileCheckError

COMMANDS = (select, answer, plot, report, export, cache, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="air",
        description="A.I.R. frame selection for video QA: run it on one video, draw what it did, export "
                    "selections, manage the CLIP feature cache. The lmms-eval model is `--model hvp`.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` and run the command; returns the exit code (2 for bad arguments and input files, 1 when
    the run itself fails). Every failure the user can fix is one line `air <command>: error: ...`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"air {args.command}: error: {exc}", file=sys.stderr)
        return exc.code
    except FileCheckError as exc:  # an input that is not a regular file or is too large
        print(f"air {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file-system failure during the run (disk full, permissions changed, ...)
        where = f": {exc.filename}" if exc.filename else ""
        print(f"air {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"air {args.command}: interrupted", file=sys.stderr)
        return 130
