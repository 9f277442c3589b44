"""Alert delivery, the wire side: one human text, four channel formats, one blocking HTTP POST.

Pure functions and a synchronous `post()` (run in a thread by `serve.notify.Notifier`). Nothing here logs:
`post()` answers a `Result` whose `detail` never contains a URL, a token or a server's free text.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ibpilot.serve.alerts import Alert

TWOFA_PENDING = "ALERT_2FA_PENDING"
TWOFA_APPROVED = Alert.TWOFA_APPROVED.value  # follow-up of ALERT_2FA_PENDING
TWOFA_TIMEOUT = "ALERT_2FA_TIMEOUT"
TWOFA_FAILED = "ALERT_2FA_FAILED"

HIGH_PRIORITY = frozenset({TWOFA_PENDING, "ALERT_HANG", "ALERT_GIVING_UP"})
GOOD_NEWS = frozenset({TWOFA_APPROVED})
TELEGRAM_MAX = 4096  # Bot API limit of a message text
DISCORD_MAX = 2000  # Discord limit of `content`
NTFY_TITLE_MAX = 200
NTFY_MAX = 1000  # ntfy turns bodies over 4096 bytes into attachments (4 bytes per char at worst)
_READ_MAX = 64 * 1024


@dataclass(frozen=True)
class Event:
    """One alert as submitted by the controller, stamped with where and when."""

    alert: str
    mode: str
    msg: str
    fields: Mapping[str, object]
    time: float
    host: str
    version: str

    def iso_time(self) -> str:
        return datetime.fromtimestamp(self.time, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _fmt_fields(fields: Mapping[str, object], skip: tuple[str, ...] = ()) -> str:
    return " ".join(f"{k}={v}" for k, v in fields.items() if k not in skip)


def human_text(ev: Event) -> str:
    """`[paper] ALERT_X: <what happened / what to do> — k=v ...` (the same text on every channel)."""
    if ev.alert == TWOFA_PENDING:
        user = ev.fields.get("user")
        who = f" for user {user}" if user not in (None, "") else ""
        what = f"Approve the IBKR login{who} ({ev.mode}) in the IB Key app on your phone"
        rest = _fmt_fields(ev.fields, skip=("user",))
    elif ev.alert == TWOFA_APPROVED:
        user = ev.fields.get("user")
        who = f" for user {user}" if user not in (None, "") else ""
        what = ev.msg or f"The IBKR login{who} ({ev.mode}) was approved"
        rest = _fmt_fields(ev.fields, skip=("user",))
    else:
        what, rest = ev.msg, _fmt_fields(ev.fields)
    text = f"[{ev.mode}] {ev.alert}: {what}"
    return f"{text} — {rest}" if rest else text


def priority(alert: str) -> str:
    """ntfy priority: `high` for what needs a person now, `low` for good news, else `default`."""
    return "high" if alert in HIGH_PRIORITY else "low" if alert in GOOD_NEWS else "default"


def _tags(alert: str) -> str:
    return "white_check_mark" if alert in GOOD_NEWS else "rotating_light" if alert in HIGH_PRIORITY else "warning"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ascii(text: str) -> str:
    """HTTP header values are latin-1 at best: keep headers plain ASCII."""
    return text.replace("—", "-").encode("ascii", "replace").decode("ascii").replace("\r", " ").replace("\n", " ")


@dataclass(frozen=True)
class Request:
    url: str = field(repr=False)
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class Channel:
    """A named destination; `build` turns an event into the one POST request for it."""

    name: str
    build: Callable[[Event], Request] = field(repr=False)


_JSON = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "ibpilot"}


def _json(obj: object) -> bytes:
    return json.dumps(obj, default=str, ensure_ascii=False).encode()


def webhook(url: str) -> Channel:
    def build(ev: Event) -> Request:
        doc = {"alert": ev.alert, "mode": ev.mode, "msg": ev.msg, "fields": dict(ev.fields),
               "time": ev.iso_time(), "host": ev.host, "version": ev.version, "text": human_text(ev)}
        return Request(url, _JSON, _json(doc))
    return Channel("webhook", build)


def telegram(api_base: str, token: str, chat_id: str) -> Channel:
    url = f"{api_base.rstrip('/')}/bot{token}/sendMessage"

    def build(ev: Event) -> Request:
        doc = {"chat_id": chat_id, "text": _clip(human_text(ev), TELEGRAM_MAX), "disable_web_page_preview": True}
        return Request(url, _JSON, _json(doc))
    return Channel("telegram", build)


def discord(url: str) -> Channel:
    def build(ev: Event) -> Request:
        doc = {"content": _clip(human_text(ev), DISCORD_MAX), "allowed_mentions": {"parse": []}}
        return Request(url, _JSON, _json(doc))
    return Channel("discord", build)


def ntfy(url: str, token: str | None) -> Channel:
    def build(ev: Event) -> Request:
        headers = {"Content-Type": "text/plain; charset=utf-8", "User-Agent": "ibpilot",
                   "Title": _clip(_ascii(f"ibpilot {ev.mode} on {ev.host}: {ev.alert}"), NTFY_TITLE_MAX),
                   "Priority": priority(ev.alert), "Tags": _tags(ev.alert)}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return Request(url, headers, _clip(human_text(ev), NTFY_MAX).encode())
    return Channel("ntfy", build)


# ------------------------------------------------------------------------------------------ HTTP
@dataclass(frozen=True)
class Result:
    ok: bool
    retry: bool = False  # worth another attempt (connection error, timeout, 5xx, 429)
    retry_after: float | None = None  # seconds the server asked us to wait (429/503 Retry-After)
    detail: str = ""  # safe for a log line: status code or error class, never a URL or a token


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would be replayed as a GET without its body: report the 3xx instead."""

    def redirect_request(self, req: urllib.request.Request, fp: object, code: int, msg: str,
                         headers: object, newurl: str) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def parse_retry_after(value: str | None, body: bytes = b"", now: float | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta or HTTP date), else from a JSON `retry_after` (Telegram,
    Discord)."""
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None and when.tzinfo is not None:
            return max(0.0, when.timestamp() - (time.time() if now is None else now))
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        return None
    if isinstance(doc, dict):
        params = doc.get("parameters")
        raw = params.get("retry_after") if isinstance(params, dict) else doc.get("retry_after")
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return max(0.0, float(raw))
    return None


def _describe(exc: BaseException) -> str:
    """An error's kind without its text (exception texts may carry the URL, i.e. the token)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        return _describe(exc.reason)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__} ({exc.strerror})"
    return type(exc).__name__


