"""Benchmark `pixel_bomb_rss_mib`: peak RSS increase while selecting on a 3-frame 16000x16000 video.

    python scripts/benchmarks/pixel_bomb_figures.py [--json PATH]

The video (`air.testing.videos.write_pixel_bomb`: hand-made MJPEG, 3 MB on disk, 256 megapixels per frame)
goes through `H_VPModel.select` with the default AIRConfig in a fresh process (tiny random open_clip, a
stand-in backbone that rates every frame 3): the headline is the growth of the peak RSS (VmHWM) over the
RSS before the call, in MiB (target <= 1024), and `outcome` says whether the video was refused
(max_video_pixels, the default) or selected. With the limit lifted (`max_video_pixels=None`) the same
selection really decodes the 256-megapixel frames: that growth is measured per backend too (details:
a native-size RGB frame alone would be 768 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_common import format_rows, run_cli

REPO_ROOT = Path(__file__).resolve().parents[2]
LIFTED_BACKENDS = ("pyav", "decord")

_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
import numpy as np
from air.base_models.base import Backbone
from air.base_models.clip_model import load_clip
from air.model import AIRConfig, FrameScore, H_VPModel
from air.Process_Utils.process_video import VideoDecodeError


class RatesEverythingThree(Backbone):
    name = "stand-in"

    @classmethod
    def from_pretrained(cls, pretrained, options=None):
        return cls()

    def analyze(self, frames, timestamps_s, query):
        return [FrameScore(3, "stand-in") for _ in frames]

    def answer(self, frames, timestamps_s, prompt, gen_kwargs=None):
        return ""


def rss_mib(field):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":")) / 1024

clip = load_clip({clip!r})
clip.encode_text(["warm-up"])
config = AIRConfig(decoder={decoder!r}, **{overrides!r})
model = H_VPModel(RatesEverythingThree(), clip, config, cache=None)
before = rss_mib("VmRSS")
start = time.perf_counter()
try:
    selection = model.select({video!r}, "What is shown?")
    outcome, detail = "selected", f"{{len(selection.frame_indices)}} frames selected"
except VideoDecodeError as exc:
    outcome, detail = "refused", exc.cause
print(json.dumps({{"growth_mib": rss_mib("VmHWM") - before, "rss_before_mib": before, "outcome": outcome,
                  "detail": detail, "seconds": time.perf_counter() - start}}))
"""


def select_peak_rss(video: str | Path, clip_name: str, *, decoder: str = "pyav", lift_limit: bool = False) -> dict:
    """Run `H_VPModel.select` on `video` in a fresh interpreter (one torch thread); its RSS figures."""
    overrides = {"max_video_pixels": None} if lift_limit else {}
    code = _CHILD.format(root=str(REPO_ROOT), clip=clip_name, decoder=decoder, overrides=overrides, video=str(video))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"Pixel-bomb child failed with {decoder}: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def pixel_bomb_figures(work_dir: str | Path | None = None, *, decoder: str = "pyav",
                       lifted_backends: tuple[str, ...] = LIFTED_BACKENDS) -> dict:
    """The headline (default config) and, per backend, the selection with the limit lifted."""
    from air.testing.tiny_clip import build_tiny_open_clip
    from air.testing.videos import write_pixel_bomb

    with tempfile.TemporaryDirectory(prefix="air-bench-bomb-", dir=work_dir) as tmp:
        tmp = Path(tmp)
        bomb = write_pixel_bomb(tmp / "bomb.mkv")
        clip_name = build_tiny_open_clip(tmp / "tiny-open-clip")
        default = select_peak_rss(bomb.path, clip_name, decoder=decoder)
        lifted = {b: select_peak_rss(bomb.path, clip_name, decoder=b, lift_limit=True) for b in lifted_backends}
        return {
            "pixel_bomb_rss_mib": default["growth_mib"], "outcome": default["outcome"], "detail": default["detail"],
            "seconds": default["seconds"], "lifted": lifted, "video": {"size": list(bomb.size), "frames": bomb.n_frames,
                                                                         "bytes": bomb.path.stat().st_size},
            "decoder": decoder, "target": 1024,
        }


def _table(result: dict) -> str:
    rows = [("pixel_bomb_rss_mib", f"{result['pixel_bomb_rss_mib']:.1f}", f"<= 1024 ({result['outcome']})")]
    rows += [(f"limit lifted, {b}", f"{r['growth_mib']:.1f}", f"{r['outcome']}: {r['detail']}, {r['seconds']:.1f} s")
             for b, r in result["lifted"].items()]
    return format_rows(rows, value_width=8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoder", default="pyav")
    return run_cli(parser, lambda args: pixel_bomb_figures(decoder=args.decoder), _table, argv)


if __name__ == "__main__":
    sys.exit(main())
