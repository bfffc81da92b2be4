"""Synthetic lmms-eval runs in the exact layout `air report` reads, for tests and benchmarks.

`write_run(out, docs, ...)` writes `<out>/<model>/<date>_results.json`, `<date>_samples_<task>.jsonl` and
`<out>/traces/traces_rank<R>.jsonl`. A.I.R. traces come from the real selection loop (`select_frames`)
over a seeded synthetic CLIP track and a scripted analysis scorer; baseline traces take evenly spaced
frames like `air_uniform`. Docs shaped like Video-MME (`videomme=True`) get lmms-eval's
`videomme_perception_score` dict (duration, task type, parsed answer, 0/1 score); others a plain
`accuracy`. Real lmms-eval runs are tested separately; this builder is for sizes and shapes they cannot
reach quickly (thousands of samples, injected errors, odd fields).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LETTERS = "ABCD"
REASONS = (
    "The frame shows an empty room, unrelated to the question.",
    "A person is visible but the asked action is not shown.",
    "The scene sets up the moment the question asks about.",
    "The object from the question is clearly visible, though partly hidden.",
    "The frame shows exactly the asked action.",
)


@dataclass
class Doc:
    """One question of a synthetic task. video: path written into the trace (need not exist)."""

    task: str
    doc_id: int
    video: str
    n_frames: int
    fps: float
    question: str
    options: list[str]
    gold: str
    duration: str | None = None
    task_type: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _track(rng: np.random.Generator, n_samples: int) -> np.ndarray:
    """A smooth random similarity track with one or two bumps, raw cosine-like values."""
    t = np.arange(n_samples, dtype=np.float64)
    track = 0.18 + 0.01 * rng.standard_normal(n_samples)
    for _ in range(int(rng.integers(1, 3))):
        centre, width = rng.uniform(0, n_samples), rng.uniform(2, max(3.0, n_samples / 12))
        track += 0.08 * np.exp(-0.5 * ((t - centre) / width) ** 2)
    return track


def air_trace(doc: Doc, rng: np.random.Generator, config=None) -> dict:
    """A real `Selection.to_dict()` for `doc` from the selection loop over a synthetic track."""
    from air.config import AIRConfig
    from air.Process_Utils.process_messages import FrameScore, format_query
    from air.selection import select_frames

    config = config or AIRConfig()
    n_samples = max(1, int(doc.n_frames / doc.fps))
    track = _track(rng, n_samples + 1)

    def similarity(frames: np.ndarray) -> np.ndarray:
        seconds = np.clip(frames / doc.fps, 0, n_samples)
        return np.interp(seconds, np.arange(track.size), track)

    def analyze(frames: np.ndarray) -> list[FrameScore]:
        scores = np.clip(np.round(1 + 4 * (similarity(frames) - 0.17) / 0.1 + rng.normal(0, 0.8, frames.size)), 1, 5)
        return [FrameScore(int(s), REASONS[int(s) - 1], f"Score: {int(s)}") for s in scores]

    selection = select_frames(doc.n_frames, doc.fps, similarity, analyze, config, video=doc.video)
    record = selection.to_dict()
    record["query"] = format_query(doc.question, doc.options)
    return record


def uniform_trace(doc: Doc, budget: int = 8) -> dict:
    """A trace shaped like `air_uniform`'s: evenly spaced frames, no rounds."""
    frames = np.unique(np.round(np.linspace(0, doc.n_frames - 1, min(budget, doc.n_frames))).astype(int)).tolist()
    return {
        "video": doc.video, "fps": doc.fps, "n_frames": doc.n_frames, "frame_indices": frames,
        "timestamps_s": [round(f / doc.fps, 4) for f in frames], "budget": budget, "threshold": None,
        "gmm": {"means": [], "stds": []}, "events": [], "initial_pool": [], "rounds": [], "n_analyzed": 0,
        "stop_reason": "single_pass", "fallbacks": [], "scored": [], "timings_s": {"total": 0.01},
        "config": {}, "decoder": "pyav",
    }