def post(req: Request, timeout: float) -> Result:
    """One blocking POST (run it in a thread). Never raises for network or HTTP trouble."""
    if not req.url.startswith(("http://", "https://")):
        return Result(False, detail="bad request (not an http(s) URL)")
    r = urllib.request.Request(req.url, data=req.body, headers=dict(req.headers), method="POST")  # noqa: S310
    try:
        with _OPENER.open(r, timeout=timeout) as resp:
            resp.read(_READ_MAX)
            return Result(True, detail=f"HTTP {resp.status}")
    except urllib.error.HTTPError as exc:
        code = exc.code
        try:
            body = exc.read(_READ_MAX)
        except (OSError, http.client.HTTPException):
            body = b""
        finally:
            exc.close()
        wait = parse_retry_after(exc.headers.get("Retry-After") if exc.headers else None, body)
        if code == 429:
            return Result(False, retry=True, retry_after=wait, detail="HTTP 429")
        if code >= 500:
            return Result(False, retry=True, retry_after=wait if code == 503 else None, detail=f"HTTP {code}")
        if 300 <= code < 400:
            return Result(False, detail=f"HTTP {code} (redirects are not followed)")
        return Result(False, detail=f"HTTP {code} (not retried)")
    except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets, bad status lines
        return Result(False, retry=True, detail=_describe(exc))
    except ValueError as exc:  # malformed URL: a configuration error, retrying cannot help
        return Result(False, detail=f"bad request ({type(exc).__name__})")
