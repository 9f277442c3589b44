"""The only place the environment is read.

Every setting is declared exactly once, as a field of `Settings` built with `var(...)`: its canonical
environment name, its aliases (IBC's config.ini keys, the gnzsnz/ib-gateway-docker, DankLab and
ibg-controller names), its type, default, group and help text. `check-config`, docs/configuration.md
and docker/.env.example are generated from these declarations (see `ibpilot.config_cli`).

Rules:
- An empty value counts as unset (compose files pass `NAME=` for unset variables).
- Any name of a secret (and of the user IDs) is also accepted as `NAME_FILE`: the file is read and one
  trailing newline is stripped. `NAME` and `NAME_FILE` both set is an error.
- Aliases: when several names of one setting are set they must agree, otherwise it is an error that
  names them all. The canonical name is reported as the source when they agree.
- IBC keys (`ReadOnlyApi`, ...) are accepted as they are and also with extrange's `IBC_` prefix.
- `Settings.from_env(env)` reports every problem at once (`SettingsError.errors`); it never prints
  a secret's value, and secrets are `Secret` objects that need an explicit `.reveal()`.
"""

# `var(...)` is this module's dataclass field specifier (it returns `dataclasses.field`):
# ruff: noqa: RUF009
from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac
import ipaddress
import json
import os
import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time as dtime
from pathlib import Path
from typing import Any, Literal

from ibpilot.net.tunnel import parse_destination

# --------------------------------------------------------------------------------------------------
# Small value types


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


# --------------------------------------------------------------------------------------------------
# Kinds: a parser plus the words used in errors and docs


class _Invalid(ValueError):
    """Raised by a parser; the message says what is wrong (never including a secret)."""


@dataclass(frozen=True)
class Kind:
    name: str  # short type name for the docs
    expected: str  # what a valid value looks like
    parse: Callable[[str], Any]


_TRUE = {"yes", "true", "1", "on", "y"}
_FALSE = {"no", "false", "0", "off", "n"}


def _p_str(raw: str) -> str:
    return raw.strip()


def _p_bool(raw: str) -> bool:
    v = raw.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise _Invalid("not a yes/no value")


def _p_int(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            n = int(raw.strip())
        except ValueError:
            raise _Invalid("not an integer") from None
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise _Invalid("out of range")
        return n

    return parse


def _p_enum(*choices: str, synonyms: Mapping[str, str] | None = None) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        v = raw.strip().lower()
        if synonyms and v in synonyms:
            return synonyms[v]
        for c in choices:
            if v == c.lower():
                return c
        raise _Invalid("not one of the allowed values")

    return parse


_TIME12 = re.compile(r"^(\d{1,2}):(\d{2})\s*([AaPp])\.?[Mm]\.?$")
_TIME24 = re.compile(r"^(\d{1,2}):(\d{2})$")


def _p_time(raw: str) -> dtime:
    v = raw.strip()
    m = _TIME12.match(v)
    if m:
        h, mi, ap = int(m.group(1)), int(m.group(2)), m.group(3).lower()
        if not 1 <= h <= 12 or mi > 59:
            raise _Invalid("not a valid time")
        h = h % 12 + (12 if ap == "p" else 0)
        return dtime(h, mi)
    m = _TIME24.match(v)
    if m:
        h, mi = int(m.group(1)), int(m.group(2))
        if h > 23 or mi > 59:
            raise _Invalid("not a valid time")
        return dtime(h, mi)
    raise _Invalid("not a time")


_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _p_weekly(raw: str) -> WeeklyTime:
    parts = raw.split()
    if len(parts) == 2:
        day = next((d for d in _DAYS if d.lower().startswith(parts[0].lower()) and len(parts[0]) >= 3), None)
        if day is None:
            raise _Invalid("not a day name")
        return WeeklyTime(_p_time(parts[1]), day)
    if len(parts) == 1:
        return WeeklyTime(_p_time(parts[0]))
    raise _Invalid("not a time")


def _p_list(raw: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def _p_args(raw: str) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(raw))
    except ValueError as e:
        raise _Invalid(f"unbalanced quotes ({e})") from None


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")


def _is_host(v: str) -> bool:
    try:
        ipaddress.ip_address(v.strip("[]"))
        return True
    except ValueError:
        return bool(_HOSTNAME.match(v))


def _p_host(raw: str) -> str:
    v = raw.strip()
    if not _is_host(v):
        raise _Invalid("not a host name or IP address")
    return v


def _p_ip(raw: str) -> str:
    v = raw.strip()
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        raise _Invalid("not an IP address") from None


def _p_ip_list(raw: str) -> tuple[str, ...]:
    out = []
    for item in _p_list(raw):
        try:
            out.append(str(ipaddress.ip_address(item)))
        except ValueError:
            raise _Invalid(f"{item!r} is not an IP address") from None
    return tuple(out)


def _p_host_list(raw: str) -> tuple[str, ...]:
    out = []
    for item in _p_list(raw):
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)) if "/" in item else _p_host(item))
        except (ValueError, _Invalid):
            raise _Invalid(f"{item!r} is not a host name, IP address or CIDR block") from None
    return tuple(out)


def _p_path(raw: str) -> str:
    v = raw.strip()
    if "\0" in v:
        raise _Invalid("contains a NUL byte")
    return v


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)?$", re.I)


def _p_duration(raw: str) -> float:
    m = _DURATION.match(raw.strip())
    if not m:
        raise _Invalid("not a duration")
    n = float(m.group(1))
    unit = (m.group(2) or "s").lower()
    return n * (3600 if unit.startswith("h") else 60 if unit.startswith("m") else 1)


def _p_version(raw: str) -> str:
    v = raw.strip().replace(".", "")
    if not re.fullmatch(r"\d{3,4}", v):
        raise _Invalid("not a major version")
    return v


def _p_base32(raw: str) -> Secret:
    v = re.sub(r"[\s-]", "", raw).upper()
    if not v or not re.fullmatch(r"[A-Z2-7]+=*", v):
        raise _Invalid("is not base32 (letters A-Z and digits 2-7)")
    try:
        base64.b32decode(v + "=" * (-len(v) % 8))
    except (binascii.Error, ValueError):
        raise _Invalid("is not valid base32") from None
    if re.fullmatch(r"\d{6,8}", raw.strip()):
        raise _Invalid("looks like a 6-digit code")
    return Secret(v.rstrip("="))


def _p_display_size(raw: str) -> str:
    m = re.fullmatch(r"(\d{3,5})x(\d{3,5})(?:x(\d{1,2}))?", raw.strip().lower())
    if not m:
        raise _Invalid("not WIDTHxHEIGHTxDEPTH")
    depth = m.group(3) or "24"
    if depth not in {"8", "15", "16", "24", "32"}:
        raise _Invalid("depth must be 8, 15, 16, 24 or 32")
    return f"{m.group(1)}x{m.group(2)}x{depth}"


def _p_url(raw: str) -> Secret:
    v = raw.strip()
    if not re.match(r"^https?://[^\s/]+", v):
        raise _Invalid("not an http(s) URL")
    return Secret(v)


def _p_secret(raw: str) -> Secret:
    return Secret(raw)


