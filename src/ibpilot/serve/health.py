"""The health server: ``/health`` (JSON), ``/ready`` (text), ``/metrics`` (Prometheus), ``/`` (status page).

Healthy means positive, fresh evidence: the controller is READY *and* the last successful TWS API probe
is no older than one probe interval plus one probe timeout (plus `FRESH_SLACK_S`). Anything else is 503
with the reason, so a Docker HEALTHCHECK or a Kubernetes probe never trusts a stale "ok".

The HTTP server is deliberately small and strict (HTTP/1.1, GET/HEAD/POST, one request per connection):
the request head is bounded (`MAX_HEAD`), the body too (`MAX_BODY`), the whole request must arrive within
`READ_TIMEOUT_S`, and at most `MAX_CONNECTIONS` are open at once: at the limit a new connection pushes out
the one that has waited longest for its request, or gets a 503 when all are being answered. Every
connection is its own task, so a slow or hostile client never holds up the others.

Restart/Stop from the page exist only when a command token is configured: ``POST /command`` with
``Authorization: Bearer <token>`` and the body ``RESTART`` or ``STOP``; the token is compared in
constant time and is never put into a URL, a page or a log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ibpilot.serve import page
from ibpilot.serve.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger("ibpilot.serve.health")

FRESH_SLACK_S = 1.0  # tolerance on "fresh": scheduling jitter between two probes
MAX_HEAD = 8 * 1024  # request line + headers
MAX_BODY = 1024
READ_TIMEOUT_S = 5.0  # for the whole request (line, headers, body): slow-loris clients are cut off
WRITE_TIMEOUT_S = 10.0
COMMAND_TIMEOUT_S = 60.0
MAX_CONNECTIONS = 64
LINGER_BYTES = 4 * 1024 * 1024  # after an error answer, read and drop this much so the client sees it
LINGER_S = 1.0
COMMANDS = ("RESTART", "STOP")

_SECRET_KEY = re.compile(r"password|passphrase|secret|token|totp|credential", re.I)
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 411: "Length Required", 413: "Content Too Large", 431:
            "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
            503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported"}
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token (methods, header names)


class StatusSource(Protocol):
    def status(self) -> dict[str, Any]: ...


def evaluate(status: dict[str, Any], now: float | None = None) -> tuple[bool, str]:
    """(healthy, reason) for one status dict: READY and a successful probe within the budget."""
    now = time.time() if now is None else now
    state = str(status.get("state") or "UNKNOWN")
    probe = status.get("probe") if isinstance(status.get("probe"), dict) else {}
    assert isinstance(probe, dict)
    if state != "READY":
        err = probe.get("error")
        return False, f"state {state}" + (f" (last API probe: {err})" if err else "")
    last_ok = _num(probe.get("last_ok_at"))
    if last_ok is None:
        return False, "no successful API probe yet"
    budget = (_num(probe.get("interval_s")) or 0.0) + (_num(probe.get("timeout_s")) or 0.0) + FRESH_SLACK_S
    age = now - last_ok
    if age > budget:
        err = probe.get("error")
        return False, (f"last API probe succeeded {age:.0f}s ago (budget {budget:.0f}s)"
                       + (f"; last error: {err}" if err else ""))
    latency = _num(probe.get("latency_ms"))
    return True, f"API answered {max(age, 0):.0f}s ago" + (f" in {latency:.0f} ms" if latency is not None else "")


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def safe_url(url: Any) -> str | None:
    """An http(s) link without user info or secret-looking query parameters (e.g. noVNC's password)."""
    if not isinstance(url, str) or not url:
        return None
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = urllib.parse.urlencode([(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
                                    if not _SECRET_KEY.search(k)])
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def scrub(value: Any) -> Any:
    """Drop secret-looking keys (defence in depth: the status dict must not carry any) and clean links."""
    if isinstance(value, dict):
        out = {str(k): scrub(v) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
        if isinstance(value.get("links"), dict):
            out["links"] = {str(k): safe_url(v) for k, v in value["links"].items()}
        return out
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


class _HttpError(Exception):
    def __init__(self, code: int, text: str = "") -> None:
        super().__init__(text or _REASONS.get(code, ""))
        self.code = code


class _Request:
    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method, self.path, self.headers, self.body = method, path, headers, body


class _Response:
    def __init__(self, code: int, body: bytes | str, ctype: str = "text/plain; charset=utf-8",
                 headers: dict[str, str] | None = None) -> None:
        self.code = code
        self.body = body.encode() if isinstance(body, str) else body
        self.ctype, self.headers = ctype, headers or {}


class HealthServer:
    """Serves one controller's health, readiness, metrics and status page (see the module doc)."""

    def __init__(
        self,
        source: StatusSource,
        metrics: Metrics,
        *,
        host: str,
        port: int,
        command: Callable[[str], Awaitable[str]] | None = None,
        command_token: str | None = None,
        peers: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.source, self.metrics = source, metrics
        self.host, self.port = host, port
        self._command = command
        self._token = command_token.encode() if command_token else None
        self._peers = peers
        self._server: asyncio.Server | None = None
        self._active: set[asyncio.Task[Any]] = set()
        self._reading: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}  # still reading: oldest first

    def __repr__(self) -> str:
        return f"HealthServer(host={self.host!r}, port={self.port}, commands={self.commands_enabled})"

    @property
    def commands_enabled(self) -> bool:
        return self._command is not None and self._token is not None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, host=self.host, port=self.port, limit=MAX_HEAD,
                                                  reuse_address=True, backlog=128)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("health server on http://%s:%d/ (/health /ready /metrics)", _url_host(self.host), self.port)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._active):
            task.cancel()
        await asyncio.gather(*self._active, return_exceptions=True)
        if server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 5.0)

    # ------------------------------------------------------------------ connections
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._active) >= MAX_CONNECTIONS and not self._evict_idle():
            writer.write(_encode(_Response(503, "busy\n"), head_only=False))
            writer.close()
            return
        self._active.add(task)
        self._reading[task] = writer
        try:
            await self._serve(reader, writer, task)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            self._active.discard(task)
            self._reading.pop(task, None)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    def _evict_idle(self) -> bool:
        """At the limit, the connection that has waited longest for its request goes (idle floods and
        slow-loris clients cannot lock real requests out); False when every connection is being served."""
        if not self._reading:
            return False
        task, writer = next(iter(self._reading.items()))
        del self._reading[task]
        self._active.discard(task)
        writer.close()
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, task: asyncio.Task[Any]) -> None:
        head_only = False
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                req = await _read_request(reader)
            self._reading.pop(task, None)
            head_only = req.method == "HEAD"
            try:
                resp = await self._route(req)
            except (_HttpError, asyncio.CancelledError):
                raise
            except Exception as exc:  # a failing command or status source: answer 500, keep serving
                log.warning("%s %s failed: %s", req.method, req.path, type(exc).__name__)
                resp = _Response(500, f"internal error ({type(exc).__name__})\n")
        except _HttpError as exc:
            resp = _Response(exc.code, f"{exc}\n", headers={"Allow": "GET, HEAD, POST"} if exc.code == 405 else None)
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                writer.write(_encode(resp, head_only))
                await writer.drain()
            await _linger(reader, writer)
            return
        except TimeoutError:
            resp = _Response(408, "request not received in time\n")
            writer.write(_encode(resp, False))
            with contextlib.suppress(TimeoutError, ConnectionError):
                async with asyncio.timeout(1.0):
                    await writer.drain()
            return
        async with asyncio.timeout(WRITE_TIMEOUT_S):
            writer.write(_encode(resp, head_only))
            await writer.drain()

    # ------------------------------------------------------------------ routes
    async def _route(self, req: _Request) -> _Response:
        path = req.path
        if path == "/command":
            if self._command is None or self._token is None:
                raise _HttpError(404)
            if req.method != "POST":
                raise _HttpError(405)
            return await self._run_command(req)
        routes: dict[str, Callable[[_Request], _Response]] = {
            "/health": self._health, "/ready": self._ready, "/metrics": self._metrics, "/": self._page,
            "/status": self._page,
        }
        handler = routes.get(path)
        if handler is None:
            raise _HttpError(404)
        if req.method not in ("GET", "HEAD"):
            raise _HttpError(405)
        return handler(req)

    def _status(self) -> dict[str, Any]:
        try:
            status = self.source.status()
        except Exception as exc:  # the source is the controller's: report, never crash the server
            log.warning("status source failed: %s", type(exc).__name__)
            return {"state": "UNKNOWN", "error": f"status unavailable ({type(exc).__name__})"}
        doc: dict[str, Any] = scrub(status)
        return doc

    def _health(self, req: _Request) -> _Response:
        doc = self._status()
        healthy, reason = evaluate(doc)
        doc["healthy"], doc["reason"] = healthy, reason
        body = json.dumps(doc, sort_keys=True, default=str) + "\n"
        return _Response(200 if healthy else 503, body, "application/json")

    def _ready(self, req: _Request) -> _Response:
        healthy, reason = evaluate(self._status())
        return _Response(200, "ready\n") if healthy else _Response(503, f"not ready: {reason}\n")

    def _metrics(self, req: _Request) -> _Response:
        return _Response(200, self.metrics.render(), CONTENT_TYPE)

    def _page(self, req: _Request) -> _Response:
        authorized = False
        if "authorization" in req.headers:
            if not self.commands_enabled:
                raise _HttpError(404, "commands are not enabled")
            self._check_token(req)
            authorized = True
        peers: list[dict[str, Any]] = []
        if self._peers is not None:
            try:
                peers = [scrub(p) for p in self._peers()]
            except Exception as exc:
                log.warning("peer status failed: %s", type(exc).__name__)
        args: dict[str, Any] = {"judge": evaluate, "commands_enabled": self.commands_enabled,
                                "authorized": authorized, "now": time.time()}
        if req.path == "/status":  # the part the page refreshes
            html = page.render_main(self._status(), peers, **args)
            csp = "default-src 'none'; frame-ancestors 'none'"
        else:
            html, csp = page.render(self._status(), peers, **args)
        return _Response(200, html, "text/html; charset=utf-8", {"Content-Security-Policy": csp})

    def _check_token(self, req: _Request) -> None:
        assert self._token is not None
        auth = req.headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        if not (scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._token)):
            raise _HttpError(401, "missing or wrong token")

    async def _run_command(self, req: _Request) -> _Response:
        assert self._command is not None
        self._check_token(req)
        name = req.body.decode("ascii", errors="replace").strip().upper()
        if name not in COMMANDS:
            raise _HttpError(400, f"unknown command; expected one of {', '.join(COMMANDS)}")
        log.info("command %s from the status page", name)
        try:
            reply = await asyncio.wait_for(self._command(name), COMMAND_TIMEOUT_S)
        except TimeoutError:
            raise _HttpError(504, f"{name} did not answer within {COMMAND_TIMEOUT_S:.0f}s") from None
        return _Response(200, str(reply).rstrip("\n") + "\n")


