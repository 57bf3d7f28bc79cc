"""Backend spec strings: one string selects an LLM backend everywhere.

* ``openai:MODEL`` or ``openai:MODEL@BASE_URL`` — an OpenAI-compatible chat-completions
  server through the official ``openai`` client (OpenAI, vLLM, Ollama, llama.cpp's
  server...). ``MODEL`` may itself contain ``:`` (``openai:qwen2.5:7b@http://...``); the
  base URL is what follows the last ``@`` that starts ``http://`` or ``https://``.
* ``replay:CASSETTE`` — answers from a recorded cassette, no network.
* ``offline`` or ``offline:VARIANT`` — the deterministic test double
  (:mod:`labtrust_gym.llm.offline`): ``resisting`` (the default), ``obedient`` (follows
  instructions found in free-text fields) or ``invalid`` (never answers with valid JSON).
"""

from __future__ import annotations

from dataclasses import dataclass

from labtrust_gym.errors import ConfigError, UnknownIdError

__all__ = ["BackendSpec", "parse_spec", "KNOWN_BACKENDS", "OFFLINE_VARIANTS"]

KNOWN_BACKENDS = ("openai", "replay", "offline")
OFFLINE_VARIANTS = ("resisting", "obedient", "invalid")


@dataclass(frozen=True)
class BackendSpec:
    """A parsed spec: ``kind`` and its one argument (model, cassette path or variant)."""

    kind: str
    model: str = ""
    base_url: str | None = None
    path: str | None = None
    variant: str = ""

    def text(self) -> str:
        """The spec string again (what results and cassettes record)."""
        if self.kind == "openai":
            return f"openai:{self.model}" + (f"@{self.base_url}" if self.base_url else "")
        if self.kind == "replay":
            return f"replay:{self.path}"
        return f"offline:{self.variant}"


def parse_spec(spec: str) -> BackendSpec:
    """Parse ``spec`` (see the module docstring); bad input names the spec and the fix."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError("LLM spec is empty; use offline, openai:MODEL[@URL] or replay:PATH")
    kind, sep, rest = spec.strip().partition(":")
    if kind not in KNOWN_BACKENDS:
        raise UnknownIdError(
            f"unknown LLM backend {kind!r} in spec {spec!r}; known: {', '.join(KNOWN_BACKENDS)} "
            "(e.g. openai:MODEL@http://127.0.0.1:8000/v1, replay:CASSETTE.jsonl, offline)"
        )
    if kind == "offline":
        variant = rest or "resisting"
        if variant not in OFFLINE_VARIANTS:
            raise UnknownIdError(
                f"unknown offline variant {variant!r} in spec {spec!r}; known: "
                f"{', '.join(OFFLINE_VARIANTS)}"
            )
        return BackendSpec("offline", model=f"offline:{variant}", variant=variant)
    if not sep or not rest:
        what = "MODEL[@BASE_URL]" if kind == "openai" else "CASSETTE"
        raise ConfigError(f"LLM spec {spec!r} needs an argument: {kind}:{what}")
    if kind == "replay":
        return BackendSpec("replay", path=rest)
    model, base_url = rest, None
    for scheme in ("@http://", "@https://"):
        at = rest.rfind(scheme)
        if at >= 0:
            model, base_url = rest[:at], rest[at + 1 :]
            break
    if not model:
        raise ConfigError(f"LLM spec {spec!r}: the model name is empty (openai:MODEL@URL)")
    return BackendSpec("openai", model=model, base_url=base_url)
