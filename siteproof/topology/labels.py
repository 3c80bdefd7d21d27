"""The labels a site inventory gives each host, typed per role: what each area's checks read.

A host's `role` picks its labels. Required ones are what the area's read-only checks cannot do
without; optional ones are checked for type when given. Any other label is allowed (a site's
own notes), as a string. The inventory schema (schemas/inventory.schema.json) is built from
this table, so a wrong label is an error naming host and key before any host is reached.
"""

from __future__ import annotations

from typing import Any

_OCTET = r"(25[0-5]|2[0-4]\d|1?\d?\d)"
_IPV4 = rf"{_OCTET}(\.{_OCTET}){{3}}"
_IPV6 = r"[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*"
_PORT = r"([1-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])"

TYPES: dict[str, dict[str, Any]] = {
    "ipv4": {"type": "string", "pattern": rf"^{_IPV4}$", "title": "an IPv4 address"},
    "ipv6": {"type": "string", "pattern": rf"^{_IPV6}$", "title": "an IPv6 address"},
    "ipv4-prefixes": {"type": "string", "pattern": rf"^{_IPV4}/\d{{1,2}}(,{_IPV4}/\d{{1,2}})*$",
                      "title": "IPv4 prefixes, comma-separated (10.60.0.50/32,10.61.0.0/24)"},
    "ipv4-list": {"type": "string", "pattern": rf"^{_IPV4}(,{_IPV4})*$", "title": "IPv4 addresses, comma-separated"},
    "port": {"type": "string", "pattern": rf"^{_PORT}$", "title": "a port number (1-65535)"},
    "port-range": {"type": "string", "pattern": rf"^{_PORT}(-{_PORT})?$", "title": "a port or a range (50100-50199)"},
    "services": {"type": "string", "pattern": r"^(tcp|udp)/\d+(,(tcp|udp)/\d+)*$", "title": "services, e.g. tcp/22,udp/123"},
    "int": {"type": "string", "pattern": r"^\d+$", "title": "a whole number"},
    "name": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", "title": "a name"},
    "names": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*(,[A-Za-z0-9][A-Za-z0-9_.-]*)*$",
              "title": "names, comma-separated"},
    "url": {"type": "string", "pattern": r"^https?://\S+$", "title": "an http(s) URL"},
    "pkeys": {"type": "string", "pattern": r"^\S+=0x[0-9a-fA-F]{1,4}( \S+=0x[0-9a-fA-F]{1,4})*$",
              "title": "port=pkey pairs, space-separated (ib0=0xffff vhca0=0x0001)"},
    "text": {"type": "string"},
    "path": {"type": "string", "pattern": r"^/[A-Za-z0-9._/+-]*$", "title": "an absolute path"},
    "host": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", "title": "a host name or address"},
}

