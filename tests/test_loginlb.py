"""The login hashing tables and the health agent's checks (pure logic; no lab needed)."""

from __future__ import annotations

import collections

from siteproof.areas.login import tables
from siteproof.areas.login.agent import evaluate
from siteproof.daemons.base import split_files

SERVERS = [f"198.51.100.{10 + i}" for i in range(1, 41)]
D = SERVERS[2]


def changed(a: tables.Plan, b: tables.Plan) -> set[int]:
    return {m for m in a.steer if a.steer[m] != b.steer[m]}


def test_all_up_every_bucket_goes_to_its_primary_for_old_and_new_connections():
    plan = tables.plan(SERVERS, {})
    for b in range(tables.BUCKETS):
        p = tables.primary(SERVERS, b)
        assert plan.steer[tables.HASHED | b] == plan.steer[tables.HASHED | tables.NEW | b] == p
        assert plan.fallback[tables.HASHED | b] != p
    per_server = collections.Counter(plan.steer[tables.HASHED | b] for b in range(tables.BUCKETS))
    assert set(per_server.values()) == {6, 7}  # 256 buckets over 40 servers, as IPVS sh fills them


def test_drain_moves_only_new_connections_of_the_drained_servers_buckets():
    up, drained = tables.plan(SERVERS, {}), tables.plan(SERVERS, {D: tables.DRAIN})
    moved = changed(up, drained)
    d_buckets = {b for b in range(tables.BUCKETS) if tables.primary(SERVERS, b) == D}
    assert moved == {tables.HASHED | tables.NEW | b for b in d_buckets}
    assert all(drained.steer[m] != D for m in moved)
    # Its buckets' fallbacks spread over several servers, not one neighbour.
    assert len({drained.fallback[tables.HASHED | b] for b in d_buckets}) == len(d_buckets)


def test_down_moves_old_and_new_connections_of_the_dead_servers_buckets_only():
    up, down = tables.plan(SERVERS, {}), tables.plan(SERVERS, {D: tables.DOWN})
    d_buckets = {b for b in range(tables.BUCKETS) if tables.primary(SERVERS, b) == D}
    assert changed(up, down) == {tables.HASHED | f | b for b in d_buckets for f in (0, tables.NEW)}
    assert D not in down.steer.values() and D not in down.fallback.values()


def test_fallback_skips_a_drained_server():
    plan = tables.plan(SERVERS, {D: tables.DRAIN, SERVERS[5]: tables.DRAIN})
    assert D not in plan.fallback.values() and SERVERS[5] not in plan.fallback.values()


def test_delete_mode_refills_the_table_and_moves_most_buckets():
    """The known-bad drain: deleting a server reshuffles nearly every bucket."""
    up, deleted = tables.plan(SERVERS, {}, "delete"), tables.plan(SERVERS, {D: tables.DRAIN}, "delete")
    assert len(changed(up, deleted)) > 0.8 * len(up.steer)
    assert deleted.fallback == {}


def test_digest_equal_for_equal_tables_only():
    assert tables.digest(tables.plan(SERVERS, {})) == tables.digest(tables.plan(list(SERVERS), {}))
    assert tables.digest(tables.plan(SERVERS, {})) != tables.digest(tables.plan(SERVERS, {D: tables.DRAIN}))


def test_ruleset_names_seed_and_this_nodes_primary_buckets():
    text = tables.ruleset(ifname="eth1", vip_range="198.51.100.128/25", port=22, seed=24301, address=D, servers=SERVERS)
    assert "seed 0x5eed offset 0x1000" in text
    assert f"{tables.HASHED | 2:#x}" in text and f"{tables.HASHED | 3:#x}," not in text
    update = tables.update(tables.plan(SERVERS, {}), D, ["02:00:00:00:00:01"])
    assert "flush map netdev login_lb steer" in update and "02:00:00:00:00:01" in update


def test_health_checks(tmp_path, monkeypatch):
    net = tmp_path / "net"
    (net / "eth1").mkdir(parents=True)
    (net / "eth1" / "operstate").write_text("up\n")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "homes").mkdir()
    (tmp_path / "homes" / ".mounted").touch()
    checks = {"nics": ["eth1"], "filesystem": "homes/.mounted", "drain_file": "nologin"}
    assert evaluate(checks, str(net)) == (tables.UP, [])
    (tmp_path / "nologin").touch()
    assert evaluate(checks, str(net)) == (tables.DRAIN, ["drain file nologin"])
    (tmp_path / "nologin").unlink()
    (tmp_path / "homes" / ".mounted").unlink()
    assert evaluate(checks, str(net))[0] == tables.DRAIN
    (net / "eth1" / "operstate").write_text("lowerlayerdown\n")
    state, reasons = evaluate(checks, str(net))
    assert state == tables.DOWN and reasons[0] == "nic eth1 lowerlayerdown"


def test_daemon_config_carries_extra_files():
    main, files = split_files("options {};\n### file: a.zone\n$TTL 60\n### file: b.key\nkey\n")
    assert main == "options {};\n" and files == {"a.zone": "$TTL 60\n", "b.key": "key\n"}


def test_ipvs_reference_path_is_skipped_with_the_missing_kernel_option(tmp_path):
    """hashing=ipvs builds the paper's keepalived virtual_server setup; without IPVS in the
    kernel every login test is skipped, naming what is missing (never silently passed)."""
    import subprocess
    import sys
    import xml.etree.ElementTree as ET

    import pytest

    from suites.login.test_login import _ipvs_available
    from tests.helpers import REPO

    if _ipvs_available():
        pytest.skip("this kernel has IPVS: the reference path runs for real in suites/")
    junit = tmp_path / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "suites/login/test_login.py", "--set", "hashing=ipvs", "-q",
                    "-o", "addopts=", f"--junitxml={junit}"], cwd=REPO, capture_output=True, text=True, timeout=300)
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    assert cases and all(c.find("skipped") is not None for c in cases)
    assert all("CONFIG_IP_VS" in (c.find("skipped").get("message") or "") for c in cases)
