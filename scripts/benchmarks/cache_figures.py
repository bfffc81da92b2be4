"""Benchmark `cache_warm_vs_cold`: coarse-filter time with a warm feature cache / with a cold one.

The coarse filter here is what the selection loop pays for CLIP on one video and one question: open the
video, compute the cache key, decode the 1-FPS samples at the encoder's input size, encode them (cold) or
read their features from the cache (warm), encode the question and take cosines. The model is loaded
once beforehand and excluded from both times. Each figure is the median of `repeats` runs; every cold
run starts from an empty cache folder, every warm run asks a different question.

Usage: python scripts/benchmarks/cache_figures.py [--clip NAME] [--duration-s 120] [--json PATH]
Without --clip the encoder is a real-size open_clip ViT-B-32 with random weights, built offline, so the
cold run pays for encoding what a real (small) CLIP model costs; EVA02-L-14, the paper's, costs about 10
times more per frame. With a tiny model the "cold" run would be mostly decoding, and the figure would
compare two ways of opening a video rather than the cache against the encoder.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_common import check_at_least_one, format_rows, run_cli, vit_b32_encoder

QUESTIONS = ("What colour is the car?", "Who opens the door?", "How many people are in the kitchen?",
             "What does the man hold at the end?", "Where does the dog run?", "Which object falls first?")


def _coarse_filter(video_path: Path, encoder, cache, question: str, decoder: str) -> tuple[float, int]:
    """Seconds for one coarse-filter pass, and the number of frames encoded in it."""
    from air.base_models.utils.video_similarity import VideoSimilarity
    from air.Process_Utils.process_video import open_video, sample_indices

    t0 = time.perf_counter()
    with open_video(video_path, decoder=decoder) as reader:
        sim = VideoSimilarity(reader, encoder, question, cache=cache)
        scores = sim(sample_indices(reader.n_frames, reader.fps, 1.0))
    elapsed = time.perf_counter() - t0
    assert scores.ndim == 1 and scores.size > 0
    return elapsed, sim.n_encoded


def cache_warm_vs_cold(*, clip_name: str | None = None, duration_s: float = 120.0, fps: float = 30.0,
                       size: tuple[int, int] = (640, 360), decoder: str = "pyav", repeats: int = 3,
                       work_dir: str | Path | None = None, encoder=None) -> dict:
    """Measure cold and warm coarse-filter times on a generated H.264 video; return the JSON-ready figures.

    The encoder: `encoder` if given, else `clip_name` loaded with load_clip, else ViT-B-32 (random weights).
    """
    from air.base_models.clip_model import load_clip
    from air.base_models.utils.feature_cache import FeatureCache
    from air.testing.videos import write_video

    check_at_least_one("repeats", repeats)
    with tempfile.TemporaryDirectory(prefix="air-bench-cache-", dir=work_dir) as tmp:
        tmp = Path(tmp)
        video = write_video(tmp / "bench.mp4", duration_s=duration_s, fps=fps, size=size,
                            segments=[(0.0, duration_s / 2, "red"), (duration_s / 2, duration_s, "blue")])
        encoder = encoder or (load_clip(clip_name) if clip_name else vit_b32_encoder())
        encoder.encode_text(["warm-up"])  # first-call costs are not the cache's business
        cold, warm, n_encoded = [], [], 0
        for r in range(repeats):
            cache = FeatureCache(tmp / f"cache-{r}")
            seconds, n_encoded = _coarse_filter(video.path, encoder, cache, QUESTIONS[0], decoder)
            cold.append(seconds)
            question = QUESTIONS[1 + r % (len(QUESTIONS) - 1)]
            seconds, n_warm = _coarse_filter(video.path, encoder, cache, question, decoder)
            if n_warm:
                raise RuntimeError(f"Warm run encoded {n_warm} frames; the cache did not hit.")
            warm.append(seconds)
        cold_s, warm_s = statistics.median(cold), statistics.median(warm)
        return {
            "cache_warm_vs_cold": warm_s / cold_s,
            "cold_s": cold_s, "warm_s": warm_s, "frames_encoded_cold": n_encoded,
            "video": {"duration_s": duration_s, "fps": fps, "size": list(size), "codec": "h264"},
            "clip_model": encoder.name, "decoder": decoder, "repeats": repeats, "target": 0.05,
        }


def _table(result: dict) -> str:
    rows = [("cache_warm_vs_cold", f"{result['cache_warm_vs_cold']:.4f}", "<= 0.05"),
            ("cold coarse filter (s)", f"{result['cold_s']:.3f}", ""),
            ("warm coarse filter (s)", f"{result['warm_s']:.3f}", ""),
            ("frames encoded (cold)", str(result["frames_encoded_cold"]), "")]
    return format_rows(rows, value_width=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default=None, help="load_clip name (default: a random-weight ViT-B-32)")
    parser.add_argument("--duration-s", type=float, default=120.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--decoder", default="pyav")
    parser.add_argument("--repeats", type=int, default=3)
    return run_cli(parser, lambda args: cache_warm_vs_cold(clip_name=args.clip, duration_s=args.duration_s,
                                                           fps=args.fps, decoder=args.decoder,
                                                           repeats=args.repeats),
                   _table, argv)


if __name__ == "__main__":
    sys.exit(main())
