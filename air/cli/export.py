"""`air export SOURCE... --out selections.json`: the selected frames of a run as one documented JSON file."""

from __future__ import annotations

import argparse

from air.cli.common import CLIError, add_command, load_trace_records


def _run(args: argparse.Namespace) -> int:
    from air.selection_io import export_selections, selection_entry

    records: list[dict] = []
    for source in args.sources:
        records.extend(load_trace_records(source, "SOURCE"))
    if args.task:
        records = [r for r in records if r.get("task") in args.task]
    failed = [r for r in records if r.get("error") or not r.get("frame_indices")]
    good = [r for r in records if r not in failed]
    if not good:
        detail = f" ({len(failed)} failed samples skipped)" if failed else ""
        raise CLIError(f"no selections to export in {', '.join(args.sources)}{detail}"
                       + (f" for task(s) {', '.join(args.task)}" if args.task else "") + ".", code=1)
    try:
        for r in good:
            selection_entry(r)
    except (KeyError, TypeError, ValueError) as exc:
        raise CLIError(f"argument SOURCE: a record cannot be exported ({type(exc).__name__}: {exc}). "
                       "Expected traces with frame_indices and fps.") from exc
    count = export_selections(good, args.out)
    print(f"wrote {count} selections to {args.out}"
          + (f" ({len(failed)} failed samples skipped)" if failed else ""))
    return 0


def register(sub) -> None:
    from air.selection_io import FORMAT

    parser = add_command(
        sub, "export", help="write the selected frames of a run to a selection file (for replay)",
        description=f"Write the selections of traces to one JSON file in the {FORMAT} format: per sample its task, "
                    "doc_id, question_id, video, fps, frame_indices (0-based indices of the original video) and "
                    "timestamps_s. Replay it on any backbone with lmms-eval: --model hvp --model_args "
                    "pretrained=...,selection_file=selections.json (the frames are answered as given, no "
                    "selection runs). Failed samples are skipped.",
    )
    parser.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="trace folder (traces_rank*.jsonl), side-car JSONL, or JSON trace from `air select`")
    parser.add_argument("--out", required=True, help="selection file to write (JSON)")
    parser.add_argument("--task", action="append", default=None, help="only these tasks (repeatable)")
    parser.set_defaults(func=_run)
