"""The CLI: bad arguments give one clear error; a lab goes up, is listed, runs a command, goes down."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from siteproof.backends.netns import namespaces as netns
from siteproof.backends.netns import registry
from tests.helpers import REPO, lab_leftovers, needs_root


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


def _up_in_background() -> tuple[subprocess.Popen[str], str]:
    """`siteproof up` of a lab big enough to take seconds, and the id of the lab it is building."""
    before = {s.id for s in registry.all_labs()}
    proc = subprocess.Popen([sys.executable, "-m", "siteproof.cli", "up", "perlmutter-gateways", "--set", "gateways=40", "--set", "computes=200"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = [s for s in registry.all_labs() if s.id not in before and s.owner_kind == "cli"]
        if new and registry.lab_namespaces(new[0].id):
            return proc, new[0].id
        assert proc.poll() is None, f"up ended before it built anything: {proc.communicate()}"
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("no lab appeared within 60 s")


@needs_root
def test_ctrl_c_on_up_while_it_builds_leaves_nothing():
    proc, lab_id = _up_in_background()
    proc.send_signal(signal.SIGINT)  # what the terminal sends to the foreground process
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert "torn down" in err and lab_id not in out
    assert lab_leftovers(lab_id) == {"namespaces": [], "state": []}


@needs_root
def test_down_while_up_builds_makes_up_fail_and_leaves_nothing():
    proc, lab_id = _up_in_background()
    down = cli("down", lab_id)
    out, err = proc.communicate(timeout=120)
    assert down.returncode == 0, down.stderr
    assert proc.returncode == 1 and "stopped while it was being built" in err, (out, err)
    assert lab_leftovers(lab_id) == {"namespaces": [], "state": []}
