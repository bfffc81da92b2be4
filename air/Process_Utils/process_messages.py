"""Prompt text for frame analysis and answering, and parsing of the analysis output.

Standard library only. The rubric is our own wording of SPEC.md's 1..5 relevance scale.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FrameScore:
    """The analysis backbone's verdict on one candidate frame.

    score: relevance 1..5, or None when the output held no valid score (never counted as positive).
    reason: the one-sentence justification ("" when absent).
    raw: the backbone's raw output text, kept for the trace.
    """

    score: int | None
    reason: str = ""
    raw: str = ""


ANALYSIS_INSTRUCTIONS = (
    "You are given one frame of a video and a question about the video.\n"
    "Rate how useful this single frame is for answering the question, on a scale from 1 to 5:\n"
    "1 = the frame has nothing to do with the question;\n"
    "2 = the frame gives a weak hint about the surrounding context;\n"
    "3 = the frame shows related context, such as what happens just before or after the asked moment;\n"
    "4 = the frame shows clear evidence for the answer, with some ambiguity left;\n"
    "5 = the frame alone is enough to answer the question without doubt.\n"
    "Reply with exactly two lines and nothing else:\n"
    "Score: <an integer from 1 to 5>\n"
    "Reasoning: <one sentence>"
)


def format_query(question: str, options: list[str] | None = None) -> str:
    """The question with its answer options (lettered A, B, C, ...), as used for CLIP and analysis."""
    question = question.strip()
    if not options:
        return question
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    lines = [f"{letters[i]}. {opt.strip()}" for i, opt in enumerate(options[: len(letters)])]
    return question + "\nOptions:\n" + "\n".join(lines)


def build_analysis_prompt(query: str) -> str:
    """The text that follows the single image in an analysis prompt."""
    return f"{ANALYSIS_INSTRUCTIONS}\n\nQuestion: {query.strip()}"
