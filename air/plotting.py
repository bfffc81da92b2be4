"""One figure that shows what A.I.R. did on one video: `plot_trace(record, path, video=...)`.

`record` is a selection trace: `Selection.to_dict()`, a line of hvp's side-car JSONL, or the JSON
written by `air select`. The figure has three parts:
- the similarity track over time (normalised CLIP score of every 1-FPS sample as a line with dots,
  Localized-Density-Sampling frames as diamonds), the GMM threshold, the detected events as shaded
  spans, every frame the VLM analysed as a large dot coloured by its score 1..5 (x for unparseable)
  with its round number above it, and the final frames as ticks under the curve (ringed when analysed);
- on the right, sharing the score axis, a histogram of the normalised sample scores with the two
  fitted Gaussian components and the threshold;
- below, when the video can be decoded, a contact sheet of the final frames with their time, frame
  index, CLIP score and VLM score.
matplotlib is used through its object API on an Agg canvas: no global backend switch, no pyplot state.
`build_figure` returns the Figure; its axes carry labels ("track", "histogram", "zoom", "rounds",
"thumb:<frame index>") so callers and tests can find the parts.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

#: Colours of VLM scores 1..5 (red = unrelated ... green = unambiguous evidence); unparseable is grey.
SCORE_COLOURS = {1: "#b2182b", 2: "#ef8a62", 3: "#f4d35e", 4: "#91cf60", 5: "#1a9850"}
UNPARSEABLE_COLOUR = "#8c8c8c"
SAMPLE_COLOUR = "#4a6f9c"
LDS_COLOUR = "#7b3fa0"
EVENT_COLOUR = "#f5a623"
THRESHOLD_COLOUR = "#c0392b"

DEFAULT_WIDTH_IN = 13.0
MIN_DPI, MAX_DPI = 10, 1000
#: Largest figure drawn: per side and in total (an RGBA canvas of 64 Mpx takes 256 MiB).
MAX_SIDE_PX = 32768
MAX_FIGURE_PIXELS = 64 * 2**20
_HEADER_IN = 1.05
_TRACK_IN = 4.4
_ZOOM_IN = 2.7


@dataclass
class _Track:
    """What the figure needs from a trace, in seconds and normalised scores."""

    fps: float
    duration_s: float
    samples: np.ndarray  # float (n, 2): time_s, norm score
    lds: np.ndarray  # float (m, 2): time_s, norm score
    norm_of: dict[int, float]
    analysed: dict[int, tuple[int, int | None, str]]  # frame -> (round, score, reason)
    final: list[int]
    threshold: float | None
    means: list[float]
    stds: list[float]
    events: list[tuple[float, float]]
    n_rounds: int
    fallbacks: list[str] = field(default_factory=list)


def _track(record: dict) -> _Track:
    """Extract the plotted quantities from a trace record; errors say what the record lacks.

    A record whose fields have the wrong shape or type (a damaged or hand-made trace) raises ValueError.
    """
    try:
        return _read_track(record)
    except (TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        if not isinstance(record, dict):
            raise
        raise ValueError(f"Invalid trace: a malformed field ({type(exc).__name__}: {str(exc)[:200]}). Expected a "
                         "Selection.to_dict() record.") from exc


def _read_track(record: dict) -> _Track:
    if not isinstance(record, dict):
        raise TypeError(f"Invalid trace: {type(record).__name__}. Expected a dict from Selection.to_dict().")
    if record.get("error"):
        where = f" (task {record.get('task')}, doc_id {record.get('doc_id')})" if "doc_id" in record else ""
        raise ValueError(f"Cannot plot a failed sample{where}: {record['error']}")
    missing = [k for k in ("fps", "frame_indices") if record.get(k) in (None, "")]
    if missing:
        raise ValueError(
            f"Invalid trace: missing {', '.join(missing)}. Expected a Selection.to_dict() record "
            "(replayed selections carry no selection trace to plot)."
        )
    fps = float(record["fps"])
    if not (math.isfinite(fps) and fps > 0):  # also what a 1e400 in a JSON trace becomes
        raise ValueError(f"Invalid trace fps: {record['fps']!r}. Expected a finite number > 0.")
    scored = record.get("scored") or []
    scored = [row for row in scored if row[2] is not None]  # failed CLIP scores have no value to plot
    norm_of = {int(f): float(n) for f, _raw, n, _src in scored}
    samples = np.array([(f / fps, n) for f, _r, n, s in scored if s == "sample"], dtype=np.float64).reshape(-1, 2)
    lds = np.array([(f / fps, n) for f, _r, n, s in scored if s != "sample"], dtype=np.float64).reshape(-1, 2)
    analysed: dict[int, tuple[int, int | None, str]] = {}
    rounds = record.get("rounds") or []
    for r in rounds:
        reasons = list(r.get("reasons") or [])
        sims = list(r.get("similarity") or [])
        for k, (f, s) in enumerate(zip(r.get("candidates", []), r.get("scores", []))):
            analysed[int(f)] = (int(r.get("round", 0)), s if s is None else int(s), reasons[k] if k < len(reasons) else "")
            if int(f) not in norm_of and k < len(sims) and sims[k] is not None:
                norm_of[int(f)] = float(sims[k])
    n_frames = record.get("n_frames")
    final = sorted(int(f) for f in record["frame_indices"])
    last = max([final[-1] if final else 0] + list(norm_of))
    duration_s = (int(n_frames) if n_frames else last + 1) / fps
    gmm = record.get("gmm") or {}
    threshold = record.get("threshold")
    return _Track(
        fps=fps,
        duration_s=duration_s,
        samples=samples,
        lds=lds,
        norm_of=norm_of,
        analysed=analysed,
        final=final,
        threshold=None if threshold is None else float(threshold),
        means=[float(m) for m in gmm.get("means") or []],
        stds=[float(s) for s in gmm.get("stds") or []],
        events=[(float(s), float(e)) for s, e in record.get("events") or []],
        n_rounds=len(rounds),
        fallbacks=[str(f.get("reason", f)) if isinstance(f, dict) else str(f) for f in record.get("fallbacks") or []],
    )


def check_pixel_size(figsize: Sequence[float], dpi: float) -> tuple[int, int]:
    """(width, height) in pixels of a figure of figsize inches at dpi; ValueError when it is too large."""
    width, height = (round(v * dpi) for v in figsize)
    if max(width, height) > MAX_SIDE_PX or width * height > MAX_FIGURE_PIXELS:
        raise ValueError(f"Invalid figure size: {width} x {height} pixels ({figsize[0]:g} x {figsize[1]:g} inches at "
                         f"{dpi:g} dpi). Expected at most {MAX_SIDE_PX} pixels a side and {MAX_FIGURE_PIXELS} in all: "
                         "lower the dpi or the size.")
    return width, height


def format_time(seconds: float, tenths: bool = False) -> str:
    """`m:ss` (or `h:mm:ss`) for a time in seconds; `m:ss.t` with tenths=True."""
    seconds = max(0.0, float(seconds))
    if tenths:
        tenth_total = round(seconds * 10)
        whole, tenth = divmod(tenth_total, 10)
    else:
        whole, tenth = int(seconds), 0
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    text = f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
    return f"{text}.{tenth}" if tenths else text


def _thumbnails(video: str, frames: Sequence[int], decoder: str, width_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode `frames` of `video` as thumbnails `width_px` wide: uint8 (N, h, w, 3), timestamps_s (N,)."""
    from air.Process_Utils.process_video import open_video

    with open_video(video, decoder=decoder) as reader:
        aspect = reader.height / max(1, reader.width)
        size = (int(width_px), max(2, round(width_px * aspect)))
        return reader.read(np.asarray(frames, dtype=np.int64), size=size)


