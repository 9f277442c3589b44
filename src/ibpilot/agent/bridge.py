"""asyncio client of the in-JVM agent: JSON lines over a Unix socket (docs/contracts.md, "Agent protocol").

This module only moves requests, answers and events; what the windows mean is the controller's business.

    bridge = await AgentBridge.connect(socket_path, timeout=30)
    win = await bridge.wait_for_window(lambda w: w.title_contains("Login"), timeout=60)
    await bridge.set_text(win.handle, field.path, secret)     # logged as "set_text w1 [..] (text not logged)"
    await bridge.click(win.handle, win.button("OK").path)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from ibpilot.agent.model import AgentEvent, Window, WindowChanged, WindowClosed, WindowOpened, parse_event

PROTOCOL = 1
log = logging.getLogger("ibpilot.agent")

_LINE_LIMIT = 64 * 1024 * 1024  # a snapshot of a big window can be large
_SAFETY_NET_S = 2.0  # wait_for_window re-reads the windows this often, in case an event was missed
# What decoding a well-formed JSON line of the wrong shape raises (a list where an object belongs, ...)
_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, RecursionError)


class AgentBridgeError(Exception):
    """Base class of the bridge's errors."""


class AgentError(AgentBridgeError):
    """The agent answered ``ok:false``: `kind` is one of bad_request, no_window, no_component, wrong_type,
    disabled, not_found, failed."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message

    @classmethod
    def parse(cls, error: str) -> AgentError:
        kind, sep, message = error.partition(": ")
        return cls(kind, message) if sep else cls("failed", error)


class AgentProtocolError(AgentBridgeError):
    """The agent speaks another protocol version (a mismatched jar) or sent something unreadable."""


class AgentDisconnected(AgentBridgeError, ConnectionError):
    """The connection to the agent is gone (the JVM exited, or the bridge was closed)."""


Path_ = Sequence[int]


class AgentBridge:
    """One connection to the agent of one JVM. Create a new one for a relaunched JVM."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hello: dict[str, Any]):
        self._reader = reader
        self._writer = writer
        self.hello = hello
        self.pid: int | None = hello.get("pid")
        self.java: str | None = hello.get("java")
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._subscribers: list[asyncio.Queue[AgentEvent | None]] = []
        self._closed = False
        self._close_reason = "closed"
        self._write_lock = asyncio.Lock()
        # Optional: called with every raw event object (e.g. to record window snapshots to disk).
        self.on_raw_event: Callable[[dict[str, Any]], None] | None = None
        self._reader_task = asyncio.get_running_loop().create_task(self._read_loop(), name="agent-bridge-reader")

    # ---- connection ---------------------------------------------------------------------------------
    @classmethod
    async def connect(cls, path: str | Path, timeout: float = 30.0) -> AgentBridge:
        """Connect to the agent's socket, retrying until it exists and says hello (the JVM takes a moment).

        Raises TimeoutError when it does not answer within `timeout`, AgentProtocolError on a version mismatch.
        """
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"agent socket {path} did not answer within {timeout:.1f}s (last error: {last})")
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_unix_connection(str(path), limit=_LINE_LIMIT), remaining
                )
            except (FileNotFoundError, ConnectionRefusedError) as e:
                last = e
                await asyncio.sleep(min(0.05, max(remaining, 0)))
                continue
            except TimeoutError as e:
                last = e
                continue
            try:
                line = await asyncio.wait_for(reader.readline(), max(deadline - time.monotonic(), 0.001))
            except (TimeoutError, ConnectionError) as e:
                last = e
                writer.close()
                continue
            if not line:  # the agent closed at once (shutting down): retry
                last = AgentDisconnected("closed before hello")
                writer.close()
                await asyncio.sleep(0.05)
                continue
            try:
                hello = _check_hello(line)
            except AgentProtocolError:
                writer.close()
                raise
            log.debug("agent connected: pid %s, java %s", hello.get("pid"), hello.get("java"))
            return cls(reader, writer, hello)

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Close the connection: pending requests fail and event streams end."""
        self._shutdown("closed by the client")
        self._reader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader_task
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()

    async def __aenter__(self) -> AgentBridge:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _read_loop(self) -> None:
        reason = "the agent closed the connection"
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                try:
                    msg = json.loads(line)
                except (ValueError, RecursionError):  # RecursionError: nested too deeply
                    log.warning("agent sent an unreadable line (%d bytes)", len(line))
                    continue
                if not isinstance(msg, dict):
                    continue
                if "event" in msg:
                    self._dispatch_event(msg)
                else:
                    self._dispatch_answer(msg)
        except (ConnectionError, OSError, ValueError) as e:  # ValueError: a line over the limit
            reason = f"connection lost: {e}"
        finally:
            self._shutdown(reason)

    def _dispatch_answer(self, msg: dict[str, Any]) -> None:
        rid = msg.get("id")
        fut = self._pending.pop(rid, None) if isinstance(rid, int) else None
        if fut is None or fut.done():
            return
        if msg.get("ok"):
            fut.set_result(msg.get("result"))
        else:
            fut.set_exception(AgentError.parse(str(msg.get("error", "failed: no error text"))))

    def _dispatch_event(self, msg: dict[str, Any]) -> None:
        if self.on_raw_event is not None:
            try:
                self.on_raw_event(msg)
            except Exception:  # a recorder must never break the event stream
                log.exception("raw event hook failed")
        try:
            ev = parse_event(msg)
        except _MALFORMED as e:
            log.warning("agent sent a malformed %s event: %s", msg.get("event"), type(e).__name__)
            return
        if ev is None:
            log.debug("ignoring unknown agent event %s", msg.get("event"))
            return
        for q in list(self._subscribers):
            q.put_nowait(ev)

    def _shutdown(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_reason = reason
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(AgentDisconnected(reason))
        self._pending.clear()
        for q in self._subscribers:
            q.put_nowait(None)

    # ---- requests -----------------------------------------------------------------------------------
    async def request(self, op: str, /, *, timeout: float = 5.0, **args: Any) -> Any:
        """Send one request and return its ``result``; raises AgentError, AgentDisconnected or TimeoutError."""
        if self._closed:
            raise AgentDisconnected(self._close_reason)
        self._next_id += 1
        rid = self._next_id
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        log.debug("agent request %d: %s", rid, _describe(op, args))
        try:
            data = (json.dumps({"id": rid, "op": op, **args}, separators=(",", ":")) + "\n").encode()
            async with self._write_lock:
                self._writer.write(data)
                await self._writer.drain()
        except (ConnectionError, OSError) as e:
            self._pending.pop(rid, None)
            self._shutdown(f"connection lost: {e}")
            raise AgentDisconnected(self._close_reason) from e
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that arrives
            # together with the answer, and a cancelled task that carries on keeps a dead session alive
            async with asyncio.timeout(timeout):
                return await fut
        except TimeoutError:
            raise TimeoutError(f"agent did not answer {op} within {timeout:.1f}s") from None
        finally:
            self._pending.pop(rid, None)

    async def ping(self, timeout: float = 5.0) -> None:
        result = await self.request("ping", timeout=timeout)
        if result != "pong":
            raise AgentProtocolError(f"unexpected ping answer {result!r}")

    async def windows(self, timeout: float = 5.0) -> list[Window]:
        """Every showing window."""
        result = await self.request("windows", timeout=timeout)
        return _windows(result)

    async def window(self, handle: str, timeout: float = 5.0) -> Window | None:
        """A fresh snapshot of one window, or None when it is not showing any more."""
        try:
            result = await self.request("windows", handle=handle, timeout=timeout)
        except AgentError as e:
            if e.kind == "no_window":
                return None
            raise
        windows = _windows(result)
        return windows[0] if windows else None

    async def click(self, window: str, path: Path_, *, force: bool = False) -> bool:
        """``doClick()`` a button; False when it was still running after 250 ms (it opened a modal dialog).
        `force` enables a disabled button first (IBC's behaviour); otherwise that is AgentError 'disabled'."""
        args: dict[str, Any] = {"window": window, "path": list(path)}
        if force:
            args["force"] = True
        result = await self.request("click", **args)
        return bool(result.get("done", True))

    async def set_text(self, window: str, path: Path_, text: str) -> None:
        """Set a text component's text (the value is never logged, here or in the agent)."""
        await self.request("set_text", window=window, path=list(path), text=text)

    async def toggle(self, window: str, path: Path_, selected: bool) -> bool:
        """Bring a check box / radio / toggle button to `selected`; True when it had to be clicked."""
        result = await self.request("toggle", window=window, path=list(path), selected=selected)
        return bool(result.get("changed"))

    async def select(self, window: str, path: Path_, *, index: int | None = None, text: str | None = None) -> None:
        """Select a JList/JComboBox item by `index` or by `text` (trimmed, case-insensitive)."""
        if (index is None) == (text is None):
            raise ValueError("give exactly one of index or text")
        args: dict[str, Any] = {"index": index} if index is not None else {"text": text}
        await self.request("select", window=window, path=list(path), **args)

    async def tree_select(self, window: str, path: Path_, nodes: Sequence[str]) -> None:
        """Select a JTree node by its names from below the root (case-insensitive)."""
        await self.request("tree_select", window=window, path=list(path), nodes=list(nodes))

    async def menu(self, window: str, items: Sequence[str]) -> bool:
        """Click a menu item of the window's menu bar(s), e.g. ``["File", "Close"]``; False as for click."""
        result = await self.request("menu", window=window, items=list(items))
        return bool(result.get("done", True))

    async def close_window(self, window: str) -> None:
        """Post WINDOW_CLOSING to a window (like its title-bar X)."""
        await self.request("close", window=window)

    async def key(self, window: str, key: str, modifiers: Sequence[str] = (), *, to_window: bool = False) -> None:
        """Send a key stroke (``"F"``, ``"ENTER"``, ...) with modifiers (ctrl, alt, shift, meta) to a window:
        to its focus owner (else its root pane), or with ``to_window`` to the window object itself."""
        await self.request("key", window=window, key=key, modifiers=list(modifiers),
                           target="window" if to_window else "focus")

    # ---- events -------------------------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[AgentEvent | None]:
        """A queue that receives every event from now on; None marks the end (disconnected).
        Call :meth:`unsubscribe` when done."""
        q: asyncio.Queue[AgentEvent | None] = asyncio.Queue()
        if self._closed:
            q.put_nowait(None)
        self._subscribers.append(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[AgentEvent | None]) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(q)

    async def events(self) -> AsyncIterator[AgentEvent]:
        """``async for ev in bridge.events()``: every event from now on, until the connection ends."""
        q = self.subscribe()
        try:
            while (ev := await q.get()) is not None:
                yield ev
        finally:
            self.unsubscribe(q)

    async def wait_for_event(self, predicate: Callable[[AgentEvent], bool], timeout: float) -> AgentEvent:
        """The first event from now on that satisfies `predicate`."""
        q = self.subscribe()
        try:
            async with asyncio.timeout(timeout):
                while (ev := await q.get()) is not None:
                    if predicate(ev):
                        return ev
        except TimeoutError:
            raise TimeoutError(f"no matching agent event within {timeout:.1f}s") from None
        finally:
            self.unsubscribe(q)
        raise AgentDisconnected(self._close_reason)

    async def wait_for_window(self, predicate: Callable[[Window], bool], timeout: float) -> Window:
        """A showing window that satisfies `predicate`: one already showing, else the next one opened or
        changed into a match. Event-driven; the window list is re-read every 2 s only as a safety net."""
        q = self.subscribe()  # before reading the list, so nothing falls between the two
        try:
            async with asyncio.timeout(timeout):
                while True:
                    try:
                        current = await self.windows()
                    except AgentError as e:  # e.g. "failed: EDT busy": rely on events, re-read later
                        log.debug("wait_for_window: cannot list windows (%s)", e)
                        current = []
                    for w in current:
                        if predicate(w):
                            return w
                    try:
                        async with asyncio.timeout(_SAFETY_NET_S):
                            while (ev := await q.get()) is not None:
                                if isinstance(ev, WindowOpened | WindowChanged) and predicate(ev.window):
                                    return ev.window
                    except TimeoutError:
                        continue  # safety net: re-read the window list
                    raise AgentDisconnected(self._close_reason)
        except TimeoutError:
            raise TimeoutError(f"no matching window within {timeout:.1f}s") from None
        finally:
            self.unsubscribe(q)

    async def wait_for_close(self, handle: str, timeout: float) -> None:
        """Until the window `handle` is no longer showing."""
        q = self.subscribe()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if await self.window(handle) is None:
                        return
                    try:
                        async with asyncio.timeout(_SAFETY_NET_S):
                            while (ev := await q.get()) is not None:
                                if isinstance(ev, WindowClosed) and ev.handle == handle:
                                    return
                    except TimeoutError:
                        continue
                    raise AgentDisconnected(self._close_reason)
        except TimeoutError:
            raise TimeoutError(f"window {handle} still showing after {timeout:.1f}s") from None
        finally:
            self.unsubscribe(q)


def _windows(result: Any) -> list[Window]:
    """A `windows` answer decoded; AgentProtocolError when it is not a list of window objects."""
    try:
        return [Window.from_json(w) for w in result]
    except _MALFORMED as e:
        raise AgentProtocolError(f"agent sent an unreadable window list ({type(e).__name__})") from None


def _check_hello(line: bytes) -> dict[str, Any]:
    try:
        hello = json.loads(line)
    except (ValueError, RecursionError) as e:
        raise AgentProtocolError(f"agent's first line is not JSON: {line[:80]!r}") from e
    if not isinstance(hello, dict) or hello.get("event") != "hello":
        raise AgentProtocolError(f"agent's first line is not a hello event: {line[:80]!r}")
    if hello.get("protocol") != PROTOCOL:
        raise AgentProtocolError(
            f"agent speaks protocol {hello.get('protocol')!r} but this ibpilot speaks protocol {PROTOCOL}:"
            " the agent jar does not match this version of ibpilot"
        )
    return hello


def _describe(op: str, args: dict[str, Any]) -> str:
    """A log line for a request, without secrets: set_text says nothing of its text (not even its length)."""
    if op == "set_text":
        return f"set_text {args.get('window')} {args.get('path')} (text not logged)"
    return " ".join([op, *(f"{k}={v}" for k, v in args.items())])
