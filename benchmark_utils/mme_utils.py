"""Video-MME (lmms-eval tasks videomme, videomme_long, videomme_w_subtitle): question, options, video, subtitles.

Row schema of lmms-eval/Video-MME (split "test"): video_id, duration, domain, sub_category, url, videoID,
question_id, task_type, question, options (list of "A. ..." strings), answer (a letter).
Videos: <HF_HOME>/videomme/data/<videoID>.mp4 (lmms-eval also accepts .MP4 and .mkv).
Subtitles: <HF_HOME>/videomme/subtitle/<videoID>.srt.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from benchmark_utils.common import (
    dataset_dir,
    first_existing,
    optional_text,
    require_field,
    strip_option_letters,
    with_suffixes,
)

BENCHMARK = "Video-MME"
CACHE_DIR = "videomme"
VIDEO_SUFFIXES = (".mp4", ".MP4", ".mkv")

SUBTITLES_HEADER = "This video's subtitles are listed below: \n"
NO_SUBTITLES = "No subtitles available"
OPTION_PROMPT = (
    "Select the best answer to the following multiple-choice question based on the video and the subtitles. "
    "Respond with only the letter (A, B, C, or D) of the correct option."
)
ANSWER_CUE = "The best answer is:"

#: Fields that identify a Video-MME row (a renamed copy of the task keeps them).
DOC_FIELDS = frozenset({"videoID", "question", "options"})

_TIME = re.compile(r"^(?:(?P<h>\d+):)?(?P<m>\d{1,2}):(?P<s>\d{1,2})(?:[,.](?P<ms>\d{1,3}))?$")
_FONT = re.compile(r"<font\b[^>]*>(.*?)</font>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_BLANK_LINES = re.compile(r"\n[ \t]*\n")


class Cue(NamedTuple):
    """One subtitle cue: shown for start_s <= t < end_s (seconds, float)."""

    start_s: float
    end_s: float
    text: str


def question_id(doc: Mapping) -> str | None:
    """Return the dataset's id of the question ('001-1'), or None."""
    return optional_text(doc, "question_id")


def question(doc: Mapping) -> str:
    """Return the question text of a Video-MME doc (without options)."""
    return str(require_field(doc, "question", BENCHMARK)).strip()


def options(doc: Mapping) -> list[str]:
    """Return the answer options of a Video-MME doc without their 'A. ' letters."""
    return strip_option_letters(list(require_field(doc, "options", BENCHMARK)))


def video_path(doc: Mapping, hf_home: str | None = None) -> str:
    """Return the absolute path of the doc's video; raise MissingVideoError naming the paths tried."""
    video_id = str(require_field(doc, "videoID", BENCHMARK))
    folder = os.path.join(dataset_dir(CACHE_DIR, hf_home), "data")
    return first_existing(
        with_suffixes(os.path.join(folder, video_id), VIDEO_SUFFIXES),
        benchmark=BENCHMARK,
        doc_label=f"videoID={video_id!r} question_id={doc.get('question_id')!r}",
        hint=f"Expected the Video-MME videos under {folder} (set HF_HOME to the folder holding '{CACHE_DIR}/').",
    )


def subtitle_path(doc: Mapping, hf_home: str | None = None) -> str:
    """Return where lmms-eval looks for the doc's .srt file (it may not exist)."""
    video_id = str(require_field(doc, "videoID", BENCHMARK))
    return os.path.join(dataset_dir(CACHE_DIR, hf_home), "subtitle", video_id + ".srt")


def parse_srt_time(text: str) -> float:
    """Parse an SRT time such as '00:01:02,345' (also '.' for the milliseconds, or no hours) into seconds."""
    match = _TIME.match(text.strip())
    if match is None:
        raise ValueError(f"Invalid subtitle time: {text!r}. Expected HH:MM:SS,mmm.")
    hours = int(match.group("h") or 0)
    millis = match.group("ms") or "0"
    return hours * 3600 + int(match.group("m")) * 60 + int(match.group("s")) + int(millis.ljust(3, "0")) / 1000.0


