"""Real sites: hosts from an inventory file, reached by testinfra over SSH.

Read-only unless the run allows changes (--allow-disruptive): only then does this backend offer
traffic counters (an nft table of siteproof's own, removed afterwards) and, on the hosts the
inventory names faultable, faults (siteproof.backends.sitefaults); tests that need either are
otherwise skipped with that reason, and every change helper refuses (siteproof.readonly).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from testinfra.host import Host

from siteproof.backends.background import REMOTE_SCRIPT, STOP_SCRIPT, WHICH_SCRIPT, Background, open_outputs, remote_pid
from siteproof.backends.base import FAULTS, TRAFFIC_COUNTERS, MissingCapability
from siteproof.backends.sitefaults import FaultPolicy, SiteFaults
from siteproof.backends.sshbound import SiteTimeout, bounded_host
from siteproof.budgets import Budgets, check_names
from siteproof.cmdline import command_line
from siteproof.errors import SiteUnreachable, TopologyError
from siteproof.site import Site
from siteproof.topology import schema
from siteproof.topology.loader import check_site_parameters
from siteproof.topology.yamlfile import load_yaml_text
from siteproof.vrrp.config import host_addresses

T = TypeVar("T")
REACH_MARGIN_S = 5.0  # beyond a command's own limit: ssh's connection set-up and teardown


class SshBackend:
    kind = "ssh"
    capabilities: frozenset[str] = frozenset()
    shared_dir: Path | None = None

    def __init__(self, hosts: dict[str, Host], dirs: dict[str, dict[str, str]],
                 faults: FaultPolicy | None = None, allow_changes: bool = False,
                 services: dict[str, list[str]] | None = None) -> None:
        self._hosts = hosts
        self._dirs = dirs
        self._services = services or {}
        # Faults only where the inventory names faultable hosts and the run allows changes.
        self.faults = SiteFaults(self, faults) if faults is not None else None
        self.capabilities = frozenset({TRAFFIC_COUNTERS} if allow_changes else set()) | (
            frozenset({FAULTS}) if self.faults is not None else frozenset())

    def nodes(self) -> list[str]:
        return sorted(self._hosts)

    def host(self, node: str) -> Host:
        return self._hosts[node]

    def target(self, node: str) -> str:
        """The host name or address siteproof reaches the node by (its SSH target)."""
        return str(self._hosts[node].backend.host.name)

    def run(self, node: str, *argv: str, check: bool = True, timeout: float = 30,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        # The remote `timeout` ends the command on the host; the local bound ends a host that
        # stops answering altogether (siteproof.backends.sshbound).
        command = command_line("timeout", "-k", "2", f"{timeout:g}", *argv, stdin=stdin)
        with self._hosts[node].backend.bound(timeout + REACH_MARGIN_S):
            result = self._hosts[node].run(command)
        if result.rc == 124:
            raise SiteTimeout(f"site host {node}: {shlex.join(argv)} did not finish within {timeout:g} s")
        proc = subprocess.CompletedProcess(list(argv), result.rc, result.stdout, result.stderr)
        if check:
            proc.check_returncode()
        return proc

    def read_file(self, node: str, path: str) -> str:
        return self._hosts[node].file(path).content_string

    def addresses(self, nodes: list[str]) -> dict[str, set[str]]:
        with ThreadPoolExecutor(max_workers=8) as pool:
            return dict(zip(nodes, pool.map(lambda n: host_addresses(self._hosts[n]), nodes), strict=True))

    def daemon_dir(self, node: str, kind: str) -> Path | None:
        found = self._dirs.get(node, {}).get(kind)
        return Path(found) if found else None

    def services(self, node: str) -> list[str]:
        """The daemon kinds the inventory lists for the host (its configs and dirs)."""
        return sorted(set(self._services.get(node, [])) | set(self._dirs.get(node, {})))

    def start(self, node: str, argv: list[str], stdout: Path, stderr: Path, ttl: float) -> Background:
        """Over its own ssh, under the host's `timeout ttl` (a runner that dies leaves nothing
        running there past it); stopped by a SIGINT sent on the host to the pid it reported."""
        out, err = open_outputs(stdout, stderr)
        try:
            proc = self._hosts[node].backend.popen(self._bounded(argv, ttl), out, err)
        finally:
            os.close(out)
            os.close(err)
        return self._background(node, argv, proc, stdout, stderr)

    def start_piped(self, node: str, argv: list[str], stderr: Path, ttl: float) -> Background:
        """As start, with the command's stdin and stdout carried by its ssh as pipes here."""
        err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            proc = self._hosts[node].backend.popen(self._bounded(argv, ttl), subprocess.PIPE, err, stdin=subprocess.PIPE)
        finally:
            os.close(err)
        return self._background(node, argv, proc, stderr, stderr)

    @staticmethod
    def _bounded(argv: list[str], ttl: float) -> str:
        """The command line run on the host: argv under `timeout ttl`, its pid said first on stderr."""
        return command_line("sh", "-c", REMOTE_SCRIPT, "siteproof-start", f"{ttl:g}", *argv)

    def _background(self, node: str, argv: list[str], proc: subprocess.Popen[bytes], stdout: Path,
                    stderr: Path) -> Background:
        def interrupt() -> None:
            pid = remote_pid(stderr)
            if pid is not None:
                self.run(node, "sh", "-c", STOP_SCRIPT, "siteproof-stop", str(pid), check=False, timeout=10)

        return Background(node, list(argv), proc, stdout, stderr, interrupt)

    def has_program(self, node: str, program: str) -> bool:
        found = self.run(node, "sh", "-c", WHICH_SCRIPT, "siteproof-which", program, check=False, timeout=10)
        return found.returncode == 0 and bool(found.stdout.strip())

    def socket(self, node: str, family: int, kind: int) -> object:
        raise MissingCapability("the ssh backend cannot open sockets inside a site host")

    def call_in(self, node: str, fn: Callable[[], T]) -> T:
        raise MissingCapability("the ssh backend cannot run code inside a site host")

    # Fault primitives (siteproof.backends.sitefaults), each with a dead-man switch on its host.
    def _site_faults(self) -> SiteFaults:
        if self.faults is None:
            raise MissingCapability("the inventory names no faultable hosts (faults:), or the run does not allow changes")
        return self.faults

    def data_interfaces(self, node: str) -> list[str]:
        return self._site_faults().data_interfaces(node)

    def clock_offset(self, node: str) -> float:
        return self._site_faults().clock_offset(node)

    def last_fault_at(self) -> float | None:
        return self.faults.applied_at if self.faults is not None else None

    def set_link(self, node: str, ifname: str, up: bool) -> None:
        self._site_faults().set_link(node, ifname, up)

    def add_table(self, node: str, family: str, table: str, body: str) -> None:
        self._site_faults().add_table(node, family, table, body)

    def delete_table(self, node: str, family: str, table: str) -> None:
        self._site_faults().delete_table(node, family, table)

    def power_off(self, node: str) -> str:
        return self._site_faults().power_off(node)

    def power_on(self, node: str) -> None:
        self._site_faults().power_on(node)

    def freeze(self, node: str) -> None:
        self._site_faults().freeze(node)

    def thaw(self, node: str) -> None:
        self._site_faults().thaw(node)

    def crash_daemon(self, node: str, kind: str) -> str:
        return self._site_faults().crash_daemon(node, kind)

    def stop_daemons(self, nodes: list[str], kind: str) -> None:
        self._site_faults().stop_daemons(nodes, kind)

    def start_daemon(self, node: str, kind: str) -> None:
        self._site_faults().start_daemon(node, kind)

    def start_stopped(self, nodes: list[str], kind: str) -> None:
        self._site_faults().start_stopped(nodes, kind)


