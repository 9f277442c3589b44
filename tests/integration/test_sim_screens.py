"""The simulated IB Gateway / TWS (sim/) screen by screen, driven from inside the JVM by ibpilot's agent the way
IBC drives the real application, plus real API clients (ib_async, ibapi) against its API port.

Facts under test: ../shared/gateway-ui.md (§2, §5, the §7 checklist), ../shared/tws-api.md §4, sim/README.md.
Every test starts its own JVM(s) on the session's Xvfb and kills them at the end.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from _sim import (
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

from ibpilot.agent.bridge import AgentError
from ibpilot.agent.model import Window

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


def shown_titles(sim: object) -> list[str]:
    return [e["title"] for e in sim.events("shown")]  # type: ignore[attr-defined]


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
        await bridge.close_window(win.handle)
        assert await sim.wait_exit() == 0
        assert (await sim.event("exit"))["code"] == 0

    run(body())
    assert "unknown scenario key 'no_such_key'" in sim.gw.console_path.read_text()


def test_tws_login_frame_totp_jframe_main_window_and_api(start: SimFactory) -> None:
    sim = start(product="tws")

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
        await click(bridge, ex, "Yes")
        assert await sim.wait_exit() == 0
        assert (await sim.event("exit"))["reason"] == "File > Exit"

    run(body())


# ---------------------------------------------------------------- the paper login, end to end


def test_gateway_paper_login_sequence_warning_api_326_and_file_close(start: SimFactory) -> None:
    sim = start()

    async def body() -> None:
        bridge = await sim.agent()
        await drive_login(bridge, "gateway", mode="paper")
        # the main window "Loading..." opens at once, Configure > Settings disabled while logging in
        main = await window(bridge, lambda w: w.is_frame and w.has_menu(["Help", "About IB Gateway"]))
        ev = await sim.event("login_attempt")
        assert ev["mode"] == "paper" and ev["user"] == "demo" and "password" not in ev
        if sim.find("logged_in") is None:  # (it can't have finished: several steps of 60 ms)
            assert main.title == "Loading..."
            assert need(main.menu_item(["Configure", "Settings"])).enabled is False
            with pytest.raises(AgentError) as ei:
                await bridge.menu(main.handle, ["Configure", "Settings"])
            assert ei.value.kind == "disabled"
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
        await click(bridge, ex, "Yes")
        assert await sim.wait_exit() == 0
        assert (await sim.event("exit"))["reason"] == "File > Close"
        assert sim.find("api_stopped") is not None
        await ib_refused(sim.port)

    run(body())


async def _main_logged_in(bridge: object) -> Window | None:
    for w in await bridge.windows():  # type: ignore[attr-defined]
        item = w.menu_item(["Configure", "Settings"])
        if w.is_frame and w.title == "IBKR Gateway" and item is not None and item.enabled:
            return w  # type: ignore[no-any-return]
    return None
