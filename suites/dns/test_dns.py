"""The system's external DNS (SPEC DNS-1..9; paper 000, section III).

The forward and reverse zones are DNSSEC-signed by a BIND primary (dnssec-policy, KSK and
ZSK), delegated from a signed lab root that holds their DS, transferred to a Knot secondary,
validated by Unbound with the lab's trust anchor, answered only inside the site boundary,
updated with TSIG, and mirrored into an upstream zone by the stranded-record reconciler.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import itertools
import json
import subprocess
import threading
import time

import dns.dnssec
import dns.flags
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

from siteproof.areas.dns import acl
from siteproof.areas.dns.checks import SEP, ds_matches, keyring, signing_policies, validate_zone
from siteproof.backends.base import DAEMON_FILES
from siteproof.topology.render import reverse_name
from siteproof.wait import WaitTimeout, wait_until

pytestmark = [pytest.mark.topology("perlmutter-dns"), pytest.mark.dns]
_serial = itertools.count(1)


# --- DNS-1 ------------------------------------------------------------------------------------
@pytest.mark.behaviour("DNS-1")
@pytest.mark.parametrize("which", ["forward", "reverse-ipv4", "reverse-ipv6"])
def test_dns1_every_rrset_signed_and_nsec_chain_complete(dnssite, which, evidence, tmp_path):
    """DNS-1: every RRset of the zone (an AXFR copy) has a valid RRSIG from a separate KSK/ZSK,
    denial of existence holds (an NSEC chain closed in canonical order, or NSEC3 to RFC 5155 and
    RFC 9276); ldns-verify-zone and dnssec-verify agree on the same copy."""
    zone = dnssite.zones[["forward", "reverse-ipv4", "reverse-ipv6"].index(which)]
    _check_signed_zone(dnssite, zone, evidence, tmp_path)


def _consistent_copies(dnssite, zone: str) -> tuple:
    """The primary's AXFR copy and each secondary's served copy of one and the same version.

    A signer changes its zone by itself (BIND adds CDS/CDNSKEY when a KSK's DS may go up; it
    re-signs): a secondary read while it transfers a new version, or against a copy of another
    serial, mixes two versions and shows NSEC3 bitmaps that never existed. So the copies are
    taken when every server serves the copy's serial, and taken again if it moved meanwhile
    (within notify_propagation); a secondary that never catches up is judged as it serves."""
    secondaries = [node for node in dnssite.authoritative if node != dnssite.primary_name]
    for _ in range(3):
        copy = dnssite.axfr_copy(zone)
        serial = copy.get_rdataset(copy.origin, "SOA")[0].serial
        with contextlib.suppress(WaitTimeout):
            wait_until(lambda serial=serial: set(dnssite.serials(zone).values()) == {serial}, "notify_propagation",
                       expected=f"every server of {zone} serving serial {serial}", accept=bool, interval=0.2)
        served = {node: dnssite.served_copy(node, zone, copy) for node in secondaries}
        if set(dnssite.serials(zone).values()) == {serial}:
            break  # nothing moved while the copies were read
    return copy, served


def _check_signed_zone(dnssite, zone: str, evidence, tmp_path) -> None:
    copy, copies = _consistent_copies(dnssite, zone)
    result = validate_zone(copy)
    # Each secondary's copy too, as it serves it (read by queries: secondaries refuse AXFR).
    served = {node: validate_zone(served_copy) for node, served_copy in copies.items()}
    evidence.table("what each secondary serves", ["server", "RRsets checked", "failures"],
                   [[n, v.rrsets, "; ".join(v.failures[:3]) or "none"] for n, v in served.items()])
    path = tmp_path / f"{zone}.zone"
    path.write_text(copy.to_text(relativize=False))
    tools = {}
    for tool, cmd in {"ldns-verify-zone": ["ldns-verify-zone", str(path)],
                      "dnssec-verify": ["dnssec-verify", "-q", "-o", zone, str(path)]}.items():
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        tools[tool] = "ok" if proc.returncode == 0 else f"failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}"
    evidence.record("zone", zone)
    evidence.record("RRsets checked (dnspython)", result.rrsets)
    evidence.record("failures", len(result.failures))
    evidence.record("KSK key tags", result.ksk_tags)
    evidence.record("ZSK key tags", result.zsk_tags)
    evidence.record("denial of existence", result.nsec or "-")
    if result.earliest_expiry:
        evidence.record("earliest RRSIG expiry", f"{_utc(result.earliest_expiry)} ({result.earliest_rrset})")
    evidence.table("independent verifiers", ["verifier", "verdict"], [["dnspython", "ok" if not result.failures else "failed"],
                                                                       *[[t, v] for t, v in tools.items()]])
    if result.failures:
        evidence.table("failures", ["problem"], [[f] for f in result.failures[:20]])
    assert result.signed, f"zone {zone} is not signed: no DNSKEY at its apex"
    assert not result.failures, f"zone {zone}: {len(result.failures)} DNSSEC problems: " + "; ".join(result.failures[:4])
    bad_tools = {t: v for t, v in tools.items() if v != "ok"}
    assert not bad_tools, f"zone {zone}: the independent verifiers disagree: {bad_tools}"
    for node, v in served.items():
        assert v.rrsets >= result.rrsets and not v.failures, (
            f"zone {zone} as {node} serves it: {len(v.failures)} DNSSEC problems in {v.rrsets} of {result.rrsets} RRsets: "
            + "; ".join(v.failures[:4]))


def dnssec_conf(dnssite) -> str:
    return dnssite.site.daemon_config(dnssite.primary_name, "named")


def _utc(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


# --- DNS-2 ------------------------------------------------------------------------------------
def _anchor_problems(dnssite) -> tuple[list[str], list[str]]:
    """The root's KSK against the resolver's configured trust anchor."""
    conf = dnssite.site.daemon_config(dnssite.site.names("resolver")[0], "unbound")
    anchors = [line.split('"')[1] for line in conf.splitlines() if line.strip().startswith("trust-anchor:")]
    anchor_keys = []
    for anchor in anchors:
        tokens = anchor.split()
        if "DNSKEY" in tokens:
            rdata = " ".join(tokens[tokens.index("DNSKEY") + 1:])
            anchor_keys.append(dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.DNSKEY, rdata))
    root_keys = [rr for rrset in dnssite.inside.query(dnssite.root, ".", "DNSKEY").answer for rr in rrset
                 if rrset.rdtype == dns.rdatatype.DNSKEY and rr.flags & SEP]
    problems = [] if any(k in anchor_keys for k in root_keys) else ["the root's KSK is not the resolver's trust anchor"]
    return problems, anchors


@pytest.mark.behaviour("DNS-2")
def test_dns2_chain_of_trust_and_ad_bit(dnssite, evidence):
    """DNS-2: the root holds a DS matching each zone's KSK, the root's KSK is the resolver's
    trust anchor, and the resolver answers names of every zone with AD set."""
    rows, problems = [], []
    for zone in dnssite.zones:
        copy = dnssite.axfr_copy(zone)
        dnskey = validate_zone(copy).dnskey
        ds = dnssite.inside.query(dnssite.root, zone, "DS").answer
        ds_rrset = next((r for r in ds if r.rdtype == dns.rdatatype.DS), None)
        found = ds_matches(ds_rrset, zone, dnskey) if dnskey is not None else [f"{zone}: not signed"]
        problems += found
        rows.append([zone, ", ".join(str(d.key_tag) for d in ds_rrset) if ds_rrset else "-",
                     "matches" if not found else found[0]])
    anchor_problems, anchors = _anchor_problems(dnssite)
    problems += anchor_problems
    names = [(f"nid001.{dnssite.domain}", "A"), (f"nid001.{dnssite.domain}", "AAAA"),
             (reverse_name(dnssite.system_host(4)), "PTR"), (reverse_name(dnssite.system_host(6)), "PTR")]
    # A negative answer must validate too (denial of existence): NXDOMAIN with AD.
    names = [(n, t, "NOERROR") for n, t in names] + [(f"no-such-host-{next(_serial)}.{dnssite.domain}", "A", "NXDOMAIN")]
    ad_rows = []
    for name, rdtype, want in names:
        r = dnssite.inside.query(dnssite.resolver, name, rdtype, dnssec=True, recurse=True)
        ad, rcode = bool(r.flags & dns.flags.AD), dns.rcode.to_text(r.rcode())
        ad_rows.append([name, rdtype, rcode, "AD" if ad else "no AD"])
        if rcode != want or not ad:
            problems.append(f"resolver: {name} {rdtype} -> {rcode}, {'AD' if ad else 'no AD'} (expected {want} with AD)")
    evidence.table("DS at the root", ["zone", "DS key tags", "verdict"], rows)
    evidence.record("trust anchors configured", len(anchors))
    evidence.table("validated by the resolver", ["name", "type", "rcode", "AD"], ad_rows)
    assert not problems, "chain of trust: " + "; ".join(problems)


ROGUES = {"signed-by-other-keys": "signed", "unsigned": "unsigned"}


ROGUE_TABLE = ("inet", "siteproof_rogue")


def _restart_resolver(dnssite, faults, resolver: str, address: str) -> None:
    """Restart the resolver (an empty cache) and wait until it answers again."""
    faults.restart(resolver, "unbound")
    wait_until(lambda: dnssite.inside.outcome(address, ".", "NS", recurse=True, timeout=1), "resolver_ready",
               expected=f"the resolver {resolver} ({address}) answers after its restart",
               accept=lambda outcome: outcome in ("NOERROR", "SERVFAIL", "REFUSED"), interval=0.2)


def _rogue_redirect(dnssite, rogue: str) -> tuple[str, str]:
    """The resolver's queries to every authoritative server go to the rogue copy instead, in
    both families where the rogue has an IPv6 address (a resolver may ask over either); where
    it has none, IPv6 queries are refused, so the resolver falls back to IPv4 and meets it.
    Returns the ruleset and the rogue's addresses."""
    labels = dnssite.site.labels[dnssite.site.names("rogue")[0]]
    target, target6 = labels[ROGUES[rogue]], labels.get(f"{ROGUES[rogue]}6")
    chains = f"""    chain out {{
        type nat hook output priority -100;
        ip daddr {{ {", ".join(dnssite.authoritative.values())} }} meta l4proto {{ udp, tcp }} th dport 53 dnat ip to {target}
"""
    servers6 = ", ".join(dnssite.authoritative6.values())
    if servers6 and target6:
        chains += f"""        ip6 daddr {{ {servers6} }} meta l4proto {{ udp, tcp }} th dport 53 dnat ip6 to {target6}
"""
    chains += "    }\n"
    if servers6 and not target6:
        chains += f"""    chain block6 {{
        type filter hook output priority 0;
        ip6 daddr {{ {servers6} }} meta l4proto {{ udp, tcp }} th dport 53 reject
    }}
"""
    return chains, " and ".join(a for a in (target, target6) if a)


