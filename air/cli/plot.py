"""`air plot TRACE`: the figure of a saved selection trace (see air/plotting.py for what it shows)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from air.cli.common import (
    CLIError,
    add_command,
    load_trace_records,
    pick_record,
    summary_lines,
)


def _resolve_video(record: dict, source: Path, explicit: str | None, no_video: bool) -> tuple[str | None, str]:
    """(video path or None, note): --video, else the trace's video, else that name next to the trace."""
    if no_video:
        return None, "contact sheet off (--no-video)"
    if explicit:
        if not os.path.isfile(explicit):
            raise CLIError(f"argument --video: file not found: {explicit}")
        return explicit, ""
    recorded = record.get("video")
    if not recorded:
        return None, "the trace names no video: drawing without the contact sheet (pass --video)"
    folder = source if source.is_dir() else source.parent
    for candidate in (Path(recorded), folder / recorded, folder / Path(recorded).name):
        if candidate.is_file():
            return str(candidate), ""
    return None, f"video {recorded} not found: drawing without the contact sheet (pass --video)"


def _with_video_timeline(record: dict, video: str) -> dict:
    """A copy of a record without fps (e.g. a replayed selection) with fps and n_frames read from the video."""
    from air.Process_Utils.process_video import VideoDecodeError, open_video

    try:
        with open_video(video) as reader:
            return {**record, "fps": reader.fps, "n_frames": reader.n_frames}
    except VideoDecodeError as exc:
        raise CLIError(f"the trace has no fps and the video cannot be read for it: {exc}", code=1) from exc


def default_output(source: Path, record: dict) -> Path:
    """`<trace stem>.png` next to a single trace; `<stem>_<task>_doc<id>.png` for a record of a JSONL/folder."""
    folder = source if source.is_dir() else source.parent
    stem = source.name if source.is_dir() else source.stem
    if "doc_id" in record and (source.is_dir() or source.suffix == ".jsonl"):
        stem += f"_{record.get('task')}_doc{record['doc_id']}"
    return folder / f"{stem}.png"


def _run(args: argparse.Namespace) -> int:
    from air.plotting import plot_trace

    source = Path(args.trace)
    records = load_trace_records(source, "TRACE")
    if not records:
        raise CLIError(f"argument TRACE: no trace records in {source}")
    record = pick_record(records, str(source), args.doc_id, args.task)
    if (args.width is None) != (args.height is None):
        raise CLIError("arguments --width/--height: give both (inches) or neither.")
    figsize = None
    if args.width is not None:
        if args.width <= 0 or args.height <= 0:
            raise CLIError(f"arguments --width/--height: invalid size {args.width} x {args.height}. Expected > 0.")
        figsize = (args.width, args.height)
    if args.dpi <= 0:
        raise CLIError(f"argument --dpi: invalid value {args.dpi}. Expected an int >= 1.")
    video, note = _resolve_video(record, source, args.video, args.no_video)
    if not record.get("fps") and video:
        record = _with_video_timeline(record, video)
    out = Path(args.out) if args.out else default_output(source, record)
    zoom = {"auto": None, "on": True, "off": False}[args.zoom]
    try:
        png = plot_trace(record, out, video=video, figsize=figsize, dpi=args.dpi, zoom=zoom,
                         max_thumbs=args.max_thumbs)
    except ValueError as exc:
        raise CLIError(f"cannot plot this trace: {exc}") from exc
    if note:
        print(f"note: {note}")
    for line in summary_lines(record)[:4]:
        print(line)
    print(f"figure: {png}")
    return 0


def register(sub) -> None:
    parser = add_command(
        sub, "plot", help="draw the figure of a saved selection trace",
        description="Draw what A.I.R. did from a saved trace: the similarity track with the GMM threshold, events, "
                    "LDS frames, every analysed frame coloured by its VLM score with its round, the final frames, "
                    "a score histogram with the two Gaussian components, and a contact sheet of the final frames "
                    "when the video is available.\n\nTRACE is a JSON trace (written by `air select`/`air answer`), "
                    "an hvp side-car JSONL (traces_rank0.jsonl), or a trace folder (every traces_rank*.jsonl); "
                    "with several records choose one with --doc-id [--task].",
    )
    parser.add_argument("trace", metavar="TRACE", help="trace JSON, side-car JSONL, or trace folder")
    parser.add_argument("--doc-id", default=None, help="doc_id of the record to draw (JSONL/folder)")
    parser.add_argument("--task", default=None, help="task of the record to draw (when doc_ids repeat across tasks)")
    parser.add_argument("--video", default=None, help="video file for the contact sheet (default: the trace's video)")
    parser.add_argument("--no-video", action="store_true", help="draw without the contact sheet")
    parser.add_argument("--out", default=None,
                        help="PNG to write (default: next to TRACE, <stem>.png or <stem>_<task>_doc<id>.png)")
    parser.add_argument("--width", type=float, default=None, help="figure width in inches (with --height)")
    parser.add_argument("--height", type=float, default=None,
                        help="figure height in inches (default: grows with the contact sheet)")
    parser.add_argument("--dpi", type=int, default=100, help="resolution; the PNG is width*dpi x height*dpi pixels")
    parser.add_argument("--zoom", choices=("auto", "on", "off"), default="auto",
                        help="panel zoomed on the event with most final frames (auto: when it is < 40%% of the video)")
    parser.add_argument("--max-thumbs", type=int, default=32, help="most thumbnails in the contact sheet")
    parser.set_defaults(func=_run)
