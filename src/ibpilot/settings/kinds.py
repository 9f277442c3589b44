"""Kinds of values: a parser plus the words used in errors and docs (`STR`, `BOOL`, `PORT`, `TIME`, ...).

A parser takes the raw environment string and returns the typed value, or raises `Invalid` with a
message that says what is wrong (never including the value: the caller decides what may be echoed).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import time as dtime
from typing import Any

from ibpilot.settings.values import DialogRule, Secret, WeeklyTime


class Invalid(ValueError):
    """Raised by a parser; the message says what is wrong, without the value.

    `item` is the part of the value at fault (one list entry), which the caller may echo shortened.
    """

    def __init__(self, message: str, item: str | None = None) -> None:
        super().__init__(message)
        self.item = item


@dataclass(frozen=True)
class Kind:
    name: str  # short type name for the docs
    expected: str  # what a valid value looks like
    parse: Callable[[str], Any]


TRUE_WORDS = {"yes", "true", "1", "on", "y"}
FALSE_WORDS = {"no", "false", "0", "off", "n"}


def p_str(raw: str) -> str:
    return raw.strip()


def p_bool(raw: str) -> bool:
    v = raw.strip().lower()
    if v in TRUE_WORDS:
        return True
    if v in FALSE_WORDS:
        return False
    raise Invalid("not a yes/no value")


def p_int(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            n = int(raw.strip())
        except ValueError:
            raise Invalid("not an integer") from None
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise Invalid("out of range")
        return n

    return parse


def p_enum(*choices: str, synonyms: Mapping[str, str] | None = None) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        v = raw.strip().lower()
        if synonyms and v in synonyms:
            return synonyms[v]
        for c in choices:
            if v == c.lower():
                return c
        raise Invalid("not one of the allowed values")

    return parse


_TIME12 = re.compile(r"^(\d{1,2}):(\d{2})\s*([AaPp])\.?[Mm]\.?$")
_TIME24 = re.compile(r"^(\d{1,2}):(\d{2})$")


def p_time(raw: str) -> dtime:
    v = raw.strip()
    m = _TIME12.match(v)
    if m:
        h, mi, ap = int(m.group(1)), int(m.group(2)), m.group(3).lower()
        if not 1 <= h <= 12 or mi > 59:
            raise Invalid("not a valid time")
        h = h % 12 + (12 if ap == "p" else 0)
        return dtime(h, mi)
    m = _TIME24.match(v)
    if m:
        h, mi = int(m.group(1)), int(m.group(2))
        if h > 23 or mi > 59:
            raise Invalid("not a valid time")
        return dtime(h, mi)
    raise Invalid("not a time")


_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def p_weekly(raw: str) -> WeeklyTime:
    parts = raw.split()
    if len(parts) == 2:
        day = next((d for d in _DAYS if d.lower().startswith(parts[0].lower()) and len(parts[0]) >= 3), None)
        if day is None:
            raise Invalid("not a day name")
        return WeeklyTime(p_time(parts[1]), day)
    if len(parts) == 1:
        return WeeklyTime(p_time(parts[0]))
    raise Invalid("not a time")


def p_list(raw: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def p_args(raw: str) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(raw))
    except ValueError as e:
        raise Invalid(f"unbalanced quotes ({e})") from None


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")


def _is_host(v: str) -> bool:
    try:
        ipaddress.ip_address(v.strip("[]"))
        return True
    except ValueError:
        return bool(_HOSTNAME.match(v))


def p_host(raw: str) -> str:
    v = raw.strip()
    if not _is_host(v):
        raise Invalid("not a host name or IP address")
    return v


def p_ip(raw: str) -> str:
    v = raw.strip()
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        raise Invalid("not an IP address") from None


def p_ip_list(raw: str) -> tuple[str, ...]:
    out = []
    for item in p_list(raw):
        try:
            out.append(str(ipaddress.ip_address(item)))
        except ValueError:
            raise Invalid("is not an IP address", item) from None
    return tuple(out)


def p_host_list(raw: str) -> tuple[str, ...]:
    out = []
    for item in p_list(raw):
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)) if "/" in item else p_host(item))
        except (ValueError, Invalid):
            raise Invalid("is not a host name, IP address or CIDR block", item) from None
    return tuple(out)


def p_path(raw: str) -> str:
    v = raw.strip()
    if "\0" in v:
        raise Invalid("contains a NUL byte")
    return v


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)?$", re.I)


def p_duration(raw: str) -> float:
    m = _DURATION.match(raw.strip())
    if not m:
        raise Invalid("not a duration")
    n = float(m.group(1))
    unit = (m.group(2) or "s").lower()
    return n * (3600 if unit.startswith("h") else 60 if unit.startswith("m") else 1)


def p_duration_in(lo: float, hi: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        n = p_duration(raw)
        if not lo <= n <= hi:
            raise Invalid("out of range")
        return n

    return parse


def p_chat_id(raw: str) -> str:
    v = raw.strip()
    if not re.fullmatch(r"-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31}", v):
        raise Invalid("not a Telegram chat id")
    return v


def p_version(raw: str) -> str:
    v = raw.strip().replace(".", "")
    if not re.fullmatch(r"\d{3,4}", v):
        raise Invalid("not a major version")
    return v


def p_base32(raw: str) -> Secret:
    v = re.sub(r"[\s-]", "", raw).upper()
    if not v or not re.fullmatch(r"[A-Z2-7]+=*", v):
        raise Invalid("is not base32 (letters A-Z and digits 2-7)")
    try:
        base64.b32decode(v + "=" * (-len(v) % 8))
    except (binascii.Error, ValueError):
        raise Invalid("is not valid base32") from None
    if re.fullmatch(r"\d{6,8}", raw.strip()):
        raise Invalid("looks like a 6-digit code")
    return Secret(v.rstrip("="))


def p_display_size(raw: str) -> str:
    m = re.fullmatch(r"(\d{3,5})x(\d{3,5})(?:x(\d{1,2}))?", raw.strip().lower())
    if not m:
        raise Invalid("not WIDTHxHEIGHTxDEPTH")
    depth = m.group(3) or "24"
    if depth not in {"8", "15", "16", "24", "32"}:
        raise Invalid("depth must be 8, 15, 16, 24 or 32")
    return f"{m.group(1)}x{m.group(2)}x{depth}"


def p_url(raw: str) -> Secret:
    v = raw.strip()
    if not re.match(r"^https?://[^\s/]+", v):
        raise Invalid("not an http(s) URL")
    return Secret(v)


def p_secret(raw: str) -> Secret:
    return Secret(raw)


def p_save_settings(raw: str) -> str:
    v = raw.strip()
    if re.fullmatch(r"(?i)every\s+\d+\s*(mins?|minutes?|hours?|hrs?)(\s+\S+){0,2}", v):
        return v
    times = v.split()
    try:
        i = 0
        while i < len(times):
            if i + 1 < len(times) and times[i + 1].lower() in {"am", "pm"}:
                p_time(times[i] + " " + times[i + 1])
                i += 2
            else:
                p_time(times[i])
                i += 1
    except Invalid:
        raise Invalid("not a list of times or `Every n mins|hours`") from None
    return v


def p_dialog_rules(raw: str) -> tuple[DialogRule, ...]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise Invalid(f"not JSON ({e.msg} at character {e.pos})") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise Invalid("not a JSON list of objects")
    rules = []
    for i, item in enumerate(data):
        where = f"rule {i + 1}"
        if not isinstance(item, dict):
            raise Invalid(f"{where} is not an object")
        unknown = set(item) - {"title", "text", "button"}
        if unknown:
            keys = ", ".join(sorted(unknown))
            raise Invalid(f"{where} has unknown key(s) {keys if len(keys) <= 80 else keys[:40] + '…'}")
        button = item.get("button")
        if not isinstance(button, str) or not button.strip():
            raise Invalid(f"{where} has no \"button\"")
        if item.get("title") is None and item.get("text") is None:
            raise Invalid(f"{where} needs a \"title\" or a \"text\" regex (it would match every window)")
        for key in ("title", "text"):
            pat = item.get(key)
            if pat is None:
                continue
            if not isinstance(pat, str):
                raise Invalid(f"{where} {key} is not a string")
            try:
                re.compile(pat)
            except re.error as e:
                raise Invalid(f"{where} {key} is not a valid regex ({e})") from None
        rules.append(DialogRule(button=button.strip(), title=item.get("title"), text=item.get("text")))
    return tuple(rules)


STR = Kind("string", "any text", p_str)
BOOL = Kind("bool", "yes/no (also true/false, 1/0)", p_bool)
INT = Kind("int", "an integer", p_int())
PORT = Kind("port", "a TCP port 1-65535", p_int(1, 65535))
PORT0 = Kind("port", "a TCP port 1-65535, or 0 for off", p_int(0, 65535))
TIME = Kind("time", "a time of day: `hh:mm AM/PM` (as IBC) or 24-hour `HH:MM`", p_time)
LIST = Kind("list", "a comma-separated list", p_list)
ARGS = Kind("args", "shell-style words (quotes allowed)", p_args)
HOST = Kind("host", "a host name or IP address", p_host)
PATH = Kind("path", "a file-system path (`~` is your home directory)", p_path)
DURATION = Kind("duration", "seconds (also `90s`, `5m`, `1h`)", p_duration)
SECRET = Kind("secret", "any text", p_secret)


def enum_kind(*choices: str, synonyms: Mapping[str, str] | None = None) -> Kind:
    return Kind("enum", " | ".join(choices), p_enum(*choices, synonyms=synonyms))
