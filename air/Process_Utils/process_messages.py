"""Prompt text for frame analysis and answering, parsing of the analysis output, and question/options
extraction from lmms-eval context strings.

Standard library only. The analysis prompt is our own wording of the paper's (SPEC.md Stage 2.3).
Public: FrameScore, ANALYSIS_PROMPT_VERSION, ANALYSIS_INSTRUCTIONS, format_query, build_analysis_prompt,
parse_analysis_output, extract_question_options, timestamp_prefix.
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


#: Version of the analysis prompt below; traces and resume fingerprints record it, so a changed prompt
#: is never mistaken for the old one. Bump it whenever the wording changes.
ANALYSIS_PROMPT_VERSION = 2

# Our wording of every element of the paper's analysis prompt (A.2.5; SPEC.md Stage 2.3): the expert
# role, step-by-step matching of the one image to the question, the 1..5 rubric, "do not overthink",
# two one-line examples and the two-line output format. The examples say "-> 1" rather than
# "Score: 1" so that a model echoing the prompt never yields a score.
ANALYSIS_INSTRUCTIONS = (
    "You are an expert visual reasoner. You are given one frame of a video and a question about the video.\n"
    "Think step by step about how well this single image matches what the question asks, then rate how "
    "useful it is for answering the question, on a scale from 1 to 5:\n"
    "1 = unrelated: the frame has nothing to do with the question;\n"
    "2 = weak hint: the frame only gives a little context around the question;\n"
    "3 = related context: the frame shows the set-up or the follow-up of the moment the question asks about;\n"
    "4 = clear evidence: the frame shows evidence for the answer, with some ambiguity left;\n"
    "5 = sufficient evidence: the frame alone answers the question without any ambiguity.\n"
    "Do not overthink it: trust your first judgment.\n"
    "Example: the question asks what a person is doing and the frame shows an empty room -> 1.\n"
    "Example: the frame shows exactly the action the question asks about -> 5.\n"
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
#   ("8/10" -> None). A range ("3-4") is ambiguous -> None. A number glued to letters ("4th") is not
#   a score value (the search goes on).
# - Values outside 1..5 (0, 6, 10, -1) make the output unparseable (score None): never clamped.
# - reason: the text after a "Reasoning:" / "Reason:" / "Explanation:" / "Justification:" /
#   "Rationale:" label (the next line when the label ends its line); without such a label, the text
#   left after removing the score (a score read from prose stays in its sentence). Markdown removed, whitespace collapsed, first sentence only,
#   at most MAX_REASON_CHARS characters.
# - Never raises: any input (even a non-string) gives a FrameScore; raw is the input text.

MAX_REASON_CHARS = 300

_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}

# "score" only in the singular: "the team scores 2 goals" is not a rating.
_LABEL = r"\b(?:(?:relevance|relevancy|frame|final|overall)\s+)?(?:score|rating)\b"
_PAREN = r"(?:\s*\([^()\n]{0,30}\))?"
# The value may sit on the line after its label; a range or a denominator must be on the same line.
_VALUE = (
    r"\s*[\[(<{\"']?\s*"
    r"(?P<value>[+-]?\d+(?:[.,]\d+)?|(?:one|two|three|four|five)\b)"
    r"(?P<range>[ \t]*(?:-|–|—|to)[ \t]*\d)?"
    r"(?:[ \t]*(?:/|out[ \t]+of)[ \t]*(?P<denominator>\d+(?:\.\d+)?))?"
    r"(?![\w.]\d)(?![^\W\d])[ \t]*[\])>}\"']?"
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


_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")


def _strip_markdown(text: str) -> str:
    return _MARKDOWN.sub("", text)


def _normalize_space(text: str) -> str:
    """Newlines unified to "\n", each line stripped with inner whitespace runs made one space, runs of
    empty lines made one. Keeps every later regex linear: no long whitespace runs are left."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for line in lines:
        line = _HORIZONTAL_SPACE.sub(" ", line).strip()
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept)


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
        clean = _normalize_space(_strip_markdown(raw))
        score, span = _find_score(clean)
        reason = _find_reason(clean, span)
    except Exception:  # defensive: the contract is "never raises"; regexes above should not fail
        return FrameScore(score=None, reason="", raw=raw)
    return FrameScore(score=score, reason=reason, raw=raw)


