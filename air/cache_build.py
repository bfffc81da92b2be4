"""Precompute the CLIP image features that `hvp` reads: the logic of `air cache build`.

For every video of one or more lmms-eval tasks, encode the frames stage 1 scores (the 1-FPS samples of
SPEC.md, `initial_sample_indices`) and store them in the persistent `FeatureCache`, exactly as a run would:
the docs come from lmms-eval's TaskManager, the video of a doc from the task's own `doc_to_visual` (as
hvp gets it), the video is opened as a run opens it (`open_configured`: decoder list, decode threads,
pixel limit), and the features go through `VideoSimilarity`, which builds the cache key (file identity,
decoder that served, preprocessing tag, encoder name) and writes the entry. A later run with the same
CLIP model, decoder and clip_resize finds every 1-FPS sample in the cache and encodes none.

Work is split by video, not by doc: a video asked about by many questions (or by several tasks) is
encoded once, by the shard `shard_of(video)` names. A video whose samples are all in the cache already
is skipped without decoding; a long video is written to the cache every `CHECKPOINT_FRAMES` samples, so
a killed job loses little. One bad doc or video is recorded with its cause and the build goes on.
The command line is in air/cli/cache_build.py.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Samples encoded and written to the cache at a time within one video (a killed job keeps the rest).
CHECKPOINT_FRAMES = 1024


class TaskLoadError(ValueError):
    """A task name lmms-eval does not know, or a task whose docs cannot be loaded."""

    def __init__(self, message: str, *, unknown: bool):
        super().__init__(message)
        self.unknown = unknown


@dataclass
class VideoJob:
    """One distinct video of the tasks: the path doc_to_visual gave and the (task, doc_id) pairs asking about it."""

    path: str
    docs: list[tuple[str, int]] = field(default_factory=list)

    @property
    def identity(self) -> str:
        """The real path of the file: what tells videos apart and picks their shard."""
        return os.path.realpath(self.path)


@dataclass(frozen=True)
class DocFailure:
    """A doc whose video could not be named (doc_to_visual raised or called sys.exit)."""

    task: str
    doc_id: int
    cause: str


@dataclass
class TaskVideos:
    """What the tasks ask about: their distinct videos (sorted by path) and the docs without a video."""

    tasks: list[str]
    n_docs: int
    videos: list[VideoJob]
    doc_failures: list[DocFailure]


def parse_shard(text: str) -> tuple[int, int]:
    """"i/n" -> (i, n) with 0 <= i < n (shard i of n, counted from 0 like SLURM array indices)."""
    index, sep, count = str(text).partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i = n = -1
    if not sep or n < 1 or not 0 <= i < n:
        raise ValueError(f"Invalid shard: {text!r}. Expected i/n with 0 <= i < n, e.g. 0/4 ... 3/4 "
                         "(--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT).")
    return i, n


def shard_of(identity: str, n_shards: int) -> int:
    """The shard (0 .. n_shards - 1) that encodes the video with this identity: a hash, the same on every node."""
    digest = hashlib.blake2b(identity.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n_shards


def _cause(exc: BaseException) -> str:
    text = str(exc).strip() or "(no message)"
    return f"{type(exc).__name__}: {text}"


def task_videos(task_names: Sequence[str], include_paths: Sequence[str] = ()) -> TaskVideos:
    """Every doc of the tasks read through lmms-eval (as `--tasks ... --include_path ...` would), grouped by video.

    A group or tag name stands for its tasks. Raises TaskLoadError for an unknown name or a task whose
    docs cannot be loaded; a doc whose doc_to_visual fails (the Video-MME, MLVU and EgoSchema helpers call
    sys.exit() on a missing video) becomes a DocFailure.
    """
    from lmms_eval.evaluator_utils import get_task_list
    from lmms_eval.tasks import TaskManager

    from air.hvp_requests import video_path

    manager = TaskManager(include_path=list(include_paths) or None, model_name="hvp")
    known = set(manager.all_tasks)
    for name in task_names:
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, sorted(known), n=5)
            hint = f" Close names: {', '.join(close)}." if close else ""
            raise TaskLoadError(f"Unknown task {name!r}: lmms-eval knows no task, group or tag of that name "
                                f"(searched its own tasks and --include_path {', '.join(include_paths) or '-'}).{hint}",
                                unknown=True)
    by_video: dict[str, VideoJob] = {}
    failures: list[DocFailure] = []
    loaded: list[str] = []
    n_docs = 0
    for name in task_names:
        try:
            task_dict = manager.load_task_or_group([name])
        except (Exception, SystemExit) as exc:
            raise TaskLoadError(f"Cannot load task {name!r}: {_cause(exc)}", unknown=False) from exc
        for output in get_task_list(task_dict):
            task, task_name = output.task, output.task_name
            if task is None or task_name in loaded:
                continue
            loaded.append(task_name)
            for doc_id, doc in enumerate(task.eval_docs):
                n_docs += 1
                try:
                    path = video_path(task.doc_to_visual(doc))
                except (Exception, SystemExit) as exc:
                    failures.append(DocFailure(task_name, doc_id, _cause(exc)))
                    continue
                job = VideoJob(path)
                by_video.setdefault(job.identity, job).docs.append((task_name, doc_id))
    videos = [by_video[key] for key in sorted(by_video)]
    return TaskVideos(tasks=loaded, n_docs=n_docs, videos=videos, doc_failures=failures)


@dataclass
class BuildSummary:
    """Outcome of one build (one shard): videos encoded, skipped (already complete) and failed, with causes."""

    shard: tuple[int, int]
    cache_dir: str
    tasks: list[str]
    n_docs: int
    n_videos_all: int
    encoded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    doc_failures: list[DocFailure] = field(default_factory=list)
    doc_failures_elsewhere: int = 0
    frames_encoded: int = 0
    frames_cached: int = 0
    seconds: float = 0.0

    @property
    def n_videos(self) -> int:
        return len(self.encoded) + len(self.skipped) + len(self.failed)

    @property
    def ok(self) -> bool:
        """True when no video and no doc of this shard's report failed."""
        return not self.failed and not self.doc_failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "shard": list(self.shard), "cache_dir": self.cache_dir, "tasks": self.tasks, "docs": self.n_docs,
            "videos_all_shards": self.n_videos_all, "videos": self.n_videos,
            "encoded": self.encoded, "skipped": self.skipped,
            "failed": [{"video": v, "cause": c} for v, c in self.failed],
            "docs_without_video": [{"task": f.task, "doc_id": f.doc_id, "cause": f.cause} for f in self.doc_failures],
            "docs_without_video_listed_by_shard_0": self.doc_failures_elsewhere,
            "frames_encoded": self.frames_encoded, "frames_from_cache": self.frames_cached,
            "seconds": round(self.seconds, 3),
        }

    def lines(self, max_listed: int = 20) -> list[str]:
        """A readable report: counts, then each failure with its cause."""
        i, n = self.shard
        rate = f", {self.frames_encoded / self.seconds:.1f} frames/s" if self.seconds > 0 and self.frames_encoded else ""
        head = (f"air cache build: shard {i}/{n}: {self.n_videos} of {self.n_videos_all} videos "
                f"({self.n_docs} docs of {', '.join(self.tasks) or 'no task'}) -> {self.cache_dir}")
        counts = (f"  encoded {len(self.encoded)} videos ({self.frames_encoded} frames in {self.seconds:.1f} s{rate}), "
                  f"skipped {len(self.skipped)} already complete ({self.frames_cached} frames in the cache), "
                  f"failed {len(self.failed)}")
        out = [head, counts]
        if self.failed:
            out.append(f"  failed videos ({len(self.failed)}):")
            out += [f"    {video}: {cause}" for video, cause in self.failed[:max_listed]]
            if len(self.failed) > max_listed:
                out.append(f"    ... and {len(self.failed) - max_listed} more (--json lists all)")
        if self.doc_failures:
            out.append(f"  docs without a video ({len(self.doc_failures)}; hvp answers them with an error too):")
            out += [f"    {f.task} doc {f.doc_id}: {f.cause}" for f in self.doc_failures[:max_listed]]
            if len(self.doc_failures) > max_listed:
                out.append(f"    ... and {len(self.doc_failures) - max_listed} more (--json lists all)")
        elif self.doc_failures_elsewhere:
            out.append(f"  docs without a video: {self.doc_failures_elsewhere} (listed by shard 0)")
        return out


