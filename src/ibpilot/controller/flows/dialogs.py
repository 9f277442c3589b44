"""Dialogs with a decision behind them (gateway-ui.md §2.2, §5.2, §5.5), user rules, and unknown windows."""

from __future__ import annotations

import re
import time

from ibpilot.agent.model import Window
from ibpilot.controller.context import Ctx
from ibpilot.controller.flows.login import click_first
from ibpilot.controller.machine import Event, State
from ibpilot.controller.outcome import Outcome
from ibpilot.controller.texts import DISCLAIMER_BUTTONS
from ibpilot.controller.ui import first_button, structure
from ibpilot.serve.alerts import Alert


async def existing_session(ctx: Ctx, win: Window, event: str) -> None:
    action = ctx.cfg.s.existing_session_detected_action
    st = ctx.flow.existing
    st.seen += 1
    now = time.monotonic()
    # only the last 10 minutes matter (and the list stays small for months)
    st.times = [t for t in st.times if now - t < 600] + [now]
    recent = len(st.times)
    ctx.alert(Alert.EXISTING_SESSION, "another session for this user", action=action,
              during_login=not ctx.login_complete, occurrences=recent)
    cont = first_button(win, ("OK", "Continue Login", "Reconnect This Session"))
    end = first_button(win, ("Cancel", "Exit Application"))
    if action == "manual":
        return
    if recent > 3 and action in ("primary", "primaryoverride"):
        ctx.log.warning("existing session: %d kick-outs in 10 min; stopping the ping-pong (choosing End)", recent)
        choice = end
    elif action == "secondary":
        choice = end
    elif not ctx.login_complete:
        choice = cont if st.seen == 1 else end
    else:
        choice = cont if action == "primary" else end
    if choice is None:
        return
    if ctx.login_complete and choice is cont:
        # taking the session back: Gateway logs in again, the API is down meanwhile
        ctx.login_complete = False
        ctx.fire(Event.RELOGIN_REQUIRED)
    await ctx.click(win, choice)


async def relogin(ctx: Ctx, win: Window, event: str) -> None:
    ctx.alert(Alert.RELOGIN, "Gateway asks for a re-login")
    ctx.login_complete = False
    ctx.fire(Event.RELOGIN_REQUIRED)
    button = first_button(win, ("Re-login", "Relogin", "OK"))
    if button is not None:
        ctx.flow.login.submitted_at = time.monotonic()
        await ctx.click(win, button)


async def password_notice(ctx: Ctx, win: Window, event: str) -> None:
    text = " ".join(win.texts())
    m = re.search(r"(\d+)\s+day", text)
    ctx.alert(Alert.PASSWORD_EXPIRY, "IBKR password expires soon: change it in Client Portal",
              days_left=m.group(1) if m else "?")
    if not ctx.cfg.s.dismiss_password_expiry_warning:
        ctx.log.info("password notice left on screen (DISMISS_PASSWORD_EXPIRY_WARNING=no)")
        return
    await click_first(ctx, win, ("OK", "Close"))


async def paper_warning(ctx: Ctx, win: Window, event: str) -> None:
    if not ctx.cfg.s.accept_non_brokerage_warning:
        ctx.log.warning("paper-account warning left on screen (ACCEPT_NON_BROKERAGE_WARNING=no): the API will "
                        "not answer until someone accepts it")
        return
    await click_first(ctx, win, ("I understand and accept",))


async def blind_trading(ctx: Ctx, win: Window, event: str) -> None:
    """Orders for instruments without market data (IBC's AllowBlindTrading)."""
    if not ctx.cfg.s.allow_blind_trading:
        ctx.log.info("blind-trading warning left for a person (ALLOW_BLIND_TRADING=no)")
        return
    await click_first(ctx, win, ("Override and Transmit", "Yes"))


async def accept_incoming(ctx: Ctx, win: Window, event: str) -> None:
    action = ctx.cfg.s.tws_accept_incoming
    ctx.log.info("incoming API connection prompt (%s): %s", action, "; ".join(win.texts()[:2]))
    if action != "manual":
        await click_first(ctx, win, ("OK", "Yes") if action == "accept" else ("No",))


async def gateway_dialog(ctx: Ctx, win: Window, event: str) -> None:
    texts = win.texts()
    ctx.log.info("Gateway dialog %r: %s", win.title, " | ".join(texts))
    if await apply_rules(ctx, win):  # a user's DIALOG_RULES entry is more specific than this catch-all
        return
    if any(t.startswith("Connection to server failed") for t in texts):
        ctx.alert(Alert.LOGIN_STALLED, "connection to server failed; cold restart", detail=texts[0][:200])
        ctx.flow.login.retry_at = time.monotonic() + 1e9  # OK brings the login frame back: no instant retry
        await click_first(ctx, win, ("OK",))
        raise Outcome("cold restart (Connection to server failed)")  # IBC's GatewayDialogHandler
    # anything else (the login progress box): leave it; its OK would cancel the login


async def exit_confirm(ctx: Ctx, win: Window, event: str) -> None:
    if ctx.state in (State.STOPPING,):
        await click_first(ctx, win, ("Yes", "OK"))
    else:
        ctx.log.warning("exit confirmation shown while not stopping; leaving it")


async def apply_rules(ctx: Ctx, win: Window) -> bool:
    """The first DIALOG_RULES entry matching the window clicks its button; True if one did."""
    texts = "\n".join(win.texts())
    for rule in ctx.cfg.s.dialog_rules:
        if rule.matches(win.title or "", texts):
            b = first_button(win, (rule.button,))
            if b is not None:
                ctx.log.info("dialog rule %r matched %s", rule, win.describe())
                await ctx.click(win, b)
                return True
    return False


async def unknown_window(ctx: Ctx, win: Window) -> None:
    texts = win.texts()
    if await apply_rules(ctx, win):
        return
    allowed = (*DISCLAIMER_BUTTONS, *ctx.cfg.s.bypass_warning)
    b = first_button(win, allowed)
    if b is not None and win.kind == "dialog":
        ctx.log.info("disclaimer %s: accepting with %r", win.describe(), b.text)
        await ctx.click(win, b)
        return
    if win.kind == "window" and not win.title and not texts:
        return  # popups, tooltips, shared owner frames
    key = f"{win.kind}|{win.title}|{'|'.join(texts[:5])}"
    if key in ctx.unknown_logged:
        return
    ctx.unknown_logged.add(key)
    ctx.alert(Alert.UNKNOWN_WINDOW, "a window no rule knows (add a DIALOG_RULES entry to handle it)",
              title=win.title or "", kind=win.kind)
    ctx.log.warning("structure of the unknown window:\n%s", structure(win))
