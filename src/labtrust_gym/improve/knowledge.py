"""Knowledge pages: Markdown with YAML front matter, per task, policy and experiment.

After each cycle :meth:`KnowledgeAgent.ingest` adds one observation to three pages
(``tasks/<task>.md``, ``policies/<skill hash>.md`` for the champion and the candidate, and
``experiments/<run id>.md``), each with a provenance entry ``{run, cycle, source}``.
Front matter::

    ---
    name: stat_insertion
    type: task            # task | policy | experiment
    status: replicated    # observed-once | replicated | human-confirmed
    provenance:
    - {run: demo-..., cycle: 1, source: eval}
    ---

``status`` is ``observed-once`` with one provenance entry and ``replicated`` with two or
more; ``human-confirmed`` (set by a person editing the page) is never downgraded.
Ingesting is idempotent: an observation already recorded for the same run and cycle is
not added again (a stage redone after a kill writes the same page). Pages are advisory
context only: nothing in the loop's control flow reads them. :meth:`KnowledgeAgent.lint`
checks every page (``labtrust improve lint``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from labtrust_gym.outputs import atomic_write_text

__all__ = ["PAGE_TYPES", "STATUSES", "KnowledgeAgent", "read_page", "render_page"]

PAGE_TYPES = ("task", "policy", "experiment")
STATUSES = ("observed-once", "replicated", "human-confirmed")
_DIRS = {"task": "tasks", "policy": "policies", "experiment": "experiments"}
_OBS = "## Observations"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-") or "page"


def read_page(path: Path) -> tuple[dict[str, Any], str]:
    """``(front matter, body)``; raises ValueError when the front matter is missing or
    is not a YAML mapping."""
    import yaml

    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        raise ValueError("no YAML front matter (the page must start with a '---' line)")
    end = text.find("\n---\n", 4)
    if end < 0:
        raise ValueError("the front matter is not closed by a '---' line")
    try:
        meta = yaml.safe_load(text[4:end])
    except yaml.YAMLError as exc:
        raise ValueError(f"front matter is not YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise ValueError("the front matter is not a mapping")
    return meta, text[end + 5 :].lstrip("\n")


def render_page(meta: Mapping[str, Any], body: str) -> str:
    import yaml

    front = yaml.safe_dump(dict(meta), sort_keys=False, allow_unicode=True, width=100).strip()
    return f"---\n{front}\n---\n\n{body.strip()}\n"


class KnowledgeAgent:
    """Writes and checks the pages under ``root`` (see the module docstring). ``emit``:
    an optional callable taking ``(kind, payload)`` for the event log."""

    def __init__(self, root: Path | str, emit: Any = None) -> None:
        self.root = Path(root)
        self.emit = emit

    def page_path(self, page_type: str, name: str) -> Path:
        return self.root / _DIRS[page_type] / f"{_slug(name)}.md"

    # ------------------------------------------------------------- ingest ---------
    def ingest(
        self,
        *,
        run_id: str,
        cycle: int,
        task_scores: Mapping[str, float],
        task_codes: Mapping[str, Mapping[str, int]],
        champion: str,
        candidate: str | None,
        gate: Mapping[str, Any] | None,
        decision: Mapping[str, Any],
        proposal: Mapping[str, Any],
    ) -> list[str]:
        """Record cycle ``cycle``'s outcome; the pages written (relative to ``root``)."""
        prov = {"run": run_id, "cycle": int(cycle), "source": "eval"}
        touched: list[Path] = []
        for task, score in sorted(task_scores.items()):
            codes = ", ".join(
                f"{c} x{n}" for c, n in list((task_codes.get(task) or {}).items())[:5]
            )
            obs = f"champion {champion} scores {score:.4f} (mean selection score)" + (
                f"; reason codes: {codes}" if codes else "; no reason codes"
            )
            touched.append(self._upsert("task", task, f"Task: {task}", obs, prov))
        delta = ((gate or {}).get("paired") or {}).get("mean")
        if candidate is not None:
            obs = (
                f"candidate of champion {champion}: gate {(gate or {}).get('action', '-')}"
                + (f", mean paired delta {float(delta):+.4f}" if delta is not None else "")
                + f"; decision {decision['action']}"
            )
            touched.append(
                self._upsert("policy", candidate, f"Skill version {candidate}", obs, prov)
            )
        obs = f"champion {champion} after the decision ({decision['action']})"
        touched.append(self._upsert("policy", champion, f"Skill version {champion}", obs, prov))
        edits = len(proposal.get("edits") or ())
        obs = (
            f"proposal {proposal.get('source')}/{proposal.get('name')}: focus "
            f"{proposal.get('focus_task')}, method {proposal.get('method')}, "
            f"{edits} extra edit(s); decision {decision['action']}: {decision['reason']}"
        )
        touched.append(self._upsert("experiment", run_id, f"Experiment: run {run_id}", obs, prov))
        rel = sorted({p.relative_to(self.root).as_posix() for p in touched})
        if self.emit is not None:
            self.emit("knowledge_updated", {"pages": rel})
        return rel

    def _upsert(
        self, page_type: str, name: str, title: str, observation: str, prov: Mapping[str, Any]
    ) -> Path:
        path = self.page_path(page_type, name)
        if path.is_file():
            meta, body = read_page(path)
        else:
            meta = {"name": name, "type": page_type, "status": "observed-once", "provenance": []}
            body = f"# {title}\n\n{_OBS}\n"
        provs = list(meta.get("provenance") or [])
        key = (prov["run"], prov["cycle"], prov["source"])
        if any((p.get("run"), p.get("cycle"), p.get("source")) == key for p in provs):
            return path  # already recorded: a redone stage writes nothing new
        provs.append(dict(prov))
        meta["provenance"] = provs
        if meta.get("status") != "human-confirmed":  # a person's verdict is never downgraded
            meta["status"] = "replicated" if len(provs) >= 2 else "observed-once"
        # new observations go at the end of the Observations section (text a person
        # added below it, e.g. a Lessons section, stays where it is)
        head, sep, tail = body.partition(_OBS)
        line = f"- run {prov['run']} cycle {prov['cycle']}: {observation}"
        obs, nl, rest = tail.lstrip("\n").partition("\n## ")
        obs = obs.rstrip("\n")
        obs = f"{obs}\n{line}" if obs else line
        body = head + sep + "\n" + obs + "\n" + (f"\n## {rest}" if nl else "")
        atomic_write_text(path, render_page(meta, body))
        return path

    # ------------------------------------------------------------- lint -----------
    def lint(self) -> list[dict[str, str]]:
        """Problems of every page: unreadable front matter, a missing or bad ``name``,
        ``type``, ``status`` or ``provenance`` (a list of ``{run, cycle}`` entries, no
        duplicates), a status that disagrees with the provenance (``observed-once`` with
        several entries, ``replicated`` with fewer than two), a page in the wrong
        directory for its type. Sorted by page."""
        findings: list[dict[str, str]] = []
        if not self.root.is_dir():
            return findings
        for path in sorted(self.root.rglob("*.md")):
            page = path.relative_to(self.root).as_posix()

            def bad(problem: str, page: str = page) -> None:
                findings.append({"page": page, "problem": problem})

            try:
                meta, _ = read_page(path)
            except (ValueError, UnicodeDecodeError) as exc:
                bad(f"unreadable: {exc}")
                continue
            if not isinstance(meta.get("name"), str) or not meta.get("name"):
                bad("missing name")
            ptype = meta.get("type")
            if ptype not in PAGE_TYPES:
                bad(f"type {ptype!r} is not one of {', '.join(PAGE_TYPES)}")
            elif path.parent.name != _DIRS[str(ptype)]:
                bad(f"a {ptype} page must live under {_DIRS[str(ptype)]}/")
            status = meta.get("status")
            if status not in STATUSES:
                bad(f"status {status!r} is not one of {', '.join(STATUSES)}")
            provs = meta.get("provenance")
            if not isinstance(provs, list) or not provs:
                bad("missing provenance (a list of {run, cycle} entries)")
                continue
            keys: list[tuple[Any, ...]] = []
            for i, p in enumerate(provs):
                if (
                    not isinstance(p, dict)
                    or not p.get("run")
                    or not isinstance(p.get("cycle"), int)
                ):
                    bad(f"provenance[{i}] must be a mapping with run and cycle")
                    continue
                keys.append((p.get("run"), p.get("cycle"), p.get("source")))
            if len(set(keys)) != len(keys):
                bad("duplicate provenance entries")
            if status == "observed-once" and len(provs) >= 2:
                bad(f"status observed-once but {len(provs)} provenance entries: it is replicated")
            if status == "replicated" and len(provs) < 2:
                bad("status replicated with a single provenance entry")
        if self.emit is not None:
            self.emit("lint_report", {"findings": findings})
        return findings


def task_summary(
    results: Sequence[Mapping[str, Any]],
) -> tuple[dict[str, float], dict[str, dict[str, int]]]:
    """Per task type: the mean ``score`` and the reason codes of ``results``."""
    from labtrust_gym.improve.propose import reason_codes_of

    per: dict[str, list[float]] = {}
    for r in results:
        per.setdefault(str(r["task_type"]), []).append(float(r["score"]))
    scores = {t: sum(v) / len(v) for t, v in sorted(per.items())}
    return scores, {t: reason_codes_of(results, t) for t in scores}
