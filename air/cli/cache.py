"""`air cache info|clear|build`: what the CLIP feature cache holds, removing (old) entries, filling it (build)."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from air.cli import cache_build
from air.cli.common import CLIError, add_command
from air.safe_files import human_size


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    age_days = (time.time() - stamp) / 86400.0
    return f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(stamp))} ({age_days:.1f} days ago)"


def _cache(args: argparse.Namespace):
    """The FeatureCache of --dir (else $AIR_CLIP_CACHE_DIR, else ./clip_cache); a --dir that is not a folder is an error."""
    from air.base_models.utils.feature_cache import FeatureCache

    cache = FeatureCache(args.dir)
    root = cache.root
    if root.exists() and not root.is_dir():
        raise CLIError(f"argument --dir: {root} is not a folder. Expected the CLIP feature cache folder.")
    return cache


def _info(args: argparse.Namespace) -> int:
    cache = _cache(args)
    try:
        info = cache.info()
    except OSError as exc:
        raise CLIError(f"argument --dir: cannot read the cache folder {cache.root}: {exc.strerror or exc}") from exc
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"CLIP feature cache: {info['root']}" + ("" if Path(info["root"]).is_dir() else " (does not exist yet)"))
    print(f"  entries: {info['entries']} (one per video x decoder x frame size x CLIP model)")
    print(f"  frames:  {info['frames']} cached image features")
    print(f"  size:    {human_size(info['bytes'])}")
    print(f"  oldest:  {_when(info['oldest_mtime'])}")
    print(f"  newest:  {_when(info['newest_mtime'])}")
    return 0


def _clear(args: argparse.Namespace) -> int:
    days = args.older_than
    if days is not None and not (math.isfinite(days) and days >= 0):
        # NaN compares false with everything: unchecked, "--older-than nan" would delete every entry
        raise CLIError(f"argument --older-than: invalid value {days}. Expected a finite number of days >= 0.")
    cache = _cache(args)
    try:
        before = cache.info()
        removed = cache.clear(days)
        after = cache.info()
    except OSError as exc:
        raise CLIError(f"cannot clear the cache folder {cache.root}: {exc.strerror or exc}", code=1) from exc
    scope = "all entries" if days is None else f"entries not modified for {days:g} days"
    print(f"removed {removed} of {before['entries']} entries ({scope}) from {before['root']}; "
          f"{human_size(before['bytes'] - after['bytes'])} freed, {after['entries']} entries left")
    return 0


def register(sub) -> None:
    parser = add_command(
        sub, "cache", help="show or clear the CLIP feature cache",
        description="The CLIP image features of each video are cached across questions (one .npz entry per video, "
                    "decoder, frame size and CLIP model). The folder is --dir, else $AIR_CLIP_CACHE_DIR, else "
                    "./clip_cache.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    info = add_command(actions, "info", help="entries, cached frames, size and age of the cache",
                       description="Print what the CLIP feature cache holds.")
    clear = add_command(actions, "clear", help="delete cache entries (all, or the old ones)",
                        description="Delete CLIP feature cache entries and stale lock/temp files. Entries are "
                                    "recomputed when needed.")
    for sub_parser in (info, clear):
        sub_parser.add_argument("--dir", default=None,
                                help="cache folder (default: $AIR_CLIP_CACHE_DIR, else ./clip_cache)")
    info.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    info.set_defaults(func=_info)
    clear.add_argument("--older-than", type=float, default=None, metavar="DAYS",
                       help="only entries not modified for DAYS days (default: all entries)")
    clear.set_defaults(func=_clear)
    cache_build.register(actions)
