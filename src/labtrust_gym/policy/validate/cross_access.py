"""Cross-checks of who may do what: RBAC, tokens, the escalation ladder, invariants,
the vocabularies and the SLA targets."""

from __future__ import annotations

from labtrust_gym.policy.validate._common import (
    SLA_PRIORITIES,
    ZONE_KINDS,
    _entries,
    _fmt_num,
    _known,
    _members,
    _num,
    _s,
    _strings,
)
from labtrust_gym.policy.validate.cross_base import CheckerBase

__all__ = ["AccessChecks"]


class AccessChecks(CheckerBase):
    """RBAC, tokens, ladder, invariants, reason codes, emits, SLA."""

    def _rbac(self) -> None:
        doc = self.doc("rbac_policy")
        if doc is None:
            return
        n = "rbac_policy"
        for k, a in _strings(doc.get("open_actions")):
            if a not in self.actions:
                self._not_action(n, ["open_actions", k], a, "open_actions")
        zone_kinds_used: set[str] | None = None
        if self.zones is not None:
            zone_kinds_used = {str(z["kind"]) for z in self.zones.values() if _s(z.get("kind"))}
        for rid, role in _members(doc, "roles"):
            for k, a in _strings(role.get("actions")):
                if a not in self.actions:
                    self._not_action(n, ["roles", rid, "actions", k], a, f"role {rid}")
            if zone_kinds_used is not None:
                for k, kind in _strings(role.get("zone_kinds")):
                    if kind in ZONE_KINDS and kind not in zone_kinds_used:
                        self.add(
                            n,
                            ["roles", rid, "zone_kinds", k],
                            f"role {rid} grants zone kind {kind!r} but no zone in "
                            f"{self.rel('zone_layout')} has that kind (used: "
                            f"{_known(zone_kinds_used)}); remove it or add such a zone",
                        )
            if self.device_types is not None:
                for k, dt in _strings(role.get("device_types")):
                    if dt not in self.device_types:
                        self.add(
                            n,
                            ["roles", rid, "device_types", k],
                            f"role {rid} grants device type {dt!r} which is not in "
                            f"{self.rel('equipment_registry')} device_types "
                            f"(known: {_known(self.device_types)}); fix the name",
                        )
        roles = dict(_members(doc, "roles"))
        seen: dict[str, int] = {}
        for i, ag in _entries(doc, "agents"):
            aid = _s(ag.get("agent_id"))
            if aid is not None:
                if aid in seen:
                    self.add(
                        n,
                        ["agents", i, "agent_id"],
                        f"agent {aid} is declared twice (also agents[{seen[aid]}]); "
                        "give every agent a unique id",
                    )
                else:
                    seen[aid] = i
            role_id = _s(ag.get("role"))
            agent_role = roles.get(role_id) if role_id is not None else None
            if role_id is not None and agent_role is None:
                self.add(
                    n,
                    ["agents", i, "role"],
                    f"agent {aid} has role {role_id!r} which is not under roles "
                    f"(known: {_known(roles)}); fix the role",
                )
            home = _s(ag.get("home_zone"))
            if home is None or self.zones is None:
                continue
            zone = self.zones.get(home)
            if zone is None:
                self.add(
                    n,
                    ["agents", i, "home_zone"],
                    f"agent {aid} has home_zone {home!r} which is not in "
                    f"{self.rel('zone_layout')} (known: {_known(self.zones)}); fix the zone",
                )
            elif agent_role is not None and isinstance(agent_role.get("zone_kinds"), list):
                home_kind = zone.get("kind")
                if home_kind not in agent_role["zone_kinds"]:
                    self.add(
                        n,
                        ["agents", i, "home_zone"],
                        f"agent {aid} starts in {home} (kind {home_kind}) but role {role_id} "
                        f"may not be in zones of that kind (zone_kinds: "
                        f"{_known(agent_role['zone_kinds'])}); change the home_zone or the role",
                    )

    # -- tokens ----------------------------------------------------------------------------

    def _tokens(self) -> None:
        doc = self.doc("token_registry")
        if doc is None:
            return
        n = "token_registry"
        rb_rel = self.rel("rbac_policy")
        for tid, t in _members(doc, "token_types"):
            allowed = [a for _, a in _strings(t.get("allowed_action_types"))]
            for k, a in _strings(t.get("allowed_action_types")):
                if a not in self.actions:
                    self._not_action(
                        n, ["token_types", tid, "allowed_action_types", k], a, f"token type {tid}"
                    )
            if self.roles is None:
                continue
            for field in ("approver_roles", "subject_roles"):
                for k, rid in _strings(t.get(field)):
                    role = self.roles.get(rid)
                    path: list[str | int] = ["token_types", tid, field, k]
                    if role is None:
                        self.add(
                            n,
                            path,
                            f"token type {tid} names role {rid!r} in {field}, which is not "
                            f"in {rb_rel} roles (known: {_known(self.roles)}); fix the role",
                        )
                    elif field == "approver_roles" and role.get("approves_tokens") is not True:
                        self.add(
                            n,
                            path,
                            f"role {rid} approves token type {tid} but does not set "
                            f"approves_tokens: true in {rb_rel}; set it or remove the role",
                        )
                    elif (
                        field == "subject_roles"
                        and allowed
                        and isinstance(role.get("actions"), list)
                        and not set(allowed) & set(role["actions"])
                    ):
                        self.add(
                            n,
                            path,
                            f"role {rid} may hold token type {tid} but its actions in "
                            f"{rb_rel} include none of {_known(allowed)}; grant the "
                            "action or remove the role",
                        )

    # -- critical-result ladder ------------------------------------------------------------

    def _ladder(self) -> None:
        doc = self.doc("escalation_ladder")
        if doc is None:
            return
        n = "escalation_ladder"
        channels = {c for _, c in _strings(doc.get("channels"))}
        for k, c in _strings(doc.get("downtime_channels")):
            if c not in channels:
                self.add(
                    n,
                    ["downtime_channels", k],
                    f"downtime channel {c!r} is not one of the channels "
                    f"({_known(channels)}); add it to channels or fix the name",
                )
        for i, t in _entries(doc, "tiers"):
            tier = t.get("tier")
            if isinstance(tier, int) and not isinstance(tier, bool) and tier != i + 1:
                self.add(
                    n,
                    ["tiers", i, "tier"],
                    f"tier number {tier} at position {i + 1}; tiers must be numbered "
                    f"1..n in order (expected {i + 1})",
                )

    # -- invariants ------------------------------------------------------------------------

    def _invariants(self) -> None:
        doc = self.doc("invariant_registry")
        if doc is None:
            return
        n = "invariant_registry"
        seen: dict[str, int] = {}
        for i, inv in _entries(doc, "invariants"):
            iid = _s(inv.get("invariant_id"))
            if iid is not None:
                if iid in seen:
                    self.add(
                        n,
                        ["invariants", i, "invariant_id"],
                        f"invariant {iid} is declared twice (also invariants[{seen[iid]}]); "
                        "give every invariant a unique id",
                    )
                else:
                    seen[iid] = i
            for k, trig in _strings(inv.get("triggers")):
                if trig not in self.actions and trig != self.clock:
                    self.add(
                        n,
                        ["invariants", i, "triggers", k],
                        f"invariant {iid} is triggered by {trig!r} which is neither an engine "
                        f"action type nor {self.clock} (known: "
                        f"{_known(self.actions, limit=40)}); fix the trigger",
                    )
            self._check_reason_code(
                n, ["invariants", i, "reason_code"], inv.get("reason_code"), f"invariant {iid}"
            )

    # -- vocabularies ----------------------------------------------------------------------

    def _reason_codes(self) -> None:
        doc = self.doc("reason_code_registry")
        if doc is None:
            return
        seen: dict[str, int] = {}
        for i, e in _entries(doc, "reason_codes"):
            code = _s(e.get("code"))
            if code is None:
                continue
            if code in seen:
                self.add(
                    "reason_code_registry",
                    ["reason_codes", i, "code"],
                    f"reason code {code} is registered twice (also reason_codes[{seen[code]}]); "
                    "remove the duplicate",
                )
            else:
                seen[code] = i

    def _emits(self) -> None:
        doc = self.doc("emits_vocab")
        if doc is None:
            return
        seen: dict[str, int] = {}
        for k, emit in _strings(doc.get("emits")):
            if emit in seen:
                self.add(
                    "emits_vocab",
                    ["emits", k],
                    f"emit {emit} is listed twice (also emits[{seen[emit]}]); remove the duplicate",
                )
            else:
                seen[emit] = k

    def _sla(self) -> None:
        doc = self.doc("sla_targets")
        if doc is None:
            return
        n = "sla_targets"
        prios = dict(_members(doc, "priorities"))
        by_rank: dict[int, str] = {}
        ranked: list[tuple[int, str, float]] = []
        for pid in SLA_PRIORITIES:
            p = prios.get(pid)
            if p is None:
                continue
            rank = p.get("rank")
            if not isinstance(rank, int) or isinstance(rank, bool):
                continue
            if rank in by_rank:
                self.add(
                    n,
                    ["priorities", pid, "rank"],
                    f"rank {rank} of {pid} is also the rank of {by_rank[rank]}; ranks must "
                    "be distinct (lower = more urgent)",
                )
                continue
            by_rank[rank] = pid
            target = _num(p.get("target_tat_s"))
            if target is not None:
                ranked.append((rank, pid, target))
        ranked.sort()
        for (r1, p1, t1), (r2, p2, t2) in zip(ranked, ranked[1:], strict=False):
            if t1 > t2:
                self.add(
                    n,
                    ["priorities", p1, "target_tat_s"],
                    f"{p1} (rank {r1}) has a looser turnaround target ({_fmt_num(t1)} s) than "
                    f"the less urgent {p2} (rank {r2}, {_fmt_num(t2)} s); a more urgent "
                    "priority needs a target no longer than a less urgent one",
                )
