"""What an LLM agent may choose: its allowed actions, named from the env's action mask.

Every entry of the mask that is set (NOOP and TICK aside) becomes one named action:
``MOVE Z_CORRIDOR``, ``OPEN_DOOR D_PRE_ANA``, ``START_RUN DEV_CHEM_0001``,
``DISPATCH_TRANSPORT R_ACUTE_HUB``, ``CLEAR_FREEZE Z_ANALYTICS``, ``VERIFY_AUDIT``; a work
slot is named by the item it holds now (``PICK_UP SHUB00012``, ``RELEASE_RESULT
R000031``). ``RESOLVE_HOLD`` is offered with both decisions (``RESOLVE_HOLD SHUB00012
REJECT`` / ``... ACCEPT``): the mask says a hold can be resolved, which way is the agent's
call (ACCEPT needs a HOLD_OVERRIDE token, which the engine checks). ``NOOP`` is always
allowed and comes first.

A chosen slot action is turned into an explicit engine action at once (its item cannot
shift); any other is submitted as its action index, resolved by the env when it applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from labtrust_gym.envs.codec import SLOT_ACTIONS

__all__ = ["MenuItem", "agent_menu", "menu_action", "free_text_entries", "NOOP"]

NOOP = "NOOP"
_SLOTS = frozenset(SLOT_ACTIONS)


@dataclass(frozen=True, slots=True)
class MenuItem:
    """One allowed action: its name, the codec index, the slot item (if any) and the
    RESOLVE_HOLD decision (if any)."""

    id: str
    index: int
    item: str | None = None
    decision: str | None = None


def agent_menu(env: Any, agent_id: str) -> list[MenuItem]:
    """The allowed actions of engine agent ``agent_id`` now (NOOP first)."""
    codec = env.codec
    mask = env.action_mask(agent_id)
    entries = codec.entries
    out = [MenuItem(NOOP, 0)]
    for i in np.flatnonzero(mask).tolist():
        a, p = entries[i]
        if a in ("NOOP", "TICK"):
            continue
        if a in _SLOTS:
            lst = env.view.slot_list(agent_id, a)
            if p >= len(lst):
                continue
            item = lst[p]
            if a == "RESOLVE_HOLD":
                out.append(MenuItem(f"{a} {item} REJECT", i, item, "REJECT"))
                out.append(MenuItem(f"{a} {item} ACCEPT", i, item, "ACCEPT"))
            else:
                out.append(MenuItem(f"{a} {item}", i, item))
        elif p is None:
            out.append(MenuItem(a, i))
        else:
            out.append(MenuItem(f"{a} {p}", i))
    return out


def menu_action(env: Any, agent_id: str, item: MenuItem) -> Any:
    """What to submit for ``item``: None (NOOP), an action index, or an engine action."""
    if item.index == 0:
        return None
    if item.item is None:
        return item.index
    act = env.codec.to_engine(env, agent_id, item.index)
    if act is not None and item.decision is not None:
        act["args"] = {**act["args"], "decision": item.decision}
    return act


def _view_refs(view: Mapping[str, Any]) -> list[str]:
    refs = [s["specimen_id"] for s in view.get("carrying", ())]
    refs += [s["specimen_id"] for s in view.get("zone_specimens", ())]
    for key in ("releasable_results", "critical_to_notify", "critical_to_ack", "held_qc_results"):
        refs += list(view.get(key, ()))
    return refs


def free_text_entries(
    engine: Any,
    notes: Mapping[str, Sequence[tuple[str, str]]] | None,
    view: Mapping[str, Any],
    menu: Iterable[MenuItem],
) -> list[dict[str, str]]:
    """The free text attached to what the agent sees: every specimen or result in its
    view or its allowed actions (a result shows its specimen's text, an aliquot its
    parent's), in view order, each text once: ``[{"ref", "field", "text"}]``."""
    if not notes:
        return []
    refs = _view_refs(view) + [m.item for m in menu if m.item is not None]
    specs, results = engine.specimens, engine.results
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for ref in refs:
        sid = results[ref].specimen_id if ref in results else ref
        s = specs.get(sid)
        while s is not None and sid not in notes and s.parent_id is not None:
            sid = s.parent_id
            s = specs.get(sid)
        if sid in seen:
            continue
        seen.add(sid)
        for fld, text in notes.get(sid, ()):
            out.append({"ref": sid, "field": fld, "text": text})
    return out
