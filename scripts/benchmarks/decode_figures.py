"""Decode figures of QUALITY.md, measured side by side in one run: our 1-FPS reader against ffmpeg's
own filter graph, against the naive decord approach and against itself on one thread, and peak RSS of
the chunked reader on a long versus a short video.

    python scripts/benchmarks/decode_figures.py --json decode.json [--quick] [--work-dir DIR]

Figures (JSON keys):
- decode_vs_ffmpeg: median time of `open_video(V, decoder).iter_chunks(1-FPS indices, size=224x224)`
  with its default threads / median time of
  `ffmpeg -i V -vf fps=1,scale=224:224 -f rawvideo -pix_fmt rgb24 -` (ffmpeg's own default threads)
  (target <= 0.6);
- decode_vs_naive: the same reader / decord `get_batch` of all 1-FPS indices at full resolution, then
  a bilinear resize to 224x224 (target <= 0.35);
- decode_threads_vs_one: the same reader with its default decode_threads / with decode_threads=1
  (target <= 0.75 on 2 cores);
- rss_growth_long_vs_short: peak RSS of a fresh process running the chunked 1-FPS reader on the long
  video / on the short one, same resolution (target <= 1.1).
Every contender runs once per repeat, interleaved, so load changes on a shared machine hit all alike;
the reported times are medians.
The generated videos are cached in the work directory (default: a folder under the system temp dir).
Importable: bench_pipeline.py calls `decode_figures(...)` and the helpers below.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
if importlib.util.find_spec("air") is None:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT))

from air.Process_Utils.process_video import (  # noqa: E402
    BACKENDS,
    DEFAULT_DECODER,
    default_decode_threads,
    open_video,
    sample_indices,
)
from air.testing.videos import write_video  # noqa: E402

CLIP_SIZE = (224, 224)
TARGETS = {"decode_vs_ffmpeg": 0.6, "decode_vs_naive": 0.35, "decode_threads_vs_one": 0.75,
           "rss_growth_long_vs_short": 1.1}
ONE_THREAD = "@1"  # suffix of the one-thread contender of a backend, e.g. "pyav@1"

# (duration_s, (width, height), fps) of the videos each mode uses.
FULL = {"decode": (600.0, (1280, 720), 30.0), "rss_short": (300.0, (640, 360), 30.0), "rss_long": (1800.0, (640, 360), 30.0)}
QUICK = {"decode": (60.0, (640, 360), 30.0), "rss_short": (120.0, (320, 180), 30.0), "rss_long": (360.0, (320, 180), 30.0)}


def ensure_video(work_dir: str | Path, duration_s: float, size: tuple[int, int], fps: float) -> dict:
    """Path of a cached generated H.264 video (written atomically on first use) and its generation time."""
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    stem = f"bench_{int(duration_s)}s_{size[0]}x{size[1]}_{fps:g}fps"
    path, meta_path = work / f"{stem}.mp4", work / f"{stem}.json"
    if path.exists() and meta_path.exists():
        return json.loads(meta_path.read_text())
    partial = work / f"{stem}.partial.mp4"
    start = time.perf_counter()
    segments = [(duration_s * 0.1, duration_s * 0.15, "red"), (duration_s * 0.5, duration_s * 0.53, "blue")]
    write_video(partial, duration_s=duration_s, fps=fps, size=size, segments=segments, seed=0)
    meta = {
        "path": str(path), "duration_s": duration_s, "size": list(size), "fps": fps,
        "bytes": partial.stat().st_size, "generation_s": round(time.perf_counter() - start, 3),
    }
    os.replace(partial, path)
    meta_path.write_text(json.dumps(meta))
    return meta


def time_ffmpeg(path: str | Path, size: tuple[int, int] = CLIP_SIZE, sample_fps: float = 1.0) -> tuple[float, int]:
    """Seconds for ffmpeg's fps+scale filter graph to emit raw RGB frames, and the frame count it emitted."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise RuntimeError("The ffmpeg command line is needed for decode_vs_ffmpeg and was not found on PATH.")
    cmd = [exe, "-v", "error", "-i", str(path), "-vf", f"fps={sample_fps:g},scale={size[0]}:{size[1]}",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed on '{path}': {proc.stderr.decode(errors='replace').strip()}")
    return elapsed, len(proc.stdout) // (size[0] * size[1] * 3)


def time_reader(
    path: str | Path, decoder: str, size: tuple[int, int] = CLIP_SIZE, sample_fps: float = 1.0, chunk_size: int = 64,
    decode_threads: int | None = None,
) -> tuple[float, int]:
    """Seconds for our reader (open included) to stream the 1-FPS frames at `size`, and the frame count.

    decode_threads: None for the reader's default (the cores this process may use), 1 for one thread.
    """
    start = time.perf_counter()
    count = 0
    with open_video(path, decoder=decoder, decode_threads=decode_threads) as reader:
        indices = sample_indices(reader.n_frames, reader.fps, sample_fps)
        for frames, _ in reader.iter_chunks(indices, size=size, chunk_size=chunk_size):
            count += len(frames)
    return time.perf_counter() - start, count


def time_naive_decord(path: str | Path, size: tuple[int, int] = CLIP_SIZE, sample_fps: float = 1.0) -> tuple[float, int]:
    """Seconds for the common approach: decord get_batch of every 1-FPS index at full size, then resize."""
    import decord
    from PIL import Image

    start = time.perf_counter()
    reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
    indices = sample_indices(len(reader), float(reader.get_avg_fps()), sample_fps)
    full = reader.get_batch(indices.tolist()).asnumpy()
    small = np.stack([np.asarray(Image.fromarray(frame).resize(size, Image.BILINEAR)) for frame in full])
    del reader, full
    return time.perf_counter() - start, len(small)


# Peak RSS is read from /proc/self/status (VmHWM, this process image only): ru_maxrss would carry the
# parent's peak over fork + exec on Linux.
_RSS_CHILD = """
import resource, sys
sys.path.insert(0, {root!r})
from air.Process_Utils.process_video import open_video, sample_indices
with open_video({path!r}, decoder={decoder!r}) as reader:
    indices = sample_indices(reader.n_frames, reader.fps, 1.0)
    count = sum(len(frames) for frames, _ in reader.iter_chunks(indices, size={size!r}, chunk_size=64))
try:
    with open("/proc/self/status") as status:
        peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(count, peak_kib)
"""


def peak_rss_bytes(path: str | Path, decoder: str, size: tuple[int, int] = CLIP_SIZE) -> tuple[int, int]:
    """Peak RSS (bytes) of a fresh Python process running the chunked 1-FPS reader, and its frame count."""
    code = _RSS_CHILD.format(root=str(REPO_ROOT), path=str(path), decoder=decoder, size=tuple(size))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"RSS child failed on '{path}' with {decoder}: {proc.stderr.strip()[-2000:]}")
    count, peak_kib = proc.stdout.split()[-2:]
    return int(peak_kib) * 1024, int(count)


