"""The task prompt as the backbone family's own lmms-eval wrapper would receive it.

lmms-eval resolves a task's `lmms_eval_specific_kwargs` by the `--model` name when it builds the task:
`--model qwen3_vl --tasks videomme` gets Video-MME's `qwen3_vl:` wording, while `--model hvp` (and every
A.I.R. baseline) gets `default:`. To ask each backbone exactly as its reference wrapper does, the
context is rendered again with the kwargs keyed by the backbone's `Backbone.lmms_eval_model` name, from
the task object lmms-eval hands the model (the owner of the `doc_to_visual` bound method in each request).
Works for built-in tasks and for the `*_hvp` variants alike; the Video-MME subtitle tasks get the same
kwargs for the subtitle prompt built at the selected frames.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

logger = logging.getLogger("air.task_prompts")

#: Keys lmms-eval falls back to, in this order, when the model name has no entry of its own.
FALLBACK_KEYS = ("default", "dataset")

_logged: set[tuple[str, str | None]] = set()


def kwargs_for_model(raw: Mapping[str, Any] | None, model_name: str | None) -> tuple[dict | None, str | None]:
    """(kwargs, key): what lmms-eval's task resolution gives `--model model_name`, and the key it came from.

    raw: a task config's `lmms_eval_specific_kwargs` (entries keyed by model name). As in lmms-eval's
    ConfigurableTask._prepare_model_specific_config: the model's own entry if present; else the whole
    mapping updated with its "default" (or "dataset") entry; else the whole mapping. (None, None) for
    a task without prompt kwargs.
    """
    if raw is None:
        return None, None
    if model_name is not None and model_name in raw:
        return dict(raw[model_name]), model_name
    merged = dict(raw)
    for key in FALLBACK_KEYS:
        if key in raw:
            merged.update(raw[key])
            return merged, key
    return merged, None


def _task_object(doc_to_visual):
    """The lmms-eval task whose bound `doc_to_visual` a request carries (None for a plain function)."""
    task = getattr(doc_to_visual, "__self__", None)
    return task if getattr(task, "config", None) is not None else None


def _log_once(task_name: str, model_name: str | None, message: str, *args, level: int = logging.INFO) -> None:
    if (task_name, model_name) not in _logged:
        _logged.add((task_name, model_name))
        logger.log(level, message, *args)


def _rerendered(task_obj, task_name: str, doc, context: str, kwargs: dict, key: str | None,
                model_name: str | None) -> str:
    """`context` with its doc_to_text part rendered again with `kwargs` (unchanged when the text is the same)."""
    doc_to_text = task_obj.config.doc_to_text
    resolved = getattr(task_obj, "lmms_eval_specific_kwargs", None)
    if not callable(doc_to_text) or kwargs == resolved:
        return context
    old = doc_to_text(doc, resolved) if resolved is not None else doc_to_text(doc)
    new = doc_to_text(doc, kwargs)
    if new == old:
        return context
    if not context.endswith(old):
        _log_once(task_name, model_name,
                  "%s: the context does not end with the task's doc_to_text, so it cannot be rendered with "
                  "the %r prompt kwargs of %s; the context is sent unchanged.", task_name, key, model_name,
                  level=logging.WARNING)
        return context
    _log_once(task_name, model_name, "%s: prompts use the task's %r prompt kwargs, as lmms-eval's %s gets them.",
              task_name, key, model_name)
    return context[: len(context) - len(old)] + new


def family_prompt(task_name: str, doc, context: str, doc_to_visual, model_name: str | None, *,
                  subtitles: bool | None = None) -> str | Callable:
    """The prompt to answer `doc` with, as the lmms-eval model `model_name` would receive it.

    task_name, doc, context, doc_to_visual: one lmms-eval request's (the context was rendered for the
    model actually run, e.g. hvp). model_name: the backbone's Backbone.lmms_eval_model (e.g.
    "qwen3_vl"); None keeps the context. subtitles: whether the task is Video-MME with subtitles (as
    benchmark_utils.recognise_task decided; None: judged by the task name alone). Returns the context text, or for a Video-MME subtitle task a
    function of the selection (with `timestamps_s` and `fps`) that builds the subtitle prompt at those
    frames with the same kwargs.
    """
    import benchmark_utils

    task_obj = _task_object(doc_to_visual)
    raw = getattr(task_obj.config, "lmms_eval_specific_kwargs", None) if task_obj is not None else None
    kwargs, key = kwargs_for_model(raw, model_name)
    if subtitles is None:
        subtitles = benchmark_utils.uses_subtitles(task_name)
    if subtitles:
        from benchmark_utils import mme_utils

        def with_subtitles(selection) -> str:
            # cues at the chosen frames by lmms-eval's own frame rule at the video's fps
            return mme_utils.subtitle_prompt(doc, list(selection.timestamps_s), lmms_eval_specific_kwargs=kwargs,
                                             fps=float(selection.fps))

        return with_subtitles
    if task_obj is None or kwargs is None:
        return context
    return _rerendered(task_obj, task_name, doc, context, kwargs, key, model_name)
