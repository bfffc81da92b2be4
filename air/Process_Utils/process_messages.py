"""Prompt text for frame analysis and answering, and parsing of the analysis output.

Standard library only. The rubric is our own wording of SPEC.md's 1..5 relevance scale.
"""

from __future__ import annotations

import re
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


# ---------------------------------------------------------------------------------------------
# Parsing of the analysis output
# ---------------------------------------------------------------------------------------------
#
# Rules (documented here because every backbone relies on them):
# - Markdown emphasis and code marks (`*`, `` ` ``, `__`) and heading marks are ignored, and so is case.
# - A score is searched in three tiers; the first tier that yields a match decides, and inside a
#   tier the first match in the text wins (later scores are ignored, valid or not):
#   1. an explicit label followed by ":" or "=": "Score: 4", "**Score:** 4", "Relevance score = 4",
#      "Rating: [4]", "Score (1-5): 4", JSON `"score": 4`;
#   2. a label in prose: "a score of 4", "the score is 4", "Score 4", "Score - 4";
#   3. a bare number line ("4", "**4**", "4/5", "[4]"), or an answer that starts with the number
#      followed by a separator ("4 - the dog is visible", "4: ...", "4. ..." unless the text is a
#      numbered list).
# - The value may be a digit string, a decimal or a number word (one..five). Decimals count only
#   when integral ("4.0" -> 4, "4.5" -> None). A denominator ("4/5", "4 out of 5") must be 5
#   ("8/10" -> None). A range ("3-4") is ambiguous -> None.
# - Values outside 1..5 (0, 6, 10, -1) make the output unparseable (score None): never clamped.
# - reason: the text after a "Reasoning:" / "Reason:" / "Explanation:" / "Justification:" /
#   "Rationale:" label (the next line when the label ends its line); without such a label, the text
#   left after removing the score. Markdown removed, whitespace collapsed, first sentence only,
#   at most MAX_REASON_CHARS characters.
# - Never raises: any input (even a non-string) gives a FrameScore; raw is the input text.

MAX_REASON_CHARS = 300

_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}

_LABEL = r"\b(?:(?:relevance|relevancy|frame|final|overall)\s+)?(?:scores?|rating)\b"
_PAREN = r"(?:\s*\([^()\n]{0,30}\))?"
_VALUE = (
    r"\s*[\[(<{\"']?\s*"
    r"(?P<value>[+-]?\d+(?:[.,]\d+)?|one|two|three|four|five)"
    r"(?P<range>\s*(?:-|–|—|to)\s*\d)?"
    r"(?:\s*(?:/|out\s+of)\s*(?P<denominator>\d+(?:\.\d+)?))?"
    r"(?![\w.]\d)\s*[\])>}\"']?"
)
_FORMAL = re.compile(_LABEL + _PAREN + r"\s*[\"']?\s*[:=]" + _VALUE, re.IGNORECASE)
_PROSE = re.compile(
    _LABEL
    + _PAREN
    + r"(?:\s+(?:for|of)\s+(?:this|the)\s+(?:frame|image|picture))?"
    + r"(?:\s*[-–—](?=\s)|\s+(?:is|of|would\s+be|will\s+be|should\s+be|of\s+about|at)\b)?"
    + _VALUE,
    re.IGNORECASE,
)
_BARE_LINE = re.compile(
    r"^(?:[ \t>#]|[-+](?=[ \t]))*[\[(<{]?\s*(?P<value>[+-]?\d+(?:\.\d+)?)\s*(?:/\s*(?P<denominator>\d+))?\s*[\])>}]?\s*[.!]?[ \t]*$",
    re.MULTILINE,
)
_LEADING = re.compile(
    r"\A\s*(?P<value>[1-9]\d*(?:\.\d+)?)(?:\s*/\s*(?P<denominator>\d+))?\s*(?:[-–—:,]|\.(?=\s))\s*\S"
)
_NUMBERED_LIST = re.compile(r"^\s*2[.)]\s", re.MULTILINE)
_REASON = re.compile(
    r"\b(?:reasoning|reasons?|explanation|justification|rationale)\b\s*[\"']?\s*(?:[:=]|[-–—](?=\s))[ \t]*",
    re.IGNORECASE,
)
_MARKDOWN = re.compile(r"[*`]+|__+|^[ \t]*#+[ \t]*", re.MULTILINE)
# A sentence ends at . ! or ? after a word of two characters or more, or after a one-character
# word preceded by a space ("is 2."); a leading list number ("1.") and "e.g." do not end one.
_SENTENCE_END = re.compile(r"(?:(?<=\w\w[.!?])|(?<=\s\w[.!?])|(?<=[^\s.][!?]))[\"')\]]?(?=\s|$)")


