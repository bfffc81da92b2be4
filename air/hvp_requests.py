"""How the lmms-eval models of this package read one request: video, question, options, prompt, ids.

`Sample` is one generate_until request made ready for answering. The doc is read through
`benchmark_utils.recognise_task` (name, config metadata or doc fields); an unknown task falls back to
parsing the question and options out of the context string. No torch, no lmms-eval imports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from benchmark_utils import TaskRecognition

#: Dataset fields that identify a question when the task is not recognised (in this order).
#: Recognised tasks use their helper's question_id (EgoSchema question_idx, NExT-QA "<video>_<qid>").
QUESTION_ID_FIELDS = ("question_id", "question_idx", "qid", "uid", "id")


@dataclass(frozen=True)
class Sample:
    """One request ready to answer.

    prompt: the task's context, or for Video-MME with subtitles a function of the chosen frames (an
    object with frame_indices, fps, timestamps_s) that returns the prompt with the subtitles shown
    at those frames. gen_kwargs: the task's generation kwargs (max_new_tokens filled in if asked).
    """

    task: str
    doc_id: Any
    split: str
    video: str
    question: str
    options: list[str]
    prompt: str | Callable[[Any], str]
    gen_kwargs: dict = field(default_factory=dict)
    question_id: str | None = None


def question_id(doc: Any, recognition: TaskRecognition | None = None) -> str | None:
    """The dataset's own id of the question, for exports that must match other methods' selections."""
    module = recognition.module() if recognition is not None else None
    if module is not None:
        return module.question_id(doc)
    for key in QUESTION_ID_FIELDS:
        try:
            value = doc[key]
        except (KeyError, TypeError, IndexError):
            continue
        if value is not None and str(value) != "":
            return str(value)
    return None


def video_path(visuals: Any) -> str:
    """The one video path a doc_to_visual returned (a list with a str path, or a str)."""
    if isinstance(visuals, str):
        return visuals
    items = list(visuals or [])
    paths = [v for v in items if isinstance(v, str)]
    if not paths:
        raise ValueError(
            f"Invalid doc_to_visual output: {[type(v).__name__ for v in items]}. Expected a list holding a video path."
        )
    return paths[0]


def question_options(recognition: TaskRecognition, doc: Mapping, context: str) -> tuple[str, list[str]]:
    """(question, options without letters): from the doc's fields when recognised, else parsed from context."""
    module = recognition.module()
    if module is not None:
        return module.question(doc), module.options(doc)
    from air.Process_Utils.process_messages import extract_question_options

    return extract_question_options(context)
