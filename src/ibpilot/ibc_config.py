"""IBC config.ini -> ibpilot environment (pure): every key is converted or reported with its reason.

Which variable takes an IBC key is the settings declarations' alias (`ibpilot.settings.schema`, e.g.
`TWS_USERID` has the alias `IbLoginId`); IBC's own reading of each key is `ibpilot.ibc_ini`. The values
are translated where IBC means something else than the plain copy would (a `0` port, `Every 30` without a
unit, the deprecated 2FA key, a trailing blank IBC ignored, ...), then the would-be environment goes
through `Settings.from_env` (configuration only) so that every error is found before anything is written.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ibpilot.ibc_ini import IBC_KEYS, Entry, IbcKey, Ini, parse
from ibpilot.settings import VARS, Settings, SettingsError, Var
from ibpilot.settings.declare import is_ibc_key
from ibpilot.settings.kinds import Invalid

Level = Literal["note", "warning"]

# IBC key -> the declaration that lists it as an alias (the one source of the mapping).
BY_IBC_KEY: dict[str, Var] = {a: v for v in VARS for a in v.aliases if is_ibc_key(a)}
BY_IBC_KEY["FIX"] = next(v for v in VARS if v.name == "FIX")  # IBC's key is ibpilot's name as well


@dataclass(frozen=True)
class Remark:
    key: str  # the IBC key (or "" for the file as a whole)
    text: str
    level: Level = "note"
    line: int | None = None


@dataclass
class Conversion:
    env: dict[str, str] = field(default_factory=dict)  # canonical NAME -> value, in file order
    origin: dict[str, str] = field(default_factory=dict)  # NAME -> the IBC key it came from
    remarks: list[Remark] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # ibpilot's own remarks on the result (Settings.warnings)
    secrets: set[str] = field(default_factory=set)  # NAMEs whose value is a secret
    lines: dict[str, int] = field(default_factory=dict)  # IBC key -> its line in config.ini

    @property
    def ok(self) -> bool:
        return not self.errors


IBC_BOOL_WORDS = {"yes", "no", "true", "false"}


def _ibc_ignores(reads: str, raw: str) -> bool:
    """IBC's getBoolean/getInt fall back to the default for this untrimmed value."""
    if reads == "bool":
        return raw.lower() not in IBC_BOOL_WORDS
    if reads == "int":
        return re.fullmatch(r"[+-]?\d+", raw) is None
    return False


