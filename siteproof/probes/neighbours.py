"""Who answers for an address on the wire: ARP requests (IPv4) and neighbour solicitations
(IPv6) sent from a node's interface, every answer collected.

"One holder per VIP" read from the hosts' address lists misses a host that still answers for
an address it should have given up; the wire does not. Frames are built and parsed with
scapy and sent on a raw socket opened inside the node (a backend with sockets in nodes).
"""

from __future__ import annotations

import ipaddress
import select
import socket
import time

from siteproof.backends.base import Backend

ETH_P_ALL = 0x0003


def _answer_frame(raw: bytes) -> bool:
    """An ARP frame, or an ICMPv6 neighbour advertisement (type 136): read without a parser."""
    kind = raw[12:14]
    return kind == b"\x08\x06" or (kind == b"\x86\xdd" and len(raw) > 54 and raw[20] == 58 and raw[54] == 136)


def who_answers(backend: Backend, node: str, ifname: str, addresses: list[str], timeout: float = 1.0,
                rounds: int = 2, source6: str = "::") -> dict[str, set[str]]:
    """address -> the set of MACs that answered a request for it from node:ifname."""
    from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, IPv6
    from scapy.layers.l2 import ARP, Ether
    from scapy.utils6 import in6_getnsma, in6_getnsmac

    def probe() -> dict[str, set[str]]:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            sock.bind((ifname, 0))
            mac = sock.getsockname()[4].hex(":")
            # ARP as duplicate detection probes (RFC 5227): no sender address, so no neighbour
            # cache learns from it. A solicitation needs the asker's address (a DAD probe from ::
            # is not answered for an address that is already in use).
            own4, own6 = "0.0.0.0", source6  # noqa: S104 - not a bind: the empty sender address
            answers: dict[str, set[str]] = {a: set() for a in addresses}
            frames = []
            for address in addresses:
                ip = ipaddress.ip_address(address)
                if ip.version == 4:
                    frames.append(bytes(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=mac, psrc=own4, pdst=address)))
                else:
                    group = socket.inet_ntop(socket.AF_INET6, in6_getnsma(socket.inet_pton(socket.AF_INET6, address)))
                    frames.append(bytes(Ether(src=mac, dst=in6_getnsmac(socket.inet_pton(socket.AF_INET6, group)))
                                        / IPv6(src=own6, dst=group, hlim=255) / ICMPv6ND_NS(tgt=address)
                                        / ICMPv6NDOptSrcLLAddr(lladdr=mac)))
            # The segment also carries every gateway's VRRP adverts (thousands a second at lab
            # speed): a large buffer, and only ARP replies and neighbour advertisements parsed.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            unanswered = list(range(len(frames)))
            for _ in range(rounds):
                for i in unanswered:  # later rounds ask again only what nobody answered yet
                    sock.send(frames[i])
                deadline = time.monotonic() + timeout / rounds
                while (left := deadline - time.monotonic()) > 0:
                    if not select.select([sock], [], [], left)[0]:
                        break
                    raw = sock.recv(2048)
                    if not _answer_frame(raw):
                        continue
                    packet = Ether(raw)
                    if ARP in packet and packet[ARP].op == 2 and packet[ARP].psrc in answers:
                        answers[packet[ARP].psrc].add(str(packet[ARP].hwsrc).lower())
                    elif ICMPv6ND_NA in packet and str(packet[ICMPv6ND_NA].tgt) in answers and packet[Ether].src != mac:
                        answers[str(packet[ICMPv6ND_NA].tgt)].add(str(packet[Ether].src).lower())
                unanswered = [i for i, a in enumerate(addresses) if not answers[a]]
                if not unanswered:
                    break  # every address answered; a second responder answers in the same round
            return answers
        finally:
            sock.close()

    return backend.call_in(node, probe)
