"""The simulated IB Gateway / TWS (sim/) screen by screen, driven from inside the JVM by ibpilot's agent the way
IBC drives the real application, plus real API clients (ib_async, ibapi) against its API port.

Facts under test: ../shared/gateway-ui.md (§2, §5, the §7 checklist), ../shared/tws-api.md §4, sim/README.md.
Every test starts its own JVM(s) on the session's Xvfb and kills them at the end.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from _sim import (
    Sim,
    SimFactory,
    click,
    drive_login,
    gone,
    ib_refused,
    ib_session,
    ib_times_out,
    ibapi_duplicate,
    ibapi_session,
    is_login_frame,
    need,
    parent_of,
    refresh,
    run,
    sim_factory,
    titled,
    totp,
    until,
    window,
    wrong_totp,
)
from ib_async import IB

from ibpilot.agent.bridge import AgentBridge, AgentDisconnected, AgentError
from ibpilot.agent.model import Component, Window
from ibpilot.gateway.jvm import find_autorestart
from ibpilot.testing import free_port

pytestmark = pytest.mark.integration

PAPER_ACCOUNT = "DU1234567"
LIVE_ACCOUNT = "U1234567"
DEMO_SECRET = "JBSWY3DPEHPK3PXP"
PRECAUTIONS = [  # gateway-ui.md §2.4, exact
    "Bypass Order Precautions for API Orders",
    "Bypass Bond warning for API Orders.",
    "Bypass negative yield to worst confirmation for API Orders.",
    "Bypass Called Bond warning for API Orders",
    'Bypass "same action pair trade" warning for API orders.',
    "Bypass price-based volatility risk warning for API Orders.",
    "Bypass US Stocks market data in shares warning for API Orders",
    "Bypass Redirect Order warning for Stock API Orders",
    "Bypass No Overfill Protection precaution for destinations where implied natively.",
]


@pytest.fixture
def start(tmp_path: Path, display: str) -> Iterator[SimFactory]:
    with sim_factory(tmp_path, display) as f:
        yield f


# ---------------------------------------------------------------- login frames


def test_gateway_login_frame_structure_and_refused_api(start: SimFactory) -> None:
    sim = start({"no_such_key": 1})

    async def body() -> None:
        bridge = await sim.agent()
        win = await window(bridge, is_login_frame("gateway"), 30)
        assert win.is_frame and win.title == "IBKR Gateway"
        assert win.kind == "frame" and not win.is_dialog
        assert need(win.button("English")).is_a("JButton")
        assert win.label_containing("API Type") is not None
        assert win.label_containing("Trading Mode") is not None
        for t in ("FIX CTCI", "IB API", "Live Trading", "Paper Trading"):
            tog = need(win.toggle(t), t)
            assert tog.is_a("JToggleButton") and not tog.is_a("JCheckBox") and not tog.is_a("JRadioButton"), tog
        assert need(win.toggle("IB API")).selected and not need(win.toggle("FIX CTCI")).selected
        assert need(win.toggle("Live Trading")).selected  # without self_login the frame starts on Live
        ssl = need(win.toggle("Use SSL"))
        assert ssl.is_a("JCheckBox") and ssl.selected
        fields = win.text_fields()
        assert len(fields) == 2
        assert not fields[0].is_password and fields[0].is_a("JTextField")
        assert fields[1].is_password and fields[1].simple_name == "JPasswordField"
        # DFS order as IBC walks it: API type, trading mode, username, password, then the button
        order = [c for c in win.walk() if c.path in {
            need(win.toggle("IB API")).path, need(win.toggle("Paper Trading")).path, fields[0].path, fields[1].path,
            need(win.button("Log In")).path}]
        assert [c.text or ("<pw>" if c.is_password else "<user>") for c in order] == [
            "IB API", "Paper Trading", "<user>", "<pw>", "Log In"]
        # "Log In" <-> "Paper Log In" with the trading mode
        assert win.button("Paper Log In") is None
        await bridge.toggle(win.handle, need(win.toggle("Paper Trading")).path, True)
        win = await refresh(bridge, win)
        assert win.button("Log In") is None and need(win.button("Paper Log In")).enabled
        assert need(win.toggle("Paper Trading")).selected and not need(win.toggle("Live Trading")).selected
        await bridge.toggle(win.handle, need(win.toggle("Live Trading")).path, True)
        win = await refresh(bridge, win)
        assert win.button("Paper Log In") is None and win.button("Log In") is not None
        # no main window before Log In
        assert [w.title for w in await bridge.windows()] == ["IBKR Gateway"]
        # Log In with an empty password: nothing happens but a message
        await bridge.set_text(win.handle, win.text_fields()[0].path, "demo")
        await click(bridge, win, "Log In")
        await sim.event("login_rejected")
        assert sim.find("login_attempt") is None
        assert [w.title for w in await bridge.windows()] == ["IBKR Gateway"]
        # the API port is not listening before login (tws-api.md §4): refused
        await ib_refused(sim.port)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", sim.port), timeout=2).close()
        # closing the login frame ends the application with 0
        with contextlib.suppress(AgentDisconnected):  # the JVM may exit before the agent answers
            await bridge.close_window(win.handle)
        assert await sim.wait_exit() == 0
        assert (await sim.event("exit"))["code"] == 0

    run(body())
    assert "unknown scenario key 'no_such_key'" in sim.gw.console_path.read_text()


def test_tws_login_frame_totp_jframe_main_window_and_api(start: SimFactory) -> None:
    sim = start({"second_factor_in_frame": False}, product="tws")  # TWS before 1016: the 2FA is its own JFrame

    async def body() -> None:
        bridge = await sim.agent()
        win = await window(bridge, is_login_frame("tws"), 30)
        assert win.is_frame and win.title == "Login"
        assert win.toggle("IB API") is None and win.toggle("FIX CTCI") is None
        assert win.label_containing("Trading Mode") is not None
        assert need(win.toggle("Use/store settings on server")).is_a("JCheckBox")
        fields = win.text_fields()
        assert [f.is_password for f in fields] == [False, True]
        await drive_login(bridge, "tws", mode="live")
        # TWS: the second factor is a JFrame (gateway-ui.md §2.6)
        sf = await window(bridge, titled("Second Factor Authentication"))
        assert sf.is_frame and not sf.is_dialog
        # TWS opens no main window before login completes
        assert not any(w.has_menu(["File", "Lock Application"]) for w in await bridge.windows())
        await bridge.set_text(sf.handle, need(sf.text_field(0)).path, totp(DEMO_SECRET))
        await click(bridge, sf, "OK")
        ev = await sim.event("logged_in")
        assert ev["mode"] == "live" and ev["accounts"] == [LIVE_ACCOUNT]
        await sim.event("api_listening")
        main = await window(bridge, lambda w: w.is_frame and w.has_menu(["File", "Lock Application"]))
        assert main.title == "IBKR Trader Workstation"
        assert need(main.menu_item(["Edit", "Global Configuration..."])).enabled
        assert main.has_menu(["File", "Exit"]) and main.has_menu(["Help", "About Trader Workstation"])
        # the main window opened only at login completion (the TWS login-complete signal, §2.5)
        names = [(e["event"], e.get("title")) for e in sim.events() if e["event"] in ("shown", "closed")]
        assert names.index(("shown", "IBKR Trader Workstation")) > names.index(("closed", "Starting application..."))
        assert ("shown", "Loading...") not in names
        await ib_session(sim.port, 1, [LIVE_ACCOUNT])
        await bridge.menu(main.handle, ["Edit", "Global Configuration..."])
        cfg = await window(bridge, lambda w: w.is_dialog and w.title_contains("Configuration"))
        assert cfg.title == f"{LIVE_ACCOUNT} Trader Workstation Configuration"
        assert need(cfg.toggle("Enable ActiveX and Socket Clients")).is_a("JCheckBox")
        await click(bridge, cfg, "Cancel")
        await gone(bridge, cfg.handle)
        await bridge.menu(main.handle, ["File", "Exit"])
        ex = await window(bridge, lambda w: w.label_containing("Are you sure you want to exit?") is not None)
        with contextlib.suppress(AgentDisconnected):  # the JVM may exit before the agent answers
            await click(bridge, ex, "Yes")
        assert await sim.wait_exit() == 0
        assert (await sim.event("exit"))["reason"] == "File > Exit"

    run(body())


# ---------------------------------------------------------------- the paper login, end to end


def test_gateway_paper_login_sequence_warning_api_326_and_file_close(start: SimFactory) -> None:
    sim = start({"connect_delay_s": 1.0})  # a slow server: time to look at the main window while logging in

    async def body() -> None:
        bridge = await sim.agent()
        await drive_login(bridge, "gateway", mode="paper")
        # the main window "Loading..." opens at once, Configure > Settings disabled while logging in
        main = await window(bridge, lambda w: w.is_frame and w.has_menu(["Help", "About IB Gateway"]))
        ev = await sim.event("login_attempt")
        assert ev["mode"] == "paper" and ev["user"] == "demo" and "password" not in ev
        assert sim.find("logged_in") is None
        assert main.title == "Loading..."
        assert need(main.menu_item(["Configure", "Settings"])).enabled is False
        with pytest.raises(AgentError) as ei:
            await bridge.menu(main.handle, ["Configure", "Settings"])
        assert ei.value.kind == "disabled"
        assert sim.find("config_refused") is None and sim.find("logged_in") is None
        assert main.has_menu(["File", "Close"]) and main.has_menu(["File", "Save Settings"])
        assert need(main.named("Minimize")).is_a("JButton") and need(main.named("Close")).is_a("JButton")
        await ib_refused(sim.port)  # still logging in
        await sim.event("logged_in")
        # frame sequence (gateway-ui.md §7) and "Starting application..." closed right before logged_in
        seq = [(e["event"], e.get("title"), e.get("type")) for e in sim.events()
               if e["event"] in ("shown", "closed", "logged_in")]
        shown = [(t, k) for ev_, t, k in seq if ev_ == "shown"]
        assert shown[:6] == [("IBKR Gateway", "JFrame"), ("Loading...", "JFrame"),
                             ("Connecting to server...", "JFrame"), ("Authenticating...", "JFrame"),
                             ("Downloading settings from server", "JFrame"), ("Starting application...", "JFrame")]
        i = seq.index(("logged_in", None, None))
        assert seq[i - 1] == ("closed", "Starting application...", "JFrame")
        for t in ("Connecting to server...", "Authenticating...", "Downloading settings from server"):
            assert ("closed", t, "JFrame") in seq[:i]
        main = await until(lambda: _main_logged_in(bridge), 10, "main window titled IBKR Gateway, Settings enabled")
        # the paper warning: API listens but stays silent until it is accepted
        warn = await window(bridge, lambda w: w.label_containing("This is not a brokerage account") is not None)
        assert warn.is_dialog and warn.title == "Warning" and warn.modal
        listening = await sim.event("api_listening")
        assert listening["port"] == sim.port
        await ib_times_out(sim.port)
        await click(bridge, warn, "I understand and accept")
        await sim.event("paper_warning_accepted")
        await gone(bridge, warn.handle)
        # now served: ib_async, then ibapi
        await ib_session(sim.port, 1, [PAPER_ACCOUNT])
        await sim.event("api_disconnect", client_id=1, timeout=10)
        next_id, accounts, times = await ibapi_session(sim.port, 2)
        assert next_id is not None and next_id >= 1 and accounts == PAPER_ACCOUNT and times
        # 326 on a duplicate client id, the first holder unaffected
        ib = IB()
        await ib.connectAsync("127.0.0.1", sim.port, clientId=7, timeout=10, readonly=True)
        try:
            errors, connected = await ibapi_duplicate(sim.port, 7)
            err = next(e for e in errors if e[1] == 326)
            assert err[0] == -1 and "client id is already in use" in err[2] and not connected
            assert (await ib.reqCurrentTimeAsync()) is not None
            dup = IB()
            codes: list[int] = []
            dup.errorEvent += lambda reqId, code, msg, contract: codes.append(code)
            with pytest.raises((TimeoutError, ConnectionError)):
                await dup.connectAsync("127.0.0.1", sim.port, clientId=7, timeout=3, readonly=True)
            dup.disconnect()
            assert 326 in codes
        finally:
            ib.disconnect()
        # Help > About IB Gateway
        await bridge.menu(main.handle, ["Help", "About IB Gateway"])
        about = await window(bridge, titled("About IB Gateway", "dialog"))
        await click(bridge, about, "OK")
        await gone(bridge, about.handle)
        # File > Close -> "Are you sure you want to exit?" -> No keeps it, Yes exits 0
        await bridge.menu(main.handle, ["File", "Close"])
        ex = await window(bridge, lambda w: w.label_containing("Are you sure you want to exit?") is not None)
        assert ex.is_dialog and ex.title == "Exit" and ex.button("No") is not None
        await click(bridge, ex, "No")
        await gone(bridge, ex.handle)
        assert sim.gw.proc is not None and sim.gw.proc.poll() is None
        await bridge.menu(main.handle, ["File", "Close"])
        ex = await window(bridge, lambda w: w.label_containing("Are you sure you want to exit?") is not None)
        with contextlib.suppress(AgentDisconnected):  # the JVM may exit before the agent answers
            await click(bridge, ex, "Yes")
        assert await sim.wait_exit() == 0
        assert (await sim.event("exit"))["reason"] == "File > Close"
        assert sim.find("api_stopped") is not None
        await ib_refused(sim.port)

    run(body())


async def _main_logged_in(bridge: AgentBridge) -> Window | None:
    for w in await bridge.windows():
        item = w.menu_item(["Configure", "Settings"])
        if w.is_frame and w.title == "IBKR Gateway" and item is not None and item.enabled:
            return w
    return None


# ---------------------------------------------------------------- second factor (gateway-ui.md §2.6)


def test_totp_wrong_code_then_right_code(start: SimFactory) -> None:
    sim = start()  # live asks for a TOTP code with the demo secret by default

    async def body() -> None:
        bridge = await sim.agent()
        await drive_login(bridge, "gateway", mode="live")
        sf = await window(bridge, titled("Second Factor Authentication"))
        assert sf.is_dialog  # Gateway: a JDialog
        assert sf.label_containing("Enter the code displayed in your authenticator app") is not None
        field = need(sf.text_field(0), "code field")
        assert not field.is_password
        await ib_refused(sim.port)
        await bridge.set_text(sf.handle, field.path, wrong_totp(DEMO_SECRET))
        await click(bridge, sf, "OK")
        await sim.event("second_factor_bad", method="totp")
        sf = await until(lambda: _with_error(bridge, sf.handle), 5, "error text in the 2FA dialog")
        assert need(sf.text_field(0)).text == ""  # cleared, the dialog stays
        assert sim.find("logged_in") is None
        await bridge.set_text(sf.handle, need(sf.text_field(0)).path, totp(DEMO_SECRET))
        await click(bridge, sf, "OK")
        await sim.event("second_factor_ok", method="totp")
        ev = await sim.event("logged_in")
        assert ev["mode"] == "live" and ev["accounts"] == [LIVE_ACCOUNT]
        await gone(bridge, sf.handle)
        await sim.event("api_listening")
        # live: no paper warning, the API answers at once
        await ib_session(sim.port, 3, [LIVE_ACCOUNT])
        assert not any(w.title == "Warning" for w in await bridge.windows())

    run(body())


async def _with_error(bridge: AgentBridge, handle: str) -> Window | None:
    w = await bridge.window(handle)
    return w if w is not None and w.label_containing("Invalid code") is not None else None


def test_device_chooser_then_push_approval(start: SimFactory) -> None:
    devices = [" IB Key", " Mobile Authenticator app"]
    sim = start({"second_factor": "push", "devices": devices, "push_approve_after_s": 0.5, "paper_warning": False})

    async def body() -> None:
        bridge = await sim.agent()
        await drive_login(bridge, "gateway", mode="paper")
        ch = await window(bridge, lambda w: w.title_equals("Second Factor Authentication")
                          and w.text_containing("Select second factor device", "JTextArea") is not None)
        assert ch.is_dialog
        lists = ch.of_type("JList")
        assert len(lists) == 1 and list(lists[0].items or ()) == devices  # leading spaces kept
        # structure of the real chooser (logs #118): JPanel -> JPanel -> {JTextArea, JList, filler, JPanel -> JPanel}
        area = need(ch.text_containing("Select second factor device", "JTextArea"))
        inner = parent_of(ch, area)
        kids = inner.children
        assert [k.simple_name for k in kids[:2]] == ["JTextArea", "JList"]
        assert kids[2].is_a("Filler") or "Filler" in kids[2].cls
        assert kids[3].is_a("JPanel") and kids[3].children[0].is_a("JPanel")
        assert [b.text for b in kids[3].children[0].buttons()] == ["OK", "Cancel"]
        assert parent_of(ch, inner).is_a("JPanel")
        await bridge.select(ch.handle, lists[0].path, text="IB Key")  # trimmed match, as IBC
        await click(bridge, ch, "OK")
        assert (await sim.event("second_factor_device"))["device"] == " IB Key"
        push = await window(bridge, lambda w: w.title_equals("Second Factor Authentication")
                            and w.label_containing("notification has been sent") is not None)
        assert push.button("Cancel") is not None
        assert (await sim.event("second_factor"))["method"] == "push"
        await sim.event("second_factor_ok", method="push")  # approved "on the phone"
        await gone(bridge, push.handle)
        await sim.event("logged_in")
        await sim.event("api_listening")
        await ib_session(sim.port, 4, [PAPER_ACCOUNT])

    run(body())


# ---------------------------------------------------------------- login problems


def test_existing_session_cancel_then_continue_login(start: SimFactory) -> None:
    sim = start({"existing_session": True, "paper_warning": False})

    async def body() -> None:
        bridge = await sim.agent()
        login = await drive_login(bridge, "gateway")
        es = await window(bridge, titled("Existing session detected", "dialog"))
        assert es.modal and es.button("Continue Login") is not None and es.button("Cancel") is not None
        await click(bridge, es, "Cancel")
        assert (await sim.event("existing_session_answer"))["button"] == "Cancel"
        await sim.event("login_failed")
        again = await window(bridge, is_login_frame("gateway"))
        assert again.handle == login.handle  # the same frame, hidden then shown again
        assert sim.find("logged_in") is None
        await ib_refused(sim.port)
        mark = sim.mark()
        await drive_login(bridge, "gateway")
        es = await window(bridge, titled("Existing session detected", "dialog"))
        await click(bridge, es, "Continue Login")
        assert (await sim.event("existing_session_answer", since=mark))["button"] == "Continue Login"
        await sim.event("logged_in")
        await sim.event("api_listening", since=mark)
        await ib_session(sim.port, 5, [PAPER_ACCOUNT])

    run(body())


def test_login_failed_on_wrong_password(start: SimFactory) -> None:
    sim = start({"user": "demo", "password": "right-pw", "paper_warning": False})

    async def body() -> None:
        bridge = await sim.agent()
        login = await drive_login(bridge, "gateway", password="wrong-pw")
        lf = await window(bridge, titled("Login failed", "dialog"))
        assert lf.modal
        assert lf.text_containing("Unrecognized Username or Password", "JTextPane") is not None
        ev = await sim.event("login_failed")
        assert ev["reason"] == "bad credentials" and "right-pw" not in json.dumps(sim.events())
        await click(bridge, lf, "OK")
        again = await window(bridge, is_login_frame("gateway"))
        assert again.handle == login.handle
        assert not any(w.has_menu(["Help", "About IB Gateway"]) for w in await bridge.windows())
        await ib_refused(sim.port)
        await drive_login(bridge, "gateway", password="right-pw")
        await sim.event("logged_in")
        await sim.event("api_listening")
        await ib_session(sim.port, 6, [PAPER_ACCOUNT])

    run(body())
    assert "wrong-pw" not in sim.gw.events_path.read_text()


def test_lockout_hangs_silently_in_connecting(start: SimFactory) -> None:
    sim = start({"lockout_attempts": 1, "lockout_hang_s": 2.5, "paper_warning": False})

    async def body() -> None:
        bridge = await sim.agent()
        await drive_login(bridge, "gateway")
        conn = await window(bridge, titled("Connecting to server...", "frame"))
        await sim.event("lockout_hang")
        await sim.event("shown", title="Connecting to server...")
        # for the whole hang: still "Connecting", no error, no other window, no login frame
        mark = sim.mark()
        t0 = asyncio.get_running_loop().time()
        while asyncio.get_running_loop().time() - t0 < 1.5:
            titles = sorted(w.title or "" for w in await bridge.windows())
            assert titles == ["Connecting to server...", "Loading..."], titles
            await asyncio.sleep(0.2)
        assert [e["event"] for e in sim.events()[mark - sim.since:]] == []
        assert (await sim.event("login_failed", timeout=10))["reason"] == "lockout (silent timeout)"
        await window(bridge, is_login_frame("gateway"))
        await gone(bridge, conn.handle)
        await drive_login(bridge, "gateway")  # the next attempt goes through
        await sim.event("logged_in")

    run(body())


def test_gateway_box_ok_cancels_the_login(start: SimFactory) -> None:
    sim = start({"gateway_dialog": {"text": "Connecting to server, please wait...", "hold_s": 30}})

    async def body() -> None:
        bridge = await sim.agent()
        login = await drive_login(bridge, "gateway")
        box = await window(bridge, titled("Gateway", "dialog"))
        assert box.modal and [b.text for b in box.buttons()] == ["OK"]
        assert need(box.label_containing("Connecting to server")).is_a("JLabel")
        await click(bridge, box, "OK")
        await sim.event("login_cancelled")
        again = await window(bridge, is_login_frame("gateway"))
        assert again.handle == login.handle
        await gone(bridge, box.handle)
        assert sim.find("logged_in") is None and sim.find("state", state="authenticating") is None

    run(body())


def test_gateway_box_closes_by_itself_and_login_continues(start: SimFactory) -> None:
    sim = start({"gateway_dialog": {"text": "Please wait", "hold_s": 0.5}, "paper_warning": False})

    async def body() -> None:
        bridge = await sim.agent()
        await drive_login(bridge, "gateway")
        box = await window(bridge, titled("Gateway", "dialog"))
        await gone(bridge, box.handle)
        await sim.event("logged_in")
        assert sim.find("login_cancelled") is None

    run(body())


def test_connection_failed_box(start: SimFactory) -> None:
    sim = start({"connection_failed": True})

    async def body() -> None:
        bridge = await sim.agent()
        await drive_login(bridge, "gateway")
        box = await window(bridge, lambda w: w.is_dialog and w.title_contains("Gateway")
                           and w.label_containing("Connection to server failed") is not None)
        assert need(box.label_containing("Connection to server failed")).plain_text.startswith(
            "Connection to server failed")
        assert (await sim.event("login_failed"))["reason"] == "connection_failed"
        await click(bridge, box, "OK")
        await window(bridge, is_login_frame("gateway"))

    run(body())


# ---------------------------------------------------------------- after login


def test_relogin_required_stops_and_restores_the_api(start: SimFactory) -> None:
    sim = start({"relogin_after_s": 1.0, "paper_warning": False})

    async def body() -> None:
        bridge = await sim.agent()
        await drive_login(bridge, "gateway")
        await sim.event("logged_in")
        await sim.event("api_listening")
        await ib_session(sim.port, 8, [PAPER_ACCOUNT])
        rl = await window(bridge, titled("Re-login is required", "dialog"), 15)
        await sim.event("api_stopped")
        await ib_refused(sim.port)
        assert rl.button("Cancel") is not None
        mark = sim.mark()
        await click(bridge, rl, "Re-login")
        ev = await sim.event("logged_in", since=mark, relogin=True)
        assert ev["accounts"] == [PAPER_ACCOUNT]
        # a re-login goes through Connecting / Authenticating again, without the splash
        later = [e.get("title") for e in sim.events()[mark - sim.since:] if e["event"] == "shown"]
        assert "Connecting to server..." in later and "Authenticating..." in later
        assert "Starting application..." not in later
        await sim.event("api_listening", since=mark)
        await ib_session(sim.port, 9, [PAPER_ACCOUNT])

    run(body())


def test_password_notice_and_tip_of_the_day(start: SimFactory) -> None:
    sim = start({"password_notice_days": 5, "tip_of_the_day": True, "paper_warning": False})

    async def body() -> None:
        bridge = await sim.agent()
        await drive_login(bridge, "gateway")
        pn = await window(bridge, titled("Password Notice"))
        assert pn.is_frame and not pn.is_dialog  # a JFrame (gateway-ui.md §2.2 #12)
        assert pn.text_containing("Your password will expire in 5 days", "JTextPane") is not None
        tip = await window(bridge, titled("Tip of the Day"))
        assert tip.is_dialog and tip.of_type("JTextArea")
        await click(bridge, pn, "OK")
        await click(bridge, tip, "Close")
        await gone(bridge, pn.handle)
        await gone(bridge, tip.handle)
        assert sim.find("closed", title="Password Notice", type="JFrame") is not None
        assert sim.find("closed", title="Tip of the Day", type="JDialog") is not None

    run(body())


# ---------------------------------------------------------------- configuration dialog (gateway-ui.md §2.4, §7)


async def _open_config(sim: Sim, bridge: AgentBridge) -> tuple[Window, Window]:
    main = await until(lambda: _main_logged_in(bridge), 15, "main window ready")
    await bridge.menu(main.handle, ["Configure", "Settings"])
    cfg = await window(bridge, lambda w: w.is_dialog and w.title_contains("Configuration"))
    return main, cfg


def _inner_field(cfg: Window, name: str) -> Component:
    box = need(cfg.named(name), f"container named {name!r}")
    return need(box.text_field(0), f"a JTextField inside {name!r}")


def _port_field(cfg: Window) -> tuple[Component, Component]:
    return _inner_field(cfg, "Socket port"), _inner_field(cfg, "Master API client ID")


async def _lock_and_exit(bridge: AgentBridge, cfg: Window) -> tuple[Window, Component, Component]:
    await bridge.tree_select(cfg.handle, need(cfg.of_type("JTree")[0]).path, ["Lock and Exit"])
    cfg = await until(lambda: _page_with(bridge, cfg.handle, "Set Auto"), 5, "Lock and Exit page")
    label = need(cfg.label_containing("Set Auto"))
    container = need(cfg.at(label.path[:-2]), "label's grandparent")
    return cfg, label, container


async def _page_with(bridge: AgentBridge, handle: str, label: str) -> Window | None:
    w = await bridge.window(handle)
    return w if w is not None and w.label_containing(label) is not None else None


async def _precautions(bridge: AgentBridge, cfg: Window) -> Window:
    await bridge.tree_select(cfg.handle, need(cfg.of_type("JTree")[0]).path, ["API", "Precautions"])
    page: Window = await until(lambda: _with_toggle(bridge, cfg.handle, PRECAUTIONS[0]), 5, "Precautions page")
    return page


async def _settings_page(bridge: AgentBridge, cfg: Window) -> Window:
    await bridge.tree_select(cfg.handle, need(cfg.of_type("JTree")[0]).path, ["API", "Settings"])
    page: Window = await until(lambda: _with_toggle(bridge, cfg.handle, "Read-Only API"), 5, "API Settings page")
    return page


async def _with_toggle(bridge: AgentBridge, handle: str, text: str) -> Window | None:
    w = await bridge.window(handle)
    return w if w is not None and w.toggle(text) is not None else None


def test_config_dialog_structure_persistence_and_port_move(start: SimFactory, tmp_path: Path) -> None:
    workdir = tmp_path / "sim"
    sim = start({"paper_warning": False}, workdir=workdir)
    new_port = free_port()

    async def first() -> None:
        bridge = await sim.agent()
        await drive_login(bridge, "gateway")
        await sim.event("logged_in")
        await sim.event("api_listening", port=sim.port)
        main, cfg = await _open_config(sim, bridge)
        assert cfg.title == f"{PAPER_ACCOUNT} Trader Workstation Configuration" and not cfg.modal
        tree = need(cfg.of_type("JTree")[0])
        root = need(tree.tree)
        assert root.text == "Configuration"
        assert [c.text for c in root.children] == ["API", "Lock and Exit"]
        assert [c.text for c in need(root.child("API")).children] == ["Settings", "Precautions"]
        assert tree.selection == ("API", "Settings")  # opens on API > Settings
        port_f, master_f = _port_field(cfg)
        assert int(need(port_f.text)) == sim.port
        assert cfg.text_fields()[0].path == port_f.path  # first JTextField (IBAutomater)
        assert master_f.text == "0"
        ro = need(cfg.toggle("Read-Only API"))
        assert ro.is_a("JCheckBox") and ro.selected
        assert need(cfg.toggle("Allow connections from localhost only")).selected
        assert cfg.toggle("Send market data in lots for US stocks for dual-mode API clients") is not None
        assert cfg.toggle("Enable ActiveX and Socket Clients") is None  # TWS only
        for b in ("OK", "Apply", "Cancel", "Reset API order ID sequence"):
            assert cfg.button(b) is not None, b
        # an invalid port is refused with an Error box and nothing applied
        await bridge.set_text(cfg.handle, port_f.path, "not-a-port")
        await click(bridge, cfg, "Apply")
        err = await window(bridge, titled("Error", "dialog"))
        await click(bridge, err, "OK")
        assert sim.find("config_saved") is None
        # Reset API order ID sequence -> confirmation (gateway-ui.md §2.2 #31)
        await click(bridge, cfg, "Reset API order ID sequence")
        conf = await window(bridge, lambda w: w.label_containing(
            "Are you sure you want to reset API order ID sequence?") is not None)
        await click(bridge, conf, "Yes")
        await sim.event("order_id_reset")
        # edit every page like IBC: port, master id, read-only; one precaution; Lock and Exit
        cfg = await refresh(bridge, cfg)
        port_f, master_f = _port_field(cfg)
        await bridge.set_text(cfg.handle, port_f.path, str(new_port))
        await bridge.set_text(cfg.handle, master_f.path, "77")
        await bridge.toggle(cfg.handle, need(cfg.toggle("Read-Only API")).path, False)
        cfg = await _precautions(bridge, cfg)
        assert cfg.named("Socket port") is None  # only the selected page is in the hierarchy
        boxes = [c for c in cfg.of_type("JCheckBox")]
        assert [b.text for b in boxes] == PRECAUTIONS
        assert not any(b.selected for b in boxes)
        await bridge.toggle(cfg.handle, need(cfg.toggle(PRECAUTIONS[0])).path, True)
        cfg, label, c = await _lock_and_exit(bridge, cfg)
        assert label.is_a("JLabel") and label.plain_text == "Set Auto Restart Time (HH:MM)"
        tf = need(c.text_fields()[0] if c.text_fields() else None)
        assert re.fullmatch(r"\d\d:\d\d", tf.text or "") and tf.text == "11:45"
        radios = {r.text: r for r in c.of_type("JRadioButton")}
        assert set(radios) == {"AM", "PM", "Auto logoff", "Auto restart"}
        assert radios["PM"].selected and radios["Auto restart"].selected
        await bridge.set_text(cfg.handle, tf.path, "11:30")
        await bridge.toggle(cfg.handle, radios["AM"].path, True)
        await bridge.toggle(cfg.handle, radios["Auto logoff"].path, True)
        # values survive the page switches; OK persists and closes
        cfg = await _settings_page(bridge, cfg)
        port_f, master_f = _port_field(cfg)
        assert port_f.text == str(new_port) and master_f.text == "77"
        mark = sim.mark()
        await click(bridge, cfg, "OK")
        saved = await sim.event("config_saved")
        assert saved["port"] == new_port and saved["effective_port"] == new_port
        assert saved["master_client_id"] == "77" and saved["read_only_api"] is False
        assert saved["bypass"][PRECAUTIONS[0]] is True and saved["bypass"][PRECAUTIONS[1]] is False
        assert saved["lock_exit_time"] == "11:30" and saved["lock_exit_action"] == "logoff"
        await gone(bridge, cfg.handle)
        # the API moved at once: the old listener closed (its port number is free again, so under parallel
        # tests another worker may already listen there: the simulator's own events are the evidence)
        await sim.event("api_stopped", since=mark)
        await sim.event("api_listening", since=mark, port=new_port)
        await ib_session(new_port, 12, [PAPER_ACCOUNT])
        stored = json.loads((sim.settings_dir / "ibpilot-sim-settings.json").read_text())
        assert stored["port"] == new_port and stored["master_client_id"] == "77"
        await bridge.menu(main.handle, ["File", "Close"])
        ex = await window(bridge, lambda w: w.label_containing("Are you sure you want to exit?") is not None)
        with contextlib.suppress(AgentDisconnected):  # the JVM may exit before the agent answers
            await click(bridge, ex, "Yes")
        assert await sim.wait_exit() == 0

    run(first())
    # relaunch in the same settings dir: everything is read back (the scenario's api_port no longer applies)
    again = start({"paper_warning": False}, workdir=workdir, port=sim.port)

    async def second() -> None:
        loaded = await again.event("settings_loaded")
        assert loaded["existed"] is True and loaded["values"]["port"] == new_port
        bridge = await again.agent()
        await drive_login(bridge, "gateway")
        await again.event("api_listening", port=new_port)
        await ib_session(new_port, 13, [PAPER_ACCOUNT])
        _, cfg = await _open_config(again, bridge)
        port_f, master_f = _port_field(cfg)
        assert port_f.text == str(new_port) and master_f.text == "77"
        assert need(cfg.toggle("Read-Only API")).selected is False
        cfg = await _precautions(bridge, cfg)
        assert need(cfg.toggle(PRECAUTIONS[0])).selected and not need(cfg.toggle(PRECAUTIONS[1])).selected
        cfg, _, c = await _lock_and_exit(bridge, cfg)
        assert need(c.text_fields()[0]).text == "11:30"
        radios = {r.text: r.selected for r in c.of_type("JRadioButton")}
        assert radios == {"AM": True, "PM": False, "Auto logoff": True, "Auto restart": False}
        await click(bridge, cfg, "Cancel")
        await gone(bridge, cfg.handle)

    run(second())


# ---------------------------------------------------------------- auto restart and restart mode (§5.3)


def test_auto_restart_writes_token_and_relaunch_logs_in_without_credentials(start: SimFactory, tmp_path: Path) -> None:
    workdir = tmp_path / "sim"
    sim = start({"auto_restart_in_s": 0.5, "paper_warning": False, "user": "demo"}, workdir=workdir)

    async def first() -> str:
        bridge = await sim.agent()
        await drive_login(bridge, "gateway", user="Demo")
        await sim.event("logged_in")
        await window(bridge, titled("Restart in progress", "dialog"), 15)
        ev = await sim.event("autorestart")
        assert (await sim.wait_exit()) == 0
        assert (await sim.event("exit"))["reason"] == "auto restart"
        assert sim.find("api_stopped") is not None
        return str(ev["path"])

    token = Path(run(first()))
    subdir = token.parent.name
    assert token.name == "autorestart" and token.parent.parent == sim.settings_dir.resolve()
    assert re.fullmatch(r"[a-p]{32}", subdir), subdir
    assert json.loads(token.read_text())["mode"] == "paper"
    assert find_autorestart(sim.settings_dir) == subdir
    # relaunch: SimGateway passes -Drestart=<subdir> (found like ibcstart.sh does); nobody types anything
    again = start({"paper_warning": False}, workdir=workdir, port=sim.port)
    assert f"-Drestart={subdir}" in again.gw.command()

    async def second() -> None:
        started = await again.event("started")
        assert started["restart"] == subdir
        assert (await again.event("restart_token"))["consumed"] is True
        ev = await again.event("logged_in")
        assert ev["restart"] is True and ev["mode"] == "paper" and ev["user"] == "Demo"
        assert again.find("second_factor") is None and again.find("clicked") is None
        assert again.find("closed", title="Starting application...") is not None
        await again.event("api_listening")
        await ib_session(again.port, 14, [PAPER_ACCOUNT])

    run(second())
    assert not token.exists()  # consumed


# ---------------------------------------------------------------- scenario hooks


def test_crash_at_exits_with_its_code(start: SimFactory) -> None:
    sim = start({"crash_at": {"state": "authenticating", "code": 42}})

    async def body() -> None:
        bridge = await sim.agent()
        await drive_login(bridge, "gateway")
        assert await sim.wait_exit() == 42
        ev = await sim.event("crash")
        assert ev["state"] == "authenticating" and ev["code"] == 42

    run(body())


def test_crash_at_halt_mode(start: SimFactory) -> None:
    sim = start({"crash_at": {"state": "login_frame", "after_s": 0.2, "mode": "halt", "code": 9}})

    async def body() -> None:
        assert await sim.wait_exit() == 9
        assert (await sim.event("crash"))["mode"] == "halt"

    run(body())


def test_hang_at_edt_blocks_windows_but_ping_answers(start: SimFactory) -> None:
    sim = start({"hang_at": {"state": "logged_in", "kind": "edt"}, "paper_warning": False})

    async def body() -> None:
        bridge = await sim.agent()
        await drive_login(bridge, "gateway")
        assert (await sim.event("hang"))["kind"] == "edt"
        err = await until(lambda: _edt_busy_error(bridge), 15, "a windows request failing on the blocked EDT")
        assert err.kind == "failed" and "EDT busy" in err.message, err
        await bridge.ping()  # the agent itself still answers
        assert sim.gw.proc is not None and sim.gw.proc.poll() is None

    run(body())


async def _edt_busy_error(bridge: AgentBridge) -> AgentError | None:
    # the hang starts on a timer after logged_in: retry until a windows request hits the blocked EDT
    try:
        await bridge.windows(timeout=10)
    except AgentError as e:
        return e
    return None


def test_self_login_reaches_logged_in_with_no_driver(start: SimFactory) -> None:
    sim = start({"self_login": True, "trading_mode": "paper", "tip_of_the_day": True, "password_notice_days": 3})

    async def body() -> None:
        ev = await sim.event("logged_in", timeout=30)
        assert ev["mode"] == "paper" and ev["user"] == "demo"
        await sim.event("paper_warning_accepted")
        await sim.event("closed", title="Tip of the Day")
        await sim.event("closed", title="Password Notice")
        await sim.event("api_listening")
        await ib_session(sim.port, 15, [PAPER_ACCOUNT])

    run(body())


def test_self_login_live_types_its_own_totp(start: SimFactory) -> None:
    sim = start({"self_login": True, "trading_mode": "live", "devices": [" IB Key", " Mobile Authenticator app"]})

    async def body() -> None:
        ev = await sim.event("logged_in", timeout=30)
        assert ev["mode"] == "live" and ev["accounts"] == [LIVE_ACCOUNT]
        assert (await sim.event("second_factor_device"))["device"] == " IB Key"
        await sim.event("second_factor_ok", method="totp")

    run(body())


@pytest.mark.parametrize("scenario,needle", [
    ({"step_delay_ms": "fast"}, "step_delay_ms"),
    ({"paper_warning_api": "sometimes"}, "paper_warning_api"),
    (["not", "an", "object"], "bad scenario"),
])
def test_bad_scenario_exits_2_with_a_message(start: SimFactory, scenario: object, needle: str) -> None:
    sim = start(scenario)

    async def body() -> None:
        assert await sim.wait_exit() == 2

    run(body())
    console = sim.gw.console_path.read_text()
    assert "ibpilot-sim: bad scenario:" in console and needle in console, console


def test_totp_helper_matches_rfc_6238_vector() -> None:
    # RFC 6238 appendix B, SHA1, T=59 s: 94287082 (8 digits) -> 287082 with 6 digits
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp(secret, at=59) == "287082"
