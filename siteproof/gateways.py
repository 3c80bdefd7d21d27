"""The storage-gateway view of a site: VRRP groups per VIP, holders, placement waits."""

from __future__ import annotations

from dataclasses import dataclass, field

from testinfra.host import Host

from siteproof import vrrp
from siteproof.site import Site
from siteproof.wait import WaitResult, WaitTimeout, wait_until


@dataclass
class Gateways:
    site: Site
    names: list[str]
    hosts: dict[str, Host]
    groups: dict[str, vrrp.Group]  # VIP -> group
    down: set[str] = field(default_factory=set)  # gateways a test has taken out

    @classmethod
    def read(cls, site: Site) -> Gateways:
        names = site.names("gateway")
        configs = {gw: site.daemon_config(gw, "keepalived") for gw in names}
        return cls(site, names, {gw: site.host(gw) for gw in names}, vrrp.groups_from_configs(configs))

    @property
    def vips(self) -> list[str]:
        return list(self.groups)

    def home_vips(self, gw: str) -> list[str]:
        return [vip for vip, g in self.groups.items() if g.ranked()[0] == gw]

    def live(self) -> list[str]:
        return [gw for gw in self.names if gw not in self.down]

    def holders(self) -> dict[str, list[str]]:
        return vrrp.holders({gw: self.hosts[gw] for gw in self.live()}, self.vips)

    def expected(self, live: list[str] | None = None) -> dict[str, str | None]:
        live = self.live() if live is None else live
        return {vip: g.expected_holder(live) for vip, g in self.groups.items()}

    def placement_problems(self, seen: dict[str, list[str]], want: dict[str, str | None]) -> list[str]:
        problems = []
        for vip, holders in seen.items():
            if len(holders) > 1:
                problems.append(f"VIP {vip} held by {len(holders)} gateways: {', '.join(holders)}")
            elif not holders:
                problems.append(f"VIP {vip} held by no gateway (expected {want.get(vip)})")
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
                expected="each VIP on its highest-priority live gateway, and only there",
                accept=lambda problems: problems == [],
                interval=0.02,
            )
        except WaitTimeout as exc:
            last = exc.last if isinstance(exc.last, list) else [repr(exc.last)]
            raise AssertionError(
                f"after {exc.seconds:.1f} s ({budget}): " + "; ".join(last[:6]) + (" ..." if len(last) > 6 else "")
            ) from None

    def takeover_budget(self) -> float:
        """3 x advert + skew + margin (RFC 5798 master-down interval, plus the named margin)."""
        advert = float(self.site.parameters.get("advert_interval", 1.0))
        return 3 * advert + advert + self.site.budget("vrrp_takeover_margin")

