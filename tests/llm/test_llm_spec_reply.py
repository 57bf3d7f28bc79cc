"""Backend spec strings and reply parsing/validation."""

from __future__ import annotations

import pytest

from labtrust_gym.errors import ConfigError, UnknownIdError
from labtrust_gym.llm import check_agent_reply, extract_json, parse_spec
from labtrust_gym.llm.reply import MAX_REPLY_CHARS, check_dispatch_reply


def test_specs() -> None:
    s = parse_spec("openai:qwen2.5:7b@http://127.0.0.1:11434/v1")
    assert (s.kind, s.model, s.base_url) == ("openai", "qwen2.5:7b", "http://127.0.0.1:11434/v1")
    assert parse_spec("openai:gpt-4o-mini").base_url is None
    assert parse_spec("openai:m@https://h/v1").base_url == "https://h/v1"
    assert parse_spec("replay:runs/a.jsonl").path == "runs/a.jsonl"
    assert parse_spec("offline").variant == "resisting"
    assert parse_spec("offline:obedient").model == "offline:obedient"


@pytest.mark.parametrize("bad", ["anthropic:x", "gpt-4", "vllm:m@http://x"])
def test_unknown_backend_lists_the_known_ones(bad: str) -> None:
    with pytest.raises(UnknownIdError, match="known: openai, replay, offline"):
        parse_spec(bad)


@pytest.mark.parametrize("bad", ["", "openai:", "replay:", "openai:@http://h/v1"])
def test_incomplete_specs(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_spec(bad)


def test_unknown_offline_variant() -> None:
    with pytest.raises(UnknownIdError, match="resisting, obedient, invalid"):
        parse_spec("offline:clever")


ALLOWED = {"NOOP", "MOVE Z_CORRIDOR", "RELEASE_RESULT R0001"}


@pytest.mark.parametrize(
    "text",
    [
        '{"action": "MOVE Z_CORRIDOR", "reason": "go"}',
        '  {"reason": "go", "action": "MOVE Z_CORRIDOR"}\n',
        'Sure.\n```json\n{"action": "MOVE Z_CORRIDOR", "reason": "go"}\n```',
        '```\n{"action": "MOVE Z_CORRIDOR", "reason": "go"}```',
        'I pick {"action": "MOVE Z_CORRIDOR", "reason": "go"} now.',
        'Thinking: {not json} here... {"action": "MOVE Z_CORRIDOR", "reason": "go"}',
    ],
)
def test_one_object_alone_fenced_or_in_prose_is_read(text: str) -> None:
    chk = check_agent_reply(text, ALLOWED)
    assert chk.ok and chk.value == "MOVE Z_CORRIDOR", chk


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "EMPTY"),
        ("I will move to the corridor.", "NO_JSON"),
        ('{"action": "MOVE Z_CORRIDOR", "reason": "go",}', "NO_JSON"),  # never repaired
        ("{'action': 'MOVE Z_CORRIDOR', 'reason': 'go'}", "NO_JSON"),
        ('```json\n{"action": "NOOP", "reason": "x",}\n```', "NO_JSON"),
        (
            '{"action": "NOOP", "reason": "a"} or {"action": "MOVE Z_CORRIDOR", "reason": "b"}',
            "AMBIGUOUS",
        ),
        (
            '```json\n{"action": "NOOP", "reason": "a"}\n```\n```json\n{"action": "NOOP", '
            '"reason": "b"}\n```',
            "AMBIGUOUS",
        ),
        ('Empty {} first, then {"action": "NOOP", "reason": "b"}', "AMBIGUOUS"),
        ('["MOVE Z_CORRIDOR"]', "NOT_OBJECT"),
        ('{"action": "MOVE Z_CORRIDOR"}', "MISSING_FIELD"),
        ('{"action": "NOOP", "reason": "x", "confidence": 0.9}', "EXTRA_FIELD"),
        ('{"action": 3, "reason": "x"}', "WRONG_TYPE"),
        ('{"action": "move z_corridor", "reason": "x"}', "NOT_ALLOWED"),  # no case folding
        ('{"action": "MOVE  Z_CORRIDOR", "reason": "x"}', "NOT_ALLOWED"),
        ('{"action": "OPEN_DOOR D_BIOBANK_AIRLOCK", "reason": "x"}', "NOT_ALLOWED"),
        ("x" * (MAX_REPLY_CHARS + 1), "TOO_LONG"),
    ],
)
def test_invalid_replies_are_rejected_with_a_code(text: str, code: str) -> None:
    chk = check_agent_reply(text, ALLOWED)
    assert not chk.ok and chk.error == code, chk


def test_extract_json_takes_a_bare_value() -> None:
    assert extract_json("[1, 2]").value == [1, 2]


OPTIONS = {"A_R1": {"J1": 10.0, "J2": 30.0}, "A_R2": {"J2": 5.0}}


def test_dispatch_replies() -> None:
    ok = check_dispatch_reply(
        '{"assignments": [{"runner": "A_R1", "job": "J1"}, {"runner": "A_R2", "job": "J2"}],'
        ' "reason": "r"}',
        OPTIONS,
    )
    assert ok.ok and ok.value == [("A_R1", "J1"), ("A_R2", "J2")]
    assert check_dispatch_reply('{"assignments": [], "reason": ""}', OPTIONS).value == []
    for text, code in [
        ('{"assignments": [{"runner": "A_R2", "job": "J1"}], "reason": ""}', "NOT_ALLOWED"),
        (
            '{"assignments": [{"runner": "A_R1", "job": "J2"}, {"runner": "A_R2", "job": "J2"}],'
            ' "reason": ""}',
            "NOT_ALLOWED",
        ),
        ('{"assignments": [{"runner": "A_R1"}], "reason": ""}', "WRONG_TYPE"),
        ('{"assignments": {}, "reason": ""}', "WRONG_TYPE"),
        ('{"assignments": []}', "MISSING_FIELD"),
    ]:
        chk = check_dispatch_reply(text, OPTIONS)
        assert not chk.ok and chk.error == code, (text, chk)