def cue_text(raw: str) -> str:
    """Return the spoken text of a cue: the content of its <font> tags if any, other tags removed, lines joined."""
    fonts = _FONT.findall(raw)
    text = " ".join(fonts) if fonts else raw
    text = _TAG.sub("", text)
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def parse_srt(content: str) -> list[Cue]:
    """Parse SRT text into cues sorted by start time; malformed blocks and empty cues are skipped."""
    content = content.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    cues: list[Cue] = []
    for block in _BLANK_LINES.split(content):
        lines = [line for line in block.split("\n") if line.strip()]
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing is None:
            continue
        left, _, right = lines[timing].partition("-->")
        right_fields = right.split()
        if not right_fields:
            continue
        try:
            start_s = parse_srt_time(left)
            end_s = parse_srt_time(right_fields[0])
        except ValueError:
            continue
        text = cue_text("\n".join(lines[timing + 1:]))
        if text:
            cues.append(Cue(start_s, end_s, text))
    cues.sort(key=lambda cue: (cue.start_s, cue.end_s))
    return cues


def load_subtitles(path: str) -> list[Cue]:
    """Read and parse an .srt file; a missing file gives [] (undecodable bytes are replaced, not fatal)."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            return parse_srt(handle.read())
    except FileNotFoundError:
        return []


def cues_at(cues: Sequence[Cue], timestamps_s: Sequence[float], fps: float | None = None) -> list[Cue]:
    """Return the cues (in time order, each once) that cover any of the frame times.

    timestamps_s: frame times in seconds (any order). Without ``fps`` a cue covers t when
    start_s <= t < end_s. With ``fps`` (frames per second of the video) the frame index round(t * fps) is
    compared with the cue's frame span int(start_s * fps) <= i < int(end_s * fps), which is exactly
    lmms-eval's videomme_w_subtitle rule. Overlapping cues that cover a frame are all kept; frames in a gap
    between cues contribute nothing.
    """
    times = sorted(float(t) for t in timestamps_s)
    if fps is not None:
        if not fps > 0:
            raise ValueError(f"Invalid fps: {fps!r}. Expected a number > 0.")
        frames = [round(t * fps) for t in times]
        return [c for c in cues if any(int(c.start_s * fps) <= i < int(c.end_s * fps) for i in frames)]
    return [c for c in cues if any(c.start_s <= t < c.end_s for t in times)]


def subtitles_at(
    doc: Mapping, timestamps_s: Sequence[float], hf_home: str | None = None, fps: float | None = None
) -> list[str]:
    """Return the subtitle lines shown at the given frame times (seconds); [] if the video has no .srt file.

    ``fps``: optional video frame rate; when given, coverage follows lmms-eval's frame-index rule (see cues_at).
    """
    cues = load_subtitles(subtitle_path(doc, hf_home))
    return [cue.text for cue in cues_at(cues, timestamps_s, fps)]


def subtitle_prompt(
    doc: Mapping,
    timestamps_s: Sequence[float],
    hf_home: str | None = None,
    lmms_eval_specific_kwargs: Mapping | None = None,
    fps: float | None = None,
) -> str:
    """Build the videomme_w_subtitle prompt of lmms-eval, with the subtitles at OUR frames (seconds).

    Same layout as lmms-eval's own task: the subtitles block ("No subtitles available" without an .srt
    file), then the instruction, the question, the lettered options and "The best answer is:"; with
    ``format: qwen3_vl`` in the kwargs, the Qwen3-VL layout with its pre/post prompts. timestamps_s are the
    selected frame times in seconds; ``fps`` as in cues_at.
    """
    kwargs = dict(lmms_eval_specific_kwargs or {})
    path = subtitle_path(doc, hf_home)
    if os.path.isfile(path):
        subtitles = "\n".join(cue.text for cue in cues_at(load_subtitles(path), timestamps_s, fps))
    else:
        subtitles = NO_SUBTITLES
    raw_question = str(require_field(doc, "question", BENCHMARK))
    lettered = "\n".join(str(option) for option in require_field(doc, "options", BENCHMARK))
    if kwargs.get("format") == "qwen3_vl":
        body = f"{kwargs.get('pre_prompt', '')}{raw_question}\nOptions:\n{lettered}\n{kwargs.get('post_prompt', '')}"
        return SUBTITLES_HEADER + subtitles + "\n" + body
    return SUBTITLES_HEADER + subtitles + "\n" + OPTION_PROMPT + "\n" + raw_question + "\n" + lettered + "\n" + ANSWER_CUE
