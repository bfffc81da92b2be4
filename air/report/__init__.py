"""`air report`: one self-contained HTML page per run, or two runs side by side.

    from air.report import write_report
    result = write_report("logs/hvp_run", "logs/uniform_run", "report.html", figures=300, jobs=4)

Parts: `runs` finds and reads a run (results JSON, samples files, traces), `judge` reads the verdict of a
samples-file entry, `rows` turns each (task, doc_id) into page data, `summary` computes the per-task
tables, `media` makes thumbnails and figures in the side folder `<report stem>_files/`, `page` writes the
HTML from one template. The page is written atomically; an existing file at the output path is replaced.
"""

from __future__ import annotations

import os
import re
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from air.report.media import (
    FigureJob,
    ThumbJob,
    figure_name,
    image_size,
    prune,
    run_jobs,
    strip_frames,
    thumb_name,
)
from air.report.page import render_page
from air.report.rows import build_row
from air.report.runs import Run, RunError, Sample, load_run
from air.report.summary import run_info, task_summaries
from air.safe_files import atomic_write, safe_name
from air.traces import find_video

__all__ = ["DEFAULT_FIGURES", "ReportResult", "RunError", "build_data", "load_run", "write_report"]

#: Rows that get `air plot` figures by default (None = every row); see `figure_priority`.
DEFAULT_FIGURES = 50


@dataclass
class ReportResult:
    """What `write_report` wrote and how long it took."""

    path: Path
    side_folder: Path | None
    rows: int
    thumbs: int = 0
    figures: int = 0
    images_made: int = 0
    images_failed: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _doc_order(doc_id: str) -> tuple:
    return (0, int(doc_id), "") if re.fullmatch(r"-?\d+", doc_id) else (1, 0, doc_id)


def merged_keys(runs: list[Run]) -> list[tuple[str, str]]:
    """Every (task, doc_id) of the runs: tasks in order of first appearance, doc_ids in numeric order."""
    keys = list(dict.fromkeys(k for run in runs for k in run.samples))
    task_rank = {t: i for i, t in enumerate(dict.fromkeys(t for t, _ in keys))}
    return sorted(keys, key=lambda k: (task_rank[k[0]], _doc_order(k[1])))


def figure_priority(row: dict) -> int:
    """Which rows get figures first: changed vs the other run, then wrong answers, then fallbacks."""
    sides = [s for s in row["sides"] if s]
    if row.get("cmp") in ("fixed", "broken"):
        return 0
    if any(s.get("correct") is False for s in sides):
        return 1
    if any(s.get("fallbacks") for s in sides):
        return 2
    return 3


def _drawable(side: dict | None) -> bool:
    """Whether `air plot` can draw this side: a full trace of a sample that did not fail."""
    return bool(side and side["has_trace"] and not side["error"] and not side["partial"]
                and (side["frames"] or side["track"]))


def _plot_command(sample: Sample) -> str | None:
    if sample.trace_file is None:
        return None
    out = safe_name(f"{sample.task}_doc{sample.doc_id}.png")
    return " ".join(["air plot", shlex.quote(str(sample.trace_file)), "--task", shlex.quote(sample.task),
                     "--doc-id", shlex.quote(str(sample.doc_id)), "--out", shlex.quote(out)])


def _video_folders(run: Run) -> list[Path]:
    folders = [p.parent for p in run.trace_files]
    if run.results_file is not None:
        folders += [run.results_file.parent, run.results_file.parent.parent]
    folders.append(run.source if run.source.is_dir() else run.source.parent)
    return list(dict.fromkeys(folders))


def _plan_media(rows: list[dict], pairs: list[list[Sample | None]], runs: list[Run], side_folder: Path, *,
                thumbnails: bool, figures: int | None) -> tuple[list[ThumbJob], list[FigureJob], dict]:
    """Thumbnail and figure jobs, and {(row index, side index, "thumbs" or "figure"): image path}."""
    folders = [_video_folders(run) for run in runs]
    thumb_jobs: dict[str, ThumbJob] = {}
    figure_jobs: list[FigureJob] = []
    links: dict[tuple[int, int, str], Path] = {}
    drawable = [i for i, row in enumerate(rows) if any(_drawable(s) for s in row["sides"])]
    order = sorted(drawable, key=lambda i: (figure_priority(rows[i]), i))
    with_figure = set(order if figures is None else order[: max(0, figures)])
    for i, (row, samples) in enumerate(zip(rows, pairs)):
        for k, (side, sample) in enumerate(zip(row["sides"], samples)):
            if side is None or sample is None:
                continue
            trace = sample.trace if isinstance(sample.trace, dict) else None
            recorded = (trace or (sample.logged or {}).get("air_selection") or {}).get("video") or row.get("video")
            video = find_video(recorded, folders[k])
            side["plot_cmd"] = _plot_command(sample) if trace and not side["error"] else None
            if side["frames"] and thumbnails and video:
                frames = strip_frames([f[0] for f in side["frames"]])
                path = side_folder / thumb_name(video, frames)
                thumb_jobs.setdefault(video, ThumbJob(video)).strips.append((frames, path))
                links[(i, k, "thumbs")] = path
                side["thumbs"] = {"frames": frames}
            elif side["frames"]:
                side["thumbs_note"] = ("thumbnails off (--no-thumbnails)" if not thumbnails else
                                       f"video not found: {recorded}" if recorded else "the trace names no video")
            if not _drawable(side):
                side["figure_note"] = ("no figure: the sample failed" if side["error"] else
                                       "no figure: no selection trace for this sample")
                side["plot_cmd"] = None
            elif i in with_figure:
                path = side_folder / figure_name(trace, video)
                figure_jobs.append(FigureJob(trace, video, path))
                links[(i, k, "figure")] = path
            elif figures == 0:
                side["figure_note"] = "figures off (--figures 0). Draw this one with:"
            else:
                side["figure_note"] = (f"no figure drawn for this row (figures were drawn for {figures} rows, "
                                       "changed and wrong ones first). Draw it with:")
    return list(thumb_jobs.values()), figure_jobs, links


