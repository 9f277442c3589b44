"""IBC-compatible command server: `echo STOP | nc 127.0.0.1 7462` works as it does with IBC.

The wire protocol is IBC's (shared/gateway-ui.md §3), byte for byte:

- A client sends lines; `\\n`, `\\r\\n` and `\\r` each end one (a last line without an end counts too).
  Commands match case-insensitively on the **untrimmed** line (`"stop "` -> `ERROR Command invalid`);
  a blank (or all-space) line only re-sends the prompt.
- Replies are `OK <info>` / `ERROR <info>` (final) and `INFO <info>` (intermediate, only when INFO messages
  are not suppressed; suppressed by default), each ending with `\\n`. On connect `INFO IBC Command Server`
  (again only with INFO on); no prompt at connect. After each command the prompt (default empty) is sent
  without a newline.
- `STOP`: `INFO Closing IBC`, `OK Shutting down: STOP command`, close, then the target stops (a clean
  logout when logged in, else an immediate exit). `RESTART`: `INFO Restarting TWS`, then once the target
  has arranged it `OK RESTART <info>` (`at 11:59 PM`, `in progress`) and close. A STOP or RESTART while one
  of them is running: `ERROR STOP already in progress` / `ERROR RESTART already in progress` (naming the
  one running) and close. `EXIT`: `OK Goodbye` and close. `ENABLEAPI` on the Gateway:
  `ERROR ENABLEAPI is not valid for the IB Gateway`; on TWS `OK configured` / `OK already configured`.
  `RECONNECTACCOUNT` / `RECONNECTDATA`: `OK ` (with the trailing space). On the FIX CTCI gateway RESTART,
  PAUSE, RECONNECTACCOUNT and RECONNECTDATA answer `ERROR <CMD> is not valid for the FIX Gateway`.
  Anything else: `ERROR Command invalid`.
- Clients allowed: the server's bind address, loopback (127.0.0.0/8, ::1), or an entry of `allow_from`
  (an IP, a CIDR block, or a host name resolved once at start). Anyone else is closed at once, no reply.
  With a token and an empty `allow_from`, any client may connect (and must then send the token).

ibpilot's additions (an IBC client never sees them unless it asks):

- `STATUS` -> `OK {json}`: the target's status as one line of compact JSON.
- With a token, the first line must be `AUTH <token>` (constant-time comparison); anything else gets
  `ERROR authentication required` and the connection is closed. Success is silent (the stream then reads
  exactly as IBC's). Without a token an `AUTH ...` line is accepted silently too, so one client
  configuration works against either. Neither the token nor an AUTH line's argument is ever logged.
- Bounds: a line longer than `max_line` -> `ERROR line too long` and close; more than `max_clients` open
  connections -> the extra ones are closed at once; no complete line for `idle_timeout_s` -> closed; a
  reply not taken by the client within `write_timeout_s` -> the connection is dropped. Each connection
  is its own task, so a slow command holds up only its own client. Refused clients and invalid commands
  are logged rate-limited (at most one line a minute per client address); an invalid command's text never.

Deviations from IBC, on purpose:

- `RECONNECTDATA` before the main window is known makes IBC crash (NPE, exit 1100); `RECONNECTACCOUNT`
  then blocks until a login completes. Both answer `ERROR <CMD>: not logged in (main window not known)`.
- `PAUSE` (IBC: restart at the next minute and tell IBC's start script not to relaunch) has no meaning
  without IBC's script: `ERROR PAUSE is not supported by ibpilot; use STOP`.
- A STOP or RESTART that fails answers `ERROR <text>` (IBC replies and then exits 1100).
- Loopback is all of 127.0.0.0/8 and ::1 (IBC: exactly 127.0.0.1). Host names in `allow_from` are resolved
  once at start instead of a reverse lookup of every client (which the client's network owner controls).
- A STOP/RESTART running blocks the other too (IBC keeps one flag per command); the error names the running one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from ibpilot.serve.throttle import Throttle

log = logging.getLogger("ibpilot.serve.commands")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

BANNER = "IBC Command Server"
AUTH_REQUIRED = "authentication required"
LINE_TOO_LONG = "line too long"


class CommandError(Exception):
    """A command could not be done; its str() is sent as `ERROR <text>`."""


class CommandTarget(Protocol):
    """What the command server drives (the controller's Instance implements it)."""

    @property
    def product(self) -> str: ...  # "gateway" | "tws" (plain attributes satisfy these properties too)
    @property
    def fix(self) -> bool: ...  # the FIX CTCI gateway
    @property
    def logged_in(self) -> bool: ...  # the main window is known
    async def stop(self) -> None: ...
    async def restart(self) -> str: ...
    async def reconnect_account(self) -> None: ...
    async def reconnect_data(self) -> None: ...
    async def enable_api(self) -> str: ...
    def status(self) -> dict[str, Any]: ...


def parse_ip(text: str) -> IPAddress | None:
    """An address from a socket or a setting: IPv4-mapped IPv6 unwrapped, zone dropped; None if not an IP."""
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_loopback_host(host: str) -> bool:
    ip = parse_ip(host)
    return ip.is_loopback if ip is not None else host.strip().lower() == "localhost"


def _peer_text(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = str(peer[0])
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    return str(peer)


class _Close(Exception):
    """End this connection (after any reply already queued)."""


class _Conn:
    """One client: IBC's line splitting (\\n, \\r\\n, \\r), bounded reads, timed writes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str,
                 max_line: int, idle_s: float, write_s: float, throttle: Throttle | None = None) -> None:
        self.reader, self.writer, self.peer = reader, writer, peer
        self.throttle = throttle or Throttle()
        self.max_line, self.idle_s, self.write_s = max_line, idle_s, write_s
        self._buf = bytearray()
        self._skip_lf = False  # the last line ended with \r: a \n right after it belongs to it
        self._eof = False

    async def readline(self) -> bytes | None:
        """The next line without its end, or None at end of input. Raises _Close (idle or too long)."""
        try:
            async with asyncio.timeout(self.idle_s):
                return await self._readline()
        except TimeoutError:
            self.log("idle", logging.INFO, "command connection from %s idle for %.0fs: closed", self.idle_s)
            raise _Close from None

    async def _readline(self) -> bytes | None:
        while True:
            if self._skip_lf and self._buf:
                if self._buf[0] == 0x0A:
                    del self._buf[0]
                self._skip_lf = False
            ends = [i for i in (self._buf.find(b"\n"), self._buf.find(b"\r")) if i >= 0]
            end = min(ends) if ends else -1
            if end >= 0:
                line = bytes(self._buf[:end])
                self._skip_lf = self._buf[end] == 0x0D
                del self._buf[: end + 1]
                if len(line) > self.max_line:
                    await self.fatal(LINE_TOO_LONG)
                return line
            if len(self._buf) > self.max_line:
                await self.fatal(LINE_TOO_LONG)
            if self._eof:
                if not self._buf:
                    return None
                line = bytes(self._buf)
                self._buf.clear()
                return line
            chunk = await self.reader.read(4096)
            if not chunk:
                self._eof = True
            self._buf += chunk

    async def send(self, text: str) -> None:
        if not text:
            return
        self.writer.write(text.encode("utf-8"))
        try:
            async with asyncio.timeout(self.write_s):
                await self.writer.drain()
        except TimeoutError:
            self.log("unread", logging.WARNING, "command connection from %s does not read its replies: dropped")
            self.writer.transport.abort()
            raise _Close from None

    def log(self, kind: str, level: int, msg: str, *args: object) -> None:
        """One line per peer host and kind a minute (a hostile client cannot flood the log), with the count."""
        held = self.throttle.check(f"{kind}|{self.peer.rsplit(':', 1)[0]}")
        if held is not None:
            log.log(level, msg + (f" ({held} more since the last line)" if held else ""), self.peer, *args)

    async def line(self, kind: str, info: str) -> None:
        await self.send(f"{kind} {info}\n")

    async def fatal(self, info: str) -> None:
        """`ERROR <info>`, then close (discarding what the client still sends, briefly, so it gets the line)."""
        self.log(info, logging.WARNING, "command connection from %s: %s; closed", info)
        await self.line("ERROR", info)
        with contextlib.suppress(OSError, RuntimeError):
            self.writer.write_eof()
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(1.0):
                discarded = 0
                while discarded < 4 << 20 and (chunk := await self.reader.read(65536)):
                    discarded += len(chunk)
        raise _Close


class CommandServer:
    """IBC's command server (plus AUTH and STATUS) in front of a `CommandTarget`. See the module docstring."""

    def __init__(self, target: CommandTarget, *, host: str, port: int, allow_from: Sequence[str] = (),
                 token: str | None = None, prompt: str = "", suppress_info: bool = True, max_line: int = 1024,
                 max_clients: int = 16, idle_timeout_s: float = 60.0, write_timeout_s: float = 10.0) -> None:
        problems = []
        if not is_loopback_host(host) and not token and not allow_from:
            problems.append(f"bind address {host or '(all interfaces)'!r} opens the command server beyond this "
                            "machine to anyone: give a token or allow_from, or bind 127.0.0.1")
        self._nets: list[IPNetwork] = []
        self._names: list[str] = []
        for entry in allow_from:
            item = entry.strip()
            if not item:
                continue
            try:
                if "/" in item or parse_ip(item) is not None:
                    self._nets.append(ipaddress.ip_network(item.split("%", 1)[0], strict=False))
                else:
                    self._names.append(item.lower())
            except ValueError:
                problems.append(f"allow_from entry {item!r} is not an IP address, CIDR block or host name")
        for name, value in (("port", port), ("max_line", max_line), ("max_clients", max_clients)):
            if value < (0 if name == "port" else 1) or (name == "port" and value > 65535):
                problems.append(f"{name}={value} is out of range")
        if idle_timeout_s <= 0 or write_timeout_s <= 0:
            problems.append("idle_timeout_s and write_timeout_s must be positive")
        if problems:
            raise ValueError("command server: " + "; ".join(problems))
        self.target = target
        self.host, self._port = host, port
        self._bind_ip = parse_ip(host) if host else None
        self._token = token.encode("utf-8") if token else None
        self.prompt, self.suppress_info = prompt, suppress_info
        self.max_line, self.max_clients = max_line, max_clients
        self.idle_timeout_s, self.write_timeout_s = idle_timeout_s, write_timeout_s
        self._resolved: set[IPAddress] = set()
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._busy: str | None = None  # "STOP" | "RESTART" while one runs
        self._action: asyncio.Task[Any] | None = None
        self._throttle = Throttle()
        self.refused = 0  # connections closed unanswered (peer not allowed, or too many)

    def __repr__(self) -> str:
        return f"CommandServer(host={self.host!r}, port={self.port}, auth={'on' if self._token else 'off'})"

    # --- life cycle --------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is not None and self._server.sockets:
            bound: int = self._server.sockets[0].getsockname()[1]
            return bound
        return self._port

    @property
    def connections(self) -> int:
        """Client connections open now (allowed ones being served)."""
        return len(self._conns)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for name in self._names:
            try:
                async with asyncio.timeout(10):
                    infos = await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM)
            except (OSError, TimeoutError) as exc:
                log.warning("command server: allow_from host %r does not resolve (%s): ignored", name, exc)
                continue
            ips = {ip for info in infos if (ip := parse_ip(str(info[4][0]))) is not None}
            log.info("command server: allow_from %s = %s", name, ", ".join(sorted(map(str, ips))))
            self._resolved |= ips
        self._server = await asyncio.start_server(self._on_client, self.host or None, self._port, backlog=128)
        log.info("command server listening on %s port %d (auth %s, allow-list: loopback%s)", self.host or "*",
                 self.port, "on" if self._token else "off",
                 "".join(f", {e}" for e in [*map(str, self._nets), *self._names]))

    async def close(self) -> None:
        """Stop listening and drop every client. A STOP/RESTART in flight is not cancelled (it may be our caller)."""
        if self._server is not None:
            self._server.close()
        tasks = [t for t in self._conns if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self._server.wait_closed()
            self._server = None

    # --- connections -------------------------------------------------------------------------------
    def allowed(self, ip: IPAddress) -> bool:
        if ip.is_loopback or ip == self._bind_ip or ip in self._resolved:
            return True
        if self._token is not None and not self._nets and not self._names:
            return True  # token only: every client must authenticate instead
        return any(ip.version == net.version and ip in net for net in self._nets)

    def _refuse(self, writer: asyncio.StreamWriter, peer_ip: str, why: str) -> None:
        self.refused += 1
        if why == "too many connections":
            writer.transport.abort()  # frees the socket at once
        else:
            writer.close()
        held = self._throttle.check(f"{why}|{peer_ip}")
        if held is not None:
            more = f" ({held} more since the last line)" if held else ""
            log.warning("command server: refused %s: %s%s", peer_ip, why, more)

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        ip = parse_ip(str(peername[0])) if isinstance(peername, tuple) else None
        if ip is None or not self.allowed(ip):
            self._refuse(writer, str(ip or peername), "not an allowed client")
            return
        if len(self._conns) >= self.max_clients:
            self._refuse(writer, str(ip), "too many connections")
            return
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        conn = _Conn(reader, writer, _peer_text(peername), self.max_line, self.idle_timeout_s,
                     self.write_timeout_s, self._throttle)
        try:
            await self._session(conn)
        except (_Close, ConnectionError):
            pass
        except asyncio.CancelledError:  # close(): end quietly (asyncio's stream callback would log it)
            pass
        except Exception:
            log.exception("command connection from %s failed", conn.peer)
        finally:
            self._conns.discard(task)
            if not writer.is_closing():
                writer.close()

    async def _session(self, c: _Conn) -> None:
        if not self.suppress_info:
            await c.line("INFO", BANNER)
        if self._token is not None:
            first = await c.readline()
            if first is None:
                return
            given = first[5:] if first[:5].upper() == b"AUTH " else b""
            if not (given and hmac.compare_digest(given, self._token)):
                await c.fatal(AUTH_REQUIRED)
        while (raw := await c.readline()) is not None:
            text = raw.decode("utf-8", "replace")
            await asyncio.sleep(0)  # a client sending many lines at once takes turns with the others
            if all(ch <= " " for ch in text):  # blank as Java's trim() sees it
                await c.send(self.prompt)
                continue
            if self._token is None and raw[:5].upper() == b"AUTH ":
                continue  # no token here: accepted silently (the argument is never logged)
            await self._dispatch(c, text)
            await c.send(self.prompt)

    # --- commands ----------------------------------------------------------------------------------
    async def _dispatch(self, c: _Conn, text: str) -> None:
        cmd = text.upper() if text.isascii() else ""
        handler = self._handlers().get(cmd)
        if handler is None:  # its text is not logged: it could be a secret typed in the wrong place
            held = self._throttle.check(f"invalid|{c.peer.rsplit(':', 1)[0]}")
            if held is not None:
                log.info("command (invalid, %d characters) from %s%s", len(text), c.peer,
                         f" ({held} more invalid ones since the last line)" if held else "")
            await c.line("ERROR", "Command invalid")
            return
        # read-only commands at debug: a monitoring loop must not fill the log
        log.log(logging.DEBUG if cmd in ("STATUS", "EXIT") else logging.INFO, "command %s from %s", cmd, c.peer)
        if self.target.fix and cmd in ("RESTART", "PAUSE", "RECONNECTACCOUNT", "RECONNECTDATA"):
            await c.line("ERROR", f"{cmd} is not valid for the FIX Gateway")
            return
        await handler(c)

    def _handlers(self) -> dict[str, Callable[[_Conn], Awaitable[None]]]:
        return {
            "STOP": self._stop, "RESTART": self._restart, "EXIT": self._exit, "ENABLEAPI": self._enable_api,
            "RECONNECTACCOUNT": self._reconnect_account, "RECONNECTDATA": self._reconnect_data,
            "STATUS": self._status, "PAUSE": self._pause,
        }

    async def _exit(self, c: _Conn) -> None:
        await c.line("OK", "Goodbye")
        raise _Close

    async def _begin(self, c: _Conn, what: str) -> None:
        if self._busy is not None:
            log.warning("command %s from %s refused: %s already in progress", what, c.peer, self._busy)
            await c.line("ERROR", f"{self._busy} already in progress")
            raise _Close
        self._busy = what

    def _run_action(self, what: str, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        async def run() -> Any:
            try:
                return await coro
            finally:
                self._busy = None

        def done(t: asyncio.Task[Any]) -> None:
            exc = None if t.cancelled() else t.exception()
            if exc is not None and not isinstance(exc, CommandError):
                log.error("%s failed: %r", what, exc)

        task = asyncio.ensure_future(run())
        self._action = task  # keep a reference; never cancelled by close()
        task.add_done_callback(done)
        return task

    async def _stop(self, c: _Conn) -> None:
        await self._begin(c, "STOP")
        log.info("STOP: %s", "clean logout, then exit" if self.target.logged_in else "not logged in: exit now")
        try:
            if not self.suppress_info:
                await c.line("INFO", "Closing IBC")
            await c.line("OK", "Shutting down: STOP command")
        finally:
            self._run_action("STOP", self.target.stop())
        raise _Close

    async def _restart(self, c: _Conn) -> None:
        await self._begin(c, "RESTART")
        task = self._run_action("RESTART", self.target.restart())
        if not self.suppress_info:
            await c.line("INFO", "Restarting TWS")
        try:
            info = await asyncio.shield(task)
        except CommandError as exc:
            await c.line("ERROR", str(exc) or "RESTART failed")
            raise _Close from None
        except Exception:
            await c.line("ERROR", "RESTART failed (see the controller's log)")
            raise _Close from None
        await c.line("OK", f"RESTART {info}")
        raise _Close

    async def _pause(self, c: _Conn) -> None:
        await c.line("ERROR", "PAUSE is not supported by ibpilot; use STOP")

    async def _call(self, c: _Conn, cmd: str, fn: Callable[[], Awaitable[str | None]]) -> None:
        try:
            result = await fn()
        except CommandError as exc:
            await c.line("ERROR", str(exc) or f"{cmd} failed")
            return
        except Exception:
            log.exception("command %s failed", cmd)
            await c.line("ERROR", f"{cmd} failed (see the controller's log)")
            return
        await c.line("OK", result or "")

    async def _enable_api(self, c: _Conn) -> None:
        if self.target.product != "tws":
            await c.line("ERROR", "ENABLEAPI is not valid for the IB Gateway")
            return
        await self._call(c, "ENABLEAPI", self.target.enable_api)

    async def _reconnect(self, c: _Conn, cmd: str, fn: Callable[[], Awaitable[None]]) -> None:
        if not self.target.logged_in:
            await c.line("ERROR", f"{cmd}: not logged in (main window not known)")
            return
        await self._call(c, cmd, fn)

    async def _reconnect_account(self, c: _Conn) -> None:
        await self._reconnect(c, "RECONNECTACCOUNT", self.target.reconnect_account)

    async def _reconnect_data(self, c: _Conn) -> None:
        await self._reconnect(c, "RECONNECTDATA", self.target.reconnect_data)

    async def _status(self, c: _Conn) -> None:
        try:
            body = json.dumps(self.target.status(), separators=(",", ":"), default=str, sort_keys=True)
        except Exception:
            log.exception("command STATUS failed")
            await c.line("ERROR", "STATUS failed (see the controller's log)")
            return
        await c.line("OK", body)
