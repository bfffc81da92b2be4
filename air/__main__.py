"""`python -m air` / `air`: command line of A.I.R. (the commands live in air/cli/)."""

from __future__ import annotations

import sys

from air.cli import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
