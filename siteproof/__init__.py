"""siteproof: conformance suites for HPC site networks, proven in network-namespace labs."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # Read on first use: importlib.metadata costs every lab daemon written in Python (health
    # agents, reconciler) 60 ms of start-up, and only the CLI and the report ask for it.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("siteproof")
        except PackageNotFoundError:  # run from a source tree that is not installed
            return "0+unknown"
    raise AttributeError(f"module 'siteproof' has no attribute {name!r}")
