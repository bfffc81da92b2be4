"""`air plot TRACE`: the figure of a saved selection trace (see air/plotting.py for what it shows)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from air.cli.common import (
    CLIError,
    add_command,
    existing_file,
    find_record,
    output_file,
    summary_lines,
)
from air.safe_files import safe_name

MAX_INCHES = 1000.0
MAX_THUMBS = 256


def _resolve_video(record: dict, source: Path, explicit: str | None, no_video: bool) -> tuple[str | None, str]:
    """(video path or None, note): --video, else the trace's video, else that name next to the trace."""
    if no_video:
        return None, "contact sheet off (--no-video)"
    if explicit:
        return existing_file(explicit, "--video"), ""
    from air.traces import find_video

    recorded = record.get("video")
    if not isinstance(recorded, str) or not recorded.strip():
        return None, "the trace names no video: drawing without the contact sheet (pass --video)"
    found = find_video(recorded, [source if source.is_dir() else source.parent])
    if found is None:
        return None, f"video {recorded} not found: drawing without the contact sheet (pass --video)"
    return found, ""


def _with_video_timeline(record: dict, video: str) -> dict:
    """A copy of a record without fps (e.g. a replayed selection) with fps and n_frames read from the video."""
    from air.Process_Utils.process_video import VideoDecodeError, open_video

    try:
        with open_video(video) as reader:
            return {**record, "fps": reader.fps, "n_frames": reader.n_frames}
    except VideoDecodeError as exc:
        raise CLIError(f"the trace has no fps and the video cannot be read for it: {exc}", code=1) from exc


def default_output(source: Path, record: dict) -> Path:
    """`<trace stem>.png` next to a single trace; `<stem>_<task>_doc<id>.png` for a record of a JSONL/folder.

    The task and doc_id come from the trace, so they are sanitised (air.safe_files.safe_name): the figure
    always lands in the trace's own folder, whatever the trace says.
    """
    folder = source if source.is_dir() else source.parent
    stem = source.resolve().name if source.is_dir() else source.stem
    if "doc_id" in record and (source.is_dir() or source.suffix == ".jsonl"):
        stem += f"_{safe_name(record.get('task'))}_doc{safe_name(record['doc_id'])}"
    return folder / f"{safe_name(stem)}.png"


def _check_options(args: argparse.Namespace) -> tuple[float, float] | None:
    """Figure options checked before anything is read; returns figsize or None."""
    from air.plotting import MAX_DPI, MIN_DPI

    if (args.width is None) != (args.height is None):
        raise CLIError("arguments --width/--height: give both (inches) or neither.")
    figsize = None
    if args.width is not None:
        if not all(math.isfinite(v) and 0 < v <= MAX_INCHES for v in (args.width, args.height)):
            raise CLIError(f"arguments --width/--height: invalid size {args.width} x {args.height}. Expected "
                           f"finite numbers > 0 and <= {MAX_INCHES:g} (inches).")
        figsize = (args.width, args.height)
    if not MIN_DPI <= args.dpi <= MAX_DPI:
        raise CLIError(f"argument --dpi: invalid value {args.dpi}. Expected an int >= {MIN_DPI} and <= {MAX_DPI}.")
    if not 0 <= args.max_thumbs <= MAX_THUMBS:
        raise CLIError(f"argument --max-thumbs: invalid value {args.max_thumbs}. Expected an int >= 0 and "
                       f"<= {MAX_THUMBS}.")
    return figsize


def _run(args: argparse.Namespace) -> int:
    from air.plotting import check_pixel_size, plot_trace

    figsize = _check_options(args)
    if figsize is not None:
        try:
            check_pixel_size(figsize, args.dpi)
        except ValueError as exc:
            raise CLIError(f"arguments --width/--height/--dpi: {exc}") from exc
    if args.out:
        output_file(args.out, "--out")
    source = Path(args.trace)
    record = find_record(source, args.doc_id, args.task, "TRACE")
    video, note = _resolve_video(record, source, args.video, args.no_video)
    if not record.get("fps") and video:
        record = _with_video_timeline(record, video)
    if args.out:
        out = Path(args.out)
    else:
        out = output_file(default_output(source, record), "--out (default: next to TRACE; pass --out elsewhere)")
    zoom = {"auto": None, "on": True, "off": False}[args.zoom]
    try:
        png = plot_trace(record, out, video=video, figsize=figsize, dpi=args.dpi, zoom=zoom,
                         max_thumbs=args.max_thumbs)
    except ValueError as exc:
        raise CLIError(f"cannot plot this trace: {exc}") from exc
    if note:
        print(f"note: {note}")
    try:
        lines = summary_lines(record)[:4]
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        lines = [f"(no summary: a malformed trace field, {type(exc).__name__}: {str(exc)[:100]})"]
    for line in lines:
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
                        help="PNG to write, replaced if it exists (default: next to TRACE, <stem>.png or "
                             "<stem>_<task>_doc<id>.png with task and doc_id sanitised)")
    parser.add_argument("--width", type=float, default=None, help="figure width in inches (with --height)")
    parser.add_argument("--height", type=float, default=None,
                        help="figure height in inches (default: grows with the contact sheet)")
    parser.add_argument("--dpi", type=int, default=100,
                        help="resolution, 10..1000; the PNG is width*dpi x height*dpi pixels (at most 32768 a side)")
    parser.add_argument("--zoom", choices=("auto", "on", "off"), default="auto",
                        help="panel zoomed on the event with most final frames (auto: when it is < 40%% of the video)")
    parser.add_argument("--max-thumbs", type=int, default=32, help="most thumbnails in the contact sheet (0..256)")
    parser.set_defaults(func=_run)
