"""Probes sent by the source host itself, on any backend.

A probe module (standard library only: `siteproof.probes.reach`, `siteproof.probes.whoami`)
is shipped to the source host as a script on python3's standard input and run there, through
whatever runs commands on that host: `ip netns exec` in a lab, SSH at a real site. So the
lab runs the very path a site does, and a site host needs nothing installed but python3.
These probes only open connections: read-only.
"""

from __future__ import annotations

import inspect
import json
import subprocess
from collections.abc import Callable
from types import ModuleType

from siteproof.errors import SiteproofError
from siteproof.probes import reach
from siteproof.probes.reach import Service

Run = Callable[..., subprocess.CompletedProcess[str]]  # Backend.run: (node, *argv, check=, timeout=, stdin=)

# The shipped module's `run_job(job) -> list` does the work; the result is one JSON line.
_RUNNER = '''

if __name__ == "__main__":
    import json as _json
    import sys as _sys

    print(_json.dumps(run_job(_json.loads(_sys.argv[1]))))
'''


def script(module: ModuleType) -> str:
    return inspect.getsource(module) + _RUNNER


def run_on(run: Run, node: str, module: ModuleType, job: dict, expect: int, timeout: float) -> list:
    """Run `module.run_job(job)` on `node`; its list of `expect` results, or one clear error."""
    proc = run(node, "python3", "-", json.dumps(job), check=False, timeout=timeout, stdin=script(module))
    try:
        found = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
    except (ValueError, IndexError):
        found = None
    if not isinstance(found, list) or len(found) != expect:
        raise SiteproofError(f"probes from {node}: python3 there exited {proc.returncode}: "
                             f"{(proc.stderr or proc.stdout).strip()[-400:] or 'no output'}")
    return found


def probe_from(run: Run, node: str, targets: list[tuple[str, Service]], timeout: float) -> list[str]:
    """One reachability verdict per (address, service), each probe sent from `node` (all at once there)."""
    job = {"targets": [[a, s.proto, s.port] for a, s in targets], "timeout": timeout}
    return [str(v) for v in run_on(run, node, reach, job, len(targets), timeout * 3 + 30)]
