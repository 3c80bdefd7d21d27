"""The tracker's decisions (siteproof.areas.nat.tracker) with its SSH and ping faked: what it moves,
when, and why, and what its state file says. The lab suite (suites/nat) runs it for real."""

from __future__ import annotations

import json
import subprocess
import sys

from siteproof.areas.nat.daemons import STATE_FILE, NatTracker
from siteproof.areas.nat.tracker import Tracker
from siteproof.daemons.base import DaemonContext


def config(tmp_path, **extra) -> dict:
    return {"interval": 0.1, "dead_after": 2, "state_file": str(tmp_path / "state.json"), "ssh": ["ssh"],
            "computes": {f"nid{i}": f"10.128.0.{100 + i}" for i in range(1, 9)},
            "gateways": {f"gw{g}": {"ssh": f"10.128.0.{g}", "route_via": f"10.128.0.{g}", "uplink": "pub",
                                    "pools": [{"address": f"203.0.113.{10 + g}", "ports": [20000, 20099]}]} for g in (1, 2)},
            **extra}


class FakeSsh:
    """Gateways answer with an uplink state and conntrack lines; computes accept route changes."""

    def __init__(self) -> None:
        self.dead: set[str] = set()
        self.conntrack: dict[str, list[str]] = {}
        self.routes: dict[str, str] = {}

    def __call__(self, address: str, command: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        if address in self.dead:
            return subprocess.CompletedProcess([], 255, "", "ssh: connect to host: No route to host")
        if command.startswith("ip route replace default via "):
            self.routes[address] = command.rsplit(" ", 1)[1]
            return subprocess.CompletedProcess([], 0, "", "")
        return subprocess.CompletedProcess([], 0, "up\n" + "\n".join(self.conntrack.get(address, [])), "")


def entry(compute: str, pool: str, port: int) -> str:
    return (f"tcp 6 431999 ESTABLISHED src={compute} dst=203.0.113.200 sport={30000 + port} dport=7 "
            f"src=203.0.113.200 dst={pool} sport=7 dport={port} [ASSURED] mark=0 use=1")


def tracker(tmp_path, **extra) -> tuple[Tracker, FakeSsh]:
    t = Tracker(config(tmp_path, **extra))
    fake = FakeSsh()
    t.ssh = fake  # the fake SSH and ping: no host is reached
    t.ping = lambda address, timeout: address not in fake.dead
    first = {c: g for c, g in zip(t.computes, ["gw1", "gw2"] * 4, strict=False)}
    t.assignment = dict(first)
    t.apply_all()
    return t, fake


def test_a_gateway_dead_for_dead_after_rounds_loses_its_computes_and_only_those(tmp_path):
    t, fake = tracker(tmp_path)
    fake.dead.add("10.128.0.1")
    t.round()
    assert all(g == "gw1" for c, g in t.assignment.items() if c in ("nid1", "nid3"))  # one miss: not dead yet
    t.round()
    assert set(t.assignment.values()) == {"gw2"}
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["gateways"]["gw1"]["alive"] is False and "no ICMP echo reply" in state["gateways"]["gw1"]["error"]
    assert {m["compute"] for m in state["moves"]} == {"nid1", "nid3", "nid5", "nid7"}
    assert all(m["reason"] == "gateway gw1 is dead" for m in state["moves"])
    assert fake.routes["10.128.0.101"] == "10.128.0.2"


def test_a_full_pool_sheds_its_busiest_compute_once(tmp_path):
    t, fake = tracker(tmp_path)
    # nid1 holds 70 of gw1's 100 ports, nid3 15: 85% > high water 80%.
    fake.conntrack["10.128.0.1"] = [entry("10.128.0.101", "203.0.113.11", 20000 + i) for i in range(70)] + \
                                   [entry("10.128.0.103", "203.0.113.11", 20070 + i) for i in range(15)]
    t.round()
    assert t.assignment["nid1"] == "gw2" and t.assignment["nid3"] == "gw1"
    moves = json.loads((tmp_path / "state.json").read_text())["moves"]
    assert "ports 85% in use" in moves[-1]["reason"]
    t.round()  # nid1's 70 entries drain on gw1 but no longer count: nothing more moves
    assert len(json.loads((tmp_path / "state.json").read_text())["moves"]) == len(moves)


def test_without_the_capacity_check_a_full_pool_moves_nobody(tmp_path):
    t, fake = tracker(tmp_path, capacity_check=False)
    fake.conntrack["10.128.0.1"] = [entry("10.128.0.101", "203.0.113.11", 20000 + i) for i in range(99)]
    t.round()
    assert t.assignment["nid1"] == "gw1"


def test_a_late_observation_of_a_gateway_that_answers_is_no_miss(tmp_path):
    t, fake = tracker(tmp_path)
    slow = FakeSsh()
    slow.dead.add("10.128.0.1")  # SSH times out, but the host answers ICMP: busy, not dead
    t.ssh = lambda address, command, timeout=None: slow(address, command) if address == "10.128.0.1" else fake(address, command)
    for _ in range(3):
        t.round()
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["gateways"]["gw1"]["alive"] and state["gateways"]["gw1"]["error"].startswith("observation late")
    assert "gw1" in t.assignment.values()


def test_hostile_addresses_reach_ssh_as_one_quoted_word_never_as_an_option(tmp_path):
    """A config value is an argument to ssh and one word of the remote command, never more."""
    seen = tmp_path / "argv.json"
    stand_in = [sys.executable, "-c", f"import json, sys; open({str(seen)!r}, 'w').write(json.dumps(sys.argv[1:]))"]  # for ssh
    t = Tracker(config(tmp_path, ssh=stand_in))
    t.computes["nid1"] = "-oProxyCommand=touch /tmp/owned"
    t.gateways["gw1"]["route_via"] = "10.0.0.1; reboot"
    t.assignment = {**{c: None for c in t.computes}, "nid1": "gw1"}
    t.apply("nid1")
    assert json.loads(seen.read_text())[-3:] == ["--", "-oProxyCommand=touch /tmp/owned", "ip route replace default via '10.0.0.1; reboot'"]


def test_the_lab_tracker_is_ready_when_its_state_has_every_compute_routed(tmp_path):
    """NatTracker's readiness is its state file, not its log: a compute not yet routed (the
    tracker logs "ready" anyway when its start_timeout runs out) keeps the lab waiting. No
    process runs here: the state files are written by the test."""
    tracker = NatTracker(DaemonContext("boot", tmp_path, lambda *a, **k: None), "{}")
    state = tracker.rundir / STATE_FILE
    tracker.rundir.mkdir(parents=True)
    assert not tracker.is_ready()  # nothing written yet
    state.write_text(json.dumps({"assignment": {"nid001": "gw1", "nid002": "gw2"}, "applied": {"nid001": "gw1", "nid002": None}}))
    assert not tracker.is_ready()
    state.write_text(json.dumps({"assignment": {"nid001": "gw1", "nid002": "gw2"}, "applied": {"nid001": "gw1", "nid002": "gw2"}}))
    assert tracker.is_ready()
    state.write_text("{not json")
    assert not tracker.is_ready()