def _p_save_settings(raw: str) -> str:
    v = raw.strip()
    if re.fullmatch(r"(?i)every\s+\d+\s*(mins?|minutes?|hours?|hrs?)(\s+\S+){0,2}", v):
        return v
    times = v.split()
    try:
        i = 0
        while i < len(times):
            if i + 1 < len(times) and times[i + 1].lower() in {"am", "pm"}:
                _p_time(times[i] + " " + times[i + 1])
                i += 2
            else:
                _p_time(times[i])
                i += 1
    except _Invalid:
        raise _Invalid("not a list of times or `Every n mins|hours`") from None
    return v


def _p_dialog_rules(raw: str) -> tuple[DialogRule, ...]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise _Invalid(f"not JSON ({e.msg} at character {e.pos})") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise _Invalid("not a JSON list of objects")
    rules = []
    for i, item in enumerate(data):
        where = f"rule {i + 1}"
        if not isinstance(item, dict):
            raise _Invalid(f"{where} is not an object")
        unknown = set(item) - {"title", "text", "button"}
        if unknown:
            raise _Invalid(f"{where} has unknown key(s) {', '.join(sorted(unknown))}")
        button = item.get("button")
        if not isinstance(button, str) or not button.strip():
            raise _Invalid(f"{where} has no \"button\"")
        if item.get("title") is None and item.get("text") is None:
            raise _Invalid(f"{where} needs a \"title\" or a \"text\" regex (it would match every window)")
        for key in ("title", "text"):
            pat = item.get(key)
            if pat is None:
                continue
            if not isinstance(pat, str):
                raise _Invalid(f"{where} {key} is not a string")
            try:
                re.compile(pat)
            except re.error as e:
                raise _Invalid(f"{where} {key} is not a valid regex ({e})") from None
        rules.append(DialogRule(button=button.strip(), title=item.get("title"), text=item.get("text")))
    return tuple(rules)


STR = Kind("string", "any text", _p_str)
BOOL = Kind("bool", "yes/no (also true/false, 1/0)", _p_bool)
INT = Kind("int", "an integer", _p_int())
PORT = Kind("port", "a TCP port 1-65535", _p_int(1, 65535))
PORT0 = Kind("port", "a TCP port 1-65535, or 0 for off", _p_int(0, 65535))
TIME = Kind("time", "a time of day: `hh:mm AM/PM` (as IBC) or 24-hour `HH:MM`", _p_time)
LIST = Kind("list", "a comma-separated list", _p_list)
ARGS = Kind("args", "shell-style words (quotes allowed)", _p_args)
HOST = Kind("host", "a host name or IP address", _p_host)
PATH = Kind("path", "a file-system path (`~` is your home directory)", _p_path)
DURATION = Kind("duration", "seconds (also `90s`, `5m`, `1h`)", _p_duration)
SECRET = Kind("secret", "any text", _p_secret)


def _enum(*choices: str, synonyms: Mapping[str, str] | None = None) -> Kind:
    return Kind("enum", " | ".join(choices), _p_enum(*choices, synonyms=synonyms))


# --------------------------------------------------------------------------------------------------
# Declarations

GROUPS: tuple[tuple[str, str], ...] = (
    ("credentials", "Credentials and trading mode"),
    ("gateway", "Gateway / TWS installation and JVM"),
    ("api", "API settings (applied in Configure > Settings > API)"),
    ("2fa", "Second factor (2FA)"),
    ("dialogs", "Dialogs and sessions"),
    ("restart", "Restart, log-off and shutdown"),
    ("display", "Display and VNC"),
    ("socat", "Networking: socat port forwarding"),
    ("ssh", "Networking: SSH reverse tunnel"),
    ("supervisord", "supervisord web UI"),
    ("operations", "Operations: command server, health, alerts, logs"),
    ("container", "Container, user and hook scripts"),
    ("internal", "Internal (set by ibpilot itself)"),
)


@dataclass(frozen=True)
class Var:
    """One environment variable's declaration."""

    name: str
    attr: str
    kind: Kind
    default: Any
    group: str
    help: str
    aliases: tuple[str, ...] = ()
    secret: bool = False
    file_ok: bool = False
    default_doc: str | None = None
    example: str | None = None  # uncommented in .env.example with this value
    transforms: Mapping[str, Callable[[str], str | None]] = field(default_factory=dict)

    def all_names(self) -> tuple[str, ...]:
        """Canonical name, aliases, and the `IBC_<Key>` spelling of each IBC key alias."""
        extra = tuple(f"IBC_{a}" for a in self.aliases if _is_ibc_key(a))
        return (self.name, *self.aliases, *extra)

    def file_names(self) -> tuple[str, ...]:
        return tuple(n for n in (self.name, *self.aliases) if not _is_ibc_key(n)) if self.file_ok else ()


def _is_ibc_key(name: str) -> bool:
    return "_" not in name and any(c.islower() for c in name)


def var(
    name: str,
    kind: Kind,
    default: Any = None,
    *,
    group: str,
    help: str,
    aliases: Sequence[str] = (),
    secret: bool = False,
    file_ok: bool | None = None,
    default_doc: str | None = None,
    example: str | None = None,
    transforms: Mapping[str, Callable[[str], str | None]] | None = None,
) -> Any:
    """Declare a field of `Settings` bound to an environment variable."""
    decl = Var(
        name=name,
        attr="",
        kind=kind,
        default=default,
        group=group,
        help=help,
        aliases=tuple(aliases),
        secret=secret,
        file_ok=secret if file_ok is None else file_ok,
        default_doc=default_doc,
        example=example,
        transforms=dict(transforms or {}),
    )
    return field(default=default, metadata={"var": decl})


def _dual_mode(value: str) -> str | None:
    v = value.strip().lower()
    if v in _TRUE:
        return "both"
    if v in _FALSE:
        return None
    return value


TradingMode = Literal["live", "paper"]
_BYPASS_HELP = "Precautions checkbox \"{}\"; unset leaves it as it is."
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}

DEFAULT_API_PORTS: Mapping[str, Mapping[str, int]] = {
    "gateway": {"live": 4001, "paper": 4002},
    "tws": {"live": 7496, "paper": 7497},
}
DEFAULT_SOCAT_PORTS: Mapping[str, Mapping[str, int]] = {
    "gateway": {"live": 4003, "paper": 4004},
    "tws": {"live": 7498, "paper": 7499},
}