@pytest.mark.disruptive
@pytest.mark.behaviour("DNS-2")
@pytest.mark.parametrize("rogue", list(ROGUES))
def test_dns2_tampered_or_unsigned_answer_gives_servfail(dnssite, faults, rogue, evidence):
    """DNS-2: each resolver's queries to the system's servers are redirected to a rogue server
    inside the site (a copy signed with other keys, or unsigned): asked over each of its
    addresses (both families), it must answer SERVFAIL, and give the rogue's answer when asked
    with checking disabled (CD): the SERVFAIL is the validator's verdict, not a resolver that
    reached no one."""
    name = f"login.{dnssite.domain}"
    redirect, target = _rogue_redirect(dnssite, rogue)
    rows, accepted, unreached, unlogged = [], [], [], []
    for resolver in dnssite.site.names("resolver"):
        labels = dnssite.site.labels[resolver]
        addresses = [labels["address"], *([labels["address6"]] if labels.get("address6") else [])]
        log_before = len(dnssite.daemon_log(resolver, "unbound") or "")
        faults.rules(resolver, *ROGUE_TABLE, redirect, f"DNS to the system's servers goes to the rogue {target}")
        try:
            _restart_resolver(dnssite, faults, resolver, addresses[0])  # an empty cache: the next answer comes from the rogue
            for address in addresses:
                r = dnssite.inside.query(address, name, "A", dnssec=True, recurse=True, timeout=8)
                rcode, answer = dns.rcode.to_text(r.rcode()), [rr.to_text() for rrset in r.answer for rr in rrset]
                unchecked = dnssite.inside.query(address, name, "A", dnssec=True, recurse=True, timeout=8, checking_disabled=True)
                cd_rcode = dns.rcode.to_text(unchecked.rcode())
                cd_answer = [rr.to_text() for rrset in unchecked.answer for rr in rrset if rrset.rdtype == dns.rdatatype.A]
                rows.append([resolver, address, f"{rcode} {', '.join(answer) or '(no records)'}",
                             f"{cd_rcode} {', '.join(cd_answer) or '(no records)'}"])
                if rcode != "SERVFAIL":
                    accepted.append(f"{resolver} at {address}: {rcode} {answer}")
                elif cd_rcode != "NOERROR" or not cd_answer:
                    unreached.append(f"{resolver} at {address}: {cd_rcode} with CD")

            def failures(resolver=resolver, log_before=log_before) -> list[str]:
                return [line for line in (dnssite.daemon_log(resolver, "unbound") or "")[log_before:].splitlines()
                        if "validation failure" in line and name in line]

            if dnssite.site.can(DAEMON_FILES) and not accepted:
                # Where its log can be read, the validator's own words too.
                try:
                    lines = wait_until(failures, "log_line", expected=f"unbound on {resolver} logs a validation failure for {name}").value
                    evidence.table(f"{resolver}'s log", ["line"], [[line[-220:]] for line in lines[-2:]])
                except WaitTimeout:
                    unlogged.append(resolver)
        finally:
            faults.lift_rules(resolver, *ROGUE_TABLE)
            _restart_resolver(dnssite, faults, resolver, addresses[0])  # nothing of the rogue's stays in its cache
    evidence.record("rogue copy", rogue)
    evidence.table("each resolver asked over each of its addresses", ["resolver", "address", "answer",
                                                                      "the same question with checking disabled (CD)"], rows)
    assert rows, "DNS-2: the site names no resolver"
    assert not accepted, f"a {rogue} answer from a rogue server was accepted: " + "; ".join(accepted)
    assert not unreached, (f"SERVFAIL for {name}, but no answer with checking disabled (CD) either ("
                           + "; ".join(unreached) + "): the resolver got no answer from the rogue, so the SERVFAIL is not "
                           "validation's verdict")
    assert not unlogged, f"SERVFAIL for {name}, but the resolver logged no validation failure for it: {', '.join(unlogged)}"


