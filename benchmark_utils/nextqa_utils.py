"""NExT-QA (lmms-eval tasks nextqa_mc_test, nextqa_oe_val, nextqa_oe_test): question, options, video.

Row schema of lmms-eval/NExTQA: config "MC": video (int), frame_count, width, height, question,
answer (int 0..4), qid, type, a0 .. a4; config "OE": video, frame_count, width, height, question,
answer (str), qid, type, additional_ref_answer (open-ended: no options).
Videos: <HF_HOME>/nextqa/NExTVideo/<video>.mp4 (lmms-eval also accepts .MP4).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from benchmark_utils.common import (
    dataset_dir,
    first_existing,
    option_letter,
    optional_text,
    require_field,
    strip_option_letter,
)

BENCHMARK = "NExT-QA"
CACHE_DIR = "nextqa"
VIDEO_SUBDIR = "NExTVideo"
N_OPTIONS = 5
VIDEO_SUFFIXES = (".mp4", ".MP4")

#: Fields that identify a NExT-QA row, MC or OE (a renamed copy of the task keeps them).
DOC_FIELDS = frozenset({"video", "question", "qid", "type"})


def question_id(doc: Mapping) -> str | None:
    """Return '<video>_<qid>': NExT-QA numbers its questions per video, so qid alone repeats across videos."""
    video, qid = optional_text(doc, "video"), optional_text(doc, "qid")
    return f"{video}_{qid}" if video is not None and qid is not None else None


def question(doc: Mapping) -> str:
    """Return the question of a NExT-QA doc."""
    return str(require_field(doc, "question", BENCHMARK)).strip()


def is_multiple_choice(doc: Mapping) -> bool:
    """True for an MC row (it has a0..a4), False for an open-ended one."""
    return all(f"a{i}" in doc for i in range(N_OPTIONS))


def options(doc: Mapping) -> list[str]:
    """Return a0..a4 of an MC doc (stripped, no letters); [] for an open-ended doc."""
    if not is_multiple_choice(doc):
        return []
    return [strip_option_letter(str(doc[f"a{i}"]), option_letter(i)) for i in range(N_OPTIONS)]


def video_path(doc: Mapping, hf_home: str | None = None) -> str:
    """Return the absolute path of the doc's video; raise MissingVideoError if it is absent."""
    name = str(require_field(doc, "video", BENCHMARK))
    folder = os.path.join(dataset_dir(CACHE_DIR, hf_home), VIDEO_SUBDIR)
    stem = name
    for suffix in VIDEO_SUFFIXES:
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            break
    return first_existing(
        [os.path.join(folder, stem + suffix) for suffix in VIDEO_SUFFIXES],
        benchmark=BENCHMARK,
        doc_label=f"video={name!r} qid={doc.get('qid')!r}",
        hint=f"Expected the NExT-QA videos under {folder} (set HF_HOME to the folder holding '{CACHE_DIR}/').",
    )