@dataclass(frozen=True)
class Settings:
    """The whole configuration, typed and validated. Build it with `Settings.from_env(env)`."""

    # --- credentials -------------------------------------------------------------------------------
    trading_mode: Literal["live", "paper", "both"] = var(
        "TRADING_MODE", _enum("live", "paper", "both"), "paper", group="credentials", example="paper",
        aliases=["TradingMode", "DUAL_MODE"], transforms={"DUAL_MODE": _dual_mode},
        help="Which account(s) to log in to. `both` runs a live and a paper Gateway side by side in one "
        "container (each with its own controller, settings directory and ports). gnzsnz's `DUAL_MODE=yes` "
        "means `both`.",
    )
    tws_userid: str | None = var(
        "TWS_USERID", STR, group="credentials", aliases=["IB_USER", "IB_ACCOUNT", "IbLoginId"],
        file_ok=True, example="",
        help="IBKR user name (live, or the only mode). Unset: nobody types it; log in by hand over VNC.",
    )
    tws_password: Secret | None = var(
        "TWS_PASSWORD", SECRET, group="credentials", aliases=["IB_PASSWORD", "IbPassword"], secret=True,
        help="Password for TWS_USERID. Prefer `TWS_PASSWORD_FILE` (a Docker/Kubernetes secret file).",
    )
    tws_userid_paper: str | None = var(
        "TWS_USERID_PAPER", STR, group="credentials", file_ok=True,
        help="User name for the paper account. Used by the paper side; unset: TWS_USERID is used.",
    )
    tws_password_paper: Secret | None = var(
        "TWS_PASSWORD_PAPER", SECRET, group="credentials", secret=True,
        help="Password for TWS_USERID_PAPER.",
    )
    dual_mode_policy: Literal["keep-other", "stop-all"] = var(
        "DUAL_MODE_POLICY", _enum("keep-other", "stop-all"), "keep-other", group="credentials",
        help="With TRADING_MODE=both, when one side fails for good: `keep-other` keeps the other side "
        "running (and alerts), `stop-all` stops the container so that its restart policy acts.",
    )
    # --- gateway -----------------------------------------------------------------------------------
    gateway_or_tws: Literal["gateway", "tws"] = var(
        "GATEWAY_OR_TWS", _enum("gateway", "tws", synonyms={"ibgateway": "gateway"}), "gateway",
        group="gateway", help="Run IB Gateway or TWS.",
    )
    tws_path: str = var(
        "TWS_PATH", PATH, "~/Jts", group="gateway",
        help="Where Gateway/TWS is installed: the directory holding `ibgateway/<version>/` or "
        "`tws/<version>/` (IBC's default, `~/Jts`; the ibpilot image sets it explicitly).",
    )
    tws_major_vrsn: str | None = var(
        "TWS_MAJOR_VRSN", Kind("version", "digits such as `1045` (or `10.45`)", _p_version),
        group="gateway", default_doc="the only version installed",
        help="Which installed version to run. Unset: the only version found under TWS_PATH (an error "
        "if there are several).",
    )
    tws_settings_path: str | None = var(
        "TWS_SETTINGS_PATH", PATH, group="gateway", default_doc="TWS_PATH",
        help="Settings directory (jts.ini, the autorestart token, per-user settings); keep it on a volume "
        "to avoid 2FA after restarts. With TRADING_MODE=both, `_live`/`_paper` is appended.",
    )
    gateway_warm_state: str | None = var(
        "GATEWAY_WARM_STATE", PATH, group="gateway",
        help="A directory copied into the settings directory before each cold start (a known-good "
        "jts.ini, `Peer=`/`SupportsSSL` cache). Must be absolute and not a system directory.",
    )
    custom_config: bool = var(
        "CUSTOM_CONFIG", BOOL, False, group="gateway",
        help="yes: never write jts.ini; use the one you mounted.",
    )
    java_heap_size: int | None = var(
        "JAVA_HEAP_SIZE", Kind("int", "megabytes, 128-65536 (no unit)", _p_int(128, 65536)),
        group="gateway", default_doc="the installer's (768)",
        help="Maximum Java heap in MB (`-Xmx`).",
    )
    java_opts: tuple[str, ...] = var(
        "JAVA_OPTS", ARGS, (), group="gateway", aliases=["CUSTOM_JVM_OPTS"],
        help="Extra JVM options, e.g. `-Dsun.java2d.noddraw=true -XX:+ExitOnOutOfMemoryError`. "
        "`-D` options are kept (IBC dropped them).",
    )
    tws_server: str | None = var(
        "TWS_SERVER", HOST, group="gateway",
        help="Pin the IBKR server host (written to jts.ini `Peer=`), e.g. `ndc1.ibllc.com`.",
    )
    tws_server_paper: str | None = var(
        "TWS_SERVER_PAPER", HOST, group="gateway", default_doc="TWS_SERVER",
        help="Server host for the paper side.",
    )
    time_zone: str = var(
        "TIME_ZONE", Kind("tz", "an IANA time zone such as `America/New_York`", _p_str), "Etc/UTC",
        group="gateway", aliases=["TZ"],
        help="Time zone for the Gateway (jts.ini) and for interpreting AUTO_RESTART_TIME etc.",
    )
    save_tws_settings: str | None = var(
        "SAVE_TWS_SETTINGS", Kind("schedule", "times (`hh:mm`) or `Every n mins|hours`", _p_save_settings),
        group="gateway", aliases=["SaveTwsSettingsAt"],
        help="When to use File > Save Settings (TWS), as IBC's SaveTwsSettingsAt.",
    )
    login_dialog_timeout: float = var(
        "LOGIN_DIALOG_TIMEOUT", DURATION, 60.0, group="gateway", aliases=["LoginDialogDisplayTimeout"],
        help="Seconds to wait for the login window after the JVM starts before restarting it.",
    )
    login_timeout: float = var(
        "LOGIN_TIMEOUT", DURATION, 600.0, group="gateway",
        help="Seconds from pressing Log In to the API being ready (2FA included) before recovery starts.",
    )
    login_failure_limit: int = var(
        "LOGIN_FAILURE_LIMIT", Kind("int", "1-20", _p_int(1, 20)), 3, group="gateway",
        help="Refused logins in a row before the controller gives up (exit 3) instead of retrying; retries "
        "wait 30 s times the failure count. IB locks an account after a few wrong passwords: keep this low.",
    )
    ibpilot_sim: bool = var(
        "IBPILOT_SIM", BOOL, False, group="gateway",
        help="yes: run ibpilot's simulated Gateway instead of IB's (demo and tests; no IBKR account).",
    )
    # --- api ---------------------------------------------------------------------------------------
    tws_api_port: int | None = var(
        "TWS_API_PORT", PORT, group="api", aliases=["OverrideTwsApiPort", "OVERRIDE_TWS_API_PORT"],
        default_doc="4001 live / 4002 paper (TWS: 7496 / 7497)",
        help="API socket port inside the container. With TRADING_MODE=both it applies to the live side.",
    )
    tws_api_port_paper: int | None = var(
        "TWS_API_PORT_PAPER", PORT, group="api", default_doc="4002 (TWS: 7497)",
        help="API socket port of the paper side.",
    )
    trusted_ips: tuple[str, ...] = var(
        "TRUSTED_IPS", Kind("list", "comma-separated IP addresses", _p_ip_list), (), group="api",
        aliases=["TrustedTwsApiClientIPs", "TRUSTED_TWS_API_CLIENT_IPS"],
        help="IP addresses allowed to connect to the API without a prompt (besides 127.0.0.1).",
    )
    read_only_api: bool | None = var(
        "READ_ONLY_API", BOOL, group="api", aliases=["ReadOnlyApi"], default_doc="unchanged",
        help="The Read-Only API checkbox; unset leaves it as it is.",
    )
    tws_master_client_id: int | None = var(
        "TWS_MASTER_CLIENT_ID", INT, group="api",
        aliases=["OverrideTwsMasterClientID", "OVERRIDE_TWS_MASTER_CLIENT_ID"], default_doc="unchanged",
        help="Master API client ID.",
    )
    allow_blind_trading: bool = var(
        "ALLOW_BLIND_TRADING", BOOL, False, group="api", aliases=["AllowBlindTrading"],
        help="Accept orders for instruments without market data (the blind-trading warning).",
    )
    bypass_order_precautions: bool | None = var(
        "BYPASS_ORDER_PRECAUTIONS", BOOL, group="api", aliases=["BypassOrderPrecautions"],
        default_doc="unchanged", help=_BYPASS_HELP.format("Bypass Order Precautions for API Orders"),
    )
    bypass_bond_warning: bool | None = var(
        "BYPASS_BOND_WARNING", BOOL, group="api", aliases=["BypassBondWarning"], default_doc="unchanged",
        help=_BYPASS_HELP.format("Bypass Bond warning for API Orders"),
    )
    bypass_negative_yield_confirmation: bool | None = var(
        "BYPASS_NEGATIVE_YIELD_CONFIRMATION", BOOL, group="api",
        aliases=["BypassNegativeYieldToWorstConfirmation"], default_doc="unchanged",
        help=_BYPASS_HELP.format("Bypass negative yield to worst confirmation for API Orders"),
    )
    bypass_called_bond_warning: bool | None = var(
        "BYPASS_CALLED_BOND_WARNING", BOOL, group="api", aliases=["BypassCalledBondWarning"],
        default_doc="unchanged", help=_BYPASS_HELP.format("Bypass Called Bond warning for API Orders"),
    )
    bypass_same_action_pair_trade_warning: bool | None = var(
        "BYPASS_SAME_ACTION_PAIR_TRADE_WARNING", BOOL, group="api",
        aliases=["BypassSameActionPairTradeWarning"], default_doc="unchanged",
        help=_BYPASS_HELP.format("Bypass 'same action pair trade' warning for API orders"),
    )
    bypass_price_based_volatility_warning: bool | None = var(
        "BYPASS_PRICE_BASED_VOLATILITY_WARNING", BOOL, group="api",
        aliases=["BypassPriceBasedVolatilityRiskWarning"], default_doc="unchanged",
        help=_BYPASS_HELP.format("Bypass price-based volatility risk warning for API Orders"),
    )
    bypass_us_stocks_market_data_warning: bool | None = var(
        "BYPASS_US_STOCKS_MARKET_DATA_WARNING", BOOL, group="api",
        aliases=["BypassUSStocksMarketDataInSharesWarning"], default_doc="unchanged",
        help=_BYPASS_HELP.format("Bypass US Stocks market data in shares warning for API Orders"),
    )
    bypass_redirect_order_warning: bool | None = var(
        "BYPASS_REDIRECT_ORDER_WARNING", BOOL, group="api", aliases=["BypassRedirectOrderWarning"],
        default_doc="unchanged", help=_BYPASS_HELP.format("Bypass Redirect Order warning for Stock API Orders"),
    )
    bypass_no_overfill_protection: bool | None = var(
        "BYPASS_NO_OVERFILL_PROTECTION", BOOL, group="api",
        aliases=["BypassNoOverfillProtectionPrecaution"], default_doc="unchanged",
        help=_BYPASS_HELP.format("Bypass No Overfill Protection precaution for destinations where implied natively"),
    )
    # --- 2fa ---------------------------------------------------------------------------------------
    twofa_device: str | None = var(
        "TWOFA_DEVICE", STR, group="2fa", aliases=["SecondFactorDevice", "SECOND_FACTOR_DEVICE"],
        help="The entry to pick when IB asks which second-factor device to use (exact list text).",
    )
    twofactor_code: Secret | None = var(
        "TWOFACTOR_CODE", Kind("secret", "the base32 TOTP secret (not a 6-digit code)", _p_base32),
        group="2fa", aliases=["TOTP_KEY"], secret=True,
        help="TOTP secret of an IBKR Mobile Authenticator registration; ibpilot types the current code. "
        "Unset: wait for approval on the phone (IB Key push).",
    )
    twofa_timeout_action: Literal["exit", "restart", "none"] = var(
        "TWOFA_TIMEOUT_ACTION", _enum("exit", "restart", "none"), "restart", group="2fa",
        help="When the second factor is not completed in time: `restart` the Gateway in place (with "
        "back-off), `exit` the controller (supervisord restarts it), or `none` (keep waiting).",
    )
    twofa_exit_interval: float = var(
        "TWOFA_EXIT_INTERVAL", DURATION, 60.0, group="2fa",
        aliases=["SecondFactorAuthenticationExitInterval"],
        help="Seconds to wait for login to complete after the second factor was accepted.",
    )
    twofa_timeout: float = var(
        "TWOFA_TIMEOUT", DURATION, 180.0, group="2fa",
        aliases=["SecondFactorAuthenticationTimeout", "SECOND_FACTOR_AUTH_TIMEOUT"],
        help="Seconds to wait for the second factor (phone approval) before TWOFA_TIMEOUT_ACTION.",
    )
    relogin_after_twofa_timeout: bool = var(
        "RELOGIN_AFTER_TWOFA_TIMEOUT", BOOL, False, group="2fa",
        aliases=["ReloginAfterSecondFactorAuthenticationTimeout"],
        help="yes: after a 2FA timeout, log in again in the same JVM first.",
    )
    # --- dialogs -----------------------------------------------------------------------------------
    existing_session_detected_action: Literal["primary", "primaryoverride", "secondary", "manual"] = var(
        "EXISTING_SESSION_DETECTED_ACTION", _enum("primary", "primaryoverride", "secondary", "manual"),
        "primary", group="dialogs", aliases=["ExistingSessionDetectedAction"],
        help="When IB reports another session for this user: `primary` takes over (except from a "
        "primary session elsewhere), `primaryoverride` always takes over, `secondary` gives way, "
        "`manual` leaves the dialog to you.",
    )
    tws_accept_incoming: Literal["accept", "reject", "manual"] = var(
        "TWS_ACCEPT_INCOMING", _enum("accept", "reject", "manual"), "reject", group="dialogs",
        aliases=["AcceptIncomingConnectionAction", "ACCEPT_INCOMING_CONNECTION_ACTION"],
        help="API connection from an address not in TRUSTED_IPS: accept, reject (default: nobody "
        "is watching to answer), or leave the prompt (manual).",
    )
    accept_non_brokerage_warning: bool = var(
        "ACCEPT_NON_BROKERAGE_WARNING", BOOL, True, group="dialogs",
        aliases=["AcceptNonBrokerageAccountWarning"],
        help="Accept the paper-account warning (API connections fail until it is accepted).",
    )
    dismiss_password_expiry_warning: bool = var(
        "DISMISS_PASSWORD_EXPIRY_WARNING", BOOL, False, group="dialogs",
        aliases=["DismissPasswordExpiryWarning"],
        help="Dismiss the password-expiry notice (an alert is raised either way).",
    )
    bypass_warning: tuple[str, ...] = var(
        "BYPASS_WARNING", LIST, (), group="dialogs",
        help="Extra button labels that may be clicked on disclaimers, e.g. `I Agree,Proceed`. A single "
        "yes/no (gnzsnz's meaning) instead sets every BYPASS_* precaution that is not set itself.",
    )
    dialog_rules: tuple[DialogRule, ...] = var(
        "DIALOG_RULES", Kind("json", 'a JSON list of {"title": regex, "text": regex, "button": label}',
                             _p_dialog_rules),
        (), group="dialogs",
        help="Rules for windows ibpilot does not know: click `button` when the title and text match. "
        'Example: `[{"title": "Prediction Markets", "button": "Close"}]`.',
    )
    # --- restart -----------------------------------------------------------------------------------
    auto_restart_time: dtime | None = var(
        "AUTO_RESTART_TIME", TIME, group="restart", aliases=["AutoRestartTime"],
        help="Gateway's daily soft restart (no 2FA) at this time, e.g. `11:45 PM` or `23:45`.",
    )
    auto_logoff_time: dtime | None = var(
        "AUTO_LOGOFF_TIME", TIME, group="restart", aliases=["AutoLogoffTime"],
        help="Gateway's daily log-off time instead of a restart (AUTO_RESTART_TIME wins if both).",
    )
    cold_restart_time: dtime | None = var(
        "COLD_RESTART_TIME", TIME, group="restart", aliases=["ColdRestartTime", "TWS_COLD_RESTART"],
        help="Every Sunday at this time: a full restart with a fresh login.",
    )
    closedown_at: WeeklyTime | None = var(
        "CLOSEDOWN_AT", Kind("time", "`HH:MM` (daily) or `<Day> HH:MM` (weekly)", _p_weekly),
        group="restart", aliases=["ClosedownAt"],
        help="Shut the Gateway down tidily at this time (and stop the controller).",
    )
    # --- display -----------------------------------------------------------------------------------
    start_xvfb: bool = var(
        "START_XVFB", BOOL, True, group="display",
        help="Start an Xvfb virtual display. no: use an X server you provide on DISPLAY_NUMBER.",
    )
    display_number: int = var(
        "DISPLAY_NUMBER", Kind("int", "an X display number 0-999", _p_int(0, 999)), 1, group="display",
        help="X display number (`:1`).",
    )
    display_size: str = var(
        "DISPLAY_SIZE", Kind("size", "WIDTHxHEIGHTxDEPTH, e.g. `1280x1024x24`", _p_display_size),
        "1024x768x24", group="display", aliases=["VNC_SCREEN_DIMENSION"],
        help="Virtual screen size and depth.",
    )
    vnc_server_password: Secret | None = var(
        "VNC_SERVER_PASSWORD", SECRET, group="display", aliases=["VNC_PWD"], secret=True,
        help="Enables the VNC server (x11vnc). VNC never starts without a password; only the first 8 "
        "characters count (VNC protocol).",
    )
    vnc_port: int = var("VNC_PORT", PORT, 5900, group="display", help="VNC port.")
    vnc_bind: str = var(
        "VNC_BIND", Kind("ip", "an IP address", _p_ip), "127.0.0.1", group="display",
        help="Address VNC listens on. The image sets 0.0.0.0 (inside a container, publishing the port is what "
        "chooses who reaches it); on a bare host it stays on this machine unless you say otherwise.",
    )
    novnc_port: int | None = var(
        "NOVNC_PORT", PORT, group="display",
        help="Serve noVNC (VNC in a browser, via websockify) on this port. Needs VNC_SERVER_PASSWORD.",
    )
    novnc_bind: str = var(
        "NOVNC_BIND", Kind("ip", "an IP address", _p_ip), "127.0.0.1", group="display",
        help="Address noVNC listens on (the image sets 0.0.0.0, as for VNC_BIND).",
    )
    novnc_web: str = var(
        "NOVNC_WEB", PATH, "/usr/share/novnc", group="display", help="noVNC's web files.",
    )
    # --- socat -------------------------------------------------------------------------------------
    enable_socat: bool | None = var(
        "ENABLE_SOCAT", BOOL, group="socat", default_doc="yes, unless SSH_TUNNEL=yes",
        help="Forward SOCAT_PORT to the API port so that clients outside the container can connect "
        "(bridge networking). no: with host networking, or SSH only.",
    )
    socat_bind: str = var(
        "SOCAT_BIND", Kind("ip", "an IP address", _p_ip), "127.0.0.1", group="socat",
        help="Address socat listens on. Clients arrive at the Gateway from 127.0.0.1 (trusted), so whoever "
        "reaches this port trades: the image sets 0.0.0.0 and you publish the port only where you mean to "
        "(e.g. `127.0.0.1:4001:4003` in compose); on a bare host it stays on this machine unless you say so.",
    )
    socat_listen_port: int | None = var(
        "SOCAT_PORT", PORT, group="socat", aliases=["API_PORT_EXPOSED"],
        default_doc="4003 live / 4004 paper (TWS: 7498 / 7499)",
        help="Port socat listens on for the live side (or the only side).",
    )
    socat_listen_port_paper: int | None = var(
        "SOCAT_PORT_PAPER", PORT, group="socat", default_doc="4004 (TWS: 7499)",
        help="Port socat listens on for the paper side when TRADING_MODE=both.",
    )
    # --- ssh ---------------------------------------------------------------------------------------
    ssh_tunnel: Literal["no", "yes", "both"] = var(
        "SSH_TUNNEL", _enum("no", "yes", "both"), "no", group="ssh",
        help="`yes`: reach the API only through an SSH reverse tunnel (no socat); `both`: tunnel and "
        "socat; `no`/empty: no tunnel.",
    )
    ssh_user_tunnel: tuple[str, ...] = var(
        "SSH_USER_TUNNEL", LIST, (), group="ssh",
        help="Comma-separated `user@host[:port]` to tunnel to; one ssh process each.",
    )
    ssh_remote_port: int | None = var(
        "SSH_REMOTE_PORT", PORT, group="ssh", default_doc="the API port",
        help="Port opened on the remote host (127.0.0.1 there) for the live (or only) API.",
    )
    ssh_remote_port_paper: int | None = var(
        "SSH_REMOTE_PORT_PAPER", PORT, group="ssh", default_doc="the paper API port",
        help="Remote port for the paper API when TRADING_MODE=both.",
    )
    ssh_vnc_port: int | None = var(
        "SSH_VNC_PORT", PORT, group="ssh", help="Also forward VNC to this remote port (when VNC runs).",
    )
    ssh_rdp_port: int | None = var(
        "SSH_RDP_PORT", PORT, group="ssh", help="Also forward local port 3389 (RDP) to this remote port.",
    )
    ssh_options: tuple[str, ...] = var(
        "SSH_OPTIONS", ARGS, (), group="ssh", help="Extra ssh arguments, e.g. `-o ProxyJump=bastion`.",
    )
    ssh_alive_interval: int = var(
        "SSH_ALIVE_INTERVAL", Kind("int", "seconds, 1-3600", _p_int(1, 3600)), 20, group="ssh",
        help="ssh ServerAliveInterval.",
    )
    ssh_alive_count: int = var(
        "SSH_ALIVE_COUNT", Kind("int", "1-100", _p_int(1, 100)), 3, group="ssh",
        help="ssh ServerAliveCountMax (a dead link is noticed after interval x count seconds).",
    )
    ssh_passphrase: Secret | None = var(
        "SSH_PASSPHRASE", SECRET, group="ssh", secret=True,
        help="Passphrase of the SSH key, given to ssh through SSH_ASKPASS from a 0600 file.",
    )
    ssh_restart: float = var(
        "SSH_RESTART", DURATION, 5.0, group="ssh", help="Seconds between tunnel reconnection attempts.",
    )
    ssh_known_hosts: str = var(
        "SSH_KNOWN_HOSTS", PATH, "~/.ssh/known_hosts", group="ssh",
        help="known_hosts file; keep it on a volume. New hosts are accepted once, changed keys refused.",
    )
    ssh_identity_file: str | None = var(
        "SSH_IDENTITY_FILE", PATH, group="ssh", default_doc="ssh's defaults (~/.ssh/id_*)",
        help="Private key for the tunnel.",
    )
    # --- supervisord -------------------------------------------------------------------------------
    supervisord_ui_port: int | None = var(
        "SUPERVISORD_UI_PORT", PORT, group="supervisord", help="Serve supervisord's web UI on this port.",
    )
    supervisord_ui_bind: str = var(
        "SUPERVISORD_UI_BIND", Kind("ip", "an IP address", _p_ip), "127.0.0.1", group="supervisord",
        help="Address of the web UI. Anything but loopback requires SUPERVISORD_UI_USER and _PASS.",
    )
    supervisord_ui_user: str | None = var(
        "SUPERVISORD_UI_USER", STR, group="supervisord", help="Web UI user name.",
    )
    supervisord_ui_pass: Secret | None = var(
        "SUPERVISORD_UI_PASS", SECRET, group="supervisord", secret=True, help="Web UI password.",
    )
    # --- operations --------------------------------------------------------------------------------
    command_server_port: int = var(
        "COMMAND_SERVER_PORT", PORT0, 0, group="operations",
        aliases=["CommandServerPort", "CONTROLLER_COMMAND_SERVER_PORT"],
        help="IBC-compatible command server (STOP, RESTART, RECONNECTACCOUNT, ...); 0 = off. "
        "With TRADING_MODE=both the paper side uses port + 1.",
    )
    command_server_bind: str = var(
        "COMMAND_SERVER_BIND", Kind("ip", "an IP address", _p_ip), "127.0.0.1", group="operations",
        aliases=["BindAddress", "BIND_ADDRESS"],
        help="Address of the command server. Beyond loopback it needs COMMAND_SERVER_TOKEN or CONTROL_FROM.",
    )
    control_from: tuple[str, ...] = var(
        "CONTROL_FROM", Kind("list", "comma-separated hosts, IPs or CIDR blocks", _p_host_list), (),
        group="operations", aliases=["ControlFrom"],
        help="Allow-list of command-server clients (loopback is always allowed).",
    )
    command_server_token: Secret | None = var(
        "COMMAND_SERVER_TOKEN", SECRET, group="operations",
        aliases=["CONTROLLER_COMMAND_SERVER_AUTH_TOKEN"], secret=True,
        help="When set, a client's first line must be `AUTH <token>`.",
    )
    health_port: int = var(
        "HEALTH_PORT", PORT0, 8080, group="operations", aliases=["CONTROLLER_HEALTH_SERVER_PORT"],
        help="HTTP /health, /ready, /metrics; 0 = off. With TRADING_MODE=both the paper side uses port + 1.",
    )
    health_bind: str = var(
        "HEALTH_BIND", Kind("ip", "an IP address", _p_ip), "127.0.0.1", group="operations",
        help="Address of the health server.",
    )
    controller_ready_file: str | None = var(
        "CONTROLLER_READY_FILE", PATH, group="operations", default_doc="RUN_DIR/ready-<mode>",
        help="Touched when the API is ready, removed when it is not. With TRADING_MODE=both, `_<mode>` "
        "is added before the extension.",
    )
    record_windows: str | None = var(
        "RECORD_WINDOWS", PATH, group="operations",
        help="Write every window Gateway shows as a JSON snapshot (component tree; password fields carry no "
        "text) into this directory: for bug reports about a screen ibpilot does not know, and for new recognisers.",
    )
    alert_webhook_url: Secret | None = var(
        "ALERT_WEBHOOK_URL", Kind("url", "an http(s) URL", _p_url), group="operations", secret=True,
        help="POST every ALERT_* event as JSON to this URL (it often embeds a token, so it is a secret).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = var(
        "LOG_LEVEL", _enum("debug", "info", "warning", "error", synonyms={"warn": "warning"}), "info",
        group="operations", help="Log verbosity.",
    )
    run_dir: str = var(
        "RUN_DIR", PATH, "~/.ibpilot/run", group="operations",
        help="Private runtime directory (0700): agent sockets, secret files for VNC/ssh, ready files.",
    )
    # --- container ---------------------------------------------------------------------------------
    puid: int | None = var(
        "PUID", Kind("int", "a user id 0-4294967294", _p_int(0, 4294967294)), group="container",
        help="Run the programs as this user id (when started as root).",
    )
    pgid: int | None = var(
        "PGID", Kind("int", "a group id 0-4294967294", _p_int(0, 4294967294)), group="container",
        help="Group id to go with PUID.",
    )
    start_scripts: str | None = var(
        "START_SCRIPTS", PATH, group="container",
        help="Directory of `*.sh` run (in name order) before the display starts. Relative to $HOME.",
    )
    x_scripts: str | None = var(
        "X_SCRIPTS", PATH, group="container", help="Directory of `*.sh` run once the display is up.",
    )
    ibc_scripts: str | None = var(
        "IBC_SCRIPTS", PATH, group="container", help="Directory of `*.sh` run once the API is ready.",
    )
    # --- internal ----------------------------------------------------------------------------------
    ibpilot_instance: TradingMode | None = var(
        "IBPILOT_INSTANCE", _enum("live", "paper"), group="internal",
        help="Set by the process plan for each controller: which side of TRADING_MODE it runs.",
    )

    # Not variables: where each value came from, and non-fatal remarks.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    warnings: tuple[str, ...] = field(default=(), compare=False, repr=False)

    # ---------------------------------------------------------------------------------------------
    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, read_file: Callable[[str], str] | None = None
    ) -> Settings:
        """Parse and validate `env`; raise `SettingsError` listing every problem."""
        reader = read_file or _read_text
        errors: list[str] = []
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for v in VARS:
            found = _lookup(v, env, reader, errors)
            if found is None:
                values[v.attr] = v.default
                sources[v.attr] = "default"
                continue
            used, raw, source = found
            try:
                values[v.attr] = v.kind.parse(raw)
                sources[v.attr] = source
            except _Invalid as e:
                shown = "(hidden)" if v.secret else repr(raw.strip())
                errors.append(f"{_display(v, used)}={shown}: {e}; expected {v.kind.expected}")
                values[v.attr] = v.default
                sources[v.attr] = source
        home = env.get("HOME", "").strip()
        _post_process(values, sources, env, home, errors)
        warnings: list[str] = []
        obj = cls(**values, sources=sources, warnings=())
        errors.extend(obj._cross_check(warnings))
        if errors:
            raise SettingsError(errors)
        return dataclasses.replace(obj, warnings=tuple(warnings))

    @classmethod
    def load(cls) -> Settings:
        """`from_env(os.environ)`: the one place the process environment is read."""
        return cls.from_env(process_environ())

    # --- per-mode helpers ------------------------------------------------------------------------
    def modes(self) -> list[TradingMode]:
        if self.trading_mode == "both":
            return ["live", "paper"]
        return [self.trading_mode]

    @property
    def dual(self) -> bool:
        return self.trading_mode == "both"

    @property
    def instance(self) -> TradingMode:
        """This controller's mode: IBPILOT_INSTANCE, or the only mode."""
        if self.ibpilot_instance is not None:
            return self.ibpilot_instance
        if self.dual:
            raise ValueError("TRADING_MODE=both: IBPILOT_INSTANCE says which side this controller runs")
        return self.modes()[0]

    def credentials(self, mode: TradingMode) -> Credentials:
        if mode == "paper" and self.tws_userid_paper:
            return Credentials(self.tws_userid_paper, self.tws_password_paper)
        return Credentials(self.tws_userid, self.tws_password)

    def server(self, mode: TradingMode) -> str | None:
        if mode == "paper" and self.tws_server_paper:
            return self.tws_server_paper
        return self.tws_server

    def api_port(self, mode: TradingMode) -> int:
        if mode == "paper" and self.tws_api_port_paper is not None:
            return self.tws_api_port_paper
        if self.tws_api_port is not None and (mode == "live" or not self.dual):
            return self.tws_api_port
        return DEFAULT_API_PORTS[self.gateway_or_tws][mode]

    def socat_enabled(self) -> bool:
        if self.enable_socat is not None:
            return self.enable_socat
        return self.ssh_tunnel != "yes"

    def socat_port(self, mode: TradingMode) -> int:
        if mode == "paper" and self.dual and self.socat_listen_port_paper is not None:
            return self.socat_listen_port_paper
        if mode == "paper" and not self.dual and self.socat_listen_port is None and self.socat_listen_port_paper:
            return self.socat_listen_port_paper
        if self.socat_listen_port is not None and (mode == "live" or not self.dual):
            return self.socat_listen_port
        return DEFAULT_SOCAT_PORTS[self.gateway_or_tws][mode]

    def ssh_remote_port_for(self, mode: TradingMode) -> int:
        if mode == "paper" and self.dual:
            return self.ssh_remote_port_paper or self.api_port(mode)
        return self.ssh_remote_port or self.api_port(mode)

    def settings_path(self, mode: TradingMode) -> str:
        base = (self.tws_settings_path or self.tws_path).rstrip("/") or "/"
        return f"{base}_{mode}" if self.dual else base

    def health_port_for(self, mode: TradingMode) -> int | None:
        return _mode_port(self.health_port, mode, self.dual)

    def command_server_port_for(self, mode: TradingMode) -> int | None:
        return _mode_port(self.command_server_port, mode, self.dual)

    def ready_file(self, mode: TradingMode) -> str:
        if self.controller_ready_file is None:
            return f"{self.run_dir}/ready-{mode}"
        if not self.dual:
            return self.controller_ready_file
        p = Path(self.controller_ready_file)
        return str(p.with_name(f"{p.stem}_{mode}{p.suffix}"))

    def agent_socket(self, mode: TradingMode) -> str:
        return f"{self.run_dir}/agent-{mode}.sock"

    def vnc_enabled(self) -> bool:
        return bool(self.vnc_server_password)

    def listening_ports(self) -> dict[str, int]:
        """Every TCP port something in the container listens on, by a descriptive name."""
        ports: dict[str, int] = {}
        for m in self.modes():
            ports[f"API port ({m}, {_api_port_var(self, m)})"] = self.api_port(m)
            if self.socat_enabled():
                ports[f"socat port ({m}, {'SOCAT_PORT_PAPER' if m == 'paper' and self.dual else 'SOCAT_PORT'})"] = (
                    self.socat_port(m)
                )
            hp = self.health_port_for(m)
            if hp:
                ports[f"HEALTH_PORT ({m})"] = hp
            cp = self.command_server_port_for(m)
            if cp:
                ports[f"COMMAND_SERVER_PORT ({m})"] = cp
        if self.vnc_enabled():
            ports["VNC_PORT"] = self.vnc_port
        if self.novnc_port:
            ports["NOVNC_PORT"] = self.novnc_port
        if self.supervisord_ui_port:
            ports["SUPERVISORD_UI_PORT"] = self.supervisord_ui_port
        return ports

    # --- output ----------------------------------------------------------------------------------
    def value_of(self, v: Var) -> Any:
        return getattr(self, v.attr)

    def redacted(self) -> dict[str, Any]:
        """Canonical NAME -> JSON-friendly value; secrets are `***` (or None when unset)."""
        return {v.name: _jsonable(self.value_of(v)) for v in VARS}

    # --- validation across variables -------------------------------------------------------------
    def _cross_check(self, warnings: list[str]) -> list[str]:
        errors: list[str] = []
        src = self.sources

        def named(attr: str) -> str:
            v = VARS_BY_ATTR[attr]
            s = src.get(attr, "default")
            used = s.split(" ", 1)[1] if " " in s else v.name
            return _display(v, used.split(" ")[0])

        for user, pw in (("tws_userid", "tws_password"), ("tws_userid_paper", "tws_password_paper")):
            if getattr(self, user) and not getattr(self, pw):
                errors.append(f"{named(user)} is set but {VARS_BY_ATTR[pw].name} is not; set both "
                              f"(or {VARS_BY_ATTR[pw].name}_FILE)")
            if getattr(self, pw) and not getattr(self, user):
                errors.append(f"{named(pw)} is set but {VARS_BY_ATTR[user].name} is not; set both")
        if not self.ibpilot_sim:
            for m in self.modes():
                if not self.credentials(m).userid:
                    warnings.append(f"no user name for {m} (TWS_USERID): nobody will log in; do it by hand "
                                    "over VNC")
        if self.ibpilot_instance is not None and self.ibpilot_instance not in self.modes():
            errors.append(f"IBPILOT_INSTANCE={self.ibpilot_instance!r} is not one of TRADING_MODE="
                          f"{self.trading_mode!r}'s modes; expected {' or '.join(self.modes())}")
        if self.supervisord_ui_port:
            if bool(self.supervisord_ui_user) != bool(self.supervisord_ui_pass):
                errors.append("SUPERVISORD_UI_USER and SUPERVISORD_UI_PASS must be set together")
            elif self.supervisord_ui_bind not in _LOOPBACK and not self.supervisord_ui_user:
                errors.append(f"{named('supervisord_ui_bind')}={self.supervisord_ui_bind!r} exposes the "
                              "supervisord UI beyond this machine without a login; set SUPERVISORD_UI_USER and "
                              "SUPERVISORD_UI_PASS, or bind 127.0.0.1")
        if (self.command_server_port and self.command_server_bind not in _LOOPBACK
                and not self.command_server_token and not self.control_from):
            errors.append(f"{named('command_server_bind')}={self.command_server_bind!r} opens the command "
                          "server beyond this machine to anyone; set COMMAND_SERVER_TOKEN or CONTROL_FROM, "
                          "or bind 127.0.0.1")
        if self.novnc_port and not self.vnc_enabled():
            errors.append(f"{named('novnc_port')}={self.novnc_port} needs VNC_SERVER_PASSWORD (VNC never "
                          "starts without a password)")
        if self.ssh_vnc_port and not self.vnc_enabled():
            warnings.append("SSH_VNC_PORT is set but VNC is off (no VNC_SERVER_PASSWORD): not forwarded")
        if self.vnc_server_password and len(self.vnc_server_password.reveal()) > 8:
            warnings.append("VNC_SERVER_PASSWORD is longer than 8 characters; VNC uses only the first 8")
        if self.ssh_tunnel != "no" and not self.ssh_user_tunnel:
            errors.append(f"SSH_TUNNEL={self.ssh_tunnel!r} needs SSH_USER_TUNNEL (user@host)")
        if self.ssh_tunnel == "no" and self.ssh_user_tunnel:
            warnings.append("SSH_USER_TUNNEL is set but SSH_TUNNEL is not yes/both: no tunnel")
        for i, dest in enumerate(self.ssh_user_tunnel):
            try:
                parse_destination(dest)
            except ValueError:
                errors.append(f"SSH_USER_TUNNEL entry {i + 1} {dest!r} is not user@host[:port]")
        if self.ssh_passphrase and self.ssh_tunnel == "no":
            warnings.append("SSH_PASSPHRASE is set but SSH_TUNNEL is not yes/both")
        if self.auto_restart_time and self.auto_logoff_time:
            warnings.append("AUTO_RESTART_TIME and AUTO_LOGOFF_TIME are both set; AUTO_RESTART_TIME wins")
        # Declared now so that configurations stay valid, served by the operations work still to come.
        pending = [v for v, on in (("COMMAND_SERVER_PORT", bool(self.command_server_port)),
                                   ("HEALTH_PORT", src.get("health_port", "default") != "default"
                                    and bool(self.health_port)),
                                   ("ALERT_WEBHOOK_URL", bool(self.alert_webhook_url))) if on]
        if pending:
            warnings.append(f"{', '.join(pending)}: accepted but not served yet (the command server, /health "
                            "and webhooks are the next piece of work); alerts are in the log as ALERT_* lines")
        if self.socat_enabled() is False and self.ssh_tunnel == "no" and self.enable_socat is False:
            warnings.append("ENABLE_SOCAT=no and no SSH tunnel: the API is reachable only inside the "
                            "container (fine with host networking)")
        if self.gateway_warm_state is not None:
            w = self.gateway_warm_state.rstrip("/") or "/"
            if not w.startswith("/"):
                errors.append(f"{named('gateway_warm_state')}={self.gateway_warm_state!r} must be an absolute path")
            elif w in {"/", "/etc", "/root", "/home", "/var", "/usr", "/tmp", "/bin", "/lib", "/opt"}:
                errors.append(f"{named('gateway_warm_state')}={self.gateway_warm_state!r} is a system directory; "
                              "expected a directory of its own")
        seen: dict[int, str] = {}
        for what, port in self.listening_ports().items():
            if port in seen:
                errors.append(f"port {port} is used twice: {seen[port]} and {what}")
            else:
                seen[port] = what
        return errors


