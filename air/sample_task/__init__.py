"""The offline sample task `air_sample`: a few generated videos with multiple-choice questions.

Pass its folder to lmms-eval with `--include_path $(python -m air sample-task-path)`. The videos are
generated on first use (not shipped): each shows coloured segments, and every question asks about a
segment visible only in one part of the video.
"""

from __future__ import annotations

import os
from pathlib import Path

TASK_NAME = "air_sample"


def task_dir() -> Path:
    """The folder holding air_sample.yaml (what --include_path takes)."""
    return Path(__file__).resolve().parent


def video_dir() -> Path:
    """Where sample videos are generated: $AIR_SAMPLE_VIDEO_DIR or ~/.cache/air/sample_videos."""
    root = os.environ.get("AIR_SAMPLE_VIDEO_DIR") or os.path.join(Path.home(), ".cache", "air", "sample_videos")
    return Path(root)