def build_data(runs: list[Run], rows: list[dict], notes: list[str]) -> dict:
    """The JSON blob of the page."""
    from air import plotting

    return {
        "version": 1,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "runs": [run_info(run) for run in runs],
        "tasks": task_summaries(rows, runs),
        "rows": rows,
        "notes": notes,
        "colours": {"scores": {str(k): v for k, v in plotting.SCORE_COLOURS.items()},
                    "unparseable": plotting.UNPARSEABLE_COLOUR, "sample": plotting.SAMPLE_COLOUR,
                    "event": plotting.EVENT_COLOUR, "threshold": plotting.THRESHOLD_COLOUR},
    }


def side_folder_for(out: Path) -> Path:
    """`<folder>/<stem>_files`: the images of report `<folder>/<stem>.html`."""
    return out.with_name(out.stem + "_files")


def write_report(
    run: str | os.PathLike,
    other: str | os.PathLike | None = None,
    out: str | os.PathLike = "report.html",
    *,
    method: str | None = None,
    other_method: str | None = None,
    figures: int | None = DEFAULT_FIGURES,
    thumbnails: bool = True,
    jobs: int = 1,
    title: str | None = None,
) -> ReportResult:
    """Write the report of `run` (and `other`, side by side) to `out` (.html) and its side folder.

    figures: rows that get an `air plot` figure (None = all, 0 = none), chosen by `figure_priority`.
    thumbnails: read thumbnails of the selected frames from the videos that exist on this machine.
    jobs: worker processes for images. Raises RunError for a run that cannot be read, ValueError for
    bad options.
    """
    start = time.perf_counter()
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"Invalid output {out}: expected a file name ending in .html.")
    if out.is_dir():
        raise ValueError(f"Invalid output {out}: it is a folder. Expected an .html file name.")
    if figures is not None and (isinstance(figures, bool) or not isinstance(figures, int) or figures < 0):
        raise ValueError(f"Invalid figures: {figures!r}. Expected an int >= 0 or None (all).")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"Invalid jobs: {jobs!r}. Expected an int >= 1.")
    runs = [load_run(run, method=method)]
    if other is not None:
        runs.append(load_run(other, method=other_method))
    keys = merged_keys(runs)
    pairs = [[r.samples.get(key) for r in runs] for key in keys]
    rows = [build_row(i, samples) for i, samples in enumerate(pairs)]
    out.parent.mkdir(parents=True, exist_ok=True)
    side_folder = side_folder_for(out)
    thumb_jobs, figure_jobs, links = _plan_media(rows, pairs, runs, side_folder, thumbnails=thumbnails,
                                                 figures=figures)
    result = ReportResult(path=out, side_folder=None, rows=len(rows))
    if links:
        side_folder.mkdir(exist_ok=True)
    made = run_jobs(thumb_jobs, figure_jobs, jobs=jobs)
    result.images_made = sum(1 for e in made.values() if e is None)
    result.images_failed = sum(1 for e in made.values() if e is not None)
    href = quote(side_folder.name)
    for (i, k, kind), path in links.items():
        side = rows[i]["sides"][k]
        error = made.get(str(path))
        if not path.exists():
            note = f"could not make the {'thumbnails' if kind == 'thumbs' else 'figure'}: {error or 'unknown error'}"
            if kind == "thumbs":
                side["thumbs"], side["thumbs_note"] = None, note
            else:
                side["figure_note"] = note
            continue
        if kind == "thumbs":
            size = image_size(path)
            frames = side["thumbs"]["frames"]
            if size is None or not frames:
                side["thumbs"], side["thumbs_note"] = None, "unreadable thumbnail strip"
                continue
            side["thumbs"] = {"src": f"{href}/{path.name}", "w": size[0] // len(frames), "h": size[1], "frames": frames}
            result.thumbs += 1
        else:
            side["figure"] = f"{href}/{path.name}"
            result.figures += 1
    if side_folder.is_dir():
        prune(side_folder, {p.name for p in links.values()})
        result.side_folder = side_folder
    result.notes = [note for run in runs for note in run.notes]  # shown on the page with their run
    labels = " vs ".join(r.label for r in runs)
    page = render_page(build_data(runs, rows, []), title or f"A.I.R. report: {labels}")
    atomic_write(out, page)
    result.seconds = time.perf_counter() - start
    return result
