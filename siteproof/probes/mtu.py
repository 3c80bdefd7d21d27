"""Full-size frames across forwarding nodes: each member's interface MTU read against the MTU
of a peer on the same segment, and a full-size don't-fragment ping in both directions and
both families. A node with a smaller MTU than its segment passes pings, ARP and VRRP, and
drops or refuses what its peers send it at full size: only for the flows that cross it."""

from __future__ import annotations

import concurrent.futures
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from siteproof.cmdline import command_line

# IPv4 and IPv6 headers plus the ICMP echo header: a ping payload of MTU minus these fills a frame.
ECHO_OVERHEAD = {4: 28, 6: 48}


def interface_mtu(site: Any, node: str, ifname: str) -> int:
    return int(site.host(node).check_output(command_line("cat", f"/sys/class/net/{ifname}/mtu")))


def first_address(host: Any, family: int, ifname: str = "eth1") -> str | None:
    """The host's first global address of a family on an interface (None where the family is absent)."""
    return next((a for a in host.interface(ifname).addresses
                 if ipaddress.ip_address(a).version == family and not ipaddress.ip_address(a).is_link_local), None)


@dataclass
class FullSize:
    rows: list[list[Any]] = field(default_factory=list)  # member, interface, MTU, segment MTU, verdict
    wrong: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    pings: int = 0

    def problems(self) -> str:
        return "; ".join(
            ([f"{len(self.wrong)} interfaces differ from their segment's MTU: " + "; ".join(self.wrong[:4])] if self.wrong else [])
            + ([f"{len(self.lost)} of {self.pings} full-size don't-fragment pings failed: " + "; ".join(self.lost[:4])]
               if self.lost else []))


def full_size_check(site: Any, members: list[str], sides: dict[str, tuple[str, str]],
                    outbound_only: frozenset[str] = frozenset()) -> FullSize:
    """Each member's interface on each side (ifname -> the peer node and its interface on that
    segment): MTU against the peer's, and a full-size DF ping each way in each family (from
    the member only on the `outbound_only` sides, where its firewall drops pings from the peer)."""
    segment = {side: interface_mtu(site, peer, peer_if) for side, (peer, peer_if) in sides.items()}
    result, pings = FullSize(), []
    for member in members:
        for side, (peer, peer_if) in sides.items():
            own = interface_mtu(site, member, side)
            result.rows.append([member, side, own, segment[side], "same" if own == segment[side] else "DIFFERS"])
            if own != segment[side]:
                result.wrong.append(f"{member} {side} MTU {own}, its segment's {segment[side]} (as on {peer})")
            for family in (4, 6):
                there, here = first_address(site.host(peer), family, peer_if), first_address(site.host(member), family, side)
                if there and here:
                    size = segment[side] - ECHO_OVERHEAD[family]
                    pings.append((member, peer, there, family, size))
                    if side not in outbound_only:
                        pings.append((peer, member, here, family, size))

    def full_size(ping: tuple[str, str, str, int, int]) -> str | None:
        src, dst, address, family, size = ping
        out = site.host(src).run(command_line("ping", f"-{family}", "-M", "do", "-s", str(size), "-c1", "-W2", address))
        return None if out.rc == 0 else f"{src} -> {dst} ({address}, {size} bytes, DF): {(out.stderr or out.stdout).strip()[-80:]}"

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        result.lost = [why for why in pool.map(full_size, pings) if why]
    result.pings = len(pings)
    return result
