"""siteproof: conformance suites for HPC site networks, proven in network-namespace labs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("siteproof")
except PackageNotFoundError:  # run from a source tree that is not installed
    __version__ = "0+unknown"
