"""The siteproof command: up, ls, exec, down, reap.

`siteproof up` builds a lab, prints its id and leaves a keeper process that owns it; the
keeper tears the lab down on SIGTERM (`siteproof down`), and if the keeper is killed the
next run (or `siteproof reap`) removes the lab.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from siteproof import __version__, cli_mutate, procs
from siteproof.backends.netns import registry
from siteproof.backends.netns.as_site import VANTAGE, as_site, inventory, wait_settled
from siteproof.backends.netns.converge import STEADY_FOR_S, wait_converged
from siteproof.backends.netns.lab import Lab, ensure_root
from siteproof.childrun import PLUGIN
from siteproof.errors import SITE_UNREACHABLE_EXIT, SiteproofError
from siteproof.kv import parse_pairs
from siteproof.topology import clab, clab_export, load_topology
from siteproof.topology.loader import PARAMETERS_FILE, PROFILES, TOPOLOGY_FILE, available_variants
from siteproof.wait import WaitTimeout

BUILTIN = Path(__file__).resolve().parent.parent / "topologies"


def _topology_path(name: str) -> Path:
    path = Path(name)
    if path.is_dir():
        return path
    if (BUILTIN / name).is_dir():
        return BUILTIN / name
    known = ", ".join(sorted(p.name for p in BUILTIN.iterdir() if p.is_dir())) if BUILTIN.is_dir() else "none"
    raise SiteproofError(f"topology {name!r}: no such folder, and not a built-in topology (built-in: {known})")


def cmd_up(args: argparse.Namespace) -> int:
    ensure_root()
    # Validate first: a mistake in the topology is reported before anything is touched.
    topo = load_topology(_topology_path(args.topology), parse_pairs(args.set, "--set"), args.variant, args.profile)
    if args.as_site:
        topo = as_site(topo)
    _report_stuck(registry.reap())
    read_end, write_end = os.pipe()
    # Ctrl-C is held back across the fork until each side is ready for it: one that came before
    # the caller waits (a loaded machine may run the keeper first) would end the caller and leave
    # the keeper building, holding the caller's stdout.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    pid = os.fork()
    if pid:  # the caller: wait for the keeper to report the lab up (or its error)
        os.close(write_end)
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # from here Ctrl-C stops the keeper
            message = ""
            with os.fdopen(read_end) as pipe:
                for line in pipe:  # progress as it comes (a long build or convergence), then the answer
                    if line.startswith(PROGRESS):
                        print(f"siteproof: {line[len(PROGRESS):].strip()}", file=sys.stderr, flush=True)
                    else:
                        message += line
        except KeyboardInterrupt:
            # Ctrl-C while the lab builds: the keeper (in its own session, so the terminal's
            # SIGINT misses it) is told to stop, and tears down what it built before we return.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
            print("siteproof: interrupted; the lab being built was torn down", file=sys.stderr)
            return 130
        if message.startswith("ok "):
            print(message[3:].strip())
            return 0
        print(f"siteproof: {message.strip() or 'lab keeper died'}", file=sys.stderr)
        return 1
    os.close(read_end)
    os.setsid()
    lab = Lab(topo, owner_kind="cli")
    stop = False
    building = True

    def on_term(signum: int, frame: object) -> None:
        nonlocal stop, building
        stop = True
        if building:  # stop the build where it is: Lab.up tears down what it made, then re-raises
            building = False
            raise BuildStopped

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    pipe = os.fdopen(write_end, "w")
    try:
        lab.up()
        building = False
    except BuildStopped:
        stop = True
    except SiteproofError as exc:
        _tell(pipe, str(exc))
        os._exit(1)
    except Exception as exc:  # noqa: BLE001 - the caller must hear why, not "keeper died"
        _tell(pipe, f"building the lab failed: {type(exc).__name__}: {exc}")
        os._exit(1)
    if not stop and not args.no_wait:
        building = True  # `down` or Ctrl-C while it converges stops it as during the build
        try:
            _converge(lab, args.as_site, pipe)
        except BuildStopped:
            stop = True
        building = False
    if stop:  # `siteproof down` or the caller's Ctrl-C while building: nothing may stay
        lab.down()
        _tell(pipe, f"lab {lab.id} was stopped while it was being built, and torn down")
        os._exit(1)
    said = f"ok {lab.id}\n"
    if args.as_site:
        # A lab is disposable: every host may be faulted, as many at once as the suites ask,
        # through the lab's own service manager (siteproof.backends.netns.labservice).
        hosts = [n.name for n in lab.topology.hosts() if n.name != VANTAGE]
        site = inventory(lab, lab.dir / "inventory.yml", faults={"hosts": hosts, "ttl": 300, "at_once": len(hosts)})
        said += (f"inventory: {site}\nrun the suites from the vantage: ip netns exec {lab.ns(VANTAGE)} "
                 f".venv/bin/pytest suites/ --site {site}\n")
    if not _tell(pipe, said):  # the caller is gone: nobody knows the lab's id
        lab.down()
        os._exit(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    while not stop:
        signal.pause()
    lab.down()
    os._exit(0)


def _converge(lab: Lab, as_site_: bool, pipe: IO[str]) -> None:
    """Hand the lab over converged (routing daemons done, VIPs placed), or say what still moves;
    as a site, a pre snapshot taken sooner would call the routes' arrival a change."""
    def tell(line: str) -> None:
        _progress(pipe, line)

    tell(f"lab {lab.id} built in {lab.timings['up']:.1f} s; waiting until its routes and addresses are unchanged "
         f"for {STEADY_FOR_S:g} s")
    try:
        waited = (wait_settled(lab, progress=tell) if as_site_ else
                  wait_converged(lab, [n.name for n in lab.topology.hosts()], progress=tell))
        tell(f"converged after {waited:.1f} s")
    except WaitTimeout as exc:
        lines = str(exc).splitlines()
        tell(f"not converged yet, handed over anyway: {lines[0]}; {lines[-1][:300]}")


