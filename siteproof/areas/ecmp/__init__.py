"""Compute-side ECMP to the gateway VIPs (SPEC ECMP-*): routes, hash policy, balance, stickiness."""

from __future__ import annotations

from siteproof import budgets

budgets.register("flows_counted", 5.0, "every flow sent shows up in the gateways' counters", owner="ecmp")
budgets.register("ecmp_alpha", 0.001, "ECMP-3: chi-square significance for rejecting a uniform spread", owner="ecmp",
                 kind="threshold")
budgets.register("ecmp_max_over_mean", 1.3, "ECMP-3: most flows on one next hop, as a multiple of the mean", owner="ecmp",
                 kind="threshold")
budgets.register("ecmp_flows_per_hop", 200, "ECMP-3: flows sent per next hop (SPEC: at least 100)", owner="ecmp",
                 kind="threshold")