# --- DNS-3 ------------------------------------------------------------------------------------
@pytest.mark.behaviour("DNS-3")
def test_dns3_no_signature_expires_within_the_horizon(dnssite, evidence):
    """DNS-3: every RRSIG of every zone is valid beyond the horizon (default 7 days)."""
    horizon_days = float(dnssite.site.parameters["signature_horizon_days"])
    limit = time.time() + horizon_days * 86400
    rows, short = [], []
    assert dnssite.zones, "no zone to check"
    for zone in dnssite.zones:
        primary_copy = dnssite.axfr_copy(zone)
        copies = {dnssite.primary_name: primary_copy}
        copies.update({n: dnssite.served_copy(n, zone, primary_copy) for n in dnssite.authoritative if n != dnssite.primary_name})
        for node, copy in copies.items():
            result = validate_zone(copy)
            if result.earliest_expiry is None:
                rows.append([zone, node, "-", "not signed"])
                continue
            days = (result.earliest_expiry - time.time()) / 86400
            rows.append([zone, node, _utc(result.earliest_expiry), f"{days:.1f} days ({result.earliest_rrset})"])
            if result.earliest_expiry < limit:
                short.append(f"{zone} on {node}: {result.earliest_rrset} expires {_utc(result.earliest_expiry)}, in {days:.1f} days")
    evidence.record("horizon (days)", horizon_days)
    evidence.table("earliest RRSIG expiry per zone and server", ["zone", "server", "earliest expiry", "left"], rows)
    assert not short, f"signatures expire within the {horizon_days:g}-day horizon: " + "; ".join(short)
    # Today's copy is one sample. Over the whole signing cycle a signature keeps at least the
    # policy's refresh interval (BIND re-signs when less is left), and a secondary cut off from
    # its primary serves the zone only until the SOA expire timer runs out.
    policies = signing_policies(dnssec_conf(dnssite))
    limits, weak = [], []
    for zone in dnssite.zones:
        policy = policies.get(zone)
        soa = dnssite.inside.query(dnssite.primary, zone, "SOA").answer
        expire = soa[0][0].expire if soa else None
        least = policy.least_remaining / 86400 if policy else None
        limits.append([zone, policy.name if policy else "-", f"{policy.validity / 86400:g}" if policy else "-",
                       f"{least:g}" if least is not None else "-", f"{expire / 86400:g}" if expire else "-"])
        if policy is None:
            weak.append(f"{zone}: no dnssec-policy found in the primary's config")
        elif least < horizon_days:
            weak.append(f"{zone}: policy {policy.name} lets a signature run down to {least:g} days before it is refreshed")
        if expire is None or expire < horizon_days * 86400:
            weak.append(f"{zone}: SOA expire {expire} s: secondaries stop serving it within the horizon if the primary is away")
    evidence.table("what limits a maintenance window", ["zone", "policy", "validity (days)", "least remaining (days)",
                                                        "SOA expire (days)"], limits)
    assert not weak, f"within the {horizon_days:g}-day horizon over the signing cycle: " + "; ".join(weak)


