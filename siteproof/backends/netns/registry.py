"""Lab ownership: one state directory per lab, and the reaper for dead owners.

State is written before anything of a lab exists and removed after everything is gone,
so a lab killed at any point is found again by its id. Ownership is by lab id, owner pid
(with its start time, so a reused pid is not mistaken for the owner) and, for processes,
by network namespace inode: nothing is ever matched by name pattern.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from siteproof.backends.netns import labdir
from siteproof.backends.netns import namespaces as netns
from siteproof.daemons.base import CREATED_MARK, HOST_PATHS, host_paths_lock
from siteproof.errors import LabError
from siteproof.statusfile import write_atomic

STATE_ROOT = Path(os.environ.get("SITEPROOF_STATE", "/run/siteproof/labs"))
NS_PREFIX = "sp-"
# The test runs a lab was made under, outermost first: each pytest session (not an xdist
# worker) appends its id, and every process it starts (a worker, a CLI keeper, a child pytest)
# inherits the chain, so a session can find at its end every lab any of them left behind.
RUNS_ENV = "SITEPROOF_RUNS"
# Test-only: a build stops at this phase ("namespaces") until a signal ends it (or a budget),
# so that a test interrupts a build at a known point instead of racing the clock.
HOLD_ENV = "SITEPROOF_HOLD_BUILD"
HOLD_BUDGET_S = 120.0


def new_lab_id() -> str:
    return secrets.token_hex(3)


def namespace_name(lab_id: str, node: str) -> str:
    return f"{NS_PREFIX}{lab_id}-{node}"


def switch_namespace(lab_id: str) -> str:
    # Node names start with a letter, so "-switch" can never clash with a node.
    return f"{NS_PREFIX}{lab_id}--switch"


@dataclass
class LabState:
    id: str
    topology: str
    variant: str | None
    owner_pid: int
    owner_start: int | None
    owner_kind: str  # "pytest", "cli" (a keeper process) or "bench"
    created: float = field(default_factory=time.time)
    namespaces: list[str] = field(default_factory=list)
    processes: list[dict[str, Any]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)  # RUNS_ENV when the lab was claimed
    phase: str = "claimed"  # how far its build got: claimed, held at PHASE, building, up

    @property
    def dir(self) -> Path:
        return STATE_ROOT / self.id

    def save(self) -> None:
        # 0700: the lab's folder holds rendered configs with secrets (TSIG keys, VRRP passwords).
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        write_atomic(self.dir / "state.json", json.dumps(asdict(self), indent=1))

    def owner_alive(self) -> bool:
        return netns.alive(self.owner_pid, self.owner_start)

    @classmethod
    def load(cls, lab_id: str) -> LabState:
        data = json.loads((STATE_ROOT / lab_id / "state.json").read_text())
        return cls(**data)


def claim(lab_id: str, topology: str, variant: str | None, owner_kind: str, owner_pid: int | None = None) -> LabState:
    """Record a new lab as owned by this process (or owner_pid), before building it."""
    pid = owner_pid or os.getpid()
    state = LabState(lab_id, topology, variant, pid, netns.process_start_time(pid), owner_kind,
                     runs=[r for r in os.environ.get(RUNS_ENV, "").split(":") if r])
    STATE_ROOT.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:  # exclusively: two labs built at once (parallel workers) never share an id
        labdir.make(state.dir)
    except FileExistsError:
        raise LabError(f"lab id {lab_id} is taken by another lab ({state.dir}); build it under a new id") from None
    state.save()
    return state


def checkpoint(state: LabState, phase: str) -> None:
    """Record how far the build got; under HOLD_ENV, wait at that phase. A signal's handler
    (Ctrl-C, a keeper's SIGTERM) raises out of the wait; the budget keeps a forgotten hold
    from hanging a build for ever."""
    if os.environ.get(HOLD_ENV) != phase:
        state.phase = phase
        state.save()
        return
    state.phase = f"held at {phase}"
    state.save()
    deadline = time.monotonic() + HOLD_BUDGET_S
    while time.monotonic() < deadline:
        time.sleep(0.02)
    state.phase = phase
    state.save()


def new_run_id() -> str:
    """Join a new test session to the chain of runs its labs are recorded under."""
    run_id = secrets.token_hex(4)
    chain = [r for r in os.environ.get(RUNS_ENV, "").split(":") if r]
    os.environ[RUNS_ENV] = ":".join([*chain, run_id])
    return run_id


def labs_of_run(run_id: str) -> list[LabState]:
    return [state for state in all_labs() if run_id in state.runs]


def all_labs() -> list[LabState]:
    labs = []
    if not STATE_ROOT.is_dir():
        return labs
    for entry in sorted(STATE_ROOT.iterdir()):
        if not entry.is_dir():
            continue  # the host-paths lock
        try:
            labs.append(LabState.load(entry.name))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            try:
                if time.time() - entry.stat().st_mtime < 60:
                    continue  # being claimed right now by another run
            except FileNotFoundError:
                continue  # removed meanwhile by its own teardown (another process): no lab any more
            # A lab dir without readable state: its id still owns its namespaces.
            labs.append(LabState(entry.name, "?", None, 0, None, "unknown"))
    return labs


def lab_namespaces(lab_id: str) -> list[str]:
    prefix = f"{NS_PREFIX}{lab_id}-"
    return [n for n in netns.list_names() if n.startswith(prefix)]


def destroy(lab_id: str, grace: float = 2.0) -> dict[str, Any]:
    """Remove everything of a lab: its processes, namespaces (and so links), files.

    One scan of /proc per pass, for all of the lab's namespaces at once; a lab with no
    process left skips the signal passes. What cannot be removed is reported in
    "left" and the lab's state stays, so that `siteproof reap` can finish the job.
    """
    names = lab_namespaces(lab_id)
    found = netns.pids_by_namespace(names)
    killed = sum(len(p) for p in found.values())
    for sig in (15, 9):  # SIGTERM first so daemons clean up; then SIGKILL whatever stays
        if not found:
            break
        netns.signal_all([pid for pids in found.values() for pid in pids], sig)
        deadline = time.monotonic() + grace
        while found and time.monotonic() < deadline:
            time.sleep(0.02)
            found = netns.pids_by_namespace(list(found))
    left = [problem for name in names if (problem := netns.delete(name))]
    left += [f"{name}: process {pid} did not exit" for name, pids in found.items() for pid in pids]
    if not left:
        release_host_paths(lab_id)
        try:
            labdir.remove(STATE_ROOT / lab_id)
        except OSError as exc:  # its tmpfs would not unmount: kept on record, like a namespace
            left = [f"{STATE_ROOT / lab_id}: {exc.strerror or exc}"]
    if left:
        state_dir = STATE_ROOT / lab_id
        if state_dir.is_dir():
            write_atomic(state_dir / "left.txt", "\n".join(left) + "\n")
    return {"namespaces": len(names), "processes": killed, "left": left}


def release_host_paths(lab_id: str) -> None:
    """The host paths this lab's daemons used (daemons.base.HOST_PATHS) that no other lab uses:
    removed, if siteproof made them (CREATED_MARK inside) and they hold nothing else."""
    def used_by(lab_dir: Path) -> set[str]:
        try:
            return set((lab_dir / HOST_PATHS).read_text().split())
        except OSError:
            return set()

    with host_paths_lock():
        mine = used_by(STATE_ROOT / lab_id)
        others = set().union(*(used_by(d) for d in STATE_ROOT.iterdir() if d.is_dir() and d.name != lab_id))
        for path in sorted(mine - others):
            mark = Path(path) / CREATED_MARK
            if mark.is_file():
                mark.unlink()
                with contextlib.suppress(OSError):  # not empty: something else put files there since
                    Path(path).rmdir()


@dataclass
class Reaped:
    removed: list[str] = field(default_factory=list)
    stuck: dict[str, str] = field(default_factory=dict)  # lab id -> what is left, and how to remove it


def reap(exclude_live: bool = True) -> Reaped:
    """Destroy every lab whose owner is gone; never touch a lab with a live owner. A lab that
    cannot be removed is reported with the reason and the way out, and the others are reaped."""
    result = Reaped()
    for state in all_labs():
        if exclude_live and state.owner_kind != "unknown" and state.owner_alive():
            continue
        try:
            left = destroy(state.id)["left"]
        except Exception as exc:  # noqa: BLE001 - one stuck lab must not stop the others
            left = [f"{type(exc).__name__}: {exc}"]
        if left:
            result.stuck[state.id] = "; ".join(left[:3]) + " -- " + fix_hint(left)
        else:
            result.removed.append(state.id)
    return result


def fix_hint(left: list[str]) -> str:
    """What a person can do about what a teardown left."""
    pids = [w.split("process ", 1)[1].split()[0] for w in left if "process " in w and " did not exit" in w]
    names = [w.split(":", 1)[0] for w in left if w.startswith("/")]
    steps = []
    if pids:
        steps.append(f"look at `cat /proc/{pids[0]}/status` (a process in state D waits on the kernel); `kill -9 {' '.join(pids)}`")
    if names:  # a namespace file goes with `rm`; a lab's folder, once unmounted, with the reap below
        steps.append(f"`umount -l {names[0]}`" if names[0].startswith(f"{STATE_ROOT}/") else f"`umount -l {names[0]}; rm {names[0]}`")
    steps.append("then `siteproof reap`")
    return "; ".join(steps)
