"""Benchmark `coarse_filter_vs_sum`: the coarse filter with decoding overlapped with CLIP encoding, against
the sum of the two stages run alone.

    python scripts/benchmarks/overlap_figures.py [--duration-s 120] [--size 1280x720] [--json PATH]

The coarse filter is `VideoSimilarity(reader, encoder, query).frame_features(1-FPS samples)`: one worker
thread decodes chunks of frames (prepared as the default clip_resize=crop: short side to 224, centre
crop) while the encoder embeds the previous chunk. The encoder is a real-size open_clip ViT-B-32 with
random weights (`open_clip.create_model("ViT-B-32", pretrained=None)`, built offline), so encoding costs
what it costs with trained weights. Times, each the median of `repeats` interleaved runs:
- pipelined: open the video + the coarse filter above;
- decode alone: open the video + the same decoding (same sizes, crop and chunks), nothing encoded;
- encode alone: the same frames, decoded beforehand, embedded chunk by chunk.
coarse_filter_vs_sum = pipelined / (decode alone + encode alone) (target <= 0.8). No overlap can beat
max(decode, encode): that floor, `ideal` = max / sum, is reported beside it (when one stage dominates,
e.g. a CPU encoder 30 times slower than decoding, the floor itself is above the target).
Cores: in real use the encoder runs on a GPU while the CPU decodes. On a CPU-only machine each stage is
given half of the cores this process may use (torch threads for the encoder, decode_threads for the
decoder), the same in the three measurements, so that the pipelined run can only gain by running the two
stages at the same time; both counts are recorded.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from bench_common import check_at_least_one, format_rows, run_cli, vit_b32_encoder

QUERY = "What colour is the square that appears in the middle of the video?"
CHUNK = 64


def _decode_alone(video: Path, encoder, decoder: str, threads: int) -> tuple[float, list[np.ndarray]]:
    """Seconds to open and decode the 1-FPS samples as the coarse filter does, and the chunks decoded."""
    from air.base_models.utils.video_similarity import clip_preparation, resolve_resize
    from air.Process_Utils.process_video import open_video, sample_indices

    start = time.perf_counter()
    chunks = []
    with open_video(video, decoder=decoder, decode_threads=threads) as reader:
        size, transform = clip_preparation(reader.width, reader.height, encoder.image_size,
                                           resolve_resize("crop", encoder))  # VideoSimilarity's default
        for frames, _ in reader.iter_chunks(sample_indices(reader.n_frames, reader.fps, 1.0), size=size,
                                            chunk_size=CHUNK):
            chunks.append(transform(frames) if transform else frames)
    return time.perf_counter() - start, chunks


def _encode_alone(encoder, chunks: list[np.ndarray]) -> float:
    start = time.perf_counter()
    for frames in chunks:
        encoder.encode_frames(frames, progress=False)
    return time.perf_counter() - start


def _pipelined(video: Path, encoder, decoder: str, threads: int) -> tuple[float, dict]:
    from air.base_models.utils.video_similarity import VideoSimilarity
    from air.Process_Utils.process_video import open_video, sample_indices

    start = time.perf_counter()
    with open_video(video, decoder=decoder, decode_threads=threads) as reader:
        sim = VideoSimilarity(reader, encoder, QUERY, cache=None, chunk_size=CHUNK)
        feats = sim.frame_features(sample_indices(reader.n_frames, reader.fps, 1.0))
    elapsed = time.perf_counter() - start
    if not np.all(np.isfinite(feats)):
        raise RuntimeError(f"The coarse filter on '{video}' gave non-finite features.")
    return elapsed, sim.timings_s


def coarse_filter_vs_sum(video: str | Path, *, encoder=None, decoder: str = "pyav", repeats: int = 3,
                         torch_threads: int | None = None, decode_threads: int | None = None) -> dict:
    """Measure the three times on `video` (see the module docstring); return the JSON-ready figures.

    torch_threads / decode_threads: the encoder's and the decoder's threads (default: half of the cores
    this process may use each, at least one).
    """
    import torch

    from air.Process_Utils.process_video import default_decode_threads

    check_at_least_one("repeats", repeats)
    cores = default_decode_threads()
    torch_threads = torch_threads or max(1, cores // 2)
    decode_threads = decode_threads or max(1, cores - torch_threads)
    encoder = encoder or vit_b32_encoder()
    video = Path(video)
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(torch_threads)
    try:
        _, chunks = _decode_alone(video, encoder, decoder, decode_threads)  # warm-up: file cache, model, pools
        encoder.encode_frames(chunks[0][:2], progress=False)
        runs = {"pipelined": [], "decode": [], "encode": []}
        timings = None
        for _ in range(repeats):
            seconds, timings = _pipelined(video, encoder, decoder, decode_threads)
            runs["pipelined"].append(seconds)
            seconds, chunks = _decode_alone(video, encoder, decoder, decode_threads)
            runs["decode"].append(seconds)
            runs["encode"].append(_encode_alone(encoder, chunks))
    finally:
        torch.set_num_threads(saved_threads)
    med = {k: statistics.median(v) for k, v in runs.items()}
    total = med["decode"] + med["encode"]
    return {
        "coarse_filter_vs_sum": med["pipelined"] / total,
        "ideal": max(med["decode"], med["encode"]) / total,
        "pipelined_s": med["pipelined"], "decode_s": med["decode"], "encode_s": med["encode"],
        "runs_s": {k: [round(x, 4) for x in v] for k, v in runs.items()},
        "frames": int(sum(len(c) for c in chunks)), "pipelined_timings_s": {k: round(v, 4) for k, v in timings.items()},
        "encoder": encoder.name, "image_size": encoder.image_size, "decoder": decoder, "repeats": repeats,
        "torch_threads": torch_threads, "decode_threads": decode_threads, "target": 0.8,
    }


def _table(result: dict) -> str:
    rows = [("coarse_filter_vs_sum", f"{result['coarse_filter_vs_sum']:.4f}", "<= 0.8"),
            ("ideal (max / sum)", f"{result['ideal']:.4f}", "the floor of any overlap"),
            ("pipelined (s)", f"{result['pipelined_s']:.2f}", ""),
            ("decode alone (s)", f"{result['decode_s']:.2f}", ""),
            ("encode alone (s)", f"{result['encode_s']:.2f}", f"{result['frames']} frames, {result['encoder']}")]
    return format_rows(rows, value_width=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=120.0)
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT of the generated video")
    parser.add_argument("--decoder", default="pyav")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=None)

    def run(args):
        import tempfile

        import decode_figures

        width, height = (int(v) for v in args.size.lower().split("x"))
        work = args.work_dir or Path(tempfile.gettempdir()) / "air_bench_pipeline"
        meta = decode_figures.ensure_video(work, args.duration_s, (width, height), 30.0)
        return coarse_filter_vs_sum(meta["path"], decoder=args.decoder, repeats=args.repeats)

    return run_cli(parser, run, _table, argv)


if __name__ == "__main__":
    sys.exit(main())