@dataclass(frozen=True)
class VideoOutcome:
    """What building one video did: frames encoded now, frames found in the cache."""

    encoded: int
    from_cache: int


def build_video(path: str, encoder, config, cache) -> VideoOutcome:
    """Encode the 1-FPS samples of one video that the cache lacks, as hvp would; raises on a bad video.

    config: the AIRConfig of the run (decoder, decode_threads, max_video_pixels, clip_resize, sample_fps).
    Raises RuntimeError when the features could not be stored (the cache's own warning says why).
    """
    from air.base_models.utils.video_similarity import VideoSimilarity
    from air.Process_Utils.process_video import VideoDecodeError, open_configured
    from air.Process_Utils.sample_logic import initial_sample_indices

    with open_configured(path, config) as reader:
        if reader.n_frames < 1:
            raise VideoDecodeError(path, "no video frames")
        samples = initial_sample_indices(reader.n_frames, reader.fps, config.sample_fps)
        # the query is never encoded: only frame features are asked for
        similarity = VideoSimilarity(reader, encoder, "", cache=cache, resize=config.clip_resize)
        for start in range(0, samples.size, CHECKPOINT_FRAMES):
            similarity.frame_features(samples[start : start + CHECKPOINT_FRAMES])
        key = similarity.cache_key
    if similarity.n_encoded:
        entry = cache.load(key)
        if entry is None or not np.isin(samples, entry.indices).all():
            raise RuntimeError(f"the features of '{path}' were computed but are not in the cache at {cache.root} "
                               "(see the cache warning above: a read-only or full folder?)")
    return VideoOutcome(encoded=similarity.n_encoded, from_cache=int(samples.size) - similarity.n_encoded)


def build(videos: Iterable[VideoJob], encoder, config, cache, summary: BuildSummary, *,
          progress: bool = True) -> BuildSummary:
    """Build every video in turn into `summary` (encoded / skipped / failed); one bad video never stops the rest."""
    from tqdm.auto import tqdm

    videos = list(videos)
    interactive = sys.stderr.isatty()
    bar = tqdm(total=len(videos), desc="air cache build", unit="video", disable=not progress or not videos,
               dynamic_ncols=True, mininterval=0.5 if interactive else 30.0)
    t0 = time.perf_counter()
    try:
        for job in videos:
            try:
                outcome = build_video(job.path, encoder, config, cache)
            except Exception as exc:  # decoders and encoders raise many types: record the cause, go on
                summary.failed.append((job.path, _cause(exc)))
            else:
                (summary.encoded if outcome.encoded else summary.skipped).append(job.path)
                summary.frames_encoded += outcome.encoded
                summary.frames_cached += outcome.from_cache
            bar.update(1)
            bar.set_postfix(encoded=len(summary.encoded), skipped=len(summary.skipped), failed=len(summary.failed),
                            refresh=False)
    finally:
        bar.close()
        summary.seconds += time.perf_counter() - t0
    return summary
