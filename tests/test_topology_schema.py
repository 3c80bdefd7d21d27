"""Every broken topology file gives one error naming the file and the key (no root needed)."""

from __future__ import annotations

import pytest

from siteproof.errors import TopologyError
from siteproof.topology import load_topology
from tests.helpers import REPO, TWO_HOSTS, make_topology


def broken(tmp_path, old: str, new: str, parameters: str | None = None):
    assert old in TWO_HOSTS
    return make_topology(tmp_path, TWO_HOSTS.replace(old, new, 1), parameters)


def error_of(folder, **kwargs) -> TopologyError:
    with pytest.raises(TopologyError) as info:
        load_topology(folder, **kwargs)
    return info.value


def test_reference_topology_loads_with_24_gateways():
    topo = load_topology(REPO / "topologies" / "perlmutter-gateways")
    assert len(topo.by_role("gateway")) == 24
    assert len(topo.nodes["nid001"].routes[0].via) == 24


def test_parameters_override_and_reproducible_priorities():
    a = load_topology(REPO / "topologies" / "perlmutter-gateways", {"gateways": "5"})
    b = load_topology(REPO / "topologies" / "perlmutter-gateways", {"gateways": "5"})
    assert len(a.by_role("gateway")) == 5
    assert a.nodes["gw03"].daemons["keepalived"].config == b.nodes["gw03"].daemons["keepalived"].config


def test_unknown_key(tmp_path):
    err = error_of(broken(tmp_path, "kind: linux\n      labels: {role: client}", "kind: linux\n      colour: red\n      labels: {role: client}"))
    assert err.file == "tiny/topology.yml" and err.key == "topology.nodes.a.colour"
    assert "unknown key" in str(err)


def test_endpoint_names_missing_node(tmp_path):
    err = error_of(broken(tmp_path, '"b:eth1", "sw1:p-b"', '"c:eth1", "sw1:p-b"'))
    assert err.key == "topology.links[1].endpoints[0]" and "'c'" in err.message


def test_duplicate_node(tmp_path):
    err = error_of(broken(tmp_path, "    b:\n", "    a:\n"))
    assert err.file == "tiny/topology.yml" and "duplicate key 'a'" in err.message and err.key.startswith("line ")


def test_duplicate_interface(tmp_path):
    err = error_of(broken(tmp_path, '"b:eth1", "sw1:p-b"', '"a:eth1", "sw1:p-b"'))
    assert err.key == "topology.links[1].endpoints[0]" and "already used" in err.message


def test_duplicate_bridge_port(tmp_path):
    err = error_of(broken(tmp_path, '"b:eth1", "sw1:p-b"', '"b:eth1", "sw1:p-a"'))
    assert err.key == "topology.links[1].endpoints[1]" and "already used" in err.message


def test_malformed_address(tmp_path):
    err = error_of(broken(tmp_path, "10.9.0.2/24", "10.9.0.300/24"))
    assert err.key == "topology.nodes.b.interfaces.eth1.addresses[0]" and "malformed" in err.message


def test_address_without_prefix(tmp_path):
    err = error_of(broken(tmp_path, "10.9.0.2/24", "10.9.0.2"))
    assert "no prefix length" in err.message


def test_duplicate_address(tmp_path):
    err = error_of(broken(tmp_path, "10.9.0.2/24", "10.9.0.1/24"))
    assert err.key == "topology.nodes.b.interfaces.eth1.addresses[0]" and "already assigned" in err.message


def test_overlapping_subnets_on_one_node(tmp_path):
    text = TWO_HOSTS.replace(
        '        eth1: {addresses: ["10.9.0.2/24", "2001:db8:9::2/64"]}',
        '        eth1: {addresses: ["10.9.0.2/24", "2001:db8:9::2/64"]}\n        eth2: {addresses: ["10.9.0.130/25"]}',
    ) + '    - endpoints: ["b:eth2", "sw1:p-b2"]\n'
    err = error_of(make_topology(tmp_path, text))
    assert err.key == "topology.nodes.b.interfaces.eth2.addresses[0]" and "overlaps" in err.message


def test_interface_without_link(tmp_path):
    text = TWO_HOSTS.replace('"b:eth1", "sw1:p-b"', '"b:eth1", "sw1:p-b"') .replace(
        '        eth1: {addresses: ["10.9.0.2/24", "2001:db8:9::2/64"]}',
        '        eth1: {addresses: ["10.9.0.2/24", "2001:db8:9::2/64"]}\n        eth9: {addresses: ["10.8.0.2/24"]}',
    )
    err = error_of(make_topology(tmp_path, text))
    assert err.key == "topology.nodes.b.interfaces.eth9" and "not an endpoint" in err.message


def test_malformed_route(tmp_path):
    text = TWO_HOSTS.replace("      labels: {role: server}", "      labels: {role: server}\n      routes: [{dst: 10.1.0.0/33, via: 10.9.0.1}]")
    err = error_of(make_topology(tmp_path, text))
    assert err.key == "topology.nodes.b.routes[0].dst"


