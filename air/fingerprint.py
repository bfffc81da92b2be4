"""Run fingerprints: which configuration produced a trace record, so `resume=True` never reuses a foreign one.

A fingerprint is ``{"hash": <16 hex chars>, "parts": {...}}``. ``parts`` is a JSON object naming
everything that can change a sample's answer (method, checkpoints, the full AIRConfig, the analysis
prompt version, answer options, a baseline's own options); ``hash`` is the SHA-256 of its canonical
JSON (keys sorted). Two records match when their hashes are equal; `differing_fields` names the dotted
paths that differ ("config.gamma"), so a log line can say why a record was skipped. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

#: Bumped when the way parts are assembled changes, so older fingerprints never match by accident.
FINGERPRINT_SCHEME = 1

#: Shown for a path that one side of a comparison does not have.
ABSENT = "<absent>"


def canonical_parts(parts: Mapping[str, Any]) -> dict[str, Any]:
    """`parts` as plain JSON types (tuples become lists), with the scheme number; strict JSON only.

    Raises ValueError naming the offending value when parts hold NaN/Infinity or a non-JSON type.
    """
    try:
        text = json.dumps({"scheme": FINGERPRINT_SCHEME, **parts}, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Invalid fingerprint parts: {exc}. Expected finite numbers, strings, lists and dicts.") from exc
    return json.loads(text)


def make_fingerprint(parts: Mapping[str, Any]) -> dict[str, Any]:
    """{"hash": 16 hex chars, "parts": canonical parts} of a run configuration."""
    clean = canonical_parts(parts)
    text = json.dumps(clean, sort_keys=True, separators=(",", ":"))
    return {"hash": hashlib.sha256(text.encode("utf-8")).hexdigest()[:16], "parts": clean}


def flatten(parts: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as {"a.b": leaf}; lists and scalars are leaves."""
    if not isinstance(parts, Mapping):
        return {prefix: parts} if prefix else {"": parts}
    out: dict[str, Any] = {}
    for key, value in parts.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, path))
        else:
            out[path] = value
    return out


def differing_fields(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """{dotted path: (my value, their value)} for every leaf that differs; ABSENT marks a missing side."""
    a, b = flatten(mine), flatten(theirs)
    return {path: (a.get(path, ABSENT), b.get(path, ABSENT))
            for path in sorted(set(a) | set(b)) if a.get(path, ABSENT) != b.get(path, ABSENT)}


def short_value(value: Any, limit: int = 60) -> str:
    """A value for a log line, cut to `limit` characters."""
    text = value if value == ABSENT else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
