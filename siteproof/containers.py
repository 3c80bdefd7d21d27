"""Start a container's network the way a site's wrapper does.

Seed 004 (ALICE EPN): the grid container gets its own network namespace; the vHCA is moved
into it before any address or route is set, so the host never holds a public address, not
even for a moment. Seed 003 (DTN-as-a-Service): a container on a host bridge (routed) or on
a macvlan of the host's data NIC.

`steps(spec)` is the plan, in order, as `ip` commands, each run in the host's namespace
(`ip -n HOST ...`) or in the container's own; a site compares it with its own wrapper
(`python -m siteproof.containers plan CONFIG` prints it). main() is the lab's container
process: started in the container's new, empty namespace (the lab creates it with the
others, so that it is reaped like them), it carries the plan out, logs each step with its
time, writes steps.json, then stays as the container's first process until stopped.

Spec (JSON): {"name", "host_netns", "order": "move-first" | "address-first",
"attachments": [{"kind": "vhca" | "bridge" | "macvlan", ...}], "routes": [{"dst", "via"}],
"sysctls": {key: value}}.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SELF = "{self}"  # the container's namespace, by the pid of its first process


@dataclass(frozen=True)
class Step:
    where: str  # "host" or "container"
    argv: tuple[str, ...]  # the `ip` (or sysctl) arguments
    why: str
    may_exist: bool = False  # a shared host object (a bridge) made by the first container
    tool: str = "ip"  # or "tc" (a shaping rule on the container's interface)

    def text(self, host: str = "HOST") -> str:
        prefix = f"{self.tool} -n {host}" if self.where == "host" else self.tool
        return f"{prefix} {' '.join(self.argv)}"


def _address_steps(ifname: str, addresses: list[str], rate: str = "") -> list[Step]:
    steps = [Step("container", ("addr", "add", a, "dev", ifname), "address it, now that it is inside") for a in addresses]
    steps.append(Step("container", ("link", "set", "dev", ifname, "up"), "bring it up"))
    if rate:
        steps.append(Step("container", ("qdisc", "add", "dev", ifname, "root", "tbf", "rate", rate, "burst", "256kb",
                                        "latency", "50ms"), "shape it (a rate limit)", tool="tc"))
    return steps


def _attachment_steps(att: dict[str, Any], order: str) -> list[Step]:
    kind, ifname, addresses = att["kind"], att["ifname"], list(att.get("addresses") or [])
    if kind == "vhca":
        host_if = att["host_if"]
        early = [Step("host", ("addr", "add", a, "dev", host_if), "address the vHCA (before the move: wrong)")
                 for a in addresses] if order == "address-first" else []
        steps = [*early, Step("host", ("link", "set", "dev", host_if, "netns", SELF), "move the vHCA into the container")]
        if host_if != ifname:
            steps.append(Step("container", ("link", "set", "dev", host_if, "name", ifname), "rename it inside"))
        return steps + ([] if early else _address_steps(ifname, addresses))
    if kind == "bridge":
        bridge, host_if = att["bridge"], att["host_if"]
        steps = [Step("host", ("link", "add", "name", bridge, "type", "bridge"), "the host's container bridge", may_exist=True)]
        if att.get("bridge_address"):
            steps.append(Step("host", ("addr", "add", att["bridge_address"], "dev", bridge), "the containers' gateway",
                              may_exist=True))
        steps += [Step("host", ("link", "set", "dev", bridge, "up"), "bring the bridge up"),
                  Step("host", ("link", "add", "name", host_if, "type", "veth", "peer", "name", ifname, "netns", SELF),
                       "a veth pair, its far end made inside the container"),
                  Step("host", ("link", "set", "dev", host_if, "master", bridge, "up"), "plug the near end into the bridge")]
        return steps + _address_steps(ifname, addresses, att.get("rate", ""))
    if kind == "macvlan":
        temp = att.get("host_if") or f"mv-{ifname}"
        steps = [Step("host", ("link", "add", "link", att["parent"], "name", temp, "type", "macvlan", "mode",
                               att.get("mode", "bridge")), "a macvlan on the host's data NIC"),
                 Step("host", ("link", "set", "dev", temp, "netns", SELF), "move it into the container")]
        if temp != ifname:
            steps.append(Step("container", ("link", "set", "dev", temp, "name", ifname), "rename it inside"))
        return steps + _address_steps(ifname, addresses)
    raise ValueError(f"container attachment kind {kind!r}: expected vhca, bridge or macvlan")


def steps(spec: dict[str, Any]) -> list[Step]:
    """The whole plan, in the order it runs."""
    order = spec.get("order", "move-first")
    plan = [Step("container", ("link", "set", "dev", "lo", "up"), "loopback")]
    for att in spec.get("attachments") or []:
        plan += _attachment_steps(att, order)
    for route in spec.get("routes") or []:
        plan.append(Step("container", ("route", "add", route["dst"], "via", route["via"]), "route it, last"))
    return plan


def log(message: str) -> None:
    print(f"{time.time():.6f} {message}", flush=True)


def _run(step: Step, host_netns: str) -> subprocess.CompletedProcess[str]:
    argv = [a.replace(SELF, str(os.getpid())) for a in step.argv]
    prefix = [step.tool, "-n", host_netns] if step.where == "host" else [step.tool]
    return subprocess.run([*prefix, *argv], capture_output=True, text=True, check=False, timeout=30)


def start(spec: dict[str, Any], record: Path) -> list[dict[str, Any]]:
    """Carry the plan out from inside the container's namespace; each step with its time.
    A failed step ends the plan: the container still runs (as a job whose wrapper failed
    would), and steps.json says which step failed and why."""
    for key, value in (spec.get("sysctls") or {}).items():
        Path("/proc/sys", key.replace(".", "/")).write_text(str(value))
    done: list[dict[str, Any]] = []
    error = ""
    for i, step in enumerate(steps(spec)):
        at = time.time()
        proc = _run(step, spec["host_netns"])
        if proc.returncode != 0 and not (step.may_exist and "exists" in proc.stderr.lower()):
            error = f"step {i} ({step.text()}: {step.why}) failed: {proc.stderr.strip()}"
            log(error)
            break
        done.append({"at": at, "where": step.where, "command": step.text(), "why": step.why})
        log(f"step {i}: {step.text()} ({step.why})")
    result = {"name": spec["name"], "pid": os.getpid(), "steps": done}
    if error:
        result["error"] = error
    record.write_text(json.dumps(result, indent=1))
    return done


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    if len(argv) == 3 and argv[1] == "plan":
        spec = json.loads(Path(argv[2]).read_text())
        for step in steps(spec):
            print(f"{step.text(spec.get('host', 'HOST'))}    # {step.where}: {step.why}")
        return 0
    config = Path(argv[1])
    spec = json.loads(config.read_text())
    try:
        done = start(spec, config.parent / "steps.json")
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired) as exc:
        log(f"fatal error: {exc}")
        return 1
    log(f"ready: container {spec['name']} started, {len(done)} of {len(steps(spec))} steps done")
    while True:  # the container's first process, until the lab (or a test) stops it
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
