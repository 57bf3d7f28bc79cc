"""LLM agents read the whole team skill document (prose, protected safety rules and the
block), given as their playbook like any skills artifact."""

from __future__ import annotations

import json

from labtrust_gym.benchmarks.runner import run_episode
from labtrust_gym.benchmarks.tasks import get_task
from labtrust_gym.llm import LLMConfig
from labtrust_gym.skillopt.document import load_skill
from labtrust_gym.testing.fake_openai import FakeOpenAI


def test_llm_agents_get_the_whole_skill_document() -> None:
    noop = json.dumps({"action": "NOOP", "reason": "nothing to do"})
    srv = FakeOpenAI(lambda body: noop, max_life_s=60).start()
    try:
        cfg = LLMConfig(
            spec=f"openai:fake@{srv.url}", roles=("qc",), playbook="lab_team", max_calls=3
        )
        run_episode(
            get_task("throughput_sla")(params={"max_steps": 3}), 1, controller="llm", llm=cfg
        )
    finally:
        srv.stop()
    assert srv.requests
    prompt = "".join(m["content"] for m in srv.requests[0]["body"]["messages"])
    text = load_skill("lab_team").text
    assert text.strip() in prompt  # every byte of it: prose, safety rules and block
