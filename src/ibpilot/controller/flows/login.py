"""The login frame (gateway-ui.md §2.3), refused logins, and login completion (§2.5)."""

from __future__ import annotations

import asyncio
import time

from ibpilot.agent.model import Window
from ibpilot.controller.context import Ctx
from ibpilot.controller.machine import Event
from ibpilot.controller.outcome import EXIT_GAVE_UP, Outcome
from ibpilot.controller.texts import LOGIN_BUTTONS
from ibpilot.controller.ui import first_button
from ibpilot.serve.alerts import Alert


async def click_first(ctx: Ctx, win: Window, buttons: tuple[str, ...]) -> bool:
    """Click the first of `buttons` the window has; False when it has none of them."""
    b = first_button(win, buttons)
    return b is not None and await ctx.click(win, b)


async def login(ctx: Ctx, win: Window, event: str) -> None:
    cfg = ctx.cfg
    if ctx.restart_mode:
        ctx.note("auto-restart: Gateway logs itself in; nothing to type", win)
        ctx.fire(Event.LOGIN_FRAME)
        return
    ctx.flow.login.frame = win.handle
    ctx.fire(Event.LOGIN_FRAME)
    retry_at = ctx.flow.login.retry_at
    if retry_at is not None and time.monotonic() < retry_at:
        ctx.log.info("login frame shown again after a refused login; the retry is due in %.0fs",
                     retry_at - time.monotonic())
        return
    user, pw = (cfg.fix_username, cfg.fix_password) if cfg.fix else (cfg.username, cfg.password)
    if not user or not pw:
        ctx.alert(Alert.LOGIN_FAILED, "no credentials configured: log in by hand through VNC",
                  missing=("FIX " if cfg.fix else "") + ("user" if not user else "password"))
        return
    await submit_login(ctx, win)


async def submit_login(ctx: Ctx, win: Window) -> None:
    cfg = ctx.cfg
    st = ctx.flow.login
    if st.busy:
        return
    st.busy = True
    try:
        # the API type (gateway-ui.md §2.3): "FIX CTCI" for the FIX gateway, else "IB API" ("TWS/API")
        api = win.toggle("FIX CTCI") if cfg.fix else win.toggle("IB API") or win.toggle("TWS/API")
        if api is not None and not api.selected:
            await ctx.click(win, api)
        elif api is None and cfg.fix:
            ctx.alert(Alert.LOGIN_FAILED, "FIX=yes but the login frame has no 'FIX CTCI' toggle", title=win.title)
            return
        elif api is None and cfg.product == "gateway":
            ctx.log.warning("login frame has no 'IB API' toggle; going on")
        if win.label_containing("Trading Mode") is not None or cfg.product == "tws":
            mode_text = "Live Trading" if cfg.mode == "live" else "Paper Trading"
            toggle = win.toggle(mode_text)
            if toggle is None:
                ctx.alert(Alert.LOGIN_FAILED, f"login frame has no {mode_text!r} toggle", title=win.title)
            else:
                await ctx.click(win, toggle)
        fresh = await ctx.refresh(win) or win
        fields = fresh.text_fields()
        # FIX: 0/1 = the FIX login, 2/3 = the optional IB API (market data) login, as IBC's setFields
        values = [(cfg.fix_username, cfg.fix_password)] if cfg.fix else []
        if not cfg.fix or (cfg.username and cfg.password):
            values.append((cfg.username, cfg.password))
        if len(fields) < 2 * len(values):
            ctx.alert(Alert.LOGIN_FAILED, "cannot find the user name and password fields", title=win.title,
                      fields=len(fields))
            return
        for i, (user, pw) in enumerate(values):
            await ctx.set_text(fresh, fields[2 * i], user)
            await ctx.set_text(fresh, fields[2 * i + 1], pw, secret=True)
        button = first_button(fresh, LOGIN_BUTTONS)
        if button is None:
            ctx.alert(Alert.LOGIN_FAILED, "cannot find the Log In button", title=win.title)
            return
        st.submitted_at = time.monotonic()
        ctx.log.info("login submitted: user=%s mode=%s button=%r%s", cfg.fix_username if cfg.fix else cfg.username,
                     cfg.mode, button.text, " api_type=FIX CTCI" if cfg.fix else "")
        await ctx.click(fresh, button)
        ctx.fire(Event.LOGIN_SUBMITTED)
    finally:
        st.busy = False


async def relogin_from_frame(ctx: Ctx, why: str) -> None:
    frame = ctx.window_named("login_")
    if frame is None:
        ctx.log.warning("%s, but no login frame is showing", why)
        return
    ctx.log.info("%s: logging in again", why)
    fresh = await ctx.refresh(frame)
    if fresh is not None:
        await submit_login(ctx, fresh)


async def login_failed(ctx: Ctx, win: Window, event: str) -> None:
    ctx.login_failures += 1
    limit = ctx.cfg.s.login_failure_limit
    give_up = ctx.login_failures >= limit
    delay = 30.0 * ctx.login_failures
    # Set before OK is clicked: OK brings the login frame back, and its flow must see the pending retry.
    ctx.flow.login.retry_at = time.monotonic() + (1e9 if give_up else delay)
    text = "; ".join(win.texts()[:4])
    ctx.alert(Alert.LOGIN_FAILED, "Gateway refused the login", detail=text, failures=ctx.login_failures)
    await click_first(ctx, win, ("OK", "Close"))
    ctx.fire(Event.LOGIN_FAILED)
    if give_up:
        ctx.alert(Alert.GIVING_UP, "credentials refused too often; not retrying (avoids an account lock-out)",
                  failures=ctx.login_failures)
        raise Outcome("login refused", restart=False, code=EXIT_GAVE_UP)
    ctx.log.info("retrying the login in %.0fs (failure %d of %d allowed)", delay, ctx.login_failures, limit)
    await asyncio.sleep(delay)
    # IBC: "Cold restart after Login Failed dialog encountered" (gateway-ui.md §5.3)
    raise Outcome("cold restart (Login failed)")


def login_complete(ctx: Ctx, why: str) -> None:
    ctx.login_complete = True
    ctx.login_failures = 0
    since = ctx.flow.login.submitted_at
    took = f" {time.monotonic() - since:.1f}s after Log In" if since else ""
    ctx.log.info("login complete (%s)%s", why, took)
    ctx.fire(Event.LOGIN_COMPLETE)
    ctx.start_configuration()


# ------------------------------------------------------------------ notes: what the login's windows tell
def main_window(ctx: Ctx, win: Window, event: str) -> None:
    ctx.flow.main_window = win.handle
    if ctx.cfg.product == "tws" and not ctx.login_complete:
        login_complete(ctx, "TWS main window opened")


def splash(ctx: Ctx, win: Window, event: str) -> None:
    if event == "closed" and ctx.cfg.product == "gateway" and not ctx.login_complete:
        login_complete(ctx, "'Starting application...' closed")


def restart_progress(ctx: Ctx, win: Window, event: str) -> None:
    ctx.flow.restarting = True
    ctx.log.info("Gateway's daily auto-restart has begun: it will exit and be relaunched without a login")