# --- DNS-4 ------------------------------------------------------------------------------------
@pytest.mark.behaviour("DNS-4")
def test_dns4_transfer_acl_matrix(dnssite, evidence):
    """DNS-4: every authoritative server (the primary and each secondary), for every zone, allows
    AXFR only to the secondaries with their TSIG key and refuses it to everyone else."""
    clients = [("secondary's address, no key", dnssite.secondary_node, None), ("inside client", dnssite.inside, None)]
    if dnssite.outside is not None:
        clients.append(("outside client", dnssite.outside, None))
    if dnssite.edge is not None:
        clients.append(("site edge router", dnssite.edge, None))
    rows: list[list[str]] = []
    wrong: dict[str, list[str]] = {}  # "who over which family: what happened" -> the servers' zones
    assert dnssite.zones and len(dnssite.authoritative) > 1, f"DNS-4 needs zones and secondaries: {dnssite.authoritative}"
    for node, server in dnssite.authoritative.items():
        cases = list(clients)
        if node == dnssite.primary_name:  # a secondary serves no further secondary in this site
            cases.insert(0, ("secondary, with the transfer key", dnssite.secondary_node, dnssite.xfr_ring()))
        # Without a key, refused over both families: an ACL that names an IPv6 prefix beside the
        # key (or a v6 listener with its own view) opens the zone to everyone in that prefix.
        # With the key, IPv4 is asked: a site may keep its transfers to one family.
        addresses = {"IPv4": server, "IPv6": dnssite.authoritative6.get(node)}
        for label, where, ring in cases:
            allowed = ring is not None
            cells = [(family, address, zone) for zone in dnssite.zones for family, address in addresses.items()
                     if address is not None and not (allowed and family == "IPv6")]
            outcomes = where.axfr_outcomes([(address, zone, ring) for _, address, zone in cells])
            for (family, _, zone), got in zip(cells, outcomes, strict=True):
                rows.append([node, family, zone, label, got, "allowed" if allowed else "refused"])
                if got.startswith("allowed") != allowed:
                    wrong.setdefault(f"{label} over {family}: {got.split(' (')[0]}", []).append(f"{node} {zone}")
    evidence.table("AXFR matrix", ["server", "transport", "zone", "from", "result", "expected"], rows)
    assert not wrong, f"DNS-4: transfer ACL wrong in {sum(map(len, wrong.values()))} of {len(rows)} cells: " + \
        "; ".join(f"{what} by {_zones_per_server(where)}" for what, where in wrong.items())


def _zones_per_server(cells: list[str]) -> str:
    """"primary (3 zones), secondary (example.org)" from "server zone" cells."""
    zones: dict[str, list[str]] = {}
    for cell in cells:
        server, _, zone = cell.partition(" ")
        zones.setdefault(server, []).append(zone)
    return ", ".join(f"{s} ({z[0] if len(z) == 1 else f'{len(z)} zones'})" for s, z in zones.items())