def available_backends() -> list[str]:
    """Backends whose library is installed here."""
    modules = {"decord": "decord", "pyav": "av", "torchcodec": "torchcodec"}
    return [name for name in BACKENDS if importlib.util.find_spec(modules[name]) is not None]


def decode_figures(
    work_dir: str | Path | None = None, *, quick: bool = False, repeats: int = 3, decoder: str = "pyav",
    backends: list[str] | None = None,
) -> dict:
    """Measure every decode figure side by side; returns a JSON-ready dict (medians of `repeats` runs)."""
    if repeats < 1:
        raise ValueError(f"Invalid repeats: {repeats!r}. Expected an int >= 1.")
    plan = QUICK if quick else FULL
    work = Path(work_dir) if work_dir else Path(tempfile.gettempdir()) / "air_decode_bench"
    videos = {name: ensure_video(work, *spec) for name, spec in plan.items()}
    main_video = videos["decode"]["path"]
    backends = backends or available_backends()
    if decoder not in backends:
        backends = [decoder, *backends]

    times: dict[str, list[float]] = {"ffmpeg": [], "naive_decord": []}
    for b in backends:
        times[b], times[b + ONE_THREAD] = [], []
    counts: dict[str, int] = {}
    for _ in range(repeats):  # interleaved, so load changes hit every contender alike
        for name in times:
            if name == "ffmpeg":
                elapsed, count = time_ffmpeg(main_video)
            elif name == "naive_decord":
                elapsed, count = time_naive_decord(main_video)
            elif name.endswith(ONE_THREAD):
                elapsed, count = time_reader(main_video, name[: -len(ONE_THREAD)], decode_threads=1)
            else:
                elapsed, count = time_reader(main_video, name)
            times[name].append(elapsed)
            counts[name] = count
    medians = {name: statistics.median(values) for name, values in times.items()}

    rss: dict[str, dict] = {}
    for backend in backends:
        rss[backend] = {}
        for name in ("rss_short", "rss_long"):
            peak, count = peak_rss_bytes(videos[name]["path"], backend)
            rss[backend][name] = {"peak_rss_bytes": peak, "frames": count}
        rss[backend]["growth"] = rss[backend]["rss_long"]["peak_rss_bytes"] / rss[backend]["rss_short"]["peak_rss_bytes"]

    figures = {
        "decode_vs_ffmpeg": medians[decoder] / medians["ffmpeg"],
        "decode_vs_naive": medians[decoder] / medians["naive_decord"],
        "decode_threads_vs_one": medians[decoder] / medians[decoder + ONE_THREAD],
        "rss_growth_long_vs_short": rss[decoder]["growth"],
    }
    per_backend = {
        b: {
            "time_s": medians[b], "time_one_thread_s": medians[b + ONE_THREAD],
            "vs_ffmpeg": medians[b] / medians["ffmpeg"], "vs_naive": medians[b] / medians["naive_decord"],
            "threads_vs_one": medians[b] / medians[b + ONE_THREAD], "rss_growth": rss[b]["growth"],
        }
        for b in backends
    }
    return {
        **{k: round(v, 4) for k, v in figures.items()},
        "decoder": decoder,
        "targets": TARGETS,
        "meets_targets": {k: figures[k] <= TARGETS[k] for k in figures},
        "times_s": {name: round(value, 4) for name, value in medians.items()},
        "times_s_all": {name: [round(v, 4) for v in values] for name, values in times.items()},
        "frames_decoded": counts,
        "per_backend": {b: {k: round(v, 4) for k, v in d.items()} for b, d in per_backend.items()},
        "rss": {b: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()} for b, d in rss.items()},
        "videos": videos,
        "repeats": repeats,
        "quick": quick,
        "machine": {"cpus": os.cpu_count(), "decode_threads": default_decode_threads(),
                    "loadavg_1m_at_end": round(os.getloadavg()[0], 2)},
    }


