"""Selection figures of QUALITY.md: the cost of the selection logic alone, and the analysis bound.

    python scripts/benchmarks/selection_figures.py [--samples 10800] [--tracks 500] [--json PATH]

- `selection_time`: seconds of `air.model.select_frames` on one long synthetic video (default 3 hours at
  30 fps = 10,800 1-FPS samples) with instant fake scorers: the similarity is a lookup into a
  precomputed float64 track, the analysis a lookup into a precomputed int8 score array. bench_pipeline.py
  divides it by the decode time of the 1-FPS reader to get `selection_vs_decode`.
- `selection_peak_rss`: the same selection in a fresh process, with its peak RSS (bytes).
- `analyzed_max_figure`: the largest number of frames analysed per video over many random tracks
  (durations, events, noise and scorer behaviour drawn per track) with a given config (default: the
  default AIRConfig); the paper bounds it by candidates_per_round * max_rounds.
No torch, no decoder: numpy, scikit-learn (inside select_frames) and the standard library only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
if importlib.util.find_spec("air") is None:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT))

from air.model import AIRConfig, select_frames

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from sim.scorers import TrackAnalysis, TrackSimilarity  # noqa: E402

FPS = 30.0
SCORER_MODES = ("evidence", "all_low", "all_high", "random", "unparseable")


# The simulation's lookup callables serve here too (this folder is on sys.path when this file runs).
LookupSimilarity, LookupScorer = TrackSimilarity, TrackAnalysis


def synthetic_video(n_frames: int, fps: float, rng: np.random.Generator, *, mode: str = "evidence",
                    noise: float = 0.01, error_rate: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """A random CLIP track float64 (n_frames,) and per-frame analysis scores int8 (n_frames,), 0 = unparseable.

    The track is 0.2 plus a slow drift, one to four bumps of 4-90 s (+0.02..0.08) and per-frame Gaussian
    noise of std `noise`. `mode` sets the scorer: "evidence" rates frames inside a bump 4-5 and others 1-3,
    each verdict flipped with probability `error_rate`; "all_low" rates everything 1 (nothing is ever
    positive, so the loop runs every round); "all_high" everything 5; "random" uniform 1..5;
    "unparseable" gives no score at all.
    """
    if mode not in SCORER_MODES:
        raise ValueError(f"Invalid mode: {mode!r}. Expected one of {', '.join(SCORER_MODES)}.")
    t = np.arange(n_frames, dtype=np.float64) / fps
    duration = n_frames / fps
    period = rng.uniform(60.0, 600.0)
    track = 0.2 + 0.005 * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
    inside = np.zeros(n_frames, dtype=bool)
    for _ in range(int(rng.integers(1, 5))):
        length = min(rng.uniform(4.0, 90.0), duration)
        start = rng.uniform(0.0, max(duration - length, 0.0))
        seg = (t >= start) & (t < start + length)
        track[seg] += rng.uniform(0.02, 0.08)
        inside |= seg
    track += rng.normal(0.0, noise, size=n_frames)
    if mode == "evidence":
        judged = inside ^ (rng.random(n_frames) < error_rate)
        scores = np.where(judged, rng.integers(4, 6, size=n_frames), rng.integers(1, 4, size=n_frames))
    elif mode == "all_low":
        scores = np.ones(n_frames)
    elif mode == "all_high":
        scores = np.full(n_frames, 5)
    elif mode == "random":
        scores = rng.integers(1, 6, size=n_frames)
    else:
        scores = np.zeros(n_frames)
    return track, scores.astype(np.int8)


def warm_up() -> None:
    """Run one small selection so that one-off costs (select_frames imports scikit-learn lazily) are paid."""
    track, scores = synthetic_video(int(120 * FPS), FPS, np.random.default_rng(1))
    select_frames(track.size, FPS, LookupSimilarity(track), LookupScorer(scores))


def time_selection(n_samples: int = 10_800, *, fps: float = FPS, repeats: int = 3, seed: int = 0,
                   config: AIRConfig | None = None) -> dict:
    """Median seconds of select_frames on a video of `n_samples` 1-FPS samples with instant lookup scorers.

    The track is built and a small warm-up selection is run outside the timing; every repetition runs the same selection (deterministic),
    so the runs differ only by machine noise. Also returns the loop's own timings of the last run.
    """
    if repeats < 1:
        raise ValueError(f"Invalid repeats: {repeats!r}. Expected an int >= 1.")
    if n_samples < 1:
        raise ValueError(f"Invalid n_samples: {n_samples!r}. Expected an int >= 1.")
    config = config or AIRConfig()
    n_frames = round(n_samples * fps / config.sample_fps)
    track, scores = synthetic_video(n_frames, fps, np.random.default_rng(seed))
    warm_up()
    runs, selection = [], None
    for _ in range(repeats):
        similarity, scorer = LookupSimilarity(track), LookupScorer(scores)
        start = time.perf_counter()
        selection = select_frames(n_frames, fps, similarity, scorer, config)
        runs.append(time.perf_counter() - start)
    return {
        "seconds": statistics.median(runs), "runs_s": runs, "n_frames": n_frames, "fps": fps,
        "n_samples": n_samples, "duration_s": n_frames / fps, "n_scored": len(selection.scored),
        "n_analyzed": selection.n_analyzed, "n_selected": len(selection.frame_indices),
        "budget": selection.budget, "rounds": len(selection.rounds), "stop_reason": selection.stop_reason,
        "loop_timings_s": {k: round(v, 6) for k, v in selection.timings_s.items()}, "seed": seed,
    }


# The child resets its peak-RSS mark (Linux clear_refs "5") once the track is built and a warm-up selection
# has imported what select_frames imports lazily, so VmHWM afterwards is the peak reached while selecting; without that facility the whole-process peak is reported.
_RSS_CHILD = """
import json, sys
sys.path.insert(0, {here!r})
import selection_figures as sf

