"""Reading IBC's config.ini the way IBC does, and what IBC knows about each of its keys.

IBC loads config.ini with `java.util.Properties.load` (`DefaultSettings`): `#` and `!` comment lines, the
key ends at the first unescaped `=`, `:` or blank, blanks around the separator are skipped, the value keeps
its trailing blanks, a backslash escapes (`\\\\` is one backslash, `\\uXXXX` a character) and a trailing
backslash continues the line. Keys are case-sensitive and the last of a repeated key wins. There are no
sections: an `[IBC]` line is just a key nobody reads. `getString` trims the value; `getInt` and
`getBoolean` do not, so `CommandServerPort=7462 ` (a trailing blank) is silently ignored by IBC.

`IBC_KEYS` is IBC's side of each key (how IBC reads it, its code default, and, for a key ibpilot does not
take, the reason); which ibpilot variable takes a key is declared once, as an alias, in
`ibpilot.settings.schema`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Reads = Literal["str", "int", "bool"]  # IBC's getter: getString trims, getInt/getBoolean do not


@dataclass(frozen=True)
class IbcKey:
    reads: Reads = "str"
    default: str = ""  # IBC's code default ("" = nothing, or "leave the Gateway's setting as it is")
    reason: str | None = None  # why ibpilot does not take this key (None: an ibpilot variable does)
    secret: bool = False


_LOG = "ibpilot records the structure of windows with RECORD_WINDOWS=<dir> (a JSON snapshot of every window)"
_OLD = "IBController's name (IBC's predecessor); IBC ignores it and reads {} (-> {})"

IBC_KEYS: dict[str, IbcKey] = {
    # Startup and authentication
    "FIX": IbcKey("bool", "no"),
    "IbLoginId": IbcKey(),
    "IbPassword": IbcKey(secret=True),
    "FIXLoginId": IbcKey(),
    "FIXPassword": IbcKey(secret=True),
    "SecondFactorDevice": IbcKey(),
    "ReloginAfterSecondFactorAuthenticationTimeout": IbcKey("bool", "no"),
    "SecondFactorAuthenticationExitInterval": IbcKey("int", "60"),
    "SecondFactorAuthenticationTimeout": IbcKey("int", "180"),
    "ExitAfterSecondFactorAuthenticationTimeout": IbcKey(
        "bool", "no", "deprecated by IBC: ReloginAfterSecondFactorAuthenticationTimeout "
        "(-> RELOGIN_AFTER_TWOFA_TIMEOUT) takes its value when that key is blank"),
    "TradingMode": IbcKey("str", "live"),
    "AcceptNonBrokerageAccountWarning": IbcKey("bool", "yes"),
    "LoginDialogDisplayTimeout": IbcKey("int", "60"),
    # TWS / Gateway startup
    "IbDir": IbcKey(reason="the settings directory is TWS_SETTINGS_PATH (IBC's --tws-settings-path); it is a "
                    "path on the new machine or volume, so it is not copied: set TWS_SETTINGS_PATH yourself"),
    "StoreSettingsOnServer": IbcKey(reason="not supported yet: ibpilot leaves TWS's \"Use/store settings on "
                                    "server\" checkbox as it is"),
    "MinimizeMainWindow": IbcKey("bool", "no", "nothing to minimise: the Gateway runs on a virtual display "
                                 "(Xvfb), seen only over VNC"),
    "ExistingSessionDetectedAction": IbcKey("str", "manual"),
    "OverrideTwsApiPort": IbcKey("int", ""),
    "OverrideTwsMasterClientID": IbcKey("int", ""),
    "ReadOnlyLogin": IbcKey("bool", "no"),
    "ReadOnlyApi": IbcKey(),
    **{k: IbcKey() for k in (
        "BypassOrderPrecautions", "BypassBondWarning", "BypassNegativeYieldToWorstConfirmation",
        "BypassCalledBondWarning", "BypassSameActionPairTradeWarning", "BypassPriceBasedVolatilityRiskWarning",
        "BypassUSStocksMarketDataInSharesWarning", "BypassRedirectOrderWarning",
        "BypassNoOverfillProtectionPrecaution")},
    "AcceptBidAskLastSizeDisplayUpdateNotification": IbcKey("str", "ignore"),
    "SendMarketDataInLotsForUSstocks": IbcKey(reason="not supported yet: ibpilot leaves the \"Send market data "
                                              "in lots\" checkbox as it is"),
    "TrustedTwsApiClientIPs": IbcKey(),
    "ResetOrderIdsAtStart": IbcKey("bool", "no", "not supported yet: ibpilot never clicks \"Reset API order ID "
                                   "sequence\""),
    "ConfirmOrderIdReset": IbcKey(),
    # Auto logoff, restart and shutdown
    "AutoLogoffTime": IbcKey(),
    "AutoRestartTime": IbcKey(),
    "ColdRestartTime": IbcKey(),
    "ClosedownAt": IbcKey(),
    # Other
    "AcceptIncomingConnectionAction": IbcKey("str", "manual"),
    "AllowBlindTrading": IbcKey("bool", "no"),
    "SaveTwsSettingsAt": IbcKey(),
    "ConfirmCryptoCurrencyOrders": IbcKey("str", "manual"),
    "DismissPasswordExpiryWarning": IbcKey("bool", "no"),
    "DismissNSEComplianceNotice": IbcKey("bool", "yes"),
    "ShowAllTrades": IbcKey("bool", "no"),
    # Command server
    "CommandServerPort": IbcKey("int", "0"),
    "ControlFrom": IbcKey(),
    "BindAddress": IbcKey(),
    "CommandPrompt": IbcKey(),
    "SuppressInfoMessages": IbcKey("bool", "yes"),
    # Diagnostics
    "LogStructureScope": IbcKey("str", "known", _LOG),
    "LogStructureWhen": IbcKey("str", "never", _LOG),
    "LogComponents": IbcKey("str", "never", _LOG),
    "IncludeStackTraceForExceptions": IbcKey("bool", "no", "ibpilot's log detail is LOG_LEVEL (debug for more)"),
    # Gone from IBC, still found in old files
    "IbAutoClosedown": IbcKey("bool", "yes", "obsolete (removed from IBC after TWS 974 changed auto-logoff): "
                              "use AUTO_LOGOFF_TIME or AUTO_RESTART_TIME"),
    "AutoConfirmOrders": IbcKey("bool", "no", "obsolete (removed from IBC)"),
    "IbControllerPort": IbcKey("int", "0", _OLD.format("CommandServerPort", "COMMAND_SERVER_PORT")),
    "IbControlFrom": IbcKey(reason=_OLD.format("ControlFrom", "CONTROL_FROM")),
    "IbBindAddress": IbcKey(reason=_OLD.format("BindAddress", "COMMAND_SERVER_BIND")),
}


@dataclass(frozen=True)
class Entry:
    key: str
    value: str  # as IBC sees it: unescaped, trailing blanks kept
    line: int  # 1-based line where the key starts


@dataclass
class Ini:
    entries: dict[str, Entry]  # the last of each key, in file order of first appearance
    repeated: dict[str, list[int]]  # key -> every line it appears on, when more than once
    bom: bool
    sections: list[tuple[int, str]]


_BLANKS = " \t\f"


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join continued lines (odd number of trailing backslashes); skip blank and comment lines."""
    out: list[tuple[int, str]] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    i = 0
    while i < len(lines):
        start, line = i + 1, lines[i].lstrip(_BLANKS)
        i += 1
        if not line or line[0] in "#!":
            continue
        while (len(line) - len(line.rstrip("\\"))) % 2 == 1 and i < len(lines):
            line = line[:-1] + lines[i].lstrip(_BLANKS)
            i += 1
        if (len(line) - len(line.rstrip("\\"))) % 2 == 1:
            line = line[:-1]
        out.append((start, line))
    return out


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(s: str) -> str:
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "u" and i + 6 <= len(s):
                try:
                    out.append(chr(int(s[i + 2 : i + 6], 16)))
                    i += 6
                    continue
                except ValueError:
                    pass
            out.append(_ESCAPES.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _split(line: str) -> tuple[str, str]:
    """Key and value of one logical line, as Properties.load splits them."""
    i, escaped = 0, False
    while i < len(line):
        c = line[i]
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c in "=:" or c in _BLANKS:
            break
        i += 1
    key, rest = line[:i], line[i:]
    rest = rest.lstrip(_BLANKS)
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(_BLANKS)
    return _unescape(key), _unescape(rest)


def decode(data: bytes) -> tuple[str, bool]:
    """The file's text and whether it began with a UTF-8 byte-order mark (UTF-8, else Latin-1 as Java)."""
    bom = data.startswith(b"\xef\xbb\xbf")
    if bom:
        data = data[3:]
    try:
        return data.decode("utf-8"), bom
    except UnicodeDecodeError:
        return data.decode("latin-1"), bom


def parse(text: str, bom: bool = False) -> Ini:
    if text.startswith("\ufeff"):
        text, bom = text[1:], True
    ini = Ini(entries={}, repeated={}, bom=bom, sections=[])
    seen: dict[str, list[int]] = {}
    for line_no, line in _logical_lines(text):
        stripped = line.rstrip()
        if stripped.startswith("[") and stripped.endswith("]"):
            ini.sections.append((line_no, stripped))
            continue
        key, value = _split(line)
        seen.setdefault(key, []).append(line_no)
        ini.entries.pop(key, None)  # keep the order of the last occurrence
        ini.entries[key] = Entry(key, value, line_no)
    ini.repeated = {k: v for k, v in seen.items() if len(v) > 1}
    return ini
