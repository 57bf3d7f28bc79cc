"""Evidence: self-proving episode logs, signed evidence bundles, an independent verifier.

* :mod:`.log_format`, :mod:`.episode_log`: the ``labtrust.episode_log.v1`` format and the
  env's writer (:func:`write_episode_log`);
* :mod:`.keys`: the audit signing key (``LABTRUST_AUDIT_KEY``, a lab profile's
  ``audit_key``, or a per-install key);
* :func:`export_evidence`: a run directory -> a signed bundle;
* :func:`verify_bundle`: check a bundle with the standard library and ``cryptography``
  only (:mod:`.verify`); ``replay=True`` also re-runs the engine;
* :mod:`.tamper`: the tamper corpus generator used to measure detection.

See docs/evidence.md for the formats and the threat model. Names are imported lazily,
so importing this package (the env does, for the log writer) loads no engine code and
the verifier stays free of it.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Check",
    "VerifyReport",
    "verify_bundle",
    "check_episode_log",
    "export_evidence",
    "EpisodeLog",
    "write_episode_log",
    "episode_log_sha256",
    "audit_key",
    "tamper_corpus",
]

_WHERE = {
    "Check": "verify",
    "VerifyReport": "verify",
    "verify_bundle": "verify",
    "check_episode_log": "verify",
    "export_evidence": "export",
    "EpisodeLog": "episode_log",
    "write_episode_log": "episode_log",
    "episode_log_sha256": "episode_log",
    "audit_key": "keys",
    "tamper_corpus": "tamper",
}


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'labtrust_gym.evidence' has no attribute {name!r}")
    return getattr(importlib.import_module(f"labtrust_gym.evidence.{mod}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
