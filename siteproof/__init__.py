"""siteproof: conformance and validation suites for HPC site networks."""

__version__ = "0.1.0"
