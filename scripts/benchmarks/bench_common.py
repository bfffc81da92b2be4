"""Pieces shared by the single-figure benchmark scripts: argument checks, the text table, the CLI tail.

Imported by sibling scripts as `bench_common` (scripts/benchmarks has no __init__.py: running a script
puts its folder on sys.path, and bench_pipeline.py adds it before importing the siblings).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path


def check_at_least_one(name: str, value: int) -> int:
    """`value` when it is >= 1, else a ValueError naming the argument (counts: repeats, frames)."""
    if value < 1:
        raise ValueError(f"Invalid {name}: {value!r}. Expected an int >= 1.")
    return value


def format_rows(rows: Sequence[tuple[str, str, str]], value_width: int) -> str:
    """(label, value, note) rows as aligned text: labels left-aligned, values right-aligned in value_width."""
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{a:<{width}}  {b:>{value_width}}  {c}" for a, b, c in rows)


def run_cli(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], dict],
            table: Callable[[dict], str], argv: list[str] | None = None) -> int:
    """Add --json to `parser`, parse argv, run, print the table, and write the figures as JSON if asked."""
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    result = run(args)
    print(table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def vit_b32_encoder(device: str = "cpu", batch_size: int = 32):
    """A real-size ViT-B-32 open_clip encoder with random weights (no download), as an air ClipEncoder.

    Encoding then costs what it costs with trained weights (the figures that compare CLIP work with
    decoding or cache reads use it; a tiny model would make CLIP look free).
    """
    import logging

    import open_clip

    from air.base_models.clip_model import OpenClipEncoder

    logging.getLogger().setLevel(logging.ERROR)  # open_clip warns that no pretrained weights are loaded
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    return OpenClipEncoder.from_model(model, open_clip.get_tokenizer("ViT-B-32"), name="open_clip:ViT-B-32/random",
                                      device=device, batch_size=batch_size)
