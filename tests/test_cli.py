"""The CLI: bad arguments give one clear error; a lab goes up, is listed, runs a command, goes down."""

from __future__ import annotations

import subprocess
import sys

from siteproof.backends.netns import namespaces as netns
from siteproof.backends.netns import registry
from tests.helpers import REPO, needs_root


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "siteproof.cli", *args], capture_output=True, text=True, cwd=REPO, timeout=120)


def test_bad_arguments_give_one_clear_error():
    cases = {
        ("up", "no-such-topology"): "no such folder, and not a built-in topology",
        ("up", "perlmutter-gateways", "--set", "gateways=many"): "parameters.gateways: 'many' is not a int",
        ("up", "perlmutter-gateways", "--set", "bogus=1"): "unknown parameter",
        ("up", "perlmutter-gateways", "--variant", "nosuch"): "no such variant",
        ("exec", "zzzzzz", "gw01", "--", "true"): "no lab 'zzzzzz'",
        ("down",): "name a lab id, or --all",
    }
    for args, message in cases.items():
        out = cli(*args)
        assert out.returncode == 2, (args, out.stderr)
        assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, (args, out.stderr)


@needs_root
def test_up_ls_exec_down():
    up = cli("up", "perlmutter-gateways", "--set", "gateways=2", "--set", "computes=1")
    assert up.returncode == 0, up.stderr
    lab_id = up.stdout.strip()
    try:
        assert lab_id in cli("ls").stdout
        out = cli("exec", lab_id, "gw01", "--", "ip", "-br", "addr", "show", "eth1")
        assert "10.100.0.11" in out.stdout
        assert "no node 'gw99'" in cli("exec", lab_id, "gw99", "--", "true").stderr
    finally:
        down = cli("down", lab_id)
    assert down.returncode == 0 and registry.lab_namespaces(lab_id) == []


@needs_root
def test_up_reports_why_a_build_failed(tmp_path):
    """A lab that fails while being built is removed, and the reason reaches the caller."""
    folder = tmp_path / "broken"
    (folder / "configs").mkdir(parents=True)
    (folder / "configs" / "x.conf").write_text("nothing\n")
    (folder / "topology.yml").write_text(
        "name: broken\ntopology:\n  nodes:\n    a:\n      kind: linux\n      daemons:\n        nosuchd: {config: configs/x.conf}\n"
    )
    before = {n for n in netns.list_names() if n.startswith(registry.NS_PREFIX)}
    out = cli("up", str(folder))
    assert out.returncode != 0
    assert "unknown daemon kind 'nosuchd'" in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert {n for n in netns.list_names() if n.startswith(registry.NS_PREFIX)} == before
