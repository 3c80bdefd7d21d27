"""Login load balancing (SPEC LOGIN-*): VIPs, the hashing layer and its health agent."""

from __future__ import annotations

from siteproof import budgets, vrrp  # noqa: F401 - vrrp registers the VRRP budgets this area waits on
from siteproof.areas.login import daemons  # noqa: F401 - registers the health agent

budgets.register("lb_tables", 15.0, "a health change reaches the hashing tables of every login node", owner="login")
budgets.register("ssh_session", 20.0, "an SSH session is open and echoing", owner="login")
budgets.register("session_resume", 20.0, "a session echoes again after a VIP move, failure or drain", owner="login")
budgets.register("login_pairs", 96, "LOGIN-3: (client address, port) pairs sent through every chosen VIP", owner="login",
                 kind="threshold")
budgets.register("login_echoes_after", 20, "echoes a session must complete after an event to count as carrying on",
                 owner="login", kind="threshold")
