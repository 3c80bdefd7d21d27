"""Per-flow packet counters in nftables: which 5-tuples crossed a host, and how many packets.

A dynamic set keyed on (source, destination, protocol, source port, destination port)
with a counter per element: the kernel adds every TCP or UDP flow that passes the hook
and counts its packets. Reading it on every gateway shows where each flow really went,
which a route lookup on the sender can only predict.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from testinfra.host import Host

from siteproof import nft
from siteproof.cmdline import command_line
from siteproof.errors import SiteproofError

TABLE = "siteproof_flows"
_KEY = "{ip} saddr . {ip} daddr . meta l4proto . th sport . th dport counter"


@dataclass(frozen=True, order=True)
class Flow:
    src: str
    dst: str
    proto: str  # "tcp" or "udp"
    sport: int
    dport: int

    def __str__(self) -> str:
        return f"{self.proto} {self.src}:{self.sport} -> {self.dst}:{self.dport}"


def ruleset(hook: str) -> str:
    """The counting table for a hook (forward on a router, output on a sender)."""
    sets = "".join(
        f"  set {name} {{ type {addr} . {addr} . inet_proto . inet_service . inet_service; "
        "flags dynamic; size 65535; }\n"
        for name, addr in (("flows4", "ipv4_addr"), ("flows6", "ipv6_addr"))
    )
    rules = "".join(
        f"    meta nfproto {fam} meta l4proto {{ tcp, udp }} counter update @{name} {{ {_KEY.format(ip=ip)} }}\n"
        for fam, name, ip in (("ipv4", "flows4", "ip"), ("ipv6", "flows6", "ip6"))
    )
    return (
        f"table inet {TABLE} {{\n{sets}"
        f"  chain count {{ type filter hook {hook} priority -150; policy accept;\n{rules}  }}\n}}\n"
    )


def _nft(host: Host, script: str) -> str:
    return nft.load(nft.host_runner(host), script, f"flow counters on {host.backend.get_hostname()}")


def _listing(host: Host, kind: str, name: str) -> str:
    """`nft -j list` of one set or chain of the counting table."""
    listing = host.run(command_line("nft", "-j", "list", kind, "inet", TABLE, name))
    if listing.rc != 0:
        raise SiteproofError(f"nft on {host.backend.get_hostname()}: {listing.stderr.strip()}")
    return listing.stdout


def _elements(listing: str) -> Iterator[tuple[Flow, int]]:
    for item in json.loads(listing).get("nftables", []):
        for elem in (item.get("set") or {}).get("elem", []):
            body = elem.get("elem", elem)
            src, dst, proto, sport, dport = body["val"]["concat"]
            yield Flow(src, dst, str(proto), int(sport), int(dport)), int(body.get("counter", {}).get("packets", 0))


class FlowCounters:
    """Counting tables on a set of hosts; use as a context manager (removed afterwards)."""

    def __init__(self, hosts: dict[str, Host], hook: str = "forward") -> None:
        self.hosts = hosts
        self.hook = hook

    def _each(self, fn: object) -> dict[str, object]:
        names = list(self.hosts)
        with ThreadPoolExecutor(max_workers=8) as pool:
            return dict(zip(names, pool.map(fn, [self.hosts[n] for n in names]), strict=True))  # type: ignore[arg-type]

    def install(self) -> FlowCounters:
        script = nft.replace_table("inet", TABLE, ruleset(self.hook))
        self._each(lambda host: _nft(host, script))
        return self

    def reset(self) -> None:
        """Every count back to zero, in fresh sets.

        Not a flush: emptied, the kernel shrinks a set's hash table, and the next burst of new
        flows grows it again from the packet path, where an insert that fails is dropped without
        a word (a flow that crossed goes uncounted). A new set starts sized for `size` elements.
        """
        self.install()

    def totals(self) -> dict[str, int]:
        """TCP and UDP packets through each host's hook since the last reset, flows or not: more
        than its flows add up to means the kernel counted packets whose flow it could not keep."""

        def one(host: Host) -> int:
            return sum(int(expr["counter"]["packets"]) for item in json.loads(_listing(host, "chain", "count")).get("nftables", [])
                       for expr in (item.get("rule") or {}).get("expr", []) if "counter" in expr)

        return self._each(one)  # type: ignore[return-value]

    def read(self) -> dict[str, dict[Flow, int]]:
        """Packets per flow, per host."""

        def one(host: Host) -> dict[Flow, int]:
            counts: dict[Flow, int] = {}
            for name in ("flows4", "flows6"):
                counts.update(_elements(_listing(host, "set", name)))
            return counts

        return self._each(one)  # type: ignore[return-value]

    def remove(self) -> None:
        self._each(lambda host: host.run(command_line("nft", "delete", "table", "inet", TABLE)))

    def __enter__(self) -> FlowCounters:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.remove()


def where(counts: dict[str, dict[Flow, int]], flow: Flow) -> dict[str, int]:
    """The hosts that counted a flow, with its packets on each."""
    return {host: flows[flow] for host, flows in counts.items() if flows.get(flow)}
