"""Shared helpers for the per-benchmark modules: $HF_HOME, video look-up, option letters.

Everything here is standard library only and reads the environment at call time, never at import.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence

DEFAULT_HF_HOME = "~/.cache/huggingface"

# "A. text", "A) text", "(A) text", "[A] text", "A: text", "A：text" (full-width colon).
_LETTER_PREFIX = re.compile(r"^\s*[\(\[]?(?P<letter>[A-Za-z])\s*[\)\]\.:：]\s*")


class MissingVideoError(FileNotFoundError):
    """A benchmark video is not where lmms-eval's own task would look for it.

    Attributes: ``benchmark`` (str), ``doc_label`` (str, the doc fields that name the video),
    ``tried`` (tuple of absolute paths, in the order they were tried).
    """

    def __init__(self, benchmark: str, doc_label: str, tried: Sequence[str], hint: str = "") -> None:
        self.benchmark = benchmark
        self.doc_label = doc_label
        self.tried = tuple(tried)
        message = (
            f"Video for {benchmark} doc {doc_label} not found. "
            f"Tried: {', '.join(self.tried)}."
        )
        if hint:
            message += f" {hint}"
        super().__init__(message)
        self.filename = self.tried[0] if self.tried else None

    def __str__(self) -> str:  # FileNotFoundError would otherwise print "[Errno None] ..."
        return self.args[0]


def hf_home(override: str | os.PathLike | None = None) -> str:
    """Return the Hugging Face home directory: ``override``, else $HF_HOME read now, else ~/.cache/huggingface.

    The value is ``~``- and ``$VAR``-expanded, as lmms-eval's tasks do.
    """
    raw = os.fspath(override) if override is not None else os.environ.get("HF_HOME", DEFAULT_HF_HOME)
    if not raw:
        raw = DEFAULT_HF_HOME
    return os.path.expanduser(os.path.expandvars(raw))


def dataset_dir(cache_dir: str, override: str | os.PathLike | None = None) -> str:
    """Return the folder lmms-eval extracts a video dataset into: <HF_HOME>/<cache_dir> (absolute cache_dir kept)."""
    resolved = os.path.expanduser(os.path.expandvars(cache_dir))
    if os.path.isabs(resolved):
        return resolved
    return os.path.join(hf_home(override), resolved)


def first_existing(candidates: Iterable[str], *, benchmark: str, doc_label: str, hint: str = "") -> str:
    """Return the first candidate path that exists as a file; raise MissingVideoError listing all of them."""
    tried: list[str] = []
    for path in candidates:
        absolute = os.path.abspath(path)
        if absolute in tried:
            continue
        tried.append(absolute)
        if os.path.isfile(absolute):
            return absolute
    raise MissingVideoError(benchmark, doc_label, tried, hint)


def with_suffixes(stem_path: str, suffixes: Sequence[str]) -> list[str]:
    """Return ``stem_path + suffix`` for each suffix, e.g. ('.mp4', '.MP4', '.mkv')."""
    return [stem_path + suffix for suffix in suffixes]


def option_letter(index: int) -> str:
    """Return the letter of the option at ``index`` (0 -> 'A')."""
    if not isinstance(index, int) or index < 0 or index >= 26:
        raise ValueError(f"Invalid option index: {index!r}. Expected an int in 0..25.")
    return chr(ord("A") + index)


def strip_option_letter(text: str, letter: str | None = None) -> str:
    """Remove a leading option letter such as 'A. ', '(B) ', 'C) ', 'D: ' from ``text``.

    With ``letter`` given, only that letter (case-insensitive) is removed, so an option that merely starts
    with a capital word ("A man ...") or another letter is left untouched. Surrounding spaces are stripped.
    """
    if not isinstance(text, str):
        raise TypeError(f"Invalid option text: {text!r}. Expected a str.")
    match = _LETTER_PREFIX.match(text)
    if match is None:
        return text.strip()
    if letter is not None and match.group("letter").upper() != letter.upper():
        return text.strip()
    return text[match.end():].strip()


def strip_option_letters(options: Sequence[str]) -> list[str]:
    """Strip the expected letter (A, B, C, ... by position) from each option of a list."""
    return [strip_option_letter(str(option), option_letter(i)) for i, option in enumerate(options)]


def split_inline_options(text: str) -> tuple[str, list[str]]:
    """Split a question whose options follow it on their own lines ('(A) ...', 'B. ...').

    Returns (question without the option lines, options without letters). Option lines must start with
    the letters A, B, C, ... in order; anything else stays part of the question.
    """
    lines = text.split("\n")
    start = None
    for i, line in enumerate(lines):
        match = _LETTER_PREFIX.match(line)
        if match is not None and match.group("letter").upper() == "A":
            start = i
            break
    if start is None:
        return text.strip(), []
    options: list[str] = []
    for line in lines[start:]:
        if not line.strip():
            continue
        expected = option_letter(len(options))
        match = _LETTER_PREFIX.match(line)
        if match is None or match.group("letter").upper() != expected:
            break
        options.append(line[match.end():].strip())
    return "\n".join(lines[:start]).strip(), options


def optional_text(doc: Mapping, key: str) -> str | None:
    """Return doc[key] as a str, or None when the field is absent, None or empty."""
    value = doc.get(key) if isinstance(doc, Mapping) else None
    return None if value is None or str(value) == "" else str(value)


def require_field(doc: Mapping, key: str, benchmark: str):
    """Return doc[key]; raise KeyError naming the benchmark, the key and the keys the doc has."""
    try:
        return doc[key]
    except (KeyError, TypeError):
        keys = sorted(doc.keys()) if isinstance(doc, Mapping) else type(doc).__name__
        raise KeyError(f"Invalid {benchmark} doc: missing field {key!r}. The doc has: {keys}.") from None
