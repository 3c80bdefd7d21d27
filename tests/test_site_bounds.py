"""Every SSH call to a site is bounded: a host that accepts a connection, sends its banner and
then stalls is reported down within the connect timeout and a margin, in one line naming it;
a command that runs past its limit is ended, with its host, command and limit named."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest

from siteproof.backends.sshbound import BoundedSsh, SiteTimeout, ssh_argv
from tests.helpers import REPO


@pytest.fixture
def stalled_sshd():
    """A loopback listener that greets like sshd and then says nothing more."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    accepted = []
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 stalled\r\n")
            accepted.append(conn)  # kept open, never read: the key exchange never comes

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_a_host_that_stalls_after_its_banner_is_down_within_the_bound(tmp_path, stalled_sshd):
    inventory = tmp_path / "site.yml"
    inventory.write_text(f"name: stalled\nhosts:\n  gw01:\n    ssh: root@127.0.0.1:{stalled_sshd}\n"
                         "    labels: {role: gateway, hsn_vip: 10.100.1.1, storage_vip: 10.200.1.1}\n")
    began = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "siteproof.cli", "inventory", "check", str(inventory), "--timeout", "2"],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    took = time.monotonic() - began
    assert out.returncode == 1, out.stderr
    assert took < 2 + 5 + 8, f"took {took:.1f} s: the connect timeout (2 s) and the margin (5 s) should bound it"
    lines = out.stderr.strip().splitlines()  # the error, then one line per host that did not answer
    assert len(lines) == 2 and "hosts.gw01 (ssh://root@127.0.0.1:" in lines[1] and "no answer within 7 s" in lines[1], out.stderr


def test_a_command_past_its_bound_is_killed_and_named():
    backend = BoundedSsh("root@gw01", command_timeout=1.0)
    began = time.monotonic()
    with pytest.raises(SiteTimeout, match=r"site host gw01: no answer within 1 s to: "):
        backend.run_local("sleep 30")
    assert time.monotonic() - began < 5


def test_the_ssh_line_runs_without_a_shell_each_value_one_word_as_given():
    """testinfra's ssh line is split back into its words and run with no shell: a remote command
    or an ssh_config path full of shell syntax reaches ssh as one argument, exactly as given."""
    command = "echo 'a b' \"c\"; rm -rf /nothing $(id) `id` > /tmp/x & \n true"
    config = "/tmp/odd dir/$HOME;ssh_config"
    backend = BoundedSsh("root@gw01:2222", ssh_config=config, ssh_extra_args="-o BatchMode=yes")
    cmd, args = backend._build_ssh_command(command)
    argv = ssh_argv(backend.quote(" ".join(cmd), *args))
    assert argv[0] == "ssh" and argv[-2:] == ["gw01", command], argv
    assert argv[argv.index("-F") + 1] == config, argv
    assert "Port=2222" in argv and "User=root" in argv, argv
