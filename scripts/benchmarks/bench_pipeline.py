"""Every performance figure of QUALITY.md, measured side by side in one run on videos generated here.

    python scripts/benchmarks/bench_pipeline.py --json bench_results/pipeline.json [--quick] [--work-dir DIR]
        [--decoder pyav] [--repeats 3] [--markdown bench_results/pipeline.md] [--analysis-threads 1]

Figures (top-level JSON keys, QUALITY.md's names; each ratio is a median of `repeats` runs unless noted;
the headline is the default configuration: decoder pyav, its default decode_threads, clip_resize=crop,
SPEC.md's CLIP preprocessing):
- decode_vs_ffmpeg, decode_vs_naive, decode_threads_vs_one: our 1-FPS reader (frames at 224x224) on a
  10-minute 1280x720 30 fps H.264 video against ffmpeg's fps+scale filter graph, against decord
  get_batch + resize, and against itself with decode_threads=1 (decode_figures.py; every installed
  backend is measured, the headline uses --decoder);
- coarse_filter_vs_sum: decoding overlapped with the encoding of a real-size random-weight open_clip
  ViT-B-32 / the two stages alone, on a 2-minute 1280x720 video (overlap_figures.py);
- rss_growth_long_vs_short: peak RSS of the coarse filter (decode at the CLIP input size + CLIP encoding
  of the 1-FPS samples through VideoSimilarity, tiny random open_clip) on a 30-minute video / on a
  5-minute one at 640x360, each in a fresh process (one measurement per backend and video: RSS is not
  timing noise). The decoder-only growth of decode_figures is in `details`;
- pixel_bomb_rss_mib: peak RSS increase of H_VPModel.select on a 3-frame 16000x16000 video in a fresh
  process, default config (refused by max_video_pixels); with the limit lifted per backend in `details`
  (pixel_bomb_figures.py);
- cache_warm_vs_cold: coarse-filter time with a warm feature cache / a cold one, real-size random-weight
  ViT-B-32, 2-minute 640x360 video (cache_figures.py);
- selection_vs_decode: select_frames alone with instant lookup scorers on a 3-hour video (10,800 1-FPS
  samples) / the decode time of the headline reader on the 10-minute video of this run
  (selection_figures.py; the peak RSS of that selection, in a fresh process, is in `details`);
- analyzed_max: the most frames analysed per video over 500 random tracks with the default AIRConfig
  (target: <= candidates_per_round * max_rounds);
- batched_vs_sequential: 12 frames analysed in one batch / one by one, tiny Qwen2.5-VL on CPU
  (analysis_figures.py);
- cross_video_vs_one_by_one, analysis_calls_cross_video_ratio: 4 videos' selections driven together
  (one batched analysis call per step) / one by one, tiny Qwen2.5-VL on CPU (cross_video_figures.py).
--quick uses small videos (decode figures on 1 minute of 360p, overlap on 30 s of 360p, RSS on 2 vs 6
minutes of 180p, cache on 30 s), 100 tracks and 2 repeats: for checking the script, not for the README.
The JSON also holds `details` (absolute times and per-backend figures), `machine` and `targets`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]

FIGURES = ("decode_vs_ffmpeg", "decode_vs_naive", "decode_threads_vs_one", "coarse_filter_vs_sum",
           "rss_growth_long_vs_short", "pixel_bomb_rss_mib", "cache_warm_vs_cold", "selection_vs_decode",
           "analyzed_max", "batched_vs_sequential", "cross_video_vs_one_by_one", "analysis_calls_cross_video_ratio")
TARGETS = {"decode_vs_ffmpeg": 0.6, "decode_vs_naive": 0.35, "decode_threads_vs_one": 0.75,
           "coarse_filter_vs_sum": 0.8, "rss_growth_long_vs_short": 1.1, "pixel_bomb_rss_mib": 1024,
           "cache_warm_vs_cold": 0.05, "selection_vs_decode": 0.05, "batched_vs_sequential": 0.7,
           "cross_video_vs_one_by_one": 0.6, "analysis_calls_cross_video_ratio": 0.3}
# (duration_s, (width, height), fps) of the coarse_filter_vs_sum video, full and quick.
OVERLAP_VIDEO = {"full": (120.0, (1280, 720), 30.0), "quick": (30.0, (640, 360), 30.0)}
SELECTION_SAMPLES = 10_800  # a 3-hour video at 1 FPS


def _import_siblings():
    """The sibling benchmark modules (scripts/benchmarks has no __init__.py), imported by path."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    if importlib.util.find_spec("air") is None:  # run from a checkout without `pip install -e .`
        sys.path.insert(0, str(REPO_ROOT))
    import analysis_figures
    import cache_figures
    import coarse_filter_rss
    import decode_figures
    import overlap_figures
    import pixel_bomb_figures
    import selection_figures

    return SimpleNamespace(decode=decode_figures, cache=cache_figures, analysis=analysis_figures,
                           coarse_rss=coarse_filter_rss, selection=selection_figures, overlap=overlap_figures,
                           pixel_bomb=pixel_bomb_figures)


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine_info() -> dict:
    """CPU count, platform, Python and torch versions, UTC date and the load average now."""
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    return {
        "cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(), "torch": torch_version,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


def coarse_rss_figures(coarse_filter_rss, videos: dict, clip_name: str, backends: list[str]) -> dict:
    """Coarse-filter peak RSS on the short and long RSS videos for every backend, each in a fresh process."""
    out = {}
    for backend in backends:
        runs = {name: coarse_filter_rss.coarse_filter_peak_rss(videos[name]["path"], clip_name, backend)
                for name in ("rss_short", "rss_long")}
        short, long = runs["rss_short"], runs["rss_long"]
        growth_short = short["peak_rss_bytes"] - short["rss_before_bytes"]
        growth_long = long["peak_rss_bytes"] - long["rss_before_bytes"]
        out[backend] = {
            "ratio": long["peak_rss_bytes"] / short["peak_rss_bytes"],
            "short": short, "long": long,
            # Above the process's size once torch + the model are loaded (~1 GB of imports dilute the ratio).
            "above_baseline_bytes": {"short": growth_short, "long": growth_long},
            "above_baseline_ratio": growth_long / max(growth_short, 1),
        }
    return out


PARTS = ("decode", "overlap", "coarse_rss", "pixel_bomb", "cache", "selection", "analysis", "cross_video")


def selection_figures_block(selection_figures, *, n_samples: int, n_tracks: int, repeats: int) -> tuple[dict, dict, dict]:
    """Time the long-video selection (default threads, then one thread), its peak RSS, and analyzed_max."""
    timing = selection_figures.time_selection(n_samples, repeats=repeats)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn depends on it, so this is only a safety net
        threadpool_limits = None
    if threadpool_limits is not None:
        # Diagnostic: the same selection with BLAS/OpenMP limited to one thread (the GMM fit of stage 1
        # runs many times slower with two threads on busy shared cores).
        with threadpool_limits(limits=1):
            one = selection_figures.time_selection(n_samples, repeats=repeats)
        timing["seconds_one_thread"] = one["seconds"]
        timing["runs_one_thread_s"] = one["runs_s"]
        timing["loop_timings_one_thread_s"] = one["loop_timings_s"]
    rss = selection_figures.selection_peak_rss(n_samples)
    if threadpool_limits is not None:  # a count, not a time: one thread only makes it finish sooner
        with threadpool_limits(limits=1):
            analysed = selection_figures.analyzed_max_figure(n_tracks)
    else:
        analysed = selection_figures.analyzed_max_figure(n_tracks)
    return timing, rss, analysed


def _reader_decode_s(decode_figures, work: Path, quick: bool, decoder: str, repeats: int) -> dict:
    """Median decode time of our 1-FPS reader on the decode video, when the decode stage did not run."""
    meta = decode_figures.ensure_video(work, *(decode_figures.QUICK if quick else decode_figures.FULL)["decode"])
    runs = [decode_figures.time_reader(meta["path"], decoder)[0] for _ in range(repeats)]
    return {"times_s": {decoder: statistics.median(runs)}, "video": meta, "runs_s": runs}


def run_benchmark(work_dir: str | Path | None = None, *, quick: bool = False, decoder: str = "pyav",
                  repeats: int = 3, analysis_threads: int | None = 1, parts: tuple[str, ...] = PARTS,
                  selection_samples: int = SELECTION_SAMPLES, n_tracks: int | None = None) -> dict:
    """Measure the figures of `parts` (default: all); return the JSON-ready result.

    Keys: the QUALITY.md figures of FIGURES (None for a part not run), `details`, `machine`, `targets`.
    n_tracks defaults to 500 (100 with quick). selection_samples is the long video's 1-FPS sample count.
    """
    mods = _import_siblings()
    decode_figures, cache_figures, analysis_figures = mods.decode, mods.cache, mods.analysis
    coarse_filter_rss, selection_figures = mods.coarse_rss, mods.selection
    if repeats < 1:
        raise ValueError(f"Invalid repeats: {repeats!r}. Expected an int >= 1.")
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        raise ValueError(f"Invalid parts: {list(parts)!r}. Expected a non-empty subset of {list(PARTS)}.")
    if decoder not in decode_figures.available_backends():
        raise ValueError(f"Invalid decoder: {decoder!r}. Expected an installed backend among "
                         f"{decode_figures.available_backends()}.")
    n_tracks = n_tracks or (100 if quick else 500)
    work = Path(work_dir) if work_dir else Path(tempfile.gettempdir()) / "air_bench_pipeline"
    work.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    started = time.perf_counter()
    stage_s: dict[str, float] = {}
    decode = overlap = coarse = bomb = cache = timing = sel_rss = analysed = analysis = None

    if "decode" in parts:
        _log("decode figures (every backend at its default threads and on one thread, ffmpeg, naive decord; "
             "decoder-only RSS)")
        t0 = time.perf_counter()
        decode = decode_figures.decode_figures(work, quick=quick, repeats=repeats, decoder=decoder)
        stage_s["decode"] = time.perf_counter() - t0

    if "overlap" in parts:
        _log("coarse filter: decoding overlapped with ViT-B-32 encoding vs the two alone")
        t0 = time.perf_counter()
        meta = decode_figures.ensure_video(work, *OVERLAP_VIDEO["quick" if quick else "full"])
        overlap = {**mods.overlap.coarse_filter_vs_sum(meta["path"], decoder=decoder, repeats=repeats), "video": meta}
        stage_s["overlap"] = time.perf_counter() - t0

    if "coarse_rss" in parts:
        _log("coarse-filter peak RSS (fresh process per backend and video)")
        t0 = time.perf_counter()
        from air.testing.tiny_clip import build_tiny_open_clip

        plan = decode_figures.QUICK if quick else decode_figures.FULL
        videos = {k: decode_figures.ensure_video(work, *plan[k]) for k in ("rss_short", "rss_long")}
        backends = list(decode["per_backend"]) if decode else [decoder]
        clip_name = build_tiny_open_clip(work / "tiny-open-clip")
        coarse = {"clip_model": clip_name, "videos": videos,
                  "per_backend": coarse_rss_figures(coarse_filter_rss, videos, clip_name, backends)}
        stage_s["coarse_rss"] = time.perf_counter() - t0

    if "pixel_bomb" in parts:
        _log("pixel bomb: selection on a 3-frame 16000x16000 video (fresh processes)")
        t0 = time.perf_counter()
        bomb = mods.pixel_bomb.pixel_bomb_figures(work, decoder=decoder)
        stage_s["pixel_bomb"] = time.perf_counter() - t0

    if "cache" in parts:
        _log("feature cache warm vs cold")
        t0 = time.perf_counter()
        cache = cache_figures.cache_warm_vs_cold(duration_s=30.0 if quick else 120.0, decoder=decoder,
                                                 repeats=repeats, work_dir=work)
        stage_s["cache"] = time.perf_counter() - t0

    if "selection" in parts:
        _log(f"selection logic on {selection_samples} samples; analyzed_max over {n_tracks} tracks")
        t0 = time.perf_counter()
        reader = decode or _reader_decode_s(decode_figures, work, quick, decoder, repeats)
        timing, sel_rss, analysed = selection_figures_block(
            selection_figures, n_samples=selection_samples, n_tracks=n_tracks, repeats=repeats)
        timing["decode_s"] = reader["times_s"][decoder]
        timing["peak_rss"] = sel_rss
        if decode:
            timing["vs_decode_per_backend"] = {b: timing["seconds"] / decode["per_backend"][b]["time_s"]
                                               for b in decode["per_backend"]}
        stage_s["selection"] = time.perf_counter() - t0

    if "analysis" in parts:
        _log("analysis batched vs sequential (tiny Qwen2.5-VL)")
        t0 = time.perf_counter()
        analysis = analysis_figures.analysis_figures(repeats=max(repeats, 3), threads=analysis_threads)
        stage_s["analysis"] = time.perf_counter() - t0

    cross = cross_video_block(parts, repeats, analysis_threads, stage_s)
    figures = {
        "decode_vs_ffmpeg": decode and decode["decode_vs_ffmpeg"],
        "decode_vs_naive": decode and decode["decode_vs_naive"],
        "decode_threads_vs_one": decode and decode["decode_threads_vs_one"],
        "coarse_filter_vs_sum": overlap and overlap["coarse_filter_vs_sum"],
        "rss_growth_long_vs_short": coarse and coarse["per_backend"][decoder]["ratio"],
        "pixel_bomb_rss_mib": bomb and bomb["pixel_bomb_rss_mib"],
        "cache_warm_vs_cold": cache and cache["cache_warm_vs_cold"],
        "selection_vs_decode": timing and timing["seconds"] / timing["decode_s"],
        "analyzed_max": analysed and analysed["analyzed_max"],
        "batched_vs_sequential": analysis and analysis["batched_vs_sequential"],
        **_cross_video().pipeline_figures(cross),
    }
    bounds = {**TARGETS, "analyzed_max": analysed_bound()}
    targets = {key: {"target": bounds[key], "op": "<=", "value": _round(figures[key]),
                     "pass": None if figures[key] is None else bool(figures[key] <= bounds[key])}
               for key in FIGURES}
    per_backend = {}
    for b in (decode["per_backend"] if decode else {}):
        row = decode["per_backend"][b]
        entry = {"decode_s": row["time_s"], "decode_one_thread_s": row["time_one_thread_s"],
                 "decode_vs_ffmpeg": row["vs_ffmpeg"], "decode_vs_naive": row["vs_naive"],
                 "decode_threads_vs_one": row["threads_vs_one"], "decoder_only_rss_growth": row["rss_growth"]}
        meets = [row["vs_ffmpeg"] <= TARGETS["decode_vs_ffmpeg"], row["vs_naive"] <= TARGETS["decode_vs_naive"],
                 row["threads_vs_one"] <= TARGETS["decode_threads_vs_one"]]
        if coarse and b in coarse["per_backend"]:
            entry["rss_growth_long_vs_short"] = round(coarse["per_backend"][b]["ratio"], 4)
            entry["rss_growth_above_baseline"] = round(coarse["per_backend"][b]["above_baseline_ratio"], 4)
            meets.append(coarse["per_backend"][b]["ratio"] <= TARGETS["rss_growth_long_vs_short"])
        if timing:
            entry["selection_vs_decode"] = round(timing["vs_decode_per_backend"][b], 4)
        entry["meets_decode_targets"] = all(meets)
        per_backend[b] = entry
    machine["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    details = {
        "headline_decoder": decoder, "parts": list(parts),
        "quick": quick, "repeats": repeats, "total_s": round(time.perf_counter() - started, 1),
        "stage_s": {k: round(v, 1) for k, v in stage_s.items()},
        "per_backend": per_backend, "decode": decode, "overlap": overlap, "coarse_filter_rss": coarse,
        "pixel_bomb": bomb, "cache": cache,
        "selection": timing, "analyzed": analysed, "analysis": analysis, "cross_video": cross,
    }
    return {**{k: _round(v) for k, v in figures.items()}, "details": details, "machine": machine, "targets": targets}


def _cross_video():
    """The sibling cross_video_figures.py (imported by path, as _import_siblings does)."""
    _import_siblings()
    import cross_video_figures

    return cross_video_figures


def cross_video_block(parts, repeats: int, threads: int | None, stage_s: dict) -> dict | None:
    """The cross-video figures (cross_video_figures.py) when the part is asked for, else None."""
    if "cross_video" not in parts:
        return None
    _log("cross-video selection: 4 videos driven together vs one by one (tiny Qwen2.5-VL)")
    t0 = time.perf_counter()
    result = _cross_video().cross_video_figures(repeats=max(repeats, 3), threads=threads)
    stage_s["cross_video"] = time.perf_counter() - t0
    return result


def analysed_bound() -> int:
    """candidates_per_round * max_rounds of the default AIRConfig (the paper's bound on analysed frames)."""
    from air.model import AIRConfig

    config = AIRConfig()
    return config.candidates_per_round * config.max_rounds


def _round(value, digits: int = 5):
    return round(value, digits) if isinstance(value, float) else value


def _mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.0f} MiB"