def _question(record: dict) -> str:
    text = record.get("question") or (record.get("query") or "").split("\n", 1)[0]
    text = " ".join(str(text).split())
    return text if len(text) <= 120 else text[:117] + "..."


def _subtitle(record: dict, track: _Track) -> str:
    n_final, budget = len(track.final), record.get("budget", "?")
    n_analysed = record.get("n_analyzed", len(track.analysed))
    parts = [f"budget {budget}", f"{n_final} final frames", f"{n_analysed} analysed in {track.n_rounds} rounds",
             f"stop: {record.get('stop_reason') or 'n/a'}"]
    counts: dict[str, int] = {}
    for reason in track.fallbacks:
        counts[reason] = counts.get(reason, 0) + 1
    listed = ", ".join(r if n == 1 else f"{r} x{n}" for r, n in counts.items())
    parts.append("fallbacks: " + (listed or "none"))
    return "  |  ".join(parts)


def _sheet_frames(final: list[int], max_thumbs: int) -> list[int]:
    """At most `max_thumbs` of the final frames, evenly spread over the list when there are more."""
    if len(final) <= max_thumbs:
        return list(final)
    picks = np.unique(np.linspace(0, len(final) - 1, max_thumbs).round().astype(int))
    return [final[i] for i in picks]


def build_figure(
    record: dict,
    video: str | os.PathLike | None = None,
    *,
    figsize: tuple[float, float] | None = None,
    dpi: int = 100,
    max_thumbs: int = 32,
    thumbs_per_row: int = 8,
    thumb_width_px: int = 240,
    decoder: str | None = None,
    title: str | None = None,
    zoom: bool | None = None,
) -> Figure:
    """Draw the selection trace `record` on a new matplotlib Figure (Agg canvas, no pyplot state).

    video: the video file, for the contact sheet of final frames (skipped, with a note in the
    figure, when None, missing or undecodable). figsize: (width, height) in inches; the default
    grows with the number of contact-sheet rows; a saved PNG is exactly figsize * dpi pixels.
    decoder: decoder list for the thumbnails (default: the trace's config decoder, then pyav).
    zoom: add a panel zoomed on the event holding the most final frames (None: only when that
    window is under 40% of the video).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    track = _track(record)
    if isinstance(dpi, bool) or not (isinstance(dpi, (int, float)) and MIN_DPI <= dpi <= MAX_DPI):
        raise ValueError(f"Invalid dpi: {dpi!r}. Expected a number >= {MIN_DPI} and <= {MAX_DPI}.")
    if figsize is not None and (len(figsize) != 2 or not all(
            isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in figsize)):
        raise ValueError(f"Invalid figsize: {figsize!r}. Expected (width, height) in inches, both finite and > 0.")
    if max_thumbs < 0 or thumbs_per_row < 1:
        raise ValueError(f"Invalid max_thumbs={max_thumbs!r} / thumbs_per_row={thumbs_per_row!r}. "
                         "Expected max_thumbs >= 0 and thumbs_per_row >= 1.")

    thumbs, thumb_times, note = None, None, ""
    sheet = _sheet_frames(track.final, max_thumbs)
    if video is not None and sheet:
        video = os.fspath(video)
        if not os.path.exists(video):
            note = f"contact sheet skipped: video not found ({video})"
        else:
            chosen = decoder or ",".join(dict.fromkeys(
                [*(record.get("config", {}).get("decoder") or "pyav").split(","), "pyav"]))
            try:
                thumbs, thumb_times = _thumbnails(video, sheet, chosen, thumb_width_px)
            except Exception as exc:  # noqa: BLE001 - a figure without thumbnails beats no figure
                logger.warning("Contact sheet skipped: cannot decode %s: %s", video, exc)
                note = f"contact sheet skipped: {str(exc)[:150]}"
    n_rows = math.ceil(len(sheet) / thumbs_per_row) if thumbs is not None else 0
    thumb_aspect = thumbs.shape[1] / thumbs.shape[2] if thumbs is not None else 0.5625
    row_in = max(0.9, (DEFAULT_WIDTH_IN / thumbs_per_row) * thumb_aspect + 0.45) if n_rows else 0.0
    window = zoom_window(track) if zoom in (None, True) else None
    if zoom is True and window is None and track.final:
        t_final = np.asarray(track.final) / track.fps
        window = (max(0.0, t_final.min() - 2.0), min(track.duration_s, t_final.max() + 2.0))
    if figsize is None:
        figsize = (DEFAULT_WIDTH_IN, _HEADER_IN + _TRACK_IN + (_ZOOM_IN if window else 0.0) + n_rows * row_in)

    check_pixel_size(figsize, dpi)
    fig = Figure(figsize=tuple(figsize), dpi=dpi)
    FigureCanvasAgg(fig)
    heights = [_TRACK_IN] + ([_ZOOM_IN] if window else []) + ([n_rows * row_in] if n_rows else [])
    top = 1.0 - min(0.45, _HEADER_IN / figsize[1])
    bottom = (0.02 if n_rows else 0.4 / figsize[1]) + (0.18 / figsize[1] if note else 0.0)
    grid = fig.add_gridspec(len(heights), 1, height_ratios=heights, top=top, bottom=bottom,
                            left=0.055, right=0.985, hspace=0.55 * 4.4 / sum(heights) if window else 0.16)
    upper = grid[0].subgridspec(1, 2, width_ratios=[5.2, 1.0], wspace=0.03)
    ax = fig.add_subplot(upper[0], label="track")
    ax_hist = fig.add_subplot(upper[1], sharey=ax, label="histogram")
    _draw_track(ax, track, rounds=window is None)
    _draw_histogram(ax_hist, track)
    if window:
        ax.axvspan(*window, fill=False, ec="#555555", ls=":", lw=1.0, zorder=1)
        lower = grid[1].subgridspec(1, 2, width_ratios=[5.2, 1.0], wspace=0.03)
        ax_zoom = fig.add_subplot(lower[0], label="zoom")
        _draw_track(ax_zoom, track, legends=False, xlim=window)
        ax_zoom.set_title(f"zoom {format_time(window[0])} - {format_time(window[1])}: analysed frames with their "
                          "round numbers", fontsize=8.5, loc="left", pad=3)
        ax_rounds = fig.add_subplot(lower[1], label="rounds")
        ax_rounds.axis("off")
        ax_rounds.text(0.06, 1.0, _rounds_table(record), transform=ax_rounds.transAxes, ha="left", va="top",
                       fontsize=7.5, family="monospace", linespacing=1.45)
    if n_rows:
        _draw_sheet(fig, grid[-1], track, sheet, thumbs, thumb_times, thumbs_per_row, n_rows)

    method = record.get("method") or "air"
    method = "A.I.R." if method == "air" else method
    head = title or (f"{method} frame selection  -  {os.path.basename(str(record.get('video') or video or 'video'))}"
                     f"  ({format_time(track.duration_s)} at {track.fps:.3g} fps)")
    fig.text(0.5, 1.0 - 0.12 / figsize[1], head, ha="center", va="top", fontsize=13, weight="bold")
    lines = []
    question = _question(record)
    if question:
        lines.append(f"Q: {question}")
    lines.append(_subtitle(record, track))
    fig.text(0.5, 1.0 - 0.42 / figsize[1], "\n".join(lines), ha="center", va="top", fontsize=9.5,
             color="#a31515" if track.fallbacks else "#222222", linespacing=1.5)
    if note:
        fig.text(0.5, 0.012, note, ha="center", va="bottom", fontsize=8, color="#666666", style="italic")

    return fig


def plot_trace(
    record: dict,
    path: str | os.PathLike,
    video: str | os.PathLike | None = None,
    **options: Any,
) -> Path:
    """Draw the selection trace `record` (see `build_figure` for `options`) and save it as a PNG at `path`.

    Returns the path. The image is exactly figsize * dpi pixels (no tight bounding box). The file is written
    to an exclusive temporary file next to `path` and renamed over it.
    """
    from air.safe_files import atomic_writer

    fig = build_figure(record, video, **options)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(out, text=False) as handle:  # exclusive temp file + rename: never through a planted link
        fig.savefig(handle, format="png", dpi=fig.dpi)
    return out


def zoom_window(track: _Track, max_fraction: float = 0.4) -> tuple[float, float] | None:
    """(start_s, end_s) around the event holding the most final frames, or None when not worth zooming.

    Without events the window spans the final frames. None when the window would cover more than
    `max_fraction` of the video (the main panel already shows it well).
    """
    if not track.final:
        return None
    t_final = np.asarray(track.final, dtype=np.float64) / track.fps
    if track.events:
        counts = [int(((t_final >= s) & (t_final <= e)).sum()) for s, e in track.events]
        best = int(np.argmax(counts))
        start, end = track.events[best] if counts[best] else (float(t_final.min()), float(t_final.max()))
    else:
        start, end = float(t_final.min()), float(t_final.max())
    pad = max(2.0, 0.3 * (end - start))
    start, end = max(0.0, start - pad), min(track.duration_s, end + pad)
    if end - start >= max_fraction * track.duration_s or end <= start:
        return None
    return start, end


def _draw_track(ax, track: _Track, *, legends: bool = True, xlim: tuple[float, float] | None = None,
                rounds: bool = True) -> None:
    """The similarity track, threshold, events, analysed frames and final-frame ticks."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = []
    for k, (start, end) in enumerate(track.events):
        ax.axvspan(start, end, color=EVENT_COLOUR, alpha=0.2, lw=0, zorder=0)
    if track.events:
        handles.append(Patch(color=EVENT_COLOUR, alpha=0.35, label=f"events ({len(track.events)})"))
    if len(track.samples):
        ax.plot(track.samples[:, 0], track.samples[:, 1], "-o", color=SAMPLE_COLOUR, lw=0.9, ms=1.8, zorder=2)
        handles.append(Line2D([], [], color=SAMPLE_COLOUR, marker="o", ms=3, lw=0.9,
                              label=f"CLIP score, 1-FPS samples ({len(track.samples)})"))
    if len(track.lds):
        ax.scatter(track.lds[:, 0], track.lds[:, 1], marker="D", s=9, color=LDS_COLOUR, lw=0, zorder=3)
        handles.append(Line2D([], [], color=LDS_COLOUR, marker="D", ms=4, ls="none",
                              label=f"LDS frames ({len(track.lds)})"))
    if track.threshold is not None:
        ax.axhline(track.threshold, color=THRESHOLD_COLOUR, ls="--", lw=1.1, zorder=1)
        handles.append(Line2D([], [], color=THRESHOLD_COLOUR, ls="--", label=f"GMM threshold {track.threshold:.2f}"))

    final = set(track.final)
    frames = sorted(track.analysed)
    if frames:
        times = np.array([f / track.fps for f in frames])
        ys = np.array([track.norm_of.get(f, 0.0) for f in frames])
        scores = [track.analysed[f][1] for f in frames]
        colours = [SCORE_COLOURS.get(s, UNPARSEABLE_COLOUR) if s is not None else UNPARSEABLE_COLOUR for s in scores]
        parsed = np.array([s is not None for s in scores])
        ring = np.array([f in final for f in frames])
        for mask, edge, lw in ((parsed & ~ring, "#555555", 0.5), (parsed & ring, "black", 1.6)):
            if mask.any():
                ax.scatter(times[mask], ys[mask], s=58, c=[c for c, m in zip(colours, mask) if m],
                           edgecolors=edge, linewidths=lw, zorder=5)
        for mask, lw in ((~parsed & ~ring, 0.5), (~parsed & ring, 1.6)):
            if mask.any():
                ax.scatter(times[mask], ys[mask], s=52, marker="X", color=UNPARSEABLE_COLOUR,
                           edgecolors="black", linewidths=lw, zorder=5)
        for t, y, f in zip(times, ys, frames) if rounds else ():
            ax.annotate(str(track.analysed[f][0]), (t, y), xytext=(0, 5.5), textcoords="offset points",
                        ha="center", va="bottom", fontsize=6.5, color="#333333", zorder=6)
    if track.final:
        t_final = np.array(track.final) / track.fps
        ax.vlines(t_final, -0.115, -0.035, color="black", lw=1.3, zorder=4)
        handles.append(Line2D([], [], color="black", marker="|", ms=10, mew=1.6, ls="none",
                              label=f"final frames ({len(track.final)}, ringed when analysed)"))

    if legends:
        _legends(ax, handles)
    xlim = xlim or (0.0, track.duration_s)
    ax.set_xlim(*xlim)
    ax.set_ylim(-0.13, 1.2)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_ylabel("CLIP similarity (normalised)", fontsize=9)
    ax.set_xlabel("time (m:ss)", fontsize=9)
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=12, steps=[1, 2, 3, 5, 6, 10]))
    fine = xlim[1] - xlim[0] < 30.0
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_time(v, tenths=fine)))
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", color="#e6e6e6", lw=0.6, zorder=0)
    ax.axhline(0, color="#bbbbbb", lw=0.6, zorder=0)


