"""OpenSSH sshd in a lab node, with the lab's shared host key and the lab user's key.

Login nodes behind one load-balanced name share one host key (as sites do), so a client
never sees a host-key change whichever node it lands on. The keys live in the lab's
directory and go with it.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

from siteproof import cmdlog
from siteproof.cmdlog import COMMANDS_FILE
from siteproof.daemons.base import CREATED_MARK, HOST_PATHS, Daemon, host_paths_lock, register
from siteproof.errors import DaemonError

HOST_KEY = "ssh_host_ed25519_key"
USER_KEY = "id_ed25519"
KEY_DIR = "ssh"  # in the lab's shared directory
# sshd's privilege-separation directory (a compile-time path). systemd's unit creates it; a
# machine without systemd may not have it yet.
PRIVSEP_DIR = Path("/run/sshd")


_KEYS_LOCK = threading.Lock()  # a wave's daemons are prepared in parallel (Lab.start_without_waiting)


def lab_keys(keys: Path) -> Path:
    """The lab's ssh key directory: the shared host key and the lab user's key pair, made
    once; authorized_keys is written once too (a running sshd reads it at every login)."""
    with _KEYS_LOCK:
        if (keys / "authorized_keys").is_file():
            return keys
        keys.mkdir(mode=0o700, parents=True, exist_ok=True)
        if shutil.which("ssh-keygen") is None:
            raise DaemonError("sshd needs ssh-keygen for the lab keys, which is not installed "
                              "(Debian package 'openssh-client'; the README's first command installs it)")
        for name in (HOST_KEY, USER_KEY):
            if not (keys / name).exists():
                proc = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"siteproof-{name}", "-f", str(keys / name)],
                                      capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    raise DaemonError(f"ssh-keygen for {keys / name} failed: {proc.stderr.strip()}")
        (keys / "authorized_keys.new").write_text((keys / f"{USER_KEY}.pub").read_text())
        (keys / "authorized_keys.new").replace(keys / "authorized_keys")
        return keys


@register
class Sshd(Daemon):
    kind = "sshd"
    binary = "sshd"
    package = "openssh-server"

    tools = {"ssh-keygen": "openssh-client"}
    # An empty home for root in sshd's own mount namespace: a command over SSH runs in root's
    # shell, which (run by sshd) reads root's ~/.bashrc; the machine's must not shape (or
    # stall) the lab. The keys it needs are the lab's (options below).
    private_dirs = ("/root",)

    @property
    def keys(self) -> Path:
        return self.context.shared_dir / KEY_DIR

    def prepare(self) -> None:
        # sshd needs /run/sshd on the host (a path compiled in, outside any namespace). The lab
        # records that it uses it; if it makes it, a mark inside says so, and the last lab to go
        # removes it (see HOST_PATHS).
        with host_paths_lock():  # a lab going down at this moment must not remove it under us
            with open(self.context.lab_dir / HOST_PATHS, "a") as fh:
                fh.write(f"{PRIVSEP_DIR}\n")
            try:
                PRIVSEP_DIR.mkdir(mode=0o755)
                (PRIVSEP_DIR / CREATED_MARK).touch()
            except FileExistsError:
                pass
        lab_keys(self.keys)

    def command(self) -> list[str]:
        # sshd re-executes itself per connection and so needs its absolute path.
        return [
            self.check_installed(), "-D", "-e", "-f", str(self.config_path),
            "-o", f"HostKey={self.keys / HOST_KEY}",
            "-o", f"AuthorizedKeysFile={self.keys / 'authorized_keys'}",
            "-o", f"PidFile={self.rundir / 'sshd.pid'}",
            *self.extra_args,
        ]

    def is_ready(self) -> bool:
        return "Server listening on" in self.log_of_this_run()


@register
class MgmtSshd(Sshd):
    """The management sshd of a lab played as a site (backends/netns/as_site.py): on its own
    port and address, beside any sshd the node runs as a service under test."""

    kind = "mgmt-sshd"

    def command(self) -> list[str]:
        # Every command a client asks for is logged first (siteproof.cmdlog), then run as asked.
        # The system's python3 runs the file: sshd's private /root hides a python under /root.
        log = self.rundir / COMMANDS_FILE
        python = shutil.which("python3", path="/usr/bin:/bin") or "python3"
        return [*super().command(), "-o", f"ForceCommand={python} {cmdlog.__file__} {log}"]
