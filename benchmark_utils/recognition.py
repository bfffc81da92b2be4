"""Which benchmark a task's docs come from, and whether its prompt carries Video-MME subtitles.

A copy of a built-in task under another name (the usual way to point a task at local data) keeps the
dataset's fields, so a task is recognised, in this order:
1. by its name: a built-in task or our ``*_hvp`` variant (``videomme_w_subtitle``, ``mlvu_dev_hvp``, ...),
   or ``air_sample`` (our offline sample task, read through the context parser on purpose);
2. by its config's ``metadata: base_task: <name>`` (our ``*_hvp`` YAMLs carry it, so copies of them
   keep it), when the doc also has that benchmark's fields;
3. by the doc's fields (each helper module's ``DOC_FIELDS``, e.g. Video-MME's videoID/question/options).
Otherwise the task is unknown: the caller parses the question and options from the context string and
should warn. For a Video-MME doc recognised by metadata or fields, "with subtitles" is read from the
context lmms-eval built: lmms-eval's subtitle prompt (``videomme_doc_to_text_subtitle`` and every copy
of it) starts with ``This video's subtitles are listed below:``; a task without that header is answered
without subtitles. Standard library only.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from types import ModuleType

#: Helper modules whose DOC_FIELDS are tried, most specific first when several match.
HELPER_MODULES = ("mme_utils", "mlvu_utils", "lvb_utils", "nextqa_utils", "egoschema_utils")

#: Tasks of ours whose prompt is meant for the context parser (no helper module, no warning).
CONTEXT_TASKS = frozenset({"air_sample"})

#: How a task was recognised.
BY_NAME, BY_METADATA, BY_FIELDS, UNKNOWN = "name", "metadata", "doc_fields", "unknown"


@dataclass(frozen=True)
class TaskRecognition:
    """How one task's doc is read.

    via: "name", "metadata", "doc_fields" or "unknown". helper: the benchmark_utils module name
    ("mme_utils"), or None for the context parser. benchmark: its BENCHMARK label ("Video-MME").
    subtitles: build the Video-MME subtitle block at the selected frames; subtitles_via says why.
    detail: one sentence for the trace and the log.
    """

    task: str
    via: str
    helper: str | None
    benchmark: str | None
    subtitles: bool
    subtitles_via: str | None
    detail: str

    @property
    def known(self) -> bool:
        return self.via != UNKNOWN

    def module(self) -> ModuleType | None:
        """The helper module (question, options, question_id), or None for the context parser."""
        return importlib.import_module(f"benchmark_utils.{self.helper}") if self.helper else None

    def to_dict(self) -> dict:
        return asdict(self)


def _helper(name: str) -> ModuleType:
    return importlib.import_module(f"benchmark_utils.{name}")


def fields_match(doc: Mapping) -> str | None:
    """The helper module whose DOC_FIELDS the doc has (the one with most fields if several), or None."""
    if not isinstance(doc, Mapping):
        return None
    keys = set(doc.keys())
    hits = [name for name in HELPER_MODULES if _helper(name).DOC_FIELDS <= keys]
    if not hits:
        return None
    return max(hits, key=lambda name: len(_helper(name).DOC_FIELDS))


def has_subtitle_header(context: str | None) -> bool:
    """True when the context holds lmms-eval's Video-MME subtitle block header."""
    from benchmark_utils.mme_utils import SUBTITLES_HEADER

    return isinstance(context, str) and SUBTITLES_HEADER.strip() in context


def recognise_task(task: str, doc: Mapping, *, context: str | None = None,
                   metadata: Mapping | None = None) -> TaskRecognition:
    """Recognise `task` from its name, its config's metadata.base_task, or the fields of `doc`.

    context: the prompt lmms-eval built for the doc (decides "with subtitles" for a Video-MME copy).
    metadata: the request's metadata (lmms-eval merges the task config's `metadata` into it).
    """
    from benchmark_utils import task_spec

    spec = task_spec(task)
    if spec is not None:
        return _from_spec(task, spec, BY_NAME, f"task name {task!r} is a known benchmark task")
    if task in CONTEXT_TASKS:
        return TaskRecognition(task, BY_NAME, None, None, False, None,
                               f"task name {task!r}: its prompt is read by the context parser")
    base = (metadata or {}).get("base_task") if isinstance(metadata, Mapping) else None
    base_spec = task_spec(base) if isinstance(base, str) else None
    if base_spec is not None and fields_match(doc) == base_spec.module:
        return _from_spec(task, base_spec, BY_METADATA, f"task config metadata base_task={base!r}")
    helper = fields_match(doc)
    if helper is not None:
        module = _helper(helper)
        subtitles = helper == "mme_utils" and has_subtitle_header(context)
        fields = ", ".join(sorted(module.DOC_FIELDS))
        return TaskRecognition(
            task, BY_FIELDS, helper, module.BENCHMARK, subtitles,
            "context: lmms-eval's subtitle header" if subtitles else None,
            f"doc has {module.BENCHMARK}'s fields ({fields})",
        )
    keys = sorted(doc.keys()) if isinstance(doc, Mapping) else type(doc).__name__
    return TaskRecognition(
        task, UNKNOWN, None, None, False, None,
        f"task {task!r} is not a known benchmark task by name, config metadata or doc fields (doc fields: "
        f"{keys}); question and options are parsed from the prompt text, and no subtitles are added",
    )


def _from_spec(task: str, spec, via: str, why: str) -> TaskRecognition:
    module = _helper(spec.module)
    return TaskRecognition(task, via, spec.module, module.BENCHMARK, spec.subtitles,
                           via if spec.subtitles else None, why)
