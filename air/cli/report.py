"""`air report RUN [OTHER_RUN] -o report.html`: the HTML page of a whole run (logic in air/report/)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from air.cli.common import CLIError, add_command, output_folder
from air.report import DEFAULT_FIGURES

DEFAULT_JOBS = min(8, os.cpu_count() or 1)


def _figures(value: str) -> int | None:
    if value.strip().lower() == "all":
        return None
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"invalid value {value!r}. Expected an int >= 0 or 'all'.")
    return number


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"invalid value {value!r}. Expected an int >= 1.")
    return number


def _run(args: argparse.Namespace) -> int:
    from air.report import RunError, write_report

    out = Path(args.out)
    if out.suffix.lower() in (".html", ".htm") and not out.is_dir():  # write_report says what else is wrong
        output_folder(out.parent, "-o/--out")  # writable, checked before the run is read
    try:
        result = write_report(args.run, args.other_run, args.out, method=args.method, other_method=args.other_method,
                              figures=args.figures, thumbnails=not args.no_thumbnails, jobs=args.jobs,
                              title=args.title)
    except RunError as exc:
        raise CLIError(str(exc)) from exc
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    images = f"{result.thumbs} thumbnail strips, {result.figures} figures"
    where = f" in {result.side_folder}" if result.side_folder else ""
    print(f"report: {result.path} ({result.rows} samples; {images}{where}; {result.seconds:.1f} s)")
    if result.images_failed:
        print(f"note: {result.images_failed} images could not be made (see the warnings above; the rows say why)")
    return 0


def register(sub) -> None:
    parser = add_command(
        sub, "report", help="write one HTML page of a whole run (or two runs side by side)",
        description="Write a self-contained HTML page of a run: per task the metric, samples, errors, fallbacks "
                    "by reason, mean frames selected and analysed, mean seconds per stage (Video-MME also by "
                    "duration and task type), then one row per sample, filterable and searchable, with the "
                    "question, options, gold answer, the answers, thumbnails of the selected frames with their "
                    "times, a small CLIP-score track, every VLM rating with its reason, and (when opened) the "
                    "figure of `air plot`. With OTHER_RUN both runs side by side and the per-sample differences "
                    "(fixed: right in RUN, wrong in OTHER_RUN; broken: the reverse).\n\n"
                    "RUN is an lmms-eval --output_path folder (results, samples and traces), its model "
                    "subfolder, one <date>_results.json, or a trace folder / traces_rank*.jsonl alone. "
                    "Images go to the folder <report stem>_files next to the page (and only there); "
                    "an existing page at -o is replaced, images that did not change are reused.",
    )
    parser.add_argument("run", metavar="RUN", help="the run to report")
    parser.add_argument("other_run", metavar="OTHER_RUN", nargs="?", default=None,
                        help="a second run shown side by side (e.g. a uniform baseline)")
    parser.add_argument("-o", "--out", default="report.html", help="HTML file to write")
    parser.add_argument("--method", default=None,
                        help="trace method to show for RUN when its trace folder holds several (air, uniform, ...)")
    parser.add_argument("--other-method", default=None, help="the same for OTHER_RUN")
    parser.add_argument("--figures", type=_figures, default=DEFAULT_FIGURES, metavar="N|all",
                        help="rows that get an `air plot` figure, changed and wrong ones first; 0 for none "
                             "(rows without one show the `air plot` command that draws it)")
    parser.add_argument("--no-thumbnails", action="store_true",
                        help="show the selected frames as times only, without reading the videos")
    parser.add_argument("--jobs", type=_positive, default=DEFAULT_JOBS, help="worker processes for the images")
    parser.add_argument("--title", default=None, help="page title (default: names the runs)")
    parser.set_defaults(func=_run)
