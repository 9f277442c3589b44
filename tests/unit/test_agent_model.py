"""The agent's snapshot model (pure) and the bridge against a fake agent on a Unix socket."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ibpilot.agent.bridge import (
    AgentBridge,
    AgentDisconnected,
    AgentError,
    AgentProtocolError,
)
from ibpilot.agent.model import (
    Component,
    Window,
    WindowChanged,
    WindowClosed,
    WindowOpened,
    parse_event,
    plain,
)

SWING = ["JComponent", "Container", "Component"]


def comp(path: list[int], cls: str, bases: list[str], children: list[dict[str, Any]] | None = None, **kw: Any):
    d: dict[str, Any] = {
        "path": path,
        "class": cls,
        "bases": bases,
        "name": None,
        "text": None,
        "enabled": True,
        "visible": True,
        "showing": True,
        "children": children or [],
    }
    d.update(kw)
    return d


def login_window() -> dict[str, Any]:
    """A frame like the tests' SwingApp: label, text field, password field, buttons, menu bar, tree."""
    p = [0, 1, 0, 0]
    panel = comp(
        p,
        "javax.swing.JPanel",
        ["JPanel", *SWING],
        [
            comp([*p, 0], "javax.swing.JLabel", ["JLabel", *SWING], text="<html>Enter your <b>user</b> name</html>"),
            comp([*p, 1], "javax.swing.JTextField", ["JTextField", "JTextComponent", *SWING], text="bob", name="user"),
            comp(
                [*p, 2],
                "javax.swing.JPasswordField",
                ["JPasswordField", "JTextField", "JTextComponent", *SWING],
                length=6,
                editable=True,
            ),
            comp(
                [*p, 3], "com.vendor.FancyButton", ["JButton", "AbstractButton", *SWING], text="Log In", selected=False
            ),
            comp(
                [*p, 4],
                "javax.swing.JCheckBox",
                ["JCheckBox", "JToggleButton", "AbstractButton", *SWING],
                text="Paper",
                selected=True,
            ),
            comp(
                [*p, 5],
                "javax.swing.JTree",
                ["JTree", *SWING],
                tree={
                    "text": "Root",
                    "children": [{"text": "API", "children": [{"text": "Settings", "children": []}]}],
                },
                selection=["API", "Settings"],
            ),
            comp([*p, 6], "javax.swing.JComboBox", ["JComboBox", *SWING], items=["a", "b"], selected_index=1, text="b"),
        ],
        border_title="Login",
    )
    menubar = comp(
        [0, 1, 1],
        "javax.swing.JMenuBar",
        ["JMenuBar", *SWING],
        menus=[
            {
                "text": "Help",
                "enabled": True,
                "children": [{"text": "About Thing", "enabled": False, "children": []}],
            }
        ],
    )
    content = comp([0, 1, 0], "javax.swing.JPanel", ["JPanel", *SWING], [panel])
    layered = comp([0, 1], "javax.swing.JLayeredPane", ["JLayeredPane", *SWING], [content, menubar])
    rootpane = comp(
        [0],
        "javax.swing.JRootPane",
        ["JRootPane", *SWING],
        [comp([0, 0], "javax.swing.JPanel", ["JPanel", *SWING]), layered],
    )
    return {
        "handle": "w1",
        "class": "javax.swing.JFrame",
        "kind": "frame",
        "title": "Thing Login",
        "modal": False,
        "focused": True,
        "bounds": [1, 2, 300, 200],
        "root": comp(
            [],
            "javax.swing.JFrame",
            ["JFrame", "Frame", "Window", "Container", "Component"],
            [rootpane],
            text="Thing Login",
        ),
        "future_field": 1,
    }


# ---- model ------------------------------------------------------------------------------------------
def test_plain_strips_html() -> None:
    assert plain("<html>Enter your <b>user</b>&nbsp;name</html>") == "Enter your user name"
    assert plain(None) == "" and plain("  a \n b ") == "a b"