def _progress(pipe: IO[str], line: str) -> None:
    """A progress line for the waiting caller (printed to its stderr); a caller gone is no error."""
    with contextlib.suppress(OSError):
        pipe.write(f"{PROGRESS}{line}\n")
        pipe.flush()


PROGRESS = "progress "  # a line of the keeper's that the caller prints as it comes


class BuildStopped(BaseException):  # a signal, not an error: like KeyboardInterrupt
    """The keeper was told to stop (SIGTERM, SIGINT) while the lab was being built."""


def _tell(pipe: IO[str], message: str) -> bool:
    """Report to the waiting caller; False when the caller is gone."""
    try:
        pipe.write(message)
        pipe.close()
        return True
    except OSError:  # a broken pipe: the caller was interrupted
        return False


def cmd_ls(args: argparse.Namespace) -> int:
    labs = registry.all_labs()
    if not labs:
        print("no labs")
        return 0
    print(f"{'LAB':8} {'TOPOLOGY':24} {'VARIANT':14} {'OWNER':14} {'NAMESPACES':>10}  AGE")
    for state in labs:
        owner = f"{state.owner_kind}:{state.owner_pid}" + ("" if state.owner_alive() else " (dead)")
        age = f"{time.time() - state.created:.0f}s"
        print(
            f"{state.id:8} {state.topology:24} {state.variant or '-':14} {owner:14} "
            f"{len(registry.lab_namespaces(state.id)):>10}  {age}"
        )
    return 0


def _state(lab_id: str) -> registry.LabState:
    try:
        return registry.LabState.load(lab_id)
    except FileNotFoundError:
        known = ", ".join(s.id for s in registry.all_labs()) or "none"
        raise SiteproofError(f"no lab {lab_id!r} (labs: {known})") from None


def cmd_exec(args: argparse.Namespace) -> int:
    _state(args.lab)
    ns = registry.namespace_name(args.lab, args.node)
    if ns not in registry.lab_namespaces(args.lab):
        raise SiteproofError(f"lab {args.lab} has no node {args.node!r}")
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise SiteproofError("exec: give a command after --")
    os.execvp("ip", ["ip", "netns", "exec", ns, *command])
    return 127


