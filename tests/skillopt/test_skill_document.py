"""Skill documents: protected regions, the four edit ops, per-edit reports."""

from __future__ import annotations

import pytest

from labtrust_gym.errors import ConfigError
from labtrust_gym.skillopt.document import (
    SkillDoc,
    apply_edit,
    apply_patch,
    check_protected,
    load_skill,
    protected_regions,
)
from labtrust_gym.skillopt.types import Edit

DOC = """# T

<!-- labtrust:protected begin safety -->
Never release a held result.
<!-- labtrust:protected end safety -->

Prose line.

```yaml labtrust-team
qc_interval_s: 3600
rules:
- restock
```
"""


def test_shipped_skills_load() -> None:
    weak, good = load_skill("lab_team_weak_seed"), load_skill("lab_team")
    assert weak.team.tunables["qc_interval_s"] == 3600.0
    assert "stat_first" in good.team.rules and "stat_first" not in weak.team.rules
    assert check_protected(good.text, weak.text) is None  # same safety rules
    assert len(weak.sha) == 16 and weak.sha != good.sha


def test_protected_region_errors() -> None:
    assert set(protected_regions(DOC)) == {"safety"}
    for bad, msg in [
        ("<!-- labtrust:protected begin a -->x", "never closed"),
        ("<!-- labtrust:protected end a -->", "without its begin"),
        ("<!-- labtrust:protected begin a --><!-- labtrust:protected begin b -->", "inside"),
        (
            "<!-- labtrust:protected begin a --><!-- labtrust:protected end a -->"
            "<!-- labtrust:protected begin a --><!-- labtrust:protected end a -->",
            "twice",
        ),
    ]:
        with pytest.raises(ConfigError, match=msg):
            protected_regions(bad)


def test_four_ops() -> None:
    t, r = apply_edit(DOC, Edit("replace", "qc_interval_s: 1200", "qc_interval_s: 3600"))
    assert r["status"] == "applied" and "qc_interval_s: 1200" in t
    t, r = apply_edit(DOC, Edit("insert_after", "- stat_first", "rules:"))
    assert r["status"] == "applied" and "rules:\n- stat_first\n- restock" in t
    t, r = apply_edit(DOC, Edit("delete", "", "- restock"))
    assert r["status"] == "applied" and "- restock" not in t and "rules:\n```" in t
    t, r = apply_edit(DOC, Edit("append", "## Notes\nMore."))
    assert r["status"] == "applied" and t.endswith("## Notes\nMore.\n")


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (Edit("replace", "Always release.", "Never release a held result."), "protected"),
        (Edit("delete", "", "<!-- labtrust:protected end safety -->"), "marker"),
        (Edit("append", "<!-- labtrust:protected end safety -->"), "marker"),
        (Edit("insert_after", "x", "Never release"), "protected"),
        (Edit("replace", "x", "not in the doc"), "target not found"),
        (Edit("replace", "x", ""), "needs a target"),
        (Edit("insert_after", "x", ""), "needs a target"),
        (Edit("append", "   "), "empty"),
    ],
)
def test_skipped_edits_say_why(edit: Edit, reason: str) -> None:
    t, r = apply_edit(DOC, edit)
    assert t == DOC and r["status"] == "skipped" and reason in r["reason"]


def test_a_target_spanning_into_a_protected_region_is_refused() -> None:
    t, r = apply_edit(DOC, Edit("delete", "", "# T\n\n<!-- labtrust"))
    assert t == DOC and "protected" in r["reason"]


def test_apply_patch_reports_each_edit_and_keeps_the_block_valid() -> None:
    edits = [
        Edit("replace", "qc_interval_s: 1800", "qc_interval_s: 3600", 2),
        Edit("insert_after", "- no_such_rule", "rules:"),  # block would not parse
        Edit("replace", "qc_interval_s: oops", "qc_interval_s: 1800"),  # wrong type
        Edit("replace", "x", "Prose line."),
        Edit("delete", "", "x"),
        Edit("replace", "qc_interval_s: 1800", "qc_interval_s: 1800"),  # no change
    ]
    text, reps = apply_patch(DOC, edits, reference=DOC)
    assert [r["status"] for r in reps] == [
        "applied",
        "skipped",
        "skipped",
        "applied",
        "applied",
        "skipped",
    ]
    assert "unknown rule" in reps[1]["reason"] and "must be a number" in reps[2]["reason"]
    assert reps[5]["reason"] == "no change"
    assert [r["index"] for r in reps] == [1, 2, 3, 4, 5, 6]
    assert "qc_interval_s: 1800" in text and "Prose line." not in text
    assert SkillDoc.from_text(text).team.tunables["qc_interval_s"] == 1800.0


def test_check_protected_detects_changes() -> None:
    assert check_protected(DOC, DOC.replace("Prose", "Other")) is None
    assert "was changed" in (check_protected(DOC, DOC.replace("Never", "Always")) or "")
    gone = DOC.replace("<!-- labtrust:protected begin safety -->", "").replace(
        "<!-- labtrust:protected end safety -->", ""
    )
    assert "became" in (check_protected(DOC, gone) or "")
    assert "never closed" in (check_protected(DOC, DOC.replace("end safety", "x")) or "")
