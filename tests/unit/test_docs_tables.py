"""The documentation's tables agree with the code: a playbook section per alert, migration names per declaration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ibpilot.serve.alerts import Alert
from ibpilot.settings import VARS

ROOT = Path(__file__).resolve().parents[2]


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## (ALERT_\w+)\s*$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_playbook_has_a_section_per_alert() -> None:
    sections = _sections((ROOT / "docs" / "playbook.md").read_text(encoding="utf-8"))
    assert sorted(sections) == sorted(a.value for a in Alert), "docs/playbook.md: one `## ALERT_X` section per Alert"
    for name, body in sections.items():
        for part in ("**Means**", "**ibpilot did**", "**Do**"):
            assert part in body, f"docs/playbook.md {name}: no {part}"


def _owner() -> dict[str, str]:
    """Every accepted name (canonical, aliases, IBC_ spellings, *_FILE) -> the canonical name."""
    out: dict[str, str] = {}
    for v in VARS:
        for n in v.all_names():
            out[n] = v.name
        for n in v.file_names():
            out[f"{n}_FILE"] = v.name
    return out


MIGRATION_ROW = re.compile(r"^\| `(\w+)` \| (?:`(\w+)`|—) \|", re.M)


def test_migration_tables_match_the_declarations() -> None:
    text = (ROOT / "docs" / "migrating.md").read_text(encoding="utf-8")
    rows = MIGRATION_ROW.findall(text)
    assert len(rows) > 60
    owner = _owner()
    for theirs, ours in rows:
        if ours:
            assert owner.get(theirs) == ours, f"migrating.md: `{theirs}` is read as {owner.get(theirs)}, not {ours}"
        else:
            assert theirs not in owner, f"migrating.md: `{theirs}` is said not accepted, but it is ({owner[theirs]})"


@pytest.mark.parametrize("name", sorted({a for v in VARS for a in v.aliases if "_" in a or a.isupper()}))
def test_every_docker_alias_is_in_the_migration_guide(name: str) -> None:
    assert f"| `{name}` |" in (ROOT / "docs" / "migrating.md").read_text(encoding="utf-8")
