"""`air export SOURCE... --out selections.json`: the selected frames of a run as one documented JSON file."""

from __future__ import annotations

import argparse

from air.cli.common import CLIError, add_command, iter_trace_file_records, output_file


def _failed(record: dict) -> bool:
    return bool(record.get("error")) or not record.get("frame_indices")


def _latest_of_one_method(records: list[tuple[dict, str]], method: str | None) -> list[tuple[dict, str]]:
    """Each sample's latest record (as resume picks it) of one method; several methods need --method."""
    from air.traces import latest_records, record_method

    methods = sorted({record_method(r) for r, _ in records})
    if method is None and len(methods) > 1:
        raise CLIError(f"the traces hold several methods ({', '.join(methods)}): name one with --method.")
    wanted = [(r, source) for r, source in records if method is None or record_method(r) == method]
    if method is not None and not wanted:
        raise CLIError(f"argument --method: no records of method {method!r}; the traces hold {', '.join(methods)}.")
    latest = {id(r) for r in latest_records(r for r, _ in wanted).values()}
    # a JSON trace of `air select` names no (task, doc_id): it is a sample of its own
    return [(r, source) for r, source in wanted if id(r) in latest or "task" not in r or "doc_id" not in r]


def _run(args: argparse.Namespace) -> int:
    from air.selection_io import selection_entry, write_selections

    output_file(args.out, "--out")  # before reading anything
    records = [(record, source) for source in args.sources for record in iter_trace_file_records(source, "SOURCE")
               if not args.task or record.get("task") in args.task]
    entries: list[dict] = []
    failed = 0
    for record, source in _latest_of_one_method(records, args.method):
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
                    "selection runs). Each sample's latest record counts (a failed attempt never hides an earlier success "
                    "of the same configuration); traces of several methods need --method. Failed samples are skipped; a record that could not be replayed (frame "
                    "indices that are not non-negative ints, an fps that is not a finite number > 0) stops the "
                    "export. An existing --out file is replaced.",
    )
    parser.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="trace folder (traces_rank*.jsonl), side-car JSONL, or JSON trace from `air select`")
    parser.add_argument("--out", required=True, help="selection file to write (JSON)")
    parser.add_argument("--task", action="append", default=None, help="only these tasks (repeatable)")
    parser.add_argument("--method", default=None,
                        help="only this method's records (air, uniform, clip_topk, ...; needed when a trace folder "
                             "holds several)")
    parser.set_defaults(func=_run)
