"""IBC's remaining handlers (gateway-ui.md §2.2): login-time refusals that end in a cold restart or a wait, and
the notices and confirmations Gateway/TWS shows while it runs, each with IBC's setting."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timedelta

from ibpilot.agent.model import Window
from ibpilot.controller.context import Ctx
from ibpilot.controller.flows.login import click_first, relogin_from_frame
from ibpilot.controller.machine import Event, State
from ibpilot.controller.outcome import EXIT_FATAL, Outcome
from ibpilot.controller.ui import checkbox
from ibpilot.serve.alerts import Alert

# IBC's TooManyFailedLoginAttemptsDialogHandler: "Please wait 53 seconds ..." / "Please wait 4 minutes & 47 seconds"
_WAIT = re.compile(r"please wait\s+(?:(\d+)\s+minutes?\s*)?(?:&\s*)?(?:(\d+)\s+seconds?)?", re.IGNORECASE)
LOCK_MARGIN_S = 3.0  # IBC logs in again 3 s after the stated wait
LOCK_UNKNOWN_S = 60.0  # the text carried no wait we could read

TRADES_BOXES = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "All")


def lock_wait(text: str) -> float | None:
    """Seconds IB asks us to wait, from the "Too many failed login attempts" text (None: not stated)."""
    m = _WAIT.search(text)
    if m is None or (m.group(1) is None and m.group(2) is None):
        return None
    return int(m.group(1) or 0) * 60.0 + int(m.group(2) or 0)


def _hold_login(ctx: Ctx, seconds: float) -> None:
    """The login frame comes back when the dialog's OK is clicked: its flow must not log in meanwhile."""
    ctx.flow.login.retry_at = time.monotonic() + seconds


async def _cold_restart(ctx: Ctx, win: Window, why: str) -> None:
    """IBC's StopTask(cold restart): dismiss with OK, then relaunch Gateway without -Drestart."""
    _hold_login(ctx, 1e9)
    await click_first(ctx, win, ("OK", "Close"))
    ctx.fire(Event.LOGIN_FAILED)
    raise Outcome(f"cold restart ({why})")


# ------------------------------------------------------------------ refusals during the login
async def login_error(ctx: Ctx, win: Window, event: str) -> None:
    """#28 "Login Error": log its text, cold restart (IBC)."""
    text = "; ".join(win.texts()[:4])
    ctx.alert(Alert.LOGIN_STALLED, "Gateway reported a login error; cold restart", detail=text[:200])
    await _cold_restart(ctx, win, "Login Error")


async def not_available(ctx: Ctx, win: Window, event: str) -> None:
    """#9 "... not currently available": OK, then IBC closes the login frame (Alt+F4), so the app is started anew."""
    text = "; ".join(win.texts()[:4])
    ctx.alert(Alert.LOGIN_STALLED, "IB's login service is not currently available; cold restart", detail=text[:200])
    await _cold_restart(ctx, win, "login not currently available")


async def too_many_attempts(ctx: Ctx, win: Window, event: str) -> None:
    """#25: wait out IB's lock-out (the wait is in the text), then log in again."""
    text = " ".join(win.texts())
    stated = lock_wait(text)
    wait = (stated if stated is not None else LOCK_UNKNOWN_S) + LOCK_MARGIN_S
    until = datetime.now().astimezone() + timedelta(seconds=wait)
    same_jvm = ctx.cfg.s.relogin_after_twofa_timeout
    ctx.alert(Alert.LOGIN_LOCKED, f"IB refuses logins until {until:%H:%M:%S}: waiting it out",
              seconds=int(wait), until=until.isoformat(timespec="seconds"),
              stated="yes" if stated is not None else "no", then="re-login" if same_jvm else "relaunch")
    _hold_login(ctx, wait + 30.0)
    await click_first(ctx, win, ("OK", "Close"))
    ctx.fire(Event.LOGIN_FAILED)
    await asyncio.sleep(wait)
    if same_jvm:  # IBC: ReloginAfterSecondFactorAuthenticationTimeout=yes logs in again on the same frame
        ctx.flow.login.retry_at = None
        await relogin_from_frame(ctx, "the login lock-out is over")
        return
    raise Outcome("cold restart (login lock-out over)")


