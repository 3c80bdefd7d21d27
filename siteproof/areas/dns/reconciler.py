"""The stranded-record reconciler (paper 000, section III.A): a small service a site can run.

etcd holds the system's records the way CoreDNS's etcd plugin reads them (key
/skydns/<reversed domain labels>/<name...>, value {"host": address, "ttl": seconds}; a last
path component x1, x2, ... is an instance, so several records share one name). The upstream
zone can only be read by AXFR. Every interval the reconciler compares the two and sends the
difference as one TSIG-signed dynamic update: records withdrawn internally are deleted
upstream (no longer stranded), new ones added. `delete_stranded: false` is the
known-bad way (the paper's first script): it only adds.

Run: python -m siteproof.areas.dns.reconciler CONFIG.json
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import signal
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import dns.zone

from siteproof.statusfile import write_atomic

Record = tuple[str, str, str]  # (name relative to the zone, type, value)
MANAGED_TYPES = ("A", "AAAA", "CNAME")
_INSTANCE = re.compile(r"^x\d+$")


def log(message: str) -> None:
    print(f"{time.time():.3f} {message}", flush=True)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def etcd_records(url: str, prefix: str) -> dict[Record, int]:
    """Every record under the prefix, with its TTL (etcd v3 JSON gateway)."""
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    body = json.dumps({"key": _b64(prefix), "range_end": _b64(end)}).encode()
    request = urllib.request.Request(  # noqa: S310 - the configured etcd URL (http)
        f"{url}/v3/kv/range", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        kvs = json.load(response).get("kvs", [])
    records: dict[Record, int] = {}
    for kv in kvs:
        key = base64.b64decode(kv["key"]).decode()
        try:
            value = json.loads(base64.b64decode(kv.get("value", "")))
            host = str(value["host"])
        except (ValueError, KeyError, TypeError):
            log(f"skipping {key}: not a CoreDNS record")
            continue
        parts = [p for p in key[len(prefix):].split("/") if p]
        if parts and _INSTANCE.match(parts[-1]):
            parts = parts[:-1]
        name = ".".join(reversed(parts)) or "@"
        try:
            rtype = "AAAA" if ipaddress.ip_address(host).version == 6 else "A"
        except ValueError:
            rtype, host = "CNAME", host.rstrip(".") + "."
        records[(name, rtype, host)] = int(value.get("ttl", 60))
    return records


def upstream_records(zone: str, server: str, keyring: Any, unmanaged: set[str]) -> set[Record]:
    z = dns.zone.from_xfr(dns.query.xfr(server, zone, keyring=keyring, timeout=5, lifetime=10), relativize=True)
    found: set[Record] = set()
    for name, node in z.nodes.items():
        rel = name.to_text()
        if rel == "@" or rel in unmanaged:
            continue
        for rdataset in node.rdatasets:
            rtype = dns.rdatatype.to_text(rdataset.rdtype)
            if rtype in MANAGED_TYPES:
                found.update((rel, rtype, rd.to_text()) for rd in rdataset)
    return found


def reconcile_once(cfg: dict[str, Any], keyring: Any) -> dict[str, Any]:
    want = etcd_records(cfg["etcd"], cfg["prefix"])
    have = upstream_records(cfg["zone"], cfg["server"], keyring, set(cfg.get("unmanaged", [])))
    add = sorted(set(want) - have)
    # A site that only ever adds (delete_stranded false) leaves withdrawn records stranded.
    remove = sorted(have - set(want)) if cfg.get("delete_stranded", True) else []
    if add or remove:
        update = dns.update.UpdateMessage(cfg["zone"], keyring=keyring, keyname=cfg["key_name"])
        for name, rtype, value in remove:
            update.delete(name, rtype, value)
        for record in add:
            update.add(record[0], want[record], record[1], record[2])
        response = dns.query.tcp(update, cfg["server"], timeout=5)
        if response.rcode() != dns.rcode.NOERROR:
            raise RuntimeError(f"update refused: {dns.rcode.to_text(response.rcode())}")
        for record in remove:
            log(f"removed stranded {' '.join(record)}")
        for record in add:
            log(f"added {' '.join(record)}")
    return {"time": time.time(), "internal": len(want), "added": [list(r) for r in add],
            "removed": [list(r) for r in remove], "in_sync": not add and not remove}


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    cfg = json.loads(Path(argv[1]).read_text())
    keyring = dns.tsigkeyring.from_text({cfg["key_name"]: (cfg.get("key_algorithm", "hmac-sha256"), cfg["key_secret"])})
    ready = False
    while True:
        try:
            status = reconcile_once(cfg, keyring)
            write_atomic("status.json", json.dumps(status))
            if not ready:
                log(f"ready: {status['internal']} internal records, zone {cfg['zone']} at {cfg['server']}")
                ready = True
        except Exception as exc:  # noqa: BLE001 - a failed round is logged and retried
            log(f"round failed: {exc.__class__.__name__}: {exc}")
        time.sleep(float(cfg["interval"]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