# --------------------------------------------------------------------------------------------------
# Helpers


def _init_vars() -> tuple[Var, ...]:
    out = []
    for f in dataclasses.fields(Settings):
        decl = f.metadata.get("var")
        if isinstance(decl, Var):
            out.append(dataclasses.replace(decl, attr=f.name))
    return tuple(out)


VARS: tuple[Var, ...] = _init_vars()
VARS_BY_ATTR: Mapping[str, Var] = {v.attr: v for v in VARS}
VARS_BY_NAME: Mapping[str, Var] = {v.name: v for v in VARS}


def _check_declarations() -> None:
    names: dict[str, str] = {}
    for v in VARS:
        assert v.group in dict(GROUPS), f"{v.name}: unknown group {v.group}"
        for n in (*v.all_names(), *(f"{x}_FILE" for x in v.file_names())):
            assert n not in names, f"{n} is declared by both {names[n]} and {v.name}"
            names[n] = v.name


_check_declarations()


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _strip_newline(s: str) -> str:
    if s.endswith("\r\n"):
        return s[:-2]
    if s.endswith("\n"):
        return s[:-1]
    return s


def _display(v: Var, used: str) -> str:
    return v.name if used == v.name else f"{v.name} (given as {used})"


def _lookup(
    v: Var, env: Mapping[str, str], read_file: Callable[[str], str], errors: list[str]
) -> tuple[str, str, str] | None:
    """Find the value of `v` among its names: (name used, raw value, source) or None."""
    found: list[tuple[str, str, str]] = []
    file_names = set(v.file_names())
    for n in v.all_names():
        raw = env.get(n)
        has = raw is not None and raw.strip() != ""
        if has and raw is not None:
            t = v.transforms.get(n)
            value: str | None = t(raw) if t else raw
            if value is not None:
                found.append((n, value, f"env {n}" if n == v.name else f"alias {n}"))
        if n in file_names:
            fpath = env.get(f"{n}_FILE", "").strip()
            if fpath:
                if has:
                    errors.append(f"{n} and {n}_FILE are both set; set only one")
                    continue
                try:
                    content = _strip_newline(read_file(fpath))
                except OSError as e:
                    errors.append(f"{n}_FILE={fpath!r}: cannot read the file ({e.strerror or e})")
                    continue
                if content.strip() == "":
                    errors.append(f"{n}_FILE={fpath!r}: the file is empty")
                    continue
                found.append((f"{n}_FILE", content, f"file {n}_FILE ({fpath})"))
    if not found:
        return None
    first = found[0]

    def norm(s: str) -> bytes:
        return (s if v.secret else s.strip()).encode()

    differing = [f for f in found[1:] if not hmac.compare_digest(norm(f[1]), norm(first[1]))]
    if differing:
        names = ", ".join(n for n, _, _ in [first, *differing])
        if v.secret:
            errors.append(f"{v.name}: {names} are all set, to different values; set only one")
        else:
            vals = ", ".join(f"{n}={val.strip()!r}" for n, val, _ in [first, *differing])
            errors.append(f"{v.name}: {vals} disagree; set only one")
    return first