@pytest.mark.behaviour("DNS-4")
def test_dns4_serials_agree_on_every_server(dnssite, evidence):
    """DNS-4 (read-only): every zone has one SOA serial on all its authoritative servers, at once
    or within the NOTIFY budget (a change just made on the primary, a re-signing, is on its way:
    a secondary that stays behind fails)."""
    def compared() -> dict[str, dict]:
        return {z: dnssite.serials(z) for z in dnssite.zones}

    def unequal(found: dict[str, dict]) -> dict[str, dict]:
        return {z: s for z, s in found.items() if not dnssite.agree(s)}

    try:
        waited = wait_until(compared, "notify_propagation", expected="one SOA serial per zone on every server",
                            accept=lambda found: not unequal(found), interval=0.2)
        serials = waited.value
        evidence.measure("serials agreed after", round(waited.elapsed, 2), unit=" s")
    except WaitTimeout:
        serials = compared()
    evidence.table("SOA serials", ["zone", *dnssite.authoritative], [[z, *s.values()] for z, s in serials.items()])
    assert serials and all(serials.values()), "no zone or no authoritative server to compare"
    assert not unequal(serials), (f"SOA serials differ between the authoritative servers, still after "
                                  f"{dnssite.site.budget('notify_propagation'):g} s (notify_propagation): {unequal(serials)}")


@pytest.mark.disruptive
@pytest.mark.behaviour("DNS-4", "DNS-7")
def test_dns4_dns7_signed_update_reaches_secondary_within_budget(dnssite, added_records, evidence):
    """DNS-7 + DNS-4: an update with the right TSIG key is accepted and signed; NOTIFY brings
    it to the secondary within the budget, and the SOA serials agree again. No key and a
    wrong key are refused."""
    zone = dnssite.domain
    name = f"dyn{next(_serial)}-{int(time.time())}.{zone}."
    address = dnssite.system_host(4).rsplit(".", 1)[0] + ".200"
    added_records.append((dnssite.primary, zone, name))  # deleted again when the test ends
    # Refused over both families: an allow-update that names an IPv6 prefix beside the key lets
    # every inside host with an IPv6 address rewrite the zone.
    wrong_ring = keyring(dnssite.update_key_name, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", dnssite.update_key().algorithm)
    refused = {}
    for family, server in (("IPv4", dnssite.primary), ("IPv6", dnssite.primary6)):
        refused[f"no key, {family}"] = dnssite.inside.update(server, zone, lambda m: m.add(name, 60, "A", address))
        refused[f"wrong key, {family}"] = dnssite.inside.update(server, zone, lambda m: m.add(name, 60, "A", address),
                                                                wrong_ring, dnssite.update_key_name)
    before = dnssite.serials(zone)
    t0 = time.monotonic()
    accepted = dnssite.inside.update(dnssite.primary, zone, lambda m: m.add(name, 60, "A", address),
                                     dnssite.update_ring(), dnssite.update_key_name)
    on_primary = dnssite.inside.query(dnssite.primary, name, "A", dnssec=True)
    signed = any(r.rdtype == dns.rdatatype.RRSIG for r in on_primary.answer)
    reached = wait_until(lambda: dnssite.inside.query(dnssite.secondary, name, "A").answer, "notify_propagation",
                         seconds=dnssite.site.budget("notify_propagation"), expected=f"{name} on the secondary",
                         accept=bool, interval=0.05)
    propagation = time.monotonic() - t0
    serials = {z: dnssite.serials(z) for z in dnssite.zones}
    evidence.table("updates", ["key", "result"], [["right key", accepted], *[[k, v] for k, v in refused.items()]])
    evidence.record("record", name)
    evidence.record("signed on the primary", signed)
    evidence.measure("NOTIFY propagation to the secondary (s)", round(propagation, 3),
                     at_most=dnssite.site.budget("notify_propagation"), limit_name="notify_propagation")
    primary = dnssite.primary_name
    evidence.record("serial before / after", f"{before[primary]} / {serials[zone][primary]}")
    evidence.table("SOA serials", ["zone", *dnssite.authoritative], [[z, *s.values()] for z, s in serials.items()])
    if dnssite.site.can(DAEMON_FILES):
        # How the secondary took the change: Knot logs each incoming transfer with its kind.
        secondary = dnssite.site.names("secondary")[0]
        knot = dnssite.daemon_log(secondary, "knot") or ""
        zone_lines = [line for line in knot.splitlines() if f"[{zone}.]" in line and "incoming" in line]
        evidence.record("secondary's transfers of the zone so far (AXFR / IXFR)",
                        f"{sum('AXFR' in line and 'started' in line for line in zone_lines)} / "
                        f"{sum('IXFR' in line and 'started' in line for line in zone_lines)}")
    assert accepted == "NOERROR", f"update with the right key: {accepted}"
    assert not any(v == "NOERROR" for v in refused.values()), \
        f"DNS-7: unauthenticated updates accepted: {', '.join(k for k, v in refused.items() if v == 'NOERROR')} ({refused})"
    assert signed, f"{name} was added but the primary serves it without an RRSIG"
    assert reached.value, f"{name} did not reach the secondary"
    unequal = {z: s for z, s in serials.items() if not dnssite.agree(s)}
    assert not unequal, f"SOA serials differ between the authoritative servers: {unequal}"


# --- DNS-5, DNS-6 ----------------------------------------------------------------------------
@pytest.mark.behaviour("DNS-5", "DNS-6")
def test_dns5_dns6_queries_answered_inside_refused_outside(dnssite, evidence):
    """DNS-5 + DNS-6: the query matrix over IPv4 and IPv6 transport: inside clients get
    answers (AAAA too), outside clients get none from any of the site's servers."""
    name = f"nid001.{dnssite.domain}"
    servers = {"primary": (dnssite.primary, dnssite.primary6), "secondary": (dnssite.secondary, dnssite.secondary6),
               "resolver": (dnssite.resolver, dnssite.resolver6)}
    clients = [("inside", dnssite.inside, True)]
    if dnssite.outside is not None:
        clients.append(("outside", dnssite.outside, False))
    rows, wrong = [], []
    for side, where, answered in clients:
        cells = [(server, family, address) for server, (v4, v6) in servers.items()
                 for family, address in (("IPv4", v4), ("IPv6", v6))]
        # Outside, silence is the expected answer: wait less for it.
        outcomes = where.outcomes([where.message(address, name, "AAAA" if family == "IPv6" else "A",
                                                 recurse=server == "resolver", timeout=3.0 if answered else 1.5)
                                   for server, family, address in cells])
        for (server, family, _), got in zip(cells, outcomes, strict=True):
            rows.append([side, server, family, got])
            if (got == "NOERROR") != answered:
                wrong.append(f"{side} -> {server} over {family}: {got}")
            elif not answered and dnssite.edge is not None and not got.startswith("no answer"):
                # Any DNS answer from outside (REFUSED included) means the query crossed the
                # boundary and only the server's own ACL stopped it: one layer, not two.
                wrong.append(f"{side} -> {server} over {family}: {got} (the query crossed the edge: "
                             f"the boundary does not stop DNS from outside)")
    evidence.table("query matrix", ["client", "server", "transport", "result"], rows)
    assert not wrong, "query ACL wrong: " + "; ".join(wrong)
    aaaa = dnssite.inside.query(dnssite.primary6, name, "AAAA").answer
    evidence.record("AAAA served", ", ".join(rr.to_text() for rrset in aaaa for rr in rrset) or "none")
    assert aaaa, f"no AAAA record for {name} over IPv6"


def _interface_networks(site, node: str) -> list:
    """The networks of a node's own addresses (not loopback or link-local), from `ip -j addr`."""
    found = json.loads(site.host(node).check_output("ip -j addr show"))
    networks = [ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}").network
                for link in found for a in link.get("addr_info", []) if "local" in a]
    return [n for n in dict.fromkeys(networks) if not (n.is_loopback or n.is_link_local)]


