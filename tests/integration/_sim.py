"""Helpers for tests/integration/test_sim_screens.py: a simulated Gateway/TWS JVM (with the in-JVM agent) per
test, driven like IBC drives the real one, and real API clients (ib_async, ibapi) against its API port."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import struct
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from _apiserver import IbapiApp, ibapi_client
from ib_async import IB

from ibpilot.agent.bridge import AgentBridge
from ibpilot.agent.model import Component, Window
from ibpilot.testing import SimGateway, free_port, wait_until

T = TypeVar("T")

STEP_MS = 60  # scenario step_delay_ms: every intermediate frame stays this long
TEST_TIMEOUT_S = 90


_OPEN: list[Sim] = []
_STARTED: list[Sim] = []


def run(coro: Coroutine[Any, Any, T], timeout: float = TEST_TIMEOUT_S) -> T:
    """Run an async test body with an overall deadline; agent connections opened by it are closed after."""

    async def main() -> T:
        try:
            return await asyncio.wait_for(coro, timeout)
        except BaseException:
            for sim in _STARTED:  # shown by pytest with the failure
                print(f"===== JVM in {sim.gw.workdir} (since event {sim.since})\n{sim.gw.diagnostics()}")
            raise
        finally:
            while _OPEN:
                await _OPEN.pop().close_bridge()

    return asyncio.run(main())


def need(c: T | None, what: str = "component") -> T:
    assert c is not None, f"missing {what}"
    return c


# ---------------------------------------------------------------- one simulated JVM


class Sim:
    """A SimGateway plus an agent bridge and an event cursor. Several Sims may share a workdir (relaunches)."""

    def __init__(self, gw: SimGateway, port: int) -> None:
        self.gw = gw
        self.port = port
        self.bridge: AgentBridge | None = None
        self.since = len(gw.events())  # events of earlier JVMs in the same workdir are not ours

    @property
    def settings_dir(self) -> Path:
        return self.gw.settings_dir

    def events(self, name: str | None = None, **match: Any) -> list[dict[str, Any]]:
        evs = self.gw.events()[self.since:]
        return [
            e for e in evs
            if (name is None or e.get("event") == name) and all(e.get(k) == v for k, v in match.items())
        ]

    def mark(self) -> int:
        return len(self.gw.events())

    def find(self, name: str, since: int | None = None, **match: Any) -> dict[str, Any] | None:
        start = self.since if since is None else since
        for e in self.gw.events()[start:]:
            if e.get("event") == name and all(e.get(k) == v for k, v in match.items()):
                return e
        return None

    async def event(self, name: str, timeout: float = 20, since: int | None = None, **match: Any) -> dict[str, Any]:
        """Wait (without blocking the loop) for a simulator event; fails with the JVM's diagnostics."""
        deadline = time.monotonic() + timeout
        while True:
            ev = self.find(name, since, **match)
            if ev is not None:
                return ev
            if time.monotonic() > deadline:
                pytest.fail(f"no sim event {name} {match or ''} within {timeout}s\n{self.gw.diagnostics()}")
            proc = self.gw.proc
            if proc is not None and proc.poll() is not None and self.find(name, since, **match) is None:
                pytest.fail(f"JVM exited ({proc.returncode}) before event {name} {match}\n{self.gw.diagnostics()}")
            await asyncio.sleep(0.03)

    async def agent(self) -> AgentBridge:
        if self.bridge is None:
            self.bridge = await AgentBridge.connect(self.gw.agent_socket, timeout=30)
            _OPEN.append(self)
        return self.bridge

    async def wait_exit(self, timeout: float = 20) -> int:
        assert self.gw.proc is not None
        deadline = time.monotonic() + timeout
        while self.gw.proc.poll() is None:
            if time.monotonic() > deadline:
                pytest.fail(f"JVM did not exit within {timeout}s\n{self.gw.diagnostics()}")
            await asyncio.sleep(0.05)
        return self.gw.proc.returncode

    async def close_bridge(self) -> None:
        if self.bridge is not None:
            await self.bridge.close()
            self.bridge = None


SimFactory = Callable[..., Sim]


@contextlib.contextmanager
def sim_factory(tmp_path: Path, display: str) -> Iterator[SimFactory]:
    """`start(scenario, product=..., workdir=...)` launches a JVM; every JVM is killed at the end."""
    started: list[SimGateway] = []

    def start(scenario: Any = None, product: str = "gateway", workdir: Path | None = None,
              port: int | None = None) -> Sim:
        scen: Any = scenario
        if port is None:
            port = free_port()
        if scenario is None or isinstance(scenario, dict):  # (a non-object is written as is: bad-scenario tests)
            scen = dict(scenario or {})
            scen.setdefault("step_delay_ms", STEP_MS)
            scen.setdefault("api_port", port)
            port = int(scen["api_port"])
        gw = SimGateway(workdir or tmp_path / "sim", display, product=product, scenario=scen)  # type: ignore[arg-type]
        sim = Sim(gw, port)
        started.append(gw)
        _STARTED.append(sim)
        gw.start()
        return sim

    try:
        yield start
    finally:
        _STARTED.clear()
        for gw in started:
            gw.stop()


# ---------------------------------------------------------------- windows


def login_title(product: str) -> str:
    return "IBKR Gateway" if product == "gateway" else "Login"


