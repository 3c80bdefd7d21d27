"""A VRRP cluster of a site: the members of one role, a group per VIP, holders, placement waits.

Storage gateways and login nodes are both such a cluster; the members are called by the
role's noun in messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from testinfra.host import Host

from siteproof.site import Site
from siteproof.vrrp import config as vrrp
from siteproof.vrrp.timers import ImpliedTakeover, implied_takeover
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
    def read(cls, site: Site, role: str = "gateway", names: list[str] | None = None) -> VrrpCluster:
        """The VRRP members of one role (storage gateways, login nodes), or these of them (a NAT
        failover pair), and their VIP groups."""
        names = site.names(role) if names is None else names
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
            try:
                instances = vrrp.parse_keepalived(configs[gw])
            except vrrp.KeepalivedSyntaxError as exc:
                problems.append(f"{gw}: {path} (includes expanded): {exc}")
                del configs[gw]
                continue
            if not instances:
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

    def config_problems(self) -> list[str]:
        """What every member's config must agree on, read from all of them: every member in
        every group, one unique top priority, the same timers, version, preemption and tracking
        per group, and each member's instances tracking every interface its VIPs live on (a
        member that loses one side must give up the VIPs of the other, or it black-holes)."""
        found = []
        for vip, group in self.groups.items():
            missing = set(self.names) - set(group.priorities)
            if missing:
                found.append(f"VIP {vip}: {self.noun}s {', '.join(sorted(missing)[:5])}"
                             f"{' ...' if len(missing) > 5 else ''} are not members of its VRRP group")
            top = sorted(group.priorities.values(), reverse=True)
            if len(top) > 1 and top[0] == top[1]:
                found.append(f"VIP {vip}: two {self.noun}s share the top priority {top[0]}")
            found += [f"VIP {vip} ({group.instance}): the members disagree: {d}" for d in group.disagreements()]
        for member in self.names:
            sides = {dev for g in self.groups.values() for dev in g.devices.get(member, ())}
            for vip, group in self.groups.items():
                if member not in group.tracks:
                    continue
                watched = set(group.tracks[member]) | set(group.devices.get(member, ()))
                if sides - watched:
                    found.append(f"{member}: VRRP instance {group.instance} (VIP {vip}) does not track "
                                 f"{', '.join(sorted(sides - watched))}: losing that side leaves {vip} on {member}")
                    break  # one line per member is enough to see it
        return found

    def implied_takeovers(self) -> list[ImpliedTakeover]:
        """Each group's takeover as its configured timers imply it (groups of one member left out)."""
        return [t for t in (implied_takeover(g) for g in self.groups.values()) if t is not None]

    def timer_verdict(self, objective: float) -> tuple[list[list[object]], list[str]]:
        """Every group's configured takeover against the objective: report rows (slowest first)
        and one problem per group past it."""
        rows, late = [], []
        for t in sorted(self.implied_takeovers(), key=lambda t: -t.seconds):
            over = t.seconds > objective
            rows.append([t.instance, t.vip, f"{t.advert:g} ({t.advert_from})", t.backup, round(t.seconds, 2),
                         "PAST the objective" if over else "within"])
            if over:
                late.append(f"VRRP group {t.instance} (VIP {t.vip}): its configs imply a takeover of {t.seconds:.2f} s "
                            f"(3 x advert_int {t.advert:g} s of {t.advert_from} + skew of backup {t.backup}), "
                            f"past the objective {objective:g} s")
        return rows, late

    def judge_timers(self, evidence: Any) -> None:
        """Assert every group's configured takeover within vrrp_configured_takeover; the table
        of every group goes into the evidence (a test's `evidence` fixture)."""
        objective = self.site.budget("vrrp_configured_takeover")
        rows, late = self.timer_verdict(objective)
        assert rows, f"no VRRP group with a backup: no takeover to judge among the {self.noun}s"
        evidence.measure("slowest configured takeover (s)", rows[0][4], at_most=objective,
                         limit_name="vrrp_configured_takeover")
        evidence.record("groups read", len(rows))
        evidence.table("configured takeover per VRRP group (slowest first)",
                       ["group", "VIP", "advert_int (s, whose)", "slowest backup", "implied takeover (s)", "verdict"], rows)
        assert not late, f"{len(late)} of {len(rows)} groups: " + "; ".join(late[:4]) + (" ..." if len(late) > 4 else "")

    def takeover_budget(self) -> float:
        """3 x advert + skew + margin (RFC 5798 master-down interval, plus the named margin)."""
        return self.site.budget("vrrp_takeover")
