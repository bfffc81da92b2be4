"""lmms-eval hooks of the ``*_hvp`` task variants in configs/ (referenced with ``!function``).

Each variant keeps lmms-eval's own dataset, prompt, target and metric and changes two things:
``doc_to_visual`` returns the video path from ``benchmark_utils.<bench>_utils.video_path``, which raises
``MissingVideoError`` (the hvp model catches it per sample) instead of calling ``sys.exit()``, and
``process_results`` returns lmms-eval's own metrics plus the key ``air_selection``: the compact selection
summary the hvp model remembered for the doc (``air.traces.recall_summary``), or None for a model that
remembers none. lmms-eval 0.7.3 copies every key of process_results into the samples file and aggregates
only the keys of ``metric_list``; the YAMLs list ``air_selection`` with ``summary_aggregation`` (mean
number of answering frames), so the results file also carries the mean frame count.

lmms-eval's task utils are imported lazily, inside the hooks, so that importing this module stays cheap.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

from benchmark_utils import (
    egoschema_utils,
    lvb_utils,
    mlvu_utils,
    mme_utils,
    nextqa_utils,
)

SUMMARY_METRIC = "air_selection"


def lmms_task_utils(benchmark: str) -> ModuleType:
    """Return lmms-eval's ``lmms_eval.tasks.<benchmark>.utils`` module (imported on first use)."""
    return importlib.import_module(f"lmms_eval.tasks.{benchmark}.utils")


# -- the selection summary -----------------------------------------------------------------------
def selection_summary(doc: Mapping, task: str | None = None) -> dict | None:
    """Return the summary the hvp model remembered for ``doc`` (in ``task`` when given) in this process, or None."""
    from air.traces import recall_summary

    return recall_summary(doc, task)


def with_selection(doc: Mapping, metrics: Mapping[str, Any], task: str | None = None) -> dict:
    """Return lmms-eval's per-doc metrics plus ``air_selection`` (the doc's selection summary or None)."""
    if SUMMARY_METRIC in metrics:
        raise ValueError(
            f"Invalid process_results output: it already has the key {SUMMARY_METRIC!r}. "
            f"Expected only lmms-eval's own metric keys, got {sorted(metrics)}."
        )
    return {**metrics, SUMMARY_METRIC: selection_summary(doc, task)}


def summary_aggregation(items: Iterable[Any]) -> float | None:
    """Mean number of answering frames over the samples that have a selection (no error); None if none.

    items: the ``air_selection`` values of every sample (dicts from ``selection_summary`` or None).
    """
    counts = [
        len(item["frame_indices"])
        for item in items
        if isinstance(item, Mapping) and not item.get("error") and isinstance(item.get("frame_indices"), list)
    ]
    if not counts:
        return None
    return sum(counts) / len(counts)


def _kwargs(lmms_eval_specific_kwargs: Mapping | None) -> dict:
    return dict(lmms_eval_specific_kwargs or {})


# -- Video-MME (videomme_hvp, videomme_w_subtitle_hvp) -------------------------------------------
def videomme_doc_to_visual(doc: Mapping) -> list[str]:
    """[absolute video path] under $HF_HOME/videomme/data; MissingVideoError if absent."""
    return [mme_utils.video_path(doc)]


def videomme_doc_to_text(doc: Mapping, lmms_eval_specific_kwargs: Mapping | None = None) -> str:
    """lmms-eval's Video-MME prompt (question, lettered options, post_prompt)."""
    return lmms_task_utils("videomme").videomme_doc_to_text(doc, _kwargs(lmms_eval_specific_kwargs))


def videomme_subtitle_base_text(doc: Mapping, lmms_eval_specific_kwargs: Mapping | None = None) -> str:
    """lmms-eval's videomme_w_subtitle prompt without its subtitle block (the hvp model adds the
    subtitles shown at the frames it selected, see benchmark_utils.mme_utils.subtitle_prompt).

    lmms-eval's subtitle prompt ends with "The best answer is:" whatever the post_prompt, so the
    post_prompt is dropped here unless the Qwen3-VL layout (format: qwen3_vl) is asked for.
    """
    kwargs = _kwargs(lmms_eval_specific_kwargs)
    if kwargs.get("format") != "qwen3_vl":
        kwargs.pop("post_prompt", None)
    return lmms_task_utils("videomme").videomme_doc_to_text(doc, kwargs)


