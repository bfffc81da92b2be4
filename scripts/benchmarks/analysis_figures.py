"""Benchmarks `batched_vs_sequential` and `logits_vs_generate` of the frame analysis (tiny Qwen2.5-VL, CPU).

batched_vs_sequential = time to analyse `n_frames` frames in one batch (analysis_batch_size = n_frames)
/ time to analyse them one by one (analysis_batch_size = 1), through the adapter's own `analyze`.
logits_vs_generate = time of analysis_mode="logits" (one forward pass over the digits 1..5) / time of
the batched "generate" mode, plus the rate at which both modes give the same score. Each time is the
median of `repeats` runs, the three modes interleaved in every repetition so that machine noise hits
them alike; a warm-up call of each mode runs first.

The default model is a tiny random Qwen2.5-VL built offline: its generated text is garbage, the parser
finds no score in it, and the agreement rate is then undefined (reported as null with the parse rate).
Pass --pretrained with a real checkpoint to measure agreement.

Usage: python scripts/benchmarks/analysis_figures.py [--pretrained DIR] [--threads N] [--json PATH]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_common import check_at_least_one, format_rows, run_cli

QUERY = "What does the man hold in his hand?\nOptions:\nA. a cup\nB. a phone\nC. a book\nD. a key"


def _timed(fn) -> tuple[float, list]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def analysis_figures(*, pretrained: str | None = None, n_frames: int = 12, repeats: int = 5,
                     max_new_tokens: int = 64, frame_size: tuple[int, int] = (320, 240),
                     threads: int | None = None, seed: int = 0) -> dict:
    """Measure the three analysis modes on `n_frames` seeded random frames; return JSON-ready figures.

    frame_size is (width, height) in pixels of the input frames (the adapter resizes them to the
    checkpoint's pixel budget). threads sets torch's intra-op thread count (None: torch's default).
    """
    import numpy as np
    import torch

    from air.base_models.base import LoadOptions
    from air.base_models.Qwen2_5VL import Qwen2_5VL
    from air.testing.tiny_qwen import build_tiny_qwen2_5_vl

    check_at_least_one("repeats", repeats)
    check_at_least_one("n_frames", n_frames)
    if threads is not None:
        torch.set_num_threads(int(threads))
    width, height = frame_size
    frames = np.random.default_rng(seed).integers(0, 256, size=(n_frames, height, width, 3), dtype=np.uint8)
    timestamps = np.arange(n_frames, dtype=np.float64)

    with tempfile.TemporaryDirectory(prefix="air-bench-analysis-") as tmp:
        path = pretrained or str(build_tiny_qwen2_5_vl(Path(tmp) / "tiny-qwen2_5_vl"))
        options = LoadOptions(device="cpu", analysis_batch_size=n_frames, analysis_max_new_tokens=max_new_tokens)
        batched = Qwen2_5VL.from_pretrained(path, options)

        def variant(**changes):
            return Qwen2_5VL(batched.model, batched.processor, dataclasses.replace(options, **changes), path)

        modes = {
            "batched": batched,
            "sequential": variant(analysis_batch_size=1),
            "logits": variant(analysis_mode="logits"),
        }
        for backbone in modes.values():  # warm-up: first-call costs are not the batching's business
            backbone.analyze(frames[:2], timestamps[:2], QUERY)
        times: dict[str, list[float]] = {name: [] for name in modes}
        scores: dict[str, list] = {}
        for _ in range(repeats):
            for name, backbone in modes.items():
                seconds, results = _timed(lambda b=backbone: b.analyze(frames, timestamps, QUERY))
                times[name].append(seconds)
                scores[name] = [r.score for r in results]
        if scores["batched"] != scores["sequential"]:
            raise RuntimeError("Batched and one-by-one analysis gave different scores under greedy decoding.")

    med = {name: statistics.median(values) for name, values in times.items()}
    parsed = [i for i, s in enumerate(scores["batched"]) if s is not None]
    agreement = (sum(scores["batched"][i] == scores["logits"][i] for i in parsed) / len(parsed)) if parsed else None
    return {
        "batched_vs_sequential": med["batched"] / med["sequential"],
        "logits_vs_generate": med["logits"] / med["batched"],
        "logits_generate_agreement": agreement,
        "generate_parse_rate": len(parsed) / n_frames,
        "batched_s": med["batched"], "sequential_s": med["sequential"], "logits_s": med["logits"],
        "runs_s": times,
        "n_frames": n_frames, "repeats": repeats, "analysis_max_new_tokens": max_new_tokens,
        "frame_size": [width, height], "model": "tiny random Qwen2.5-VL" if pretrained is None else pretrained,
        "torch_threads": torch.get_num_threads(), "device": "cpu", "target_batched_vs_sequential": 0.7,
    }


def _table(result: dict) -> str:
    agreement = result["logits_generate_agreement"]
    rows = [
        ("batched_vs_sequential", f"{result['batched_vs_sequential']:.3f}", "<= 0.7"),
        ("logits_vs_generate", f"{result['logits_vs_generate']:.3f}", ""),
        ("logits/generate agreement", "n/a" if agreement is None else f"{agreement:.2f}",
         f"generate parse rate {result['generate_parse_rate']:.2f}"),
        (f"batched, {result['n_frames']} frames (s)", f"{result['batched_s']:.3f}", ""),
        ("one by one (s)", f"{result['sequential_s']:.3f}", ""),
        ("logits mode (s)", f"{result['logits_s']:.3f}", ""),
        ("torch threads", str(result["torch_threads"]), ""),
    ]
    return format_rows(rows, value_width=8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrained", default=None, help="Qwen2.5-VL checkpoint (default: tiny, offline)")
    parser.add_argument("--n-frames", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    return run_cli(parser, lambda args: analysis_figures(pretrained=args.pretrained, n_frames=args.n_frames,
                                                         repeats=args.repeats, max_new_tokens=args.max_new_tokens,
                                                         threads=args.threads),
                   _table, argv)


if __name__ == "__main__":
    sys.exit(main())
