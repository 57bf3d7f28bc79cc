"""Reading LabTrust-Gym's environment variables strictly.

A switch such as ``LABTRUST_DISABLE_PLUGIN_AUTOLOAD`` accepts only the documented values:
``1``, ``true``, ``yes``, ``on`` (on) and ``0``, ``false``, ``no``, ``off`` or empty/unset
(off), in any case. Anything else (``2``, ``disable``, a typo) is a
:class:`~labtrust_gym.errors.ConfigError` naming the variable and the accepted values: a
misspelt switch must not silently mean "off".
"""

from __future__ import annotations

import os

from labtrust_gym.errors import ConfigError

__all__ = ["TRUE_VALUES", "FALSE_VALUES", "env_flag", "env_int"]

TRUE_VALUES = frozenset({"1", "true", "yes", "on"})
FALSE_VALUES = frozenset({"", "0", "false", "no", "off"})


def env_flag(name: str) -> bool:
    """The boolean value of the switch ``name`` (unset: ``False``)."""
    raw = os.environ.get(name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise ConfigError(
        f"environment variable {name}={raw!r} is not a switch value; use one of "
        f"{', '.join(sorted(TRUE_VALUES))} (on) or {', '.join(sorted(FALSE_VALUES - {''}))} "
        "or unset it (off)"
    )


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    """The integer value of ``name`` (unset or empty: ``default``); a value that is not a
    whole number ``>= minimum`` is a :class:`ConfigError`."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(
            f"environment variable {name}={raw!r} must be a whole number >= {minimum} "
            f"(default {default}); fix or unset it"
        )
    return value
