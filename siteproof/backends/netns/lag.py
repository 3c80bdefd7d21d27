"""A fabric LAG in the switch namespace, as the Slingshot fabric's 64-way LAG to the edge
router pair (paper 000, section VI): the pair answers for one gateway address with one MAC
(VARP), and the fabric spreads the frames sent to that MAC over the member links by a
per-flow hash (L3 + L4), over the members whose link is up.

Kernel-only, no bonding (this kernel has none): a netdev ingress chain on the bridge's
other ports forwards (`fwd`) frames for the shared MAC straight out of a member port, before
the bridge sees them. ARP for the shared MAC goes to every live member (MLAG peers share
their ARP tables over the peer link; here each member simply hears every reply). Broadcast
and the members' own frames go through the bridge as usual. A member whose link goes down
leaves the hash at once, as a LAG member does on loss of carrier; the lab rewrites the chain
when it pulls a member's cable (`Lab.set_link`). A member that is up but silent (a frozen
router) stays in, as it would in a LAG without LACP timeouts: the suites fail edge routers by
their links.
"""

from __future__ import annotations


def table_name(bridge: str) -> str:
    return "lag_" + bridge.replace("-", "_")


def ruleset(bridge: str, ports: list[str], live: list[str], mac: str) -> str:
    """The whole netdev table for one LAG: `ports` are the bridge's non-member ports."""
    devices = ", ".join(f'"{p}"' for p in sorted(ports))
    rules: list[str] = []
    if not live:
        rules.append(f"ether daddr {mac} counter drop")
    else:
        arp = "".join(f'dup to "{m}" ' for m in live[:-1]) + f'fwd to "{live[-1]}"'
        rules.append(f"ether daddr {mac} ether type arp {arp}")
        spread = ", ".join(f'{i} : "{m}"' for i, m in enumerate(live))
        rules.append(f"ether daddr {mac} ether type ip fwd to jhash ip saddr . ip daddr . th sport . th dport "
                     f"mod {len(live)} map {{ {spread} }}")
        rules.append(f'ether daddr {mac} fwd to "{live[0]}"')
    body = "".join(f"    {r}\n" for r in rules)
    name = table_name(bridge)
    return (f"table netdev {name}\ndelete table netdev {name}\n"
            f"table netdev {name} {{\n  chain spread {{\n"
            f"    type filter hook ingress devices = {{ {devices} }} priority filter; policy accept;\n{body}  }}\n}}\n")
