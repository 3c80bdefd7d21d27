"""Hostile and mistaken input is refused before anything is built, with one message naming the
file (or option) and the key: sysctls that are not per network namespace, names with path
characters, routes the kernel would refuse mid-build, template runtime errors, parameters that
are not what they claim, variants outside their folder."""

from __future__ import annotations

import pytest

from siteproof.backends.netns import namespaces as netns
from siteproof.errors import TopologyError
from siteproof.topology import load_topology
from tests.helpers import REPO, TWO_HOSTS, make_topology, unexplained_namespaces

SERVER = "      labels: {role: server}"


def error_of(folder, **kwargs) -> TopologyError:
    before = set(netns.list_names())
    with pytest.raises(TopologyError) as info:
        load_topology(folder, **kwargs)
    # Labs that tests beside this one build meanwhile (parallel workers) are registered: not counted.
    assert unexplained_namespaces(before) == [], "a refused topology created namespaces"
    return info.value


def with_server(tmp_path, extra: str, files: dict[str, str] | None = None):
    folder = make_topology(tmp_path, TWO_HOSTS.replace(SERVER, SERVER + "\n" + extra))
    for name, text in (files or {}).items():
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("key", ["kernel.domainname", "vm.swappiness", "fs.file-max", "net.core.rmem_max",
                                 "net.ipv4.../../../kernel/domainname"])
def test_a_sysctl_of_the_machine_is_refused(tmp_path, key):
    err = error_of(with_server(tmp_path, f"      sysctls: {{{key}: 1}}"))
    assert err.key == f"topology.nodes.b.sysctls.{key}" and "not kept per network namespace" in err.message


def test_a_sysctl_the_kernel_does_not_have_is_refused(tmp_path):
    err = error_of(with_server(tmp_path, "      sysctls: {net.ipv4.no_such_knob: 1}"))
    assert err.key == "topology.nodes.b.sysctls.net.ipv4.no_such_knob" and "no per-namespace sysctl" in err.message


def test_interface_sysctls_are_checked_by_their_default_entry(tmp_path):
    load_topology(with_server(tmp_path, "      sysctls: {net.ipv4.conf.eth1.arp_ignore: 1, net.ipv6.conf.all.forwarding: 1}"))


def test_a_path_in_an_interface_name_is_refused(tmp_path):
    folder = make_topology(tmp_path, TWO_HOSTS.replace('"b:eth1", "sw1:p-b"', '"b:e/th1", "sw1:p-b"'))
    err = error_of(folder)
    assert err.key == "topology.links[1].endpoints[0]" and "may hold only" in err.message


def test_a_route_via_a_device_the_node_lacks_is_refused(tmp_path):
    err = error_of(with_server(tmp_path, "      routes: [{dst: 10.7.0.0/16, dev: eth9}]"))
    assert err.key == "topology.nodes.b.routes[0].dev" and "no interface 'eth9'" in err.message


def test_an_off_link_next_hop_is_refused(tmp_path):
    err = error_of(with_server(tmp_path, "      routes: [{dst: 10.7.0.0/16, via: 10.8.0.1}]"))
    assert err.key == "topology.nodes.b.routes[0].via[0]" and "no subnet" in err.message


def test_a_prefix_too_small_for_its_addresses_names_the_template_line(tmp_path):
    text = TWO_HOSTS.replace('"10.9.0.2/24"', '"{{ host_address(\'10.9.0.0/24\', 300) }}/24"')
    err = error_of(make_topology(tmp_path, text))
    assert err.file == "topology.yml" and err.key.startswith("line ") and "no address number 300" in err.message


def test_a_template_runtime_error_names_the_template_line(tmp_path):
    err = error_of(with_server(tmp_path, "      labels2: {{ 1 // 0 }}"))
    assert err.file == "topology.yml" and err.key.startswith("line ") and "ZeroDivisionError" in err.message


def test_a_daemon_file_that_climbs_out_is_refused(tmp_path):
    folder = with_server(tmp_path, "      daemons: {keepalived: {config: k.conf}}", {"k.conf": "x\n### file: ..\ny\n"})
    err = error_of(folder)
    assert err.file == "k.conf" and "never '..'" in err.message


@pytest.mark.parametrize(("name", "value", "words"), [
    ("hsn_prefix", "garbage", "is not an IP prefix"),
    ("hsn_prefix", "2001:db8::/64", "is not an IPv4 prefix"),
    ("advert_interval", "nan", "is not a finite number"),
    ("advert_interval", "inf", "is not a finite number"),
])
def test_a_parameter_that_is_not_what_it_claims_is_refused(name, value, words):
    err = error_of(REPO / "topologies" / "perlmutter-gateways", overrides={name: value})
    assert err.file == "--set" and err.key == f"parameters.{name}" and words in err.message


@pytest.mark.parametrize("name", ["../../perlmutter-dns/variants/axfr-open", "/etc/passwd", "..", "nopreempt/../x"])
def test_a_variant_outside_the_topology_folder_is_refused(name):
    err = error_of(REPO / "topologies" / "perlmutter-gateways", variant=name)
    assert err.file == "--variant" and "no path" in err.message


def test_shell_metacharacters_in_a_node_name_are_refused(tmp_path):
    text = TWO_HOSTS.replace("    b:\n", '    "b;touch /tmp/pwned":\n').replace('"b:eth1"', '"b;touch /tmp/pwned:eth1"')
    err = error_of(make_topology(tmp_path, text))
    assert "b;touch /tmp/pwned" in err.key or "b;touch /tmp/pwned" in err.message


def test_an_unknown_daemon_kind_is_refused(tmp_path):
    err = error_of(with_server(tmp_path, "      daemons: {sendmail: {config: k.conf}}", {"k.conf": "x\n"}))
    assert "sendmail" in err.key + err.message


def test_a_long_interface_name_is_refused(tmp_path):
    folder = make_topology(tmp_path, TWO_HOSTS.replace('"b:eth1", "sw1:p-b"', '"b:eth1234567890123", "sw1:p-b"'))
    assert "longer than 15" in error_of(folder).message


def test_a_scale_the_machine_cannot_build_is_refused_before_building():
    err = error_of(REPO / "topologies" / "perlmutter-gateways", overrides={"gateways": "99"})
    assert err.key == "parameters.gateways" and "above the maximum 64" in err.message
