"""Login load balancing (SPEC LOGIN-*): VIPs, the hashing layer and its health agent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from siteproof import budgets, vrrp  # noqa: F401 - vrrp registers the VRRP budgets this area waits on
from siteproof.areas.login import daemons  # noqa: F401 - registers the health agent


def _tables(params: Mapping[str, Any], table: budgets.Budgets) -> float:
    """A node not heard is down after dead_after; its peers check every interval and load the
    tables at most every 0.25 s: dead_after + 3 intervals + 2 s."""
    return float(params.get("agent_dead_after", 3.0)) + 3 * float(params.get("agent_interval", 1.0)) + 2.0


budgets.register("lb_tables", _tables, "a health change reaches the hashing tables of every login node "
                 "(dead_after + 3 x interval + 2 s)", owner="login")


def _configured_detection(params: Mapping[str, Any], table: budgets.Budgets) -> float:
    """What the site states for its health agents: a failed node noticed after dead_after, and
    acted on within one interval."""
    return float(params.get("agent_dead_after", 3.0)) + float(params.get("agent_interval", 1.0))


budgets.register("login_configured_detection", _configured_detection,
                 "the time every login node's health agent, as configured, may take to notice a failed node "
                 "(the site's dead_after + interval)", owner="login")
budgets.register("ssh_session", 20.0, "an SSH session is open and echoing", owner="login")
budgets.register("session_resume", 20.0, "a session echoes again after a VIP move, failure or drain", owner="login")
budgets.register("login_pairs", 96, "LOGIN-3: (client address, port) pairs sent through every chosen VIP", owner="login",
                 kind="threshold")
budgets.register("login_echoes_after", 20, "echoes a session must complete after an event to count as carrying on",
                 owner="login", kind="threshold")
