"""EgoSchema (lmms-eval tasks egoschema, egoschema_subset): question, options and video of a raw doc.

Row schema of lmms-eval/egoschema (configs "GENERATION", "Subset", ...; split "test"): question_idx,
question, video_idx, option (list of five "A. ..." strings), answer (index of the right option, as a string).
Videos: <HF_HOME>/egoschema/videos/<video_idx>.mp4 (lmms-eval also accepts .MP4).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from benchmark_utils.common import (
    dataset_dir,
    first_existing,
    optional_text,
    require_field,
    strip_option_letters,
    with_suffixes,
)

BENCHMARK = "EgoSchema"
CACHE_DIR = "egoschema"
VIDEO_SUBDIR = "videos"
VIDEO_SUFFIXES = (".mp4", ".MP4")

#: Fields that identify an EgoSchema row (a renamed copy of the task keeps them).
DOC_FIELDS = frozenset({"video_idx", "question", "option"})


def question_id(doc: Mapping) -> str | None:
    """Return the dataset's id of the question (its question_idx, a UUID), or None."""
    return optional_text(doc, "question_idx")


def question(doc: Mapping) -> str:
    """Return the question of an EgoSchema doc."""
    return str(require_field(doc, "question", BENCHMARK)).strip()


def options(doc: Mapping) -> list[str]:
    """Return the five options without their 'A. ' letters."""
    return strip_option_letters([str(option) for option in require_field(doc, "option", BENCHMARK)])


def video_path(doc: Mapping, hf_home: str | None = None) -> str:
    """Return the absolute path of the doc's video; raise MissingVideoError if it is absent."""
    video_idx = str(require_field(doc, "video_idx", BENCHMARK))
    folder = os.path.join(dataset_dir(CACHE_DIR, hf_home), VIDEO_SUBDIR)
    return first_existing(
        with_suffixes(os.path.join(folder, video_idx), VIDEO_SUFFIXES),
        benchmark=BENCHMARK,
        doc_label=f"video_idx={video_idx!r} question_idx={doc.get('question_idx')!r}",
        hint=f"Expected the EgoSchema videos under {folder} (set HF_HOME to the folder holding '{CACHE_DIR}/').",
    )
