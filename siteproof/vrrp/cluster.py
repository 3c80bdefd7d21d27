"""A VRRP cluster of a site: the members of one role, a group per VIP, holders, placement waits.

Storage gateways and login nodes are both such a cluster; the members are called by the
role's noun in messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from testinfra.host import Host

from siteproof.site import Site
from siteproof.vrrp import config as vrrp
from siteproof.wait import WaitResult, WaitTimeout, wait_until

NOUNS = {"login": "login node"}


@dataclass
class VrrpCluster:
    site: Site
    names: list[str]
    hosts: dict[str, Host]
    groups: dict[str, vrrp.Group]  # VIP -> group
    down: set[str] = field(default_factory=set)  # gateways a test has taken out
    noun: str = "gateway"  # what the VRRP members are called in messages
    problems: list[str] = field(default_factory=list)  # configs that could not be read, or hold no VRRP instance

    @classmethod
    def read(cls, site: Site, role: str = "gateway") -> VrrpCluster:
        """The VRRP members of one role (storage gateways, login nodes) and their VIP groups."""
        names = site.names(role)
        noun = NOUNS.get(role, role)
        configs, problems = {}, []
        if not names:
            problems.append(f"site {site.name} has no {noun} (no host with role {role!r})")
        for gw in names:
            path = site.configs.get(gw, {}).get("keepalived", "keepalived.conf")
            try:
                configs[gw] = vrrp.expand_includes(site.daemon_config(gw, "keepalived"), path,
                                                   lambda p, gw=gw: site.backend.read_file(gw, p))
            except vrrp.IncludeError as exc:
                problems.append(f"{gw}: {exc}")
                continue
            if not vrrp.parse_keepalived(configs[gw]):
                problems.append(f"{gw}: its keepalived config ({path}) has no vrrp_instance")
        groups = vrrp.groups_from_configs(configs)
        if names and not groups:
            problems.append(f"no VIP in any {noun}'s keepalived config")
        return cls(site, names, {gw: site.host(gw) for gw in names}, groups, noun=noun, problems=problems)

    def assert_readable(self) -> None:
        """Every member's config read and holding VIPs: a verdict on nothing proves nothing."""
        assert not self.problems, "cannot judge the VRRP configuration: " + "; ".join(self.problems)

    @property
    def vips(self) -> list[str]:
        return list(self.groups)

    def home_vips(self, gw: str) -> list[str]:
        """The VIPs whose first choice is gw; never empty (a takeover test of nothing proves nothing)."""
        self.assert_readable()
        found = [vip for vip, g in self.groups.items() if g.ranked()[0] == gw]
        assert found, f"{self.noun} {gw} is the first choice of no VIP: nothing to take over"
        return found

    def live(self) -> list[str]:
        return [gw for gw in self.names if gw not in self.down]

    def addresses(self, gws: list[str]) -> dict[str, set[str]]:
        """The addresses on each member right now (the backend reads them its cheapest way)."""
        return self.site.backend.addresses(gws)

    def holders(self) -> dict[str, list[str]]:
        found = self.addresses(self.live())
        return {vip: sorted(gw for gw, addrs in found.items() if vip in addrs) for vip in self.vips}

    def address_owners(self) -> dict[str, str]:
        """Every address on a live gateway right now (its own and the VIPs it holds)."""
        return {addr: gw for gw, addrs in self.addresses(self.live()).items() for addr in addrs}

    def takeover_orders(self) -> dict[tuple[str, ...], list[str]]:
        """VIPs grouped by takeover order: each group's VIPs move together, as one unit."""
        orders: dict[tuple[str, ...], list[str]] = {}
        for vip, group in self.groups.items():
            orders.setdefault(tuple(group.ranked()), []).append(vip)
        return orders

    def expected(self, live: list[str] | None = None) -> dict[str, str | None]:
        live = self.live() if live is None else live
        return {vip: g.expected_holder(live) for vip, g in self.groups.items()}

    def placement_problems(self, seen: dict[str, list[str]], want: dict[str, str | None]) -> list[str]:
        problems = []
        for vip, holders in seen.items():
            if len(holders) > 1:
                problems.append(f"VIP {vip} held by {len(holders)} {self.noun}s: {', '.join(holders)}")
            elif not holders and want.get(vip):
                problems.append(f"VIP {vip} held by no {self.noun} (expected {want[vip]})")
            elif not holders:
                # exact: nobody live is in its group; otherwise: nobody holds it at all.
                problems.append(f"VIP {vip} held by no {self.noun}" + (" (no live member in its VRRP group)" if vip in want else ""))
            elif want.get(vip) and holders[0] != want[vip]:
                problems.append(f"VIP {vip} held by {holders[0]}, expected {want[vip]}")
        return problems

    def wait_placement(
        self, budget: str, vips: list[str] | None = None, seconds: float | None = None, exact: bool = True
    ) -> WaitResult:
        """Wait until every (or each given) VIP is held by exactly its expected gateway.

        With exact=False, one holder per VIP is enough (which one depends on history
        when preemption is off).
        """
        self.assert_readable()
        want = self.expected() if exact else {}
        vips = vips or self.vips

        def check() -> list[str]:
            seen = self.holders()
            return self.placement_problems({v: seen[v] for v in vips}, want)

        try:
            return wait_until(
                check,
                budget,
                seconds=seconds or self.site.budget(budget),
                expected=f"each VIP on its highest-priority live {self.noun}, and only there",
                accept=lambda problems: problems == [],
                interval=0.1,  # each poll reads every gateway; leave keepalived the CPU
            )
        except WaitTimeout as exc:
            last = exc.last if isinstance(exc.last, list) else [repr(exc.last)]
            raise AssertionError(
                f"after {exc.seconds:.1f} s ({budget}): " + "; ".join(last[:6]) + (" ..." if len(last) > 6 else "")
            ) from None

    def takeover_budget(self) -> float:
        """3 x advert + skew + margin (RFC 5798 master-down interval, plus the named margin)."""
        return self.site.budget("vrrp_takeover")
