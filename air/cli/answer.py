"""`air answer VIDEO --question Q`: `air select` plus the backbone's answer from the selected frames."""

from __future__ import annotations

import argparse

from air.cli.common import add_command

ANSWER_WITH_LETTER = "Answer with the option's letter from the given choices directly."
ANSWER_BRIEFLY = "Answer the question briefly."


def answer_prompt(question: str, options: list[str] | None) -> str:
    """Default answering prompt: the question, its lettered options, and the lmms-eval style instruction."""
    from air.Process_Utils.process_messages import format_query

    return f"{format_query(question, options)}\n{ANSWER_WITH_LETTER if options else ANSWER_BRIEFLY}"


def _run(args: argparse.Namespace) -> int:
    from air.cli.common import CLIError
    from air.cli.select import run_and_report

    if args.max_new_tokens < 1:
        raise CLIError(f"argument --max-new-tokens: invalid value {args.max_new_tokens}. Expected an int >= 1.")
    return run_and_report(args, answer=True)


def register(sub) -> None:
    from air.cli.select import RUN_EPILOG, add_run_arguments

    parser = add_command(
        sub, "answer", help="run A.I.R. on one video, then answer the question from the selected frames",
        description="Everything `air select` does, then one call of the backbone with the final frames in time "
                    "order. The trace JSON also holds the prompt and the answer.",
        epilog=RUN_EPILOG,
    )
    add_run_arguments(parser)
    parser.add_argument("--prompt", default=None,
                        help="answering prompt (default: the question, its lettered options and "
                             f"'{ANSWER_WITH_LETTER}', or '{ANSWER_BRIEFLY}' without options)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="answer length limit (tokens)")
    parser.set_defaults(func=_run)