_SSH_TARGET = re.compile(schema.SSH_TARGET_PATTERN)


def check_ssh_targets(doc: Any, file: str) -> None:
    """Every host's `ssh` is [user@]host[:port]: never an ssh option (a leading '-': ssh would
    run a ProxyCommand as root here), never a password (keys come from ssh_config or an agent).
    The value is not repeated in the message: it may hold a secret."""
    hosts = doc.get("hosts") if isinstance(doc, dict) else None
    for name, spec in (hosts.items() if isinstance(hosts, dict) else []):
        target = spec.get("ssh") if isinstance(spec, dict) else None
        if not isinstance(target, str):
            continue  # the schema names what is missing or mistyped
        key = f"hosts.{name}.ssh"
        if target.startswith("-"):
            raise TopologyError(file, key, "an SSH target may not start with '-' (ssh would read it as an option)")
        if ":" in target.split("@", 1)[0] and "@" in target:
            raise TopologyError(file, key, "a password in the SSH target is refused: give keys through ssh_config or an agent")
        host = target.split("@", 1)[-1]
        port = host.split("]", 1)[1].lstrip(":") if host.startswith("[") and "]" in host else host.partition(":")[2]
        if not _SSH_TARGET.match(target) or (port and not 1 <= int(port) <= 65535):
            raise TopologyError(file, key, "not an SSH target [user@]host[:port] (letters, digits, '.', '-', '_'; "
                                           "an IPv6 address in brackets; no spaces or shell characters)")


