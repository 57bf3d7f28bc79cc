"""The small, flat exception hierarchy of LabTrust-Gym.

Every message names the object at fault (file, field, id) and says how to fix it.
"""

from __future__ import annotations

__all__ = [
    "LabTrustError",
    "PolicyError",
    "PolicyValidationError",
    "UnknownIdError",
    "RegistryError",
    "ConfigError",
    "OutputPathError",
    "LLMBackendError",
    "ActionError",
    "PolicyFileError",
]


class LabTrustError(Exception):
    """Base class of every error raised on purpose by LabTrust-Gym."""


class PolicyError(LabTrustError):
    """A policy file is missing, unreadable or malformed."""


class PolicyValidationError(PolicyError):
    """One or more policy files fail their schema or a cross-reference check.

    ``problems`` holds ``(file, path, message)`` triples.
    """

    def __init__(self, problems: list[tuple[str, str, str]]):
        self.problems = problems
        lines = [f"{f}: {p or '<root>'}: {m}" for f, p, m in problems]
        super().__init__(f"{len(problems)} policy problem(s):\n  " + "\n  ".join(lines))


class UnknownIdError(LabTrustError, KeyError):
    """An id (task, method, preset, device...) is not known; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class RegistryError(LabTrustError):
    """A registry was used wrongly (duplicate id without override, bad plugin shape)."""


class ConfigError(LabTrustError, ValueError):
    """A configuration value is invalid; the message names the field."""


class OutputPathError(ConfigError):
    """An output path cannot be written (a directory where a file is expected, a read-only
    location...); raised before any work starts. The message names the path."""


class LLMBackendError(LabTrustError):
    """An LLM backend cannot serve the run: the server refused the request (bad model,
    credentials, request format), or kept failing after its bounded retries. The message
    names the backend, the request and the fix."""


class ActionError(LabTrustError, ValueError):
    """An env step was called with actions that are invalid as a whole (not a mapping, an
    agent that is not live); the env was left untouched. The message names the agent."""


class PolicyFileError(PolicyError):
    """A policy file cannot be read as policy data: too large, not UTF-8, malformed YAML,
    a duplicate key, a non-finite number, an alias bomb.

    ``file``, ``key_path`` (dotted, empty for the whole file), ``line`` and ``column``
    (1-based, 0 when unknown) locate the problem; ``problem`` says what and how to fix it.
    """

    def __init__(
        self, file: str, problem: str, *, key_path: str = "", line: int = 0, column: int = 0
    ) -> None:
        self.file = file
        self.key_path = key_path
        self.line = line
        self.column = column
        self.problem = problem
        super().__init__(f"{file}: {self.located()}")

    def located(self) -> str:
        """The message without the file name: ``line L, column C: key.path: problem``."""
        key = f"{self.key_path}: " if self.key_path else ""
        return f"{self._where()}{key}{self.problem}"

    def located_without_key(self) -> str:
        """``line L, column C: problem`` (for reports that show the key path apart)."""
        return f"{self._where()}{self.problem}"

    def _where(self) -> str:
        return f"line {self.line}, column {self.column}: " if self.line else ""
