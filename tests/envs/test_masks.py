"""Action masks tell the truth: what they allow is (almost) never BLOCKED.

The aggregate check probes masks on the states the scripted team reaches; the share of
probes the engine BLOCKED must stay under 1 % (RESTOCK_REAGENT counted apart), and every
remaining cause must be listed in docs/actions.md.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from labtrust_gym.bench.fuzz_bench import run_fuzz, run_mask_truth
from labtrust_gym.envs import make_env

DOCS = Path(__file__).resolve().parents[2] / "docs" / "actions.md"


def documented_causes() -> set[tuple[str, str]]:
    """``(action_type, reason_code)`` pairs of the table under "mask-allowed" in the docs."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Mask-allowed actions that can still be BLOCKED", 1)[1]
    section = section.split("\n## ", 1)[0]
    out = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[1].startswith("`"):
            continue
        code = cells[1].strip("`")
        for action in re.findall(r"`([A-Z_]+)`", cells[0]):
            out.add((action, code))
    return out


def _check(summary: dict[str, Any]) -> None:
    assert summary["probes"] > 500
    assert summary["blocked_share"] < 0.01, summary["causes"]
    causes = {tuple(k.split(":")) for k in summary["causes"]}
    missing = causes - documented_causes()
    assert not missing, f"undocumented causes of mask-allowed blocks: {sorted(missing)}"


def test_masks_on_scripted_states() -> None:
    _check(run_mask_truth(("throughput_sla", "multi_site_stat"), seed=0, p_probe=0.2))


def test_masks_on_random_states() -> None:
    out = run_fuzz(6000, ("adversarial_disruption", "coord_risk"), seed=1, p_hostile=0.0)
    _check(out["mask_truth"])
    assert out["uncaught"] == 0


def _idx(env: Any, action: str, param: Any) -> int:
    return int(env.codec.index[(action, param)])


def test_a_restricted_door_is_allowed_with_a_token_and_the_index_presents_it() -> None:
    env = make_env("throughput_sla", seed=0)
    door = _idx(env, "OPEN_DOOR", "D_BIOBANK_AIRLOCK")
    assert env.action_mask("analytics_01")[door] == 0  # no token: the engine would refuse
    env.step(
        {
            "supervisor_01": {
                "action_type": "ISSUE_TOKEN",
                "args": {
                    "token_id": "T1",
                    "token_type": "RESTRICTED_ENTRY",
                    "subject_agent_id": "A_ANALYTICS_01",
                    "approvers": ["A_SUPERVISOR_01"],
                },
            }
        }
    )
    assert env.last_results["A_SUPERVISOR_01"]["status"] == "ACCEPTED"
    assert env.action_mask("analytics_01")[door] == 1
    assert env.action_mask("qc_01")[door] == 0  # the token is the analyst's
    _, _, _, _, infos = env.step({"analytics_01": door})
    assert env.last_events["A_ANALYTICS_01"]["token_refs"] == ["T1"]
    res = env.last_results["A_ANALYTICS_01"]
    assert res["status"] == "ACCEPTED" and res["token_consumed"] == ["T1"]
    assert infos["analytics_01"]["action_mask"][door] == 0  # open now


def test_frozen_zones_and_open_doors() -> None:
    env = make_env("throughput_sla", seed=0)
    eng = env.engine
    pre = _idx(env, "OPEN_DOOR", "D_PRE_ANA")
    assert env.action_mask("analytics_01")[pre] == 1
    eng.frozen_zones.add("Z_PREANALYTICS")
    eng.doors["D_PRE_ANA"].open = True
    env._state_changed()
    clear = _idx(env, "CLEAR_FREEZE", "Z_PREANALYTICS")
    close = _idx(env, "CLOSE_DOOR", "D_PRE_ANA")
    m = env.action_mask("supervisor_01")
    assert m[clear] == 0  # a door of the zone is still open
    assert env.action_mask("analytics_01")[close] == 1
    eng.doors["D_PRE_ANA"].open = False
    env._state_changed()
    assert env.action_mask("analytics_01")[pre] == 0  # opening into a frozen zone
    assert env.action_mask("supervisor_01")[clear] == (
        1 if "CLEAR_FREEZE" in eng.world.roles["ROLE_SUPERVISOR"].actions else 0
    )


def test_a_forensic_freeze_masks_everything_but_noop() -> None:
    env = make_env("throughput_sla", seed=0)
    env.step({"reception_01": 1})
    env.engine.audit.tamper(0, b"{}")
    env.step({"supervisor_01": {"action_type": "VERIFY_AUDIT"}})
    assert env.engine.forensic_frozen
    for a in env.agents:
        m = env.action_mask(a)
        assert m[0] == 1 and int(np.sum(m)) == 1
