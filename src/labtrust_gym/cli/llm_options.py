"""The ``--llm*`` options of the run commands, and the LLMConfig they make."""

from __future__ import annotations

import argparse
from typing import Any

from labtrust_gym.errors import ConfigError

__all__ = ["add_llm_arguments", "llm_config_from_args"]


def add_llm_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "LLM agents (--controller llm, or an LLM coordination method; docs/llm_agents.md)"
    )
    g.add_argument(
        "--llm",
        default=None,
        metavar="SPEC",
        help="backend: offline[:obedient|:invalid] (a deterministic test double), "
        "openai:MODEL[@BASE_URL] (any OpenAI-compatible server), replay:CASSETTE "
        "(default: none; required by --controller llm)",
    )
    g.add_argument(
        "--llm-roles",
        default=None,
        metavar="ROLES",
        help="comma-separated roles under LLM control (e.g. supervisor,qc) or 'all' "
        "(default: the task's llm.roles, else all)",
    )
    g.add_argument(
        "--llm-replay",
        default=None,
        metavar="CASSETTE",
        help="replay a recorded cassette, no network (same as --llm replay:CASSETTE; "
        "default: none)",
    )
    g.add_argument(
        "--llm-record",
        default=None,
        metavar="CASSETTE",
        help="record every model exchange to this JSONL cassette (default: none)",
    )
    g.add_argument(
        "--llm-playbook",
        default=None,
        metavar="PATH|NAME",
        help="playbook: a Markdown file or a skills artifact name (default: the task's, "
        "else the lab_agent skill)",
    )
    g.add_argument(
        "--llm-base-url",
        default=None,
        metavar="URL",
        help="server base URL (default: from the spec, else OPENAI_BASE_URL)",
    )
    g.add_argument(
        "--llm-api-key",
        default=None,
        metavar="KEY",
        help="API key (default: LABTRUST_LLM_API_KEY, else OPENAI_API_KEY; prefer them: "
        "a flag is visible in the process list)",
    )
    g.add_argument(
        "--llm-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds per attempt (default: %(default)s)",
    )
    g.add_argument(
        "--llm-max-retries",
        type=int,
        default=3,
        metavar="N",
        help="retries of a failed call: timeouts, 429, 5xx (default: %(default)s)",
    )
    g.add_argument(
        "--llm-concurrency",
        type=int,
        default=8,
        metavar="N",
        help="concurrent calls of one step (default: %(default)s)",
    )
    g.add_argument(
        "--llm-max-calls",
        type=int,
        default=None,
        metavar="N",
        help="per-episode call budget; then the scripted roles take over (default: none)",
    )
    g.add_argument(
        "--llm-max-tokens",
        type=int,
        default=None,
        metavar="N",
        help="per-episode token budget, in + out (default: none)",
    )
    g.add_argument(
        "--llm-response-format",
        choices=["json_schema", "json_object", "none"],
        default="json_schema",
        help="structured output requested from the server (default: %(default)s)",
    )
    g.add_argument(
        "--llm-price-table",
        default=None,
        metavar="FILE",
        help="YAML/JSON per-model prices per million tokens, adds llm.cost (default: none)",
    )


def llm_config_from_args(args: argparse.Namespace) -> Any:
    """The run's LLMConfig, or None when no LLM option was given."""
    spec = args.llm
    if args.llm_replay is not None:
        if spec is not None and not spec.startswith("replay:"):
            raise ConfigError("give either --llm or --llm-replay, not both")
        spec = f"replay:{args.llm_replay}"
    if spec is None:
        set_opts = [
            name
            for name in (
                "llm_roles",
                "llm_record",
                "llm_playbook",
                "llm_base_url",
                "llm_max_calls",
                "llm_max_tokens",
                "llm_price_table",
            )
            if getattr(args, name) is not None
        ]
        if set_opts:
            flag = "--" + set_opts[0].replace("_", "-")
            raise ConfigError(f"{flag} needs an LLM backend: add --llm SPEC or --llm-replay")
        return None
    from labtrust_gym.llm import LLMConfig

    roles = None
    if args.llm_roles is not None:
        roles = tuple(r.strip() for r in args.llm_roles.split(",") if r.strip())
        if not roles:
            raise ConfigError("--llm-roles is empty; give roles such as supervisor,qc or all")
    return LLMConfig(
        spec=spec,
        roles=roles,
        playbook=args.llm_playbook,
        record=args.llm_record,
        base_url=args.llm_base_url,
        api_key=args.llm_api_key,
        timeout_s=args.llm_timeout,
        max_retries=args.llm_max_retries,
        concurrency=args.llm_concurrency,
        max_calls=args.llm_max_calls,
        max_tokens=args.llm_max_tokens,
        response_format=args.llm_response_format,
        price_table=args.llm_price_table,
    )
