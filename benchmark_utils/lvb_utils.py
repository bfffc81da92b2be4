"""LongVideoBench (lmms-eval tasks longvideobench_val_v, longvideobench_test_v): question, options, video.

Row schema of longvideobench/LongVideoBench (splits "validation", "test"): video_id, id, video_path,
subtitle_path, correct_choice (int), question, option0 .. option4 (unused ones are "N/A"), duration,
duration_group, question_category, topic_category, starting_timestamp_for_subtitles.
Videos: <HF_HOME>/datasets/longvideobench/videos/<video_path>.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from benchmark_utils.common import (
    dataset_dir,
    first_existing,
    optional_text,
    require_field,
)

BENCHMARK = "LongVideoBench"
CACHE_DIR = "datasets/longvideobench"
VIDEO_SUBDIR = "videos"
MAX_OPTIONS = 5
ABSENT = "N/A"

#: Fields that identify a LongVideoBench row (a renamed copy of the task keeps them).
DOC_FIELDS = frozenset({"video_path", "question", "correct_choice", "option0"})


def question_id(doc: Mapping) -> str | None:
    """Return the dataset's id of the question ('86CxyhFV9MI_0'), or None."""
    return optional_text(doc, "id")


def question(doc: Mapping) -> str:
    """Return the question of a LongVideoBench doc."""
    return str(require_field(doc, "question", BENCHMARK)).strip()


def options(doc: Mapping) -> list[str]:
    """Return option0..option4 in order, skipping the 'N/A' (or missing) ones, as lmms-eval's prompt does."""
    found = []
    for i in range(MAX_OPTIONS):
        value = doc.get(f"option{i}")
        if value is None or str(value).strip() == ABSENT:
            continue
        found.append(str(value).strip())
    if not found:
        raise KeyError(f"Invalid {BENCHMARK} doc: no option0..option4 field. The doc has: {sorted(doc.keys())}.")
    return found


def video_path(doc: Mapping, hf_home: str | None = None) -> str:
    """Return the absolute path of the doc's video; raise MissingVideoError if it is absent."""
    relative = str(require_field(doc, "video_path", BENCHMARK))
    folder = os.path.join(dataset_dir(CACHE_DIR, hf_home), VIDEO_SUBDIR)
    return first_existing(
        [os.path.join(folder, relative)],
        benchmark=BENCHMARK,
        doc_label=f"video_path={relative!r} id={doc.get('id')!r}",
        hint=f"Expected the LongVideoBench videos under {folder} (set HF_HOME to the folder holding '{CACHE_DIR}/').",
    )