def cmd_down(args: argparse.Namespace) -> int:
    ensure_root()
    if not args.all and not args.lab:
        raise SiteproofError("down: name a lab id, or --all")
    targets = registry.all_labs() if args.all else [_state(args.lab)]
    for state in targets:
        if state.owner_alive() and state.owner_kind == "cli":
            os.kill(state.owner_pid, signal.SIGTERM)
            # Returned when the keeper has exited, not when the lab's folder went: it stops and
            # reaps the lab's processes (through the launcher) before it goes.
            deadline = time.monotonic() + 30
            while (state.dir.exists() or procs.running(state.owner_pid, state.owner_start)) and time.monotonic() < deadline:
                time.sleep(0.01)
        elif state.owner_alive() and not args.all:
            raise SiteproofError(
                f"lab {state.id} belongs to a running {state.owner_kind} (pid {state.owner_pid}); stop that run first"
            )
        elif state.owner_alive():
            continue
        left = registry.destroy(state.id)["left"]
        if left:
            raise SiteproofError(f"lab {state.id}: could not remove: {'; '.join(left)} (`siteproof reap` retries)")
        print(f"down {state.id}")
    return 0


def _report_stuck(reaped: registry.Reaped) -> None:
    for lab_id, why in reaped.stuck.items():
        print(f"siteproof: lab {lab_id} could not be removed: {why}", file=sys.stderr)


def cmd_inventory_check(args: argparse.Namespace) -> int:
    """Validate a site inventory and reach every host over SSH (all at once, bounded timeouts)."""
    from siteproof.backends.ssh import inventory_site

    t0 = time.perf_counter()
    try:
        site = inventory_site(args.file, connect_timeout=args.timeout, fresh_connections=True)
    except SiteproofError as exc:
        print(f"siteproof: {exc}", file=sys.stderr)
        return 1
    roles: dict[str, int] = {}
    for labels in site.labels.values():
        roles[labels.get("role", "?")] = roles.get(labels.get("role", "?"), 0) + 1
    print(f"{args.file}: valid; {len(site.labels)} hosts reachable over SSH in {time.perf_counter() - t0:.1f} s "
          f"({', '.join(f'{n} {r}' for r, n in sorted(roles.items()))})")
    return 0


REPO = Path(__file__).resolve().parent.parent


