"""Regenerate assets/example_selection.png and assets/example_trace.json (the README's figure).

No model runs here: a 3-minute video is generated (air.testing.videos), the CLIP similarity is a
synthetic track (noisy background, a distractor segment CLIP likes almost as much as the evidence,
the evidence segment), and the VLM is a scripted scorer that rates evidence frames 4-5, frames near it
3, the distractor 2-3 and everything else 1-2, with a few unparseable answers. The A.I.R. loop itself
(air.model.select_frames, default configuration) and the figure are the real ones.

    python scripts/make_example_figure.py [--out assets/example_selection.png] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from air.model import AIRConfig, FrameScore, select_frames
from air.plotting import plot_trace
from air.testing.videos import write_video

ROOT = Path(__file__).resolve().parents[1]
DURATION_S, FPS, SIZE = 180.0, 10.0, (320, 180)
EVIDENCE_S = (110.0, 122.0)
DISTRACTOR_S = (60.0, 70.0)
SEGMENTS = [(0.0, 60.0, "blue"), (60.0, 70.0, "orange"), (70.0, 110.0, "blue"), (110.0, 122.0, "red"),
            (122.0, 180.0, "green")]
QUESTION = "What colour does the screen turn just before the green ending?"
OPTIONS = ["orange", "red", "yellow", "blue"]
SEED = 7


def _bump(t: np.ndarray, start: float, end: float, ramp: float = 1.5) -> np.ndarray:
    """1 inside [start, end), ramping linearly to 0 over `ramp` seconds on each side."""
    return np.clip(np.minimum(t - start + ramp, end + ramp - t) / ramp, 0.0, 1.0)


def similarity_track(n_frames: int, fps: float, seed: int = SEED) -> np.ndarray:
    """Synthetic raw cosine similarity of every frame: float64 (n_frames,)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / fps
    noise = np.convolve(rng.normal(0.0, 0.011, n_frames + 9), np.ones(10) / np.sqrt(10), mode="valid")[:n_frames]
    drift = 0.012 * np.sin(2 * np.pi * t / 75.0)
    return 0.20 + drift + noise + 0.085 * _bump(t, *EVIDENCE_S) + 0.08 * _bump(t, *DISTRACTOR_S)


def scripted_scorer(fps: float, seed: int = SEED):
    """analyze(frames) -> FrameScores of a deterministic, slightly noisy rater (per-frame seeds)."""

    def analyze(frames: np.ndarray) -> list[FrameScore]:
        out = []
        for f in frames.tolist():
            rng = np.random.default_rng([seed, f])
            t = f / fps
            if rng.random() < 0.05:
                out.append(FrameScore(None, "", "I cannot tell."))
            elif EVIDENCE_S[0] <= t < EVIDENCE_S[1]:
                out.append(FrameScore(int(rng.choice([4, 5, 5])), "The red screen right before the green part."))
            elif EVIDENCE_S[0] - 4 <= t < EVIDENCE_S[1] + 4:
                out.append(FrameScore(3, "Just around the moment the question asks about."))
            elif DISTRACTOR_S[0] <= t < DISTRACTOR_S[1]:
                out.append(FrameScore(int(rng.choice([2, 3])), "Orange, but far from the green ending."))
            else:
                out.append(FrameScore(int(rng.choice([1, 1, 2])), "Nothing related to the question."))
        return out

    return analyze


def make_example(workdir: Path) -> tuple[dict, Path]:
    """Write the video into `workdir`, run A.I.R. with the synthetic scorers; returns (trace, video)."""
    video = write_video(workdir / "example_3min.mp4", duration_s=DURATION_S, fps=FPS, size=SIZE,
                        segments=SEGMENTS, seed=SEED)
    track = similarity_track(video.n_frames, video.fps)
    selection = select_frames(video.n_frames, video.fps, lambda idx: track[idx], scripted_scorer(video.fps),
                              AIRConfig(), video=str(video.path))
    record = selection.to_dict()
    record.update(question=QUESTION, options=OPTIONS,
                  note="synthetic example: similarity and VLM scores are scripted (scripts/make_example_figure.py)")
    return record, video.path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "assets" / "example_selection.png"), help="PNG to write")
    parser.add_argument("--trace-out", default=str(ROOT / "assets" / "example_trace.json"),
                        help="trace JSON to write next to it (video path made relative)")
    parser.add_argument("--workdir", default=None, help="folder for the generated video (default: a temp dir)")
    parser.add_argument("--dpi", type=int, default=80, help="PNG resolution")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="air-example-") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        record, video = make_example(workdir)
        png = plot_trace(record, args.out, video=video, dpi=args.dpi,
                         title="A.I.R. on a generated 3-minute video (scripted CLIP track and VLM scores)")
    saved = dict(record, video=video.name, timings_s={})
    Path(args.trace_out).write_text(json.dumps(saved, indent=None, separators=(",", ":")) + "\n")
    print(f"figure: {png} ({png.stat().st_size / 1024:.0f} KB)")
    print(f"trace:  {args.trace_out}")
    print(f"budget {record['budget']}, {len(record['frame_indices'])} final frames, {record['n_analyzed']} analysed "
          f"in {len(record['rounds'])} rounds, stop: {record['stop_reason']}, events {record['events']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
