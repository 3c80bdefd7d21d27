"""The CLI: bad arguments give one clear error; a lab goes up, is listed, runs a command, goes down."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time

from siteproof.backends.netns import namespaces as netns
from siteproof.backends.netns import registry
from siteproof.childrun import sigint_restored
from tests.helpers import REPO, lab_leftovers, needs_root, unexplained_namespaces


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
        ("up", "ncsa-nat", "--as-site", "--set", "mgmt_prefix=10.1.0.0/16"): "--set: mgmt_prefix: 10.1.0.0/16 does not hold",
        ("topologies", "no-such-topology"): "no topology 'no-such-topology'",
        ("export", "clab", "no-such-topology", "-o", "/nonexistent/x"): "no such folder, and not a built-in topology",
        ("inventory", "from-ansible", "/nonexistent/hosts.yml", "--mapping", "/nonexistent/map.yml"): "cannot read",
        ("inventory", "check", "/nonexistent/inventory.yml"): "inventory file not found",
        ("nightly", "--site", "/nonexistent/inventory.yml", "--history", "/nonexistent/h"): "inventory /nonexistent/inventory.yml",
        ("compare", "/nonexistent/a", "/nonexistent/b"): "/nonexistent/a",
        ("mutate", "no-such-topology"): "no-such-topology",
    }
    for args, message in cases.items():
        out = cli(*args)
        assert out.returncode in (1, 2), (args, out.stderr)  # 1: inventory check says the inventory is wrong
        assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, (args, out.stderr)


@needs_root
def test_up_ls_exec_down(cli_labs):
    up = cli("up", "perlmutter-gateways", "--set", "gateways=2", "--set", "computes=1")
    assert up.returncode == 0, up.stderr
    lab_id = up.stdout.strip()
    cli_labs.append(lab_id)
    # Handed over converged (keepalived has placed the VIPs), saying so as it waits.
    assert "waiting until its routes and addresses are unchanged" in up.stderr and "converged after" in up.stderr, up.stderr
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
    before = set(netns.list_names())
    out = cli("up", str(folder))
    assert out.returncode != 0
    assert "unknown daemon kind 'nosuchd'" in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert unexplained_namespaces(before) == []


def _up_held_while_building(cli_labs: list[str]) -> tuple[subprocess.Popen[str], str]:
    """`siteproof up` stopped at a known point of its build (its namespaces made, nothing in them
    yet: registry.HOLD_ENV), and the id of that lab. No race with the clock: however loaded the
    machine, the build is still under way when the test acts."""
    # A run id of this call's own: labs that other tests build meanwhile are never taken for ours.
    mine = secrets.token_hex(4)
    env = {**os.environ, registry.HOLD_ENV: "namespaces",
           registry.RUNS_ENV: ":".join(filter(None, [os.environ.get(registry.RUNS_ENV), mine]))}
    proc = subprocess.Popen([sys.executable, "-m", "siteproof.cli", "up", "perlmutter-gateways", "--set", "gateways=4", "--set", "computes=2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env,
                            preexec_fn=sigint_restored)  # the test's Ctrl-C must reach it
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for state in registry.all_labs():
            if mine in state.runs and state.id not in cli_labs:
                cli_labs.append(state.id)  # torn down by the fixture whatever happens next
            if state.id in cli_labs and state.phase == "held at namespaces":
                assert registry.lab_namespaces(state.id), "held after its namespaces were made, yet none exists"
                return proc, state.id
        if proc.poll() is not None:
            raise AssertionError(f"up ended before its build reached the hold: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("no lab reached the hold within 60 s")


@needs_root
def test_ctrl_c_on_up_while_it_builds_leaves_nothing(cli_labs):
    proc, lab_id = _up_held_while_building(cli_labs)
    proc.send_signal(signal.SIGINT)  # what the terminal sends to the foreground process
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert "torn down" in err and lab_id not in out
    assert lab_leftovers(lab_id) == {"namespaces": [], "state": []}


@needs_root
def test_down_while_up_builds_makes_up_fail_and_leaves_nothing(cli_labs):
    proc, lab_id = _up_held_while_building(cli_labs)
    down = cli("down", lab_id)
    out, err = proc.communicate(timeout=120)
    assert down.returncode == 0, down.stderr
    assert proc.returncode == 1 and "stopped while it was being built" in err, (out, err)
    assert lab_leftovers(lab_id) == {"namespaces": [], "state": []}
