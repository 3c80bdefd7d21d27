"""Data transfer nodes as a service (SPEC DTN-*, seed 003): container attachments, profile
port ranges, throughput per attachment against native."""

from __future__ import annotations

from siteproof import budgets
from siteproof.areas.dtn import daemons  # noqa: F401 - registers the DTN service

budgets.register("dtn_connect", 2.0, "one connection to a peer DTN or a profile port answers", owner="dtn")
budgets.register("dtn_quiet", 0.5, "how long the port sweep waits for answers after its last probe", owner="dtn")
budgets.register("dtn_runs", 3, "DTN-3: iperf3 runs per attachment (the best run is judged)", owner="dtn", kind="threshold")
budgets.register("dtn_confirm_runs", 5, "DTN-3: more runs, paired with native, of a path first found short of its floor",
                 owner="dtn", kind="threshold")
budgets.register("dtn_run_seconds", 1.0, "DTN-3: the length of each iperf3 run", owner="dtn", kind="threshold")
budgets.register("dtn_bridge_ratio", 0.5, "DTN-3: the least a bridge attachment's best run may be, as a share of native's",
                 owner="dtn", kind="threshold")
budgets.register("dtn_macvlan_ratio", 0.5, "DTN-3: the least a macvlan attachment's best run may be, as a share of native's",
                 owner="dtn", kind="threshold")
budgets.register("dtn_host_ratio", 0.7, "DTN-3: the least host networking's best run may be, as a share of native's",
                 owner="dtn", kind="threshold")
