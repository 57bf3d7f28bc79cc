"""Clinical scientist: release of results and critical-result communication."""

from __future__ import annotations

from typing import Any

from labtrust_gym.baselines.scripted.common import RoleAgent, act
from labtrust_gym.baselines.scripted.view import StepView
from labtrust_gym.engine.actions_results import critical_readback

__all__ = ["Scientist"]

_NAMES = {
    "ORDERING_CLINICIAN": "Dr Ordering",
    "WARD_NURSE_IN_CHARGE": "Nurse In-Charge",
    "ON_CALL_CONSULTANT": "Dr On-Call",
}


class Scientist(RoleAgent):
    """Works through READY results: criticals first, then by priority and age.

    A critical result is phoned (a downtime-safe channel) to the recipient of its current
    ladder tier, acknowledged with the receiver's read-back of the critical values, and
    only then released. Results of an analyzer whose QC is being checked this step, or
    whose recent patient results look biased, wait for the QC verdict; HELD_QC results
    are never released (they are re-run instead).
    """

    def decide(self, v: StepView, a: Any) -> dict[str, Any] | None:
        ladder = v.st.world.ladder
        mine = v.team.result_sites(self) if v.private else None
        for r in v.sorted_ready():
            if r.device_id in v.qc_now or r.device_id in v.mem.suspect:
                continue
            if mine is not None and v.st.zone_site[v.st.dev_zone[r.device_id]] not in mine:
                continue  # decentralized: each site's scientists sign off its own results
            if not v.claim("res:" + r.result_id):
                continue
            rid = r.result_id
            if not r.critical or r.crit_state == "ACKED":
                return act("RELEASE_RESULT", result_id=rid)
            if r.crit_state == "NOTIFIED":
                role = ladder["tiers"][r.crit_tier - 1]["recipient_role"]
                return act(
                    "ACK_CRITICAL",
                    result_id=rid,
                    receiver_role=role,
                    receiver_name=_NAMES.get(role, role.replace("_", " ").title()),
                    read_back=critical_readback(r.values, r.critical_analytes),
                )
            safe = [c for c in ladder["channels"] if c in ladder["downtime_channels"]]
            channel = "PHONE" if "PHONE" in safe else (safe or ladder["channels"])[0]
            return act("NOTIFY_CRITICAL", result_id=rid, channel=channel, tier=r.crit_tier)
        return None