def _behind(result: dict) -> dict[str, str]:
    """The absolute figures behind each ratio, as short text ("not run" for a part that did not run)."""
    d = result["details"]
    dec, dcd, coarse = d["headline_decoder"], d["decode"], d["coarse_filter_rss"]
    overlap, bomb = d.get("overlap"), d.get("pixel_bomb")
    sel, an, cache, analysis = d["selection"], d["analyzed"], d["cache"], d["analysis"]
    out = dict.fromkeys(FIGURES, "not run")
    if dcd:
        out["decode_vs_ffmpeg"] = f"{dec} {dcd['times_s'][dec]:.2f} s vs ffmpeg {dcd['times_s']['ffmpeg']:.2f} s"
        out["decode_vs_naive"] = f"{dec} {dcd['times_s'][dec]:.2f} s vs naive decord {dcd['times_s']['naive_decord']:.2f} s"
        out["decode_threads_vs_one"] = (f"{dec} {dcd['times_s'][dec]:.2f} s with {dcd['machine']['decode_threads']} "
                                        f"threads vs {dcd['times_s'][dec + '@1']:.2f} s on one")
    if overlap:
        out["coarse_filter_vs_sum"] = (
            f"pipelined {overlap['pipelined_s']:.2f} s vs decode {overlap['decode_s']:.2f} s + ViT-B-32 encode "
            f"{overlap['encode_s']:.2f} s ({overlap['frames']} frames, {overlap['torch_threads']} torch + "
            f"{overlap['decode_threads']} decode threads); floor max/sum {overlap['ideal']:.3f}")
    if bomb:
        lifted = ", ".join(f"{b} +{r['growth_mib']:.0f} MiB" for b, r in bomb["lifted"].items())
        out["pixel_bomb_rss_mib"] = (f"{bomb['outcome']} ({bomb['seconds']:.2f} s); limit lifted, decoded and "
                                     f"selected: {lifted}")
    if coarse:
        c = coarse["per_backend"][dec]
        out["rss_growth_long_vs_short"] = (
            f"peak {_mib(c['long']['peak_rss_bytes'])} vs {_mib(c['short']['peak_rss_bytes'])}; above the loaded "
            f"model +{_mib(c['above_baseline_bytes']['long'])} vs +{_mib(c['above_baseline_bytes']['short'])}")
    if cache:
        out["cache_warm_vs_cold"] = f"warm {cache['warm_s']:.3f} s vs cold {cache['cold_s']:.3f} s"
    if sel:
        one = sel.get("seconds_one_thread")
        out["selection_vs_decode"] = (
            f"selection {sel['seconds']:.3f} s" + (f" (BLAS/OpenMP 1 thread: {one:.3f} s)" if one is not None else "")
            + f" vs decode {sel['decode_s']:.2f} s; selection peak RSS {_mib(sel['peak_rss']['peak_rss_bytes'])}"
            f" (+{sel['peak_rss']['selection_growth_bytes'] / 2**20:.1f} MiB while selecting)")
    if an:
        out["analyzed_max"] = f"mean {an['analyzed_mean']:.1f} over {an['n_tracks']} random tracks"
    if analysis:
        out["batched_vs_sequential"] = f"batched {analysis['batched_s']:.3f} s vs one by one {analysis['sequential_s']:.3f} s"
    if d.get("cross_video"):
        out.update(_cross_video().behind(d["cross_video"]))
    return out


