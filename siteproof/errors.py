"""The errors siteproof raises: each one names what is wrong and where."""

from __future__ import annotations


class SiteproofError(Exception):
    """Base class: a message for an operator, no traceback needed."""


class TopologyError(SiteproofError):
    """A topology folder or file is wrong; names the file and the key."""

    def __init__(self, file: str, key: str, message: str) -> None:
        self.file = file
        self.key = key
        self.message = message
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {message}")


class LabError(SiteproofError):
    """Building, running or tearing down a lab failed."""


class DaemonError(SiteproofError):
    """A daemon is missing, did not start or did not become ready."""


class SiteUnreachable(SiteproofError):
    """Site hosts did not answer over SSH: a run against the site stops once, naming each."""


SITE_UNREACHABLE_EXIT = 75  # pytest's exit status then (EX_TEMPFAIL): no verdict was reached
