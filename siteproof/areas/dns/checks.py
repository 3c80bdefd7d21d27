"""DNS as the DNS suite checks it: the TSIG keys and signing policies a named.conf gives, and
DNSSEC validation of a transferred zone (every RRset against its RRSIG, the NSEC chain, the
keys). Questions and transfers from a chosen node: siteproof.probes.dnsask.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

import dns.dnssec
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.tsigkeyring
import dns.zone

from siteproof.areas.dns.nsec3 import nsec3_problems
from siteproof.errors import SiteproofError

SEP = 0x0001  # DNSKEY flag of a key-signing key
# RRsets a child may sign with its KSK only (the validity of the signature is still checked).
KSK_MAY_SIGN = (dns.rdatatype.CDS, dns.rdatatype.CDNSKEY)
_KEY = re.compile(r'key\s+"(?P<name>[^"]+)"\s*\{(?P<body>[^}]*)\}', re.S)
_KEY_SECRET = re.compile(r'secret\s+"(?P<secret>[^"]+)"')
_KEY_ALGORITHM = re.compile(r"algorithm\s+\"?(?P<algorithm>[\w.-]+)\"?\s*;")


@dataclass(frozen=True)
class TsigKey:
    name: str
    algorithm: str
    secret: str = field(repr=False)  # never put it in a report


def tsig_keys(named_conf: str) -> dict[str, TsigKey]:
    """The TSIG keys a named.conf defines, each with the algorithm the config gives it."""
    keys = {}
    for m in _KEY.finditer(named_conf):
        secret, algorithm = _KEY_SECRET.search(m["body"]), _KEY_ALGORITHM.search(m["body"])
        if secret:
            keys[m["name"]] = TsigKey(m["name"], algorithm["algorithm"].lower() if algorithm else "hmac-sha256", secret["secret"])
    return keys


def keyring(name: str, secret: str, algorithm: str = "hmac-sha256") -> dict[dns.name.Name, dns.tsig.Key]:
    return dns.tsigkeyring.from_text({name: (algorithm, secret)})


def key_ring(key: TsigKey) -> dict[dns.name.Name, dns.tsig.Key]:
    return keyring(key.name, key.secret, key.algorithm)


# --- the signing policy, as named.conf gives it --------------------------------------------------
_ZONE_BLOCK = re.compile(r'zone\s+"(?P<name>[^"]+)"\s*(?:IN\s*)?\{(?P<body>.*?)\n\}', re.S)
_ZONE_POLICY = re.compile(r'dnssec-policy\s+"?(?P<policy>[\w.-]+)"?\s*;')
_POLICY_BLOCK = re.compile(r'dnssec-policy\s+"?(?P<name>[\w.-]+)"?\s*\{(?P<body>.*?)\n\};', re.S)
# BIND's durations (ARM, "duration"): ISO 8601 (P1Y2M3W4DT5H6M7S, any part may be left out) or
# TTL-style (2w, 1d12h, 90m; a plain number is seconds), case-insensitive; "unlimited".
_ISO = re.compile(r"^P(?:(?P<Y>\d+)Y)?(?:(?P<MO>\d+)M)?(?:(?P<W>\d+)W)?(?:(?P<D>\d+)D)?"
                  r"(?:T(?:(?P<H>\d+)H)?(?:(?P<MI>\d+)M)?(?:(?P<S>\d+)S)?)?$", re.I)
_TTL_STYLE = re.compile(r"^(?:\d+[wdhms])+$", re.I)
_TTL_PART = re.compile(r"(\d+)([wdhms])", re.I)
# As BIND counts them: a year 365 days, a month 30.
_ISO_SECONDS = {"Y": 365 * 86400, "MO": 30 * 86400, "W": 7 * 86400, "D": 86400, "H": 3600, "MI": 60, "S": 1}
_TTL_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
# BIND's built-in "default" policy (ARM, dnssec-policy): 14 days of validity, refreshed 5 days before expiry.
BIND_DEFAULTS = {"signatures-validity": 14 * 86400.0, "signatures-refresh": 5 * 86400.0}


def iso_duration(text: str) -> float:
    """Seconds of a duration in any form BIND accepts (P21D, P3W, PT300S, P1DT2H, 2w, 1d12h, 300,
    unlimited: infinity); ValueError, naming the text, for any other."""
    if text.isdigit():
        return float(text)
    if text.lower() == "unlimited":
        return math.inf
    iso = _ISO.match(text)
    if iso and text.upper() not in ("P", "PT") and not text.upper().endswith("T"):
        return float(sum(int(v) * _ISO_SECONDS[k] for k, v in iso.groupdict().items() if v))
    if _TTL_STYLE.match(text):
        return float(sum(int(n) * _TTL_SECONDS[u.lower()] for n, u in _TTL_PART.findall(text)))
    raise ValueError(f"{text!r} is not a duration BIND accepts (ISO 8601 such as P3W or PT12H, or TTL-style such as 2w1d)")


@dataclass(frozen=True)
class SigningPolicy:
    name: str
    validity: float  # seconds a signature is valid when made
    refresh: float  # BIND re-signs when less than this is left: the least lifetime a signature ever has

    @property
    def least_remaining(self) -> float:
        return self.refresh


def signing_policies(named_conf: str) -> dict[str, SigningPolicy]:
    """zone -> its dnssec-policy's validity and refresh (BIND's defaults where the policy is silent)."""
    policies: dict[str, dict[str, float]] = {"default": dict(BIND_DEFAULTS)}
    for m in _POLICY_BLOCK.finditer(named_conf):
        values = dict(BIND_DEFAULTS)
        for key in BIND_DEFAULTS:
            found = re.search(rf"^\s*{key}\s+([^;\n]*?)\s*;", m["body"], re.M)  # all of it: "5 days" is an error
            if found:
                try:
                    values[key] = iso_duration(found.group(1))
                except ValueError as exc:
                    line = named_conf.count("\n", 0, m.start("body") + found.start(1)) + 1
                    raise SiteproofError(f"named.conf line {line}: dnssec-policy {m['name']}: {key}: {exc}") from None
        policies[m["name"]] = values
    zones = {}
    for z in _ZONE_BLOCK.finditer(named_conf):
        policy = _ZONE_POLICY.search(z["body"])
        if policy and policy["policy"] != "none" and policy["policy"] in policies:
            v = policies[policy["policy"]]
            zones[z["name"]] = SigningPolicy(policy["policy"], v["signatures-validity"], v["signatures-refresh"])
    return zones


# --- DNSSEC validation of a transferred zone ---------------------------------------------------
@dataclass
class ZoneValidation:
    zone: str
    rrsets: int = 0
    failures: list[str] = field(default_factory=list)
    ksk_tags: list[int] = field(default_factory=list)
    zsk_tags: list[int] = field(default_factory=list)
    earliest_expiry: float | None = None
    earliest_rrset: str = ""
    nsec: str = ""
    dnskey: dns.rrset.RRset | None = None

    @property
    def signed(self) -> bool:
        return self.dnskey is not None


def validate_zone(zone: dns.zone.Zone, now: float | None = None) -> ZoneValidation:
    """Check every RRset's RRSIGs with the zone's DNSKEYs, the key roles and the NSEC chain."""
    now = time.time() if now is None else now
    origin = zone.origin
    result = ZoneValidation(origin.to_text())
    apex = zone.get_node(origin)
    dnskey_rds = apex.get_rdataset(dns.rdataclass.IN, dns.rdatatype.DNSKEY) if apex else None
    if dnskey_rds is None:
        result.failures.append(f"{result.zone}: no DNSKEY at the apex: the zone is not signed")
        return result
    dnskey = dns.rrset.from_rdata_list(origin, dnskey_rds.ttl, list(dnskey_rds))
    result.dnskey = dnskey
    for key in dnskey:
        (result.ksk_tags if key.flags & SEP else result.zsk_tags).append(dns.dnssec.key_id(key))
    if not result.ksk_tags or not result.zsk_tags:
        result.failures.append(f"{result.zone}: KSK {result.ksk_tags} and ZSK {result.zsk_tags}: not separate keys")
    keys = {origin: dnskey}
    for name, node in zone.nodes.items():
        sigs = {rds.covers: rds for rds in node.rdatasets if rds.rdtype == dns.rdatatype.RRSIG}
        delegation = name != origin and node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS) is not None
        for rds in node.rdatasets:
            if rds.rdtype == dns.rdatatype.RRSIG:
                continue
            if delegation and rds.rdtype != dns.rdatatype.DS and rds.rdtype != dns.rdatatype.NSEC:
                continue  # a delegation's NS and glue are not signed by this zone
            label = f"{name.to_text()} {dns.rdatatype.to_text(rds.rdtype)}"
            result.rrsets += 1
            sig = sigs.get(rds.rdtype)
            if sig is None:
                result.failures.append(f"{label}: no RRSIG")
                continue
            rrset = dns.rrset.from_rdata_list(name, rds.ttl, list(rds))
            sigset = dns.rrset.from_rdata_list(name, sig.ttl, list(sig))
            try:
                dns.dnssec.validate(rrset, sigset, keys, now=now)
            except dns.dnssec.ValidationFailure as exc:
                result.failures.append(f"{label}: {exc}")
            signers = {s.key_tag for s in sig}
            if rds.rdtype == dns.rdatatype.DNSKEY and not signers & set(result.ksk_tags):
                result.failures.append(f"{label}: not signed by the KSK")
            elif rds.rdtype in KSK_MAY_SIGN:
                pass  # RFC 7344 4.1: CDS/CDNSKEY may be signed by the KSK alone (BIND does so)
            elif rds.rdtype != dns.rdatatype.DNSKEY and not signers & set(result.zsk_tags):
                result.failures.append(f"{label}: not signed by a ZSK")
            for s in sig:
                if result.earliest_expiry is None or s.expiration < result.earliest_expiry:
                    result.earliest_expiry, result.earliest_rrset = float(s.expiration), label
    result.failures += nsec_chain_problems(zone, result)
    return result


def nsec_chain_problems(zone: dns.zone.Zone, result: ZoneValidation) -> list[str]:
    """NSEC: each owner's next name is the next owner in canonical order, the last wraps to the apex.
    NSEC3: RFC 5155 and RFC 9276, see nsec3.py."""
    owners = sorted(n for n, node in zone.nodes.items()
                    if any(r.rdtype != dns.rdatatype.RRSIG for r in node.rdatasets)
                    and not node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC3))
    nsec = {n: node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC) for n, node in zone.nodes.items()}
    nsec3 = [n for n, node in zone.nodes.items() if node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC3)]
    if nsec3:
        result.nsec, problems = nsec3_problems(zone)
        return [f"{result.zone}: {p}" for p in problems]
    with_nsec = [n for n in owners if nsec.get(n)]
    # Glue below a delegation has no NSEC of its own.
    missing = [n.to_text() for n in owners if not nsec.get(n) and not _is_glue(zone, n)]
    problems = [f"NSEC missing at {', '.join(missing[:5])}"] if missing else []
    for i, name in enumerate(with_nsec):
        want = with_nsec[(i + 1) % len(with_nsec)]
        got = next(iter(nsec[name])).next
        if got != want:
            problems.append(f"NSEC chain broken at {name.to_text()}: next {got.to_text()}, expected {want.to_text()}")
    result.nsec = f"NSEC, {len(with_nsec)} links, closed" if not problems else "NSEC, broken"
    return problems


def _is_glue(zone: dns.zone.Zone, name: dns.name.Name) -> bool:
    parent = name.parent() if name != zone.origin else None
    while parent is not None and parent != zone.origin and parent.is_subdomain(zone.origin):
        node = zone.get_node(parent)
        if node is not None and node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS) is not None:
            return True
        parent = parent.parent()
    return False


def ds_matches(ds_rrset: dns.rrset.RRset | None, zone: str, dnskey: dns.rrset.RRset) -> list[str]:
    """Problems with the parent's DS for a zone (empty when a DS matches a KSK of the zone)."""
    if ds_rrset is None or len(ds_rrset) == 0:
        return [f"{zone}: the parent holds no DS"]
    ksks = [k for k in dnskey if k.flags & SEP]
    owner = dns.name.from_text(zone)
    for ds in ds_rrset:
        for key in ksks:
            if dns.dnssec.key_id(key) == ds.key_tag:
                made = dns.dnssec.make_ds(owner, key, ds.digest_type)
                if made.digest == ds.digest:
                    return []
    tags = ", ".join(str(d.key_tag) for d in ds_rrset)
    return [f"{zone}: the parent's DS (key tag {tags}) does not match the zone's KSK "
            f"({', '.join(str(dns.dnssec.key_id(k)) for k in ksks)})"]
