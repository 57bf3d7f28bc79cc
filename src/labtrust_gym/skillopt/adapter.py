"""The SkillOpt environment adapter for LabTrust-Gym.

:class:`LabTrustSkillAdapter` has SkillOpt's five methods (``build_train_env``,
``build_eval_env``, ``rollout``, ``reflect``, ``get_task_types``). When the ``skillopt``
package is installed (the ``[skillopt]`` extra) it subclasses
``skillopt.envs.base.EnvAdapter``, so SkillOpt's own ``Trainer(cfg, adapter).train()``
drives it; without it, it is a plain class with the same methods and our own loop
(:mod:`labtrust_gym.skillopt.loop`) drives it.

* An *environment manager* is a :class:`~labtrust_gym.skillopt.types.BatchSpec` whose
  ``payload`` lists the episodes (:class:`~labtrust_gym.skillopt.splits.EpisodeSpec`).
* Split names: ``train``; ``valid_seen`` (also ``val``, ``selection``): the selection
  split; ``test`` (also SkillOpt's ``valid_unseen``): the held-out split.
* ``rollout`` refuses a skill whose protected regions differ from the reference skill's
  (the seed given to the adapter, else SkillOpt's ``skill_init``) or whose block does not
  parse: every episode then fails (hard 0, soft 0) with the reason, and nothing is played.
* ``reflect``: the rule library, or an LLM backend with the rules as fallback
  (:mod:`labtrust_gym.skillopt.reflect`); edits the gate rejected (``rejected``) are not
  proposed again.

SkillOpt 0.2.0's wheel ships none of the prompt files its aggregate and ranking stages
load (``skillopt/prompts/*.md``). :func:`install_skillopt_prompts` (called by ``setup``)
registers this package's versions of the missing ones in SkillOpt's prompt cache; prompts
SkillOpt does ship are left alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError
from labtrust_gym.skillopt.splits import DEFAULT_TASK_TYPES, SplitPlan, TaskType, parse_task_types
from labtrust_gym.skillopt.types import BatchSpec

try:  # the [skillopt] extra
    from skillopt.envs.base import EnvAdapter as _AdapterBase

    HAVE_SKILLOPT = True
except ImportError:  # pragma: no cover - exercised where the extra is not installed

    class _AdapterBase:  # type: ignore[no-redef]
        """Stand-in base when SkillOpt is not installed."""

        def setup(self, cfg: dict[str, Any]) -> None:
            self._cfg = dict(cfg)

    HAVE_SKILLOPT = False

__all__ = [
    "HAVE_SKILLOPT",
    "LabTrustSkillAdapter",
    "SPLIT_ALIASES",
    "install_skillopt_prompts",
]

SPLIT_ALIASES = {
    "train": "train",
    "valid_seen": "valid_seen",
    "val": "valid_seen",
    "selection": "valid_seen",
    "test": "test",
    "valid_unseen": "test",
}
_PROMPTS_DIR = Path(__file__).parent / "prompts"


def install_skillopt_prompts() -> list[str]:
    """Register our prompt files for the SkillOpt prompts its installation lacks (see
    the module docstring); returns the names registered."""
    try:
        import skillopt.prompts as sp
    except ImportError:
        return []
    done = []
    for f in sorted(_PROMPTS_DIR.glob("*.md")):
        generic = Path(sp._PROMPTS_DIR) / f.name
        if generic.is_file():
            continue  # SkillOpt ships it: use theirs
        sp._cache[str(generic)] = f.read_text(encoding="utf-8")
        done.append(f.stem)
    return done


class LabTrustSkillAdapter(_AdapterBase):
    """SkillOpt adapter over LabTrust-Gym tasks (see the module docstring).

    ``task_types``: strings ``TASK[@SCALE][+INJECTION]`` or :class:`TaskType`;
    ``plan``: the split seed ranges (default :class:`SplitPlan`); ``reference_skill``:
    the text whose protected regions every skill must keep; ``executor``: where
    episodes run (None: in this process); ``reflect_mode``: ``rules`` or ``llm`` (with
    ``llm``, a backend spec or :class:`~labtrust_gym.llm.Backend`); ``budget``: the most
    edits an LLM reflect may propose.
    """

    def __init__(
        self,
        task_types: Sequence[str | TaskType] = DEFAULT_TASK_TYPES,
        *,
        plan: SplitPlan | None = None,
        reference_skill: str | None = None,
        executor: Executor | None = None,
        reflect_mode: str = "rules",
        llm: Any = None,
        budget: int = 4,
    ) -> None:
        types = tuple(t if isinstance(t, TaskType) else TaskType.parse(t) for t in task_types)
        parse_task_types([t.name for t in types])  # checks every task
        self.plan = plan or SplitPlan(types)
        if self.plan.task_types != types:
            raise ConfigError("the split plan's task types differ from the adapter's")
        self.task_types = types
        self.reference_skill = reference_skill
        self.executor = executor
        if reflect_mode not in ("rules", "llm"):
            raise ConfigError(f"reflect mode {reflect_mode!r}: use rules or llm")
        if reflect_mode == "llm" and llm is None:
            raise ConfigError("reflect mode llm needs an LLM backend (--llm SPEC)")
        self.reflect_mode = reflect_mode
        self._llm = llm
        self._backend: Any = None
        self.budget = budget
        self.rejected: set[tuple[str, str, str]] = set()
        self.events: list[dict[str, Any]] = []
        self.train_keys: set[tuple[str, int]] = set()
        self._cfg: dict[str, Any] = {}

    # ------------------------------------------------------------------ lifecycle ------
    def setup(self, cfg: dict[str, Any]) -> None:
        """SkillOpt calls this once before training: remembers the config, takes the
        reference skill from ``skill_init`` when none was given, installs the missing
        prompts."""
        super().setup(cfg)
        if self.reference_skill is None and cfg.get("skill_init"):
            path = Path(str(cfg["skill_init"]))
            if path.is_file():
                self.reference_skill = path.read_text(encoding="utf-8")
        install_skillopt_prompts()

    def get_task_types(self) -> list[str]:
        return [t.name for t in self.task_types]

    # ------------------------------------------------------------------ batches --------
    def build_train_env(self, batch_size: int, seed: int, **kwargs: Any) -> BatchSpec:
        eps = self.plan.train_batch(int(batch_size), int(seed))
        self.train_keys.update(e.key for e in eps)
        return BatchSpec("train", "train", int(seed), len(eps), eps)

    def build_eval_env(self, env_num: int, split: str, seed: int, **kwargs: Any) -> BatchSpec:
        """The first ``env_num`` episodes of ``split`` (fixed: the same every call, so
        candidates are compared on the same episodes; ``seed`` is recorded only)."""
        name = SPLIT_ALIASES.get(split)
        if name is None:
            raise ConfigError(f"unknown split {split!r}; known: {', '.join(SPLIT_ALIASES)}")
        eps = self.plan.eval_episodes(name, int(env_num))
        return BatchSpec("eval", name, int(seed), len(eps), eps, {"asked_split": split})

    # ------------------------------------------------------------------ rollout --------
    def check_skill(self, skill_content: str) -> str | None:
        """Why ``skill_content`` cannot be played (None: it can)."""
        from labtrust_gym.baselines.skill_team import parse_team_block
        from labtrust_gym.skillopt.document import check_protected

        if self.reference_skill is not None:
            problem = check_protected(self.reference_skill, skill_content)
            if problem is not None:
                return f"refused: {problem}"
        try:
            parse_team_block(skill_content)
        except ConfigError as exc:
            return f"refused: {exc}"
        return None

    def rollout(
        self, env_manager: Any, skill_content: str, out_dir: str | None, **kwargs: Any
    ) -> list[dict[str, Any]]:
        """Play the batch with the skill; SkillOpt rollout dicts (also written to
        ``out_dir/rollout.jsonl`` when ``out_dir`` is given)."""
        from labtrust_gym.skillopt.rollout import invalid_skill_results, rollout

        if not isinstance(env_manager, BatchSpec) or not isinstance(env_manager.payload, list):
            raise ConfigError("rollout needs a batch from build_train_env / build_eval_env")
        eps = env_manager.payload
        problem = self.check_skill(skill_content)
        if problem is not None:
            results = invalid_skill_results(eps, problem)
        else:
            results = rollout(eps, skill_content, self.executor, kwargs.get("progress"))
        if out_dir:
            from labtrust_gym.outputs import atomic_write_text

            atomic_write_text(
                Path(out_dir) / "rollout.jsonl",
                "".join(json.dumps(r, sort_keys=True) + "\n" for r in results),
                fsync=False,
            )
        return results

    # ------------------------------------------------------------------ reflect --------
    def backend(self) -> Any:
        if self._backend is None and self._llm is not None:
            if isinstance(self._llm, str):
                from labtrust_gym.llm import make_backend

                self._backend = make_backend(self._llm)
            else:
                self._backend = self._llm
        return self._backend

    def reflect(
        self,
        results: list[dict[str, Any]],
        skill_content: str,
        out_dir: str | None,
        **kwargs: Any,
    ) -> list[dict[str, Any] | None]:
        """Raw patches for the results (rules, or LLM with the rules as fallback)."""
        from labtrust_gym.skillopt.reflect import llm_reflect, rule_reflect

        if self.reflect_mode == "llm":
            return list(
                llm_reflect(
                    results,
                    skill_content,
                    self.backend(),
                    rejected=self.rejected,
                    budget=self.budget,
                    reference=self.reference_skill,
                    events=self.events,
                )
            )
        return list(rule_reflect(results, skill_content, self.rejected))

    def close(self) -> None:
        if self._backend is not None and isinstance(self._llm, str):
            self._backend.close()
        self._backend = None
