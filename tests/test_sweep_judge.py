"""How the SYN sweep reads its tap (siteproof.probes.sweep._judge), on frames built with scapy:
its own SYNs leaving are counted per target and port (the evidence when a control port stays
silent), answers are sorted into open and closed, and other traffic is left alone."""

from __future__ import annotations

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from siteproof.probes.sweep import SWEEP_SPORT, Swept, _judge


def frame(src: str, dst: str, sport: int, dport: int, flags: str) -> bytes:
    return bytes(Ether() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags))


def test_the_sweeps_own_syns_are_counted_and_answers_sorted():
    found = Swept({"10.0.0.1": set()}, {"10.0.0.1": set()})
    for data in (frame("10.9.0.5", "10.0.0.1", SWEEP_SPORT, 1094, "S"), frame("10.9.0.5", "10.0.0.1", SWEEP_SPORT, 1094, "S"),
                 frame("10.0.0.1", "10.9.0.5", 1094, SWEEP_SPORT, "SA"), frame("10.0.0.1", "10.9.0.5", 22, SWEEP_SPORT, "RA"),
                 frame("10.0.0.2", "10.9.0.5", 80, SWEEP_SPORT, "SA"),  # not a target: ignored
                 frame("10.9.0.5", "10.0.0.1", 40000, 1094, "S")):  # not the sweep's source port
        _judge(data, found)
    assert found.left == {("10.0.0.1", 1094): 2}
    assert found.open == {"10.0.0.1": {1094}} and found.closed == {"10.0.0.1": {22}}
