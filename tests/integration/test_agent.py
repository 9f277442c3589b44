"""The in-JVM agent and its bridge against a small generic Swing app on a private Xvfb.

Every protocol operation and event is exercised through AgentBridge, and its effect is checked on the
app's stdout (each effect is printed as ``app: ...``) or in a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import stat
import statistics
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ibpilot.agent.bridge import AgentBridge, AgentDisconnected, AgentError
from ibpilot.agent.model import AgentEvent, Component, Window, WindowChanged, WindowClosed, WindowOpened
from ibpilot.jars import jar_path

pytestmark = pytest.mark.integration

APP_SRC = Path(__file__).resolve().parents[1] / "fixtures" / "swingapp" / "SwingApp.java"
PASSWORD = "hunter2-test"
T = TypeVar("T")


# ---- fixtures ---------------------------------------------------------------------------------------
# `display`: the session's Xvfb, from tests/integration/conftest.py


@pytest.fixture(scope="module")
def app_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    javac = shutil.which("javac")
    assert javac is not None, "javac is not installed (scripts/install-system-deps.sh installs the JDK)"
    out = tmp_path_factory.mktemp("swingapp")
    subprocess.run([javac, "-nowarn", "-d", str(out), str(APP_SRC)], check=True, capture_output=True)
    return out


class App:
    """The test app in a JVM with the agent; stdout is collected line by line."""

    def __init__(self, display: str, classes: Path, workdir: Path) -> None:
        sock_dir = workdir / "agent"
        sock_dir.mkdir(mode=0o700)
        self.socket = sock_dir / "agent.sock"
        self.stderr_path = workdir / "stderr.log"
        self.lines: list[str] = []
        self._cond = threading.Condition()
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [
                    "java",
                    f"-javaagent:{jar_path('agent')}=socket={self.socket}",
                    "-cp",
                    str(classes),
                    "SwingApp",
                ],
                env={**os.environ, "DISPLAY": display},
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._cond.notify_all()

    def wait_line(self, text: str, timeout: float = 10.0, start: int = 0) -> int:
        """Index of the first stdout line (from `start`) equal to ``app: <text>``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(start, len(self.lines)):
                    if self.lines[i] == f"app: {text}":
                        return i
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"app did not print {text!r}; stdout: {self.lines[-20:]}")
                self._cond.wait(remaining)

    def mark(self) -> int:
        with self._cond:
            return len(self.lines)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def app(display: str, app_classes: Path, tmp_path: Path) -> Iterator[App]:
    a = App(display, app_classes, tmp_path)
    try:
        a.wait_line("ready", timeout=30)
        yield a
    finally:
        a.stop()


def run(app: App, test: Callable[[AgentBridge], Awaitable[T]]) -> T:
    """Run `test` with a bridge connected to the app's agent (asyncio, no plugin needed)."""

    async def main() -> T:
        bridge = await AgentBridge.connect(app.socket, timeout=20)
        try:
            return await test(bridge)
        finally:
            await bridge.close()

    return asyncio.run(main())


async def main_window(bridge: AgentBridge) -> Window:
    return await bridge.wait_for_window(lambda w: w.title == "Agent Test", timeout=10)


