"""InfiniBand partition isolation for grid containers with public addresses (SPEC IB-*,
seed 004): the fabric model and its sysfs / partitions.conf reader, the address monitor."""

from __future__ import annotations

from siteproof import budgets, labfiles
from siteproof.areas.ib import daemons, fabric  # noqa: F401 - registers the address monitor

labfiles.register(fabric.write)  # the lab's sysfs pkey tables and partitions.conf, as built

budgets.register("ib_l2_quiet", 0.4, "how long layer-2 probes wait for frames after the last was sent", owner="ib")
budgets.register("ib_connect", 2.0, "one connection from a grid container to the outside server answers", owner="ib")
budgets.register("ib_flow_seconds", 2.0, "IB-7: how long each container's concurrent iperf3 flow runs", owner="ib",
                 kind="threshold")
budgets.register("ib_flow_min_mbps", 50.0, "IB-7: the least each container's flow must carry while the other runs (Mbit/s)",
                 owner="ib", kind="threshold")
