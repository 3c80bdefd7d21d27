"""The schemas of a rendered topology file (containerlab-style), its parameters file, a
variant and a site inventory.

They are shipped as JSON Schema files (schemas/*.schema.json, each with an `$id`) so that an
editor can check a user's own topology folder; `python -m siteproof.topology.schema` writes
them, and a project test keeps them equal to what this module builds.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema

from siteproof.errors import TopologyError
from siteproof.topology.labels import ROLES, labels_schema

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
ID_BASE = "https://siteproof.invalid/schemas/"  # a name, not a place to fetch from

IFNAME = {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,15}$"}
NAME = {"type": "string", "pattern": r"^[a-z][a-z0-9-]{0,11}$"}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
# An SSH target: [user@]host[:port], never an option (a leading '-') or a password.
SSH_TARGET_PATTERN = r"^(?:[A-Za-z0-9_][A-Za-z0-9._-]*@)?(?:[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$"
# A path on a site host that reaches a command line: absolute, no spaces or shell characters.
SAFE_PATH = {"type": "string", "pattern": r"^/[A-Za-z0-9._/+-]*$"}
SAFE_NAME = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"}
PATH_MAP = {"type": "object", "propertyNames": SAFE_NAME, "additionalProperties": SAFE_PATH}
SCALAR = {"type": ["string", "integer", "number", "boolean"]}

ROUTE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["dst"],
    "properties": {
        "dst": {"type": "string"},
        "via": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
        "dev": IFNAME,
        # ECMP weights, one per next hop in 'via' (the kernel's default is 1 each).
        "weights": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 256}, "minItems": 1},
        # A policy-routing table (1-252; 253-255 are the kernel's default, main and local).
        "table": {"type": "integer", "minimum": 1, "maximum": 252},
        # local: the destination is delivered here (an LVS-DR VIP range on every real server).
        "type": {"enum": ["unicast", "local"]},
    },
}

NODE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind"],
    "properties": {
        "kind": {"enum": ["linux", "bridge"]},
        "labels": STRING_MAP,
        # containerlab's node keys (an imported *.clab.yml; see clab.py): the image is recorded,
        # never pulled; env reaches the exec commands, which run in order once the links are
        # up, with each bind (SOURCE:TARGET[:ro|rw]) visible at its target.
        "image": {"type": "string"},
        "env": {"type": "object", "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"}, "additionalProperties": {"type": "string"}},
        "binds": {"type": "array", "items": {"type": "string", "pattern": r"^/[^:]*:/[^:]*(:ro|:rw)?$"}},
        "exec": {"type": "array", "items": {"type": "string", "minLength": 1}},
        # A bridge only: frames to `mac` are spread over the member ports (a LAG; see lag.py).
        "lag": {
            "type": "object",
            "additionalProperties": False,
            "required": ["members", "mac"],
            "properties": {
                "members": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "mac": {"type": "string", "pattern": "^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"},
            },
        },
        # A bridge only: ports that reach the bridge's other ports but not each other (the
        # kernel's per-port `isolated` flag; an IB partition's limited members, say).
        "isolated": {"type": "array", "items": {"type": "string"}},
        "interfaces": {
            "type": "object",
            "propertyNames": IFNAME,
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "addresses": {"type": "array", "items": {"type": "string"}},
                    "mtu": {"type": "integer", "minimum": 68, "maximum": 65535},
                    "mac": {"type": "string", "pattern": "^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"},
                    # The addresses are shared on purpose with other anycast interfaces (an
                    # active/active first-hop gateway): no duplicate-address refusal for them.
                    "anycast": {"type": "boolean"},
                },
            },
        },
        "routes": {"type": "array", "items": ROUTE},
        # Policy routing: a firewall mark (set by the node's nftables ruleset) selects a table.
        "rules": {"type": "array", "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["fwmark", "table"],
            "properties": {
                "fwmark": {"type": "integer", "minimum": 1, "maximum": 4294967295},
                "table": {"type": "integer", "minimum": 1, "maximum": 252},
            },
        }},
        "sysctls": {"type": "object", "additionalProperties": SCALAR},
        # A ruleset template loaded once the node's network is up (a router's ACL, say).
        "nftables": {
            "type": "object",
            "additionalProperties": False,
            "required": ["config"],
            "properties": {"config": {"type": "string"}},
        },
        "daemons": {
            "type": "object",
            # propertyNames: the registered daemon kinds (filled in by topology_schema()).
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["config"],
                "properties": {
                    "config": {"type": "string"},
                    "args": {"type": "array", "items": {"type": "string"}},
                    # Start only once these are ready: "node" (all its daemons) or "node:kind".
                    "after": {"type": "array", "items": {"type": "string", "pattern": r"^[a-z][a-z0-9-]*(:[a-z0-9_-]+)?$"}},
                },
            },
        },
    },
}

TOPOLOGY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "topology"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]*$"},
        "description": {"type": "string"},
        "topology": {
            "type": "object",
            "additionalProperties": False,
            "required": ["nodes"],
            "properties": {
                "nodes": {"type": "object", "propertyNames": NAME, "additionalProperties": NODE, "minProperties": 1},
                "links": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["endpoints"],
                        "properties": {
                            "endpoints": {
                                "type": "array",
                                "items": {"type": "string"},
                                "minItems": 2,
                                "maxItems": 2,
                            }
                        },
                    },
                },
            },
        },
    },
}

PARAMETERS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["parameters"],
    "properties": {
        "parameters": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["default"],
                "properties": {
                    "default": SCALAR,
                    "type": {"enum": ["int", "float", "str", "bool"]},
                    # A str parameter that must be a network prefix or an address (checked before rendering).
                    "format": {"enum": ["prefix", "prefix4", "prefix6", "address", "path", "port_range", "ospf_area", "node"]},
                    "min": {"type": "number"},
                    "max": {"type": "number"},
                    "choices": {"type": "array", "items": SCALAR, "minItems": 1},
                    "help": {"type": "string"},
                },
            },
        },
        "budgets": {"type": "object", "additionalProperties": {"type": "number", "exclusiveMinimum": 0}},
        # Named sets of parameter values. "lab": what makes the lab converge at lab speed
        # (short protocol timers) where the defaults are the site's production values.
        "profiles": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"lab": {"type": "object", "additionalProperties": SCALAR}},
        },
    },
}

VARIANT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["description", "breaks", "checks"],
    "properties": {
        "description": {"type": "string"},
        "breaks": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        # Each check: a suite test this variant must make fail, and a phrase its failure must contain.
        "checks": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["test", "expect"],
                "properties": {"test": {"type": "string"}, "expect": {"type": "string"}},
            },
        },
        "parameters": {"type": "object", "additionalProperties": SCALAR},
        "templates": STRING_MAP,
        "overlay": {"type": "object"},
        "patches": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["node", "daemon", "find", "replace"],
                "properties": {
                    "node": {"type": "string"},
                    "daemon": {"type": "string"},
                    "find": {"type": "string"},
                    "replace": {"type": "string"},
                },
            },
        },
    },
}


INVENTORY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "hosts"],
    "properties": {
        "name": {"type": "string"},
        # An OpenSSH client config for every host (keys, known hosts, jump hosts, timeouts).
        "ssh_config": {"type": "string", "pattern": r"^~?/[A-Za-z0-9._/+-]*$"},  # reaches testinfra's ssh command line
        # Checked against the parameters the built-in topologies declare (type, format, range).
        "parameters": {"type": "object", "propertyNames": SAFE_NAME},
        "budgets": {"type": "object", "additionalProperties": {"type": "number", "exclusiveMinimum": 0}},
        # Which hosts a disruptive run may fault, and the dead-man switch's time-to-live.
        "faults": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "ttl": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400},
                "hosts": {"type": "array", "items": SAFE_NAME},
                "roles": {"type": "array", "items": SAFE_NAME},
                "at_once": {"type": "integer", "minimum": 1},
                # daemon kind -> its service unit (default: Debian's systemd unit)
                "units": {"type": "object", "propertyNames": SAFE_NAME,
                          "additionalProperties": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.@:-]*$"}},
                # how a daemon is stopped, started, crashed, frozen, resumed and asked whether it runs: argv lists
                # with {unit} and {kind} (default: systemctl)
                "actions": {"type": "object", "additionalProperties": False,
                            "properties": {a: {"type": "array", "minItems": 1, "items": {"type": "string"}}
                                           for a in ("stop", "start", "crash", "freeze", "thaw", "running")}},
                # a host powered off and on: argv lists with {host} and {bmc} (the host's label bmc), run on
                # the host `via`, which keeps the dead-man's power-on
                "power": {"type": "object", "additionalProperties": False, "required": ["via", "off", "on"],
                          "properties": {"via": SAFE_NAME,
                                         **{a: {"type": "array", "minItems": 1, "items": {"type": "string"}}
                                            for a in ("off", "on")}}},
            },
        },
        "hosts": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": SAFE_NAME,
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["ssh", "labels"],
                "properties": {
                    # [user@]host[:port]; siteproof.backends.ssh checks it first, without echoing it
                    "ssh": {"type": "string", "pattern": SSH_TARGET_PATTERN},
                    "labels": labels_schema(),  # typed per role: siteproof/topology/labels.py
                    "configs": PATH_MAP,
                    "dirs": PATH_MAP,  # daemon kind -> its run directory on the host
                },
            },
        },
    },
}


def topology_schema(daemon_kinds: list[str] | None = None) -> dict[str, Any]:
    """The topology schema; with the registered daemon kinds as the only allowed names."""
    if daemon_kinds is None:
        from siteproof.daemons import daemon_kinds as registered

        daemon_kinds = sorted(registered())
    doc = copy.deepcopy(TOPOLOGY)
    doc["properties"]["topology"]["properties"]["nodes"]["additionalProperties"]["properties"]["daemons"]["propertyNames"] = {
        "enum": daemon_kinds
    }
    return doc


def published() -> dict[str, dict[str, Any]]:
    """file name -> JSON Schema document, as shipped in schemas/."""
    docs = {"topology": topology_schema(), "parameters": PARAMETERS, "variant": VARIANT, "inventory": INVENTORY}
    return {
        f"{name}.schema.json": {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"{ID_BASE}{name}.schema.json",
                                "title": f"siteproof {name} file", **doc}
        for name, doc in docs.items()
    }


def write_published(folder: Path = SCHEMA_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, doc in published().items():
        path = folder / name
        path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def key_path(parts: Any) -> str:
    return ".".join(str(p) for p in parts)


def validate(document: Any, schema: dict[str, Any], file: str) -> None:
    """Raise one TopologyError for the first schema violation, naming file and key."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: (len(e.path), list(map(str, e.path))))
    if not errors:
        return
    err = errors[0]
    key = key_path(err.absolute_path)
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        name = extra[0] if extra else "?"
        raise TopologyError(file, key_path([*err.absolute_path, name]), f"unknown key {name!r}")
    if "propertyNames" in err.schema_path and err.validator == "enum":
        # Only daemon kinds are an enum of names: the registered kinds.
        raise TopologyError(file, key_path([*err.absolute_path, err.instance]),
                            f"unknown daemon kind {err.instance!r} (known: {', '.join(err.validator_value)})")
    if err.validator == "propertyNames":
        raise TopologyError(file, key, f"bad name: {err.message}")
    if err.validator == "required" and isinstance(err.instance, dict) and err.instance.get("role") in ROLES:
        role = err.instance["role"]
        missing = sorted(set(err.validator_value) - set(err.instance))
        raise TopologyError(file, key_path([*err.absolute_path, missing[0]]),
                            f"a {role} host needs label {missing[0]!r} (area {ROLES[role][0]})")
    if err.validator == "required":
        raise TopologyError(file, key or "(top)", err.message)
    if err.validator == "enum" and err.absolute_path and err.absolute_path[-1] == "role":
        raise TopologyError(file, key, f"unknown role {err.instance!r} (known: {', '.join(err.validator_value)})")
    if err.validator == "pattern" and "title" in err.schema:
        raise TopologyError(file, key, f"{err.instance!r} is not {err.schema['title']}")
    raise TopologyError(file, key or "(top)", err.message)


if __name__ == "__main__":
    for written in write_published():
        print(written)
    sys.exit(0)