async def next_opened(q: asyncio.Queue[AgentEvent | None], title: str, timeout: float = 5) -> Window:
    """The next window_opened event for a window titled `title` (other events are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            ev = await q.get()
            assert ev is not None, "disconnected"
            if isinstance(ev, WindowOpened) and ev.window.title == title:
                return ev.window


def need(c: Component | None) -> Component:
    assert c is not None
    return c


# ---- tests ------------------------------------------------------------------------------------------
def test_hello_socket_mode_and_quiet_stdout(app: App) -> None:
    assert stat.S_IMODE(app.socket.stat().st_mode) == 0o600

    async def t(bridge: AgentBridge) -> None:
        assert bridge.hello["protocol"] == 1
        assert bridge.pid == app.proc.pid
        assert bridge.java
        await bridge.ping()
        assert (await bridge.request("hello"))["protocol"] == 1

    run(app, t)
    # the agent prints exactly one line on stdout; the rest is the app's
    assert [ln for ln in app.lines if not ln.startswith("app: ")] == [f"ibpilot-agent: listening on {app.socket}"]


def test_windows_snapshot(app: App) -> None:
    async def t(bridge: AgentBridge) -> None:
        w = await main_window(bridge)
        assert w.kind == "frame" and w.is_frame and not w.modal and w.handle.startswith("w")
        assert w.root.path == () and w.root.children[0].is_a("JRootPane")
        assert [c.text for c in w.buttons()][:3] == ["Hello", "Check Password", "Change Label"]
        # DFS pre-order, JPasswordField counts as a JTextField (as in IBC)
        user, pw = w.text_fields()[:2]
        assert user.name == "user" and pw.name == "pass" and pw.is_password
        assert pw.text is None and pw.length == 0
        assert need(w.label_containing("status:")).name == "status"
        assert need(w.toggle("remember ME")).is_a("JCheckBox")
        assert need(w.toggle("Red")).selected is True
        lst = w.of_type("JList")[0]
        assert lst.items == ("alpha", "beta", "gamma") and lst.selected_index == -1
        combo = w.of_type("JComboBox")[0]
        assert combo.items == ("one", "two", "three") and combo.selected_index == 0 and combo.text == "one"
        tree = need(w.of_type("JTree")[0].tree)
        assert tree.text == "Root" and tree.has_path(["settings", "API", "sockets"])
        assert w.has_menu(["file", "more", "deep item"])
        assert need(w.menu_item(["File", "Disabled Item"])).enabled is False
        assert need(w.named("status")).border_title is None
        assert any(c.border_title == "Form" for c in w.walk())
        for c in w.walk():  # paths address the components
            assert w.at(c.path) is c
        # the same window, the same handle; one window by handle
        again = await bridge.window(w.handle)
        assert again is not None and again.handle == w.handle and again.title == "Agent Test"
        assert await bridge.window("w999") is None

    run(app, t)


def test_set_text_and_click(app: App, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ibpilot.agent")
    seen: list[AgentEvent] = []

    async def t(bridge: AgentBridge) -> None:
        q = bridge.subscribe()
        w = await main_window(bridge)
        user, pw = w.text_fields()[:2]
        await bridge.set_text(w.handle, user.path, "alice")
        assert await bridge.click(w.handle, need(w.button("Hello")).path) is True
        app.wait_line("clicked Hello")
        app.wait_line("user=alice")

        await bridge.set_text(w.handle, pw.path, PASSWORD)
        assert await bridge.click(w.handle, need(w.button("Check Password")).path) is True
        app.wait_line("password matches")

        fresh = await bridge.window(w.handle)
        assert fresh is not None
        assert need(fresh.named("user")).text == "alice"
        pw2 = need(fresh.named("pass"))
        assert pw2.text is None and pw2.length == len(PASSWORD)
        raw = await bridge.request("windows")
        assert PASSWORD not in repr(raw)
        await asyncio.sleep(0)  # let queued events arrive (they are checked below, whatever came)
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                ev = q.get_nowait()
                if ev is not None:
                    seen.append(ev)

    run(app, t)
    assert PASSWORD not in repr(seen)
    assert PASSWORD not in caplog.text and PASSWORD not in app.stderr
    assert "(text not logged)" in caplog.text and f"{len(PASSWORD)} chars" not in caplog.text


def test_click_opening_a_modal_dialog(app: App) -> None:
    async def t(bridge: AgentBridge) -> None:
        w = await main_window(bridge)
        q = bridge.subscribe()
        assert await bridge.click(w.handle, need(w.button("Open Modal")).path) is False  # doClick still running
        d = await next_opened(q, "Modal Dialog")
        assert d.title == "Modal Dialog" and d.kind == "dialog" and d.modal and d.is_dialog
        assert need(d.label_containing("are you sure")).text == "Are you sure?"
        # the agent is not stuck behind the modal: snapshots and actions still work
        assert {x.title for x in await bridge.windows()} >= {"Agent Test", "Modal Dialog"}
        assert await bridge.click(d.handle, need(d.button("ok")).path) is True
        app.wait_line("dialog OK")
        app.wait_line("modal returned")
        async with asyncio.timeout(5):
            while not (isinstance(ev := await q.get(), WindowClosed) and ev.handle == d.handle):
                pass
        assert ev.title == "Modal Dialog" and ev.cls == "javax.swing.JDialog"
        assert await bridge.window(d.handle) is None

    run(app, t)


def test_menu(app: App) -> None:
    async def t(bridge: AgentBridge) -> None:
        w = await main_window(bridge)
        assert await bridge.menu(w.handle, ["FILE", "more", "Deep Item"]) is True
        app.wait_line("menu Deep Item")
        with pytest.raises(AgentError) as e:
            await bridge.menu(w.handle, ["File", "Disabled Item"])
        assert e.value.kind == "disabled"
        with pytest.raises(AgentError) as e:
            await bridge.menu(w.handle, ["File", "Nope"])
        assert e.value.kind == "not_found"
        # a menu item that opens a modal dialog: done=false, then close it like the title-bar X
        opened = asyncio.ensure_future(bridge.wait_for_window(lambda x: x.title == "Modal Dialog", timeout=5))
        await asyncio.sleep(0)
        assert await bridge.menu(w.handle, ["File", "Open Dialog"]) is False
        d = await opened
        await bridge.close_window(d.handle)
        app.wait_line("dialog closing")
        await bridge.wait_for_close(d.handle, timeout=5)
        app.wait_line("modal returned")
        assert "menu Disabled Item" not in "\n".join(app.lines)

    run(app, t)


def test_toggle(app: App) -> None:
    async def t(bridge: AgentBridge) -> None:
        w = await main_window(bridge)
        box = need(w.toggle("Remember me"))
        assert await bridge.toggle(w.handle, box.path, True) is True
        app.wait_line("checkbox true")
        assert await bridge.toggle(w.handle, box.path, True) is False
        blue = need(w.toggle("Blue"))
        assert await bridge.toggle(w.handle, blue.path, True) is True
        app.wait_line("radio Blue")
        fresh = need(await bridge.window(w.handle))
        assert need(fresh.toggle("Remember me")).selected is True
        assert need(fresh.toggle("Blue")).selected is True and need(fresh.toggle("Red")).selected is False
        assert await bridge.toggle(w.handle, box.path, False) is True
        app.wait_line("checkbox false")

    run(app, t)


def test_select(app: App) -> None:
    async def t(bridge: AgentBridge) -> None:
        w = await main_window(bridge)
        lst = w.of_type("JList")[0]
        combo = w.of_type("JComboBox")[0]
        await bridge.select(w.handle, lst.path, index=1)
        app.wait_line("list beta")
        await bridge.select(w.handle, lst.path, text=" GAMMA ")
        app.wait_line("list gamma")
        await bridge.select(w.handle, combo.path, text="two")
        app.wait_line("combo two")
        await bridge.select(w.handle, combo.path, index=2)
        app.wait_line("combo three")
        fresh = need(await bridge.window(w.handle))
        assert fresh.of_type("JList")[0].selected_index == 2
        assert fresh.of_type("JComboBox")[0].text == "three"
        for kwargs in ({"text": "delta"}, {"index": 7}):
            with pytest.raises(AgentError) as e:
                await bridge.select(w.handle, lst.path, **kwargs)  # type: ignore[arg-type]
            assert e.value.kind == "not_found"
        with pytest.raises(AgentError) as e:
            await bridge.select(w.handle, need(w.button("Hello")).path, index=0)
        assert e.value.kind == "wrong_type"

    run(app, t)


def test_tree_select(app: App) -> None:
    async def t(bridge: AgentBridge) -> None:
        w = await main_window(bridge)
        tree = w.of_type("JTree")[0]
        await bridge.tree_select(w.handle, tree.path, ["settings", "API", "SOCKETS"])
        app.wait_line("tree /Settings/API/Sockets")
        fresh = need(await bridge.window(w.handle))
        assert fresh.of_type("JTree")[0].selection == ("Settings", "API", "Sockets")
        with pytest.raises(AgentError) as e:
            await bridge.tree_select(w.handle, tree.path, ["Settings", "Missing"])
        assert e.value.kind == "not_found"

    run(app, t)


def test_key(app: App) -> None:
    async def t(bridge: AgentBridge) -> None:
        w = await main_window(bridge)
        await bridge.key(w.handle, "F", ["ctrl", "alt"])
        app.wait_line("key ctrl+alt+F")
        # to the window object itself, as IBC's RECONNECT* commands do: the frame's own KeyListener sees it
        await bridge.key(w.handle, "R", ["ctrl", "alt"], to_window=True)
        app.wait_line("frame key ctrl+alt+R")
        with pytest.raises(AgentError) as e:
            await bridge.request("key", window=w.handle, key="R", target="elsewhere")
        assert e.value.kind == "bad_request"
        with pytest.raises(AgentError) as e:
            await bridge.key(w.handle, "NOSUCHKEY")
        assert e.value.kind == "bad_request"

    run(app, t)


def test_window_changed_on_label_and_added_component(app: App) -> None:
    async def t(bridge: AgentBridge) -> None:
        w = await main_window(bridge)
        ev = asyncio.ensure_future(
            bridge.wait_for_event(
                lambda e: isinstance(e, WindowChanged) and need(e.window.named("status")).text == "Status: changed 1",
                timeout=5,
            )
        )
        await asyncio.sleep(0)
        await bridge.click(w.handle, need(w.button("Change Label")).path)
        changed = await ev
        assert isinstance(changed, WindowChanged) and changed.window.handle == w.handle

        ev = asyncio.ensure_future(
            bridge.wait_for_event(
                lambda e: isinstance(e, WindowChanged) and e.window.label_containing("Added 1") is not None,
                timeout=5,
            )
        )
        await asyncio.sleep(0)
        await bridge.click(w.handle, need(w.button("Add Component")).path)
        await ev
        # wait_for_window also sees a window changing into a match
        got = await bridge.wait_for_window(lambda x: x.label_containing("Added 1") is not None, timeout=5)
        assert got.handle == w.handle

    run(app, t)


def test_close_window_and_window_closed(app: App) -> None:
    async def t(bridge: AgentBridge) -> None:
        w = await main_window(bridge)
        await bridge.click(w.handle, need(w.button("Open Second")).path)
        second = await bridge.wait_for_window(lambda x: x.title == "Second Window", timeout=5)
        assert second.handle != w.handle
        q = bridge.subscribe()
        await bridge.close_window(second.handle)
        app.wait_line("second closing")
        app.wait_line("second closed")
        while True:
            ev = await asyncio.wait_for(q.get(), 5)
            if isinstance(ev, WindowClosed) and ev.handle == second.handle:
                break
        assert ev.title == "Second Window" and ev.cls == "javax.swing.JFrame"
        assert [x.title for x in await bridge.windows()] == ["Agent Test"]
        with pytest.raises(AgentError) as e:  # disposed: no longer addressable
            await bridge.click(second.handle, [0])
        assert e.value.kind == "no_window"
        # closing the main frame only asks the app (it ignores the request)
        await bridge.close_window(w.handle)
        app.wait_line("frame closing")

    run(app, t)


def test_errors(app: App) -> None:
    async def t(bridge: AgentBridge) -> None:
        w = await main_window(bridge)
        hello = need(w.button("Hello")).path

        async def kind(coro: Awaitable[Any]) -> str:
            with pytest.raises(AgentError) as e:
                await coro
            return e.value.kind

        assert await kind(bridge.click("w999", hello)) == "no_window"
        assert await kind(bridge.click(w.handle, [0, 99])) == "no_component"
        assert await kind(bridge.set_text(w.handle, hello, "x")) == "wrong_type"
        assert await kind(bridge.click(w.handle, need(w.named("user")).path)) == "wrong_type"
        assert await kind(bridge.request("frobnicate")) == "bad_request"
        assert await kind(bridge.request("click", window=w.handle)) == "bad_request"
        assert await kind(bridge.request("windows", handle="w999")) == "no_window"
        off = need(w.button("Disabled Button")).path
        assert await kind(bridge.click(w.handle, off)) == "disabled"
        assert await bridge.click(w.handle, off, force=True) is True  # IBC's "enable, then click"
        app.wait_line("clicked Disabled Button")

    run(app, t)


def test_busy_edt_gives_an_error_not_a_hang(app: App) -> None:
    async def t(bridge: AgentBridge) -> None:
        w = await main_window(bridge)
        mark = app.mark()
        assert await bridge.click(w.handle, need(w.button("Block EDT")).path) is False
        t0 = time.monotonic()
        with pytest.raises(AgentError) as e:
            await bridge.windows()
        assert e.value.kind == "failed" and "EDT busy" in e.value.message
        assert time.monotonic() - t0 < 4
        await bridge.ping()  # the socket side is alive meanwhile
        app.wait_line("unblocked", start=mark)
        assert await bridge.window(w.handle) is not None

    run(app, t)


def test_several_clients_get_every_event(app: App) -> None:
    async def t(bridge: AgentBridge) -> None:
        other = await AgentBridge.connect(app.socket, timeout=5)
        try:
            w = await main_window(bridge)
            qs = [bridge.subscribe(), other.subscribe()]
            await bridge.click(w.handle, need(w.button("Open Second")).path)
            for q in qs:
                await next_opened(q, "Second Window")
        finally:
            await other.close()

    run(app, t)


def test_dead_jvm_raises_agent_disconnected(app: App) -> None:
    async def t(bridge: AgentBridge) -> None:
        await main_window(bridge)
        events: list[AgentEvent] = []

        async def consume() -> None:
            async for ev in bridge.events():
                events.append(ev)

        consumer = asyncio.ensure_future(consume())
        waiting = asyncio.ensure_future(bridge.wait_for_window(lambda w: w.title == "never", timeout=30))
        await asyncio.sleep(0.1)
        os.killpg(app.proc.pid, signal.SIGKILL)
        await asyncio.wait_for(consumer, 10)  # the event stream ends
        with pytest.raises(AgentDisconnected):
            await asyncio.wait_for(waiting, 10)
        with pytest.raises(AgentDisconnected):
            await bridge.windows()
        assert bridge.closed

    run(app, t)


def test_latency_click_to_window_opened(app: App) -> None:
    """Prints the p50/p99 latency from a click that opens a modal dialog to its window_opened event."""
    n = int(os.environ.get("IBPILOT_AGENT_LATENCY_N", "20"))

    async def t(bridge: AgentBridge) -> list[float]:
        w = await main_window(bridge)
        button = need(w.button("Open Modal")).path
        q = bridge.subscribe()
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            click = asyncio.ensure_future(bridge.click(w.handle, button))  # answers done=false after 250 ms
            d = await next_opened(q, "Modal Dialog")
            samples.append(time.perf_counter() - t0)
            await click
            await bridge.click(d.handle, need(d.button("OK")).path)
            while True:
                ev = await asyncio.wait_for(q.get(), 5)
                if isinstance(ev, WindowClosed) and ev.handle == d.handle:
                    break
        return samples

    samples = sorted(run(app, t))
    p50 = statistics.median(samples) * 1000
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))] * 1000
    print(f"\nclick -> window_opened over {n}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {samples[-1] * 1000:.1f} ms")