# role -> (area, {label: (type, required)}); a type is a TYPES name or a JSON Schema of its own.
LabelType = str | dict[str, Any]
ROLES: dict[str, tuple[str, dict[str, tuple[LabelType, bool]]]] = {
    # gateways, ECMP (GW-*, ECMP-*)
    "gateway": ("gateways", {"hsn_vip": ("ipv4", True), "storage_vip": ("ipv4", True), "hsn_vip6": ("ipv6", False),
                             "storage_vip6": ("ipv6", False), "index": ("int", False)}),
    "compute": ("gateways, nat, can", {"address": ("ipv4", False)}),
    "storage": ("gateways", {"address": ("ipv4", False)}),
    # login (LOGIN-*)
    "login": ("login", {"address": ("ipv4", True), "vip": ("ipv4", True), "index": ("int", False)}),
    "dns": ("login", {"address": ("ipv4", True), "login_name": ("name", True)}),
    "client": ("login, dns", {"address": ("ipv4", False), "address6": ("ipv6", False), "addresses": ("ipv4-list", False),
                              "side": ({"enum": ["inside", "outside"]}, False)}),
    # DNS (DNS-*)
    "primary": ("dns", {"address": ("ipv4", True), "address6": ("ipv6", True), "transfer_key": ("name", False),
                        "update_key": ("name", False), "rollover_zone": ("name", False), "rndc_config": ("path", False)}),
    "secondary": ("dns", {"address": ("ipv4", True), "address6": ("ipv6", True)}),
    "resolver": ("dns", {"address": ("ipv4", True), "address6": ("ipv6", False)}),
    "root": ("dns", {"address": ("ipv4", True)}),
    "upstream": ("dns", {"address": ("ipv4", True), "zone": ("name", False), "update_key": ("name", False)}),
    "records": ("dns", {"address": ("ipv4", False), "etcd": ("url", True)}),
    "edge": ("dns", {"address": ("ipv4", False)}),
    "rogue": ("dns (lab only)", {"signed": ("ipv4", False), "unsigned": ("ipv4", False), "signed6": ("ipv6", False),
                                 "unsigned6": ("ipv6", False)}),
    # CAN, MGMT, HSN edge (CAN-*, MGMT-*, HSN-*)
    "spine": ("can", {"router_id": ("ipv4", True), "address": ("ipv4", False), "vrf": ("name", False)}),
    "dc-router": ("can", {"router_id": ("ipv4", True)}),
    "bgp-speaker": ("can", {"router_id": ("ipv4", True), "address": ("ipv4", True), "zone": ("name", False)}),
    "edge-router": ("can", {"router_id": ("ipv4", True), "gateway": ("ipv4", True)}),
    "api-gateway": ("can", {"zone": ("name", True), "address": ("ipv4", True), "probe": ("services", False)}),
    "ncn": ("can", {"zone": ("name", True), "address": ("ipv4", True), "probe": ("services", False)}),
    "bmc": ("can", {"zone": ("name", True), "address": ("ipv4", True), "probe": ("services", False)}),
    "dc-services": ("can", {"zone": ("name", True), "address": ("ipv4", True), "probe": ("services", False)}),
    "switch-management": ("can", {"zone": ("name", True), "address": ("ipv4", True), "probe": ("services", False),
                                  "vrf": ("name", False)}),
    "user": ("can", {"zone": ("name", True), "address": ("ipv4", True)}),
    # NAT (NAT-*)
    "nat-gateway": ("nat", {"gateway": ("name", True), "address": ("ipv4", True), "uplink": ("name", True),
                            "pool": ("ipv4-list", True), "pool_ports": ("port-range", True), "pair_member": ("name", False),
                            "physical": ("ipv4", False)}),
    "boot": ("nat", {"address": ("ipv4", True)}),
    "outside-server": ("nat, ib, dtn", {"address": ("ipv4", True), "tcp": ("port", False), "udp": ("port", False),
                                        "http": ("port", False)}),
    # IB (IB-*)
    "epn": ("ib", {"address": ("ipv4", True), "ib_address": ("ipv4", True), "containers": ("names", True),
                   "ib_pkeys": ("pkeys", True)}),
    "grid-container": ("ib", {"host": ("name", True), "address": ("ipv4", True), "vhca": ("name", True),
                              "numa": ("int", False)}),
    "ib-gateway": ("ib", {"address": ("ipv4", True), "uplink": ("ipv4", False), "ib_pkeys": ("pkeys", True)}),
    "gpn-router": ("ib", {"address": ("ipv4", True)}),
    "subnet-manager": ("ib", {}),
    # CE (CE-*)
    "computing-element": ("ce", {"address": ("ipv4", True), "xrootd": ("port", True), "monalisa": ("port", True),
                                 "local_only": ("port", False)}),
    "ingress": ("ce", {"address": ("ipv4", True), "inside": ("ipv4", False)}),
    "central-services": ("ce", {"address": ("ipv4", True)}),
    "worker-node": ("ce", {"address": ("ipv4", True)}),
    "border-router": ("ce", {"address": ("ipv4", True)}),
    "outside-scanner": ("ce", {"address": ("ipv4", True)}),
    # DTN (DTN-*)
    "dtn-host": ("dtn", {"attachment": ("name", True), "address": ("ipv4", True), "data_if": ("name", False),
                         "tcp": ("port", False), "udp": ("port", False), "http": ("port", False)}),
    "dtn-container": ("dtn", {"attachment": ("name", True), "host": ("name", True), "address": ("ipv4", True),
                              "profile": ("name", False), "ctrl_ports": ("port-range", False),
                              "data_ports": ("port-range", False), "data_peers": ("ipv4-prefixes", False),
                              "agent_port": ("port", False)}),
    "dtn-peer": ("dtn", {"address": ("ipv4", True), "tcp": ("port", False), "udp": ("port", False), "http": ("port", False)}),
    "data-net-host": ("dtn", {"address": ("ipv4", True)}),
}


def _type(t: LabelType) -> dict[str, Any]:
    return t if isinstance(t, dict) else TYPES[t]


def labels_schema() -> dict[str, Any]:
    """A host's labels: a known role, and per role its required and typed labels."""
    rules = []
    for role, (area, labels) in sorted(ROLES.items()):
        then: dict[str, Any] = {"properties": {k: _type(t) for k, (t, _) in sorted(labels.items())}}
        required = sorted(k for k, (_, req) in labels.items() if req)
        if required:
            then["required"] = required
        rules.append({"if": {"properties": {"role": {"const": role}}}, "then": then, "$comment": f"area: {area}"})
    return {
        "type": "object",
        "required": ["role"],
        # Any host: its BMC, for the inventory's power commands (faults.power).
        "properties": {"role": {"enum": sorted(ROLES)}, "services": TYPES["names"], "bmc": TYPES["host"]},
        "additionalProperties": {"type": "string"},
        "allOf": rules,
    }
