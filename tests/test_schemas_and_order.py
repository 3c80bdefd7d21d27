"""Shipped JSON Schemas, daemon kinds in the schema, start order (`after`), and the preflight."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from siteproof.backends.netns import Lab, preflight, registry
from siteproof.backends.netns import namespaces as netns
from siteproof.daemons import base as daemon_base
from siteproof.errors import DaemonError, TopologyError
from siteproof.topology import load_topology, schema
from tests.helpers import REPO, make_topology, needs_root, unexplained_namespaces

TOPOLOGIES = REPO / "topologies"


def test_shipped_schemas_are_current_and_have_ids():
    for name, doc in schema.published().items():
        shipped = json.loads((schema.SCHEMA_DIR / name).read_text())
        assert shipped == json.loads(json.dumps(doc)), f"{name} is stale: run `python -m siteproof.topology.schema`"
        assert shipped["$id"].endswith(name)
        jsonschema.Draft202012Validator.check_schema(shipped)


@pytest.mark.parametrize("topology", sorted(p.name for p in TOPOLOGIES.iterdir() if p.is_dir()))
def test_builtin_variants_validate_against_the_shipped_variant_schema(topology):
    validator = jsonschema.Draft202012Validator(json.loads((schema.SCHEMA_DIR / "variant.schema.json").read_text()))
    variants = sorted((TOPOLOGIES / topology / "variants").glob("*.yml"))
    assert variants, f"{topology} has no known-bad variant"
    for path in variants:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, f"{path}: {errors[0].message}"


DAEMONS = """
name: ordered
topology:
  nodes:
    sw1: {{kind: bridge}}
    a:
      kind: linux
      interfaces: {{eth1: {{addresses: ["10.9.0.1/24"]}}}}
      daemons:
        keepalived: {{config: k.conf{a_after}}}
    b:
      kind: linux
      interfaces: {{eth1: {{addresses: ["10.9.0.2/24"]}}}}
      daemons:
        keepalived: {{config: k.conf, after: ["a:keepalived"]}}
  links:
    - endpoints: ["a:eth1", "sw1:p-a"]
    - endpoints: ["b:eth1", "sw1:p-b"]
"""


def _ordered(tmp_path, a_after=""):
    folder = make_topology(tmp_path, DAEMONS.format(a_after=a_after), name="ordered")
    (folder / "k.conf").write_text("global_defs {}\n")
    return folder


def test_daemons_start_in_waves_after_what_they_name(tmp_path):
    topo = load_topology(_ordered(tmp_path))
    assert topo.daemon_waves() == [[("a", "keepalived")], [("b", "keepalived")]]


@pytest.mark.parametrize(("a_after", "message"), [
    (', after: ["b"]', "daemons wait for each other in a cycle: a:keepalived, b:keepalived"),
    (', after: ["b:named"]', "a:keepalived: after 'b:named': no such daemon"),
])
def test_bad_start_order_is_a_topology_error(tmp_path, a_after, message):
    with pytest.raises(TopologyError, match=message):
        load_topology(_ordered(tmp_path, a_after))


def test_unknown_daemon_kind_is_refused_by_the_schema_with_the_known_kinds(tmp_path):
    folder = make_topology(tmp_path, DAEMONS.format(a_after="").replace("keepalived: {config: k.conf}", "frrr: {config: k.conf}"),
                           name="ordered")
    with pytest.raises(TopologyError, match=r"topology\.nodes\.a\.daemons\.frrr: unknown daemon kind 'frrr' \(known: .*keepalived"):
        load_topology(folder)


@needs_root
def test_preflight_names_every_missing_program_before_anything_exists(tmp_path, monkeypatch):
    topo = load_topology(_ordered(tmp_path))
    monkeypatch.setattr(daemon_base, "find_binary", lambda name: None if name == "keepalived" else "/bin/true")
    before = set(netns.list_names())
    with pytest.raises(DaemonError, match=r"missing programs: keepalived \(Debian package 'keepalived'\) for keepalived on a, b"):
        preflight(topo)
    lab = Lab(topo)
    with pytest.raises(DaemonError, match="missing programs"):
        lab.up()
    assert unexplained_namespaces(before) == [] and registry.lab_namespaces(lab.id) == [], \
        "a namespace was created before the preflight failed"
    assert not (registry.STATE_ROOT / lab.id).exists()
