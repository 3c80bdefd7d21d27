"""The CAN matrices as the report shows them: one row per source, one column per destination and
service, each cell the observed verdict beside the expected one. The probed results are made up
here (no lab): what is under test is the table an operator reads, not the network."""

from __future__ import annotations

import pytest

from siteproof.areas.can.policy import Cell
from siteproof.fixtures.evidence import Evidence
from siteproof.probes.reach import Probe, Service
from suites.can.test_can import check_cells


def _cell(source: str, destination: str, port: int, expect: bool) -> Cell:
    return Cell(Probe(source, destination, f"10.0.0.{port % 250}", Service("tcp", port)), "CAN-1", expect, "the design")


def test_every_source_is_a_row_with_its_verdicts():
    cells = [_cell("mfa1", "can1", 22, True), _cell("user1", "can1", 22, False), _cell("user1", "can2", 443, False)]
    observed = {cells[0].probe: "answered", cells[1].probe: "no answer", cells[2].probe: "no answer"}
    evidence = Evidence("t")
    check_cells("CAN-1", (cells, observed), evidence)
    header, rows = evidence.tables["CAN-1 traffic matrix: expected vs observed"]
    assert header == ["from \\ to", "can1 tcp/22", "can2 tcp/443"]
    assert rows == [["mfa1", "ok: answered (expected reached)", ""],
                    ["user1", "ok: no answer (expected filtered)", "ok: no answer (expected filtered)"]]


def test_a_wrong_cell_is_marked_in_its_row_and_fails_the_behaviour():
    cells = [_cell("user1", "can1", 22, False)]
    evidence = Evidence("t")
    with pytest.raises(AssertionError, match="CAN-1: 1 of 1 cells wrong: user1 -> can1 tcp/22: answered"):
        check_cells("CAN-1", (cells, {cells[0].probe: "answered"}), evidence)
    assert evidence.tables["CAN-1 traffic matrix: expected vs observed"][1] == [["user1", "WRONG: answered (expected filtered)"]]
    # and shown in red in the page
    assert evidence.marked["CAN-1 traffic matrix: expected vs observed"] == {(0, 1)}
    assert "<td class=sp-mark>WRONG: answered (expected filtered)</td>" in evidence.to_html()


def test_an_empty_table_is_refused_unless_the_test_says_why():
    evidence = Evidence("t")
    evidence.table("matrix", ["from", "to"], [])
    assert evidence.empty_tables == ["matrix"]  # the plugin fails a passing test for it
    assert "EMPTY: the test recorded no rows" in evidence.to_html()
    evidence = Evidence("t")
    evidence.table("matrix", ["from", "to"], [], empty_because="no source probed")
    assert evidence.tables["matrix"][1] == [["(none: no source probed)", ""]] and not evidence.empty_tables
