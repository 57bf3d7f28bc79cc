from __future__ import annotations

from collections.abc import Iterator

import pytest
from _fake_openai import FakeOpenAI
from _llm_helpers import double_answer


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAI]:
    """A fake OpenAI-compatible server answering like the offline double."""
    srv = FakeOpenAI(double_answer, max_life_s=120).start()
    try:
        yield srv
    finally:
        srv.stop()