def test_window_parsing_and_queries() -> None:
    w = Window.from_json(login_window())
    assert (w.handle, w.kind, w.title, w.bounds) == ("w1", "frame", "Thing Login", (1, 2, 300, 200))
    assert w.is_frame and not w.is_dialog
    assert w.title_contains("LOGIN") and w.title_equals("thing login") and not w.title_contains("Gateway")
    # DFS pre-order: root pane, glass pane, layered pane, content, panel, ...
    assert [c.simple_name for c in w.walk()][:5] == ["JRootPane", "JPanel", "JLayeredPane", "JPanel", "JPanel"]
    user, pw = w.text_fields()
    assert user.name == "user" and pw.is_password and pw.text is None and pw.length == 6
    assert w.text_field(1) is pw and w.text_field(2) is None
    btn = w.button("log in")
    assert btn is not None and btn.is_a("JButton") and btn.simple_name == "FancyButton"
    assert w.button("Paper") is None  # a JCheckBox is not a JButton ...
    assert w.toggle("paper") is not None  # ... but a JToggleButton
    label = w.label_containing("your user")
    assert label is not None and label.plain_text == "Enter your user name"
    assert w.named("USER") is user
    assert w.find(lambda c: c.border_title == "Login") is not None
    assert w.at(btn.path) is btn and w.at([9]) is None
    assert w.has_menu(["help", "about thing"]) and not w.has_menu(["Help", "Nope"])
    item = w.menu_item(["Help", "About Thing"])
    assert item is not None and item.enabled is False
    tree = w.of_type("JTree")[0]
    assert tree.tree is not None and tree.tree.has_path(["api", "settings"]) and tree.selection == ("API", "Settings")
    combo = w.of_type("JComboBox")[0]
    assert combo.items == ("a", "b") and combo.selected_index == 1
    assert "Enter your user name" in w.texts() and "Log In" in w.describe()
    assert len(w.buttons()) == 1 and len(w.toggles()) == 1 and len(w.labels()) == 1


def test_unknown_fields_are_kept_not_fatal() -> None:
    d = login_window()
    d["root"]["children"][0]["tooltip"] = "hi"
    w = Window.from_json(d)
    assert w.root.children[0].extra == {"tooltip": "hi"}
    bare = Component.from_json({"class": "java.awt.Canvas"})
    assert bare.bases == () and bare.children == () and bare.is_a("Canvas")


def test_parse_events() -> None:
    ev = parse_event({"event": "window_opened", "window": login_window()})
    assert isinstance(ev, WindowOpened) and ev.window.handle == "w1"
    assert isinstance(parse_event({"event": "window_changed", "window": login_window()}), WindowChanged)
    closed = parse_event({"event": "window_closed", "handle": "w3", "title": "x", "class": "javax.swing.JDialog"})
    assert closed == WindowClosed("w3", "x", "javax.swing.JDialog")
    assert parse_event({"event": "something_new"}) is None


def test_agent_error_parse() -> None:
    e = AgentError.parse("no_component: no component at [0, 9]")
    assert (e.kind, e.message) == ("no_component", "no component at [0, 9]")
    assert AgentError.parse("weird").kind == "failed"


# ---- bridge against a fake agent ----------------------------------------------------------------------
Handler = Callable[[dict[str, Any], asyncio.StreamWriter], Awaitable[None]]


async def fake_agent(path: Path, handler: Handler | None = None, protocol: int = 1):
    """A Unix socket server that says hello and answers requests with `handler` (default: echo ok)."""
    received: list[dict[str, Any]] = []
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        writer.write((json.dumps({"event": "hello", "protocol": protocol, "pid": 42, "java": "17"}) + "\n").encode())
        await writer.drain()
        while line := await reader.readline():
            req = json.loads(line)
            received.append(req)
            if handler is not None:
                await handler(req, writer)
            else:
                writer.write((json.dumps({"id": req["id"], "ok": True, "result": {"echo": req["op"]}}) + "\n").encode())
                await writer.drain()

    server = await asyncio.start_unix_server(serve, str(path))
    return server, received, writers


