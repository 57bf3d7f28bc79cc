"""The fake OpenAI-compatible server now lives in the package's test support
(:mod:`labtrust_gym.testing.fake_openai`), shared by the LLM and skill-optimizer tests."""

from labtrust_gym.testing.fake_openai import FakeOpenAI

__all__ = ["FakeOpenAI"]
