"""The one KEY=VALUE parser, for --set, --budget and the CLI's options."""

from __future__ import annotations

from siteproof.errors import SiteproofError


def parse_pairs(values: list[str], option: str) -> dict[str, str]:
    """`["a=1", "b=x=y"]` -> `{"a": "1", "b": "x=y"}`; a malformed item names the option."""
    result: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SiteproofError(f"{option} {item!r}: expected KEY=VALUE")
        result[key.strip()] = value
    return result
