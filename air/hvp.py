"""The lmms-eval model `hvp`: A.I.R. frame selection in front of any supported backbone.

Registered through the `lmms_eval.models` entry point (air/lmms_plugin.py), so after `pip install`:
    accelerate launch --num_processes=4 -m lmms_eval --model hvp \
        --model_args pretrained=Qwen/Qwen2.5-VL-7B-Instruct,device_map=auto --tasks videomme ...
The backbone is picked from `pretrained`; every AIRConfig field, every backbone loading field and
the options below are accepted as --model_args. One bad sample never ends a run: it is logged,
answered with "", and traced with its error.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import fields as dc_fields
from typing import Any

from lmms_eval.api.model import lmms

from air.base_models.base import LoadOptions
from air.config import AIRConfig, convert_value
from air.task_prompts import family_prompt
from air.traces import TraceWriter, default_trace_dir, load_traces, remember_summary, trace_key

logger = logging.getLogger("air.hvp")

#: Options of the lmms-eval model itself (beyond AIRConfig and LoadOptions), with their types.
MODEL_OPTIONS: dict[str, str] = {
    "pretrained": "str",
    "backbone": "str | None",
    "analysis_pretrained": "str | None",
    "clip_device": "str | None",
    "clip_batch_size": "int",
    "frame_max_side": "int | None",
    "trace_dir": "str | None",
    "resume": "bool",
    "selection_file": "str | None",
    "batch_size": "int",
    "max_new_tokens": "int | None",
}
_AIR_FIELDS = set(AIRConfig.field_names()) | {"preset"}
# analysis_batch_size is an AIRConfig field that also sizes the backbone's batches: it travels as AIRConfig.
_LOAD_TYPES = {f.name: str(f.type) for f in dc_fields(LoadOptions) if f.name not in _AIR_FIELDS}


def valid_model_args() -> list[str]:
    return sorted(set(MODEL_OPTIONS) | set(_LOAD_TYPES) | _AIR_FIELDS)


def split_model_args(kwargs: dict[str, Any]) -> tuple[dict, dict, dict]:
    """Split --model_args into (model options, LoadOptions fields, AIRConfig fields), converted.

    Unknown keys raise a ValueError that lists every valid key.
    """
    unknown = sorted(k for k in kwargs if k not in MODEL_OPTIONS and k not in _LOAD_TYPES and k not in _AIR_FIELDS)
    if unknown:
        raise ValueError(
            f"Unknown --model_args key(s) for hvp: {', '.join(unknown)}. Expected keys among: {', '.join(valid_model_args())}."
        )
    model = {k: convert_value(k, v, MODEL_OPTIONS[k]) for k, v in kwargs.items() if k in MODEL_OPTIONS}
    load = {k: convert_value(k, v, _LOAD_TYPES[k]) for k, v in kwargs.items() if k in _LOAD_TYPES}
    air = {k: v for k, v in kwargs.items() if k in _AIR_FIELDS}
    return model, load, air


class HVP(lmms):
    """A.I.R. (hvp) as an lmms-eval simple model."""

    is_simple = True
    method_name = "air"

    def __init__(self, pretrained: str, **kwargs: Any) -> None:
        super().__init__()
        model_opts, load_opts, air_args = split_model_args({"pretrained": pretrained, **kwargs})
        self.options = model_opts
        self._setup_devices(load_opts)
        self._batch_size = int(model_opts.get("batch_size") or 1)
        self._max_new_tokens = model_opts.get("max_new_tokens")
        self.model = self._load_model(model_opts, load_opts, air_args)
        trace_dir = model_opts.get("trace_dir") or default_trace_dir()
        self.traces = TraceWriter(trace_dir, rank=self._rank)
        self.resume = bool(model_opts.get("resume", False))
        self._done = self._previous_traces() if self.resume else {}
        self.stats = {"samples": 0, "errors": 0, "frames_analyzed": 0, "fallbacks": 0, "resumed": 0}
        logger.info("hvp: rank %d/%d on %s, traces in %s", self._rank, self._world_size, self._device, self.traces.path)

    # -- lmms-eval plumbing ----------------------------------------------------------------------
    def _setup_devices(self, load_opts: dict) -> None:
        import torch
        from accelerate import Accelerator

        accelerator = Accelerator()
        self.accelerator = accelerator
        if accelerator.num_processes > 1:
            use_cuda = torch.cuda.is_available()
            device = f"cuda:{accelerator.local_process_index}" if use_cuda else "cpu"
            if load_opts.get("device_map"):
                logger.warning("hvp: device_map=%s ignored with %d processes: one full model copy per rank.",
                               load_opts["device_map"], accelerator.num_processes)
            load_opts["device_map"] = None
            load_opts["device"] = device
            self._rank = accelerator.process_index
            self._world_size = accelerator.num_processes
        else:
            from air.base_models.utils.generation import default_device

            device = default_device(load_opts.get("device"))
            if load_opts.get("device_map") == "auto" and not torch.cuda.is_available():
                load_opts["device_map"] = None
            load_opts["device"] = device
            self._rank, self._world_size = 0, 1
        self._device = torch.device(device)

    def _load_model(self, model_opts: dict, load_opts: dict, air_args: dict):
        from air.model import DEFAULT_FRAME_MAX_SIDE, H_VPModel

        return H_VPModel.from_pretrained(
            model_opts["pretrained"],
            analysis_pretrained=model_opts.get("analysis_pretrained"),
            backbone=model_opts.get("backbone"),
            clip_device=model_opts.get("clip_device"),
            clip_batch_size=model_opts.get("clip_batch_size") or 32,
            frame_max_side=model_opts.get("frame_max_side", DEFAULT_FRAME_MAX_SIDE),
            **load_opts,
            **air_args,
        )

    def _previous_traces(self) -> dict[str, dict]:
        # only this method's successful records: baselines may share the trace folder
        done = {k: r for k, r in load_traces(self.traces.dir).items()
                if not r.get("error") and r.get("method", self.method_name) == self.method_name}
        if done:
            logger.info("hvp: resume=True, %d samples already traced in %s will be skipped", len(done), self.traces.dir)
        return done

    @property
    def device(self):
        return self._device

    @property
    def rank(self) -> int:
        return self._rank

    @property
    def world_size(self) -> int:
        return self._world_size

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def loglikelihood(self, requests):
        raise NotImplementedError(
            "hvp generates answers: loglikelihood (multiple_choice output_type) tasks are not supported. "
            "Use a generate_until task such as videomme_hvp."
        )

    def generate_until_multi_round(self, requests):
        raise NotImplementedError("hvp does not support multi-round generation tasks.")

    # -- generation ------------------------------------------------------------------------------
    def generate_until(self, requests) -> list[str]:
        from tqdm import tqdm

        answers: list[str] = []
        memo: dict[str, str] = {}
        bar = tqdm(total=len(requests), desc=f"{self.method_name} rank {self._rank}", disable=self._rank != 0,
                   dynamic_ncols=True)
        for request in requests:
            context, gen_kwargs, doc_to_visual, doc_id, task, split = request.args
            key = trace_key(task, doc_id)
            if key in memo:  # rank padding repeats the last request: answer it once
                text = memo[key]
            elif key in self._done:
                text = str(self._done[key].get("answer", ""))
                self.stats["resumed"] += 1
            else:
                text = self._run_request(context, dict(gen_kwargs or {}), doc_to_visual, doc_id, task, split)
            memo[key] = text
            answers.append(text)
            self.cache_hook.add_partial("generate_until", (context, gen_kwargs), text)
            bar.update(1)
            bar.set_postfix(analysed=self.stats["frames_analyzed"], fallbacks=self.stats["fallbacks"],
                            errors=self.stats["errors"], refresh=False)
        bar.close()
        return answers

    def _run_request(self, context, gen_kwargs, doc_to_visual, doc_id, task, split) -> str:
        record: dict[str, Any] = {"task": task, "doc_id": doc_id, "split": split, "method": self.method_name}
        t0 = time.perf_counter()
        doc = None
        try:
            doc = self.task_dict[task][split][doc_id]
            record["question_id"] = _question_id(doc)
            video = _video_path(doc_to_visual(doc))
            record["video"] = video
            question, options = self._question_options(task, doc, context)
            prompt = family_prompt(task, doc, context, doc_to_visual, self.model.backbone.lmms_eval_model)
            if self._max_new_tokens and "max_new_tokens" not in gen_kwargs:
                gen_kwargs["max_new_tokens"] = self._max_new_tokens
            text, extra = self.process(video, prompt, question, options, gen_kwargs, task=task, doc_id=doc_id)
            record.update(extra)
            record["answer"] = text
        except (Exception, SystemExit) as exc:  # lmms-eval task utils call sys.exit() on a missing video
            self.stats["errors"] += 1
            text = ""
            record.update(answer="", error=f"{type(exc).__name__}: {exc}")
            logger.error("hvp: sample %s doc_id=%s failed, answered with '': %s: %s", task, doc_id,
                         type(exc).__name__, exc)
            logger.debug("%s", traceback.format_exc())
        record["seconds"] = round(time.perf_counter() - t0, 4)
        self.stats["samples"] += 1
        self.traces.write(record)
        if doc is not None:
            remember_summary(doc, record)
        return text

    def process(self, video: str, prompt, question: str, options: list[str], gen_kwargs: dict, *, task: str,
                doc_id) -> tuple[str, dict]:
        """Answer one sample; returns (text, trace fields). Baselines override this."""
        replay = self._replayed_frames(task, doc_id, video)
        if replay is not None:
            text = self.model.answer_frames(video, replay, prompt, gen_kwargs)
            return text, {"frame_indices": list(replay), "replayed_from": self.options.get("selection_file")}
        text, selection = self.model.answer(video, prompt, question, options, gen_kwargs)
        self.stats["frames_analyzed"] += selection.n_analyzed
        self.stats["fallbacks"] += len(selection.fallbacks)
        trace = selection.to_dict()
        trace.pop("answer", None)
        return text, trace

    def _replayed_frames(self, task, doc_id, video):
        path = self.options.get("selection_file")
        if not path:
            return None
        from air.selection_io import load_selection_file

        if not hasattr(self, "_replay"):
            self._replay = load_selection_file(path)
        return self._replay.frames_for(task=task, doc_id=doc_id, video=video)

    def _question_options(self, task: str, doc, context: str) -> tuple[str, list[str]]:
        import benchmark_utils

        if benchmark_utils.for_task(task) is not None:
            return benchmark_utils.doc_query(task, doc)
        from air.Process_Utils.process_messages import extract_question_options

        return extract_question_options(context)


#: Dataset fields that identify a question (Video-MME question_id, MLVU/LongVideoBench ids, NExT-QA qid).
QUESTION_ID_FIELDS = ("question_id", "qid", "uid", "id")


def _question_id(doc) -> str | None:
    """The dataset's own id of the question, for exports that must match other methods' selections."""
    for key in QUESTION_ID_FIELDS:
        try:
            value = doc[key]
        except (KeyError, TypeError, IndexError):
            continue
        if value is not None and str(value) != "":
            return str(value)
    return None


def _video_path(visuals) -> str:
    """The one video path a doc_to_visual returned (a list with a str path, or a str)."""
    if isinstance(visuals, str):
        return visuals
    items = list(visuals or [])
    paths = [v for v in items if isinstance(v, str)]
    if not paths:
        raise ValueError(
            f"Invalid doc_to_visual output: {[type(v).__name__ for v in items]}. Expected a list holding a video path."
        )
    return paths[0]
