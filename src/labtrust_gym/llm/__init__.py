"""LLM agents: OpenAI-compatible backends, record/replay cassettes, an offline test
double, prompts, reply validation, budgets and metrics.

Layering: this package sits with the baselines (it drives scripted roles as fallbacks and
reads envs); it never imports benchmarks, studies or the CLI. See ``docs/llm_agents.md``.
"""

from labtrust_gym.llm.agents import Decision, LLMAgents, attach_llm_controller, resolve_roles
from labtrust_gym.llm.backend import Backend
from labtrust_gym.llm.cassette import CASSETTE_FORMAT, RecordingBackend, ReplayBackend
from labtrust_gym.llm.exchange import CallFailure, LLMRequest, LLMResponse
from labtrust_gym.llm.factory import make_backend
from labtrust_gym.llm.offline import OfflineBackend
from labtrust_gym.llm.playbook import Playbook, load_playbook
from labtrust_gym.llm.reply import ReplyCheck, check_agent_reply, extract_json
from labtrust_gym.llm.session import LLMConfig, LLMSession, as_session
from labtrust_gym.llm.spec import KNOWN_BACKENDS, BackendSpec, parse_spec
from labtrust_gym.llm.stats import Budget, LLMStats

__all__ = [
    "Backend",
    "BackendSpec",
    "Budget",
    "CASSETTE_FORMAT",
    "CallFailure",
    "Decision",
    "KNOWN_BACKENDS",
    "LLMAgents",
    "LLMConfig",
    "LLMRequest",
    "LLMResponse",
    "LLMSession",
    "LLMStats",
    "OfflineBackend",
    "Playbook",
    "RecordingBackend",
    "ReplayBackend",
    "ReplyCheck",
    "as_session",
    "attach_llm_controller",
    "check_agent_reply",
    "extract_json",
    "load_playbook",
    "make_backend",
    "parse_spec",
    "resolve_roles",
]
