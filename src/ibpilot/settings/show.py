"""Values as people and JSON read them: `format_value` (check-config's table), `jsonable`, `ibc_time`,
and `echo` / `shorten`, the only way a value given by the user is repeated in a message: never a secret's
value (nor a value that contains one), and a long value only as its start and its length."""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Collection
from datetime import time as dtime
from typing import Any

from ibpilot.settings.declare import Var
from ibpilot.settings.kinds import ARGS
from ibpilot.settings.values import DialogRule, Secret, WeeklyTime


def jsonable(value: Any) -> Any:
    """A value as JSON can hold it; secrets `***`."""
    if isinstance(value, Secret):
        return "***"
    if isinstance(value, dtime):
        return value.strftime("%H:%M")
    if isinstance(value, WeeklyTime):
        return str(value)
    if isinstance(value, DialogRule):
        return {k: x for k, x in dataclasses.asdict(value).items() if x is not None}
    if isinstance(value, tuple):
        return [jsonable(x) for x in value]
    return value


def ibc_time(t: dtime) -> str:
    """A time in IBC's `hh:mm AM/PM` form (what Gateway's Lock and Exit panel shows)."""
    return t.strftime("%I:%M %p")


def format_value(v: Var, value: Any) -> str:
    """A value as a person reads it (check-config): secrets `***`, bools yes/no, lists comma-joined."""
    if value is None:
        return "(unset)"
    if v.secret or isinstance(value, Secret):
        return "***"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dtime):
        return value.strftime("%H:%M")
    if isinstance(value, tuple):
        if v.kind is ARGS:
            return shlex.join(value) if value else "(empty)"
        if value and isinstance(value[0], DialogRule):
            return json.dumps(jsonable(value))
        return ",".join(str(x) for x in value) if value else "(empty)"
    return str(value)


ECHO_MAX = 200  # longer values are cut to ECHO_PREFIX characters and their length
ECHO_PREFIX = 16
MIN_SECRET_INSIDE = 4  # a shorter secret is hidden only where a value equals it (not wherever it occurs)
HIDDEN_EQUAL = "<hidden: equals a secret>"
HIDDEN_INSIDE = "<hidden: contains a secret>"


def secrets_of(settings: object) -> frozenset[str]:
    """The values of every secret set in a `Settings` (to keep them out of messages)."""
    found = (getattr(settings, f.name) for f in dataclasses.fields(settings))  # type: ignore[arg-type]
    return frozenset(x.reveal() for x in found if isinstance(x, Secret) and x)


def _hidden(value: str, secrets: Collection[str]) -> str | None:
    v = value.strip()
    for secret in secrets:
        s = secret.strip()
        if not s:
            continue
        if v == s:
            return HIDDEN_EQUAL
        if len(s) >= MIN_SECRET_INSIDE and s in value:
            return HIDDEN_INSIDE
    return None


def echo(value: str, secrets: Collection[str] = ()) -> str:
    """`value` quoted for an error message: `'abc'`, `'abcdefghijklmnop…' (131072 chars)`, or hidden."""
    hidden = _hidden(value, secrets)
    if hidden is not None:
        return hidden
    if len(value) <= ECHO_MAX:
        return repr(value)
    return f"{value[:ECHO_PREFIX] + '…'!r} ({len(value)} chars)"


def shorten(text: str, secrets: Collection[str] = ()) -> str:
    """`text` unquoted for a table (control characters escaped), cut and hidden as `echo` does."""
    hidden = _hidden(text, secrets)
    if hidden is not None:
        return hidden
    printable = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(text) <= ECHO_MAX:
        return printable
    return f"{printable[:ECHO_PREFIX]}… ({len(text)} chars)"
