"""DNSSEC keys of a lab: generated before the daemons start, so a parent's DS and a
resolver's trust anchor can be written from them (a real delegation hands these over by
hand; the lab does it at bring-up).

BIND's dnssec-policy adopts keys it finds in its key-directory that match the policy, and
manages them (rollovers included) from then on.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from siteproof.errors import DaemonError

ALGORITHM = "ECDSAP256SHA256"


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        raise DaemonError(f"DNSSEC keys need {name!r}, which is not installed (Debian package 'bind9-utils')")
    return path


def _keygen(keydir: Path, zone: str, ksk: bool) -> None:
    args = [_tool("dnssec-keygen"), "-q", "-K", str(keydir), "-a", ALGORITHM, *(["-f", "KSK"] if ksk else []), zone]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DaemonError(f"dnssec-keygen for {zone} failed: {proc.stderr.strip()}")


def key_files(keydir: Path, zone: str) -> list[Path]:
    name = zone.rstrip(".") + "." if zone != "." else "."
    return sorted(keydir.glob(f"K{name}+*.key"))


def is_ksk(keyfile: Path) -> bool:
    return bool(re.search(r"\sDNSKEY\s+257\s", keyfile.read_text()))


def ensure_keys(keydir: Path, zone: str) -> None:
    """One KSK and one ZSK for the zone, unless keys are already there."""
    keydir.mkdir(parents=True, exist_ok=True)
    existing = key_files(keydir, zone)
    if not any(is_ksk(k) for k in existing):
        _keygen(keydir, zone, ksk=True)
    if not any(not is_ksk(k) for k in existing):
        _keygen(keydir, zone, ksk=False)


def ksk(keydir: Path, zone: str) -> Path:
    found = [k for k in key_files(keydir, zone) if is_ksk(k)]
    if not found:
        raise DaemonError(f"no KSK for zone {zone} in {keydir}: its signer must start first")
    return found[0]


def dnskey_record(keyfile: Path) -> str:
    return next(line for line in keyfile.read_text().splitlines() if line and not line.startswith(";"))


def ds_records(keyfile: Path) -> list[str]:
    proc = subprocess.run([_tool("dnssec-dsfromkey"), "-2", str(keyfile)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DaemonError(f"dnssec-dsfromkey {keyfile} failed: {proc.stderr.strip()}")
    return [line for line in proc.stdout.splitlines() if line.strip()]
