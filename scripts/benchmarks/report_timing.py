"""Benchmark of `air report` on a synthetic 3,000-sample run: generation time and page-open time.

The run is written by air.testing.report_runs in lmms-eval's layout (results JSON, samples file, traces
from the real selection loop) over generated videos, shaped like Video-MME (duration and task type),
with 1% failed samples; OTHER_RUN is a uniform baseline over 90% of the same samples. Measured:
- generation: without images; with thumbnails only; with the default figures (cold, then again warm
  with every image reused); the cost per figure, and what drawing all of them would take;
- the page in headless Chromium: time from navigation until the rows are rendered (median of 3 loads),
  time to apply a filter, time to open a row; file sizes.

Usage: python scripts/benchmarks/report_timing.py [--samples 3000] [--videos 100] [--jobs 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_common import check_at_least_one, format_rows, run_cli


def _videos(folder: Path, count: int) -> list[tuple[str, int, float]]:
    from air.testing.videos import write_video

    out = []
    for i in range(count):
        duration = 30 + (i * 37) % 270  # 30 s .. 5 min
        video = write_video(folder / f"v{i:04d}.mp4", duration_s=duration, fps=2, size=(128, 72),
                            segments=[(0, duration / 3, "red"), (duration / 3, duration, "blue")], seed=i)
        out.append((str(video.path), video.n_frames, video.fps))
    return out


def _timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - start, value


def _folder_mib(folder: Path | None) -> tuple[float, int]:
    if folder is None or not folder.is_dir():
        return 0.0, 0
    files = list(folder.iterdir())
    return sum(f.stat().st_size for f in files) / 2**20, len(files)


def _page_times(path: Path, repeats: int = 3) -> dict[str, float]:
    from air.testing.browser import Browser

    with Browser(width=1280, height=1000, timeout_s=120) as browser:
        loads, ready = [], []
        for _ in range(repeats):
            browser.errors.clear()
            start = time.perf_counter()
            browser.open(path)
            browser.wait_for("document.body.dataset.ready === '1'")
            loads.append(time.perf_counter() - start)
            ready.append(browser.evaluate("window.__airReportReadyMs"))
        filter_ms = browser.evaluate(
            "(() => { const t = performance.now(); const s = document.getElementById('f-correct'); s.value = 'wrong';"
            " s.dispatchEvent(new Event('change')); return performance.now() - t; })()")
        search_ms = browser.evaluate(
            "(() => { const t = performance.now(); const q = document.getElementById('q'); q.value = 'moment 7?';"
            " document.getElementById('f-correct').dispatchEvent(new Event('change')); return performance.now() - t; })()")
        open_ms = browser.evaluate(
            "(() => { const t = performance.now(); document.querySelector('.row .open').click();"
            " document.body.offsetHeight; return performance.now() - t; })()")
        errors = list(browser.errors)
    return {"page_load_s": statistics.median(loads), "page_ready_ms": statistics.median(ready),
            "filter_ms": filter_ms, "search_ms": search_ms, "open_row_ms": open_ms, "console_errors": len(errors)}


def run(args: argparse.Namespace) -> dict:
    from air.report import DEFAULT_FIGURES, write_report
    from air.testing.report_runs import make_docs, write_run

    check_at_least_one("samples", args.samples)
    check_at_least_one("videos", args.videos)
    check_at_least_one("jobs", args.jobs)
    root = Path(tempfile.mkdtemp(prefix="air-report-bench-"))
    try:
        t_videos, videos = _timed(_videos, root / "videos", args.videos)
        per_video = -(-args.samples // args.videos)
        docs = make_docs(videos, per_video, task="videomme_hvp", videomme=True)[: args.samples]
        errors = {(d.task, d.doc_id): "VideoDecodeError: synthetic failure" for d in docs[::100]}
        t_runs, _ = _timed(lambda: (
            write_run(root / "air", docs, videomme=True, errors=errors),
            write_run(root / "uniform", [d for d in docs if d.doc_id % 10], method="uniform", model="air_uniform",
                      videomme=True, seed=1)))
        a, b = root / "air", root / "uniform"
        t_plain, _ = _timed(write_report, a, b, root / "plain" / "r.html", figures=0, thumbnails=False, jobs=args.jobs)
        t_thumbs, r_thumbs = _timed(write_report, a, b, root / "thumbs" / "r.html", figures=0, jobs=args.jobs)
        out = root / "default" / "r.html"
        t_cold, cold = _timed(write_report, a, b, out, figures=DEFAULT_FIGURES, jobs=args.jobs)
        t_warm, warm = _timed(write_report, a, b, out, figures=DEFAULT_FIGURES, jobs=args.jobs)
        drawable = sum(1 for d in docs if (d.task, d.doc_id) not in errors) + sum(1 for d in docs if d.doc_id % 10)
        per_figure = max(0.0, t_cold - t_thumbs) / max(1, cold.figures)
        html_mib = out.stat().st_size / 2**20
        side_mib, n_files = _folder_mib(cold.side_folder)
        page = _page_times(out) if not args.no_browser else {}
        return {
            "samples": len(docs), "rows": cold.rows, "videos": args.videos, "jobs": args.jobs,
            "setup_videos_s": round(t_videos, 1), "setup_runs_s": round(t_runs, 1),
            "report_no_images_s": round(t_plain, 2), "report_thumbnails_s": round(t_thumbs, 2),
            "thumbnail_strips": r_thumbs.thumbs,
            "report_default_cold_s": round(t_cold, 2), "report_default_warm_s": round(t_warm, 2),
            "figures_default": cold.figures, "images_made_warm": warm.images_made,
            "seconds_per_figure": round(per_figure, 3),
            "all_figures_estimate_s": round(t_thumbs + per_figure * drawable, 1), "drawable_figures": drawable,
            "html_mib": round(html_mib, 2), "side_folder_mib": round(side_mib, 1), "side_folder_files": n_files,
            **{k: round(v, 3) if isinstance(v, float) else v for k, v in page.items()},
        }
    finally:
        if args.keep:
            print(f"kept: {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def table(result: dict) -> str:
    rows = [
        ("samples (rows in the page)", f"{result['samples']} ({result['rows']})",
         f"{result['videos']} videos, {result['jobs']} image workers"),
        ("report, no images", f"{result['report_no_images_s']} s", "data + HTML only"),
        ("report, thumbnails", f"{result['report_thumbnails_s']} s", f"{result['thumbnail_strips']} strips, cold"),
        ("report, default (cold)", f"{result['report_default_cold_s']} s",
         f"thumbnails + {result['figures_default']} figures"),
        ("report, default (warm)", f"{result['report_default_warm_s']} s",
         f"{result['images_made_warm']} images made: all reused"),
        ("seconds per figure", f"{result['seconds_per_figure']} s", "with its contact sheet"),
        ("every figure (estimate)", f"{result['all_figures_estimate_s']} s",
         f"{result['drawable_figures']} figures (--figures all)"),
        ("HTML / side folder", f"{result['html_mib']} MiB",
         f"{result['side_folder_mib']} MiB in {result['side_folder_files']} files"),
    ]
    if "page_load_s" in result:
        rows += [
            ("page open (navigate to rows)", f"{result['page_load_s']} s", "headless Chromium, median of 3"),
            ("page script ready", f"{result['page_ready_ms']} ms", "performance.now() at first render"),
            ("filter / search / open a row",
             f"{result['filter_ms']} / {result['search_ms']} / {result['open_row_ms']} ms",
             f"console errors: {result['console_errors']}"),
        ]
    return format_rows(rows, 18)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=3000, help="questions in the run")
    parser.add_argument("--videos", type=int, default=100, help="videos the questions share")
    parser.add_argument("--jobs", type=int, default=2, help="image worker processes")
    parser.add_argument("--no-browser", action="store_true", help="skip the page timing (no Chromium)")
    parser.add_argument("--keep", action="store_true", help="keep the generated runs and reports")
    return run_cli(parser, run, table, argv)


if __name__ == "__main__":
    sys.exit(main())
