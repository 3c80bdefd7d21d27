"""iperf3 between two lab nodes: a one-shot server and a client run with JSON output."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

from siteproof.backends.netns.lab import Lab
from siteproof.errors import DaemonError
from siteproof.wait import wait_until


def _require_iperf3() -> None:
    if shutil.which("iperf3") is None:
        raise DaemonError("iperf3 is not installed (Debian package 'iperf3'; the README's first command installs it)")


@contextlib.contextmanager
def iperf3_server(lab: Lab, node: str, address: str, port: int = 5201) -> Iterator[None]:
    """A one-shot iperf3 server on node, listening before the block starts, gone after it."""
    _require_iperf3()
    # Its own session: we signal it by pid, never by name.
    proc = lab.spawn(node, ["iperf3", "--server", "--one-off", "--bind", address, "--port", str(port)],
                     cwd=lab.dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        probe = "[" + address + "]" if ":" in address else address

        def listening() -> bool:
            if proc.poll() is not None:
                raise DaemonError(f"node {node}: iperf3 server exited: {proc.stderr.read().decode(errors='replace') if proc.stderr else ''}")
            out = lab.run(node, "ss", "-Hltn", f"src {probe}:{port}", check=False).stdout
            return bool(out.strip())

        wait_until(listening, "daemon_ready", expected=f"iperf3 listening on {node} {address}:{port}")
        yield
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        if proc.stderr:
            proc.stderr.close()


def iperf3_client(
    lab: Lab, node: str, server: str, bind: str, cport: int, port: int = 5201, seconds: float = 2, bitrate: str = "1G"
) -> dict[str, Any]:
    """Run one TCP stream from bind:cport to server:port; iperf3's end-of-test summary."""
    _require_iperf3()
    out = lab.run(
        node, "iperf3", "--client", server, "--bind", bind, "--cport", str(cport), "--port", str(port),
        "--time", str(seconds), "--bitrate", bitrate, "--json", check=False, timeout=seconds + 20,
    )
    try:
        report = json.loads(out.stdout)
    except json.JSONDecodeError:
        raise DaemonError(f"node {node}: iperf3 client failed: {(out.stderr or out.stdout).strip()[:500]}") from None
    if "error" in report:
        raise DaemonError(f"node {node}: iperf3 client: {report['error']}")
    return report["end"]
