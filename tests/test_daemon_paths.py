"""Lab daemons never use the machine's paths: every path in every built-in topology's rendered
daemon configs and command lines (reference and variants) is in the lab's folder, a private
folder the daemon gets in its own mount namespace, or on the stated allowlist. Two labs built
at once (parallel workers), or a lab and the machine's own daemon, share nothing."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from siteproof.daemons import daemon_kinds
from siteproof.daemons.base import DaemonContext, redact, split_files
from siteproof.topology import load_topology
from siteproof.topology.loader import available_variants
from tests.helpers import REPO

# An absolute path inside a config or a command line (not a URL's or a prefix's slash, nor the
# slash inside a base64 secret: lab secrets are random, so one in 30 starts a "path" after a +).
_PATH = re.compile(r"(?<![\w.:/+-])/(?:[A-Za-z0-9_.+-]+/?)+")
# Paths that are not the machine's state, and why.
ALLOWED = {
    "/skydns/": "an etcd key prefix (CoreDNS's), not a file",
}
TOPOLOGIES = sorted(p.name for p in (REPO / "topologies").iterdir() if (p / "topology.yml").is_file())


def _machine_paths(topology: str, variant: str | None, lab_dir: Path) -> dict[str, str]:
    topo = load_topology(REPO / "topologies" / topology, variant=variant, profile="lab")
    kinds = daemon_kinds()
    found = {}
    for node in topo.hosts():
        context = DaemonContext(node.name, lab_dir, lambda *a, **k: None, netns_of=lambda n: f"sp-scan00-{n}")
        for kind, spec in node.daemons.items():
            daemon = kinds[kind](context, spec.config, spec.args)
            private = tuple(getattr(daemon, "private_dirs", ()))
            # The files as start() writes them (a command line may read its config), never started.
            main, files = split_files(daemon.placed(daemon.config_text))
            daemon.rundir.mkdir(parents=True, exist_ok=True)
            daemon.config_path.write_text(main)
            for name, content in files.items():
                (daemon.rundir / name).write_text(content)
            for text in (main, *files.values(), " ".join(daemon.command())):
                for path in _PATH.findall(redact(text)):
                    if path.startswith(f"{lab_dir}/") or path.startswith(tuple(ALLOWED)):
                        continue
                    if any(path == d or path.startswith(f"{d}/") for d in private):
                        continue  # a tmpfs of the daemon's own mount namespace
                    if os.access(path, os.X_OK) and Path(path).is_file():
                        continue  # the program it runs
                    found[path] = f"{node.name}:{kind}"
    return found


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_daemons_use_only_the_labs_own_paths(topology, tmp_path):
    for n, variant in enumerate([None, *available_variants(REPO / "topologies" / topology)]):
        found = _machine_paths(topology, variant, tmp_path / f"lab{n}")
        assert not found, f"{topology} ({variant or 'reference'}): daemons use machine paths: {found}"
