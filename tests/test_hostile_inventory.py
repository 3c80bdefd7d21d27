"""A site's inventory is untrusted input, and the runner is root: each injection below is
refused before any host is reached, with one line naming the file and the key, and nothing of
the value runs anywhere (the ProxyCommand would have written its mark on this machine)."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from siteproof.backends.ssh import inventory_site
from siteproof.errors import TopologyError
from tests.helpers import REPO

BASE = yaml.safe_load((REPO / "examples" / "inventories" / "perlmutter-gateways.yml").read_text())


def _inventory(tmp_path, change) -> tuple:
    doc = copy.deepcopy(BASE)
    change(doc, tmp_path / "MARK")
    path = tmp_path / "site.yml"
    path.write_text(yaml.safe_dump(doc))
    return path, tmp_path / "MARK"


def _first_host(doc):
    return next(iter(doc["hosts"].values()))


CASES = {
    "ssh-proxycommand": (lambda d, m: _first_host(d).update(ssh=f"-oProxyCommand=sh -c 'id > {m}'"),
                         "hosts.gw01.ssh: an SSH target may not start with '-'"),
    "ssh-password": (lambda d, m: _first_host(d).update(ssh="root:s3cretPW@gw01"),
                     "hosts.gw01.ssh: a password in the SSH target is refused"),
    "ssh-shell": (lambda d, m: _first_host(d).update(ssh=f"gw01;id>{m}"), "hosts.gw01.ssh: not an SSH target"),
    "ssh-port": (lambda d, m: _first_host(d).update(ssh="root@gw01:70000"), "hosts.gw01.ssh: not an SSH target"),
    "parameter-semicolon": (lambda d, m: d["parameters"].update(storage_prefix=f"10.200.0.0/16; ip -br -4 addr > {m}; echo"),
                            "parameters.storage_prefix: "),
    "parameter-unknown": (lambda d, m: d["parameters"].update(storage_prefx="10.200.0.0/16"),
                          "parameters.storage_prefx: unknown parameter (did you mean storage_prefix"),
    "parameter-type": (lambda d, m: d["parameters"].update(gateways="many"), "parameters.gateways: 'many' is not a int"),
    "spine-area-newline": (lambda d, m: d["parameters"].update(spine_area="0.0.0.1\n router bgp 65000"),
                           "parameters.spine_area: "),
    "pool-ports-reversed": (lambda d, m: d["parameters"].update(pool_ports="29999-20000"),
                            "parameters.pool_ports: '29999-20000' is not a port range"),
    "dirs-substitution": (lambda d, m: _first_host(d).update(dirs={"ibsysfs": f"/sys/class/$(id > {m})"}),
                          "hosts.gw01.dirs.ibsysfs: "),
    "agent-dir-relative": (lambda d, m: d["parameters"].update(agent_dir="run/x; id"), "parameters.agent_dir: "),
    "ssh-config-shell": (lambda d, m: d.update(ssh_config=f"/tmp/x;id>{m}"), "ssh_config: "),
    "host-name-shell": (lambda d, m: d["hosts"].update({"gw$(id)": _first_host(d)}), "hosts: 'gw$(id)' does not match"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_inventory_is_refused_before_any_host_is_reached(tmp_path, case):
    change, message = CASES[case]
    path, mark = _inventory(tmp_path, change)
    with pytest.raises(TopologyError) as exc:
        inventory_site(path, connect_timeout=1)
    text = str(exc.value)
    assert text.startswith(f"{path}: {message}"), text
    assert "\n" not in text.strip(), text
    assert "s3cretPW" not in text, "the error repeats the password"
    assert not mark.exists(), "a value of the inventory ran a command"


def test_the_cli_says_it_in_one_line_and_runs_nothing(tmp_path):
    path, mark = _inventory(tmp_path, CASES["ssh-proxycommand"][0])
    out = subprocess.run([sys.executable, "-m", "siteproof.cli", "inventory", "check", str(path)],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert f"{path}: hosts.gw01.ssh: an SSH target may not start with '-'" in out.stderr
    assert not mark.exists()


def test_a_non_utf8_inventory_is_one_clear_error(tmp_path):
    path = tmp_path / "site.yml"
    path.write_bytes(b"name: caf\xe9\nhosts: {}\n")
    with pytest.raises(TopologyError, match=r"site.yml: not UTF-8 text \(byte 9\)"):
        inventory_site(path)


def test_the_example_inventories_pass_the_parameter_checks():
    from siteproof.topology.loader import check_site_parameters

    for path in sorted((REPO / "examples" / "inventories").glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        assert check_site_parameters(doc.get("parameters") or {}, str(path)) is not None


def _dns_site(drop_role: str | None = None, drop_parameter: str | None = None):
    """The DNS example inventory as a Site, without its hosts (no backend: it must not be reached)."""
    from siteproof.budgets import Budgets
    from siteproof.site import Site

    doc = yaml.safe_load((REPO / "examples" / "inventories" / "perlmutter-dns.yml").read_text())
    labels = {n: dict(h["labels"]) for n, h in doc["hosts"].items() if h["labels"]["role"] != drop_role}
    parameters = {k: v for k, v in doc["parameters"].items() if k != drop_parameter}
    return Site("dns-site", labels, parameters, Budgets(parameters), backend=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("role", "parameter", "message"), [
    ("upstream", None, "site dns-site: the inventory has no host with role 'upstream' (the DNS area needs one)"),
    (None, "domain", "site dns-site: the inventory's parameters lack 'domain' (the DNS area needs it)"),
])
def test_a_dns_inventory_missing_a_role_or_parameter_is_one_clear_error(role, parameter, message):
    from siteproof.areas.dns.site import DnsSite
    from siteproof.errors import SiteproofError

    with pytest.raises(SiteproofError) as exc:
        DnsSite(_dns_site(role, parameter))
    assert str(exc.value) == message


@pytest.mark.parametrize(("topology", "overrides", "message"), [
    ("perlmutter-can", {"spine_area": "0.0.0.1\nrouter bgp 65000"}, "--set: parameters.spine_area: "),
    ("perlmutter-can", {"spine_area": "0.0.0.256"}, "--set: parameters.spine_area: '0.0.0.256' is not an OSPF area ID"),
    ("ncsa-nat", {"pool_ports": "29999-20000"}, "--set: parameters.pool_ports: '29999-20000' is not a port range"),
    ("ncsa-nat", {"stray_route": "nid999"}, "--set: parameters.stray_route: 'nid999' is not a node of this topology"),
    ("alice-epn", {"limited_as_full": "epn09-c1"}, "--set: parameters.limited_as_full: 'epn09-c1' is not a node"),
    ("alice-ce", {"ingress": "xrootd-only; reboot"}, "--set: parameters.ingress: "),
])
def test_a_hostile_parameter_is_refused_before_anything_is_rendered(topology, overrides, message, tmp_path):
    from siteproof.topology import load_topology

    with pytest.raises(TopologyError) as exc:
        load_topology(REPO / "topologies" / topology, overrides)
    assert str(exc.value).startswith(message), str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_set_value_is_shown_as_text_and_a_secret_redacted():
    """pytest-html puts environment values into the page as markup."""
    from siteproof.fixtures.plugin import _shown_pair

    assert _shown_pair("gateways=<img src=x onerror=alert(1)>") == "gateways=&lt;img src=x onerror=alert(1)&gt;"
    assert _shown_pair("tsig_seed=0123456789abcdef") == "tsig_seed=&lt;redacted&gt;"
    assert _shown_pair("snmp_community=public") == "snmp_community=&lt;redacted&gt;"
    assert _shown_pair("default_pkey=0x7fff") == "default_pkey=0x7fff"
