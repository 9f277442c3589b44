"""Post-login API settings through the configuration dialog, each value read back after OK.

gateway-ui.md §2.4: Configure > Settings (TWS: Edit/File > Global Configuration...), a JDialog whose
title contains "Configuration", a JTree (API > Settings, API > Precautions, Lock and Exit), and OK.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass

from ibpilot.agent.bridge import AgentError
from ibpilot.agent.model import Component, Window
from ibpilot.controller.config import PRECAUTIONS
from ibpilot.controller.context import Ctx
from ibpilot.controller.machine import Event
from ibpilot.controller.ui import ancestor, checkbox, first_button
from ibpilot.serve.alerts import Alert

ENABLE_API = "Enable ActiveX and Socket Clients"  # TWS only (gateway-ui.md §2.4, IBC's ENABLEAPI)
LOCK_LABELS = ("Set Auto Restart Time (HH:MM)", "Set Auto Log Off Time (HH:MM)")


@dataclass(frozen=True)
class Wanted:
    """One setting: where it lives in the tree, how to find its control, the value wanted."""

    key: str
    section: tuple[str, ...]
    value: object


def wanted(ctx: Ctx) -> list[Wanted]:
    cfg = ctx.cfg
    out: list[Wanted] = []
    if cfg.fix:
        return out  # IBC skips every configuration task with FIX=yes (gateway-ui.md §1.1)
    if cfg.api_port is not None:
        out.append(Wanted("api_port", ("API", "Settings"), str(cfg.api_port)))
    if cfg.s.tws_master_client_id is not None:
        out.append(Wanted("master_client_id", ("API", "Settings"), str(cfg.s.tws_master_client_id)))
    if cfg.s.read_only_api is not None:
        out.append(Wanted("read_only_api", ("API", "Settings"), cfg.s.read_only_api))
    for key, value in sorted(cfg.precautions.items()):
        out.append(Wanted(key, ("API", "Precautions"), value))
    lock = _lock_and_exit(cfg.auto_restart_time, cfg.auto_logoff_time)
    if lock is not None:
        out.append(Wanted("lock_and_exit", ("Lock and Exit",), lock))
    return out


def _lock_and_exit(restart: str | None, logoff: str | None) -> tuple[str, str, str] | None:
    """('hh:mm', 'AM'|'PM', 'Auto restart'|'Auto logoff'); restart wins when both are set (as IBC)."""
    value, action = (restart, "Auto restart") if restart else (logoff, "Auto logoff")
    if not value:
        return None
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*([AaPp][Mm])?\s*", value)
    if not m:
        raise ValueError(f"bad time {value!r}: expected hh:mm AM/PM or HH:MM")
    h, mi, ampm = int(m.group(1)), m.group(2), (m.group(3) or "").upper()
    if not ampm:
        ampm = "PM" if h >= 12 else "AM"
        h = h % 12 or 12
    return f"{h:02d}:{mi}", ampm, action


def _control(win: Window, w: Wanted) -> Component | None:
    if w.key == "api_port":
        box = win.named("Socket port")
        return next(iter(box.of_type("JTextField")), None) if box is not None else None
    if w.key == "master_client_id":
        box = win.named("Master API client ID")
        return next(iter(box.of_type("JTextField")), None) if box is not None else None
    if w.key == "read_only_api":
        return checkbox(win, "Read-Only API")
    if w.key == "enable_api":
        return checkbox(win, ENABLE_API)
    if w.key in PRECAUTIONS:
        return checkbox(win, PRECAUTIONS[w.key])
    return None


def _read(win: Window, w: Wanted) -> object:
    if w.key == "lock_and_exit":
        return _read_lock(win)
    c = _control(win, w)
    if c is None:
        return None
    if w.key in ("api_port", "master_client_id"):
        return (c.text or "").strip()
    return bool(c.selected)


def _lock_container(win: Window) -> tuple[Component | None, str]:
    for text in LOCK_LABELS:
        label = win.label_containing(text)
        if label is not None:
            return ancestor(win, label, 2), text
    return None, ""


def _read_lock(win: Window) -> tuple[str, str, str] | None:
    box, _ = _lock_container(win)
    if box is None:
        return None
    fields = box.of_type("JTextField")
    radios = {r.plain_text: bool(r.selected) for r in box.of_type("JRadioButton")}
    ampm = "AM" if radios.get("AM") else "PM"
    action = "Auto restart" if radios.get("Auto restart") else "Auto logoff"
    return ((fields[0].text or "").strip() if fields else ""), ampm, action


async def _open_dialog(ctx: Ctx) -> Window:
    main = await ctx.wait_window(
        lambda w: (ctx.screen_name(w.handle) or "").startswith("main_window"), 60, "main window"
    )
    paths = (
        [["Configure", "Settings"]]
        if ctx.cfg.product == "gateway"
        else [["Edit", "Global Configuration..."], ["File", "Global Configuration..."]]
    )
    deadline = time.monotonic() + 60
    while True:
        main = ctx.windows.get(main.handle, main)
        items = next((p for p in paths if main.has_menu(p)), paths[0])
        try:
            await ctx.act("menu", window=main.handle, items=items)
            break
        except AgentError as exc:
            if "disabled" not in str(exc) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.25)  # enabled when login completes (IBC polls the same way)
    return await ctx.wait_window(
        lambda w: w.kind == "dialog" and w.title_contains("Configuration"), 20, "configuration dialog"
    )


async def _select(ctx: Ctx, dlg: Window, section: tuple[str, ...]) -> Window:
    tree = next(iter(dlg.of_type("JTree")), None)
    if tree is None:
        raise RuntimeError("configuration dialog has no tree")
    nodes = list(section)
    if tree.tree is not None and not tree.tree.has_path(nodes) and section == ("API", "Settings"):
        nodes = ["API"]  # IBC's fallback for older versions
    await ctx.act("tree_select", window=dlg.handle, path=list(tree.path), nodes=nodes)
    return await ctx.refresh(dlg) or dlg


async def _apply(ctx: Ctx, dlg: Window, w: Wanted) -> bool:
    if w.key == "lock_and_exit":
        assert isinstance(w.value, tuple)
        box, label = _lock_container(dlg)
        if box is None:
            ctx.alert(Alert.SETTING_UNAVAILABLE, "Lock and Exit has no auto logoff/restart time", setting=w.key)
            return False
        hhmm, ampm, action = w.value
        shown = "Auto restart" if "Restart" in label else "Auto logoff"
        if shown != action:
            ctx.alert(Alert.SETTING_UNAVAILABLE,
                       f"this account's dialog offers {shown!r}, not {action!r}: set "
                       f"{'AUTO_RESTART_TIME' if shown == 'Auto restart' else 'AUTO_LOGOFF_TIME'} instead",
                       setting=w.key)
        fields = box.of_type("JTextField")
        if fields:
            await ctx.set_text(dlg, fields[0], hhmm)
        for text in (ampm, action):
            radio = next((r for r in box.of_type("JRadioButton") if r.plain_text == text), None)
            if radio is not None:
                await ctx.act("toggle", window=dlg.handle, path=list(radio.path), selected=True)
        return True
    c = _control(dlg, w)
    if c is None:
        ctx.alert(Alert.SETTING_UNAVAILABLE, "the configuration dialog has no control for this setting",
                   setting=w.key)
        return False
    if isinstance(w.value, bool):
        await ctx.act("toggle", window=dlg.handle, path=list(c.path), selected=w.value)
    else:
        await ctx.set_text(dlg, c, str(w.value))
    return True


async def _close(ctx: Ctx, dlg: Window, button: str) -> None:
    fresh = await ctx.refresh(dlg) or dlg
    b = first_button(fresh, (button,))
    if b is None:
        await ctx.act("close", window=dlg.handle)
    else:
        await ctx.click(fresh, b)
    deadline = time.monotonic() + 10
    while dlg.handle in ctx.windows and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def apply_and_verify(ctx: Ctx, items: list[Wanted]) -> tuple[list[Wanted], list[str]]:
    """Open the dialog, apply `items`, OK, reopen and read every one back, Cancel: (applied, keys not kept)."""
    dlg = await _open_dialog(ctx)
    applied: list[Wanted] = []
    for section in dict.fromkeys(w.section for w in items):
        dlg = await _select(ctx, dlg, section)
        for w in (w for w in items if w.section == section):
            if await _apply(ctx, dlg, w):
                applied.append(w)
                ctx.log.info("setting %s -> %s", w.key, w.value)
    await _close(ctx, dlg, "OK")
    values = await read_values(ctx, applied)
    bad = []
    for w in applied:
        if values[w.key] != w.value:
            bad.append(w.key)
            ctx.alert(Alert.SETTING_NOT_KEPT, "Gateway did not keep a setting", setting=w.key, wanted=w.value,
                      got=values[w.key])
    return applied, bad


async def read_values(ctx: Ctx, items: list[Wanted]) -> dict[str, object]:
    """The values the dialog shows now for `items` (opened, read, cancelled)."""
    dlg = await _open_dialog(ctx)
    got: dict[str, object] = {}
    for section in dict.fromkeys(w.section for w in items):
        dlg = await _select(ctx, dlg, section)
        for w in (w for w in items if w.section == section):
            got[w.key] = _read(dlg, w)
    await _close(ctx, dlg, "Cancel")
    return got


async def configure(ctx: Ctx) -> None:
    """Apply the wanted settings, click OK, then read every one back; alerts for what did not stick."""
    if ctx.flow.configured:
        ctx.fire(Event.CONFIGURED)
        return
    items = wanted(ctx)
    if not items:
        ctx.log.info("no API settings to apply")
        ctx.flow.configured = True
        ctx.fire(Event.CONFIGURED)
        return
    t0 = time.monotonic()
    applied, bad = await apply_and_verify(ctx, items)
    ctx.log.info("configuration: %d settings applied, %d verified, in %.1fs", len(applied),
                 len(applied) - len(bad), time.monotonic() - t0)
    ctx.flow.configured = True
    ctx.fire(Event.CONFIGURED)
