"""Images of the report, written into its side folder: thumbnail strips and `air plot` figures.

- One JPEG strip per (sample, run): the selected frames side by side, THUMB_HEIGHT pixels high (at most
  MAX_STRIP of them, evenly spread), read from the video with `open_video(path)`; one video is opened
  once for all its samples.
- One PNG per drawn figure: `air.plotting.plot_trace` exactly as `air plot` draws it.
File names are hashes of everything that shapes the image (video file identity, frames, trace, plotting
code), never names from the trace: an unchanged image is reused, a changed one gets a new name, and
nothing is written outside the side folder. Work runs in `jobs` worker processes (spawned, so no
decoder or plotting state is shared); one failing video or figure is reported and skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from air.safe_files import atomic_writer

logger = logging.getLogger(__name__)

THUMB_HEIGHT = 54
MAX_THUMB_WIDTH = 128
MAX_STRIP = 64
JPEG_QUALITY = 70
FIGURE_DPI = 100
MEDIA_VERSION = "1"  # bump when the way images are made changes without a change of their inputs
_OWN_FILE = re.compile(r"^(th|fig)-[0-9a-f]{24}\.(jpg|png)$")


@dataclass
class ThumbJob:
    """Thumbnail strips of one video: (frame indices, output path) per strip."""

    video: str
    strips: list[tuple[list[int], Path]] = field(default_factory=list)


@dataclass
class FigureJob:
    record: dict
    video: str | None
    path: Path


def _digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def _file_identity(path: str | None) -> list:
    if not path:
        return []
    stat = os.stat(path)
    return [os.path.realpath(path), stat.st_size, stat.st_mtime_ns]


def strip_frames(frames: list[int]) -> list[int]:
    """The frames shown as thumbnails: all of them, or MAX_STRIP evenly spread over the list."""
    from air.plotting import _sheet_frames

    return _sheet_frames(list(frames), MAX_STRIP)


def thumb_name(video: str, frames: list[int]) -> str:
    return f"th-{_digest('thumbs', MEDIA_VERSION, _file_identity(video), frames, THUMB_HEIGHT, MAX_THUMB_WIDTH, JPEG_QUALITY)}.jpg"


_PLOTTING_HASH: str | None = None


def _plotting_hash() -> str:
    """Hash of the plotting code: a changed figure layout draws every figure anew."""
    global _PLOTTING_HASH
    if _PLOTTING_HASH is None:
        import air.plotting

        _PLOTTING_HASH = hashlib.sha1(Path(air.plotting.__file__).read_bytes()).hexdigest()
    return _PLOTTING_HASH


def figure_name(record: dict, video: str | None) -> str:
    return f"fig-{_digest('figure', MEDIA_VERSION, _plotting_hash(), FIGURE_DPI, record, _file_identity(video))}.png"


def _write_strip(frames, path: Path) -> None:
    import numpy as np
    from PIL import Image

    strip = np.concatenate(list(frames), axis=1)
    with atomic_writer(path, text=False, fsync=False) as handle:  # a lost thumbnail is made again next time
        Image.fromarray(strip).save(handle, format="JPEG", quality=JPEG_QUALITY, optimize=True)


def make_thumbs(job: ThumbJob) -> list[tuple[str, str | None]]:
    """Write the strips of one video; [(path, error or None)] per strip. Never raises.

    The frames of all strips are decoded together, in time order, once each: questions on the same
    video share frames and neighbouring frames share decoding work.
    """
    import numpy as np

    from air.Process_Utils.process_video import open_video

    try:
        reader = open_video(job.video)
    except Exception as exc:  # noqa: BLE001 - reported per strip, the report goes on
        return [(str(path), f"{type(exc).__name__}: {exc}") for _, path in job.strips]
    out = []
    with reader:
        width = max(2, min(MAX_THUMB_WIDTH, round(THUMB_HEIGHT * reader.width / max(1, reader.height))))
        wanted = sorted({int(f) for frames, _ in job.strips for f in frames if 0 <= int(f) < reader.n_frames})
        images: dict[int, np.ndarray] = {}
        failed: dict[int, str] = {}
        for start in range(0, len(wanted), 256):
            chunk = wanted[start : start + 256]
            try:
                decoded, _ = reader.read(chunk, size=(width, THUMB_HEIGHT))
                images.update(zip(chunk, decoded))
            except Exception as exc:  # noqa: BLE001 - e.g. a truncated file: the strips it touches say why
                failed.update(dict.fromkeys(chunk, f"{type(exc).__name__}: {exc}"))
        for frames, path in job.strips:
            missing = [int(f) for f in frames if int(f) not in images]
            if missing:
                out.append((str(path), failed.get(missing[0]) or
                            f"frame {missing[0]} is outside the video ({reader.n_frames} frames): "
                            "was the video replaced after the run?"))
                continue
            try:
                _write_strip([images[int(f)] for f in frames], path)
                out.append((str(path), None))
            except Exception as exc:  # noqa: BLE001
                out.append((str(path), f"{type(exc).__name__}: {exc}"))
    return out


def make_figure(job: FigureJob) -> list[tuple[str, str | None]]:
    """Draw one `air plot` figure; [(path, error or None)]. Never raises."""
    try:
        from air.plotting import plot_trace

        plot_trace(job.record, job.path, video=job.video, dpi=FIGURE_DPI)  # written atomically
        return [(str(job.path), None)]
    except Exception as exc:  # noqa: BLE001
        return [(str(job.path), f"{type(exc).__name__}: {exc}")]


def run_jobs(thumb_jobs: list[ThumbJob], figure_jobs: list[FigureJob], jobs: int = 1) -> dict[str, str | None]:
    """Make every image that does not exist yet; {path: error or None} for those made now.

    jobs: worker processes (1 = in this process). Progress bars go to stderr.
    """
    from tqdm import tqdm

    work: list[tuple[Any, Any, int]] = []
    for job in thumb_jobs:
        todo = [(frames, path) for frames, path in job.strips if not path.exists()]
        if todo:
            work.append((make_thumbs, ThumbJob(job.video, todo), len(todo)))
    work += [(make_figure, job, 1) for job in figure_jobs if not job.path.exists()]
    if not work:
        return {}
    results: dict[str, str | None] = {}
    total = sum(n for _, _, n in work)
    with tqdm(total=total, desc="air report: images", unit="img", disable=None, dynamic_ncols=True) as bar:
        if jobs <= 1 or len(work) == 1:
            for fn, job, n in work:
                results.update(fn(job))
                bar.update(n)
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(jobs, len(work)), mp_context=context) as pool:
                futures = {pool.submit(fn, job): n for fn, job, n in work}
                for future in as_completed(futures):
                    results.update(future.result())
                    bar.update(futures[future])
    for path, error in results.items():
        if error:
            logger.warning("air report: could not make %s: %s", path, error)
    return results


def prune(folder: Path, keep: set[str]) -> int:
    """Delete this module's images in `folder` that the new page no longer links; returns how many."""
    removed = 0
    if not folder.is_dir():
        return 0
    for path in folder.iterdir():
        if _OWN_FILE.match(path.name) and path.name not in keep:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of an image file, reading only its header."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size
    except Exception:  # noqa: BLE001
        return None
