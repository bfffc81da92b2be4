"""Page data of one sample: the question part shared by both runs, and one compact "side" per run.

Only plain JSON values leave this module (str, finite float, int, bool, None, lists, dicts), sized for
a page of thousands of rows: the CLIP track is cut to at most TRACK_POINTS points (per-bin maximum, so
peaks survive), floats are rounded. Missing or malformed trace fields give None / empty values.
"""

from __future__ import annotations

import json
import math
from typing import Any

from air.report.judge import Verdict, answer_of, judge_entry
from air.report.runs import Sample

TRACK_POINTS = 160
#: Trace keys drawn elsewhere on the page; every other scalar key is listed in the row's details.
SHOWN_KEYS = frozenset({
    "task", "doc_id", "method", "question_id", "video", "answer", "error", "seconds", "fps", "n_frames",
    "frame_indices", "timestamps_s", "budget", "threshold", "gmm", "events", "event_samples", "initial_pool",
    "rounds", "n_analyzed", "stop_reason", "fallbacks", "scored", "timings_s", "config", "query", "prompt",
    "question", "options",
})
MAX_TEXT = 400
MAX_PROMPT = 4000  # subtitle prompts run to many KB: the page keeps their start (the trace has them whole)


# -- defensive readers -------------------------------------------------------------------------------
def num(value: Any, digits: int | None = None) -> float | None:
    """A finite float (rounded to `digits`), or None for anything else (NaN, bools, None, non-numeric text)."""
    if type(value) is float or type(value) is int:  # the common case, first (called ~10^6 times per report)
        if not math.isfinite(value):
            return None
        return round(float(value), digits) if digits is not None else float(value)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return round(float(value), digits) if digits is not None else float(value)


def integer(value: Any) -> int | None:
    if type(value) is int:
        return value
    number = num(value)
    return int(number) if number is not None and number == int(number) else None