def table_rows(result: dict) -> list[tuple[str, str, str, str, str]]:
    """(figure, value, target, met, absolute figures behind it) for every QUALITY.md figure."""
    behind = _behind(result)
    rows = []
    for key in FIGURES:
        t = result["targets"][key]
        value = "n/a" if t["value"] is None else (f"{t['value']:.4f}" if isinstance(t["value"], float) else str(t["value"]))
        ok = "n/a" if t["pass"] is None else ("yes" if t["pass"] else "NO")
        rows.append((key, value, f"<= {t['target']:g}", ok, behind[key]))
    return rows


def _fmt(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def backend_rows(result: dict) -> list[tuple[str, ...]]:
    """Per-backend decode figures (every installed decoder; empty when the decode part did not run)."""
    rows = []
    for b, f in result["details"]["per_backend"].items():
        rows.append((b, _fmt(f["decode_s"], ".2f"), _fmt(f["decode_vs_ffmpeg"], ".3f"), _fmt(f["decode_vs_naive"], ".3f"),
                     _fmt(f.get("decode_threads_vs_one"), ".3f"),
                     _fmt(f.get("rss_growth_long_vs_short"), ".3f"), _fmt(f.get("rss_growth_above_baseline"), ".3f"),
                     _fmt(f["decoder_only_rss_growth"], ".3f"), _fmt(f.get("selection_vs_decode"), ".4f"),
                     "yes" if f["meets_decode_targets"] else "NO"))
    return rows


BACKEND_HEADER = ("backend", "decode s", "vs ffmpeg", "vs naive", "threads vs one", "coarse-filter RSS long/short",
                  "above loaded model long/short", "decoder-only RSS long/short", "selection/decode", "meets decode targets")


def miss_notes(result: dict) -> list[str]:
    """One line per missed target: for the decode figures, which backends would meet it."""
    notes = []
    per_backend = result["details"]["per_backend"]
    keys = {"decode_vs_ffmpeg": "decode_vs_ffmpeg", "decode_vs_naive": "decode_vs_naive",
            "decode_threads_vs_one": "decode_threads_vs_one",
            "rss_growth_long_vs_short": "rss_growth_long_vs_short", "selection_vs_decode": "selection_vs_decode"}
    for key in FIGURES:
        t = result["targets"][key]
        if t["pass"] is not False:
            continue
        line = f"{key} = {t['value']} misses its target (<= {t['target']:g}) with {result['details']['headline_decoder']}"
        if key in keys and per_backend:
            meeting = [b for b, f in per_backend.items() if f.get(keys[key]) is not None and f[keys[key]] <= t["target"]]
            line += f"; backends meeting it in this run: {', '.join(meeting) if meeting else 'none'}"
        notes.append(line + ".")
    return notes


def format_table(result: dict) -> str:
    """Readable plain-text table of every figure, then the per-backend decode figures."""
    m, d = result["machine"], result["details"]
    head = (f"A.I.R. pipeline benchmark ({'quick' if d['quick'] else 'full'}, median of {d['repeats']}, "
            f"headline decoder {d['headline_decoder']}) - {m['date']}, {m['cpus']} CPUs, load "
            f"{m['loadavg_start'][0]} -> {m['loadavg_end'][0]}")
    rows = table_rows(result)
    w = [max(len(r[i]) for r in rows + [("figure", "value", "target", "ok", "")]) for i in range(4)]
    lines = [head, f"{'figure':<{w[0]}}  {'value':>{w[1]}}  {'target':<{w[2]}}  {'ok':<{w[3]}}  absolute"]
    lines += [f"{a:<{w[0]}}  {b:>{w[1]}}  {c:<{w[2]}}  {e:<{w[3]}}  {f}" for a, b, c, e, f in rows]
    lines += miss_notes(result)
    brows = backend_rows(result)
    if not brows:
        return "\n".join(lines)
    lines.append("")
    bw = [max(len(r[i]) for r in brows + [BACKEND_HEADER]) for i in range(len(BACKEND_HEADER))]
    lines.append("  ".join(f"{h:<{bw[i]}}" for i, h in enumerate(BACKEND_HEADER)))
    lines += ["  ".join(f"{c:<{bw[i]}}" for i, c in enumerate(r)) for r in brows]
    return "\n".join(lines)


def format_markdown(result: dict) -> str:
    """The same tables in Markdown, with the machine and date (for bench_results/pipeline.md and the README)."""
    m, d = result["machine"], result["details"]
    lines = [
        "# A.I.R. pipeline benchmark",
        "",
        (f"Run {m['date']} on {m['cpus']} CPUs ({m['platform']}, Python {m['python']}, torch {m['torch']}), "
         f"shared machine, load average {m['loadavg_start'][0]} at start and {m['loadavg_end'][0]} at the end; "
         f"{'quick mode' if d['quick'] else 'full mode'}, medians of {d['repeats']} runs, total {d['total_s']:.0f} s. "
         f"Headline decoder: `{d['headline_decoder']}`."),
        ("Command: `python scripts/benchmarks/bench_pipeline.py --json bench_results/pipeline.json"
         + (" --quick" if d["quick"] else "") + "`."),
        "",
        "| figure | value | target | met | absolute figures |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| `{a}` | {b} | {c} | {e} | {f} |" for a, b, c, e, f in table_rows(result)]
    notes = miss_notes(result)
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    brows = backend_rows(result)
    if brows:
        lines += ["", "Every decoder backend (decode on the "
                  + ("1-minute 640x360 video; RSS on 6 vs 2 minutes at 320x180" if d["quick"] else
                     "10-minute 1280x720 video; RSS on 30 vs 5 minutes at 640x360") + "):",
                  "", "| " + " | ".join(BACKEND_HEADER) + " |", "|" + "---|" * len(BACKEND_HEADER)]
        lines += ["| " + " | ".join(r) + " |" for r in brows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the result to this JSON file")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="write the Markdown table here (default: pipeline.md next to --json)")
    parser.add_argument("--quick", action="store_true", help="small videos and fewer tracks (script check only)")
    parser.add_argument("--work-dir", type=Path, default=None, help="where generated videos and models are kept")
    parser.add_argument("--decoder", default="pyav", choices=("pyav", "decord", "torchcodec"),
                        help="backend of the headline figures (every installed backend is measured)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma list of the parts to run (default: all of {','.join(PARTS)})")
    parser.add_argument("--analysis-threads", type=int, default=1,
                        help="torch threads for batched_vs_sequential (0: torch's default)")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="measure nothing: render the table (and --markdown) of a saved result")
    args = parser.parse_args(argv)
    if args.from_json:
        result = json.loads(args.from_json.read_text())
        print(format_table(result))
        if args.markdown:
            args.markdown.parent.mkdir(parents=True, exist_ok=True)
            args.markdown.write_text(format_markdown(result))
        return 0
    result = run_benchmark(args.work_dir, quick=args.quick, decoder=args.decoder, repeats=args.repeats,
                           analysis_threads=args.analysis_threads or None,
                           parts=tuple(p.strip() for p in args.parts.split(",") if p.strip()))
    print(format_table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    markdown = args.markdown or (args.json.with_suffix(".md") if args.json else None)
    if markdown:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(format_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