@pytest.mark.behaviour("DNS-5")
def test_dns5_each_servers_own_acl_admits_only_inside(dnssite, evidence):
    """DNS-5, read from the configs: each of the site's servers admits queries from the inside
    networks only by its own ACL (BIND allow-query, Knot mod-queryacl, Unbound access-control),
    so that no server relies on the boundary alone."""
    site = dnssite.site
    inside = [ipaddress.ip_network(site.parameter(p, "DNS")) for p in ("site_prefix", "site_prefix6")
              if site.parameters.get(p)]
    readers = {"named": acl.bind_allow_query, "knot": acl.knot_query_acl, "unbound": acl.unbound_access}
    rows, wrong = [], []
    for role in ("primary", "secondary", "resolver"):
        for node in site.names(role):
            for kind, read in readers.items():
                if kind not in site.configs.get(node, {}):
                    continue
                text = site.daemon_config(node, kind)
                # BIND's `localnets` is the networks of the server's own interfaces: read them.
                admitted = (acl.bind_allow_query(text, _interface_networks(site, node)) if kind == "named"
                            else read(text))
                extra = acl.beyond(admitted, inside)
                rows.append([node, kind, ", ".join(map(str, admitted.networks)) or "nobody", admitted.where[:200]])
                if extra or admitted.unknown:
                    wrong.append(f"{node} ({kind}) admits {', '.join(map(str, extra)) or 'no network beyond'}"
                                 + (f" and elements it cannot place: {', '.join(admitted.unknown)}" if admitted.unknown else "")
                                 + f" ({admitted.where[:160]})")
    evidence.table("each server's own query ACL", ["server", "daemon", "admits", "configured as"], rows)
    evidence.record("inside networks", ", ".join(map(str, inside)))
    assert rows, "no DNS server config was read (primary, secondary, resolver)"
    assert not wrong, (f"a server's own query ACL reaches beyond the inside networks {', '.join(map(str, inside))}: "
                       + "; ".join(wrong))


# --- DNS-8 ------------------------------------------------------------------------------------
def _etcd(site, node: str, url: str, *args: str) -> str:
    site.changing(f"etcdctl {args[0]} on {node}")
    proc = site.backend.run(node, "env", "ETCDCTL_API=3", "etcdctl", f"--endpoints={url}", *args, check=False)
    assert proc.returncode == 0, f"etcdctl {' '.join(args)}: {proc.stderr.strip()}"
    return proc.stdout


