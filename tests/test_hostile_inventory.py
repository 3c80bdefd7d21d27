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