def status(field):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(field + ":"))

n_frames = int(round({n_samples} * sf.FPS))
track, scores = sf.synthetic_video(n_frames, sf.FPS, sf.np.random.default_rng({seed}))
sf.warm_up()
before = status("VmRSS")
try:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    reset = True
except OSError:
    reset = False
sel = sf.select_frames(n_frames, sf.FPS, sf.LookupSimilarity(track), sf.LookupScorer(scores))
print(json.dumps({{"rss_before_bytes": before, "peak_rss_bytes": status("VmHWM"), "peak_reset": reset,
                  "n_frames": n_frames, "n_analyzed": sel.n_analyzed, "n_selected": len(sel.frame_indices)}}))
"""


def selection_peak_rss(n_samples: int = 10_800, *, seed: int = 0) -> dict:
    """Peak RSS (bytes) of a fresh Python process running the `n_samples`-sample selection, and its RSS before.

    `peak_rss_bytes` is the process's high-water mark while selecting (reset after imports and track
    building when Linux allows it: `peak_reset`); `selection_growth_bytes` = peak - RSS before selecting.
    """
    code = _RSS_CHILD.format(here=str(Path(__file__).resolve().parent), n_samples=int(n_samples), seed=int(seed))
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"Selection RSS child failed ({n_samples} samples): {proc.stderr.strip()[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["selection_growth_bytes"] = out["peak_rss_bytes"] - out["rss_before_bytes"]
    return out


def analyzed_max_figure(n_tracks: int = 500, *, seed: int = 0, config: AIRConfig | None = None,
                        min_duration_s: float = 60.0, max_duration_s: float = 3 * 3600.0) -> dict:
    """Largest frames analysed per video over `n_tracks` random videos through select_frames.

    Durations are log-uniform in [min_duration_s, max_duration_s] at 30 fps; the scorer mode cycles
    through SCORER_MODES so every behaviour (including one that never gives a positive) is covered; the
    noise std is drawn in [0.002, 0.03]. Returns the max, mean, bound, per-mode max and stop reasons.
    """
    if n_tracks < 1:
        raise ValueError(f"Invalid n_tracks: {n_tracks!r}. Expected an int >= 1.")
    config = config or AIRConfig()
    rng = np.random.default_rng(seed)
    analysed, per_mode, stops = [], {m: 0 for m in SCORER_MODES}, Counter()
    worst = None
    start = time.perf_counter()
    for i in range(n_tracks):
        mode = SCORER_MODES[i % len(SCORER_MODES)]
        duration = math.exp(rng.uniform(math.log(min_duration_s), math.log(max_duration_s)))
        n_frames = max(1, int(duration * FPS))
        track, scores = synthetic_video(n_frames, FPS, rng, mode=mode, noise=rng.uniform(0.002, 0.03))
        scorer = LookupScorer(scores)
        selection = select_frames(n_frames, FPS, LookupSimilarity(track), scorer, config)
        if scorer.frames_seen != selection.n_analyzed:
            raise RuntimeError(f"The trace counts {selection.n_analyzed} analysed frames, the scorer saw "
                               f"{scorer.frames_seen} (track {i}).")
        analysed.append(selection.n_analyzed)
        per_mode[mode] = max(per_mode[mode], selection.n_analyzed)
        stops[selection.stop_reason] += 1
        if worst is None or selection.n_analyzed > worst["n_analyzed"]:
            worst = {"track": i, "mode": mode, "duration_s": round(n_frames / FPS, 1),
                     "n_analyzed": selection.n_analyzed, "rounds": len(selection.rounds)}
    bound = config.candidates_per_round * config.max_rounds
    return {
        "analyzed_max": int(max(analysed)), "bound": bound, "analyzed_mean": float(np.mean(analysed)),
        "n_tracks": n_tracks, "per_mode_max": per_mode, "stop_reasons": dict(stops), "worst": worst,
        "duration_range_s": [min_duration_s, max_duration_s], "seed": seed,
        "config": {"candidates_per_round": config.candidates_per_round, "max_rounds": config.max_rounds,
                   "max_frames": config.max_frames, "analysis_batch_size": config.analysis_batch_size},
        "seconds": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=10_800, help="1-FPS samples of the long video")
    parser.add_argument("--tracks", type=int, default=500, help="random videos for analyzed_max")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    result = {"selection": time_selection(args.samples, repeats=args.repeats),
              "selection_rss": selection_peak_rss(args.samples),
              "analyzed": analyzed_max_figure(args.tracks)}
    sel, rss, an = result["selection"], result["selection_rss"], result["analyzed"]
    print(f"selection of {sel['n_samples']} samples: {sel['seconds']:.3f} s (median of {args.repeats}), "
          f"{sel['n_analyzed']} analysed, peak RSS {rss['peak_rss_bytes'] / 2**20:.0f} MiB "
          f"(+{rss['selection_growth_bytes'] / 2**20:.1f} MiB while selecting)")
    print(f"analyzed_max over {an['n_tracks']} tracks: {an['analyzed_max']} (bound {an['bound']}), "
          f"per mode {an['per_mode_max']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