# ---------------------------------------------------------------------------------------------
# Question and options from an lmms-eval context string
# ---------------------------------------------------------------------------------------------
#
# Layouts handled (as built by lmms-eval 0.7's task utils):
# - Video-MME:  "Select the best answer ...\n<question>\nA. ...\nB. ...\n...\nAnswer with the option's
#   letter from the given choices directly."  (also the subtitle variant, whose "This video's subtitles
#   are listed below:" block is dropped, and the Qwen3-VL variant "Question: ...\nOptions:\nA. ...").
# - MLVU:       "<question>\n(A) ...\n(B) ...\n\nOnly give the best option.\nBest option: (" and
#   "Question: ...\nOptions:\n(A) ...".
# - LongVideoBench, NExT-QA (mc), EgoSchema: "<question>\nA. ...\nB. ...\n<instruction>".
# Option lines are "A. x", "A) x", "A: x" or "(A) x"; the first run of consecutive letters from A with
# at least two options is the option list (letters removed). The question is the text before it:
# from a "Question:" marker when there is one, else the last paragraph (blank lines and removed
# instruction lines separate paragraphs). Known instruction sentences are removed wherever they are,
# and so are image placeholders ("<image>", "<video>"). Without options the question is the whole text
# with the instructions removed, and the option list is empty.

_INSTRUCTIONS = [
    r"Select the best answer to the following multiple-choice question[^\n]*?(?:correct option\.|$)",
    r"Respond with only the letter[^\n]*?(?:correct option\.|$)",
    r"Answer with the option'?s letter from the given choices directly\.?",
    r"Answer with the option letter only\.?",
    r"Answer the question with A, B, C,? (?:or|and) D\.?",
    r"Answer the question using a single word or phrase\.?",
    r"Answer a question using a short phrase or sentence\.?",
    r"Please answer the question about the video:?",
    r"Only give the best option\.?",
    r"Best option:\s*\(?",
    r"The best answer is:?",
]
_INSTRUCTION = re.compile(r"(?:" + "|".join(_INSTRUCTIONS) + r")", re.IGNORECASE | re.MULTILINE)
_PLACEHOLDER = re.compile(r"<(?:image|video)>", re.IGNORECASE)
_SUBTITLE_HEADER = re.compile(r"^\s*This video's subtitles are listed below:?\s*$", re.IGNORECASE)
_OPTION_LINE = re.compile(r"^\s*(?:\((?P<paren>[A-Z])\)|(?P<plain>[A-Z])[.:)])\s*(?P<text>\S.*?)\s*$")
_QUESTION_MARK = re.compile(r"^\s*Question\s*:\s*", re.IGNORECASE)
_OPTIONS_LABEL = re.compile(r"^\s*(?:Options|Choices)\s*:?\s*$", re.IGNORECASE)
_INLINE_OPTION = re.compile(r"\(([A-Z])\)\s*")
_REMOVED = "\x00"  # marks a line that held only an instruction (it separates paragraphs)


def _drop_subtitle_block(lines: list[str]) -> list[str]:
    """Lines without a Video-MME subtitle block (header up to the instruction or "Question:" line)."""
    for start, line in enumerate(lines):
        if _SUBTITLE_HEADER.match(line):
            for end in range(start + 1, len(lines)):
                if _INSTRUCTION.match(lines[end].strip()) or _QUESTION_MARK.match(lines[end]):
                    return lines[:start] + lines[end:]
            return lines[:start] + lines[start + 1 :]
    return lines