class _Converter:
    def __init__(self, ini: Ini, mode: str | None) -> None:
        self.ini = ini
        self.mode = mode
        self.ignored: set[str] = set()
        self.out = Conversion(lines={k: e.line for k, e in ini.entries.items()})

    def remark(self, e: Entry | str, text: str, level: Level = "note") -> None:
        if isinstance(e, Entry):
            self.out.remarks.append(Remark(e.key, text, level, e.line))
        else:
            self.out.remarks.append(Remark(e, text, level))

    def put(self, v: Var, value: str, origin: str) -> None:
        self.out.env[v.name] = value
        self.out.origin[v.name] = origin
        if v.secret:
            self.out.secrets.add(v.name)

    def value(self, key: str) -> str:
        """The value IBC would use for `key` (its getter's trimming), "" when missing."""
        e = self.ini.entries.get(key)
        if e is None:
            return ""
        return e.value.strip() if IBC_KEYS.get(key, _STR).reads == "str" else e.value

    def run(self) -> Conversion:
        ini = self.ini
        if ini.bom:
            first = next(iter(ini.entries), None)
            self.remark("", "the file starts with a UTF-8 byte-order mark: IBC reads it as part of the first "
                        f"key{f' ({first})' if first else ''}, which IBC then ignores; ibpilot skipped the mark "
                        "(remove it from the file IBC reads)", "warning")
        for line, name in ini.sections:
            self.remark("", f"line {line}: section header {name} ignored (IBC's config.ini has no sections)")
        for key, lines in ini.repeated.items():
            self.remark(key, f"set {len(lines)} times (lines {', '.join(map(str, lines))}); the last one counts, "
                        "as in IBC", "warning")
        for key, e in ini.entries.items():
            self.entry(key, e)
        self.trading_mode()
        self.defaults()
        self.twofa_timeout()
        return self.out

    def twofa_timeout(self) -> None:
        """IBC without re-login waits at a timed-out 2FA (its script may restart); ibpilot restarts."""
        if self.out.env.get(BY_IBC_KEY["ReloginAfterSecondFactorAuthenticationTimeout"].name, "").lower() in {
                "yes", "true"}:
            return
        self.remark("ReloginAfterSecondFactorAuthenticationTimeout",
                    "re-login is off: after a 2FA timeout IBC waited (unless its start script had "
                    "--on2fatimeout=restart); ibpilot restarts the Gateway (TWOFA_TIMEOUT_ACTION=restart, its "
                    "default; set TWOFA_TIMEOUT_ACTION=none to wait as IBC did)")

    def entry(self, key: str, e: Entry) -> None:
        info = IBC_KEYS.get(key)
        if info is None:
            self.unknown(e)
            return
        raw = e.value
        if raw and _ibc_ignores(info.reads, raw):
            what = "a yes/no value" if info.reads == "bool" else "a whole number"
            blank = ", because of the blank at the end" if raw != raw.rstrip() else ""
            self.ignored.add(key)
            self.remark(e, f"IBC ignored {raw!r} (not {what} for IBC{blank}) and used "
                        f"{info.default or 'nothing'}; kept that way. Fix the value and run again if you meant "
                        "it", "warning")
            return
        value = self.value(key)
        if not value and key in BY_IBC_KEY and key != "BindAddress":
            return  # blank: IBC's default; `defaults()` reports it
        special = _SPECIAL.get(key)
        if special is not None:
            special(self, e, value)
            return
        if info.reason is not None:
            shown = "" if info.secret or not value else f" (was {value!r})" if key == "IbDir" else ""
            self.remark(e, f"not converted: {info.reason}{shown}")
            return
        self.put(BY_IBC_KEY[key], value, key)

    def unknown(self, e: Entry) -> None:
        by_case = {k.lower(): k for k in IBC_KEYS}
        if e.key.lower() in by_case:
            right = by_case[e.key.lower()]
            self.remark(e, f"IBC's keys are case-sensitive: IBC ignored this one (it reads {right}); so does "
                        f"ibpilot. Rename it to {right} and run again if you meant it", "warning")
            return
        close = difflib.get_close_matches(e.key, list(IBC_KEYS), n=1, cutoff=0.8)
        hint = f"; did you mean {close[0]}?" if close else ""
        self.remark(e, f"not an IBC setting (IBC ignored it too){hint}", "warning")

    def trading_mode(self) -> None:
        v = BY_IBC_KEY["TradingMode"]
        given = self.out.env.get(v.name)
        if self.mode is not None:
            if given is not None and given != self.mode:
                self.remark("TradingMode", f"TradingMode={given} is overridden by --mode {self.mode} (as IBC's "
                            "command-line argument overrides it)")
            self.put(v, self.mode, "TradingMode")
        elif given is None:
            self.put(v, "live", "TradingMode")
            self.remark("TradingMode", "not set: IBC logs in live; TRADING_MODE=live is written because "
                        "ibpilot's own default is paper")

    def defaults(self) -> None:
        """Mapped keys missing or blank: say where IBC's default differs from ibpilot's (and note blanks)."""
        for key, info in IBC_KEYS.items():
            v = BY_IBC_KEY.get(key)
            if v is None or v.name in self.out.env:
                continue
            if key not in self.ignored and any(r.key == key for r in self.out.remarks):
                continue
            present = key in self.ini.entries
            if present and self.value(key) and key not in self.ignored:
                continue  # given (and converted, or reported)
            ibc = None
            if info.default:
                try:
                    ibc = v.kind.parse(info.default)
                except Invalid:
                    ibc = None
            if ibc is not None and ibc != v.default:
                ours = "unset" if v.default is None else _shown_default(v)
                self.remark(key, f"{'blank' if present else 'not set'}: IBC used {info.default}; ibpilot's default "
                            f"{v.name}={ours} applies (set {v.name}={info.default} to keep IBC's behaviour)")
            elif present and key not in self.ignored:
                self.remark(self.ini.entries[key], f"blank: nothing to write ({v.name} keeps its default, as IBC "
                            "did)")


_STR = IbcKey()


def _shown_default(v: Var) -> str:
    d = v.default
    if isinstance(d, bool):
        return "yes" if d else "no"
    return str(d)


# --- keys whose value is translated, not copied ---------------------------------------------------------


def _exit_after_2fa(c: _Converter, e: Entry, value: str) -> None:
    relogin = c.value("ReloginAfterSecondFactorAuthenticationTimeout")
    if relogin or not value:
        c.remark(e, "not converted: deprecated; ReloginAfterSecondFactorAuthenticationTimeout "
                 f"{'is set and wins' if relogin else 'is the key that counts'}")
        return
    c.put(BY_IBC_KEY["ReloginAfterSecondFactorAuthenticationTimeout"], value, e.key)
    c.remark(e, "deprecated IBC key: IBC uses it when ReloginAfterSecondFactorAuthenticationTimeout is blank, "
             "so it becomes RELOGIN_AFTER_TWOFA_TIMEOUT")


