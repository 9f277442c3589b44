"""What IBC's command server does to the application (gateway-ui.md §3), done to the simulated Gateway / TWS from
inside the JVM through ibpilot's agent, checked through the simulator's event log and the API port:

- RESTART on Gateway: Lock and Exit "Auto restart" at the next whole minute, saved with OK → restart at that minute;
- RESTART on TWS: File > Restart... and its "Are you sure you would like to restart the application" confirmation;
- RECONNECTACCOUNT / RECONNECTDATA: Ctrl+Alt+R / Ctrl+Alt+F to the main window and the "simulate" confirmation;
- ENABLEAPI on TWS: "Enable ActiveX and Socket Clients" decides whether the API port listens.

STOP (File > Close / File > Exit + "Are you sure you want to exit?") is covered in test_sim_screens.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _apiserver import IbapiApp
from _sim import (
    Sim,
    SimFactory,
    click,
    drive_login,
    gone,
    ib_refused,
    ib_session,
    need,
    run,
    sim_factory,
    until,
    window,
)

from ibpilot.agent.bridge import AgentBridge, AgentDisconnected
from ibpilot.agent.model import Window

pytestmark = pytest.mark.integration

PAPER_ACCOUNT = "DU1234567"
CONFIRM_RECONNECT = 'Are you sure you want to execute "simulate'  # gateway-ui.md §2.2 #32
CONFIRM_RESTART = "Are you sure you would like to restart the application"  # gateway-ui.md §2.2 #30


@pytest.fixture
def start(tmp_path: Path, display: str) -> Iterator[SimFactory]:
    with sim_factory(tmp_path, display) as f:
        yield f


def _is_main(product: str) -> Callable[[Window], bool]:
    menu = ["Help", "About IB Gateway"] if product == "gateway" else ["File", "Lock Application"]
    return lambda w: w.is_frame and w.has_menu(menu) and not w.title_equals("Loading...")


async def _logged_in(sim: Sim, product: str) -> tuple[AgentBridge, Window]:
    bridge = await sim.agent()
    await drive_login(bridge, product, mode="paper")
    await sim.event("logged_in")
    main = await window(bridge, _is_main(product))
    return bridge, main


async def _open_config(bridge: AgentBridge, main: Window, product: str) -> Window:
    path = ["Configure", "Settings"] if product == "gateway" else ["Edit", "Global Configuration..."]
    await until(lambda: _enabled(bridge, main.handle, path), 10, f"{' > '.join(path)} enabled")
    await bridge.menu(main.handle, path)
    return await window(bridge, lambda w: w.is_dialog and w.title_contains("Configuration"))


async def _enabled(bridge: AgentBridge, handle: str, path: list[str]) -> bool:
    w = await bridge.window(handle)
    item = w.menu_item(path) if w is not None else None
    return item is not None and item.enabled


async def _with_label(bridge: AgentBridge, handle: str, text: str) -> Window | None:
    w = await bridge.window(handle)
    return w if w is not None and w.label_containing(text) is not None else None


async def _with_toggle(bridge: AgentBridge, handle: str, text: str) -> Window | None:
    w = await bridge.window(handle)
    return w if w is not None and w.toggle(text) is not None else None


def _next_whole_minute() -> dt.datetime:
    """Like IBC's RestartTask: the next whole minute, but never one about to start (the test needs a few seconds
    to save it; IBC allows 2)."""
    now = dt.datetime.now()
    while now.second >= 50:
        now = dt.datetime.now()
    return (now + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)


# ---------------------------------------------------------------- RESTART (Gateway): Lock and Exit at the next minute


def test_gateway_restarts_at_the_wall_clock_minute_saved_in_lock_and_exit(start: SimFactory, tmp_path: Path) -> None:
    workdir = tmp_path / "sim"
    sim = start({"paper_warning": False}, workdir=workdir)

    async def first() -> tuple[str, str]:
        bridge, main = await _logged_in(sim, "gateway")
        assert not main.has_menu(["File", "Restart..."])  # Gateway has none (gateway-ui.md §2.5)
        await sim.event("api_listening")
        cfg = await _open_config(bridge, main, "gateway")
        await bridge.tree_select(cfg.handle, need(cfg.of_type("JTree")[0]).path, ["Lock and Exit"])
        cfg = await until(lambda: _with_label(bridge, cfg.handle, "Set Auto Restart Time (HH:MM)"), 5, "Lock and Exit")
        label = need(cfg.label_containing("Set Auto Restart Time (HH:MM)"))
        box = need(cfg.at(label.path[:-2]), "the label's grandparent")
        at = _next_whole_minute()
        hhmm, ampm = at.strftime("%I:%M"), at.strftime("%p")
        radios = {r.text: r for r in box.of_type("JRadioButton")}
        await bridge.set_text(cfg.handle, need(box.text_field(0)).path, hhmm)
        await bridge.toggle(cfg.handle, radios[ampm].path, True)
        await bridge.toggle(cfg.handle, radios["Auto restart"].path, True)
        await click(bridge, cfg, "OK")
        saved = await sim.event("config_saved")
        assert saved["lock_exit_time"] == hhmm and saved["lock_exit_action"] == "restart"
        assert saved["lock_exit_ampm"] == ampm
        await gone(bridge, cfg.handle)
        armed = await sim.event("lock_exit_scheduled", action="restart", at=at.isoformat(timespec="minutes"))
        assert armed["at"] == at.isoformat(timespec="minutes")
        ev = await sim.event("auto_restart", timeout=90)
        assert ev["why"] == f"wall clock {hhmm} {ampm}"
        assert ev["t"] >= at.timestamp()  # at that minute, not before
        token = await sim.event("autorestart")
        assert await sim.wait_exit() == 0
        assert (await sim.event("exit"))["reason"] == "auto restart"
        return str(token["path"]), hhmm

    token_path, hhmm = run(first(), timeout=150)
    token = Path(token_path)
    assert token.is_file() and json.loads(token.read_text())["mode"] == "paper"
    # the relaunch with -Drestart=<subdir> logs itself in without a second factor; the saved time persists
    again = start({"paper_warning": False}, workdir=workdir, port=sim.port)
    assert f"-Drestart={token.parent.name}" in again.gw.command()

    async def second() -> None:
        ev = await again.event("logged_in")
        assert ev["restart"] is True and again.find("second_factor") is None
        loaded = await again.event("settings_loaded")
        assert loaded["values"]["lock_exit_time"] == hhmm
        await again.event("api_listening")
        await ib_session(again.port, 31, [PAPER_ACCOUNT])

    run(second())
    assert not token.exists()


# ---------------------------------------------------------------- RESTART (TWS): File > Restart...


def test_tws_file_restart_confirms_then_restarts_like_the_auto_restart(start: SimFactory, tmp_path: Path) -> None:
    workdir = tmp_path / "sim"
    sim = start({"paper_warning": False}, product="tws", workdir=workdir)

    async def first() -> str:
        bridge, main = await _logged_in(sim, "tws")
        await sim.event("api_listening")
        for answer in ("No", "Yes"):
            await bridge.menu(main.handle, ["File", "Restart..."])
            conf = await window(bridge, lambda w: w.label_containing(CONFIRM_RESTART) is not None)
            assert conf.is_dialog and conf.button("Yes") is not None and conf.button("No") is not None
            with contextlib.suppress(AgentDisconnected):
                await click(bridge, conf, answer)
            await sim.event("restart_confirm_answer", button=answer)
            if answer == "No":
                await gone(bridge, conf.handle)
                assert sim.find("auto_restart") is None and sim.gw.proc is not None and sim.gw.proc.poll() is None
        assert (await sim.event("auto_restart"))["why"] == "File > Restart..."
        token = await sim.event("autorestart")
        assert await sim.wait_exit() == 0
        await ib_refused(sim.port)
        return str(token["path"])

    token = Path(run(first()))
    again = start({"paper_warning": False}, product="tws", workdir=workdir, port=sim.port)
    assert f"-Drestart={token.parent.name}" in again.gw.command()

    async def second() -> None:
        assert (await again.event("restart_token"))["consumed"] is True
        ev = await again.event("logged_in")
        assert ev["restart"] is True and again.find("clicked") is None
        await again.event("api_listening")

    run(second())


# ---------------------------------------------------------------- RECONNECTDATA / RECONNECTACCOUNT


def test_reconnect_keys_on_the_main_window_confirm_and_act(start: SimFactory) -> None:
    sim = start({"paper_warning": False})

    async def body() -> None:
        bridge, main = await _logged_in(sim, "gateway")
        await sim.event("api_listening")
        app = IbapiApp()
        try:
            await asyncio.to_thread(app.start, sim.port, 41)
            await until(lambda: app.next_id is not None, 10, "ibapi nextValidId")
            await sim.event("api_connect", client_id=41)
            # Ctrl+Alt+F = reconnect data; a wrong chord (Ctrl+F) first does nothing
            await bridge.key(main.handle, "F", ["ctrl"])
            await bridge.key(main.handle, "F", ["ctrl", "alt"])
            req = await sim.event("reconnect_requested")
            assert req["what"] == "data" and req["key"] == "ctrl+alt+F"
            conf = await window(bridge, lambda w: w.label_containing(CONFIRM_RECONNECT) is not None)
            assert conf.is_dialog and conf.title_contains("IBKR Gateway")
            await click(bridge, conf, "OK")
            assert (await sim.event("reconnect_data"))["clients"] == 1
            # (a 2104 also comes at connect: wait for the pair that follows the reconnect)
            await until(lambda: [c for c in app.codes() if c in (2103, 2104)][-2:] == [2103, 2104], 10,
                        "farm broken (2103) then OK (2104)")
            codes = [c for c in app.codes() if c in (2103, 2104)]
            assert codes[-2:] == [2103, 2104]
            assert len(sim.events("reconnect_requested")) == 1  # the Ctrl+F before it was ignored
            await gone(bridge, conf.handle)
            # Ctrl+Alt+R = reconnect account, dispatched to the JFrame itself as IBC does; Cancel first, then OK
            for answer in ("Cancel", "OK"):
                mark = sim.mark()
                await bridge.key(main.handle, "R", ["ctrl", "alt"], to_window=True)
                assert (await sim.event("reconnect_requested", since=mark))["what"] == "account"
                conf = await window(bridge, lambda w: w.label_containing(CONFIRM_RECONNECT) is not None)
                await click(bridge, conf, answer)
                await gone(bridge, conf.handle)
            assert (await sim.event("reconnect_cancelled"))["what"] == "account"
            await sim.event("reconnect_account")
            assert len(sim.events("reconnect_account")) == 1 and len(sim.events("reconnect_data")) == 1
        finally:
            app.stop()

    run(body())


# ---------------------------------------------------------------- ENABLEAPI (TWS)


def test_tws_enable_activex_checkbox_decides_whether_the_api_listens(start: SimFactory) -> None:
    sim = start({"paper_warning": False, "enable_activex": False}, product="tws")

    async def body() -> None:
        bridge, main = await _logged_in(sim, "tws")
        assert (await sim.event("api_disabled"))["reason"] == "Enable ActiveX and Socket Clients is unticked"
        assert sim.find("api_listening") is None
        await ib_refused(sim.port)
        # what IBC's EnableApiTask does: API > Settings, doClick the checkbox if unticked, then OK
        for tick in (True, False):
            cfg = await _open_config(bridge, main, "tws")
            handle = cfg.handle
            await bridge.tree_select(handle, need(cfg.of_type("JTree")[0]).path, ["API", "Settings"])
            cfg = await until(lambda h=handle: _with_toggle(bridge, h, "Enable ActiveX and Socket Clients"), 5,
                              "API > Settings")
            box = need(cfg.toggle("Enable ActiveX and Socket Clients"))
            assert box.is_a("JCheckBox") and box.selected is (not tick)
            mark = sim.mark()
            await bridge.click(cfg.handle, box.path)
            await click(bridge, cfg, "OK")
            saved = await sim.event("config_saved", since=mark)
            assert saved["enable_activex"] is tick
            await gone(bridge, cfg.handle)
            stored = json.loads((sim.settings_dir / "ibpilot-sim-settings.json").read_text())
            assert stored["enable_activex"] is tick
            if tick:
                await sim.event("api_listening", since=mark, port=sim.port)
                await ib_session(sim.port, 51, [PAPER_ACCOUNT])
            else:
                await sim.event("api_stopped", since=mark)
                await sim.event("api_disabled", since=mark)
                await ib_refused(sim.port)

    run(body())