def cmd_inventory_example(args: argparse.Namespace) -> int:
    """Print the example inventory of a built-in topology (its production parameters)."""
    from siteproof.inventory_example import example

    try:
        topo = load_topology(Path(args.topologies) / args.topology, profile="production")
    except SiteproofError as exc:
        print(f"siteproof: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(example(topo))
    return 0


def cmd_inventory_from_ansible(args: argparse.Namespace) -> int:
    """A siteproof inventory from an Ansible inventory and a mapping file, checked as
    `inventory check` checks one before it is written."""
    import yaml

    from siteproof.ansible_inventory import convert
    from siteproof.backends.ssh import check_inventory

    doc, left_out = convert(Path(args.inventory), Path(args.mapping))
    check_inventory(doc, f"{args.inventory} (through {args.mapping})")
    text = (f"# From the Ansible inventory {args.inventory} through {args.mapping} (siteproof inventory from-ansible).\n"
            "# Check that every host is reached with:  siteproof inventory check THIS_FILE\n"
            + yaml.safe_dump(doc, sort_keys=False))
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    print(f"siteproof: {len(doc['hosts'])} hosts" + (f"; left out (in no mapped group): {', '.join(left_out)}" if left_out else ""),
          file=sys.stderr)
    return 0


def cmd_nightly(args: argparse.Namespace) -> int:
    """The read-only suites against a site, into a new folder of the history, with what changed
    since the last run in the report."""
    # Paths as the caller typed them, from the caller's folder: pytest runs in the checkout.
    history_dir, site = Path(args.history).resolve(), Path(args.site).resolve()
    if not site.is_file():
        raise SiteproofError(f"nightly: inventory {args.site} ({site}): file not found")
    # A suite may be a node id (path::test): the path part is resolved, the rest kept.
    suites = [str(Path(x.split("::", 1)[0]).resolve()) + ("::" + x.split("::", 1)[1] if "::" in x else "")
              for x in args.suites] or [str(REPO / "suites")]
    missing = [x for x, full in zip(args.suites, suites, strict=False) if not Path(full.split("::", 1)[0]).exists()]
    if missing:
        raise SiteproofError(f"nightly: suite folder(s) not found: {', '.join(missing)}")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    run_dir = history_dir / stamp
    for n in range(2, 100):  # two runs in one second (a retry): the later sorts after
        if not run_dir.exists():
            break
        run_dir = history_dir / f"{stamp}-{n:02d}"
    # History holds site facts (addresses, verdicts, measurements): the operator's alone.
    history_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    run_dir.mkdir(mode=0o700, exist_ok=False)
    argv = [sys.executable, "-m", "pytest", *PLUGIN, *suites, "--site", str(site), "-m", "not disruptive", "-p", "no:randomly",
            f"--junitxml={run_dir / 'junit.xml'}", f"--html={run_dir / 'report.html'}", "--self-contained-html",
            f"--measurements-json={run_dir / 'measurements.json'}", f"--history={history_dir}",
            f"--drift-tolerance={args.tolerance}", "-q", *args.pytest_args]
    returncode = run_forwarding_signals(argv, cwd=REPO, umask=0o077)
    report = run_dir / "report.html"
    if returncode == SITE_UNREACHABLE_EXIT:
        # No verdict was reached: the run is kept, marked, and out of the history's verdicts.
        (run_dir / "status.json").write_text(json.dumps({"status": "site unreachable", "site": str(site)}) + "\n")
        if (run_dir / "junit.xml").is_file():
            (run_dir / "junit.xml").rename(run_dir / "junit-site-unreachable.xml")
        print(f"siteproof nightly: run {run_dir}: site unreachable (see above); not entered in the history as verdicts")
        return returncode
    said = f"report {report}" if report.is_file() else "no report was written"
    print(f"siteproof nightly: run {run_dir}: pytest exit {returncode}; {said}")
    return returncode


NIGHTLY_STOP_BUDGET_S = 120.0  # for pytest to tear down after it was told to stop


def run_forwarding_signals(argv: list[str], cwd: Path, umask: int | None = None) -> int:
    """Run a child (pytest) and pass SIGINT and SIGTERM on to it, then wait for its teardown: a
    nightly stopped by cron or systemd must not leave its pytest (and its labs) running. Past the
    budget the child's whole process group is killed."""
    proc = subprocess.Popen(argv, cwd=cwd, start_new_session=True, umask=-1 if umask is None else umask)
    told: list[int] = []

    def forward(signum: int, frame: object) -> None:
        told.append(signum)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                return proc.wait(timeout=NIGHTLY_STOP_BUDGET_S if told else None)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def write_private(path: Path, text: str) -> None:
    """A file only its owner reads (reports and history hold site facts)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    path.chmod(0o600)


def cmd_compare(args: argparse.Namespace) -> int:
    """One HTML page of what changed between two runs' folders (before and after a window)."""
    from siteproof import history

    before, after = Path(args.before), Path(args.after)
    for folder in (before, after):
        if not (folder / history.JUNIT).is_file():
            print(f"siteproof: {folder}: no {history.JUNIT} (not a run's folder)", file=sys.stderr)
            return 2
    try:
        runs = [history.load_run_checked(before), history.load_run_checked(after)]
    except history.DamagedRun as exc:
        print(f"siteproof: damaged run: {exc}", file=sys.stderr)
        return 2
    d = history.diff(runs[0], runs[1], args.tolerance)
    out = Path(args.output or after / "compare.html")
    write_private(out, history.html_page(d, runs, f"siteproof: {before.name} -> {after.name}",
                                         [before / "report.html", after / "report.html"]))
    if args.format == "json":
        print(json.dumps({**history.as_json(d), "page": str(out)}, indent=2))
    else:
        print(f"{out}: {len(d.behaviours)} SPEC IDs changed verdict, {len(d.new_failures)} new failures, {len(d.fixed)} fixed, "
              f"{len(d.still_failing)} failing in both, {len(d.drifted)} measurements drifted")
    # A gate for a maintenance window: anything new that failed, or (unless only new failures
    # gate) a measurement that moved beyond the tolerance, fails the comparison.
    gated = d.new_failures or (args.gate == "all" and d.drifted)
    return 1 if gated else 0


def cmd_reap(args: argparse.Namespace) -> int:
    ensure_root()
    reaped = registry.reap()
    print(f"reaped {len(reaped.removed)} lab(s){': ' + ', '.join(reaped.removed) if reaped.removed else ''}")
    _report_stuck(reaped)
    return 1 if reaped.stuck else 0


def cmd_topologies(args: argparse.Namespace) -> int:
    """The topologies a run can use: each with its variants (what each breaks), and with a name,
    its parameters (default, type, limits) and every variant's description."""
    import yaml

    folder = Path(args.topologies)
    names = sorted(p.name for p in folder.iterdir() if (p / TOPOLOGY_FILE).is_file() or clab.clab_file(p)) if folder.is_dir() else []
    if args.name and args.name not in names:
        raise SiteproofError(f"topologies: no topology {args.name!r} in {folder} (known: {', '.join(names) or 'none'})")
    for name in [args.name] if args.name else names:
        params = (yaml.safe_load((folder / name / PARAMETERS_FILE).read_text()) or {}) if (folder / name / PARAMETERS_FILE).is_file() else {}
        variants = {v: yaml.safe_load((folder / name / "variants" / f"{v}.yml").read_text()) or {}
                    for v in available_variants(folder / name)}
        print(f"{name}: {len(params.get('parameters') or {})} parameters, {len(variants)} known-bad variants")
        if not args.name:
            print("  variants: " + (", ".join(f"{v} ({', '.join(d.get('breaks') or [])})" for v, d in variants.items()) or "none"))
            continue
        print("  parameters (--set NAME=VALUE):")
        for pname, spec in (params.get("parameters") or {}).items():
            limits = [f"{k} {spec[k]}" for k in ("min", "max") if k in spec]
            if "choices" in spec:
                limits.append("one of " + "|".join(map(str, spec["choices"])))
            kind = spec.get("type") or type(spec.get("default")).__name__
            extra = f" [{', '.join(limits)}]" if limits else ""
            print(f"    {pname} = {spec.get('default')!r} ({kind}{', ' + spec['format'] if spec.get('format') else ''}){extra}"
                  + (f": {spec['help']}" if spec.get("help") else ""))
        lab = (params.get("profiles") or {}).get("lab") or {}
        if lab:
            print(f"  --profile lab sets: {', '.join(f'{k}={v}' for k, v in lab.items())}")
        print("  variants (--variant NAME):")
        for v, d in variants.items():
            print(f"    {v} breaks {', '.join(d.get('breaks') or [])}: {' '.join(str(d.get('description', '')).split())}")
    return 0


def cmd_export_clab(args: argparse.Namespace) -> int:
    topo = load_topology(_topology_path(args.topology), parse_pairs(args.set, "--set"), args.variant, args.profile)
    try:
        path = clab_export.export(topo, Path(args.output))
    except FileExistsError as exc:
        raise SiteproofError(f"export: {exc}: choose an empty or new folder") from None
    images = sorted({clab_export.image_name(n) for n in topo.hosts()})
    print(f"{path}\n{len(topo.nodes)} nodes, {len(topo.links)} links; images to build: {', '.join(images)} "
          f"(see {Path(args.output) / 'images'})")
    return 0


def _topology_arguments(p: argparse.ArgumentParser, verb: str, profile: str) -> None:
    """TOPOLOGY, --set, --variant and --profile, as `up` and `export` take them."""
    p.add_argument("topology", help="a built-in topology name or a topology folder")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter")
    p.add_argument("--variant", help=f"{verb} a known-bad variant")
    p.add_argument("--profile", default=profile, choices=PROFILES,
                   help=f"lab: lab-speed protocol timers where the topology has them; production: its defaults "
                        f"(default: {profile})")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="siteproof", description="network-namespace labs of HPC site networks")
    p.add_argument("--version", action="version", version=f"siteproof {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="build a lab from a topology and print its id")
    _topology_arguments(up, "build", "lab")
    up.add_argument("--as-site", action="store_true",
                    help="play a real site: a management network with sshd on every node, a vantage namespace for "
                         "the test runner, and the inventory a site would give (printed; every host faultable "
                         "with --allow-disruptive, through the lab's own service manager)")
    up.add_argument("--no-wait", action="store_true",
                    help="return when every daemon answers, without waiting for routes and VIPs to settle "
                         "(by default up waits until every host's routes and addresses are unchanged for "
                         f"{STEADY_FOR_S:g} s, within the lab_converge budget, printing progress)")
    up.set_defaults(fn=cmd_up)
    sub.add_parser("ls", help="list labs").set_defaults(fn=cmd_ls)
    ex = sub.add_parser("exec", help="run a command in a lab node: exec LAB NODE -- CMD")
    ex.add_argument("lab", help="the lab's id (siteproof ls)")
    ex.add_argument("node", help="a node of that lab")
    ex.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    ex.set_defaults(fn=cmd_exec)
    down = sub.add_parser("down", help="tear a lab down")
    down.add_argument("lab", nargs="?", help="the lab's id (siteproof ls)")
    down.add_argument("--all", action="store_true", help="every lab whose owner is gone or a CLI keeper")
    down.set_defaults(fn=cmd_down)
    sub.add_parser("reap", help="remove labs whose owning process is gone").set_defaults(fn=cmd_reap)
    inv = sub.add_parser("inventory", help="site inventories").add_subparsers(dest="inventory_command", required=True)
    check = inv.add_parser("check", help="validate an inventory and reach every host over SSH")
    check.add_argument("file", help="the site inventory (YAML)")
    check.add_argument("--timeout", type=int, default=10, help="SSH connect timeout per host, seconds")
    check.set_defaults(fn=cmd_inventory_check)
    exa = inv.add_parser("example", help="the documented example inventory of a built-in topology")
    exa.add_argument("topology", help="a built-in topology's name (siteproof topologies)")
    exa.add_argument("--topologies", default=str(REPO / "topologies"), help="folder of topology folders")
    exa.set_defaults(fn=cmd_inventory_example)
    ans = inv.add_parser("from-ansible", help="a siteproof inventory from an Ansible inventory (YAML or INI) and a mapping")
    ans.add_argument("inventory", help="the Ansible inventory file")
    ans.add_argument("--mapping", required=True, help="YAML: groups to roles, variables to labels (see siteproof/ansible_inventory.py)")
    ans.add_argument("-o", "--output", help="write here (default: standard output)")
    ans.set_defaults(fn=cmd_inventory_from_ansible)
    night = sub.add_parser("nightly", help="run the read-only suites against a site into a history folder")
    night.add_argument("--site", required=True, help="the site inventory")
    night.add_argument("--history", required=True, help="the folder of runs (one subfolder per run)")
    night.add_argument("--tolerance", type=float, default=0.5, help="a measurement drifts past this share of its last value")
    night.add_argument("suites", nargs="*", default=[], help="suite folders (default: all of the checkout's)")
    night.add_argument("--pytest-args", nargs=argparse.REMAINDER, default=[],
                       help="passed on to pytest (everything after it; or put pytest's options after --)")
    night.set_defaults(fn=cmd_nightly)
    cmp_ = sub.add_parser("compare", help="what changed between two runs' folders, as one HTML page")
    cmp_.add_argument("before", help="the earlier run's folder (junit.xml, measurements.json, report.html)")
    cmp_.add_argument("after", help="the later run's folder")
    cmp_.add_argument("-o", "--output", help="the page to write (default AFTER/compare.html)")
    cmp_.add_argument("--tolerance", type=float, default=0.5,
                      help="a measurement drifts when it moves by more than this share of its earlier value (default 0.5)")
    cmp_.add_argument("--gate", choices=["all", "new-failures"], default="all",
                      help="what makes the exit code 1: a new failure or a drifted measurement (all, the default), "
                           "or new failures only")
    cmp_.add_argument("--format", choices=["text", "json"], default="text", help="what to print (json: for tooling)")
    cmp_.set_defaults(fn=cmd_compare)
    tops = sub.add_parser("topologies", help="the topologies a run can use, their variants and (with a name) parameters")
    tops.add_argument("name", nargs="?", help="one topology: its parameters with defaults and limits, and its variants")
    tops.add_argument("--topologies", default=str(REPO / "topologies"), help="folder of topology folders")
    tops.set_defaults(fn=cmd_topologies)
    export = sub.add_parser("export", help="write a topology in another tool's format").add_subparsers(
        dest="export_format", required=True)
    exclab = export.add_parser("clab", help="a containerlab lab: .clab.yml, the rendered configs as binds, Containerfiles")
    _topology_arguments(exclab, "export", "production")
    exclab.add_argument("-o", "--output", required=True, help="a new or empty folder")
    exclab.set_defaults(fn=cmd_export_clab)
    cli_mutate.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passed_on: list[str] = []
    if argv[:1] == ["nightly"] and "--" in argv:  # pytest's own options, after --
        argv, passed_on = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    args = parser().parse_args(argv)
    if passed_on:
        args.pytest_args = [*args.pytest_args, *passed_on]
    try:
        return int(args.fn(args))
    except SiteproofError as exc:
        print(f"siteproof: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `siteproof topologies | head`: the reader has gone, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, ValueError) as exc:  # a bad value or path that got past the checks: one line, no traceback
        if os.environ.get("SITEPROOF_DEBUG"):
            raise
        print(f"siteproof {args.cmd}: {exc} (SITEPROOF_DEBUG=1 shows where)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