def _post_process(
    values: dict[str, Any], sources: dict[str, str], env: Mapping[str, str], home: str, errors: list[str]
) -> None:
    # gnzsnz's BYPASS_WARNING=yes|no sets all nine precautions.
    labels: tuple[str, ...] = values["bypass_warning"]
    if len(labels) == 1 and labels[0].lower() in _TRUE | _FALSE:
        flag = labels[0].lower() in _TRUE
        values["bypass_warning"] = ()
        for v in VARS:
            if v.attr.startswith("bypass_") and v.attr != "bypass_warning" and values[v.attr] is None:
                values[v.attr] = flag
                sources[v.attr] = sources["bypass_warning"]
    # Paths: `~` is $HOME; hook dirs are relative to $HOME (as gnzsnz).
    for v in VARS:
        if v.kind is PATH and isinstance(values[v.attr], str):
            p: str = values[v.attr]
            if home and (p == "~" or p.startswith("~/")):
                p = home.rstrip("/") + p[1:]
            if v.attr in {"start_scripts", "x_scripts", "ibc_scripts"} and home and not p.startswith(("/", "~")):
                p = f"{home.rstrip('/')}/{p}"
            values[v.attr] = p


def _mode_port(port: int, mode: str, dual: bool) -> int | None:
    if not port:
        return None
    return port + 1 if dual and mode == "paper" else port