async def _read_request(reader: asyncio.StreamReader) -> _Request:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise _HttpError(431, f"request line and headers over {MAX_HEAD} bytes") from None
    except asyncio.IncompleteReadError as exc:
        if len(exc.partial) > MAX_HEAD:
            raise _HttpError(431) from None
        raise
    if len(head) > MAX_HEAD:
        raise _HttpError(431, f"request line and headers over {MAX_HEAD} bytes")
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        raise _HttpError(400, "non-ASCII request head") from None
    line, *lines = text[:-4].split("\r\n")
    parts = line.split(" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[1].startswith("/"):
        raise _HttpError(400, "malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise _HttpError(505 if version.startswith("HTTP/") else 400)
    if method not in ("GET", "HEAD", "POST"):
        raise _HttpError(405)
    headers: dict[str, str] = {}
    for h in lines:
        name, sep, value = h.partition(":")
        if not sep or not _TOKEN.match(name):
            raise _HttpError(400, "malformed header")
        key = name.lower()
        if key in headers and key in ("content-length", "authorization", "host"):
            raise _HttpError(400, f"duplicate {name} header")
        headers[key] = value.strip(" \t")
    if "transfer-encoding" in headers:
        raise _HttpError(501, "Transfer-Encoding is not supported; send Content-Length")
    body = b""
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit() or len(length) > 9:
            raise _HttpError(400, "bad Content-Length")
        if int(length) > MAX_BODY:
            raise _HttpError(413, f"body over {MAX_BODY} bytes")
        body = await reader.readexactly(int(length))
    elif method == "POST":
        raise _HttpError(411)
    return _Request(method, urllib.parse.urlsplit(target).path, headers, body)


def _encode(resp: _Response, head_only: bool) -> bytes:
    headers = {
        "Content-Type": resp.ctype,
        "Content-Length": str(len(resp.body)),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Connection": "close",
        **resp.headers,
    }
    if resp.code == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="ibpilot"'
    head = f"HTTP/1.1 {resp.code} {_REASONS.get(resp.code, 'Error')}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("latin-1") + (b"" if head_only else resp.body)


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """After an error answer, read and drop what the client still sends (bounded), so that closing does not
    reset the connection before the client has read the answer."""
    with contextlib.suppress(OSError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()
    dropped = 0
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(LINGER_S):
            while dropped < LINGER_BYTES:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                dropped += len(chunk)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
