"""Benchmarks `cross_video_vs_one_by_one` and `analysis_calls_cross_video_ratio` (tiny Qwen2.5-VL, CPU).

cross_video_vs_one_by_one = wall time of `n_videos` selections driven together (H_VPModel.select_many:
every step sends the frames all unfinished loops wait for to the backbone in one batched call) / wall
time of the same selections one video at a time (H_VPModel.select). Both include everything `select`
does: opening and decoding, CLIP scoring of the 1-FPS samples (no feature cache, so both pay it), the
loop, decoding and rating the candidates. analysis_calls_cross_video_ratio = the backbone's batched
generate calls in the first mode / in the second. analysis_batch_size = candidates_per_round x
n_videos in both modes, as the README advises for `--batch_size n_videos`; one by one a round then
fits one call as well. The script raises unless both modes give every video the same Selection
(timings aside). Times are medians of `repeats` runs, the two modes interleaved (order alternating).

The tiny model's weights are random: its text is garbage, so no frame gets a score and every video
runs its full max_rounds, which is also the heaviest case for analysis.

Usage: python scripts/benchmarks/cross_video_figures.py [--n-videos 4] [--repeats 3] [--threads N] [--json PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_common import check_at_least_one, format_rows, run_cli

QUESTIONS = ("Which colour fills the screen after the red part?", "What appears briefly near the end?",
             "Which colour is shown first?", "Is anything green in the video?", "What colour is the middle part?",
             "Does the video end in blue?")
COLOURS = ("red", "green", "blue", "yellow", "gray", "cyan")


def _videos(folder: Path, n_videos: int, duration_s: float, fps: float, size: tuple[int, int]) -> list[str]:
    from air.testing.videos import write_video

    paths = []
    for k in range(n_videos):
        third = duration_s / 3
        segments = [(0.0, third, COLOURS[k % 6]), (third, 2 * third, COLOURS[(k + 2) % 6]),
                    (2 * third, duration_s, COLOURS[(k + 4) % 6])]
        paths.append(str(write_video(folder / f"cross_{k}.mp4", duration_s=duration_s, fps=fps, size=size,
                                     segments=segments, seed=k).path))
    return paths


class _GenerateCounter:
    """Counts `model.generate` calls of the analysis backbone (each is one batched analysis call)."""

    def __init__(self, model):
        self.calls = 0
        self._generate = model.generate
        model.generate = self

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self._generate(*args, **kwargs)


def _comparable(selection) -> dict:
    data = selection.to_dict()
    data.pop("timings_s")
    return data


def cross_video_figures(*, n_videos: int = 4, repeats: int = 3, duration_s: float = 120.0, fps: float = 5.0,
                        size: tuple[int, int] = (160, 120), max_new_tokens: int = 64, threads: int | None = None,
                        work_dir: str | Path | None = None) -> dict:
    """Time `n_videos` selections together and one by one on generated videos; return JSON-ready figures.

    size is (width, height) in pixels; threads sets torch's intra-op thread count (None: torch's default).
    """
    import torch

    from air.demo import build_tiny_models
    from air.model import AIRConfig, H_VPModel

    check_at_least_one("n_videos", n_videos)
    check_at_least_one("repeats", repeats)
    if threads is not None:
        torch.set_num_threads(int(threads))
    config = AIRConfig()
    batch = config.candidates_per_round * n_videos
    with tempfile.TemporaryDirectory(prefix="air-bench-cross-", dir=work_dir) as tmp:
        tmp = Path(tmp)
        pretrained, clip = build_tiny_models(tmp / "tiny")
        paths = _videos(tmp, n_videos, duration_s, fps, size)
        questions = [QUESTIONS[k % len(QUESTIONS)] for k in range(n_videos)]
        model = H_VPModel.from_pretrained(pretrained, clip_model=clip, cache=None, device="cpu",
                                          analysis_batch_size=batch, analysis_max_new_tokens=max_new_tokens)
        counter = _GenerateCounter(model.analysis_backbone.model)

        def one_by_one():
            return [model.select(path, question) for path, question in zip(paths, questions)]

        def together():
            return model.select_many(paths, questions)

        modes = {"one_by_one": one_by_one, "together": together}
        model.select(paths[0], questions[0])  # warm-up: first-call costs belong to neither mode
        times: dict[str, list[float]] = {name: [] for name in modes}
        calls: dict[str, int] = {}
        selections: dict[str, list] = {}
        for r in range(repeats):
            for name in (list(modes) if r % 2 == 0 else list(modes)[::-1]):
                counter.calls = 0
                t0 = time.perf_counter()
                selections[name] = modes[name]()
                times[name].append(time.perf_counter() - t0)
                calls[name] = counter.calls
        same = [_comparable(a) == _comparable(b) for a, b in zip(selections["one_by_one"], selections["together"])]
        if not all(same):
            raise RuntimeError(f"Selections driven together differ from one by one for videos "
                               f"{[k for k, ok in enumerate(same) if not ok]}: the driver must not change them.")
    med = {name: statistics.median(values) for name, values in times.items()}
    rounds = [len(s.rounds) for s in selections["one_by_one"]]
    return {
        "cross_video_vs_one_by_one": med["together"] / med["one_by_one"],
        "analysis_calls_cross_video_ratio": calls["together"] / calls["one_by_one"],
        "together_s": med["together"], "one_by_one_s": med["one_by_one"], "runs_s": times,
        "analysis_calls": calls, "rounds_per_video": rounds,
        "frames_analysed_per_video": [s.n_analyzed for s in selections["one_by_one"]],
        "identical_selections": True, "n_videos": n_videos, "analysis_batch_size": batch,
        "analysis_max_new_tokens": max_new_tokens, "video": {"duration_s": duration_s, "fps": fps, "size": list(size)},
        "repeats": repeats, "model": "tiny random Qwen2.5-VL + tiny open_clip", "device": "cpu",
        "torch_threads": torch.get_num_threads(),
        "targets": dict(TARGETS),
    }


#: The QUALITY.md figures this script measures, and their targets (bench_pipeline.py reports them too).
TARGETS = {"cross_video_vs_one_by_one": 0.6, "analysis_calls_cross_video_ratio": 0.3}


def pipeline_figures(result: dict | None) -> dict:
    """{figure: value} for bench_pipeline.py's top level (None values when the part did not run)."""
    return {key: (result[key] if result else None) for key in TARGETS}


