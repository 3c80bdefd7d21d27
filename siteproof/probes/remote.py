"""Reachability probes sent by the source host itself, on any backend.

The probe code (`siteproof.probes.reach`, standard library only) is shipped to the source
host as a script on python3's standard input and run there, through whatever runs commands
on that host: `ip netns exec` in a lab, SSH at a real site. So the lab's matrix runs the very
path a site's does, and a site needs nothing installed but python3. It only opens
connections: read-only.
"""

from __future__ import annotations

import inspect
import json
import subprocess
from collections.abc import Callable

from siteproof.errors import SiteproofError
from siteproof.probes import reach
from siteproof.probes.reach import Service

Run = Callable[..., subprocess.CompletedProcess[str]]  # Backend.run bound to nothing: (node, *argv, check=, timeout=, stdin=)

_RUNNER = '''

if __name__ == "__main__":
    import json as _json
    import sys as _sys

    _job = _json.loads(_sys.argv[1])
    _targets = [(address, Service(proto, int(port))) for address, proto, port in _job["targets"]]
    with ThreadPoolExecutor(max_workers=64) as _pool:
        _verdicts = list(_pool.map(lambda t: probe(socket.socket, t[0], t[1], _job["timeout"]), _targets))
    print(_json.dumps(_verdicts))
'''


def script() -> str:
    return inspect.getsource(reach) + _RUNNER


def probe_from(run: Run, node: str, targets: list[tuple[str, Service]], timeout: float) -> list[str]:
    """One verdict per (address, service), each probe sent from `node` (all at once there)."""
    job = json.dumps({"targets": [[a, s.proto, s.port] for a, s in targets], "timeout": timeout})
    proc = run(node, "python3", "-", job, check=False, timeout=timeout * 3 + 30, stdin=script())
    try:
        verdicts = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
    except (ValueError, IndexError):
        verdicts = None
    if not isinstance(verdicts, list) or len(verdicts) != len(targets):
        raise SiteproofError(f"probes from {node}: python3 there exited {proc.returncode}: "
                             f"{(proc.stderr or proc.stdout).strip()[-400:] or 'no output'}")
    return [str(v) for v in verdicts]