def seq(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else []


def text(value: Any, limit: int | None = None) -> str | None:
    if value is None:
        return None
    out = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    if limit is not None and len(out) > limit:
        out = out[: limit - 1] + "…"
    return out


# -- question part -----------------------------------------------------------------------------------
def _split_query(query: str) -> tuple[str, list[str]]:
    """format_query's "question\\nOptions:\\nA. x\\nB. y" back into (question, ["A. x", "B. y"])."""
    head, sep, tail = query.partition("\nOptions:\n")
    if not sep:
        return query.strip(), []
    return head.strip(), [line.strip() for line in tail.split("\n") if line.strip()]


def question_part(samples: list[Sample | None], verdicts: list[Verdict]) -> dict[str, Any]:
    """Question, options, gold answer and groups of a row, from whichever run has them."""
    from air.Process_Utils.process_messages import extract_question_options

    question, options, video, question_id = None, [], None, None
    for sample in samples:
        trace = (sample.trace if sample else None) or {}
        if question is None and isinstance(trace.get("query"), str) and trace["query"].strip():
            question, options = _split_query(trace["query"])
        if question is None and isinstance(trace.get("question"), str):
            question, options = trace["question"], [text(o) for o in seq(trace.get("options"))]
        video = video or text(trace.get("video"))
        question_id = question_id or text(trace.get("question_id"))
    if question is None:
        for sample in samples:
            source = (sample.logged or {}).get("input") if sample else None
            if not isinstance(source, str) and sample and sample.trace:
                source = sample.trace.get("prompt")
            if isinstance(source, str) and source.strip():
                question, bare = extract_question_options(source)
                options = [f"{chr(65 + i)}. {o}" if i < 26 else o for i, o in enumerate(bare)]
                break
    first = next(s for s in samples if s is not None)

    def pick(name: str) -> str | None:
        return next((getattr(v, name) for v in verdicts if getattr(v, name)), None)

    return {
        "task": first.task, "doc_id": text(first.doc_id), "question_id": question_id, "question": question,
        "options": [o for o in options if o], "gold": pick("gold"), "duration": pick("duration"),
        "task_type": pick("task_type"), "video": video,
    }


# -- one run's side ----------------------------------------------------------------------------------
def _fallbacks(record: dict) -> list[dict[str, str]]:
    out = []
    for item in seq(record.get("fallbacks")):
        if isinstance(item, dict):
            out.append({"reason": text(item.get("reason")) or "?", "detail": text(item.get("detail"), MAX_TEXT) or ""})
        elif item is not None:
            out.append({"reason": text(item) or "?", "detail": ""})
    return out


def _ratings(record: dict, fps: float | None) -> list[list]:
    """[round, frame, time_s, score, reason, tag] per analysed frame; tag "p" positive, "t" top-up, ""."""
    out = []
    for r in seq(record.get("rounds")):
        if not isinstance(r, dict):
            continue
        scores, reasons = seq(r.get("scores")), seq(r.get("reasons"))
        positives, top_up = set(seq(r.get("positives"))), set(seq(r.get("top_up")))
        for k, frame in enumerate(seq(r.get("candidates"))):
            f = integer(frame)
            if f is None:
                continue
            tag = "p" if frame in positives else "t" if frame in top_up else ""
            out.append([integer(r.get("round")), f, num(f / fps, 2) if fps else None,
                        integer(scores[k]) if k < len(scores) else None,
                        text(reasons[k], MAX_TEXT) if k < len(reasons) else None, tag])
    return out


def _track(record: dict, fps: float | None) -> dict[str, Any] | None:
    """The small CLIP track: 1-FPS sample scores (downsampled), threshold, events, analysed dots."""
    if not fps:
        return None
    points = []
    for item in seq(record.get("scored")):  # [frame, raw, normalised, source]; thousands per trace: kept tight
        try:
            if len(item) > 3 and item[3] != "sample":
                continue
            f, s = int(item[0]), float(item[2])
        except (TypeError, ValueError, IndexError):
            continue
        if math.isfinite(s):
            points.append((f / fps, s))
    n_frames = integer(record.get("n_frames"))
    frames = [integer(f) for f in seq(record.get("frame_indices"))]
    last = max([t for t, _ in points] + [f / fps for f in frames if f is not None] + [0.0])
    duration = n_frames / fps if n_frames else last + 1.0 / fps
    points.sort()
    down = 0
    if len(points) > TRACK_POINTS:
        down = len(points)
        bins: dict[int, float] = {}
        for t, s in points:
            b = min(TRACK_POINTS - 1, int(t / duration * TRACK_POINTS))
            bins[b] = max(bins.get(b, s), s)
        points = [((b + 0.5) * duration / TRACK_POINTS, s) for b, s in sorted(bins.items())]
    events = []
    for event in seq(record.get("events")):
        if isinstance(event, (list, tuple)) and len(event) == 2 and None not in (num(event[0]), num(event[1])):
            events.append([num(event[0], 2), num(event[1], 2)])
    if not points and not events and record.get("threshold") is None:
        return None
    return {"dur": num(duration, 3), "pts": [[round(t, 2), round(s, 3)] for t, s in points],
            "thr": num(record.get("threshold"), 3), "ev": events, "down": down}


def _frames(record: dict, fps: float | None, score_of: dict[int, int | None]) -> list[list]:
    """[frame, time_s, VLM score or None] per selected frame, in time order."""
    frames = [integer(f) for f in seq(record.get("frame_indices"))]
    times = seq(record.get("timestamps_s"))
    out = []
    for k, f in enumerate(frames):
        if f is None:
            continue
        t = num(times[k], 2) if k < len(times) else (num(f / fps, 2) if fps else None)
        out.append([f, t, score_of.get(f)])
    return out


def _flags(record: dict) -> list[str]:
    flags = []
    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    flags += [name for name, value in sorted(config.items()) if name.startswith("ablate_") and value is True]
    if record.get("query_truncated"):
        flags.append("CLIP query truncated")
    if record.get("replayed_from"):
        flags.append("replayed selection")
    flags += [text(w, 160) for w in seq(record.get("warnings")) if w]
    return flags


def _info(record: dict) -> list[list[str]]:
    """[key, value] for every trace field not drawn elsewhere (new fields show up here by themselves)."""
    out = []
    for key, value in record.items():
        if key in SHOWN_KEYS or value is None or value == "" or value == [] or value == {}:
            continue
        out.append([str(key), text(value, MAX_TEXT)])
    return out


def side_part(sample: Sample | None, verdict: Verdict) -> dict[str, Any] | None:
    """One run's view of a sample, or None when the run does not have it."""
    if sample is None:
        return None
    record = sample.trace if isinstance(sample.trace, dict) else {}
    summary = (sample.logged or {}).get("air_selection") if sample.logged else None
    partial = not record and isinstance(summary, dict)
    if partial:  # no trace file: the samples file's compact summary still names the frames
        record = dict(summary)
    fps = num(record.get("fps"))
    fps = fps if fps and fps > 0 else None
    ratings = _ratings(record, fps)
    score_of = {r[1]: r[3] for r in ratings}
    logged_answer = answer_of(sample.logged)
    trace_answer = text(record.get("answer")) if "answer" in record else None
    timings = {str(k): num(v, 4) for k, v in (record.get("timings_s") or {}).items() if num(v) is not None} \
        if isinstance(record.get("timings_s"), dict) else {}
    frames = _frames(record, fps, score_of)
    error = text(record.get("error"), 2000) or None
    return {
        "method": text(record.get("method")),
        "answer": logged_answer if logged_answer is not None else trace_answer,
        "trace_answer": trace_answer if logged_answer is not None and trace_answer != logged_answer else None,
        "prediction": verdict.prediction,
        "correct": verdict.correct,
        "error": error,
        "has_trace": bool(sample.trace),
        "partial": partial,
        "budget": integer(record.get("budget")),
        "n_sel": len(frames) if (frames or "frame_indices" in record) else None,
        "n_an": integer(record.get("n_analyzed")) if "n_analyzed" in record else (len(ratings) if ratings else None),
        "stop": text(record.get("stop_reason")),
        "seconds": num(record.get("seconds"), 3),
        "timings": timings,
        "fallbacks": _fallbacks(record),
        "frames": frames,
        "track": _track(record, fps) if not error else None,
        "ratings": ratings,
        "flags": _flags(record),
        "info": _info(record) if not partial else [],
        "prompt": text(record.get("prompt"), MAX_PROMPT) if isinstance(record.get("prompt"), str) else None,
        "metrics": verdict.metrics,
        "thumbs": None,  # the next four are filled in by air.report's image planning
        "thumbs_note": None,
        "figure": None,
        "figure_note": None,
        "plot_cmd": None,
    }


def comparison(a: dict | None, b: dict | None) -> str:
    """fixed / broken / both_right / both_wrong / only_a / only_b / unknown (a = RUN, b = OTHER_RUN)."""
    if a is None:
        return "only_b"
    if b is None:
        return "only_a"
    ca, cb = a.get("correct"), b.get("correct")
    if ca is None or cb is None:
        return "unknown"
    return {(True, False): "fixed", (False, True): "broken", (True, True): "both_right"}.get((ca, cb), "both_wrong")


def build_row(index: int, samples: list[Sample | None]) -> dict[str, Any]:
    """The page data of one (task, doc_id) over 1 or 2 runs."""
    verdicts = [judge_entry(s.logged if s else None) for s in samples]
    row = question_part(samples, verdicts)
    row["i"] = index
    row["sides"] = [side_part(s, v) for s, v in zip(samples, verdicts)]
    if len(samples) == 2:
        a, b = row["sides"]
        row["cmp"] = comparison(a, b)
        row["answer_changed"] = bool(a and b and (a.get("answer") or "").strip() != (b.get("answer") or "").strip())
    return row
