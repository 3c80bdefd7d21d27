"""The NAT part of a site's pre/post snapshot (siteproof.snapshot): each compute's default route
is the tracker's to set. A gateway that failed during the run leaves its computes on other
gateways, and when (and whether) they move back is the tracker's decision: the routes are shown
in the snapshot as the tracker left them, not taken for a change the run failed to undo. Every
other route of a compute is compared as usual."""

from __future__ import annotations

import json

from siteproof import snapshot


def _default_route(line: str) -> bool:
    return json.loads(line).get("dst") == "default"


snapshot.register_owned(snapshot.Owned("compute", "routes", "nattracker", _default_route))
