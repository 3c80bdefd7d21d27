"""NSEC3 checks (RFC 5155 chain and coverage, RFC 9276 parameters) on hand-built zones: BIND
never serves a broken chain, so these faults are made here. No lab, no signatures (the
checks read only the denial records)."""

from __future__ import annotations

import base64

import dns.dnssec
import dns.name
import dns.zone

from siteproof.areas.dns.nsec3 import nsec3_problems

ORIGIN = dns.name.from_text("example.test.")
NAMES = {"@": "SOA NS NSEC3PARAM", "www": "A", "a.b": "A"}  # b: an empty non-terminal


def _hash(name: str, salt: bytes, iterations: int) -> str:
    full = ORIGIN if name == "@" else dns.name.from_text(name, ORIGIN)
    return dns.dnssec.nsec3_hash(full, salt, iterations, 1)


def zone_text(salt: bytes = b"", iterations: int = 0, flags: int = 0, drop: str | None = None,
              swap_next: bool = False, types: dict[str, str] | None = None) -> dns.zone.Zone:
    types = {**NAMES, "b": "", **(types or {})}  # unsigned here: no RRSIG in any bitmap
    salt_text = salt.hex() or "-"
    hashes = sorted((_hash(n, salt, iterations), n) for n in types if n != drop)
    lines = [
        "@ 10 IN SOA ns hostmaster 1 10 10 10 10",
        "@ 10 IN NS ns.example.net.",
        f"@ 10 IN NSEC3PARAM 1 0 {iterations} {salt_text}",
        "www 10 IN A 192.0.2.1",
        "a.b 10 IN A 192.0.2.2",
    ]
    for i, (digest, name) in enumerate(hashes):
        nxt = hashes[(i + (2 if swap_next and i == 0 else 1)) % len(hashes)][0]
        lines.append(f"{digest.lower()} 10 IN NSEC3 1 {flags} {iterations} {salt_text} {nxt} {types[name]}")
    return dns.zone.from_text("\n".join(lines), origin=ORIGIN, relativize=False, check_origin=False)


def test_a_zone_to_rfc_9276_passes():
    summary, problems = nsec3_problems(zone_text())
    assert problems == [] and "0 iterations" in summary


def test_iterations_salt_and_opt_out_are_named():
    _, problems = nsec3_problems(zone_text(salt=b"\x12\x34", iterations=5, flags=1))
    text = "; ".join(problems)
    assert "iterations 5" in text and "empty salt" in text and "opt-out" in text


def test_a_name_without_its_record_is_found():
    _, problems = nsec3_problems(zone_text(drop="b"))
    assert any("without an NSEC3 record: b.example.test." in p for p in problems)


def test_a_chain_out_of_order_is_found():
    _, problems = nsec3_problems(zone_text(swap_next=True))
    assert any(p.startswith("NSEC3 chain broken at") for p in problems)


def test_a_bitmap_that_lies_is_found():
    _, problems = nsec3_problems(zone_text(types={"www": "A AAAA"}))
    assert any("type bitmaps" in p and "AAAA" in p for p in problems)


def test_hash_text_round_trip():
    raw = base64.b32hexdecode(_hash("www", b"", 0))
    assert len(raw) == 20