def _strip_markdown(text: str) -> str:
    return _MARKDOWN.sub("", text)


def _score_value(match: re.Match) -> int | None:
    """The integer 1..5 a score match stands for, or None when it is invalid."""
    groups = match.groupdict()
    if groups.get("range"):
        return None
    denominator = groups.get("denominator")
    if denominator is not None:
        try:
            if float(denominator) != 5.0:
                return None
        except ValueError:
            return None
    token = groups["value"].lower().replace(",", ".")
    if token in _NUMBER_WORDS:
        value = float(_NUMBER_WORDS[token])
    else:
        try:
            value = float(token)
        except ValueError:
            return None
    if not value.is_integer():
        return None
    score = int(value)
    return score if 1 <= score <= 5 else None


def _find_score(text: str) -> tuple[int | None, tuple[int, int] | None]:
    """The score (or None) and the span to cut from the text before reading the reason.

    The span is None when nothing matched, or when the score sat inside a sentence of prose
    (then that sentence stays whole as the reason).
    """
    match = _FORMAL.search(text)
    if match is not None:
        return _score_value(match), match.span()
    match = _PROSE.search(text)
    if match is not None:
        return _score_value(match), None
    match = _BARE_LINE.search(text)
    if match is not None:
        return _score_value(match), match.span()
    match = _LEADING.search(text)
    if match is not None and not _NUMBERED_LIST.search(text):
        # Only the number (and its separator) is removed, the rest is the reason.
        end = match.end() - 1
        return _score_value(match), (match.start(), end)
    return None, None


def _first_sentence(text: str) -> str:
    """Whitespace collapsed, first sentence only, trimmed to MAX_REASON_CHARS."""
    text = " ".join(text.split()).lstrip(" \"'{},;:.-–—").rstrip(" \"'{},;:-–—")
    match = _SENTENCE_END.search(text)
    if match is not None:
        text = text[: match.end()]
    if len(text) > MAX_REASON_CHARS:
        text = text[: MAX_REASON_CHARS - 3].rstrip() + "..."
    return text


def _find_reason(text: str, score_span: tuple[int, int] | None) -> str:
    if score_span is not None:
        text = text[: score_span[0]] + "\n" + text[score_span[1]:]
    match = _REASON.search(text)
    if match is not None:
        rest = text[match.end():]
        line, _, after = rest.partition("\n")
        if not line.strip():
            # "Reasoning:" ends its line: the reason is the next non-empty line.
            line = next((candidate for candidate in after.split("\n") if candidate.strip()), "")
        return _first_sentence(line)
    return _first_sentence(text)


def parse_analysis_output(text: str) -> FrameScore:
    """Read the relevance score (1..5) and the one-sentence reason from an analysis backbone's output.

    Tolerant of case, markdown, chatty text around the answer and the variants listed in the rules
    above this function; an output without a valid score gives score None (never clamped).
    Never raises. raw is the input text unchanged (None gives "", bytes are decoded as UTF-8 with
    replacement, other objects go through str()).
    """
    try:
        if isinstance(text, str):
            raw = text
        elif text is None:
            raw = ""
        elif isinstance(text, (bytes, bytearray)):
            raw = bytes(text).decode("utf-8", errors="replace")
        else:
            raw = str(text)
    except Exception:  # a str() that raises: nothing usable
        return FrameScore(score=None, reason="", raw="")
    try:
        clean = _strip_markdown(raw)
        score, span = _find_score(clean)
        reason = _find_reason(clean, span)
    except Exception:  # defensive: the contract is "never raises"; regexes above should not fail
        return FrameScore(score=None, reason="", raw=raw)
    return FrameScore(score=score, reason=reason, raw=raw)
