"""iperf3 between two nodes, through the backend: a one-shot server left running on one, a
client run with JSON output on the other (at a site, the hosts' own iperf3 over SSH)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from siteproof.backends.base import Backend, require_program
from siteproof.errors import DaemonError
from siteproof.wait import wait_until

SERVER_TTL_S = 600.0  # a server left by a runner that died ends on its host after this


@contextlib.contextmanager
def iperf3_server(backend: Backend, node: str, address: str, port: int = 5201) -> Iterator[None]:
    """A one-shot iperf3 server on node, listening before the block starts, gone after it."""
    require_program(backend, node, "iperf3", "iperf3")
    with TemporaryDirectory(prefix="siteproof-iperf3-") as scratch:
        server = backend.start(node, ["iperf3", "--server", "--one-off", "--bind", address, "--port", str(port)],
                               Path(scratch) / "server.out", Path(scratch) / "server.err", SERVER_TTL_S)
        try:
            probe = "[" + address + "]" if ":" in address else address

            def listening() -> bool:
                if not server.running():
                    raise DaemonError(f"node {node}: iperf3 server exited: {server.errors().strip()[-500:]}")
                return bool(backend.run(node, "ss", "-Hltn", f"src {probe}:{port}", check=False).stdout.strip())

            wait_until(listening, "daemon_ready", expected=f"iperf3 listening on {node} {address}:{port}")
            yield
        finally:
            server.stop()


def iperf3_client(
    backend: Backend, node: str, server: str, bind: str, cport: int, port: int = 5201, seconds: float = 2,
    bitrate: str = "1G",
) -> dict[str, Any]:
    """Run one TCP stream from bind:cport to server:port; iperf3's end-of-test summary."""
    require_program(backend, node, "iperf3", "iperf3")
    out = backend.run(
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