@pytest.mark.disruptive
@pytest.mark.behaviour("DNS-8")
def test_dns8_reconciler_publishes_and_withdraws_records(dnssite, evidence):
    """DNS-8: a record added to etcd appears upstream, a record withdrawn from etcd disappears
    upstream, and a record stranded upstream (in no internal source) is removed, each within budget."""
    node = dnssite.site.names("records")[0]
    url, zone = dnssite.site.labels[node]["etcd"], dnssite.site.parameters["upstream_zone"]
    prefix = "/skydns/" + "/".join(reversed(zone.split(".")))
    host = f"r{next(_serial)}-{int(time.time()) % 100000}"
    fqdn = f"{host}.{zone}."
    budget = dnssite.site.budget("reconcile")

    def upstream(name: str) -> list[str]:
        return [rr.to_text() for rrset in dnssite.inside.query(dnssite.upstream, name, "A").answer for rr in rrset]

    def nonexistent(name: str) -> str:
        # A withdrawn name must be gone (NXDOMAIN), not left as an empty node or an error.
        return dnssite.inside.outcome(dnssite.upstream, name, "A")

    timeline = []
    _etcd(dnssite.site, node, url, "put", f"{prefix}/{host}", '{"host": "198.51.100.77", "ttl": 60}')
    added = wait_until(lambda: upstream(fqdn), "reconcile", seconds=budget, expected=f"{fqdn} upstream", accept=bool, interval=0.1)
    timeline.append(["added in etcd", "appeared upstream", round(added.elapsed, 2)])
    _etcd(dnssite.site, node, url, "del", f"{prefix}/{host}")
    gone = wait_until(lambda: nonexistent(fqdn), "reconcile", seconds=budget, expected=f"{fqdn} withdrawn upstream (NXDOMAIN)",
                      accept=lambda v: v == "NXDOMAIN", interval=0.1)
    timeline.append(["withdrawn in etcd", "gone upstream", round(gone.elapsed, 2)])
    stray = f"stray{next(_serial)}.{zone}."
    sent = dnssite.inside.update(dnssite.upstream, zone, lambda m: m.add(stray, 60, "A", "198.51.100.78"),
                                 dnssite.upstream_update_ring(), dnssite.upstream_update_key_name)
    assert sent == "NOERROR", f"could not plant a stranded record upstream: {sent}"
    stranded = wait_until(lambda: nonexistent(stray), "reconcile", seconds=budget, expected=f"stranded {stray} removed (NXDOMAIN)",
                          accept=lambda v: v == "NXDOMAIN", interval=0.1)
    timeline.append(["stranded upstream (not in etcd)", "removed", round(stranded.elapsed, 2)])
    evidence.table("reconciler", ["change", "upstream", "seconds"], timeline, empty_because="no change was timed")
    for change, _, seconds in timeline:
        evidence.measure(f"{change} (s)", seconds, at_most=budget, limit_name="reconcile")


# --- DNS-9 ------------------------------------------------------------------------------------
def _rndc_config(dnssite, primary: str) -> str | None:
    """rndc's config for the primary: the host's label rndc_config, else the lab's named directory's
    (where the backend reads daemon files), else rndc's own default (a site's /etc/bind)."""
    if config := dnssite.site.labels[primary].get("rndc_config"):
        return config
    directory = dnssite.site.backend.daemon_dir(primary, "named") if dnssite.site.can(DAEMON_FILES) else None
    return str(directory / "rndc.conf") if directory else None


