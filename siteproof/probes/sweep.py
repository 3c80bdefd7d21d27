"""A TCP SYN sweep from one node (scapy builds the segments on the runner; the node sends them and
a tap on its interface sees the answers, through the backend: siteproof.probes.frames): which
ports of which targets answer with SYN-ACK (open), with RST (closed), or not at all (filtered).
A port that gave no answer is probed again (`rounds` in all, as nmap retransmits): a probe or
its answer lost in a burst is not a filtered port. Each round sends in its own shuffled order
(a loss at a burst's tail must not hit the same ports every round), and the scanner's kernel is
asked how many packets its input backlog dropped (/proc/net/softnet_stat: a host too busy to
take a burst in): a round in which it dropped some earns one more, and the count is evidence.
"""

from __future__ import annotations

import random
import socket
import time
from dataclasses import dataclass, field

from siteproof.backends.base import Backend
from siteproof.probes.frames import frame_tap, send_ip_packets

SWEEP_SPORT = 31338  # the sweep's source port: how its answers are told from other traffic
MARKER_SEQ, MARKER_DPORT = 0x53505246, 9  # a reset to the discard port: nothing answers it, the tap sees it go


@dataclass
class Swept:
    open: dict[str, set[int]] = field(default_factory=dict)
    closed: dict[str, set[int]] = field(default_factory=dict)
    sent: int = 0
    left: dict[tuple[str, int], int] = field(default_factory=dict)  # SYNs the tap saw leave, per (target, port)
    backlog_drops: int | None = None  # packets the scanner's kernel dropped from its input backlog meanwhile
    rounds: int = 0


EXTRA_ROUNDS = 2  # at most, for rounds in which the scanner's kernel dropped packets


def sweep(backend: Backend, node: str, ifname: str, source: str, targets: list[str], ports: list[int], quiet: float,
          rounds: int = 2) -> Swept:
    from scapy.layers.inet import IP, TCP

    found = Swept({t: set() for t in targets}, {t: set() for t in targets})
    pending = [(t, p) for t in targets for p in ports]
    allowed = rounds
    # Both directions: the marker each round sends last shows when the tap has caught up.
    with frame_tap(backend, node, ifname, f"tcp port {SWEEP_SPORT}") as tap:
        round_ = 0
        drops_before = backlog_drops(backend, node)  # then each round's count is the next one's start
        while round_ < allowed:
            random.Random(round_).shuffle(pending)  # noqa: S311 - an order, not a secret; seeded: a run repeats it
            segments = [bytes(IP(src=source, dst=t) / TCP(sport=SWEEP_SPORT, dport=p, flags="S", seq=1000 + p))
                        for t, p in pending]
            found.sent += len(segments)
            send_ip_packets(backend, node, segments)
            time.sleep(quiet)  # the answers' flight time: proving an absence takes a wait, a named budget
            # Then a marker out the same port: once the tap has it, it has every answer before it.
            send_ip_packets(backend, node, [bytes(IP(src=source, dst=targets[0]) /
                                                  TCP(sport=SWEEP_SPORT, dport=MARKER_DPORT, flags="R",
                                                      seq=MARKER_SEQ + round_))])
            found.left.clear()  # the tap holds every round's frames: counted afresh each time
            for data in tap.frames_through(lambda frame, seq=MARKER_SEQ + round_: _is_marker(frame, seq)):
                _judge(data, found)
            pending = [(t, p) for t, p in pending if p not in found.open[t] and p not in found.closed[t]]
            drops_after = backlog_drops(backend, node)
            if drops_before is not None and drops_after is not None:
                dropped = max(drops_after - drops_before, 0)
                found.backlog_drops = (found.backlog_drops or 0) + dropped
                if dropped and allowed < rounds + EXTRA_ROUNDS:
                    allowed += 1
            drops_before = drops_after
            round_ += 1
            found.rounds = round_
            if not pending:
                break
    return found


def backlog_drops(backend: Backend, node: str) -> int | None:
    """Packets the node's kernel has dropped from its input backlogs since boot (every CPU's
    second column of /proc/net/softnet_stat); None when the host cannot say."""
    try:
        text = backend.read_file(node, "/proc/net/softnet_stat")
        return sum(int(line.split()[1], 16) for line in text.splitlines() if line.strip())
    except Exception:  # noqa: BLE001 - evidence only: a host that cannot say does not stop the sweep
        return None


def _is_marker(data: bytes, seq: int) -> bool:
    if len(data) < 34 or data[12:14] != b"\x08\x00" or data[23] != 6:
        return False
    tcp = data[14 + (data[14] & 0x0F) * 4:]
    return len(tcp) >= 8 and int.from_bytes(tcp[0:2], "big") == SWEEP_SPORT and \
        int.from_bytes(tcp[2:4], "big") == MARKER_DPORT and int.from_bytes(tcp[4:8], "big") == seq


def _judge(data: bytes, found: Swept) -> None:
    """One frame the tap saw: an answer to the sweep (to its source port, from a target), or not."""
    if len(data) < 34 or data[12:14] != b"\x08\x00" or data[23] != 6:
        return
    header = (data[14] & 0x0F) * 4
    tcp = data[14 + header:]
    src, dst = socket.inet_ntoa(data[26:30]), socket.inet_ntoa(data[30:34])
    if len(tcp) >= 14 and int.from_bytes(tcp[0:2], "big") == SWEEP_SPORT and tcp[13] & 0x02 and dst in found.open:
        key = (dst, int.from_bytes(tcp[2:4], "big"))  # one of the sweep's own SYNs, on its way out
        found.left[key] = found.left.get(key, 0) + 1
        return
    if len(tcp) < 14 or int.from_bytes(tcp[2:4], "big") != SWEEP_SPORT or src not in found.open:
        return
    port, flags = int.from_bytes(tcp[0:2], "big"), tcp[13]
    if flags & 0x12 == 0x12:
        found.open[src].add(port)
    elif flags & 0x04:
        found.closed[src].add(port)
