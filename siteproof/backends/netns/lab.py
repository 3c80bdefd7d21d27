"""A lab: a topology built in network namespaces on netlink, with its daemons.

The netns backend: it implements siteproof.backends.base.Backend with every capability.
Every link is created inside the lab's own namespaces (a veth is made in the switch
namespace with its peer placed straight into the node's), so nothing of a lab ever
exists in the root namespace, not even for a moment.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from testinfra.host import Host

from siteproof import labfiles, nft
from siteproof.backends.background import Background, open_outputs
from siteproof.backends.base import CAPABILITIES, MissingCapability
from siteproof.backends.netns import lag, lagwatch, registry
from siteproof.backends.netns import namespaces as netns
from siteproof.backends.netns.host import netns_host
from siteproof.backends.netns.launcher import Launched, Launcher, LauncherGone
from siteproof.backends.netns.launcher import request as launch_request
from siteproof.backends.netns.nodeexec import run_exec
from siteproof.daemons import Daemon, DaemonContext, daemon_kinds
from siteproof.daemons.base import Process, PythonEntry, find_binary
from siteproof.errors import DaemonError, LabError
from siteproof.topology.model import Node, Route, Topology
from siteproof.wait import WaitTimeout, wait_until

IFA_F_NODAD = 0x02
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40
FREEZE_TABLE = "siteproof_freeze"  # a frozen node's netdev table
PREPARE_THREADS = 4  # file creation waits on the filesystem more than on the interpreter
T = TypeVar("T")


NO_POWER = "a netns lab has no power to cut (its nodes share this machine's kernel)"


class Lab:
    """A running (or being built) lab; use as a context manager or call up()/down()."""

    kind = "netns"
    capabilities = frozenset(CAPABILITIES)

    def __init__(self, topology: Topology, owner_kind: str = "pytest", lab_id: str | None = None) -> None:
        self.topology = topology
        self.id = lab_id or registry.new_lab_id()
        self.owner_kind = owner_kind
        self.state: registry.LabState | None = None
        self.worker: netns.NetnsWorker | None = None
        self.launcher: Launcher | None = None
        self.daemons: dict[tuple[str, str], Daemon] = {}
        self.timings: dict[str, float] = {}
        self.down_links: set[tuple[str, str]] = set()
        self.lag_watch: lagwatch.LagWatch | None = None
        self._lag_lock = threading.Lock()
        self.left: list[str] = []  # what the last teardown could not remove
        self._hosts: dict[str, Host] = {}

    # --- names ------------------------------------------------------------------
    def ns(self, node: str) -> str:
        if self.topology.nodes[node].kind == "bridge":
            return self.switch_ns
        return registry.namespace_name(self.id, node)

    @property
    def switch_ns(self) -> str:
        return registry.switch_namespace(self.id)

    @property
    def dir(self) -> Path:
        return registry.STATE_ROOT / self.id

    def node_dir(self, node: str) -> Path:
        return self.dir / "nodes" / node

    @property
    def shared_dir(self) -> Path:
        return self.dir / "shared"

    # --- the backend interface ---------------------------------------------------------
    def nodes(self) -> list[str]:
        return [n.name for n in self.topology.hosts()]

    def host(self, node: str) -> Host:
        if node not in self._hosts:
            self._hosts[node] = netns_host(self.ns(node), node)
        return self._hosts[node]

    def run(self, node: str, *argv: str, check: bool = True, timeout: float = 30,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.ns(node), *argv], input=stdin, capture_output=True,
                              text=True, check=check, timeout=timeout)

    def read_file(self, node: str, path: str) -> str:
        return Path(path).read_text()  # a lab's files live on this machine

    def start(self, node: str, argv: list[str], stdout: Path, stderr: Path, ttl: float) -> Background:
        """In the node's namespace, in its own session (signals reach it and nothing else); the
        lab's teardown ends it if the test does not, so ttl is not needed here."""
        out, err = open_outputs(stdout, stderr)
        try:
            proc = self.spawn(node, list(argv), cwd=stdout.parent, stdout=out, stderr=err)
        finally:
            os.close(out)
            os.close(err)
        return Background(node, list(argv), proc, stdout, stderr)

    def start_piped(self, node: str, argv: list[str], stderr: Path, ttl: float) -> Background:
        """As start, with stdin and stdout as pipes here."""
        err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            proc = subprocess.Popen(["ip", "netns", "exec", self.ns(node), *argv], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=err, start_new_session=True, cwd=stderr.parent)
        finally:
            os.close(err)
        return Background(node, list(argv), proc, stderr, stderr)

    def has_program(self, node: str, program: str) -> bool:
        return find_binary(program) is not None  # the nodes share this machine's programs

    def daemon_dir(self, node: str, kind: str) -> Path | None:
        return self.node_dir(node) / kind

    def addresses(self, nodes: list[str]) -> dict[str, set[str]]:
        """Every address on each node, one netlink dump each.

        In-process: polling 24 gateways through `ip netns exec` forks dozens of processes per
        poll, and on a small machine that starves keepalived until its timers slip.
        """
        assert self.worker
        return {n: self.worker.netlink(self.ns(n), lambda ipr: {a.get("address") for a in ipr.addr("dump")}) for n in nodes}

    def spawn(self, node: str, argv: list[str], cwd: Path, stdout: IO[bytes] | int | None = None,
              stderr: IO[bytes] | int | None = subprocess.STDOUT) -> subprocess.Popen[bytes]:
        """Start a probe's process in a node (iperf3, tcpdump: the caller may read its pipes), in
        its own session, so that signals reach it and its children and nothing else. Daemons
        start through spawn_daemon instead."""
        return subprocess.Popen(["ip", "netns", "exec", self.ns(node), *argv], stdin=subprocess.DEVNULL, stdout=stdout,
                                stderr=stderr, start_new_session=True, cwd=cwd)

    def spawn_daemon(self, node: str, argv: list[str], cwd: Path, log: Path, entry: PythonEntry | None,
                     private: tuple[str, ...] = ()) -> Process:
        """Start a daemon in a node through the lab's launcher (fork, setns, exec; a Python
        daemon forked from a process that has imported it already), with a private tmpfs
        over each directory in `private`."""
        return self.spawn_daemons([(node, argv, cwd, log, entry, private)])[0]

    def spawn_daemons(self, wanted: list[tuple[str, list[str], Path, Path, PythonEntry | None, tuple[str, ...]]]) -> list[Process]:
        """spawn_daemon for many, in one request to the launcher (a wave of 120 login daemons
        paid a round trip each)."""
        if self.launcher is None:
            self.launcher = Launcher(self.switch_ns, self.dir / "launcher.log")
        requests = []
        for node, argv, cwd, log, entry, private in wanted:
            target = netns.path(self.ns(node))
            if entry is not None:
                requests.append(launch_request(target, entry.argv, cwd, log, entry.function, private))
                continue
            program = argv[0] if os.path.isabs(argv[0]) else find_binary(argv[0])
            if program is None:
                raise DaemonError(f"node {node}: {argv[0]!r} is not installed")
            requests.append(launch_request(target, [program, *argv[1:]], cwd, log, None, private))
        return list(self.launcher.start_many(requests))

    def nft_runner(self, node: str) -> nft.Runner:
        def run(argv: list[str], stdin: str) -> tuple[int, str, str]:
            proc = self.run(node, *argv, check=False, stdin=stdin)
            return proc.returncode, proc.stdout, proc.stderr

        return run

    # --- bring-up -----------------------------------------------------------------
    def __enter__(self) -> Lab:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self, start_daemons: bool = True) -> Lab:
        t0 = time.perf_counter()
        preflight(self.topology)  # before anything exists
        self.state = registry.claim(self.id, self.topology.name, self.topology.variant, self.owner_kind)
        self.worker = netns.NetnsWorker()
        try:
            # Phase times (cumulative within the network build) for the benchmarks.
            self._create_namespaces()
            self.timings["namespaces"] = time.perf_counter() - t0
            registry.checkpoint(self.state, "namespaces")
            self._create_links()
            self.timings["links"] = time.perf_counter() - t0 - self.timings["namespaces"]
            self._configure_hosts()
            self.timings["network"] = time.perf_counter() - t0
            self.timings["configure"] = self.timings["network"] - self.timings["namespaces"] - self.timings["links"]
            executed = [node for node in self.topology.hosts() if node.exec]
            for node in executed:
                run_exec(self.id, self.ns(node.name), node, self.node_dir(node.name))
            self._wait_dad([node.name for node in executed])
            if start_daemons:
                self.start_daemons()
            self.timings["up"] = time.perf_counter() - t0
            registry.checkpoint(self.state, "up")
        except BaseException:
            self.down()
            raise
        return self

    def _wait_dad(self, nodes: list[str]) -> None:
        """Hand over addresses that work: an exec command adds IPv6 addresses with DAD (the
        lab's own are nodad), and one still tentative cannot be used or reached."""
        def unsettled() -> dict[str, list[str]]:
            assert self.worker
            return {n: found for n in nodes if (found := self.worker.netlink(self.ns(n), _dad_unsettled))}
        if not nodes:
            return
        try:
            wait_until(unsettled, "address_dad", expected="no exec-added address tentative or failed DAD",
                       accept=lambda left: not left)
        except WaitTimeout as exc:
            raise LabError(f"lab {self.topology.name}: addresses added by exec commands did not pass duplicate "
                           f"address detection: {exc.last}") from None

    def _create_namespaces(self) -> None:
        assert self.worker and self.state
        names = [self.switch_ns] + [self.ns(n.name) for n in self.topology.hosts()]
        self.state.namespaces = names
        self.state.save()
        self.worker.create_all(names)

    def _create_links(self) -> None:
        assert self.worker
        topo = self.topology

        def switch_side(ipr: IPRoute) -> None:
            _write_sysctl("net/ipv6/conf/all/disable_ipv6", "1")  # the switch forwards, it speaks nothing
            ipr.link("set", index=1, state="up")
            masters = {}
            for bridge in topo.bridges():
                ipr.link("add", ifname=bridge.name, kind="bridge", br_forward_delay=0, br_mcast_snooping=0, state="up")
                masters[bridge.name] = ipr.link_lookup(ifname=bridge.name)[0]
            for link in topo.links:
                a, b = link.a, link.b
                if topo.nodes[a.node].kind == "linux":
                    a, b = b, a
                if topo.nodes[a.node].kind == "bridge":
                    # One request per port: the veth made with its peer in the host, enslaved
                    # to the bridge and up (the kernel takes master and flags at creation).
                    peer_ns = netns.path(self.ns(b.node))
                    ipr.link("add", ifname=a.ifname, kind="veth", peer={"ifname": b.ifname, "net_ns_fd": peer_ns},
                             master=masters[a.node], state="up")
                    if a.ifname in topo.nodes[a.node].isolated_ports:
                        ipr.brport("set", index=ipr.link_lookup(ifname=a.ifname)[0], isolated=1)

        def host_pair(link_a: Any, link_b: Any) -> None:
            def make(ipr: IPRoute) -> None:
                ipr.link(
                    "add",
                    ifname=link_a.ifname,
                    kind="veth",
                    peer={"ifname": link_b.ifname, "net_ns_fd": netns.path(self.ns(link_b.node))},
                )

            self.worker.netlink(self.ns(link_a.node), make)  # type: ignore[union-attr]

        try:
            self.worker.netlink(self.switch_ns, switch_side)
            for link in topo.links:
                if topo.nodes[link.a.node].kind == topo.nodes[link.b.node].kind == "linux":
                    host_pair(link.a, link.b)
        except NetlinkError as exc:
            raise LabError(f"lab {self.id}: creating links failed: {exc}") from exc

    def _configure_hosts(self) -> None:
        assert self.worker
        hosts = self.topology.hosts()
        # Every node's netlink work queued on the worker at once; the node folders are made
        # while it runs (at 400 hosts they cost as much as a fifth of the configuring).
        queued = [self.worker.netlink_later(self.ns(node.name), lambda ipr, node=node: _configure_node(ipr, node))
                  for node in hosts]
        nodes_dir = self.dir / "nodes"
        nodes_dir.mkdir(parents=True, exist_ok=True)
        for node in hosts:
            with contextlib.suppress(FileExistsError):
                os.mkdir(nodes_dir / node.name)
        for node, done in zip(hosts, queued, strict=True):
            try:
                done.result()
            except (NetlinkError, OSError) as exc:
                for later in queued:
                    later.cancel()
                raise LabError(f"lab {self.id}: configuring node {node.name} failed: {exc}") from exc
        for node in hosts:
            if node.nftables:
                nft.load(self.nft_runner(node.name), node.nftables, f"lab {self.id}: node {node.name}")
        for bridge in self.topology.bridges():
            if bridge.lag_members:
                self._load_lag(bridge.name)
        self._watch_lags()
        labfiles.write_all(self.topology, self.node_dir)

    def _lag_live(self, bridge: str) -> list[str]:
        """A LAG's members whose link is up: neither end pulled by the lab, and carrier on the
        bridge's port (its far end may have been set down by a fault over SSH)."""
        topo = self.topology
        assert self.worker
        carrier = self.worker.netlink(self.ns(bridge), lambda ipr: {
            link.get_attr("IFLA_IFNAME"): link.get_attr("IFLA_CARRIER") for link in ipr.get_links()})
        return [m for m in topo.nodes[bridge].lag_members if (bridge, m) not in self.down_links
                and (lambda far: (far.node, far.ifname) not in self.down_links)(topo.peer_of(bridge, m))
                and carrier.get(m) != 0]

    def _load_lag(self, bridge: str) -> None:
        """(Re)write a bridge's LAG: spread over the members whose link is up."""
        topo = self.topology
        members = topo.nodes[bridge].lag_members
        ports = [e.ifname for link in topo.links for e in (link.a, link.b) if e.node == bridge and e.ifname not in members]
        mac = topo.nodes[bridge].lag_mac
        assert mac, f"{bridge}: a LAG without its MAC (the schema requires one)"
        with self._lag_lock:  # the lab's own cable pulls and the watcher's carrier changes, one at a time
            live = self._lag_live(bridge)
            nft.load(self.nft_runner(bridge), lag.ruleset(bridge, ports, live, mac), f"lab {self.id}: LAG of bridge {bridge}")

    def _watch_lags(self) -> None:
        bridges = [b.name for b in self.topology.bridges() if b.lag_members]
        if bridges and self.worker is not None:
            sockets = {b: self.worker.run(self.ns(b), lagwatch.link_events) for b in bridges}
            self.lag_watch = lagwatch.LagWatch(sockets, self._lag_live, self._load_lag)

    def create_daemons(self) -> None:
        """One Daemon object per configured daemon, none started."""
        kinds = daemon_kinds()
        for node in self.topology.hosts():
            context = DaemonContext(node.name, self.dir,
                                    lambda argv, cwd, log, entry, private, n=node.name:
                                    self.spawn_daemon(n, argv, cwd, log, entry, private),
                                    netns_of=self.ns)
            for kind, spec in node.daemons.items():
                self.daemons[(node.name, kind)] = kinds[kind](context, spec.config, spec.args)

    def start_daemons(self) -> None:
        """Start every daemon, in waves: a daemon starts once those it is `after` are ready."""
        self.create_daemons()
        t0 = time.perf_counter()
        for wave in self.topology.daemon_waves():
            self._start_together([self.daemons[key] for key in wave])
        self.timings["daemons_ready"] = time.perf_counter() - t0

    def restart_daemons(self, kind: str) -> None:
        """Stop every daemon of a kind, then start them all together (a clean election)."""
        chosen = [d for (_, k), d in self.daemons.items() if k == kind]
        for daemon in chosen:
            if daemon.frozen:
                daemon.thaw()
            daemon.terminate()
        # One shared exit budget for all of them, then SIGKILL for whoever is left.
        with contextlib.suppress(WaitTimeout):
            wait_until(lambda: not any(d.running() for d in chosen), "daemon_exit", expected=f"every {kind} exited")
        for daemon in chosen:
            if daemon.running():
                daemon.kill()
        self._start_together(chosen)

    def start_without_waiting(self, chosen: list[Daemon]) -> None:
        """Start all (spawned in one request to the launcher) and record them for the reaper;
        readiness is the caller's to wait for."""
        # Each daemon's files are written in parallel (creating a file costs 0.7 ms on this
        # machine's ext4; a wave of 75 daemons writes 150), except for daemons that read other
        # daemons' files as they prepare, which go one at a time, in order.
        def request(daemon: Daemon) -> tuple[str, list[str], Path, Path, PythonEntry | None, tuple[str, ...]]:
            return (daemon.node, *daemon.start_request())

        def started(daemon: Daemon, proc: Process) -> None:
            daemon.started(proc)
            self._record_process(daemon)  # each at once: the reaper knows it even if another's record fails

        with ThreadPoolExecutor(max_workers=PREPARE_THREADS) as pool:
            parallel = [d for d in chosen if not d.prepares_alone]
            requests = dict(zip(parallel, pool.map(request, parallel), strict=True))
            requests.update({d: request(d) for d in chosen if d.prepares_alone})
            list(pool.map(started, chosen, self.spawn_daemons([requests[d] for d in chosen])))
        assert self.state
        self.state.save()

    def _start_together(self, chosen: list[Daemon]) -> None:
        """Start all, record them for the reaper, then wait for each to be ready. Daemons whose
        timers run from their start go in a request of their own, ahead of the rest's files."""
        first = [d for d in chosen if d.timers_from_start]
        for group in (first, [d for d in chosen if not d.timers_from_start]):
            if group:
                self.start_without_waiting(group)
        for daemon in chosen:
            daemon.wait_ready()

    def _record_process(self, daemon: Daemon) -> None:
        assert self.state
        self.state.processes.append(
            {"node": daemon.node, "kind": daemon.kind, "pid": daemon.pid, "start": daemon.start_time}
        )

    def daemon(self, node: str, kind: str) -> Daemon:
        try:
            return self.daemons[(node, kind)]
        except KeyError:
            raise LabError(f"lab {self.id}: node {node} runs no {kind}") from None

    # --- operations used by faults and probes --------------------------------------
    def set_link(self, node: str, ifname: str, up: bool) -> None:
        """Set the switch (or peer) side of node:ifname up or down: a cable pull."""
        assert self.worker
        peer = self.topology.peer_of(node, ifname)

        def flip(ipr: IPRoute) -> None:
            index = ipr.link_lookup(ifname=peer.ifname)[0]
            ipr.link("set", index=index, state="up" if up else "down")

        self.worker.netlink(self.ns(peer.node), flip)
        (self.down_links.discard if up else self.down_links.add)((node, ifname))
        for end in (peer, self.topology.peer_of(peer.node, peer.ifname)):
            if end.ifname in self.topology.nodes[end.node].lag_members:
                self._load_lag(end.node)  # the fabric drops a member on loss of carrier

    # --- fault primitives (siteproof.faults) ---------------------------------------
    def data_interfaces(self, node: str) -> list[str]:
        return [i for i in self.topology.nodes[node].interfaces if i != "lo"]

    def last_fault_at(self) -> None:
        return None  # a lab's fault is one call: it takes effect when made

    def clock_offset(self, node: str) -> float:
        return 0.0  # the nodes share this machine's clock

    def crash_daemon(self, node: str, kind: str) -> str:
        return self.daemon(node, kind).crash()

    def stop_daemons(self, nodes: list[str], kind: str) -> None:
        chosen = [self.daemon(node, kind) for node in nodes]
        for d in chosen:
            d.terminate()
        for d in chosen:
            d.stop()

    def start_daemon(self, node: str, kind: str) -> None:
        self.daemon(node, kind).start()

    def start_stopped(self, nodes: list[str], kind: str) -> None:
        stopped = [d for d in (self.daemon(n, kind) for n in nodes) if not d.running()]
        for d in stopped:
            d.start(wait=False)
        for d in stopped:
            d.wait_ready()

    def power_off(self, node: str) -> str:
        raise MissingCapability(NO_POWER)

    def power_on(self, node: str) -> None:
        raise MissingCapability(NO_POWER)

    def add_table(self, node: str, family: str, table: str, body: str) -> None:
        nft.load(self.nft_runner(node), nft.own_table_script(family, table, body), f"table {family} {table} on {node}")

    def delete_table(self, node: str, family: str, table: str) -> None:
        name = nft.own_table(family, table)
        nft.load(self.nft_runner(node), f"delete table {name}\n", f"table {name} on {node}", check=False)

    def freeze(self, node: str) -> None:
        """Every process of the node SIGSTOPped and, since a namespace shares this machine's
        kernel (which would keep answering ARP and forwarding), its interfaces dropping
        everything at netdev ingress: from the network, a hung host."""
        chains = "".join(f"chain in_{i} {{ type filter hook ingress device {i} priority -500; policy drop; }}\n"
                         for i in self.topology.nodes[node].interfaces)
        nft.load(self.nft_runner(node), f"table netdev {FREEZE_TABLE} {{\n{chains}}}\n", f"freeze {node}")
        for daemon in self._daemons_of(node):
            daemon.frozen = True
        netns.kill_all_in(self.ns(node), signal.SIGSTOP)

    def thaw(self, node: str) -> None:
        # The network first: processes that wake to deaf interfaces would each declare every
        # peer dead and take over, a storm no real resumed host makes.
        nft.load(self.nft_runner(node), f"delete table netdev {FREEZE_TABLE}\n", f"thaw {node}", check=False)
        netns.kill_all_in(self.ns(node), signal.SIGCONT)
        for daemon in self._daemons_of(node):
            daemon.frozen = False

    def _daemons_of(self, node: str) -> list[Daemon]:
        return [d for (n, _), d in self.daemons.items() if n == node]

    def call_in(self, node: str, fn: Callable[[], T]) -> T:
        """Call fn inside the node's namespace (on the lab's netns worker) and return its result."""
        assert self.worker
        return self.worker.run(self.ns(node), fn)

    def socket(self, node: str, family: int, kind: int) -> socket.socket:
        """A socket that lives in the node's namespace (usable from any thread)."""
        assert self.worker
        return self.worker.run(self.ns(node), lambda: socket.socket(family, kind))

    # --- teardown -----------------------------------------------------------------
    def down(self) -> dict[str, Any]:
        """Tear everything down; what could not be removed is in result["left"] (and self.left),
        kept on record for `siteproof reap`."""
        self._stop_lag_watch()
        # destroy() signals every process of the lab at once (SIGTERM, then SIGKILL):
        # much faster than stopping daemons one by one. Frozen ones must hear it.
        for daemon in self.daemons.values():
            if daemon.frozen:
                daemon.thaw()
        t0 = time.perf_counter()
        if self.launcher is not None:
            # The launcher stops and reaps its own daemons first (and is then told to go): left
            # to init, their exits would be collected on init's schedule, not ours.
            grace = {d.proc.pid: d.stop_grace for d in self.daemons.values() if isinstance(d.proc, Launched)}
            with contextlib.suppress(LauncherGone, OSError):
                self.launcher.stop_all(grace)
            self.launcher.close()
            self.launcher = None
        result = registry.destroy(self.id)
        self.timings["down"] = time.perf_counter() - t0
        self.left = result["left"]
        for daemon in self.daemons.values():
            daemon.reap_exit()  # our children: collect them, or they stay zombies
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        return result

    def _stop_lag_watch(self) -> None:
        if self.lag_watch is not None:
            self.lag_watch.close()
            self.lag_watch = None


