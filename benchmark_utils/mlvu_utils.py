"""MLVU (lmms-eval tasks mlvu_dev, mlvu_test): question, options and video of a raw doc.

Row schema of sy1998/MLVU_dev and sy1998/MLVU_Test (split "test"): video_name, duration, question (the
question followed by its options on their own lines, "(A) ..."), candidates (list of option texts),
answer, task_type, question_id.
Videos: <HF_HOME>/mlvu/<video_name> for dev, <HF_HOME>/mlvu_test/<video_name> for test.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from benchmark_utils.common import (
    dataset_dir,
    first_existing,
    optional_text,
    require_field,
    split_inline_options,
    strip_option_letters,
)

BENCHMARK = "MLVU"
CACHE_DIRS = {"dev": "mlvu", "test": "mlvu_test"}

#: Fields that identify an MLVU row (a renamed copy of the task keeps them).
DOC_FIELDS = frozenset({"video_name", "question", "task_type"})


def question_id(doc: Mapping) -> str | None:
    """Return the dataset's id of the question ('plotQA_0'), or None."""
    return optional_text(doc, "question_id")


def question(doc: Mapping) -> str:
    """Return the question of an MLVU doc without the option lines that the dataset appends to it."""
    text, _ = split_inline_options(str(require_field(doc, "question", BENCHMARK)))
    return text


def options(doc: Mapping) -> list[str]:
    """Return the options without letters: the doc's candidates, else the option lines of the question."""
    candidates = doc.get("candidates") if isinstance(doc, Mapping) else None
    if candidates:
        return strip_option_letters([str(candidate) for candidate in candidates])
    _, inline = split_inline_options(str(require_field(doc, "question", BENCHMARK)))
    return inline


def video_path(doc: Mapping, hf_home: str | None = None, split: str = "dev") -> str:
    """Return the absolute path of the doc's video for split 'dev' or 'test'; raise MissingVideoError if absent."""
    if split not in CACHE_DIRS:
        raise ValueError(f"Invalid MLVU split: {split!r}. Expected one of {sorted(CACHE_DIRS)}.")
    name = str(require_field(doc, "video_name", BENCHMARK))
    folder = dataset_dir(CACHE_DIRS[split], hf_home)
    return first_existing(
        [os.path.join(folder, name)],
        benchmark=f"{BENCHMARK} {split}",
        doc_label=f"video_name={name!r} question_id={doc.get('question_id')!r}",
        hint=f"Expected the MLVU {split} videos under {folder} (set HF_HOME to the folder holding '{CACHE_DIRS[split]}/').",
    )
