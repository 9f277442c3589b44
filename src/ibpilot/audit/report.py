"""What the audit found: one `Finding` per problem (never carrying a secret's value), and notes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Finding:
    """One problem. `check` is the kind (`argv`, `environ`, `file`, `mode`, `http`, `listener`, ...);
    `secret` the variable's name when a secret was found (its value is never kept here); `where` the place."""

    check: str
    where: str
    message: str
    secret: str | None = None

    def line(self) -> str:
        return f"FINDING {self.check}: {self.message}"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)  # what was looked at, counted

    def add(self, finding: Finding) -> None:
        if finding not in self.findings:
            self.findings.append(finding)

    def count(self, what: str, n: int = 1) -> None:
        self.checked[what] = self.checked.get(what, 0) + n

    @property
    def ok(self) -> bool:
        return not self.findings

    def text(self) -> str:
        lines = [f.line() for f in self.findings]
        lines += [f"note: {n}" for n in self.notes]
        looked = ", ".join(f"{n} {k}" for k, n in sorted(self.checked.items()))
        verdict = "clean" if self.ok else f"{len(self.findings)} finding(s)"
        lines.append(f"ibpilot audit: {verdict} (checked {looked or 'nothing'})")
        return "\n".join(lines)

    def as_json(self) -> str:
        doc: dict[str, Any] = {"ok": self.ok, "findings": [asdict(f) for f in self.findings],
                               "notes": self.notes, "checked": self.checked}
        return json.dumps(doc, indent=2)
