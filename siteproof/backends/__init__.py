"""Backends: where a site's nodes live. One protocol (base.Backend); a netns lab, real hosts over SSH."""

from siteproof.backends.base import CAPABILITIES, DAEMON_FILES, FAULTS, SOCKETS, TRAFFIC_COUNTERS, Backend, MissingCapability, require

__all__ = ["CAPABILITIES", "DAEMON_FILES", "FAULTS", "SOCKETS", "TRAFFIC_COUNTERS", "Backend", "MissingCapability", "require"]
