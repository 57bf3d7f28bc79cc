"""The LLM configuration of a run, and the session that holds its backend.

:class:`LLMConfig` is what the command line sets (``--llm``, ``--llm-roles``,
``--llm-record``, budgets...). :class:`LLMSession` opens the backend once per run (one
client, one thread pool, one cassette across episodes), loads the playbooks and the
price table, and writes the cassette after every episode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError
from labtrust_gym.llm.backend import Backend
from labtrust_gym.llm.factory import make_backend
from labtrust_gym.llm.playbook import Playbook, load_playbook
from labtrust_gym.llm.spec import parse_spec

__all__ = ["LLMConfig", "LLMSession", "PriceTable", "as_session", "RESPONSE_FORMATS"]

RESPONSE_FORMATS = ("json_schema", "json_object", "none")


@dataclass(frozen=True)
class LLMConfig:
    """How a run uses a model.

    ``spec``: the backend (:mod:`labtrust_gym.llm.spec`). ``roles``: roles under LLM
    control for ``--controller llm`` (role ids or short names such as ``qc``; ``("all",)``;
    None: the task's ``llm.roles`` parameter, else all). ``playbook``: path or ``skills``
    name (None: the default of each use). ``record``: write a cassette here.
    ``max_calls`` / ``max_tokens``: per-episode budgets (None: unlimited).
    ``requery_steps``: ask again after this many steps even if nothing changed.
    ``max_consecutive_failures``: failed calls in a row (after retries) that abort the run.
    ``price_table``: YAML or JSON file of per-model prices (adds ``llm.cost``).
    """

    spec: str = "offline"
    roles: tuple[str, ...] | None = None
    playbook: str | None = None
    record: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 60.0
    max_retries: int = 3
    concurrency: int = 8
    max_calls: int | None = None
    max_tokens: int | None = None
    max_output_tokens: int = 200
    temperature: float = 0.0
    response_format: str = "json_schema"
    requery_steps: int = 30
    max_consecutive_failures: int = 3
    price_table: str | None = None

    def __post_init__(self) -> None:
        parse_spec(self.spec)  # fail early, naming the spec
        if self.response_format not in RESPONSE_FORMATS:
            raise ConfigError(
                f"LLM response format {self.response_format!r}; use one of "
                f"{', '.join(RESPONSE_FORMATS)}"
            )
        for name in ("max_calls", "max_tokens"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ConfigError(f"LLM budget {name} must be >= 0, got {v}")
        if self.requery_steps < 1 or self.max_output_tokens < 1:
            raise ConfigError("LLM requery_steps and max_output_tokens must be >= 1")
        if self.max_consecutive_failures < 1:
            raise ConfigError("LLM max_consecutive_failures must be >= 1")

    def record_doc(self) -> dict[str, Any]:
        """What results documents record (never the API key)."""
        return {
            "spec": self.spec,
            "roles": list(self.roles) if self.roles is not None else None,
            "playbook": self.playbook,
            "cassette": Path(self.record).name if self.record else None,
            "max_calls": self.max_calls,
            "max_tokens": self.max_tokens,
            "max_output_tokens": self.max_output_tokens,
            "temperature": self.temperature,
            "response_format": self.response_format,
            "requery_steps": self.requery_steps,
        }


@dataclass(frozen=True)
class PriceTable:
    """Prices per million tokens of one model, in ``currency``."""

    currency: str
    input_per_1m: float
    output_per_1m: float

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input_per_1m + tokens_out * self.output_per_1m) / 1e6


def load_price_table(path: str, model: str) -> PriceTable:
    """The prices of ``model`` in the table at ``path``::

    currency: USD
    models:
      gpt-4o-mini: {input_per_1m_tokens: 0.15, output_per_1m_tokens: 0.60}
    """
    from labtrust_gym.policy.loader import load_yaml

    doc = load_yaml(Path(path))
    models = doc.get("models") if isinstance(doc, dict) else None
    if not isinstance(models, dict):
        raise ConfigError(f"price table {path}: expected a mapping 'models'")
    entry = models.get(model)
    if not isinstance(entry, dict):
        raise ConfigError(
            f"price table {path}: no prices for model {model!r}; known: "
            f"{', '.join(sorted(map(str, models))) or '(none)'}"
        )
    try:
        return PriceTable(
            str(doc.get("currency", "USD")),
            float(entry["input_per_1m_tokens"]),
            float(entry["output_per_1m_tokens"]),
        )
    except (KeyError, TypeError, ValueError):
        raise ConfigError(
            f"price table {path}: models.{model} needs numbers input_per_1m_tokens and "
            "output_per_1m_tokens"
        ) from None


class LLMSession:
    """The backend, playbooks and prices of one run (see the module docstring)."""

    def __init__(self, config: LLMConfig, backend: Backend | None = None) -> None:
        self.config = config
        if backend is None:
            backend = make_backend(
                config.spec,
                base_url=config.base_url,
                api_key=config.api_key,
                timeout_s=config.timeout_s,
                max_retries=config.max_retries,
                concurrency=config.concurrency,
            )
        if config.record:
            from labtrust_gym.llm.cassette import RecordingBackend

            backend = RecordingBackend(backend, config.record)
        self.backend = backend
        self.prices = (
            load_price_table(config.price_table, backend.model) if config.price_table else None
        )
        self._playbooks: dict[str, Playbook] = {}

    def playbook(self, default: str) -> Playbook:
        """The configured playbook, else ``default`` (loaded once per session)."""
        ref = self.config.playbook or default
        pb = self._playbooks.get(ref)
        if pb is None:
            pb = self._playbooks[ref] = load_playbook(ref)
        return pb

    def end_episode(self) -> None:
        """Write the cassette so far (when recording)."""
        flush = getattr(self.backend, "flush", None)
        if flush is not None:
            flush()

    def close(self) -> None:
        self.backend.close()

    def record_doc(self) -> dict[str, Any]:
        doc = self.config.record_doc()
        doc["backend"] = self.backend.name
        doc["model"] = self.backend.model
        doc["playbooks"] = [pb.record() for pb in self._playbooks.values()]
        if self.prices is not None:
            doc["currency"] = self.prices.currency
        return doc


def as_session(llm: LLMConfig | LLMSession | str) -> tuple[LLMSession, bool]:
    """``(session, owned)``: a session for ``llm`` (a spec string, a config or an open
    session); ``owned`` means the caller opened it and must close it."""
    if isinstance(llm, LLMSession):
        return llm, False
    if isinstance(llm, str):
        llm = LLMConfig(spec=llm)
    if not isinstance(llm, LLMConfig):
        raise ConfigError(f"llm must be a spec string, LLMConfig or LLMSession, not {llm!r}")
    return LLMSession(llm), True
