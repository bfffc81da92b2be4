"""Public entry point of A.I.R.: configuration, the selection loop and `H_VPModel`, which wires them up.

`AIRConfig` (air/config.py) and `select_frames` / `Selection` (air/selection.py) live in their own
files and are re-exported here, so `from air.model import ...` is the one import users need.
`H_VPModel` needs no lmms-eval: use it directly in a notebook.
"""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from air.base_models.base import AnalysisItem, Backbone, LoadOptions
from air.config import PRESETS, AIRConfig, config_for_backbone
from air.Process_Utils.process_messages import FrameScore, format_query
from air.selection import RoundTrace, Selection, SelectionLoop, drive_loop, select_frames

__all__ = [
    "AIRConfig", "PRESETS", "FrameScore", "RoundTrace", "Selection", "SelectionLoop", "select_frames", "H_VPModel",
    "LoadOptions",
]

logger = logging.getLogger(__name__)

#: Longest side, in pixels, of frames handed to the VLM (its own processor resizes further). Large
#: enough that each backbone sizes and tiles answering frames as lmms-eval does from the native frame
#: (rating frames are cut to 1024 by the adapters, base_models.utils.hf_generation.ANALYSIS_MAX_SIDE).
DEFAULT_FRAME_MAX_SIDE = 2048

# analysis_batch_size belongs to AIRConfig; LoadOptions gets the config's value.
_LOAD_FIELDS = {f for f in LoadOptions.__dataclass_fields__} - set(AIRConfig.field_names())


_TRUNCATION_WARNED: set[str] = set()


def warn_truncated_query(clip_name: str, tokens) -> None:
    """Log, once per process and CLIP model, that queries are cut by the CLIP tokenizer (the trace records each)."""
    if clip_name in _TRUNCATION_WARNED:
        return
    _TRUNCATION_WARNED.add(clip_name)
    logger.warning(
        "The CLIP query has %d tokens but %s reads only %d: the tokenizer cuts the rest (the question's end or "
        "its options), so frames are scored against part of it. Each selection records query_truncated in its "
        "trace; this warning is shown once per run. A CLIP model with a longer text context (e.g. longclip:L, "
        "248 tokens) reads more.", tokens.n_tokens, clip_name, tokens.context_length)


def decoder_fallbacks(reader) -> list[dict[str, str]]:
    """The trace's fallback entries ("decoder_fallback") for each decoder that failed before `reader`'s served."""
    return [{"reason": "decoder_fallback", "detail": f"{backend} failed ({cause}); served by {reader.backend}"}
            for backend, cause in getattr(reader, "fallback_errors", ())]


def vlm_frame_size(width: int, height: int, max_side: int | None) -> tuple[int, int] | None:
    """(width, height) that fits `max_side` keeping the aspect ratio, or None to keep the native size."""
    if not max_side or max(width, height) <= max_side:
        return None
    scale = max_side / max(width, height)
    return max(2, int(round(width * scale))), max(2, int(round(height * scale)))