async def handoff(ctx: Ctx, win: Window, event: str) -> None:
    """#23 "Trading Login Handoff": primary continues; primaryoverride/secondary is a state IBC exits on (1110)."""
    action = ctx.cfg.s.existing_session_detected_action
    if action == "primary":
        await click_first(ctx, win, ("Disconnect Other Session",))
    elif action == "manual":
        ctx.log.info("Trading Login Handoff left for a person (EXISTING_SESSION_DETECTED_ACTION=manual)")
    else:
        ctx.alert(Alert.EXISTING_SESSION, "Trading Login Handoff shown although this session gives way; stopping",
                  action=action)
        raise Outcome(f"Trading Login Handoff with EXISTING_SESSION_DETECTED_ACTION={action}", restart=False,
                      code=EXIT_FATAL)


# ------------------------------------------------------------------ notices while running
async def nse_compliance(ctx: Ctx, win: Window, event: str) -> None:
    """#11: IBC hides and disposes the frame (it has no button)."""
    if not ctx.cfg.s.dismiss_nse_compliance_notice:
        ctx.log.info("NSE Compliance notice left on screen (DISMISS_NSE_COMPLIANCE_NOTICE=no)")
        return
    ctx.log.info("closing the NSE Compliance notice")
    await ctx.act("close", window=win.handle)


async def trades(ctx: Ctx, win: Window, event: str) -> None:
    """#14 (TWS): SHOW_ALL_TRADES ticks every day and "All"; when the window is closed, Account > Trade Log."""
    if not ctx.cfg.s.show_all_trades:
        return
    has_days = checkbox(win, "Sun") is not None
    if event == "closed":
        main = ctx.window_named("main_window")
        if has_days and main is not None and ctx.state is not State.STOPPING:
            ctx.log.info("Trades window closed: opening it again (Account > Trade Log)")
            await ctx.act("menu", window=main.handle, items=["Account", "Trade Log"])
        return
    if not has_days:  # TWS 955+: a combo box IBC cannot set; IBC closes the window and stops caring
        ctx.log.warning("Trades window without day checkboxes: cannot show all trades with this TWS; closing it")
        await ctx.act("close", window=win.handle)
        return
    ctx.log.info("Trades window: showing all trades")
    for text in TRADES_BOXES:
        box = checkbox(win, text)
        if box is not None and not box.selected:
            await ctx.act("toggle", window=win.handle, path=list(box.path), selected=True)


async def bid_ask_update(ctx: Ctx, win: Window, event: str) -> None:
    """#27: ACCEPT_BID_ASK_LAST_SIZE_DISPLAY_UPDATE accept | defer | ignore."""
    action = ctx.cfg.s.accept_bid_ask_last_size_display_update
    if action == "ignore":
        ctx.log.info("Bid/Ask/Last size notice left on screen (ACCEPT_BID_ASK_LAST_SIZE_DISPLAY_UPDATE=ignore)")
        return
    if action == "accept":
        box = checkbox(win, "Don't display this message again.")
        if box is None:
            ctx.log.warning("Bid/Ask/Last size notice: no \"Don't display this message again.\" checkbox")
        elif not box.selected:
            await ctx.act("toggle", window=win.handle, path=list(box.path), selected=True)
    await click_first(ctx, win, ("I understand - display market data",))


async def crypto_order(ctx: Ctx, win: Window, event: str) -> None:
    """#29: CONFIRM_CRYPTO_CURRENCY_ORDERS transmit | cancel | manual."""
    action = ctx.cfg.s.confirm_crypto_currency_orders
    ctx.log.info("cryptocurrency order confirmation (%s): %s", action, " | ".join(win.texts()[:2]))
    if action != "manual":
        await click_first(ctx, win, ("Transmit",) if action == "transmit" else ("Cancel",))


async def order_id_reset(ctx: Ctx, win: Window, event: str) -> None:
    """#31: CONFIRM_ORDER_ID_RESET confirm | reject | ignore (ibpilot never resets at start: user-initiated)."""
    action = ctx.cfg.s.confirm_order_id_reset
    ctx.log.info("reset API order ID sequence requested by a user: %s", action)
    if action != "ignore":
        await click_first(ctx, win, ("Yes",) if action == "confirm" else ("No",))


def shutdown_progress(ctx: Ctx, win: Window, event: str) -> None:
    """#26: Gateway is exiting; IBC stops its own threads. The JVM watcher sees the exit and decides."""
    if ctx.state is State.STOPPING:
        ctx.log.info("Gateway is shutting down (as asked)")
    else:
        ctx.log.warning("Gateway is shutting down by itself (state %s)", ctx.state.value)
