"""Per-benchmark helpers: question, options, video path and subtitles from a raw lmms-eval doc.

``for_task(name)`` maps an lmms-eval task name (built-in, or our ``*_hvp`` variant) to its helper module;
``doc_query`` and ``doc_video`` answer the two questions every video QA model asks of a doc.
``recognise_task`` (benchmark_utils.recognition) also recognises renamed copies of those tasks by their
config metadata or their docs' fields. Standard library only; nothing is read from the environment at
import time.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType

from benchmark_utils.common import MissingVideoError
from benchmark_utils.recognition import TaskRecognition, recognise_task

__all__ = [
    "HVP_SUFFIX",
    "MissingVideoError",
    "TaskRecognition",
    "TaskSpec",
    "base_task",
    "doc_query",
    "doc_video",
    "for_task",
    "known_tasks",
    "recognise_task",
    "task_spec",
    "uses_subtitles",
]

HVP_SUFFIX = "_hvp"


@dataclass(frozen=True)
class TaskSpec:
    """How a task's docs are read: helper module name, extra video_path kwargs, subtitle use."""

    module: str
    video_kwargs: Mapping[str, str] = field(default_factory=dict)
    subtitles: bool = False


_BUILTIN_TASKS: dict[str, TaskSpec] = {
    "videomme": TaskSpec("mme_utils"),
    "videomme_long": TaskSpec("mme_utils"),
    "videomme_w_subtitle": TaskSpec("mme_utils", subtitles=True),
    "videomme_long_w_subtitle": TaskSpec("mme_utils", subtitles=True),
    "mlvu_dev": TaskSpec("mlvu_utils", {"split": "dev"}),
    "mlvu_test": TaskSpec("mlvu_utils", {"split": "test"}),
    "longvideobench_val_v": TaskSpec("lvb_utils"),
    "longvideobench_test_v": TaskSpec("lvb_utils"),
    "nextqa_mc_test": TaskSpec("nextqa_utils"),
    "nextqa_oe_val": TaskSpec("nextqa_utils"),
    "nextqa_oe_test": TaskSpec("nextqa_utils"),
    "egoschema": TaskSpec("egoschema_utils"),
    "egoschema_subset": TaskSpec("egoschema_utils"),
}


def base_task(task_name: str) -> str | None:
    """Return the built-in task a name refers to ('videomme_hvp' -> 'videomme'), or None if unknown."""
    if not isinstance(task_name, str):
        return None
    if task_name in _BUILTIN_TASKS:
        return task_name
    if task_name.endswith(HVP_SUFFIX) and task_name[: -len(HVP_SUFFIX)] in _BUILTIN_TASKS:
        return task_name[: -len(HVP_SUFFIX)]
    return None


def known_tasks() -> list[str]:
    """Return every task name this package understands (built-ins and their _hvp variants), sorted."""
    return sorted([*_BUILTIN_TASKS, *(name + HVP_SUFFIX for name in _BUILTIN_TASKS)])


def task_spec(task_name: str) -> TaskSpec | None:
    """Return the TaskSpec of a task name, or None if the task is not one of ours."""
    base = base_task(task_name)
    return _BUILTIN_TASKS[base] if base is not None else None


def for_task(task_name: str) -> ModuleType | None:
    """Return the helper module of an lmms-eval task (e.g. benchmark_utils.mme_utils), or None if unknown."""
    spec = task_spec(task_name)
    if spec is None:
        return None
    return importlib.import_module(f"benchmark_utils.{spec.module}")


def _require_spec(task_name: str) -> TaskSpec:
    spec = task_spec(task_name)
    if spec is None:
        raise KeyError(f"Unknown benchmark task: {task_name!r}. Expected one of: {', '.join(known_tasks())}.")
    return spec


def doc_query(task_name: str, doc: Mapping) -> tuple[str, list[str]]:
    """Return (question, options without letters) of a raw doc; options are [] for open-ended tasks."""
    spec = _require_spec(task_name)
    module = importlib.import_module(f"benchmark_utils.{spec.module}")
    return module.question(doc), module.options(doc)


def doc_video(task_name: str, doc: Mapping, hf_home: str | None = None) -> str:
    """Return the absolute video path of a raw doc under $HF_HOME (read now); raise MissingVideoError if absent."""
    spec = _require_spec(task_name)
    module = importlib.import_module(f"benchmark_utils.{spec.module}")
    return module.video_path(doc, hf_home=hf_home, **dict(spec.video_kwargs))


def uses_subtitles(task_name: str) -> bool:
    """True for the Video-MME 'with subtitles' tasks (their prompt must be rebuilt at the selected frames)."""
    spec = task_spec(task_name)
    return bool(spec and spec.subtitles)

