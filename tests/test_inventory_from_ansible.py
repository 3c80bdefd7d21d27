"""`siteproof inventory from-ansible`: an Ansible inventory, YAML or INI as Ansible's
documentation writes them (tests/data/ansible/), and a mapping file give the same siteproof
inventory, which the checks `inventory check` makes before reaching a host accept; Ansible's
variable precedence and host ranges hold; a bad value is one error naming host and key. No host
is reached."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from siteproof.ansible_inventory import convert, host_vars, read_ansible
from siteproof.backends.ssh import check_inventory
from siteproof.errors import TopologyError

DATA = Path(__file__).resolve().parent / "data" / "ansible"


@pytest.mark.parametrize("name", ["hosts.yml", "hosts.ini"])
def test_yaml_and_ini_inventories_give_the_same_checked_siteproof_inventory(name):
    doc, left_out = convert(DATA / name, DATA / "mapping.yml")
    check_inventory(doc, name)  # raises on anything `inventory check` would refuse before connecting
    assert sorted(doc["hosts"]) == [f"gw0{i}.site.example" for i in (1, 2, 3)] + ["nid001.site.example", "nid002.site.example"]
    gw = doc["hosts"]["gw02.site.example"]
    assert gw == {"ssh": "root@gw02.site.example", "labels": {"role": "gateway", "hsn_vip": "10.100.1.2",
                                                               "storage_vip": "10.200.1.2", "index": "2"},
                  "configs": {"keepalived": "/etc/keepalived/keepalived.conf"}}
    # computes' own group vars beat their parent hpc's (and all's): svc, not root
    assert doc["hosts"]["nid001.site.example"]["ssh"] == "svc@nid001.site.example"
    assert doc["parameters"] == {"gateways": 3} and doc["ssh_config"] == "~/.ssh/siteproof"
    assert left_out == (["grafana.site.example"] if name == "hosts.yml" else [])


def test_ansible_host_port_and_ranges_follow_ansible():
    resolved = host_vars(read_ansible(DATA / "hosts.yml"))
    groups, values = resolved["grafana.site.example"]
    assert groups == ["all", "monitoring"] and values["ansible_port"] == 2222 and values["ansible_user"] == "root"
    assert {"nid001.site.example", "nid002.site.example"} <= set(resolved)


def test_a_value_the_role_refuses_is_one_error_naming_the_host_and_label(tmp_path):
    bad = tmp_path / "hosts.ini"
    bad.write_text((DATA / "hosts.ini").read_text().replace("hsn_vip=10.100.1.2", "hsn_vip=10.100.1.2;touch/tmp/x"))
    doc, _ = convert(bad, DATA / "mapping.yml")
    with pytest.raises(TopologyError) as caught:
        check_inventory(doc, str(bad))
    assert "hosts.gw02.site.example.labels.hsn_vip" in str(caught.value), str(caught.value)


def test_a_variable_the_mapping_names_and_the_host_lacks_is_named(tmp_path):
    mapping = tmp_path / "mapping.yml"
    mapping.write_text((DATA / "mapping.yml").read_text().replace("index: gw_index", "index: gateway_number"))
    with pytest.raises(TopologyError, match=r"needs Ansible variable 'gateway_number', which host gw01\.site\.example does not have"):
        convert(DATA / "hosts.yml", mapping)


def test_the_cli_writes_the_file(tmp_path):
    shutil.copy(DATA / "mapping.yml", tmp_path / "mapping.yml")
    out = tmp_path / "site.yml"
    run = subprocess.run([sys.executable, "-m", "siteproof.cli", "inventory", "from-ansible", str(DATA / "hosts.yml"),
                          "--mapping", str(tmp_path / "mapping.yml"), "-o", str(out)], capture_output=True, text=True, timeout=60,
                         check=False)
    assert run.returncode == 0, run.stderr
    assert "left out (in no mapped group): grafana.site.example" in run.stderr
    assert yaml.safe_load(out.read_text())["name"] == "our storage gateways"
