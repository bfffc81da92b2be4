"""`air cache info|clear|build`: what the CLIP feature cache holds, removing (old) entries, filling it (build)."""

from __future__ import annotations

import argparse
import json
import time

from air.cli import cache_build
from air.cli.common import CLIError, add_command


def human_bytes(n: int) -> str:
    """1536 -> '1.5 KiB'."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    age_days = (time.time() - stamp) / 86400.0
    return f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(stamp))} ({age_days:.1f} days ago)"


def _cache(args: argparse.Namespace):
    from air.base_models.utils.feature_cache import FeatureCache

    return FeatureCache(args.dir)


def _info(args: argparse.Namespace) -> int:
    info = _cache(args).info()
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"CLIP feature cache: {info['root']}")
    print(f"  entries: {info['entries']} (one per video x decoder x frame size x CLIP model)")
    print(f"  frames:  {info['frames']} cached image features")
    print(f"  size:    {human_bytes(info['bytes'])}")
    print(f"  oldest:  {_when(info['oldest_mtime'])}")
    print(f"  newest:  {_when(info['newest_mtime'])}")
    return 0


def _clear(args: argparse.Namespace) -> int:
    if args.older_than is not None and args.older_than < 0:
        raise CLIError(f"argument --older-than: invalid value {args.older_than}. Expected a number of days >= 0.")
    cache = _cache(args)
    before = cache.info()
    removed = cache.clear(args.older_than)
    after = cache.info()
    scope = "all entries" if args.older_than is None else f"entries not modified for {args.older_than:g} days"
    print(f"removed {removed} of {before['entries']} entries ({scope}) from {before['root']}; "
          f"{human_bytes(before['bytes'] - after['bytes'])} freed, {after['entries']} entries left")
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