def _dad_unsettled(ipr: IPRoute) -> list[str]:
    return [f"{a.get_attr('IFA_ADDRESS')} ({'dadfailed' if flags & IFA_F_DADFAILED else 'tentative'})"
            for a in ipr.addr("dump") if (flags := a.get_attr("IFA_FLAGS") or a["flags"]) & (IFA_F_TENTATIVE | IFA_F_DADFAILED)]


def _write_sysctl(key: str, value: str) -> None:
    # Resolved by the calling thread's namespace: only ever called on the netns worker.
    with open(f"/proc/sys/{key}", "w") as fh:
        fh.write(value)


def _configure_node(ipr: IPRoute, node: Node) -> None:
    ipr.link("set", index=1, state="up")
    for key, value in node.sysctls.items():
        _write_sysctl(key.replace(".", "/"), value)
    for ifname, spec in node.interfaces.items():
        index = ipr.link_lookup(ifname=ifname)[0]
        for addr in spec.addresses:
            flags = IFA_F_NODAD if addr.version == 6 else 0
            ipr.addr("add", index=index, address=str(addr.ip), prefixlen=addr.network.prefixlen, flags=flags)
        # MTU, MAC and up in one request.
        ipr.link("set", index=index, state="up", **({"mtu": spec.mtu} if spec.mtu else {}),
                 **({"address": spec.mac} if spec.mac else {}))
    for route in node.routes:
        ipr.route("add", **_route_args(ipr, route))
    for rule in node.rules:
        for family in (socket.AF_INET, socket.AF_INET6):
            ipr.rule("add", family=family, fwmark=rule.fwmark, table=rule.table, priority=rule.priority)