class _SelectionJob:
    """One video and question in the selection loop: the open reader, the CLIP similarity, the loop, timings.

    `analyze` is the one-video analysis (decode the frames, then Backbone.analyze); `items` decodes
    frames for the shared analysis of several videos (Backbone.analyze_many).
    """

    def __init__(self, model: "H_VPModel", reader, query: str, similarity, loop: SelectionLoop, tokens):
        self.model, self.reader, self.query, self.similarity, self.loop = model, reader, query, similarity, loop
        self.tokens = tokens  # QueryTokens: how the CLIP tokenizer took the query (truncated or not)
        self.timing = {"decode_vlm": 0.0, "vlm_analysis": 0.0}

    def _decode(self, frame_indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        frames, times_s = self.model._vlm_frames(self.reader, frame_indices)
        self.timing["decode_vlm"] += time.perf_counter() - t0
        return frames, times_s

    def analyze(self, frame_indices: np.ndarray) -> list[FrameScore]:
        frames, times_s = self._decode(frame_indices)
        t0 = time.perf_counter()
        out = self.model.analysis_backbone.analyze(frames, times_s, self.query)
        self.timing["vlm_analysis"] += time.perf_counter() - t0
        return out

    def items(self, frame_indices: np.ndarray) -> list[AnalysisItem]:
        frames, times_s = self._decode(frame_indices)
        return [AnalysisItem(frames[i], float(t), self.query) for i, t in enumerate(times_s)]

    def charge(self, seconds: float) -> None:
        self.timing["vlm_analysis"] += seconds

    def run(self):
        from air.selection_driver import LoopRun

        return LoopRun(self.loop, self.items, self.analyze, self.charge)


def _many_jobs(video_paths: Sequence[str], **columns: Any) -> list[dict]:
    """Per-video dicts of `select_many` / `answer_many` arguments, checked: one value per video or None."""
    if isinstance(video_paths, (str, bytes)):
        raise TypeError("Invalid video_paths: a single path. Expected a list of paths (use select/answer for one).")
    paths = list(video_paths)
    n = len(paths)
    rows = [{"video": path} for path in paths]
    row_keys = {"questions": "question", "prompts": "prompt", "options": "options", "gen_kwargs": "gen_kwargs"}
    for name, values in columns.items():
        if values is None or (name == "gen_kwargs" and isinstance(values, Mapping)):
            per_video = [values] * n
        elif isinstance(values, (str, bytes)):
            raise TypeError(f"Invalid {name}: a single str. Expected one value per video ({n}).")
        else:
            per_video = list(values)
            if len(per_video) != n:
                raise ValueError(f"Invalid {name}: {len(per_video)} values for {n} videos. Expected one per video.")
        for row, value in zip(rows, per_video):
            row[row_keys[name]] = value
    for k, row in enumerate(rows):
        if "prompt" in row and row.get("question") is None:
            if callable(row["prompt"]):
                raise ValueError(f"Invalid question for video {k}: None. Expected the question text when the "
                                 "prompt is a function.")
            row["question"] = row["prompt"]
        if row.get("question") is None:
            raise ValueError(f"Invalid question for video {k}: None. Expected a str.")
    return rows


class H_VPModel:
    """A.I.R. on one backbone: CLIP coarse filter, VLM-rated iterative selection, then answering.

    backbone: answers questions (and rates frames unless `analysis_backbone` is given).
    clip: a ClipEncoder (`air.base_models.clip_model.load_clip`).
    cache: a FeatureCache, None to disable the persistent cache, or "default" for the config's dir.
    config_notes: warnings about the configuration (e.g. a preset value capped by the backbone's own
    frame limits), recorded in every trace as `config_notes`.
    """

    def __init__(
        self,
        backbone: Backbone,
        clip,
        config: AIRConfig | None = None,
        *,
        analysis_backbone: Backbone | None = None,
        cache: Any = "default",
        frame_max_side: int | None = DEFAULT_FRAME_MAX_SIDE,
        config_notes: Sequence[str] = (),
    ):
        self.backbone = backbone
        self.analysis_backbone = analysis_backbone or backbone
        self.clip = clip
        self.config = config or AIRConfig()
        if cache == "default":
            from air.base_models.utils.feature_cache import FeatureCache

            cache = FeatureCache(self.config.resolved_cache_dir)
        self.cache = cache
        self.frame_max_side = frame_max_side
        self.config_notes = tuple(config_notes)

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        pretrained: str,
        clip_model: str | None = None,
        *,
        analysis_pretrained: str | None = None,
        backbone: str | None = None,
        clip_device: str | None = None,
        clip_batch_size: int = 32,
        frame_max_side: int | None = DEFAULT_FRAME_MAX_SIDE,
        cache: Any = "default",
        with_clip: bool = True,
        **fields: Any,
    ) -> "H_VPModel":
        """Load the backbone picked from `pretrained`'s name and a CLIP encoder.

        with_clip: False loads no CLIP encoder and uses no feature cache (for frame choices that need no
        similarity, such as the uniform baseline); the model can then answer but not select.

        fields: any AIRConfig field (max_frames=16, preset="efficient_16_8_4", ...) and any
        LoadOptions field (device, device_map, torch_dtype, attn_implementation, max_pixels,
        min_pixels, trust_remote_code, analysis_mode). Loosely typed strings are converted.
        A backbone's own frame limits (VILA-1.5: 8 / 8) hold under every preset; only max_frames /
        min_frames given here override them. A preset value they replace is logged as a warning and
        recorded in each trace (`config_notes`).
        """
        from air.base_models import resolve_backbone
        from air.base_models.clip_model import load_clip
        from air.base_models.utils.generation import default_device

        load_args = {k: fields.pop(k) for k in list(fields) if k in _LOAD_FIELDS}
        adapter = resolve_backbone(pretrained, backbone)
        air_args = dict(fields)
        if clip_model is not None:
            air_args["clip_model"] = clip_model
        config, notes = config_for_backbone(air_args, max_frames=adapter.default_max_frames,
                                            min_frames=adapter.default_min_frames, backbone=adapter.name)
        for note in notes:
            logger.warning("A.I.R. configuration: %s", note)
        load_args["analysis_batch_size"] = config.analysis_batch_size
        options = LoadOptions(**load_args)
        model = adapter.from_pretrained(pretrained, options)
        analysis_model = None
        if analysis_pretrained and analysis_pretrained != pretrained:
            analysis_adapter = resolve_backbone(analysis_pretrained, None)
            analysis_model = analysis_adapter.from_pretrained(analysis_pretrained, options)
        encoder = None
        if with_clip:
            encoder = load_clip(
                config.clip_model, device=clip_device or default_device(options.device), batch_size=clip_batch_size
            )
        else:
            cache = None
        return cls(model, encoder, config, analysis_backbone=analysis_model, cache=cache,
                   frame_max_side=frame_max_side, config_notes=notes)

    # -- selection -------------------------------------------------------------------------------
    def open(self, video_path: str):
        """Open a video with the configured decoder list (raises VideoDecodeError naming the file)."""
        from air.Process_Utils.process_video import open_configured

        return open_configured(video_path, self.config)

    def _vlm_frames(self, reader, frame_indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        size = vlm_frame_size(reader.width, reader.height, self.frame_max_side)
        return reader.read(np.asarray(frame_indices, dtype=np.int64), size=size)

    def select(self, video_path: str, question: str, options: Sequence[str] | None = None) -> Selection:
        """Run A.I.R. on one video for one question; returns the Selection with its full trace."""
        with self.open(video_path) as reader:
            return self._select(reader, video_path, question, options)

    def _select(self, reader, video_path: str, question: str, options: Sequence[str] | None) -> Selection:
        job = self._selection_job(reader, video_path, question, options)
        drive_loop(job.loop, job.analyze)
        return self._finish_selection(job)

    def _selection_job(self, reader, video_path: str, question: str, options: Sequence[str] | None) -> _SelectionJob:
        """One video and question made ready for the selection loop (similarity wired; nothing run yet)."""
        from air.base_models.utils.video_similarity import VideoSimilarity

        query = format_query(question, list(options) if options else None)
        similarity = VideoSimilarity(reader, self.clip, query, cache=self.cache, resize=self.config.clip_resize)
        tokens = similarity.query_tokens()
        if tokens.truncated:
            warn_truncated_query(getattr(self.clip, "name", str(self.clip)), tokens)
        loop = SelectionLoop(reader.n_frames, reader.fps, similarity, self.config, video=str(video_path))
        return _SelectionJob(self, reader, query, similarity, loop, tokens)

    def _finish_selection(self, job: _SelectionJob) -> Selection:
        """The finished loop's Selection with what the wiring adds to its trace (query, decoder, CLIP counts)."""
        reader, similarity, tokens = job.reader, job.similarity, job.tokens
        selection = job.loop.result()
        info: dict[str, Any] = {
            "query": job.query,
            "decoder": reader.backend,
            "decode_threads": reader.decode_threads,
            "clip_model": getattr(self.clip, "name", str(self.clip)),
            "clip_resize": similarity.resize,
            "query_truncated": tokens.truncated,
            "query_tokens": tokens.n_tokens,
            "clip_context_length": tokens.context_length,
            "clip_frames_encoded": similarity.n_encoded,
            "clip_frames_from_cache": similarity.n_from_cache,
            "timings_s": {**selection.timings_s, **{f"clip_{k}": v for k, v in similarity.timings_s.items()},
                          **job.timing},
        }
        served_late = decoder_fallbacks(reader)
        if served_late:
            info["fallbacks"] = (*selection.fallbacks, *served_late)
        if self.config_notes:
            info["config_notes"] = list(self.config_notes)
        return selection.with_info(**info)

    # -- many videos at once -----------------------------------------------------------------------
    def select_many(
        self,
        video_paths: Sequence[str],
        questions: Sequence[str],
        options: Sequence[Sequence[str] | None] | None = None,
        *,
        return_exceptions: bool = False,
    ) -> list[Selection | Exception]:
        """`select` for several videos (or questions) at once: their loops share every analysis call.

        Each step sends the frames all unfinished loops wait for to the analysis backbone in chunks of
        `analysis_batch_size` (raise it with the number of videos on a GPU, see the README). Every
        Selection is the one `select` gives (timings aside). questions[i] (and options[i]) belong to
        video_paths[i]; the same video may appear several times.
        return_exceptions: False raises the first video's error once all are done; True puts each
        failed video's exception in its place of the returned list (the others are still selected).
        """
        jobs = _many_jobs(video_paths, questions=questions, options=options)
        return self._run_many(jobs, lambda job, reader, selection: selection, return_exceptions)

    def answer_many(
        self,
        video_paths: Sequence[str],
        prompts: Sequence[str | Callable[[Selection], str]],
        questions: Sequence[str | None] | None = None,
        options: Sequence[Sequence[str] | None] | None = None,
        gen_kwargs: Mapping[str, Any] | Sequence[Mapping[str, Any] | None] | None = None,
        *,
        return_exceptions: bool = False,
    ) -> list[tuple[str, Selection] | Exception]:
        """`answer` for several videos: selections driven together (`select_many`), then one answer each.

        prompts, questions, options: one per video (as `answer` takes them; a question None means the
        prompt itself). gen_kwargs: one mapping for all, or one per video. Returns (answer, Selection)
        per video, in order; return_exceptions as in `select_many`.
        """
        jobs = _many_jobs(video_paths, prompts=prompts, questions=questions, options=options, gen_kwargs=gen_kwargs)

        def answer(job: dict, reader, selection: Selection) -> tuple[str, Selection]:
            text, sent, seconds = self._answer_from(reader, selection.frame_indices, job["prompt"], selection,
                                                    job["gen_kwargs"])
            timings = {**selection.timings_s, "answer": seconds}
            return text, selection.with_info(prompt=sent, answer=text, timings_s=timings)

        return self._run_many(jobs, answer, return_exceptions)

    def _run_many(self, jobs: list[dict], finish: Callable, return_exceptions: bool) -> list:
        """Open every video, run stage 1 of each (in order), drive the loops together, then `finish` each.

        Stage 1 runs video by video before any analysis, so a later question on the same video finds the
        1-FPS features in the feature cache, as it does one call at a time.
        """
        from contextlib import ExitStack

        from air.selection_driver import LoopDriver

        results: list[Any] = [None] * len(jobs)
        with ExitStack() as stack:
            started: list[tuple[int, _SelectionJob]] = []
            for i, job in enumerate(jobs):
                try:
                    reader = stack.enter_context(self.open(job["video"]))
                    selection_job = self._selection_job(reader, job["video"], job["question"], job["options"])
                    selection_job.loop.pending()  # stage 1 now (see above)
                    started.append((i, selection_job))
                except Exception as exc:
                    results[i] = exc
            driver = LoopDriver(self.analysis_backbone.analyze_many, self.config.analysis_batch_size)
            outcomes = driver.run([selection_job.run() for _, selection_job in started])
            for error in driver.shared_errors:
                logger.warning("A rating call shared by several videos failed, so their rounds were rated video by "
                               "video (same results, more time; lower analysis_batch_size if this repeats): %s", error)
            for (i, selection_job), outcome in zip(started, outcomes):
                if isinstance(outcome, Exception):
                    results[i] = outcome
                    continue
                try:
                    results[i] = finish(jobs[i], selection_job.reader, self._finish_selection(selection_job))
                except Exception as exc:
                    results[i] = exc
        if not return_exceptions:
            for i, result in enumerate(results):
                if isinstance(result, Exception):
                    raise result
        return results

    # -- answering -------------------------------------------------------------------------------
    def answer(
        self,
        video_path: str,
        prompt: str | Callable[[Selection], str],
        question: str | None = None,
        options: Sequence[str] | None = None,
        gen_kwargs: Mapping[str, Any] | None = None,
    ) -> tuple[str, Selection]:
        """Select frames for `question` (default: the prompt itself), then answer `prompt` from them.

        prompt: the task's own text, or a function of the Selection that builds it (e.g. to add the
        subtitles at the selected frames). The returned Selection records the text sent to the
        backbone under "prompt" and the reply under "answer".
        """
        if question is None:
            if callable(prompt):
                raise ValueError("Invalid question: None. Expected the question text when prompt is a function.")
            question = prompt
        with self.open(video_path) as reader:
            selection = self._select(reader, video_path, question, options)
            text, sent, seconds = self._answer_from(reader, selection.frame_indices, prompt, selection, gen_kwargs)
        timings = {**selection.timings_s, "answer": seconds}
        return text, selection.with_info(prompt=sent, answer=text, timings_s=timings)

    def answer_frames(
        self,
        video_path: str,
        frame_indices: Sequence[int],
        prompt: str | Callable[[Any], str],
        gen_kwargs: Mapping[str, Any] | None = None,
    ) -> str:
        """Answer `prompt` from given frames (uniform baselines, replayed selections).

        A callable prompt receives an object with `frame_indices`, `fps` and `timestamps_s`.
        """
        return self.answer_frames_with_prompt(video_path, frame_indices, prompt, gen_kwargs)[0]

    def answer_frames_with_prompt(
        self,
        video_path: str,
        frame_indices: Sequence[int],
        prompt: str | Callable[[Any], str],
        gen_kwargs: Mapping[str, Any] | None = None,
    ) -> tuple[str, str]:
        """Like `answer_frames`; returns (answer, the prompt text sent to the backbone)."""
        with self.open(video_path) as reader:
            text, sent, _ = self._answer_from(reader, frame_indices, prompt, None, gen_kwargs)
        return text, sent

    def _answer_from(self, reader, frame_indices, prompt, selection, gen_kwargs) -> tuple[str, str, float]:
        """(answer, prompt text sent, seconds) for the given frames, read in time order."""
        t0 = time.perf_counter()
        order = np.unique(np.asarray(frame_indices, dtype=np.int64))
        frames, times_s = self._vlm_frames(reader, order)
        if callable(prompt) and selection is None:
            selection = SimpleNamespace(frame_indices=tuple(order.tolist()), fps=reader.fps,
                                        timestamps_s=tuple((order / reader.fps).tolist()))
        text_prompt = prompt(selection) if callable(prompt) else prompt
        text = self.backbone.answer(frames, times_s, text_prompt, gen_kwargs)
        return text, text_prompt, time.perf_counter() - t0
