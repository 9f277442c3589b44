"""Small value types of the configuration: `Secret`, `DialogRule`, `WeeklyTime`, `Credentials`, `SettingsError`."""

from __future__ import annotations

import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time as dtime


class Secret:
    """A secret string: prints as `***`; `.reveal()` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class DialogRule:
    """Click `button` on an unknown window whose title and text match these regexes (search)."""

    button: str
    title: str | None = None
    text: str | None = None

    def matches(self, title: str, text: str) -> bool:
        if self.title is not None and not re.search(self.title, title):
            return False
        return self.text is None or re.search(self.text, text) is not None


@dataclass(frozen=True)
class WeeklyTime:
    """IBC's ClosedownAt: `HH:MM` every day, or `<Day> HH:MM` once a week."""

    at: dtime
    day: str | None = None  # "Monday" .. "Sunday"

    def __str__(self) -> str:
        hhmm = self.at.strftime("%H:%M")
        return f"{self.day} {hhmm}" if self.day else hhmm


@dataclass(frozen=True)
class Credentials:
    userid: str | None
    password: Secret | None


class SettingsError(ValueError):
    """Invalid configuration; `.errors` lists every problem (one line each, naming the variable)."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors: tuple[str, ...] = tuple(errors)
        lines = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(f"{len(self.errors)} configuration error(s):\n{lines}")
