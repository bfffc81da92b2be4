"""`air cache build`: precompute the CLIP image features of every video of lmms-eval tasks (logic: air/cache_build.py).

Registered by air/cli/cache.py as the `build` action of `air cache`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from air.cli.common import CLIError, add_command, parse_sets

#: --set keys besides the AIRConfig fields (and preset): hvp's CLIP options.
CLIP_OPTIONS = {"clip_device": "str | None", "clip_batch_size": "int"}

EPILOG = """\
The features land under the same key a run computes (video file, decoder, CLIP preprocessing, CLIP
model), so give the build the values of the run: --clip as the run's clip_model, and --set for
decoder, clip_resize, sample_fps or max_video_pixels when the run changes them (--set takes any hvp
--model_args name of AIRConfig, plus clip_device and clip_batch_size; settings that do not change the
features are accepted and have no effect).

Array jobs: --shard i/n builds the videos whose path hashes to shard i (0 <= i < n), the same split on
every node; a video asked about by many questions is encoded once. Videos already complete in the cache
are skipped without decoding, so a rerun or a requeued shard only does what is missing.

Exit status: 0 when the build ran, even if some videos or docs failed (each is listed with its cause);
1 with --strict when any failed, or when the tasks or models cannot be loaded; 2 for bad arguments.
"""


def _to_stderr(message) -> None:
    sys.stderr.write(str(message))  # sys.stderr looked up at each message: it may be replaced meanwhile


@contextlib.contextmanager
def _lmms_eval_log_level(level: str):
    """lmms-eval's loguru messages below `level` hidden for the block (loguru's default prints DEBUG lines);
    afterwards loguru prints everything to stderr again, as by default."""
    from loguru import logger

    logger.remove()
    handler = logger.add(_to_stderr, level=level)
    try:
        yield
    finally:
        logger.remove(handler)
        logger.add(_to_stderr, level="DEBUG")


def _config(args: argparse.Namespace):
    """(AIRConfig, clip_device, clip_batch_size) from --clip, --set and --device; CLIError on a bad value."""
    from air.config import AIRConfig, convert_value

    sets = parse_sets(args.sets)
    clip_options = {k: sets.pop(k) for k in list(sets) if k in CLIP_OPTIONS}
    if args.clip:
        sets["clip_model"] = args.clip
    try:
        config = AIRConfig.from_model_args(sets)
        clip = {k: convert_value(k, v, CLIP_OPTIONS[k]) for k, v in clip_options.items()}
    except ValueError as exc:
        raise CLIError(f"argument --set/--clip: {exc}") from exc
    return config, args.device or clip.get("clip_device"), clip.get("clip_batch_size", 32)


def _cache(args: argparse.Namespace, config):
    """The FeatureCache to fill; its folder is created and must be writable."""
    from air.base_models.utils.feature_cache import FeatureCache

    cache = FeatureCache(args.dir or config.resolved_cache_dir)
    root = cache.root
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"argument --dir: cannot create the cache folder {root}: {exc.strerror or exc}") from exc
    if not root.is_dir() or not os.access(root, os.W_OK | os.X_OK):
        raise CLIError(f"argument --dir: the cache folder {root} is not a writable folder.")
    return cache


def _task_names(values: list[str]) -> list[str]:
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    if not names:
        raise CLIError("argument --task: no task name given. Expected --task NAME (repeatable).")
    return list(dict.fromkeys(names))


def _build(args: argparse.Namespace) -> int:
    from air.cache_build import (
        BuildSummary,
        TaskLoadError,
        build,
        parse_shard,
        shard_of,
        task_videos,
    )

    try:
        shard = parse_shard(args.shard) if args.shard else (0, 1)
    except ValueError as exc:
        raise CLIError(f"argument --shard: {exc}") from exc
    names = _task_names(args.tasks)
    for folder in args.include_path:
        if not os.path.isdir(folder):
            raise CLIError(f"argument --include_path: not a folder: {folder}")
    config, clip_device, clip_batch_size = _config(args)
    cache = _cache(args, config)

    with _lmms_eval_log_level(args.verbosity):
        try:
            found = task_videos(names, args.include_path)
        except TaskLoadError as exc:
            raise CLIError(str(exc), code=2 if exc.unknown else 1) from exc
    index, count = shard
    mine = [job for job in found.videos if shard_of(job.identity, count) == index]
    summary = BuildSummary(shard=shard, cache_dir=str(cache.root), tasks=found.tasks, n_docs=found.n_docs,
                           n_videos_all=len(found.videos))
    if index == 0:
        summary.doc_failures = list(found.doc_failures)
    else:
        summary.doc_failures_elsewhere = len(found.doc_failures)
    if mine:
        from air.base_models.clip_model import load_clip
        from air.base_models.utils.generation import default_device

        device = default_device(clip_device)
        try:
            encoder = load_clip(config.clip_model, device=device, batch_size=clip_batch_size)
        except (OSError, ValueError, ImportError, RuntimeError) as exc:
            raise CLIError(f"cannot load the CLIP model {config.clip_model}: {type(exc).__name__}: {exc}",
                           code=1) from exc
        print(f"air cache build: shard {index}/{count}: {len(mine)} of {len(found.videos)} videos, CLIP "
              f"{encoder.name} on {device}, decoder "
              f"{config.decoder}, clip_resize {config.clip_resize}, cache {cache.root}", file=sys.stderr, flush=True)
        build(mine, encoder, config, cache, summary, progress=not args.no_progress)
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        for line in summary.lines():
            print(line)
    return 1 if args.strict and not summary.ok else 0


def register(actions) -> None:
    """Add the `build` action to `air cache`."""
    parser = add_command(
        actions, "build", help="precompute the CLIP features of every video of lmms-eval tasks",
        description="Encode the 1-FPS samples (the frames A.I.R.'s stage 1 scores) of every video of the tasks "
                    "with the CLIP model, decoder and preprocessing of a run, into the feature cache the run reads. "
                    "Docs are read through lmms-eval (its own tasks and --include_path folders) and each video is "
                    "found by the task's doc_to_visual, as hvp finds it.",
        epilog=EPILOG,
    )
    parser.add_argument("--task", dest="tasks", action="append", required=True, metavar="NAME",
                        help="lmms-eval task, group or tag (repeatable; commas also separate names)")
    parser.add_argument("--include_path", "--include-path", dest="include_path", action="append", default=[],
                        metavar="DIR", help="extra task folder, as lmms-eval's --include_path (repeatable)")
    parser.add_argument("--clip", default=None,
                        help="CLIP model name, the run's clip_model (default: the paper's EVA-CLIP-L)")
    parser.add_argument("--dir", default=None,
                        help="cache folder (default: --set cache_dir, else $AIR_CLIP_CACHE_DIR, else ./clip_cache)")
    parser.add_argument("--shard", default=None, metavar="i/n",
                        help="build only shard i of n (0 <= i < n), for array jobs")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting of the run, e.g. decoder=decord or clip_resize=squash (repeatable)")
    parser.add_argument("--device", default=None, help="device of the CLIP model: cuda, cuda:1, cpu "
                                                       "(default: cuda when available)")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a video or doc failed")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--verbosity", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="level of lmms-eval's messages while the tasks load")
    parser.set_defaults(func=_build)