def videomme_process_results(doc: Mapping, results: list) -> dict:
    """lmms-eval's videomme_perception_score plus videomme_hvp's air_selection."""
    return with_selection(doc, lmms_task_utils("videomme").videomme_process_results(doc, results), "videomme_hvp")


def videomme_w_subtitle_process_results(doc: Mapping, results: list) -> dict:
    """lmms-eval's videomme_perception_score plus videomme_w_subtitle_hvp's air_selection (same docs as videomme)."""
    return with_selection(doc, lmms_task_utils("videomme").videomme_process_results(doc, results),
                          "videomme_w_subtitle_hvp")


def videomme_aggregate_results(results: list) -> float:
    """lmms-eval's Video-MME accuracy (percent)."""
    return lmms_task_utils("videomme").videomme_aggregate_results(results)


# -- MLVU (mlvu_dev_hvp, mlvu_test_hvp) ----------------------------------------------------------
def mlvu_doc_to_visual_dev(doc: Mapping) -> list[str]:
    """[absolute video path] under $HF_HOME/mlvu; MissingVideoError if absent."""
    return [mlvu_utils.video_path(doc, split="dev")]


def mlvu_doc_to_visual_test(doc: Mapping) -> list[str]:
    """[absolute video path] under $HF_HOME/mlvu_test; MissingVideoError if absent."""
    return [mlvu_utils.video_path(doc, split="test")]


def mlvu_doc_to_text(doc: Mapping, lmms_eval_specific_kwargs: Mapping | None = None) -> str:
    """lmms-eval's MLVU prompt."""
    return lmms_task_utils("mlvu").mlvu_doc_to_text(doc, _kwargs(lmms_eval_specific_kwargs))


def mlvu_process_results(doc: Mapping, results: list) -> dict:
    """lmms-eval's mlvu_percetion_score plus air_selection."""
    return with_selection(doc, lmms_task_utils("mlvu").mlvu_process_results(doc, results))


def mlvu_aggregate_results_dev(results: list) -> float:
    """lmms-eval's MLVU dev accuracy (mean over task types, percent)."""
    return lmms_task_utils("mlvu").mlvu_aggregate_results_dev(results)


def mlvu_aggregate_results_test(results: list) -> float:
    """lmms-eval's MLVU test accuracy (mean over task types, percent)."""
    return lmms_task_utils("mlvu").mlvu_aggregate_results_test(results)


# -- LongVideoBench (longvideobench_val_v_hvp) ---------------------------------------------------
def longvideobench_doc_to_visual(doc: Mapping) -> list[str]:
    """[absolute video path] under $HF_HOME/datasets/longvideobench/videos; MissingVideoError if absent."""
    return [lvb_utils.video_path(doc)]


def longvideobench_doc_to_text(doc: Mapping, lmms_eval_specific_kwargs: Mapping | None = None) -> str:
    """lmms-eval's LongVideoBench prompt (no interleaved subtitles, as in longvideobench_val_v)."""
    return lmms_task_utils("longvideobench").longvideobench_doc_to_text(doc, _kwargs(lmms_eval_specific_kwargs))


def longvideobench_process_results(doc: Mapping, results: list) -> dict:
    """lmms-eval's lvb_acc (and its submission entry) plus air_selection."""
    return with_selection(doc, lmms_task_utils("longvideobench").longvideobench_process_results(doc, results))


def longvideobench_aggregate_results(results: list) -> float:
    """lmms-eval's LongVideoBench accuracy (fraction)."""
    return lmms_task_utils("longvideobench").longvideobench_aggregate_results(results)


# -- NExT-QA (nextqa_mc_test_hvp, nextqa_oe_val_hvp) ---------------------------------------------
def nextqa_doc_to_visual(doc: Mapping) -> list[str]:
    """[absolute video path] under $HF_HOME/nextqa/NExTVideo; MissingVideoError if absent."""
    return [nextqa_utils.video_path(doc)]


def nextqa_doc_to_text_mc(doc: Mapping, lmms_eval_specific_kwargs: Mapping | None = None) -> str:
    """lmms-eval's NExT-QA multiple-choice prompt."""
    return lmms_task_utils("nextqa").nextqa_doc_to_text_mc(doc, _kwargs(lmms_eval_specific_kwargs))


