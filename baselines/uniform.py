"""The lmms-eval model `air_uniform`, and the base class every frame-choice baseline shares.

A baseline is `hvp` with the frame choice swapped: the same backbone (picked from `pretrained`),
adapters, decoders, prompts, generation kwargs, traces, resume (a baseline's own options are part of
its run fingerprint) and `selection_file=` replay, and the
same number of frames (the A.I.R. budget B of SPEC.md for the video, or a fixed `num_frames=`), so a
head-to-head differs only in WHICH frames are answered from.
    python -m lmms_eval --model air_uniform --model_args pretrained=Qwen/Qwen2.5-VL-7B-Instruct ...
`air_uniform` takes B of the N decoded frames by the uniform rule of the backbone's lmms-eval wrapper
(`uniform_rule=reference`, the default: Qwen round(linspace(0, N - 1, B)), InternVL segment centres,
LLaVA-OneVision and VILA truncated linspace; see baselines.selectors), or plain round(linspace(0, N - 1, B))
with `uniform_rule=linspace`, and never loads CLIP (`clip_model=` is accepted and unused).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from air.config import convert_value
from air.hvp import HVP, valid_model_args
from baselines.selectors import UNIFORM_RULES, frames_by_rule

logger = logging.getLogger("air.baselines")

#: The stop_reason of a baseline trace: frames were chosen in one pass, without the A.I.R. loop.
SINGLE_PASS = "single_pass"


@dataclass(frozen=True)
class FrameChoice:
    """What a baseline chose for one video: frames int64 (k,) sorted original indices, plus trace parts.

    scored: (frame, raw cosine, normalised score, "sample") for every frame that got a CLIP score.
    fallbacks: {"reason", "detail"} dicts; info: extra trace keys; timings_s: seconds per step.
    """

    frames: np.ndarray
    scored: tuple[tuple[int, float, float, str], ...] = ()
    fallbacks: tuple[dict[str, str], ...] = ()
    info: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)


class SelectorBaseline(HVP):
    """`hvp` with a one-pass frame choice instead of A.I.R.; subclasses implement `choose_frames`.

    Class attributes: model_id (the lmms-eval name), method_name (the trace's "method"), uses_clip
    (load a CLIP encoder and the feature cache), baseline_options ({name: (type hint, default)} model
    args beyond hvp's).
    """

    model_id = "baseline"
    method_name = "baseline"
    uses_clip = False
    baseline_options: ClassVar[dict[str, tuple[str, Any]]] = {"num_frames": ("int | None", None)}

    def __init__(self, pretrained: str, **kwargs: Any) -> None:
        valid = set(valid_model_args()) | set(self.baseline_options)
        unknown = sorted(k for k in kwargs if k not in valid)
        if unknown:
            raise ValueError(
                f"Unknown --model_args key(s) for {self.model_id}: {', '.join(unknown)}. "
                f"Expected keys among: {', '.join(sorted(valid))}."
            )
        own = {k: kwargs.pop(k) for k in list(kwargs) if k in self.baseline_options}
        self.baseline_args = {
            name: convert_value(name, own[name], hint) if name in own else default
            for name, (hint, default) in self.baseline_options.items()
        }
        self._check_baseline_args(self.baseline_args)
        super().__init__(pretrained, **kwargs)

    def _check_baseline_args(self, args: dict[str, Any]) -> None:
        """Checks beyond air/config.py's VALUE_RULES, which convert_value has applied (none here)."""

    # -- loading ---------------------------------------------------------------------------------
    def _load_model(self, model_opts: dict, load_opts: dict, air_args: dict):
        """hvp's H_VPModel (the backbone of `pretrained`, its frame limits, the same AIRConfig), CLIP only if
        used and no analysis backbone."""
        if model_opts.get("analysis_pretrained"):
            logger.warning("%s: analysis_pretrained=%s is unused: baselines analyse no frames.", self.model_id,
                           model_opts["analysis_pretrained"])
        return super()._load_model({**model_opts, "analysis_pretrained": None}, load_opts, air_args)

    def _fingerprint_extra(self) -> dict[str, Any]:
        """The baseline's own options enter the run fingerprint (resume never mixes num_frames=8 and 16)."""
        return {"baseline": dict(self.baseline_args)}

    # -- one sample ------------------------------------------------------------------------------
    def frame_budget(self, n_frames: int, fps: float) -> int:
        """Frames to answer from: num_frames (capped at n_frames) or the A.I.R. budget B of the video."""
        from air.Process_Utils.sample_logic import video_budget

        fixed = self.baseline_args["num_frames"]
        if fixed is not None:
            return min(int(fixed), int(n_frames))
        cfg = self.model.config
        return video_budget(n_frames, fps, cfg.max_frames, cfg.min_frames, cfg.budget_ref_s)

    def choose_frames(self, reader, samples: np.ndarray, budget: int, question: str,
                      options: list[str] | None) -> FrameChoice:
        """The frames to answer from; samples int64 (n,) are the 1-FPS sample indices of the video."""
        raise NotImplementedError(f"{type(self).__name__} must implement choose_frames.")

    def process(self, sample) -> tuple[str, dict]:
        """Choose frames, answer from them; returns (text, trace fields with the prompt sent) like HVP.process."""
        if self._replay is not None:  # selection_file=: hvp answers from the file's frames
            return super().process(sample)
        selection = self.select(sample.video, sample.question, sample.options)
        t0 = time.perf_counter()
        prompt = sample.prompt(selection) if callable(sample.prompt) else sample.prompt
        text, sent = self.model.answer_frames_with_prompt(sample.video, selection.frame_indices, prompt,
                                                          sample.gen_kwargs)
        timings = {**selection.timings_s, "answer": time.perf_counter() - t0}
        timings["total"] = timings.get("total", 0.0) + timings["answer"]
        self.stats["fallbacks"] += len(selection.fallbacks)
        return text, selection.with_info(timings_s=timings, prompt=sent).to_dict()

    def process_many(self, samples) -> list:
        """One sample at a time through `process` (a baseline has no selection loop to share)."""
        outcomes = []
        for sample in samples:
            try:
                outcomes.append(self.process(sample))
            except (Exception, SystemExit) as exc:  # as hvp isolates one sample (lmms-eval utils may sys.exit)
                outcomes.append(exc)
        return outcomes

    def select(self, video: str, question: str, options: list[str] | None = None):
        """The baseline's frames for one video and question, as an `air.model.Selection` (n_analyzed 0)."""
        from air.model import decoder_fallbacks
        from air.Process_Utils.sample_logic import initial_sample_indices
        from air.selection import Selection

        cfg = self.model.config
        t0 = time.perf_counter()
        with self.model.open(video) as reader:
            samples = initial_sample_indices(reader.n_frames, reader.fps, cfg.sample_fps)
            budget = self.frame_budget(reader.n_frames, reader.fps)
            choice = self.choose_frames(reader, samples, budget, question, list(options) if options else None)
            fallbacks = [*choice.fallbacks, *decoder_fallbacks(reader)]
            fps, n_frames, decoder = float(reader.fps), int(reader.n_frames), reader.backend
        frames = tuple(int(f) for f in np.asarray(choice.frames, dtype=np.int64))
        if len(frames) < budget:
            fallbacks.append({"reason": "fewer_frames_than_budget",
                              "detail": f"{len(frames)} of {budget} frames: the choice ran out of candidates"})
        timings = {**choice.timings_s, "total": time.perf_counter() - t0}
        config_notes = list(getattr(self.model, "config_notes", ()))
        notes = {"config_notes": config_notes} if config_notes else {}
        return Selection(
            frame_indices=frames, fps=fps, n_frames=n_frames, budget=int(budget), threshold=None, gmm_means=(),
            gmm_stds=(), events=(), initial_pool=(), rounds=(), stop_reason=SINGLE_PASS,
            fallbacks=tuple(fallbacks), scored=choice.scored, timings_s=timings, config=cfg.to_dict(),
            video=str(video),
            extra={"method": self.method_name, "decoder": decoder, "n_samples": int(samples.size),
                   "baseline_args": dict(self.baseline_args), **choice.info,
                   **notes},
        )


#: `uniform_rule` values beyond the rule names of UNIFORM_RULES: the backbone's lmms-eval wrapper rule.
REFERENCE_RULE = "reference"


class UniformBaseline(SelectorBaseline):
    """`air_uniform`: B evenly spaced frames of the whole video.

    uniform_rule: "reference" (default) picks them as the backbone's lmms-eval wrapper does
    (Backbone.uniform_rule), so the published uniform setting is reproduced; "linspace" takes
    round(linspace(0, N - 1, B)), first and last frame included; any other name of
    baselines.selectors.UNIFORM_RULES forces that rule. The trace records the rule used.
    """

    model_id = "air_uniform"
    method_name = "uniform"
    baseline_options: ClassVar[dict[str, tuple[str, Any]]] = {
        **SelectorBaseline.baseline_options, "uniform_rule": ("str", REFERENCE_RULE),
    }

    def _check_baseline_args(self, args: dict[str, Any]) -> None:
        super()._check_baseline_args(args)
        valid = [REFERENCE_RULE, *sorted(UNIFORM_RULES)]
        if args["uniform_rule"] not in valid:
            raise ValueError(f"Invalid uniform_rule: {args['uniform_rule']!r}. Expected one of {valid}.")

    def uniform_rule(self) -> str:
        """The UNIFORM_RULES name this run uses (the backbone's own rule for "reference")."""
        rule = self.baseline_args["uniform_rule"]
        return self.model.backbone.uniform_rule if rule == REFERENCE_RULE else rule

    def choose_frames(self, reader, samples, budget, question, options) -> FrameChoice:
        t0 = time.perf_counter()
        rule = self.uniform_rule()
        frames = frames_by_rule(rule, int(reader.n_frames), int(budget))
        return FrameChoice(frames=frames, info={"uniform_rule": rule},
                           timings_s={"selection": time.perf_counter() - t0})