@pytest.mark.disruptive
@pytest.mark.behaviour("DNS-9")
def test_dns9_zsk_rollover_completes_while_resolver_validates(dnssite, evidence):
    """DNS-9: a ZSK rollover (rndc dnssec -rollover) runs to completion (successor published,
    every signature replaced, the old key removed) while the resolver answers with AD and
    never SERVFAIL. It runs on the lab's rollover zone (2-minute signatures), where the whole
    rollover fits in a test; see the report's note for the system's zones."""
    primary = dnssite.site.names("primary")[0]
    zone = dnssite.rollover_zone
    name = f"probe.{zone}"
    config = _rndc_config(dnssite, primary)

    def rndc(*args: str) -> str:
        proc = dnssite.site.backend.run(primary, "rndc", *(["-c", config] if config else []), *args, check=False)
        assert proc.returncode == 0, f"rndc {' '.join(args)} on {primary}: {proc.stderr.strip() or proc.stdout.strip()}"
        return proc.stdout

    def zsks() -> list[int]:
        answer = dnssite.inside.query(dnssite.primary, zone, "DNSKEY").answer
        return sorted(dns.dnssec.key_id(k) for rrset in answer for k in rrset if rrset.rdtype == dns.rdatatype.DNSKEY
                      and not k.flags & SEP)

    def signers() -> set[int]:
        answer = dnssite.inside.query(dnssite.primary, name, "A", dnssec=True).answer
        return {s.key_tag for rrset in answer if rrset.rdtype == dns.rdatatype.RRSIG for s in rrset}

    # The current ZSK must be fully in place before it can be rolled (a fresh lab: a few seconds).
    wait_until(lambda: rndc("dnssec", "-status", zone), "zsk_rollover", expected=f"{zone}: ZSK omnipresent",
               accept=lambda out: "zone rrsig:     omnipresent" in out, interval=1)
    old = zsks()
    assert len(old) == 1, f"{zone}: expected one ZSK before the rollover, found {old}"
    # A rollover's timing (RFC 7583) assumes caches drop the DNSKEY set after its TTL: a resolver
    # that keeps it longer cannot know the successor when the signatures switch to it.
    zone_ttl = dnssite.inside.query(dnssite.primary, zone, "DNSKEY").answer[0].ttl
    served = dnssite.inside.query(dnssite.resolver, zone, "DNSKEY", dnssec=True, recurse=True).answer
    resolver_ttl = max((rrset.ttl for rrset in served if rrset.rdtype == dns.rdatatype.DNSKEY), default=0)
    evidence.record("DNSKEY TTL: the zone's / as the resolver serves it (s)", f"{zone_ttl} / {resolver_ttl}")
    assert resolver_ttl <= zone_ttl, (f"the resolver keeps the DNSKEY set of {zone} for {resolver_ttl} s, beyond the "
                                      f"zone's TTL of {zone_ttl} s: it will not know the successor ZSK in time")
    dnssite.site.changing(f"roll the ZSK of {zone} on {primary} (rndc dnssec -rollover)")
    answers: list[tuple[float, str, str, bool]] = []
    stop = threading.Event()
    fresh = itertools.count(1)

    def ask(qname: str, want: str) -> None:
        try:
            r = dnssite.inside.query(dnssite.resolver, qname, "A", dnssec=True, recurse=True, timeout=2)
            rcode = dns.rcode.to_text(r.rcode())
            answers.append((time.monotonic(), qname, rcode if rcode == want else f"{rcode} (want {want})",
                            bool(r.flags & dns.flags.AD) and rcode == want))
        except Exception as exc:  # noqa: BLE001 - a lost answer is evidence too
            answers.append((time.monotonic(), qname, f"no answer ({exc.__class__.__name__})", False))

    def watch() -> None:
        # The known name may come from the resolver's cache; a name never asked before makes it
        # fetch and validate what the zone signs right now (NSEC3 proofs with the current ZSK).
        while not stop.is_set():
            ask(name, "NOERROR")
            ask(f"nx{next(fresh)}-{t_watch:.0f}.{zone}", "NXDOMAIN")
            stop.wait(0.3)

    t_watch = time.time()
    watcher = threading.Thread(target=watch, name="dns9-resolver", daemon=True)
    watcher.start()
    try:
        t0 = time.monotonic()
        rndc("dnssec", "-rollover", "-key", str(old[0]), zone)
        budget = dnssite.site.budget("zsk_rollover")
        published = wait_until(zsks, "zsk_rollover", seconds=budget, expected="successor ZSK published",
                               accept=lambda keys: len(keys) == 2, interval=0.5)
        new = next(k for k in published.value if k not in old)

        def failing() -> bool:  # a failing rollover fails the test at once, not at its end
            return any(not ad for *_, ad in answers)

        wait_until(signers, "zsk_rollover", seconds=budget, expected=f"{name} signed by the successor {new}",
                   accept=lambda tags: tags == {new} or failing(), interval=0.5)
        t_signing = time.monotonic() - t0
        wait_until(zsks, "zsk_rollover", seconds=budget, expected=f"old ZSK {old[0]} removed",
                   accept=lambda keys: keys == [new] or failing(), interval=0.5)
        t_removed = time.monotonic() - t0
        stop.wait(1.0)  # one more resolver answer after the removal
    finally:
        stop.set()
        watcher.join(timeout=5)
    bad = [(round(t - t0, 1), qname, rcode) for t, qname, rcode, ad in answers if not ad]
    evidence.table("rollover timeline", ["step", "seconds after rndc"], [
        ["successor ZSK published", round(published.elapsed, 1)],
        ["every signature by the successor", round(t_signing, 1)],
        ["old ZSK removed (rollover complete)", round(t_removed, 1)],
    ])
    evidence.record("ZSK old -> new", f"{old[0]} -> {new}")
    evidence.record("resolver answers during the rollover", len(answers))
    evidence.record("answers without AD or not NOERROR", len(bad))
    evidence.note("On the system's zones (signatures valid 21 days, refreshed with 5 left) the same rollover "
                  "publishes and activates the successor in seconds, but the old ZSK's signatures are replaced "
                  "over the sign-delay (validity - refresh, at least 10% of the validity) and the key is removed "
                  "after it: days. Plan rollovers so that window never meets a maintenance window longer than it.")
    assert answers, "the resolver was never asked during the rollover"
    assert not bad, (f"the resolver failed to validate during the ZSK rollover: {len(bad)} of {len(answers)} answers "
                     f"without AD, first at {bad[0][0]} s: {bad[0][1]} {bad[0][2]}; " + "; ".join(f"{b[0]} s {b[2]}" for b in bad[1:4]))


# --- DNS-1, later: a correct zone passes at any moment ----------------------------------------
@pytest.mark.behaviour("DNS-1")
def test_dns1_still_valid_once_cds_is_published(dnssite, evidence, tmp_path):
    """DNS-1, run late on purpose: once BIND publishes CDS/CDNSKEY (signed by the KSK alone, as
    RFC 7344 allows) some seconds after signing, the zone still passes DNS-1."""
    zone = dnssite.zones[0]

    def cds() -> list[str]:
        return [dns.rdatatype.to_text(rds.rdtype) for rds in dnssite.axfr_copy(zone).get_node(zone + ".").rdatasets
                if rds.rdtype in (dns.rdatatype.CDS, dns.rdatatype.CDNSKEY)]

    published = wait_until(cds, "cds_published", expected=f"CDS/CDNSKEY at the apex of {zone}", interval=1.0)
    evidence.record("CDS/CDNSKEY published after (s, from this test's start)", round(published.elapsed, 1))
    evidence.record("apex records", ", ".join(published.value))
    _check_signed_zone(dnssite, zone, evidence, tmp_path)