def is_login_frame(product: str) -> Callable[[Window], bool]:
    title = login_title(product)
    return lambda w: (w.is_frame and w.title_equals(title)
                      and (w.button("Log In") is not None or w.button("Paper Log In") is not None))


def titled(title: str, kind: str | None = None) -> Callable[[Window], bool]:
    def pred(w: Window) -> bool:
        if not w.title_equals(title):
            return False
        if kind == "frame":
            return w.is_frame
        if kind == "dialog":
            return w.is_dialog
        return True

    return pred


async def window(bridge: AgentBridge, pred: Callable[[Window], bool], timeout: float = 20) -> Window:
    return await bridge.wait_for_window(pred, timeout)


async def gone(bridge: AgentBridge, handle: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while await bridge.window(handle) is not None:
        assert time.monotonic() < deadline, f"window {handle} still showing after {timeout}s"
        await asyncio.sleep(0.03)


async def refresh(bridge: AgentBridge, w: Window) -> Window:
    return need(await bridge.window(w.handle), f"window {w.title!r} still showing")


async def click(bridge: AgentBridge, w: Window, text: str) -> None:
    b = need(w.button(text), f"button {text!r} in {w.describe()}")
    await bridge.click(w.handle, b.path)


async def drive_login(bridge: AgentBridge, product: str = "gateway", mode: str = "paper", user: str = "demo",
                      password: str = "s3cret-pw") -> Window:
    """What IBC's login handler does: API type + trading mode toggles, text fields 0 and 1, then the button.
    Returns the login frame (as it was just before the click)."""
    win = await window(bridge, is_login_frame(product), 30)
    if product == "gateway":
        await bridge.toggle(win.handle, need(win.toggle("IB API"), "IB API toggle").path, True)
    assert win.label_containing("Trading Mode") is not None
    toggle = "Paper Trading" if mode == "paper" else "Live Trading"
    await bridge.toggle(win.handle, need(win.toggle(toggle), toggle).path, True)
    win = await refresh(bridge, win)
    fields = win.text_fields()
    await bridge.set_text(win.handle, fields[0].path, user)
    await bridge.set_text(win.handle, fields[1].path, password)
    text = "Paper Log In" if mode == "paper" else "Log In"
    await click(bridge, win, text)
    return win


def parent_of(w: Window, c: Component) -> Component:
    return need(w.at(c.path[:-1]), "parent")


# ---------------------------------------------------------------- TOTP (RFC 6238, written here, not the sim's)


def totp(secret: str, at: float | None = None, step_offset: int = 0) -> str:
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // 30) + step_offset
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    value = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{value:06d}"


def wrong_totp(secret: str) -> str:
    valid = {totp(secret, step_offset=d) for d in (-2, -1, 0, 1, 2)}
    return next(c for c in ("000000", "111111", "222222", "123456") if c not in valid)


# ---------------------------------------------------------------- real API clients


async def ib_refused(port: int) -> None:
    ib = IB()
    try:
        with pytest.raises(ConnectionRefusedError):
            await ib.connectAsync("127.0.0.1", port, clientId=90, timeout=3, readonly=True)
    finally:
        ib.disconnect()


async def ib_session(port: int, client_id: int, accounts: Sequence[str]) -> None:
    """ib_async: connect, current time, managed accounts, clean disconnect."""
    ib = IB()
    try:
        await ib.connectAsync("127.0.0.1", port, clientId=client_id, timeout=10, readonly=True)
        assert ib.isConnected()
        assert ib.managedAccounts() == list(accounts)
        now = await ib.reqCurrentTimeAsync()
        assert abs(now.timestamp() - time.time()) < 30
    finally:
        ib.disconnect()
    assert not ib.isConnected()


async def ib_times_out(port: int, client_id: int = 91, timeout: float = 2) -> None:
    """The port accepts TCP but never completes the API handshake."""
    ib = IB()
    try:
        with pytest.raises((TimeoutError, asyncio.TimeoutError)):
            await ib.connectAsync("127.0.0.1", port, clientId=client_id, timeout=timeout, readonly=True)
    finally:
        ib.disconnect()


def _ibapi_session(port: int, client_id: int) -> tuple[int | None, str | None, list[int]]:
    with ibapi_client(port, client_id) as app:
        wait_until(lambda: app.next_id is not None and app.accounts is not None, 10, "nextValidId + managedAccounts")
        app.reqCurrentTime()
        wait_until(lambda: app.times, 10, "ibapi currentTime")
        return app.next_id, app.accounts, list(app.times)


async def ibapi_session(port: int, client_id: int) -> tuple[int | None, str | None, list[int]]:
    """ibapi: nextValidId, managedAccounts, currentTime (on a thread: ibapi blocks)."""
    return await asyncio.to_thread(_ibapi_session, port, client_id)


def _ibapi_duplicate(port: int, client_id: int) -> tuple[list[tuple[int, int, str]], bool]:
    app = IbapiApp()
    try:
        app.start(port, client_id)
        wait_until(lambda: 326 in app.codes(), 10, "error 326 for the duplicate client id")
        wait_until(app.closed.is_set, 10, "connectionClosed after 326")
        return list(app.errors), app.isConnected()
    finally:
        app.stop()


async def ibapi_duplicate(port: int, client_id: int) -> tuple[list[tuple[int, int, str]], bool]:
    return await asyncio.to_thread(_ibapi_duplicate, port, client_id)




async def until(cond: Callable[[], Awaitable[Any]] | Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if asyncio.iscoroutine(v):
            v = await v
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.03)