def _api_port_var(s: Settings, mode: str) -> str:
    if mode == "paper" and s.tws_api_port_paper is not None:
        return "TWS_API_PORT_PAPER"
    if s.tws_api_port is not None and (mode == "live" or not s.dual):
        return "TWS_API_PORT"
    return "default"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Secret):
        return "***"
    if isinstance(value, dtime):
        return value.strftime("%H:%M")
    if isinstance(value, WeeklyTime):
        return str(value)
    if isinstance(value, DialogRule):
        return {k: x for k, x in dataclasses.asdict(value).items() if x is not None}
    if isinstance(value, tuple):
        return [_jsonable(x) for x in value]
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
            return json.dumps(_jsonable(value))
        return ",".join(str(x) for x in value) if value else "(empty)"
    return str(value)


def process_environ() -> dict[str, str]:
    """A copy of the process environment."""
    return dict(os.environ)


def parse_env_file(text: str) -> dict[str, str]:
    """Parse a Docker-style `.env` file: `NAME=value`, `#` comments, optional `export ` and quotes."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("export "):
            s = s[7:].lstrip()
        name, sep, value = s.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[name.strip()] = value
    return out


def all_env_names() -> Iterable[str]:
    """Every environment name ibpilot reads (for the docs and tests)."""
    for v in VARS:
        yield from v.all_names()
        yield from (f"{n}_FILE" for n in v.file_names())