def behind(result: dict) -> dict[str, str]:
    """{figure: the absolute figures behind it, as short text} for bench_pipeline.py's tables."""
    calls = result["analysis_calls"]
    return {
        "cross_video_vs_one_by_one": (f"{result['n_videos']} videos together {result['together_s']:.2f} s vs one by one "
                                      f"{result['one_by_one_s']:.2f} s, identical selections"),
        "analysis_calls_cross_video_ratio": (f"{calls['together']} vs {calls['one_by_one']} batched calls "
                                             f"(rounds per video {result['rounds_per_video']})"),
    }


def _table(result: dict) -> str:
    calls = result["analysis_calls"]
    rows = [
        ("cross_video_vs_one_by_one", f"{result['cross_video_vs_one_by_one']:.3f}", "<= 0.6"),
        ("analysis_calls_cross_video_ratio", f"{result['analysis_calls_cross_video_ratio']:.3f}", "<= 0.3"),
        (f"{result['n_videos']} videos together (s)", f"{result['together_s']:.2f}",
         f"{calls['together']} analysis calls"),
        ("one by one (s)", f"{result['one_by_one_s']:.2f}", f"{calls['one_by_one']} analysis calls"),
        ("rounds per video", " ".join(map(str, result["rounds_per_video"])), "identical selections"),
        ("torch threads", str(result["torch_threads"]), ""),
    ]
    return format_rows(rows, value_width=8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-videos", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    return run_cli(parser, lambda args: cross_video_figures(n_videos=args.n_videos, repeats=args.repeats,
                                                            max_new_tokens=args.max_new_tokens, threads=args.threads),
                   _table, argv)


if __name__ == "__main__":
    sys.exit(main())