def arun(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await asyncio.wait_for(coro, 10)

    return asyncio.run(main())


def test_protocol_mismatch_is_refused(tmp_path: Path) -> None:
    sock = tmp_path / "a.sock"

    async def t() -> None:
        server, _, _ = await fake_agent(sock, protocol=2)
        async with server:
            with pytest.raises(AgentProtocolError) as e:
                await AgentBridge.connect(sock, timeout=2)
            assert "protocol 2" in str(e.value) and "protocol 1" in str(e.value)

    arun(t())


def test_connect_retries_until_the_socket_exists(tmp_path: Path) -> None:
    sock = tmp_path / "a.sock"

    async def t() -> None:
        async def later() -> Any:
            await asyncio.sleep(0.3)
            return await fake_agent(sock)

        starting = asyncio.ensure_future(later())
        bridge = await AgentBridge.connect(sock, timeout=5)
        server, received, _ = await starting
        async with server:
            assert bridge.pid == 42 and bridge.java == "17"
            assert await bridge.request("anything", x=1) == {"echo": "anything"}
            assert received[0]["x"] == 1 and isinstance(received[0]["id"], int)
            await bridge.close()

    arun(t())


def test_connect_times_out(tmp_path: Path) -> None:
    with pytest.raises(TimeoutError):
        arun(AgentBridge.connect(tmp_path / "never.sock", timeout=0.3))


def test_errors_events_and_disconnect(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ibpilot.agent")
    sock = tmp_path / "a.sock"
    secret = "correct horse battery"

    async def handler(req: dict[str, Any], w: asyncio.StreamWriter) -> None:
        op = req["op"]
        if op == "click":
            w.write((json.dumps({"event": "window_opened", "window": login_window()}) + "\n").encode())
            w.write((json.dumps({"id": req["id"], "ok": True, "result": {"done": False}}) + "\n").encode())
        elif op == "set_text":
            w.write((json.dumps({"id": req["id"], "ok": True, "result": {}}) + "\n").encode())
        elif op == "windows":
            w.write((json.dumps({"id": req["id"], "ok": True, "result": []}) + "\n").encode())
        elif op == "hang":
            return  # never answers
        elif op == "die":
            w.close()
            return
        else:
            w.write((json.dumps({"id": req["id"], "ok": False, "error": "disabled: item is disabled"}) + "\n").encode())
        await w.drain()

    async def t() -> None:
        server, received, _ = await fake_agent(sock, handler)
        async with server:
            bridge = await AgentBridge.connect(sock, timeout=2)
            q = bridge.subscribe()
            assert await bridge.click("w1", [0, 1]) is False
            ev = await q.get()
            assert isinstance(ev, WindowOpened) and ev.window.title == "Thing Login"
            await bridge.set_text("w1", [0, 2], secret)
            assert received[-1]["text"] == secret
            with pytest.raises(AgentError) as e:
                await bridge.menu("w1", ["Help", "About"])
            assert e.value.kind == "disabled"
            with pytest.raises(TimeoutError):
                await bridge.request("hang", timeout=0.2)
            # wait_for_window sees the event of a window opened after it started
            waiting = asyncio.ensure_future(bridge.wait_for_window(lambda w: w.title_contains("login"), 5))
            await asyncio.sleep(0.05)
            await bridge.click("w1", [0])
            assert (await waiting).handle == "w1"
            # a connection loss fails pending requests and ends the event streams
            pending = asyncio.ensure_future(bridge.request("hang", timeout=5))
            await asyncio.sleep(0.05)
            consumer = asyncio.ensure_future(_collect(bridge))
            await asyncio.sleep(0.05)
            with pytest.raises(AgentDisconnected):
                await bridge.request("die")
            assert await asyncio.wait_for(consumer, 2) == []  # the event stream ended
            with pytest.raises(AgentDisconnected):
                await pending
            with pytest.raises(AgentDisconnected):
                await bridge.windows()
            drained = [q.get_nowait() for _ in range(q.qsize())]
            assert drained[-1] is None  # subscribers' queues are closed with None
            assert bridge.closed
            await bridge.close()

    arun(t())
    assert secret not in caplog.text
    assert "set_text w1 [0, 2] (text not logged)" in caplog.text  # not even the secret's length
    assert f"{len(secret)} chars" not in caplog.text


async def _collect(bridge: AgentBridge) -> list[Any]:
    return [ev async for ev in bridge.events()]


def test_agent_java_is_generic() -> None:
    """The agent must not know the application it runs in: no IB window titles, labels or class names."""
    src = Path(__file__).resolve().parents[2] / "src" / "ibpilot" / "agent" / "java"
    text = "\n".join(p.read_text() for p in sorted(src.rglob("*.java"))).casefold()
    assert text, "agent sources not found"
    for word in (
        "ibkr",
        "interactive brokers",
        "ib gateway",
        "trader workstation",
        "twslaunch",
        "jclient",
        "ibgateway",
        "log in",
        "second factor",
        "paper",
    ):
        assert word not in text, word
