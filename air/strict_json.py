"""Strict JSON (RFC 8259: no NaN, no Infinity) in both directions, for traces, exports and the report.

`loads_strict` refuses NaN, Infinity and numbers a float cannot hold; `strict_json_value` turns any value
into strict-JSON types (numpy values become Python ones, non-finite floats None, with the paths replaced);
`dumps_strict` writes a value through it. Standard library only (numpy values are read via `.tolist()`),
so the pure selection code may use it.
"""

from __future__ import annotations

import json
import math
from typing import Any


class StrictJSONError(ValueError):
    """Text that is not strict JSON: NaN / Infinity, or a number a float cannot hold (1e400)."""


def _reject_constant(name: str):
    raise StrictJSONError(f"{name} is not strict JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise StrictJSONError(f"number {text[:40]} overflows a float")
    return value


def loads_strict(text: str | bytes) -> Any:
    """json.loads that also refuses NaN, Infinity and numbers overflowing a float (StrictJSONError)."""
    return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)


def strict_json_value(value: Any, path: str = "") -> tuple[Any, list[str]]:
    """(value as strict-JSON types, paths of the non-finite floats replaced by None).

    numpy scalars and arrays become Python numbers and lists, tuples and sets become lists, other
    unknown objects their str(); NaN, Infinity and -Infinity become None. Paths look like "a.b[2]".
    """
    replaced: list[str] = []
    return _strict(value, path, replaced), replaced


def _strict(value: Any, path: str, replaced: list[str]) -> Any:
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        replaced.append(path or "$")
        return None
    if isinstance(value, dict):
        return {str(k): _strict(v, f"{path}.{k}" if path else str(k), replaced) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [_strict(v, f"{path}[{i}]", replaced) for i, v in enumerate(items)]
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays
    if callable(tolist):
        return _strict(tolist(), path, replaced)
    return str(value)


def dumps_strict(value: Any, **kwargs: Any) -> str:
    """json.dumps of `strict_json_value(value)` with allow_nan=False (non-finite floats become null)."""
    return json.dumps(strict_json_value(value)[0], allow_nan=False, **kwargs)
