"""The NAT area's lab daemons: the tracker (keymaster and GW_Tracker) on the boot node, the
outside whoami server, and conntrackd on the gateways."""

from __future__ import annotations

import json

from siteproof.daemons.base import Daemon, PythonDaemon, register
from siteproof.daemons.sshd import KEY_DIR, USER_KEY, lab_keys

STATE_FILE = "state.json"


@register
class NatTracker(PythonDaemon):
    kind = "nattracker"
    module = "siteproof.areas.nat.tracker"
    ready_budget = "nat_tracker_ready"  # it routes every compute over SSH before it says ready
    # Its clean stop closes its SSH masters, which the launcher stops and reaps anyway (they
    # detach, and come back to it as orphans); and it hears SIGTERM only after its round's
    # sleep (up to its interval), so a grace would only be waited out.
    stop_grace = 0.0
    tools = {"ssh": "openssh-client"}

    def is_ready(self) -> bool:
        """Ready when its state file says every compute is routed through its assigned gateway
        (its log's "ready" line also comes when its start_timeout ran out with some not)."""
        try:
            state = json.loads((self.rundir / STATE_FILE).read_text())
            assignment, applied = state["assignment"], state["applied"]
        except (OSError, ValueError, KeyError, TypeError):
            return False  # not written yet (it is written once the first pass is over)
        return bool(assignment) and all(gateway is not None and applied.get(compute) == gateway
                                        for compute, gateway in assignment.items())

    def prepare(self) -> None:
        # A state file of an earlier run must not be read as this run's readiness.
        (self.rundir / STATE_FILE).unlink(missing_ok=True)
        # The lab's user key reaches the computes' and gateways' sshd; a site's config names its own.
        keys = lab_keys(self.context.shared_dir / KEY_DIR)
        config = json.loads(self.config_path.read_text())
        config["state_file"] = str(self.rundir / STATE_FILE)
        config["ssh"] = ["ssh", "-i", str(keys / USER_KEY), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                         "-o", f"UserKnownHostsFile={self.rundir / 'known_hosts'}", "-o", "LogLevel=ERROR",
                         # The lab's own keys on the lab's own wires: a classical key exchange, whose
                         # keys cost a tenth of the post-quantum default's (measured 0.23 -> 0.14 s per
                         # first connection, which the tracker makes to every compute at start).
                         "-o", "KexAlgorithms=curve25519-sha256",
                         "-o", f"ControlPath={self.rundir}/cm-%h",
                         "-o", f"ConnectTimeout={max(1, int(config.get('command_timeout', 1)))}",
                         "-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=2", "-l", "root"]
        config["ssh_multiplex"] = True  # one connection per host, made by the tracker (ControlPath above)
        self.config_path.write_text(json.dumps(config, indent=1))


@register
class Whoami(PythonDaemon):
    kind = "whoami"
    module = "siteproof.areas.nat.whoami"


@register
class Conntrackd(Daemon):
    """conntrackd (conntrack-tools): the gateway's state exposed (and, on a failover pair,
    synchronised). Its socket, lock and log are the lab's; it never logs to syslog."""

    kind = "conntrackd"
    binary = "conntrackd"
    package = "conntrackd"
    tools = {"conntrack": "conntrack"}

    def command(self) -> list[str]:
        return [self.check_installed(), "-C", str(self.config_path)]

    def is_ready(self) -> bool:
        return (self.rundir / "conntrackd.ctl").exists() and "initialization completed" in self.log_of_this_run()