def _port_or_unchanged(c: _Converter, e: Entry, value: str) -> None:
    if value.strip() == "0":
        c.remark(e, "0 means \"leave the Gateway's port as it is\" in IBC: not converted (ibpilot then uses "
                 "4001 live / 4002 paper, or 7496 / 7497 for TWS)")
        return
    if value:
        c.put(BY_IBC_KEY[e.key], value, e.key)


def _read_only_api(c: _Converter, e: Entry, value: str) -> None:
    if value and value.lower() not in IBC_BOOL_WORDS:
        c.remark(e, "IBC counts any value but yes/no as yes (read-only); ibpilot only accepts yes/no: "
                 "READ_ONLY_API=yes written, as IBC behaved", "warning")
        value = "yes"
    if value:
        c.put(BY_IBC_KEY[e.key], value, e.key)


_EVERY = re.compile(r"(?i)^(every\s+\d+)(?!\s*(mins?|minutes?|hours?|hrs?)\b)(.*)$")


def _save_settings(c: _Converter, e: Entry, value: str) -> None:
    m = _EVERY.match(value)
    if m:
        value = f"{m.group(1)} mins{m.group(3)}"
        c.remark(e, "IBC takes `Every n` without a unit as minutes: written with `mins`")
    if value:
        c.put(BY_IBC_KEY[e.key], " ".join(value.split()), e.key)


def _bind_address(c: _Converter, e: Entry, value: str) -> None:
    if value.lower() == "localhost":
        c.remark(e, "IBC resolves a host name here; ibpilot takes an IP address: written as 127.0.0.1")
        value = "127.0.0.1"
    if value:
        c.put(BY_IBC_KEY[e.key], value, e.key)
    elif c.value("CommandServerPort").strip() not in {"", "0"}:
        c.remark(e, "blank: IBC's command server listened on every address (allowing only ControlFrom and "
                 "this machine); ibpilot's binds 127.0.0.1 unless COMMAND_SERVER_BIND says otherwise "
                 "(beyond loopback it needs COMMAND_SERVER_TOKEN or CONTROL_FROM)", "warning")


def _trading_mode(c: _Converter, e: Entry, value: str) -> None:
    mode = value.strip().lower()
    if value and mode not in {"live", "paper"}:
        c.out.errors.append(f"TradingMode={value} (line {e.line}): expected live or paper (IBC exits with 1104)")
        return
    if value:
        c.put(BY_IBC_KEY[e.key], mode, e.key)


_SPECIAL: dict[str, Callable[[_Converter, Entry, str], None]] = {
    "ExitAfterSecondFactorAuthenticationTimeout": _exit_after_2fa,
    "OverrideTwsApiPort": _port_or_unchanged,
    "ReadOnlyApi": _read_only_api,
    "SaveTwsSettingsAt": _save_settings,
    "BindAddress": _bind_address,
    "TradingMode": _trading_mode,
}

# --- the whole conversion ---------------------------------------------------------------------------------

PLACEHOLDER = "<password from a file>"  # checks the rest when the password is not in config.ini


def convert(text: str, *, mode: str | None = None, bom: bool = False) -> Conversion:
    """Convert config.ini `text`; `mode` (live/paper) overrides TradingMode as IBC's argument does."""
    c = _Converter(parse(text, bom), mode)
    out = c.run()
    user, pw = BY_IBC_KEY["IbLoginId"], BY_IBC_KEY["IbPassword"]
    env = dict(out.env)
    if user.name in env and pw.name not in env:
        env[pw.name] = PLACEHOLDER
        c.remark("IbPassword", f"not set in config.ini (IBC may have had it from the command line): give it "
                 f"as {pw.name}_FILE (a secret file) or {pw.name}", "warning")
    try:
        s = Settings.from_env(env)
        out.warnings = list(s.warnings)
    except SettingsError as exc:
        out.errors.extend(_located(msg, out) for msg in exc.errors)
    return out


def _located(msg: str, out: Conversion) -> str:
    """`msg` with the IBC key and line its variable came from."""
    for name, key in out.origin.items():
        if key in IBC_KEYS and re.match(rf"^{re.escape(name)}\b", msg):
            line = out.lines.get(key)
            return f"{msg} [config.ini: {key}{f', line {line}' if line else ''}]"
    return msg
