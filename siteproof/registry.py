"""Lab ownership: one state directory per lab, and the reaper for dead owners.

State is written before anything of a lab exists and removed after everything is gone,
so a lab killed at any point is found again by its id. Ownership is by lab id, owner pid
(with its start time, so a reused pid is not mistaken for the owner) and, for processes,
by network namespace inode: nothing is ever matched by name pattern.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from siteproof import netns

STATE_ROOT = Path(os.environ.get("SITEPROOF_STATE", "/run/siteproof/labs"))
NS_PREFIX = "sp-"


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

    @property
    def dir(self) -> Path:
        return STATE_ROOT / self.id

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=1))
        os.replace(tmp, self.dir / "state.json")

    def owner_alive(self) -> bool:
        return netns.alive(self.owner_pid, self.owner_start)

    @classmethod
    def load(cls, lab_id: str) -> LabState:
        data = json.loads((STATE_ROOT / lab_id / "state.json").read_text())
        return cls(**data)


def claim(lab_id: str, topology: str, variant: str | None, owner_kind: str, owner_pid: int | None = None) -> LabState:
    """Record a new lab as owned by this process (or owner_pid), before building it."""
    pid = owner_pid or os.getpid()
    state = LabState(lab_id, topology, variant, pid, netns.process_start_time(pid), owner_kind)
    state.save()
    return state


def all_labs() -> list[LabState]:
    labs = []
    if not STATE_ROOT.is_dir():
        return labs
    for entry in sorted(STATE_ROOT.iterdir()):
        try:
            labs.append(LabState.load(entry.name))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            if time.time() - entry.stat().st_mtime < 60:
                continue  # being claimed right now by another run
            # A lab dir without readable state: its id still owns its namespaces.
            labs.append(LabState(entry.name, "?", None, 0, None, "unknown"))
    return labs


def lab_namespaces(lab_id: str) -> list[str]:
    prefix = f"{NS_PREFIX}{lab_id}-"
    return [n for n in netns.list_names() if n.startswith(prefix)]


def destroy(lab_id: str, grace: float = 2.0) -> dict[str, int]:
    """Remove everything of a lab: its processes, namespaces (and so links), files."""
    names = lab_namespaces(lab_id)
    killed = 0
    # SIGTERM first so daemons clean up; then SIGKILL whatever stays.
    for name in names:
        killed += len(netns.kill_all_in(name, 15))
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(netns.pids_in(n) for n in names):
        time.sleep(0.02)
    for name in names:
        netns.kill_all_in(name, 9)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(netns.pids_in(n) for n in names):
        time.sleep(0.02)
    for name in names:
        netns.delete(name)
    shutil.rmtree(STATE_ROOT / lab_id, ignore_errors=True)
    return {"namespaces": len(names), "processes": killed}


def reap(exclude_live: bool = True) -> list[str]:
    """Destroy every lab whose owner is gone; never touch a lab with a live owner."""
    reaped = []
    for state in all_labs():
        if exclude_live and state.owner_kind != "unknown" and state.owner_alive():
            continue
        destroy(state.id)
        reaped.append(state.id)
    return reaped
