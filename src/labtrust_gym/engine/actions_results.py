"""Results: release (QC gate, critical gate), reruns, critical-result communication."""

from __future__ import annotations

from typing import Any

from labtrust_gym.engine.base import Blocked, EngineBase, arg_bool, arg_str

__all__ = ["ResultActions", "critical_readback", "normalize_readback"]


def critical_readback(values: dict[str, float], analytes: list[str]) -> str:
    """The read-back a receiver must repeat: ``"K 6.93; NA 118.2"`` (analytes sorted)."""
    return "; ".join(f"{a} {values[a]:g}" for a in sorted(analytes))


def normalize_readback(text: str) -> tuple[tuple[str, float | str], ...]:
    """Tokens of a read-back; numbers compare by value ("K 7.0" equals "K 7")."""
    out: list[tuple[str, float | str]] = []
    for tok in text.upper().replace("=", " ").replace(";", " ; ").split():
        try:
            out.append(("n", float(tok)))
        except ValueError:
            out.append(("s", tok))
    return tuple(out)


class ResultActions(EngineBase):
    def _result(self, args: dict[str, Any]) -> Any:
        rid = arg_str(args, "result_id")
        res = self.results.get(rid)
        if res is None:
            raise Blocked("RESULT_UNKNOWN")
        if res.status == "SUPERSEDED":
            raise Blocked("RESULT_SUPERSEDED")
        return res

    def _act_release_result(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        res = self._result(args)
        if res.status == "RELEASED":
            raise Blocked("RESULT_ALREADY_RELEASED")
        if res.critical and res.crit_state != "ACKED":
            raise Blocked("CRIT_ACK_REQUIRED")
        override = False
        if res.status == "HELD_QC":
            if not event.get("token_refs"):
                raise Blocked("QC_HOLD_ACTIVE")
            self._require_token(agent, "RELEASE_RESULT", "QC_DRIFT_OVERRIDE", res.result_id, None)
            override = True
        elif res.status != "READY":
            raise Blocked("RESULT_NOT_RELEASABLE")
        res.status = "RELEASED"
        res.released_t = self.now
        self.step_ctx["released"] = res.result_id
        if override:
            res.disclaimer = "Released under QC_DRIFT_OVERRIDE during an active QC failure."
            self._emit("RESULT_RELEASED_WITH_DISCLAIMER")
        else:
            self._emit("RESULT_RELEASED")

    def _act_request_rerun(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        res = self._result(args)
        if res.status == "RELEASED":
            raise Blocked("RESULT_ALREADY_RELEASED")
        s = self.specimens[res.specimen_id]
        if s.status != "ANALYZED" or s.loc_kind != "zone":
            raise Blocked("SPEC_NOT_READY")
        res.status = "SUPERSEDED"
        s.pending_panels.append(res.panel)
        s.status = "ACCEPTED"
        self._emit("RERUN_REQUESTED")

    # ------------------------------------------------------------------ criticals ------
    def _start_critical(self, res: Any) -> None:
        tiers = self.world.ladder["tiers"]
        res.crit_state = "PENDING"
        res.crit_tier = 1
        res.crit_deadline = self.now + float(tiers[0]["timeout_s"])
        self._schedule(res.crit_deadline, "ESCALATE", (res.result_id, 1))
        self._emit("RESULT_CRITICAL")

    def _on_escalate(self, rid: str, tier: int) -> None:
        res = self.results[rid]
        if res.crit_state == "ACKED" or res.status == "SUPERSEDED" or res.crit_tier != tier:
            return
        if res.status == "HELD_QC":
            # A value from an analyzer failing QC is not reported: the ladder stops; the
            # result can only be rerun (it cannot be notified or acknowledged).
            res.crit_deadline = float("inf")
            return
        tiers = self.world.ladder["tiers"]
        if tier < len(tiers):
            res.crit_tier = tier + 1
            res.crit_state = "PENDING"
            res.crit_deadline = self.now + float(tiers[tier]["timeout_s"])
            self._schedule(res.crit_deadline, "ESCALATE", (rid, tier + 1))
            self._emit("CRITICAL_ESCALATED")
        else:
            res.crit_deadline = float("inf")
            self._emit("CRITICAL_LADDER_EXHAUSTED")
            self._touch("crit_exhausted", rid)

    def _act_notify_critical(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        res = self._result(args)
        channel = arg_str(args, "channel")
        if not res.critical:
            raise Blocked("CRIT_NOT_CRITICAL")
        if res.status == "HELD_QC":
            raise Blocked("QC_HOLD_ACTIVE")
        if res.crit_state == "ACKED":
            raise Blocked("CRIT_ALREADY_ACKED")
        ladder = self.world.ladder
        if channel not in ladder["channels"]:
            raise Blocked("CRIT_CHANNEL_UNKNOWN")
        if self.downtime and channel not in ladder["downtime_channels"]:
            raise Blocked("CRIT_CHANNEL_UNAVAILABLE")
        tier = args.get("tier")
        if tier is not None and (type(tier) is not int or tier != res.crit_tier):
            raise Blocked("CRIT_WRONG_TIER")
        res.crit_state = "NOTIFIED"
        if res.notified_t is None:
            res.notified_t = self.now
        self._emit("CRITICAL_NOTIFIED")

    def _act_ack_critical(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        res = self._result(args)
        if not res.critical:
            raise Blocked("CRIT_NOT_CRITICAL")
        if res.status == "HELD_QC":
            raise Blocked("QC_HOLD_ACTIVE")
        if res.crit_state == "ACKED":
            raise Blocked("CRIT_ALREADY_ACKED")
        if res.crit_state != "NOTIFIED":
            raise Blocked("CRIT_NOT_NOTIFIED")
        ladder = self.world.ladder
        for f in ladder["ack_required_fields"]:
            v = args.get(f)
            if not isinstance(v, str) or not v.strip():
                raise Blocked("CRIT_ACK_FIELDS_MISSING")
        expected_role = ladder["tiers"][res.crit_tier - 1]["recipient_role"]
        if args["receiver_role"] != expected_role:
            raise Blocked("CRIT_WRONG_TIER")
        expected = normalize_readback(critical_readback(res.values, res.critical_analytes))
        if normalize_readback(args["read_back"]) != expected:
            raise Blocked("CRIT_READBACK_MISMATCH")
        res.crit_state = "ACKED"
        res.acked_t = self.now
        res.ack = {f: args[f] for f in ladder["ack_required_fields"]}
        res.ack["tier"] = res.crit_tier
        self._emit("CRITICAL_ACKNOWLEDGED")

    def _act_set_downtime(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        active = arg_bool(args, "active")
        if active == self.downtime:
            raise Blocked("DOWNTIME_UNCHANGED")
        self.downtime = active
        self._emit("DOWNTIME_STARTED" if active else "DOWNTIME_ENDED")
