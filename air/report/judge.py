"""What one lmms-eval samples-file entry says about a sample: right or wrong, gold answer, duration, type.

lmms-eval copies every key that a task's `process_results` returns into the samples file, so the
per-sample verdict sits under task-specific names. The rules below cover the shapes of the tasks
this project runs (checked against lmms-eval 0.7.3's task utils):
- a bool, or a number 0/1 under a plain accuracy name (`accuracy`, `exact_match`, `acc`, `score`, ...);
- a dict with a 0/1 `score` (Video-MME's `videomme_perception_score`);
- a dict with a prediction and the gold answer: `pred_answer`/`answer` (MLVU), `parsed_pred`/`answer`
  (LongVideoBench), `pred`/`ground_truth` (EgoSchema subset).
Anything else (e.g. NExT-QA open-ended WUPS) leaves the verdict unknown: shown as such, never guessed.
Video-MME's `duration` (short/medium/long) and `task_category`, LongVideoBench's `duration_group`
and `question_category`, MLVU's `task_type` become the groups of the summary.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Keys lmms-eval itself writes into every samples-file entry (never a metric).
LMMS_KEYS = frozenset({
    "doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "token_counts", "doc_hash", "input",
    "input_media", "air_selection",
})
#: Numeric per-sample metrics that mean "this answer is right" when they are exactly 0 or 1.
BINARY_METRICS = frozenset({"accuracy", "acc", "exact_match", "em", "score", "correct", "is_correct"})
#: (prediction key, gold key) pairs inside a metric dict, in the order they are tried.
PAIRS = (("pred_answer", "answer"), ("parsed_pred", "answer"), ("pred", "ground_truth"))
DURATION_KEYS = ("duration", "duration_group")
TYPE_KEYS = ("task_category", "task_type", "question_category")


@dataclass
class Verdict:
    """correct: True / False / None (unknown); gold and prediction as text when the entry has them."""

    correct: bool | None = None
    gold: str | None = None
    prediction: str | None = None
    duration: str | None = None
    task_type: str | None = None
    source: str | None = None  # the metric key the verdict came from
    metrics: dict[str, float] = field(default_factory=dict)  # plain numeric per-sample metrics


def _binary(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and math.isfinite(value) and value in (0, 1):
        return bool(value)
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = value[0] if len(value) == 1 else ", ".join(str(v) for v in value)
    text = str(value).strip()
    return text or None


def _same(pred: Any, gold: Any) -> bool | None:
    """Prediction equals gold (trimmed, case-insensitive); None when either is missing."""
    p, g = _text(pred), _text(gold)
    if g is None:
        return None
    return (p or "").lower() == g.lower()


def _from_dict(key: str, value: Mapping, verdict: Verdict) -> None:
    for name in DURATION_KEYS:
        if verdict.duration is None and _text(value.get(name)) is not None:
            verdict.duration = _text(value.get(name))
    for name in TYPE_KEYS:
        if verdict.task_type is None and _text(value.get(name)) is not None:
            verdict.task_type = _text(value.get(name))
    if verdict.correct is not None:
        return
    score = _binary(value.get("score"))
    if score is not None:
        verdict.correct, verdict.source = score, key
        verdict.prediction = _text(value.get("pred_answer", value.get("pred")))
        verdict.gold = verdict.gold or _text(value.get("answer", value.get("ground_truth")))
        return
    for pred_key, gold_key in PAIRS:
        if pred_key in value and gold_key in value:
            same = _same(value[pred_key], value[gold_key])
            if same is not None:
                verdict.correct, verdict.source = same, key
                verdict.prediction = _text(value[pred_key])
                verdict.gold = verdict.gold or _text(value[gold_key])
                return


def judge_entry(entry: Mapping | None) -> Verdict:
    """The verdict of one samples-file entry (a dict from `<date>_samples_<task>.jsonl`); never raises."""
    verdict = Verdict()
    if not isinstance(entry, Mapping):
        return verdict
    verdict.gold = _text(entry.get("target"))
    for key, value in entry.items():
        if key in LMMS_KEYS:
            continue
        if isinstance(value, Mapping):
            _from_dict(str(key), value, verdict)
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            verdict.metrics[str(key)] = float(value)
        flag = _binary(value)
        if verdict.correct is None and flag is not None and (isinstance(value, bool) or key in BINARY_METRICS):
            verdict.correct, verdict.source = flag, str(key)
    return verdict


def answer_of(entry: Mapping | None) -> str | None:
    """The answer lmms-eval scored (`filtered_resps`, else `resps`), as text."""
    if not isinstance(entry, Mapping):
        return None
    for key in ("filtered_resps", "resps"):
        if key in entry:
            value = entry[key]
            while isinstance(value, (list, tuple)) and len(value) == 1:
                value = value[0]
            return None if value is None else str(value)
    return None