def format_table(result: dict) -> str:
    """Readable table of the figures and the per-backend times."""
    lines = [f"decode figures ({'quick' if result['quick'] else 'full'}, decoder={result['decoder']}, "
             f"median of {result['repeats']})", f"{'figure':28s} {'value':>8s} {'target':>8s}  ok"]
    for key, target in result["targets"].items():
        lines.append(f"{key:28s} {result[key]:8.3f} {target:8.2f}  {'yes' if result['meets_targets'][key] else 'NO'}")
    lines.append(f"{'contender':16s} {'time_s':>8s} {'vs_ffmpeg':>9s} {'vs_naive':>8s} {'vs_1thr':>8s} "
                 f"{'RSS short/long MiB':>19s} {'growth':>6s}")
    for name, value in result["times_s"].items():
        row = f"{name:16s} {value:8.2f}"
        if name in result["per_backend"]:
            b, r = result["per_backend"][name], result["rss"][name]
            mib = f"{r['rss_short']['peak_rss_bytes'] / 2**20:.0f} / {r['rss_long']['peak_rss_bytes'] / 2**20:.0f}"
            row += f" {b['vs_ffmpeg']:9.3f} {b['vs_naive']:8.3f} {b['threads_vs_one']:8.3f} {mib:>19s} {r['growth']:6.3f}"
        lines.append(row)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the figures to this JSON file")
    parser.add_argument("--quick", action="store_true", help="small videos (1 min 360p; RSS 2 vs 6 min at 180p)")
    parser.add_argument("--work-dir", type=Path, default=None, help="where generated videos are cached")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--decoder", default=DEFAULT_DECODER, choices=list(BACKENDS),
                        help="backend of the headline figures")
    args = parser.parse_args(argv)
    result = decode_figures(args.work_dir, quick=args.quick, repeats=args.repeats, decoder=args.decoder)
    print(format_table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
