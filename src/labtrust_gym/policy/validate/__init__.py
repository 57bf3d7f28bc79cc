"""Validation of the policy tree: JSON Schema per file, then cross-references between files.

Every problem is a ``(file, path, message)`` triple: ``file`` is the source of the document
(``<base> + <overlay>`` when a partner overlay was merged), ``path`` a dotted path into it
(``zones[3].site_id``; empty for the whole file) and ``message`` says what is wrong and how
to fix it. Validation never stops at the first problem.

* :func:`validate_documents` checks already-parsed documents (the loader calls it);
* :func:`validate_document` schema-checks one document;
* :func:`validate_policy_dir` / :func:`check_policy_dir` read a policy directory itself,
  so a missing file, an unreadable or hostile YAML file becomes a problem too, and also
  check extra ``*.yaml`` files (for example ``coordination/*.yaml``) for which a schema
  exists;
* :func:`raise_for_problems` turns a non-empty list into :class:`PolicyValidationError`.

The package is split by concern: :mod:`.schema` (JSON Schema, messages in plain words),
:mod:`.cross_layout` / :mod:`.cross_lab` / :mod:`.cross_access` (cross-references),
:mod:`.tree` (a directory on disk).
"""

from __future__ import annotations

from labtrust_gym.policy.validate._common import (
    SLA_PRIORITIES,
    ZONE_KINDS,
    Problem,
    format_path,
    raise_for_problems,
)
from labtrust_gym.policy.validate.documents import validate_document, validate_documents
from labtrust_gym.policy.validate.tree import (
    KIND_SCHEMAS,
    PolicyCheck,
    check_policy_dir,
    validate_policy_dir,
)

__all__ = [
    "Problem",
    "PolicyCheck",
    "ZONE_KINDS",
    "SLA_PRIORITIES",
    "KIND_SCHEMAS",
    "validate_documents",
    "validate_document",
    "validate_policy_dir",
    "check_policy_dir",
    "raise_for_problems",
    "format_path",
]
