"""The decision of a cycle: a pure function of the gate result, the history and thresholds.

:func:`decide` returns a :class:`Decision` whose ``action`` is one of :data:`ACTIONS`,
checked in this order:

1. ``rollback``: the gate vetoed the candidate (a new critical violation or P0/P1 reason
   code on a selection episode), or the candidate regresses: its mean paired delta is
   below ``-rollback_threshold``. The champion stays; the candidate's edits go to the
   rejected buffer.
2. ``promote``: the gate accepted the candidate (a strict paired gain, no task type
   regressing beyond the gate's tolerance, no veto). The candidate becomes the champion
   (after an approval, when the constitution requires one).
3. Otherwise the cycle made no progress. Counting this cycle, the cycles since the last
   promotion or escalation form the *plateau*; when it reaches ``plateau_cycles``:

   * ``stop`` if the champion's selection score is at or below ``floor``: an all-zero
     plateau says the scores carry no signal (a broken task or metric), which a bigger
     method would not fix, so it is never escalated;
   * ``escalate`` to the next rung of the method ladder when there is one;
   * ``stop`` when the ladder is exhausted.
4. ``stop`` when no budget is left for another cycle; else ``iterate``.

Nothing is read or written: same inputs, same decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labtrust_gym.errors import ConfigError

__all__ = ["ACTIONS", "DecideConfig", "Decision", "decide"]

ACTIONS = ("promote", "iterate", "rollback", "escalate", "stop")


@dataclass(frozen=True)
class DecideConfig:
    """``rollback_threshold``: a mean paired drop beyond it rolls back;
    ``plateau_cycles``: cycles without progress before escalating; ``floor``: the
    champion score at or below which a plateau stops instead of escalating."""

    rollback_threshold: float = 0.05
    plateau_cycles: int = 2
    floor: float = 0.0

    def __post_init__(self) -> None:
        if self.rollback_threshold < 0:
            raise ConfigError(
                f"decide.rollback_threshold must be >= 0, got {self.rollback_threshold}"
            )
        if self.plateau_cycles < 1:
            raise ConfigError(f"decide.plateau_cycles must be >= 1, got {self.plateau_cycles}")


@dataclass(frozen=True)
class Decision:
    """``action`` (:data:`ACTIONS`), ``reason``, the rung for the next cycle, the
    plateau length counted (this cycle included) and the ``rule`` that fired."""

    action: str
    reason: str
    rung: str
    plateau: int
    rule: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reason": self.reason,
            "rung": self.rung,
            "plateau": self.plateau,
            "rule": self.rule,
        }


def decide(
    gate: Mapping[str, Any] | None,
    history: Sequence[str],
    *,
    champion_score: float,
    ladder: Sequence[str],
    rung: str,
    budget_left: bool,
    cfg: DecideConfig,
) -> Decision:
    """The cycle's decision (see the module docstring).

    ``gate``: the gate result of this cycle (``action``, ``paired.mean``), None when no
    candidate was built (no edit applied); ``history``: the actions of the earlier cycles,
    oldest first; ``champion_score``: the champion's mean selection score; ``ladder``
    and ``rung``: the method ladder and the current rung; ``budget_left``: whether the
    constitution allows another cycle."""
    if rung not in ladder:
        raise ConfigError(f"rung {rung!r} is not on the ladder {list(ladder)}")
    if gate is not None:
        action = str(gate["action"])
        mean = (gate.get("paired") or {}).get("mean")
        if action == "vetoed":
            return Decision("rollback", f"safety veto: {gate.get('reason', '')}", rung, 0, "veto")
        if mean is not None and float(mean) < -cfg.rollback_threshold:
            return Decision(
                "rollback",
                f"regression: mean paired delta {float(mean):.4f} is below "
                f"-{cfg.rollback_threshold}",
                rung,
                0,
                "regression",
            )
        if action in ("accept", "accept_new_best"):
            return Decision("promote", f"gate {action}: {gate.get('reason', '')}", rung, 0, "gate")
    plateau = 1
    for past in reversed(history):
        if past in ("promote", "escalate"):
            break
        plateau += 1
    why = "no candidate (no edit applied)" if gate is None else f"gate {gate['action']}"
    if plateau >= cfg.plateau_cycles:
        if champion_score <= cfg.floor:
            return Decision(
                "stop",
                f"plateau of {plateau} cycles at a champion score {champion_score:.4f} <= floor "
                f"{cfg.floor}: the scores carry no signal, escalating would not help",
                rung,
                plateau,
                "floor",
            )
        i = list(ladder).index(rung)
        if i + 1 < len(ladder):
            return Decision(
                "escalate",
                f"plateau of {plateau} cycles ({why}): next rung {ladder[i + 1]}",
                ladder[i + 1],
                plateau,
                "plateau",
            )
        return Decision(
            "stop",
            f"plateau of {plateau} cycles and the ladder is exhausted",
            rung,
            plateau,
            "ladder",
        )
    if not budget_left:
        return Decision(
            "stop", f"{why}; the budget allows no further cycle", rung, plateau, "budget"
        )
    return Decision(
        "iterate", f"{why}; plateau {plateau}/{cfg.plateau_cycles}", rung, plateau, "iterate"
    )
