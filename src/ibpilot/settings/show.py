"""Values as people and JSON read them: `format_value` (check-config's table), `jsonable`, `ibc_time`."""

from __future__ import annotations

import dataclasses
import json
import shlex
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
