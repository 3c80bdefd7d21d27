"""Inventories: the shipped example for every built-in topology is what `siteproof inventory
example` writes and passes the schema; labels are typed per role, and a wrong one is one error
naming the host and the label."""

from __future__ import annotations

import pytest

from siteproof.errors import TopologyError
from siteproof.inventory_example import example
from siteproof.topology import load_topology, schema
from siteproof.topology.yamlfile import load_yaml_text
from tests.helpers import REPO

TOPOLOGIES = sorted(p.name for p in (REPO / "topologies").iterdir() if (p / "topology.yml").is_file())
EXAMPLES = REPO / "examples" / "inventories"


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_every_built_in_topology_ships_its_example_inventory(topology):
    path = EXAMPLES / f"{topology}.yml"
    assert path.is_file(), f"no example inventory for {topology}: siteproof inventory example {topology} > {path}"
    made = example(load_topology(REPO / "topologies" / topology, profile="production"))
    assert path.read_text() == made, f"{path} is stale: regenerate it with siteproof inventory example {topology}"
    schema.validate(load_yaml_text(made, str(path)), schema.INVENTORY, str(path))


def _inventory(labels: dict[str, str]) -> dict:
    return {"name": "t", "hosts": {"gw01": {"ssh": "root@gw01", "labels": labels}}}


@pytest.mark.parametrize(("labels", "message"), [
    ({"role": "gateway", "storage_vip": "10.200.1.1"},
     "hosts.gw01.labels.hsn_vip: a gateway host needs label 'hsn_vip' (area gateways)"),
    ({"role": "gateway", "hsn_vip": "10.100.1", "storage_vip": "10.200.1.1"},
     "hosts.gw01.labels.hsn_vip: '10.100.1' is not an IPv4 address"),
    ({"role": "gatway", "hsn_vip": "10.100.1.1"}, "hosts.gw01.labels.role: unknown role 'gatway' (known: "),
    ({"hsn_vip": "10.100.1.1"}, "hosts.gw01.labels: 'role' is a required property"),
    ({"role": "computing-element", "address": "10.40.0.10", "xrootd": "70000", "monalisa": "8884"},
     "hosts.gw01.labels.xrootd: '70000' is not a port number (1-65535)"),
])
def test_a_wrong_label_is_one_error_naming_host_and_label(labels, message):
    with pytest.raises(TopologyError) as exc:
        schema.validate(_inventory(labels), schema.INVENTORY, "site.yml")
    assert str(exc.value).startswith(f"site.yml: {message}"), str(exc.value)
