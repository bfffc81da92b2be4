"""`air export SOURCE... --out selections.json`: the selected frames of a run as one documented JSON file."""

from __future__ import annotations

import argparse

from air.cli.common import CLIError, add_command, iter_trace_file_records, output_file


def _failed(record: dict) -> bool:
    return bool(record.get("error")) or not record.get("frame_indices")


def _run(args: argparse.Namespace) -> int:
    from air.selection_io import selection_entry, write_selections

    output_file(args.out, "--out")  # before reading anything
    entries: list[dict] = []
    failed = 0
    for source in args.sources:
        for record in iter_trace_file_records(source, "SOURCE"):
            if args.task and record.get("task") not in args.task:
                continue
            if _failed(record):
                failed += 1
                continue
            try:
                entries.append(selection_entry(record))
            except ValueError as exc:
                raise CLIError(f"argument SOURCE: {source}: {exc} It could not be replayed, so nothing was "
                               "exported.") from exc
    if not entries:
        detail = f" ({failed} failed samples skipped)" if failed else ""
        raise CLIError(f"no selections to export in {', '.join(args.sources)}{detail}"
                       + (f" for task(s) {', '.join(args.task)}" if args.task else "") + ".", code=1)
    write_selections(entries, args.out)
    print(f"wrote {len(entries)} selections to {args.out}"
          + (f" ({failed} failed samples skipped)" if failed else ""))
    return 0


def register(sub) -> None:
    from air.selection_io import FORMAT

    parser = add_command(
        sub, "export", help="write the selected frames of a run to a selection file (for replay)",
        description=f"Write the selections of traces to one JSON file in the {FORMAT} format: per sample its task, "
                    "doc_id, question_id, video, fps, frame_indices (0-based indices of the original video) and "
                    "timestamps_s. Replay it on any backbone with lmms-eval: --model hvp --model_args "
                    "pretrained=...,selection_file=selections.json (the frames are answered as given, no "
                    "selection runs). Failed samples are skipped; a record that could not be replayed (frame "
                    "indices that are not non-negative ints, an fps that is not a finite number > 0) stops the "
                    "export. An existing --out file is replaced.",
    )
    parser.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="trace folder (traces_rank*.jsonl), side-car JSONL, or JSON trace from `air select`")
    parser.add_argument("--out", required=True, help="selection file to write (JSON)")
    parser.add_argument("--task", action="append", default=None, help="only these tasks (repeatable)")
    parser.set_defaults(func=_run)
