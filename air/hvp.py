"""The lmms-eval model `hvp`: A.I.R. frame selection in front of any supported backbone.

Registered through the `lmms_eval.models` entry point (air/lmms_plugin.py), so after `pip install`:
    accelerate launch --num_processes=4 -m lmms_eval --model hvp \
        --model_args pretrained=Qwen/Qwen2.5-VL-7B-Instruct,device_map=auto --tasks videomme ...
The backbone is picked from `pretrained`; every AIRConfig field, every backbone loading field and
the options below are accepted as --model_args. One bad sample never ends a run: it is logged,
answered with "", and traced with its error.

Requests go `batch_size` at a time (lmms-eval's `--batch_size N`): `generate_until` ->
`_answer_group` (padding repeat, resumed record, or new) -> `_run_requests` -> `_prepare` per request
(doc, recognition, video, question, options, prompt: a `Sample`) -> `process_many(samples)` (the
selection loops of all N samples share their analysis calls, then each is answered; baselines answer
one by one through `process`) -> one trace record per request, in request order. Answers, traces and
per-sample error isolation are those of `--batch_size 1`. Every record carries the run's fingerprint
(`_fingerprint_parts`), so `resume=True` reuses only records made under the same configuration.
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
from air.fingerprint import make_fingerprint
from air.hvp_requests import (
    QUESTION_ID_FIELDS,
    Sample,
    question_id,
    question_options,
    video_path,
)
from air.selection_io import DEFAULT_REPLAY_MAX_FRAMES
from air.task_prompts import family_prompt
from air.traces import (
    TraceWriter,
    default_trace_dir,
    remember_summary,
    scan_for_resume,
    trace_key,
)

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
    "replay_max_frames": "int",
}
_AIR_FIELDS = set(AIRConfig.field_names()) | {"preset"}
_AIR_TYPES = {f.name: str(f.type) for f in dc_fields(AIRConfig)}
# analysis_batch_size is an AIRConfig field that also sizes the backbone's batches: it travels as AIRConfig.
_LOAD_TYPES = {f.name: str(f.type) for f in dc_fields(LoadOptions) if f.name not in _AIR_FIELDS}
_LOAD_DEFAULTS = {f.name: f.default for f in dc_fields(LoadOptions) if f.name in _LOAD_TYPES}

# Everything else in --model_args, every LoadOptions field and every AIRConfig field enters the run
# fingerprint, so a field added later counts automatically. Left out: where things run and are stored
# (they do not change an answer) and selection_file, which enters as its path and content hash.
NOT_FINGERPRINTED = {
    # replay_max_frames only admits or refuses a selection file: the frames answered are the file's
    "model": {"clip_device", "clip_batch_size", "trace_dir", "resume", "batch_size", "selection_file",
              "replay_max_frames"},
    "load": {"device", "device_map"},
    "config": {"cache_dir", "decode_threads"},  # decode_threads: the same frames on any thread count (tested)
}


def valid_model_args() -> list[str]:
    return sorted(set(MODEL_OPTIONS) | set(_LOAD_TYPES) | _AIR_FIELDS)


def split_model_args(kwargs: dict[str, Any]) -> tuple[dict, dict, dict]:
    """Split --model_args into (model options, LoadOptions fields, AIRConfig fields), converted and checked.

    Every value is checked against air/config.py's VALUE_RULES before any model loads (cross-field
    checks of AIRConfig, such as min_frames <= max_frames, come with the backbone's own limits later).
    Unknown keys raise a ValueError that lists every valid key; bad values one naming the field, the
    value and what is expected.
    """
    unknown = sorted(k for k in kwargs if k not in MODEL_OPTIONS and k not in _LOAD_TYPES and k not in _AIR_FIELDS)
    if unknown:
        raise ValueError(
            f"Unknown --model_args key(s) for hvp: {', '.join(unknown)}. Expected keys among: {', '.join(valid_model_args())}."
        )
    model = {k: convert_value(k, v, MODEL_OPTIONS[k]) for k, v in kwargs.items() if k in MODEL_OPTIONS}
    load = {k: convert_value(k, v, _LOAD_TYPES[k]) for k, v in kwargs.items() if k in _LOAD_TYPES}
    air = {k: convert_value(k, v, _AIR_TYPES.get(k, "str | None")) for k, v in kwargs.items() if k in _AIR_FIELDS}
    return model, load, air


class HVP(lmms):
    """A.I.R. (hvp) as an lmms-eval simple model."""

    is_simple = True
    model_id = "hvp"  # the lmms-eval name, prefix of log lines
    method_name = "air"  # the trace's "method"
    uses_clip = True  # load a CLIP encoder and the feature cache

    def __init__(self, pretrained: str, **kwargs: Any) -> None:
        super().__init__()
        from air.lmms_logging import route_logs_to_loguru

        route_logs_to_loguru()
        model_opts, load_opts, air_args = split_model_args({"pretrained": pretrained, **kwargs})
        self.options = model_opts
        self._replay = self._open_selection_file(model_opts.get("selection_file"),  # fail before loading models
                                                 model_opts.get("replay_max_frames", DEFAULT_REPLAY_MAX_FRAMES))
        self._setup_devices(load_opts)
        self._batch_size = model_opts.get("batch_size", 1)  # checked by split_model_args (VALUE_RULES)
        self._max_new_tokens = model_opts.get("max_new_tokens")
        self.model = self._load_model(model_opts, load_opts, air_args)
        self.fingerprint = make_fingerprint(self._fingerprint_parts(load_opts))
        trace_dir = model_opts.get("trace_dir") or default_trace_dir()
        self.traces = TraceWriter(trace_dir, rank=self._rank)
        self.resume = bool(model_opts.get("resume", False))
        self._unknown_tasks: set[str] = set()
        self.stats = {"samples": 0, "errors": 0, "frames_analyzed": 0, "fallbacks": 0, "resumed": 0}
        logger.info("%s: rank %d/%d on %s, traces in %s (run fingerprint %s)", self.model_id, self._rank,
                    self._world_size, self._device, self.traces.path, self.fingerprint["hash"])
        self._done = self._previous_traces() if self.resume else {}
        if self._batch_size > 1:
            self._log_batching()

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
            with_clip=self.uses_clip,
            **load_opts,
            **air_args,
        )

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

    def _log_batching(self) -> None:
        """Say how requests are grouped, and what analysis_batch_size would put a whole step in one call."""
        cfg = self.model.config
        whole_step = cfg.candidates_per_round * self._batch_size
        advice = ""
        if cfg.analysis_batch_size < whole_step:
            advice = (f"; a step of {self._batch_size} loops holds up to {whole_step} frames, so on a GPU with room "
                      f"for it analysis_batch_size={whole_step} sends each step in one call")
        logger.info("%s: batch_size=%d: the selection loops of %d requests at a time share their analysis calls "
                    "(analysis_batch_size=%d)%s.", self.model_id, self._batch_size, self._batch_size,
                    cfg.analysis_batch_size, advice)

    # -- selection file, fingerprint and resume --------------------------------------------------
    def _open_selection_file(self, path: str | None, max_frames: int = DEFAULT_REPLAY_MAX_FRAMES):
        """The loaded selection file, or None; a missing, invalid or empty file, or an entry with more than
        `max_frames` frames (replay_max_frames), raises ValueError naming it."""
        if not path:
            return None
        from air.selection_io import load_selection_file

        replay = load_selection_file(path, max_frames=max_frames)
        if not replay.entries:
            raise ValueError(f"Invalid selection file {path}: it holds no selections. Expected at least one entry "
                             "(write one with `python -m air export`).")
        logger.info("%s: replaying %d selections from %s", self.model_id, len(replay.entries), path)
        return replay

    def _fingerprint_parts(self, load_opts: dict) -> dict[str, Any]:
        """What can change an answer: method, model options, load options, the full AIRConfig, prompt version."""
        from air.Process_Utils.process_messages import ANALYSIS_PROMPT_VERSION

        model = {k: self.options.get(k) for k in MODEL_OPTIONS if k not in NOT_FINGERPRINTED["model"]}
        model["frame_max_side"] = self.model.frame_max_side  # the value in use, default included
        load = {k: load_opts.get(k, default) for k, default in _LOAD_DEFAULTS.items()
                if k not in NOT_FINGERPRINTED["load"]}
        config = {k: v for k, v in self.model.config.to_dict().items() if k not in NOT_FINGERPRINTED["config"]}
        replay = None
        if self._replay is not None:
            replay = {"path": self._replay.path, "sha256": self._replay.sha256}
        return {"method": self.method_name, "model": model, "load": load, "config": config,
                "analysis_prompt_version": ANALYSIS_PROMPT_VERSION, "selection_file": replay,
                **self._fingerprint_extra()}

    def _fingerprint_extra(self) -> dict[str, Any]:
        """Fingerprint parts of a subclass (a baseline's own options)."""
        return {}

    def _previous_traces(self) -> dict[str, dict]:
        """{trace key: record} this method traced without error under this run's fingerprint."""
        scan = scan_for_resume(self.traces.dir, self.fingerprint, self.method_name)
        log = logger.warning if scan.foreign else logger.info
        log("%s: resume=True in %s: %s.", self.model_id, self.traces.dir, scan.summary())
        return scan.reusable

    # -- generation ------------------------------------------------------------------------------
    def generate_until(self, requests) -> list[str]:
        """Answers in request order; `batch_size` requests at a time go through selection together."""
        from tqdm import tqdm

        answers: list[str] = []
        memo: dict[str, str] = {}
        bar = tqdm(total=len(requests), desc=f"{self.method_name} rank {self._rank}", disable=self._rank != 0,
                   dynamic_ncols=True)
        for start in range(0, len(requests), self._batch_size):
            group = requests[start : start + self._batch_size]
            for request, text in zip(group, self._answer_group(group, memo)):
                context, gen_kwargs = request.args[0], request.args[1]
                answers.append(text)
                self.cache_hook.add_partial("generate_until", (context, gen_kwargs), text)
                bar.update(1)
            bar.set_postfix(analysed=self.stats["frames_analyzed"], fallbacks=self.stats["fallbacks"],
                            errors=self.stats["errors"], refresh=False)
        bar.close()
        if self.stats["resumed"]:
            logger.info("%s: rank %d reused %d traced answers (resume=True)", self.model_id, self._rank,
                        self.stats["resumed"])
        return answers

    def _answer_group(self, group, memo: dict[str, str]) -> list[str]:
        """The answers of consecutive requests: each new one run once (together), repeats and resumed ones looked up.

        A key seen before (lmms-eval's rank padding repeats the last request) is answered once; a key
        traced under this run's fingerprint (resume=True) gets its stored answer; the rest run together.
        """
        keys = [trace_key(request.args[4], request.args[3]) for request in group]
        new: dict[str, Any] = {}
        for request, key in zip(group, keys):
            if key in memo or key in new:
                continue
            if key in self._done:
                memo[key] = str(self._done[key].get("answer", ""))
                self.stats["resumed"] += 1
            else:
                new[key] = request
        memo.update(zip(new, self._run_requests(list(new.values()))))
        return [memo[key] for key in keys]

    def _run_requests(self, requests) -> list[str]:
        """Prepare, answer and trace requests (selection of all of them together); per-sample errors are
        logged, traced and answered with "". Records are written in request order."""
        records: list[dict[str, Any]] = []
        docs: list[Any] = []
        samples: list[Sample | None] = []
        prepare_s: list[float] = []
        for request in requests:
            doc_id, task, split = request.args[3:6]
            record: dict[str, Any] = {"task": task, "doc_id": doc_id, "split": split, "method": self.method_name,
                                      "fingerprint": self.fingerprint}
            t0 = time.perf_counter()
            doc = sample = None
            try:
                doc = self.task_dict[task][split][doc_id]
                sample = self._prepare(request, doc, record)
            except (Exception, SystemExit) as exc:  # lmms-eval task utils call sys.exit() on a missing video
                self._record_error(record, exc)
            records.append(record)
            docs.append(doc)
            samples.append(sample)
            prepare_s.append(time.perf_counter() - t0)
        ready = [k for k, sample in enumerate(samples) if sample is not None]
        t0 = time.perf_counter()
        outcomes = self._process_isolated([samples[k] for k in ready])
        shared_s = (time.perf_counter() - t0) / max(1, len(ready))
        for k, outcome in zip(ready, outcomes):
            if isinstance(outcome, BaseException):
                self._record_error(records[k], outcome)
            else:
                text, extra = outcome
                records[k].update(extra)
                records[k]["answer"] = text
        texts = []
        for k, record in enumerate(records):
            record["seconds"] = round(prepare_s[k] + (shared_s if k in ready else 0.0), 4)
            self.stats["samples"] += 1
            self.traces.write(record)
            if docs[k] is not None:
                remember_summary(docs[k], record)
            texts.append(record["answer"])
        return texts

    def _record_error(self, record: dict, exc: BaseException) -> None:
        """A failed sample: counted, logged (traceback at DEBUG), traced with its error and answered ""."""
        self.stats["errors"] += 1
        record.update(answer="", error=f"{type(exc).__name__}: {exc}")
        logger.error("%s: sample %s doc_id=%s failed, answered with '': %s: %s", self.model_id, record["task"],
                     record["doc_id"], type(exc).__name__, exc)
        logger.debug("%s", "".join(traceback.format_exception(exc)))

    def _process_isolated(self, samples: list[Sample]) -> list[tuple[str, dict] | BaseException]:
        """`process_many`, with one sample's failure kept to that sample even if the whole call raises."""
        if not samples:
            return []
        try:
            outcomes = list(self.process_many(samples))
            if len(outcomes) != len(samples):
                raise RuntimeError(f"process_many returned {len(outcomes)} results for {len(samples)} samples")
            return outcomes
        except (Exception, SystemExit) as exc:
            if len(samples) == 1:
                return [exc]
            logger.warning("%s: answering %d samples together failed (%s: %s); answering them one by one.",
                           self.model_id, len(samples), type(exc).__name__, exc)
            return [outcome for sample in samples for outcome in self._process_isolated([sample])]

    def _prepare(self, request, doc, record: dict) -> Sample:
        """Read one request's doc into a Sample; what was decided (recognition, ids, video) goes into record."""
        from air.Process_Utils.process_messages import ANALYSIS_PROMPT_VERSION

        context, gen_kwargs, doc_to_visual, doc_id, task, split = request.args
        recognition = self._recognise(task, doc, context, getattr(request, "metadata", None))
        record["task_recognition"] = recognition.to_dict()
        record["analysis_prompt_version"] = ANALYSIS_PROMPT_VERSION
        record["question_id"] = question_id(doc, recognition)
        video = video_path(doc_to_visual(doc))
        record["video"] = video
        question, options = question_options(recognition, doc, context)
        gen_kwargs = dict(gen_kwargs or {})
        if self._max_new_tokens and "max_new_tokens" not in gen_kwargs:
            gen_kwargs["max_new_tokens"] = self._max_new_tokens
        record["gen_kwargs"] = gen_kwargs
        return Sample(task=task, doc_id=doc_id, split=split, video=video, question=question, options=options,
                      prompt=family_prompt(task, doc, context, doc_to_visual, self.model.backbone.lmms_eval_model,
                                           subtitles=recognition.subtitles),
                      gen_kwargs=gen_kwargs,
                      question_id=record["question_id"])

    def _recognise(self, task: str, doc, context: str, metadata):
        """How the task's docs are read (benchmark_utils.recognise_task); an unknown task is warned about once."""
        from benchmark_utils import recognise_task

        recognition = recognise_task(task, doc, context=context, metadata=metadata)
        if not recognition.known and task not in self._unknown_tasks:
            self._unknown_tasks.add(task)
            logger.warning("%s: %s (warned once per task; every trace record of the task says so under "
                           "task_recognition).", self.model_id, recognition.detail)
        return recognition

    def process(self, sample: Sample) -> tuple[str, dict]:
        """Answer one sample; returns (text, trace fields, with the prompt sent). Baselines override this."""
        (outcome,) = HVP._answer_samples(self, [sample])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def process_many(self, samples: list[Sample]) -> list[tuple[str, dict] | BaseException]:
        """Answer samples together: one (text, trace fields) or the sample's exception each, in order.

        A.I.R.'s selection loops of all samples share their analysis calls (H_VPModel.answer_many);
        replayed samples (selection_file) are answered from their stored frames. Baselines that
        override `process` only override this too (baselines.uniform.SelectorBaseline).
        """
        return HVP._answer_samples(self, samples)

    def _answer_samples(self, samples: list[Sample]) -> list[tuple[str, dict] | BaseException]:
        outcomes: list[Any] = [None] * len(samples)
        selecting: list[int] = []
        for k, sample in enumerate(samples):
            try:
                replay = self._replayed_frames(sample)
                if replay is None:
                    selecting.append(k)
                    continue
                frames, how = replay
                text, sent = self.model.answer_frames_with_prompt(sample.video, frames, sample.prompt,
                                                                  sample.gen_kwargs)
                outcomes[k] = (text, {"frame_indices": list(frames), "replayed_from": str(self._replay.path),
                                      "replay_match": how, "prompt": sent})
            except (Exception, SystemExit) as exc:
                outcomes[k] = exc
        chosen = [samples[k] for k in selecting]
        if not chosen:
            return outcomes
        answered = self.model.answer_many(
            [s.video for s in chosen], [s.prompt for s in chosen], [s.question for s in chosen],
            [s.options for s in chosen], [s.gen_kwargs for s in chosen], return_exceptions=True)
        for k, outcome in zip(selecting, answered):
            outcomes[k] = outcome if isinstance(outcome, BaseException) else self._selection_trace(*outcome)
        return outcomes

    def _selection_trace(self, text: str, selection) -> tuple[str, dict]:
        """(answer, trace fields) of a sample answered after A.I.R. selection; the run's stats counted."""
        self.stats["frames_analyzed"] += selection.n_analyzed
        self.stats["fallbacks"] += len(selection.fallbacks)
        trace = selection.to_dict()
        trace.pop("answer", None)
        return text, trace

    def _replayed_frames(self, sample: Sample) -> tuple[list[int], str] | None:
        """(the selection file's frames for this sample, how its entry was found: "task_doc_id", "question_id"
        or "video"), or None when not replaying (KeyError if the file has no entry for it)."""
        if getattr(self, "_replay", None) is None:
            return None
        entry, how = self._replay.match(task=sample.task, doc_id=sample.doc_id, question_id=sample.question_id,
                                        video=sample.video)
        return entry["frame_indices"], how


__all__ = ["HVP", "MODEL_OPTIONS", "NOT_FINGERPRINTED", "QUESTION_ID_FIELDS", "split_model_args", "valid_model_args"]