def _legends(ax, handles) -> None:
    """Element legend above the axes; VLM score legend inside, upper left."""
    from matplotlib.lines import Line2D

    score_handles = [Line2D([], [], marker="o", ls="none", ms=7, markerfacecolor=c, markeredgecolor="#555555",
                            label=str(s)) for s, c in SCORE_COLOURS.items()]
    score_handles.append(Line2D([], [], marker="X", ls="none", ms=7, color=UNPARSEABLE_COLOUR,
                                markeredgecolor="black", label="none"))
    first = ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.005), ncol=min(5, max(1, len(handles))),
                      fontsize=8, frameon=False, borderaxespad=0.0, handlelength=1.8, columnspacing=1.2)
    ax.add_artist(first)
    ax.legend(handles=score_handles, title="VLM score (number above = round)", loc="upper left",
              fontsize=7.5, title_fontsize=7.5, ncol=6, framealpha=0.85, handletextpad=0.1, columnspacing=0.7,
              borderpad=0.4)


def _rounds_table(record: dict) -> str:
    """Per-round counts as monospace text: analysed, positives, top-up, LDS frames added."""
    lines = ["round  anal  pos  top  LDS"]
    for r in record.get("rounds") or []:
        lines.append(f"{r.get('round', '?'):>5}  {len(r.get('candidates', [])):>4}  {len(r.get('positives', [])):>3}"
                     f"  {len(r.get('top_up', [])):>3}  {len(r.get('lds_added', [])):>3}")
    if len(lines) == 1:
        lines.append("(no analysis rounds)")
    return "\n".join(lines)


