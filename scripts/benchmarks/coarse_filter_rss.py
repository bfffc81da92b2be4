"""Peak RSS of the coarse filter on one video, measured in a fresh process.

The coarse filter is what A.I.R. runs before any VLM call: open the video, decode its 1-FPS samples at
the CLIP encoder's input size in bounded chunks, and encode them through
`air.base_models.utils.video_similarity.VideoSimilarity` (memory only, no persistent cache).

    python scripts/benchmarks/coarse_filter_rss.py --video V.mp4 --clip NAME [--decoder pyav]

prints one JSON line: peak_rss_bytes (VmHWM of the process, i.e. imports + model + coarse filter),
rss_before_bytes (RSS once the model is loaded, before the video is opened), frames encoded, seconds.
bench_pipeline.py calls `coarse_filter_peak_rss(...)`, which runs this file in a new interpreter with
one torch / OpenMP thread, so nothing measured by one call leaks into the next.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
QUERY = "What colour is the square that appears in the middle of the video?"


def _status_bytes(field: str) -> int:
    """A size field of /proc/self/status (e.g. VmHWM, VmRSS) in bytes."""
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(field + ":"))


def run_coarse_filter(video: str | Path, clip_name: str, decoder: str = "pyav", chunk_size: int = 64) -> dict:
    """Run the coarse filter once in this process and return its figures (see the module docstring)."""
    import numpy as np

    from air.base_models.clip_model import load_clip
    from air.base_models.utils.video_similarity import VideoSimilarity
    from air.Process_Utils.process_video import open_video, sample_indices

    encoder = load_clip(clip_name)
    encoder.encode_text(["warm-up"])
    before = _status_bytes("VmRSS")
    start = time.perf_counter()
    with open_video(video, decoder=decoder) as reader:
        sim = VideoSimilarity(reader, encoder, QUERY, cache=None, chunk_size=chunk_size)
        scores = sim(sample_indices(reader.n_frames, reader.fps, 1.0))
        n_frames, fps, backend = reader.n_frames, reader.fps, reader.backend
    seconds = time.perf_counter() - start
    if scores.shape != (sim.n_encoded,) or not np.all(np.isfinite(scores)):
        raise RuntimeError(f"Coarse filter on '{video}' gave {scores.shape} scores for {sim.n_encoded} frames.")
    return {
        "peak_rss_bytes": _status_bytes("VmHWM"), "rss_before_bytes": before, "frames_encoded": sim.n_encoded,
        "seconds": seconds, "video_frames": n_frames, "fps": fps, "decoder": backend,
        "encoder": encoder.name, "image_size": encoder.image_size,
        "timings_s": {k: round(v, 4) for k, v in sim.timings_s.items()},
    }


def coarse_filter_peak_rss(video: str | Path, clip_name: str, decoder: str = "pyav", *, threads: int = 1) -> dict:
    """Run the coarse filter on `video` in a fresh interpreter (`threads` torch/OpenMP threads); its figures."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--video", str(video), "--clip", clip_name,
           "--decoder", decoder]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"Coarse-filter RSS child failed on '{video}' with {decoder}: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", required=True)
    parser.add_argument("--clip", required=True, help="load_clip name")
    parser.add_argument("--decoder", default="pyav")
    parser.add_argument("--chunk-size", type=int, default=64)
    args = parser.parse_args(argv)
    if importlib.util.find_spec("air") is None:  # run from a checkout without `pip install -e .`
        sys.path.insert(0, str(REPO_ROOT))
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    print(json.dumps(run_coarse_filter(args.video, args.clip, args.decoder, args.chunk_size)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