def write_run(
    out: str | Path,
    docs: list[Doc],
    *,
    method: str = "air",
    model: str = "hvp",
    seed: int = 0,
    p_correct: float = 0.6,
    errors: dict[tuple[str, int], str] | None = None,
    ranks: int = 1,
    date: str = "20260101_000000",
    videomme: bool = False,
    config=None,
) -> Path:
    """Write a synthetic lmms-eval output folder for `docs`; returns `out`.

    errors: {(task, doc_id): message} samples that fail (traced with `error`, answered "").
    """
    out = Path(out)
    rng = np.random.default_rng(seed)
    errors = errors or {}
    model_dir = out / f"synthetic__{model}"
    model_dir.mkdir(parents=True, exist_ok=True)
    (out / "traces").mkdir(parents=True, exist_ok=True)
    samples: dict[str, list[dict]] = {}
    with contextlib.ExitStack() as stack:
        rank_files = [stack.enter_context(open(out / "traces" / f"traces_rank{r}.jsonl", "w", encoding="utf-8"))
                      for r in range(ranks)]
        for n, doc in enumerate(docs):
            record: dict[str, Any] = {"task": doc.task, "doc_id": doc.doc_id, "split": "test", "method": method,
                                      "question_id": f"q{doc.doc_id}", "video": doc.video}
            error = errors.get((doc.task, doc.doc_id))
            if error:
                record.update(answer="", error=error)
                answer = ""
            else:
                record.update(air_trace(doc, rng, config) if method == "air" else uniform_trace(doc))
                right = rng.random() < p_correct
                answer = doc.gold if right else rng.choice([c for c in LETTERS[: max(2, len(doc.options))] if c != doc.gold])
                record["answer"] = str(answer)
            record["seconds"] = round(float(rng.uniform(1, 5)), 3)
            record.update(doc.extra)
            rank_files[n % ranks].write(json.dumps(record) + "\n")
            samples.setdefault(doc.task, []).append(_sample_entry(doc, str(answer), record, videomme))
    results: dict[str, Any] = {}
    for task, entries in samples.items():
        path = model_dir / f"{date}_samples_{task}.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
        if videomme:
            acc = 100.0 * np.mean([e["videomme_perception_score"]["score"] for e in entries])
            results[task] = {"alias": task, "videomme_perception_score,none": acc,
                             "videomme_perception_score_stderr,none": "N/A"}
        else:
            acc = float(np.mean([e["accuracy"] for e in entries]))
            results[task] = {"alias": task, "accuracy,none": acc, "accuracy_stderr,none": 0.0}
    (model_dir / f"{date}_results.json").write_text(json.dumps({
        "results": results,
        "config": {"model": model, "model_args": f"pretrained=synthetic,trace_dir={out / 'traces'}"},
        "model_name": "synthetic", "date": date, "lmms_eval_version": "0.7.3",
    }, indent=1), encoding="utf-8")
    return out


def _sample_entry(doc: Doc, answer: str, record: dict, videomme: bool) -> dict:
    from air.traces import selection_summary

    prompt = doc.question + "\n" + "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(doc.options))
    entry: dict[str, Any] = {"doc_id": doc.doc_id, "target": doc.gold, "filtered_resps": answer,
                             "doc_hash": "synthetic", "input": prompt + "\nAnswer with the option's letter."}
    right = float(answer.strip()[:1].upper() == doc.gold)
    if videomme:
        entry["videomme_perception_score"] = {
            "question_id": f"q{doc.doc_id}", "duration": doc.duration, "category": "synthetic",
            "sub_category": "synthetic", "task_category": doc.task_type, "pred_answer": answer.strip()[:1],
            "answer": doc.gold, "score": right, "videoID": Path(doc.video).stem,
        }
    else:
        entry["accuracy"] = right
    entry["air_selection"] = selection_summary(record)
    return entry


def make_docs(videos: list[tuple[str, int, float]], per_video: int, *, task: str = "synthetic_task",
              videomme: bool = False, seed: int = 0) -> list[Doc]:
    """`per_video` questions on each (path, n_frames, fps) video; Video-MME groups when `videomme`."""
    rng = np.random.default_rng(seed)
    types = ("Action Recognition", "Object Reasoning", "Counting Problem", "Temporal Perception")
    docs = []
    for v, (path, n_frames, fps) in enumerate(videos):
        duration = ("short", "medium", "long")[v % 3] if videomme else None
        for q in range(per_video):
            doc_id = len(docs)
            docs.append(Doc(task=task, doc_id=doc_id, video=path, n_frames=n_frames, fps=fps,
                            question=f"What happens in video {v} around moment {q}?",
                            options=[f"option {c} of question {doc_id}" for c in LETTERS],
                            gold=LETTERS[int(rng.integers(0, 4))], duration=duration,
                            task_type=types[doc_id % len(types)] if videomme else None))
    return docs