def _option_block(lines: list[str]) -> tuple[int, int, list[str]] | None:
    """(first line, line after the block, option texts) of the first A, B, ... run of >= 2 options."""
    for start, line in enumerate(lines):
        match = _OPTION_LINE.match(line)
        if match is None or (match["paren"] or match["plain"]) != "A":
            continue
        options = [match["text"]]
        end = start + 1
        index = end
        while index < len(lines):
            if not lines[index].strip():
                index += 1
                continue
            following = _OPTION_LINE.match(lines[index])
            if following is None or (following["paren"] or following["plain"]) != chr(ord("A") + len(options)):
                break
            options.append(following["text"])
            index += 1
            end = index
        if len(options) >= 2:
            return start, end, options
    return None


def _inline_options(text: str) -> tuple[str, list[str]] | None:
    """Question and options when they sit on one line: "Which one? (A) x (B) y (C) z"."""
    marks = list(_INLINE_OPTION.finditer(text))
    for first, mark in enumerate(marks):
        if mark[1] != "A":
            continue
        run = [mark]
        index = first + 1
        while index < len(marks) and marks[index][1] == chr(ord("A") + len(run)):
            run.append(marks[index])
            index += 1
        if len(run) < 2:
            continue
        options = []
        for k, item in enumerate(run):
            stop = run[k + 1].start() if k + 1 < len(run) else len(text)
            options.append(text[item.end() : stop].strip().rstrip(",;"))
        if all(options):
            return text[: run[0].start()].strip(), options
    return None


def _clean_question(lines: list[str]) -> str:
    """The question from the lines before the options (or all lines when there are none)."""
    marked = [index for index, line in enumerate(lines) if _QUESTION_MARK.match(line)]
    if marked:
        lines = lines[marked[-1] :]
        lines[0] = _QUESTION_MARK.sub("", lines[0], count=1)
    kept = [line for line in lines if line != _REMOVED and not _OPTIONS_LABEL.match(line)]
    return "\n".join(line.strip() for line in kept if line.strip())


def extract_question_options(context: str) -> tuple[str, list[str]]:
    """The question and its answer options (without letters) from an lmms-eval context string.

    Instructions such as "Answer with the option's letter ..." are removed; when no options are found
    the option list is empty and the question is the remaining text. Never raises on a string.
    """
    text = str(context).replace("\r\n", "\n").replace("\r", "\n")
    # Placeholders become empty lines (paragraph breaks), then whitespace is normalised line by line.
    text = _PLACEHOLDER.sub("\n", text)
    lines = [_HORIZONTAL_SPACE.sub(" ", line).strip() for line in text.split("\n")]
    lines = _drop_subtitle_block(lines)
    stripped = []
    for line in lines:
        cleaned = _INSTRUCTION.sub("", line)
        if cleaned.strip() or not line.strip():
            stripped.append(cleaned)
        else:
            stripped.append(_REMOVED)
    block = _option_block(stripped)
    if block is not None:
        start, _, options = block
        before = stripped[:start]
        marked = any(_QUESTION_MARK.match(line) for line in before)
        if not marked:
            # Last paragraph: after the last blank or removed-instruction line.
            breaks = [i for i, line in enumerate(before) if line == _REMOVED or not line.strip()]
            cut = 0
            for index in reversed(breaks):
                if any(line.strip() and line != _REMOVED for line in before[index + 1 :]):
                    cut = index + 1
                    break
            before = before[cut:]
        return _clean_question(before), options
    question = _clean_question(stripped)
    inline = _inline_options(" ".join(question.split("\n")))
    if inline is not None and inline[0]:
        return inline
    return question, []


def timestamp_prefix(timestamps_s) -> str:
    """A sentence naming the sampling times, for backbones that cannot take timestamps natively.

    timestamps_s: iterable of float seconds, one per frame in prompt order.
    Returns e.g. "The video frames were sampled at 1.0s, 3.5s, 7.0s." ("" for no frames).
    """
    times = [f"{float(t):.1f}s" for t in timestamps_s]
    if not times:
        return ""
    return "The video frames were sampled at " + ", ".join(times) + "."
