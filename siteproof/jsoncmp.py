"""A structured subset compare of JSON documents, with a readable diff (as FRR topotests' json_cmp).

`expected` is a subset of `actual`: every key of an expected object must be in the actual one
with a matching value; every item of an expected list must match some item of the actual list
(in any order); `ABSENT` as an expected value means the key must not be there. Scalars compare
by equality. The result is empty when it matches, else one line per difference, each with the
path where it was found.
"""

from __future__ import annotations

from typing import Any

ABSENT = object()  # an expected value: this key must not be in the actual object


def json_cmp(actual: Any, expected: Any, path: str = "") -> list[str]:
    """The differences (empty: `actual` contains `expected`)."""
    where = path or "(top)"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {_short(actual)}"]
        diffs = []
        for key, want in expected.items():
            sub = f"{path}.{key}" if path else str(key)
            if want is ABSENT:
                if key in actual:
                    diffs.append(f"{sub}: expected absent, got {_short(actual[key])}")
            elif key not in actual:
                diffs.append(f"{sub}: missing (expected {_short(want)})")
            else:
                diffs.extend(json_cmp(actual[key], want, sub))
        return diffs
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {_short(actual)}"]
        diffs = []
        for i, want in enumerate(expected):
            if not any(not json_cmp(item, want) for item in actual):
                closest = min((json_cmp(item, want, f"{where}[{i}]") for item in actual), key=len, default=None)
                diffs.extend(closest or [f"{where}[{i}]: no item matches {_short(want)} (the list is empty)"])
        return diffs
    if actual != expected:
        return [f"{where}: expected {_short(expected)}, got {_short(actual)}"]
    return []


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