def check_inventory(doc: Any, label: str) -> tuple[dict[str, Any], dict[str, float]]:
    """An inventory document checked before any host is reached: SSH targets, the schema (labels
    typed per role), the parameters and budgets. Returns the typed parameters and budgets."""
    check_ssh_targets(doc, label)  # before the schema, whose messages would echo a password
    schema.validate(doc, schema.INVENTORY, label)
    return check_site_parameters(dict(doc.get("parameters") or {}), label), check_names(doc.get("budgets") or {}, f"{label}: budgets")


def inventory_site(path: str | Path, run_budgets: Mapping[str, float] | None = None, connect_timeout: int = 10,
                   allow_changes: bool = False, fresh_connections: bool = False) -> Site:
    """A real site from an inventory file; every host is checked reachable first. Read-only
    unless changes are allowed (--allow-disruptive): every change helper then refuses."""
    path = Path(path)
    if not path.is_file():
        raise TopologyError(str(path), "", "inventory file not found")
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise TopologyError(str(path), "", f"not UTF-8 text (byte {exc.start}): an inventory is a YAML file") from None
    doc = load_yaml_text(text, str(path))
    parameters, inventory_budgets = check_inventory(doc, str(path))
    ssh_config = str(Path(doc["ssh_config"]).expanduser()) if doc.get("ssh_config") else None
    hosts = {name: bounded_host(spec["ssh"], connect_timeout=connect_timeout, ssh_config=ssh_config,
                                fresh_connection=fresh_connections) for name, spec in doc["hosts"].items()}

    def reachable(name: str) -> str:
        try:
            # Connect, key exchange and a first command: a host that stalls after its banner
            # is down too, within the connect timeout and a margin.
            with hosts[name].backend.bound(connect_timeout + REACH_MARGIN_S):
                result = hosts[name].run("true")
        except SiteTimeout:
            return f"no answer within {connect_timeout + REACH_MARGIN_S:g} s (connected, then stalled?)"
        except RuntimeError as exc:  # testinfra raises on ssh's own failure (exit 255)
            found = getattr(exc.args[0], "stderr", "") if exc.args else ""
            return str(found or exc).strip()
        return "" if result.rc == 0 else (result.stderr or result.stdout).strip() or f"exit {result.rc}"

    with ThreadPoolExecutor(max_workers=16) as pool:  # every host at once: one slow host costs one timeout
        problems = dict(zip(hosts, pool.map(reachable, hosts), strict=True))
    down = {n: why for n, why in problems.items() if why}
    if down:
        raise SiteUnreachable(f"{path}: {len(down)} site host(s) unreachable:\n" + "\n".join(
            f"  hosts.{n} (ssh://{doc['hosts'][n]['ssh']}): {why.splitlines()[-1] if why else '?'}" for n, why in sorted(down.items())))
    return Site(
        name=doc["name"],
        labels={n: dict(s["labels"]) for n, s in doc["hosts"].items()},
        parameters=parameters,
        budgets=Budgets(parameters, inventory=inventory_budgets, run=run_budgets),
        backend=SshBackend(hosts, {n: dict(s.get("dirs") or {}) for n, s in doc["hosts"].items()},
                           faults=FaultPolicy.from_inventory(doc["faults"], {n: dict(s["labels"]) for n, s in doc["hosts"].items()})
                           if allow_changes and doc.get("faults") else None, allow_changes=allow_changes,
                           services={n: sorted(s.get("configs") or {}) for n, s in doc["hosts"].items()}),
        configs={n: dict(s.get("configs") or {}) for n, s in doc["hosts"].items()},
        read_only=not allow_changes,
    )
