"""Trust skeleton actions: approval tokens, key revocation, audit verification."""

from __future__ import annotations

from typing import Any

from labtrust_gym.engine.base import Blocked, EngineBase, arg_str, arg_str_list
from labtrust_gym.engine.state import Token

__all__ = ["TrustActions"]


class TrustActions(EngineBase):
    # ------------------------------------------------------------------ token use ------
    def _check_token_refs(
        self, refs: Any, agent: Any, action: str, now: float | None = None
    ) -> None:
        """Every presented token must be usable by this agent for this action type at
        ``now`` (default: the clock)."""
        if now is None:
            now = self.now
        for tid in refs:
            tok = self.tokens.get(tid)
            if tok is None:
                raise Blocked("TOKEN_UNKNOWN")
            if tok.revoked:
                raise Blocked("TOKEN_REVOKED")
            if tok.used:
                raise Blocked("TOKEN_ALREADY_USED")
            if now > tok.expires_t:
                raise Blocked("TOKEN_EXPIRED")
            if tok.subject != agent.agent_id:
                raise Blocked("TOKEN_SUBJECT_MISMATCH")
            if action not in tok.action_types:
                raise Blocked("TOKEN_SCOPE_VIOLATION")
        self.step_ctx["token_refs"] = refs

    def _require_token(
        self, agent: Any, action: str, token_type: str | None, target_id: str, zone: str | None
    ) -> None:
        """Find a presented token of ``token_type`` whose scope covers the target.

        The token was already checked for existence, life and subject; it is consumed
        only if the whole action is accepted.
        """
        refs = self.step_ctx.get("token_refs") or ()
        if not refs:
            raise Blocked("TOKEN_REQUIRED")
        for tid in refs:
            tok = self.tokens[tid]
            if tok.token_type != token_type:
                continue
            if tok.ids and target_id not in tok.ids:
                raise Blocked("TOKEN_SCOPE_VIOLATION")
            if tok.zones and zone is not None and zone not in tok.zones:
                raise Blocked("TOKEN_SCOPE_VIOLATION")
            self._to_consume.append(tid)
            return
        raise Blocked("TOKEN_WRONG_TYPE")

    # ------------------------------------------------------------------ issuing --------
    def _act_issue_token(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        tid = arg_str(args, "token_id")
        ttype = arg_str(args, "token_type")
        subject = arg_str(args, "subject_agent_id")
        approvers = arg_str_list(args, "approvers")
        scope = args.get("scope")
        if scope is None:  # absent: no restriction; any other non-mapping is invalid
            scope = {}
        if not isinstance(scope, dict) or set(scope) - {"action_types", "ids", "zones"}:
            raise Blocked("ARGS_INVALID")
        spec = self.world.token_types.get(ttype)
        if spec is None:
            raise Blocked("TOKEN_TYPE_UNKNOWN")
        if tid in self.tokens:
            raise Blocked("TOKEN_ID_EXISTS")
        subj = self.agents.get(subject)
        if subj is None:
            raise Blocked("AGENT_UNKNOWN")
        if subj.role not in spec["subject_roles"]:
            raise Blocked("TOKEN_SUBJECT_ROLE_DENIED")
        distinct = set(approvers)
        if subject in distinct:
            raise Blocked("TOKEN_SOD_VIOLATION")
        if len(distinct) < int(spec["approvals_required"]):
            raise Blocked("TOKEN_APPROVALS_INSUFFICIENT")
        for ap in sorted(distinct):
            a = self.agents.get(ap)
            if a is None:
                raise Blocked("AGENT_UNKNOWN")
            if a.role not in spec["approver_roles"]:
                raise Blocked("TOKEN_APPROVER_ROLE_DENIED")
        lists = {}
        for k in ("action_types", "ids", "zones"):
            v = scope.get(k, [])
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise Blocked("ARGS_INVALID")
            lists[k] = list(v)
        allowed = list(spec["allowed_action_types"])
        if not lists["action_types"]:
            lists["action_types"] = allowed
        elif not set(lists["action_types"]) <= set(allowed):
            raise Blocked("TOKEN_SCOPE_VIOLATION")
        self.tokens[tid] = Token(
            token_id=tid,
            token_type=ttype,
            subject=subject,
            action_types=lists["action_types"],
            ids=lists["ids"],
            zones=lists["zones"],
            approvers=sorted(distinct),
            issued_by=agent.agent_id,
            issued_t=self.now,
            expires_t=self.now + float(spec["ttl_s"]),
            single_use=bool(spec["single_use"]),
        )
        self._emit("TOKEN_ISSUED")

    def _act_revoke_token(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        tok = self.tokens.get(arg_str(args, "token_id"))
        if tok is None:
            raise Blocked("TOKEN_UNKNOWN")
        if tok.revoked:
            raise Blocked("TOKEN_REVOKED")
        tok.revoked = True
        self._emit("TOKEN_REVOKED")

    def _act_revoke_key(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        key_id = arg_str(args, "key_id")
        entry = self.keys.get(key_id)
        if entry is None:
            raise Blocked("SIG_KEY_UNKNOWN")
        if entry.status == "REVOKED":
            raise Blocked("KEY_ALREADY_REVOKED")
        self.keys.revoke(key_id)
        self._emit("KEY_REVOKED")

    # ------------------------------------------------------------------ audit ----------
    def _act_verify_audit(self, agent: Any, args: dict[str, Any], event: dict[str, Any]) -> None:
        ok, bad = self.audit.verify()
        self.step_ctx["audit_ok"] = ok
        self.step_ctx["audit_bad"] = bad
        if ok:
            self._emit("AUDIT_VERIFIED")
        else:
            self.forensic_frozen = True
            self._emit("AUDIT_CHAIN_BROKEN")
            self._emit("FORENSIC_FREEZE")