def nextqa_doc_to_target(doc: Mapping):
    """lmms-eval's NExT-QA target (option index for MC, answer text for OE)."""
    return lmms_task_utils("nextqa").nextqa_doc_to_target(doc)


def nextqa_mc_process_results(doc: Mapping, results: list) -> dict:
    """lmms-eval's exact_match plus air_selection."""
    return with_selection(doc, lmms_task_utils("nextqa").nextqa_mc_process_results(doc, results))


def require_nextqa_oe_scoring() -> None:
    """Fail before any generation when lmms-eval's WUPS scorer cannot run here.

    lmms-eval's nextqa_process_results needs the `pywsd` package and NLTK's wordnet, punkt and
    averaged_perceptron_tagger data; without them it raises only after every answer was generated.
    The scorer is probed on a tiny pair (a success is remembered for the process); a failure raises
    RuntimeError with the fix.
    """
    try:
        _probe_nextqa_oe_scoring()
    except Exception as error:  # NameError (no pywsd), LookupError (no NLTK data), ...
        raise RuntimeError(
            "NExT-QA open-ended scoring (WUPS, lmms-eval's nextqa_process_results) cannot run: "
            f"{type(error).__name__}: {error}. Expected the `pywsd` package and NLTK's data: "
            "`pip install pywsd` and `python -m nltk.downloader wordnet punkt punkt_tab averaged_perceptron_tagger "
            "averaged_perceptron_tagger_eng`. Checked before generation so that no answers are lost."
        ) from error


@functools.lru_cache(maxsize=1)
def _probe_nextqa_oe_scoring() -> None:
    """Score one tiny open-ended answer with lmms-eval's WUPS code; raises what that code raises."""
    probe = {"answer": "dog", "type": "CW", "additional_ref_answer": ""}
    lmms_task_utils("nextqa").nextqa_process_results(probe, ["a dog"])


def nextqa_doc_to_text_oe(doc: Mapping, lmms_eval_specific_kwargs: Mapping | None = None) -> str:
    """lmms-eval's NExT-QA open-ended prompt; first checks that WUPS scoring can run (see above)."""
    require_nextqa_oe_scoring()
    return lmms_task_utils("nextqa").nextqa_doc_to_text(doc, _kwargs(lmms_eval_specific_kwargs))


def nextqa_oe_process_results(doc: Mapping, results: list) -> dict:
    """lmms-eval's WUPS scores plus air_selection."""
    return with_selection(doc, lmms_task_utils("nextqa").nextqa_process_results(doc, results))


def nextqa_aggregate_results(results: list) -> float:
    """lmms-eval's NExT-QA WUPS@0 (percent)."""
    return lmms_task_utils("nextqa").nextqa_aggregate_results(results)


# -- EgoSchema (egoschema_subset_hvp) ------------------------------------------------------------
def egoschema_doc_to_visual(doc: Mapping) -> list[str]:
    """[absolute video path] under $HF_HOME/egoschema/videos; MissingVideoError if absent."""
    return [egoschema_utils.video_path(doc)]


def egoschema_doc_to_text(doc: Mapping, lmms_eval_specific_kwargs: Mapping | None = None) -> str:
    """lmms-eval's EgoSchema prompt."""
    return lmms_task_utils("egoschema").egoschema_doc_to_text(doc, _kwargs(lmms_eval_specific_kwargs))


def egoschema_doc_to_answer(doc: Mapping):
    """lmms-eval's EgoSchema target (index of the right option, as a string)."""
    return lmms_task_utils("egoschema").egoschema_doc_to_answer(doc)


def egoschema_process_results(doc: Mapping, results: list) -> dict:
    """lmms-eval's score (and submission entry) plus air_selection."""
    return with_selection(doc, lmms_task_utils("egoschema").egoschema_process_results_generation(doc, results))


def egoschema_aggregate_score(results: list, args=None) -> float:
    """lmms-eval's EgoSchema subset accuracy (fraction); `args` is lmms-eval's run arguments."""
    return lmms_task_utils("egoschema").egoschema_aggregate_score(results, args)