def _route_args(ipr: IPRoute, route: Route) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if route.dst in ("default", "default6"):
        args["dst"] = "default"
        args["family"] = socket.AF_INET6 if route.family == 6 else socket.AF_INET
    else:
        net = ipaddress.ip_network(route.dst)
        args["dst"] = str(net)
        args["family"] = socket.AF_INET6 if net.version == 6 else socket.AF_INET
    if route.type == "local":
        args["type"] = "local"
        args["table"] = 255  # the local table, where the kernel keeps its own local routes
        args["scope"] = 254  # host, as `ip route add local` sets it
    if route.table is not None:
        args["table"] = route.table
    if route.dev:
        args["oif"] = ipr.link_lookup(ifname=route.dev)[0]
    if len(route.via) == 1:
        args["gateway"] = route.via[0]
    elif route.via:
        # hops: the weight minus one, as the kernel stores it.
        weights = route.weights or (1,) * len(route.via)
        args["multipath"] = [{"gateway": hop, "hops": w - 1} for hop, w in zip(route.via, weights, strict=True)]
    return args


def preflight(topology: Topology) -> None:
    """Every program the lab will run is installed: one error naming each missing one, before
    any namespace exists."""
    kinds = daemon_kinds()
    missing: dict[str, list[str]] = {}
    needed = {kind for node in topology.hosts() for kind in node.daemons}
    for kind in sorted(needed):
        for program in kinds[kind].missing_programs():
            users = [n.name for n in topology.hosts() if kind in n.daemons]
            missing.setdefault(program, []).append(f"{kind} on {', '.join(users[:3])}{' ...' if len(users) > 3 else ''}")
    if any(n.nftables or n.lag_members for n in topology.nodes.values()) and find_binary("nft") is None:
        missing.setdefault("nft (Debian package 'nftables')", []).append("node rulesets and fabric LAGs")
    if missing:
        lines = "; ".join(f"{program} for {', '.join(users)}" for program, users in missing.items())
        raise DaemonError(f"topology {topology.name}: missing programs: {lines}. The README's first command installs them.")


def ensure_root() -> None:
    if os.geteuid() != 0:
        raise LabError("labs need root (network namespaces and netlink): run as root")
