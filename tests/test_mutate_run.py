"""`siteproof mutate` end to end on the smallest built-in topology, with real labs: two operators
on two nodes give one mutant of each kind the run can report (caught, equivalent, invalid,
survived), each classified as such, and the page and JSON say so."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from siteproof.backends.netns import registry
from siteproof.errors import SiteproofError
from siteproof.mutate import campaign
from siteproof.mutate.runner import REPO, RunSettings
from tests.helpers import needs_root


class _Rows(HTMLParser):
    """The text of each row of the page's table with this id, as a reader sees it."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.rows = table_id, False, []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.inside = dict(attrs).get("id") == self.table_id
        elif tag == "tr" and self.inside:
            self.rows.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside and self.rows:
            self.rows[-1] += data.strip() + " "


def page_rows(html: str, table_id: str) -> list[str]:
    parser = _Rows(table_id)
    parser.feed(html)
    return parser.rows[1:]  # without the header


@needs_root
@pytest.mark.slow
def test_mutate_classifies_caught_equivalent_invalid_and_survived(tmp_path):
    # A run id of this test's own: the labs of mutate's child runs carry it, and labs that other
    # tests build meanwhile (parallel workers) never do.
    mine = secrets.token_hex(4)
    env = {**os.environ, registry.RUNS_ENV: ":".join(filter(None, [os.environ.get(registry.RUNS_ENV), mine]))}
    out = tmp_path / "out"
    # A user's replica in a folder of any name: its topology.yml's `name:` picks the suites.
    replica = tmp_path / "site" / "our-ce-replica"
    shutil.copytree(REPO / "topologies" / "alice-ce", replica, ignore=shutil.ignore_patterns("variants"))
    run = subprocess.run(
        [sys.executable, "-m", "siteproof.cli", "mutate", str(replica), "--operators", "sysctl-ipv4-forwarding",
         "--operators", "nft-table-family", "--nodes", "ingress,ce", "--sample", "0", "--seed", "1", "-o", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False, env=env,
    )
    assert not registry.labs_of_run(mine), f"mutate left labs behind: {[s.id for s in registry.labs_of_run(mine)]}"
    assert run.returncode == 1, f"a survivor must make the run fail (exit {run.returncode}):\n{run.stdout}\n{run.stderr}"
    doc = json.loads((out / "mutate.json").read_text())
    by_change = {(m["operator"], m["summary"]): m for m in doc["mutants"]}
    assert len(by_change) == 4, sorted(by_change)

    caught = by_change[("sysctl-ipv4-forwarding", "ingress sysctl net.ipv4.ip_forward: 1 -> 0")]
    assert caught["outcome"] == "caught", caught
    assert caught["test"].startswith("suites/ce/test_ce.py::") and "CE-1" in caught["message"], caught

    equivalent = by_change[("sysctl-ipv4-forwarding", "ce sysctl net.ipv4.ip_forward: (not set) -> 0")]
    assert equivalent["outcome"] == "equivalent" and not equivalent["tests_run"], equivalent
    # Judged on the built labs read back, not on a prediction.
    assert "built lab" in equivalent["message"], equivalent

    survived = by_change[("sysctl-ipv4-forwarding", "ce sysctl net.ipv4.ip_forward: (not set) -> 1")]
    assert survived["outcome"] == "survived" and survived["tests_run"], survived
    assert any("+sysctl net.ipv4.ip_forward = 1" in line for line in survived["diff"]["ce"]), survived["diff"]
    assert any("(mutant, built)" in line for line in survived["diff"]["ce"]), survived["diff"]

    invalid = by_change[("nft-table-family", "ingress nftables: table ip -> table ip6")]
    assert invalid["outcome"] == "invalid", invalid
    assert "nftables ruleset refused" in invalid["message"] and "conflicting protocols" in invalid["message"], invalid

    assert doc["score"]["caught"] == 1 and doc["score"]["judged"] == 2
    assert doc["by_behaviour"]["CE-1"] == {"caught": 1, "survived": 1}

    html = (out / "mutate.html").read_text()
    rows = page_rows(html, "mutants")
    assert len(rows) == 4 and sum("caught" in r for r in rows) == 1 and sum("invalid" in r for r in rows) == 1, rows
    assert "50% (1 of 2)" in html
    assert any(r.startswith("CE-1 1 1") for r in page_rows(html, "by-behaviour")), page_rows(html, "by-behaviour")


def test_mutate_refuses_a_topology_no_suite_judges(tmp_path):
    # Renamed in its topology.yml: no suite is written for it, and saying so at once beats twenty
    # mutants that each "survive" because nothing ran.
    replica = tmp_path / "mine"
    shutil.copytree(REPO / "topologies" / "alice-ce", replica, ignore=shutil.ignore_patterns("variants"))
    doc = replica / "topology.yml"
    doc.write_text(doc.read_text().replace("\nname: alice-ce\n", "\nname: my-ce\n"))
    request = campaign.Request(replica, ["sysctl-ipv4-forwarding"], 1, 1, ["ingress"], RunSettings(overrides={}),
                      tmp_path / "out")
    with pytest.raises(SiteproofError, match=r"no suite test judges topology 'my-ce' .* a replica of a built-in"):
        campaign.run(request, say=lambda _: None)
    assert not (tmp_path / "out").exists()