def test_unknown_parameter(tmp_path):
    folder = make_topology(tmp_path, parameters="parameters:\n  hosts: {default: 2, type: int}\n")
    err = error_of(folder, overrides={"hostz": "3"})
    assert err.file == "--set" and err.key == "parameters.hostz" and "unknown parameter" in err.message


def test_parameter_out_of_range(tmp_path):
    folder = make_topology(tmp_path, parameters="parameters:\n  hosts: {default: 2, type: int, max: 4}\n")
    err = error_of(folder, overrides={"hosts": "9"})
    assert err.key == "parameters.hosts" and "maximum" in err.message


def test_unknown_variant():
    err = error_of(REPO / "topologies" / "perlmutter-gateways", variant="nosuch")
    assert "no such variant" in err.message and "nopreempt" in err.message


def test_template_error_names_template(tmp_path):
    folder = make_topology(tmp_path, "name: tiny\n{{ nothere }}\n")
    err = error_of(folder)
    assert "undefined" in err.message


def test_invalid_yaml_names_line(tmp_path):
    folder = make_topology(tmp_path, "name: tiny\ntopology: [\n")
    err = error_of(folder)
    assert err.key.startswith("line ") and "invalid YAML" in err.message


@pytest.mark.parametrize("topology", sorted(p.name for p in (REPO / "topologies").iterdir() if p.is_dir()))
def test_every_variant_loads_and_names_its_test(topology):
    folder = REPO / "topologies" / topology
    load_topology(folder)
    for variant in sorted(p.stem for p in (folder / "variants").glob("*.yml")):
        topo = load_topology(folder, variant=variant)
        assert topo.variant_info["breaks"]
        for check in topo.variant_info["checks"]:
            path, _, name = check["test"].partition("::")
            assert path.startswith("suites/") and (REPO / path).is_file(), check["test"]
            assert f"def {name.split('[')[0]}(" in (REPO / path).read_text(), f"{variant}: no test {name} in {path}"


def test_route_weights_one_per_next_hop(tmp_path):
    text = TWO_HOSTS.replace("      labels: {role: server}", "      labels: {role: server}\n"
                             "      routes: [{dst: 10.1.0.0/16, via: [10.9.0.1, 10.9.0.3], weights: [2]}]")
    err = error_of(make_topology(tmp_path, text))
    assert err.key == "topology.nodes.b.routes[0].weights" and "one per next hop" in err.message


def test_policy_rules_and_tables_load(tmp_path):
    text = TWO_HOSTS.replace("      labels: {role: server}", "      labels: {role: server}\n"
                             "      routes: [{dst: 10.1.0.0/16, via: 10.9.0.1, table: 101}]\n"
                             "      rules: [{fwmark: 1, table: 101}]")
    node = load_topology(make_topology(tmp_path, text)).nodes["b"]
    assert node.routes[0].table == 101 and node.rules[0].fwmark == 1 and node.rules[0].table == 101


def test_policy_rule_table_out_of_range(tmp_path):
    text = TWO_HOSTS.replace("      labels: {role: server}", "      labels: {role: server}\n"
                             "      rules: [{fwmark: 1, table: 254}]")
    err = error_of(make_topology(tmp_path, text))
    assert "rules" in err.key


def test_shared_address_needs_anycast_on_every_holder(tmp_path):
    err = error_of(broken(tmp_path, "10.9.0.2/24", "10.9.0.1/24"))
    assert "an address shared on purpose needs anycast: true" in err.message
    both = TWO_HOSTS.replace('eth1: {addresses: ["10.9.0.1/24", "2001:db8:9::1/64"]}',
                             'eth1: {addresses: ["10.9.0.1/24"], anycast: true, mac: "02:00:00:00:00:01"}').replace(
        'eth1: {addresses: ["10.9.0.2/24", "2001:db8:9::2/64"]}', 'eth1: {addresses: ["10.9.0.1/24"], anycast: true}')
    topo = load_topology(make_topology(tmp_path / "ok", both))
    assert topo.nodes["a"].interfaces["eth1"].mac == "02:00:00:00:00:01"
    one = both.replace('eth1: {addresses: ["10.9.0.1/24"], anycast: true}', 'eth1: {addresses: ["10.9.0.1/24"]}')
    assert "already assigned" in error_of(make_topology(tmp_path / "one", one)).message


def test_lag_members_must_be_ports_of_the_bridge(tmp_path):
    text = TWO_HOSTS.replace("sw1: {kind: bridge}", 'sw1: {kind: bridge, lag: {members: [p-a, p-c], mac: "02:00:00:00:00:01"}}')
    err = error_of(make_topology(tmp_path, text))
    assert err.key == "topology.nodes.sw1.lag.members[1]" and "not a port of bridge sw1" in err.message
    host = TWO_HOSTS.replace("kind: linux\n      labels: {role: client}",
                             'kind: linux\n      lag: {members: [eth1], mac: "02:00:00:00:00:01"}\n      labels: {role: client}')
    assert "only a bridge aggregates links" in error_of(make_topology(tmp_path / "host", host)).message