def _mixture_weights(values: np.ndarray, means: list[float], stds: list[float]) -> np.ndarray:
    """Weights of the fitted components estimated from the samples (one EM responsibility step)."""
    sd = np.maximum(np.asarray(stds, dtype=np.float64), 1e-6)
    mu = np.asarray(means, dtype=np.float64)
    dens = np.exp(-0.5 * ((values[:, None] - mu[None, :]) / sd[None, :]) ** 2) / sd[None, :]
    resp = dens / np.maximum(dens.sum(axis=1, keepdims=True), 1e-300)
    return resp.mean(axis=0)


def _draw_histogram(ax, track: _Track) -> None:
    """Histogram of normalised sample scores (horizontal, sharing the score axis) and the GMM."""
    values = track.samples[:, 1] if len(track.samples) else np.zeros(0)
    ax.set_title("score histogram + GMM", fontsize=8.5, pad=4)
    if len(values):
        ax.hist(values, bins=np.linspace(0, 1, 26), orientation="horizontal", density=True,
                color="#c9d6e8", edgecolor="white", lw=0.4)
    if len(values) and len(track.means) == 2 and len(track.stds) == 2:
        weights = _mixture_weights(values, track.means, track.stds)
        y = np.linspace(-0.1, 1.1, 300)
        total = np.zeros_like(y)
        for k, (mu, sd, w) in enumerate(zip(track.means, track.stds, weights)):
            sd = max(sd, 1e-3)
            pdf = w * np.exp(-0.5 * ((y - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
            total += pdf
            ax.plot(pdf, y, color=("#2c7fb8", "#d95f0e")[k], lw=1.2, label=f"mu {mu:.2f}, sd {sd:.2f}")
        ax.plot(total, y, color="#333333", lw=0.8, ls=":")
        ax.legend(fontsize=6.5, loc="upper right", frameon=False, handlelength=1.2)
    else:
        ax.text(0.5, 0.5, "no GMM fit\n(fallback)", transform=ax.transAxes, ha="center", va="center",
                fontsize=8, color="#a31515")
    if track.threshold is not None:
        ax.axhline(track.threshold, color=THRESHOLD_COLOUR, ls="--", lw=1.1)
    ax.tick_params(labelleft=False, labelsize=7)
    ax.set_xlabel("density", fontsize=8)
    ax.grid(axis="y", color="#e6e6e6", lw=0.6)


def _draw_sheet(fig, cell, track: _Track, frames: list[int], thumbs: np.ndarray, times_s: np.ndarray,
                per_row: int, n_rows: int) -> None:
    """Contact sheet of the final frames: thumbnails framed in their VLM score colour, captioned."""
    grid = cell.subgridspec(n_rows, per_row, wspace=0.06, hspace=0.42)
    for k, (f, image, t) in enumerate(zip(frames, thumbs, times_s)):
        ax = fig.add_subplot(grid[k // per_row, k % per_row], label=f"thumb:{f}")
        ax.imshow(image, interpolation="bilinear")
        ax.set_xticks([])
        ax.set_yticks([])
        info = track.analysed.get(f)
        colour = UNPARSEABLE_COLOUR
        vlm = "not analysed"
        if info is not None:
            rnd, score, _reason = info
            colour = SCORE_COLOURS.get(score, UNPARSEABLE_COLOUR) if score is not None else UNPARSEABLE_COLOUR
            vlm = f"VLM {score if score is not None else '?'} (r{rnd})"
        for spine in ax.spines.values():
            spine.set_color(colour)
            spine.set_linewidth(3)
        clip = track.norm_of.get(f)
        clip_text = f"S {clip:.2f}" if clip is not None else "S n/a"
        ax.set_title(f"{format_time(t, tenths=True)}  #{f}\n{clip_text}  {vlm}",
                     fontsize=7, pad=2, linespacing=1.2)
