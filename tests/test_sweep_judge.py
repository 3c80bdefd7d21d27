"""How the SYN sweep reads its tap (siteproof.probes.sweep._judge), on frames built with scapy:
its own SYNs leaving are counted per target and port (the evidence when a control port stays
silent), answers are sorted into open and closed, and other traffic is left alone."""

from __future__ import annotations

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from siteproof.probes.sweep import SWEEP_SPORT, Swept, _judge, backlog_drops


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


class SoftnetHost:
    """A faked scanner host (unit test): only its /proc/net/softnet_stat, whose drop column
    (the second) grows by the given amounts, one per read."""

    def __init__(self, drops: list[int]) -> None:
        self.drops = drops
        self.reads = 0

    def read_file(self, node: str, path: str) -> str:
        assert path == "/proc/net/softnet_stat"
        total = sum(self.drops[:self.reads])
        self.reads += 1
        return f"0000a000 {total:08x} 00000000\n00000b00 00000000 00000000\n"


def test_the_scanner_kernels_backlog_drops_are_summed_over_its_cpus():
    assert backlog_drops(SoftnetHost([0, 7]), "scanner") == 0
    host = SoftnetHost([5, 7])
    host.reads = 2
    assert backlog_drops(host, "scanner") == 12


def test_a_host_that_cannot_say_gives_no_count():
    class Silent:
        def read_file(self, node: str, path: str) -> str:
            raise OSError("permission denied")
    assert backlog_drops(Silent(), "scanner") is None
