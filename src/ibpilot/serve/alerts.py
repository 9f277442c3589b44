"""Stable alert tokens in the log: a grep contract for operators (`grep ALERT_ ibpilot.log`).

Each alert is one log line ``ALERT_<NAME> mode=<mode> key=value ... msg="<text>"``. Names never change
meaning once released; new ones may be added. The list is documented in docs/alerts.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum


class Alert(StrEnum):
    LOGIN_FAILED = "ALERT_LOGIN_FAILED"  # Gateway said the credentials were refused
    LOGIN_STALLED = "ALERT_LOGIN_STALLED"  # no progress after Log In (lockout / silent timeout)
    LOGIN_LOCKED = "ALERT_LOGIN_LOCKED"  # IB refuses logins for a while ("Too many failed login attempts")
    TWOFA_PENDING = "ALERT_2FA_PENDING"  # waiting for the phone approval
    TWOFA_APPROVED = "ALERT_2FA_APPROVED"  # the phone approval was given (follows ALERT_2FA_PENDING)
    TWOFA_TIMEOUT = "ALERT_2FA_TIMEOUT"  # second factor not completed in time
    TWOFA_FAILED = "ALERT_2FA_FAILED"  # code refused, or no way to answer the second factor
    EXISTING_SESSION = "ALERT_EXISTING_SESSION"  # another session for this user
    PASSWORD_EXPIRY = "ALERT_PASSWORD_EXPIRY"  # noqa: S105 - password notice (days left)
    RELOGIN = "ALERT_RELOGIN"  # Gateway asked for a re-login
    SETTING_NOT_KEPT = "ALERT_SETTING_NOT_KEPT"  # read-back after OK differs from what was set
    SETTING_UNAVAILABLE = "ALERT_SETTING_UNAVAILABLE"  # the dialog has no such control
    UNKNOWN_WINDOW = "ALERT_UNKNOWN_WINDOW"  # a window no rule recognises (structure logged once)
    JVM_EXITED = "ALERT_JVM_EXITED"  # Gateway's JVM exited unexpectedly
    HANG = "ALERT_HANG"  # the API or the UI stopped answering
    API_DOWN = "ALERT_API_DOWN"  # the API stopped answering while READY
    API_PORT_TAKEN = "ALERT_API_PORT_TAKEN"  # another process holds the API port (named with its pid)
    GIVING_UP = "ALERT_GIVING_UP"  # credentials refused too often; the controller exits 3
    MODE_DOWN = "ALERT_MODE_DOWN"  # one trading mode of several failed
    PROCESS_EXITED = "ALERT_PROCESS_EXITED"  # a stack program (socat, x11vnc, Xvfb, ...) exited by itself


@dataclass(frozen=True)
class AlertRecord:
    """The last alert of a controller, as `status` and /health show it."""

    alert: str
    msg: str
    t: float


def _quote(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return f'"{text}"' if (" " in text or not text or "=" in text) else text


def format_alert(alert: Alert, mode: str, msg: str, **fields: object) -> str:
    parts = [alert.value, f"mode={mode}"]
    parts += [f"{k}={_quote(v)}" for k, v in fields.items()]
    parts.append(f"msg={_quote(msg)}")
    return " ".join(parts)


def emit(log: logging.Logger, alert: Alert, mode: str, msg: str, **fields: object) -> str:
    line = format_alert(alert, mode, msg, **fields)
    log.warning(line)
    return line
