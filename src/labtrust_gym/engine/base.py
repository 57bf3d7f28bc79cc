"""Shared pieces of the engine's action mixins: the Blocked signal and argument readers."""

from __future__ import annotations

from typing import Any

__all__ = ["Blocked", "arg_str", "arg_opt_str", "arg_str_list", "arg_bool", "EngineBase"]


class Blocked(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside the engine to BLOCK the current action with a reason code."""

    __slots__ = ("code",)

    def __init__(self, code: str) -> None:
        self.code = code


def arg_str(args: dict[str, Any], name: str) -> str:
    v = args.get(name)
    if v is None:
        raise Blocked("ARGS_MISSING")
    if not isinstance(v, str) or not v:
        raise Blocked("ARGS_INVALID")
    return v


def arg_opt_str(args: dict[str, Any], name: str) -> str | None:
    v = args.get(name)
    if v is None:
        return None
    if not isinstance(v, str) or not v:
        raise Blocked("ARGS_INVALID")
    return v


def arg_str_list(args: dict[str, Any], name: str, *, required: bool = True) -> list[str]:
    v = args.get(name)
    if v is None:
        if required:
            raise Blocked("ARGS_MISSING")
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise Blocked("ARGS_INVALID")
    return v


def arg_bool(args: dict[str, Any], name: str) -> bool:
    v = args.get(name)
    if v is None:
        raise Blocked("ARGS_MISSING")
    if not isinstance(v, bool):
        raise Blocked("ARGS_INVALID")
    return v


class EngineBase:
    """Attributes the mixins share (declared for type checkers; set by ``LabEngine``)."""

    world: Any
    now: float
    agents: dict[str, Any]
    specimens: dict[str, Any]
    devices: dict[str, Any]
    results: dict[str, Any]
    doors: dict[str, Any]
    consignments: dict[str, Any]
    tokens: dict[str, Any]
    frozen_zones: set[str]
    edge_load: dict[tuple[str, str], int]
    inventory: dict[str, dict[str, int]]
    work_ids: set[str]
    downtime: bool
    forensic_frozen: bool
    timing_mode: str
    step_ctx: dict[str, Any]
    rng: dict[str, Any]
    audit: Any
    keys: Any
    specimen_defaults: dict[str, Any]
    _counters: dict[str, int]
    _to_consume: list[str]

    def _emit(self, emit: str) -> None:  # pragma: no cover - implemented by LabEngine
        raise NotImplementedError

    def _touch(self, key: str, value: Any) -> None:  # pragma: no cover
        raise NotImplementedError

    def _schedule(self, t: float, kind: str, data: tuple[Any, ...]) -> None:  # pragma: no cover
        raise NotImplementedError

    def _require_token(
        self, agent: Any, action: str, token_type: str | None, target_id: str, zone: str | None
    ) -> None:  # pragma: no cover - TrustActions
        raise NotImplementedError

    def _spec(self, args: dict[str, Any]) -> Any:  # pragma: no cover - SpecimenActions
        raise NotImplementedError

    def _reachable(self, agent: Any, s: Any) -> None:  # pragma: no cover - SpecimenActions
        raise NotImplementedError

    def _take_from_agent_or_zone(self, agent: Any, s: Any) -> None:  # pragma: no cover
        raise NotImplementedError

    def _start_critical(self, res: Any) -> None:  # pragma: no cover - ResultActions
        raise NotImplementedError

    def _require_colocated(self, agent: Any, zone: str) -> None:
        if agent.zone != zone:
            raise Blocked("AGENT_NOT_COLOCATED")

    def _zone_allowed(self, agent: Any, zone: str) -> bool:
        kind = self.world.zones[zone]["kind"]
        return kind in self.world.roles[agent.role].zone_kinds

    def _device_for(self, agent: Any, args: dict[str, Any]) -> Any:
        did = arg_str(args, "device_id")
        dev = self.devices.get(did)
        if dev is None:
            raise Blocked("DEVICE_UNKNOWN")
        if dev.device_type not in self.world.roles[agent.role].device_types:
            raise Blocked("RBAC_DEVICE_DENIED")
        if agent.zone != dev.zone:
            raise Blocked("AGENT_NOT_COLOCATED")
        return dev
