"""The second factor (gateway-ui.md §2.6, §5.1): device choice, TOTP codes, phone approval, time-outs."""

from __future__ import annotations

import asyncio
import time

from ibpilot.agent.model import Window
from ibpilot.controller import second_factor as tfa
from ibpilot.controller.context import Ctx
from ibpilot.controller.flows.login import click_first, relogin_from_frame
from ibpilot.controller.machine import Event, State
from ibpilot.controller.outcome import EXIT_TWOFA, Outcome
from ibpilot.controller.ui import first_button, has_text
from ibpilot.serve.alerts import Alert


async def second_factor(ctx: Ctx, win: Window, event: str) -> None:
    if event == "closed":
        await _closed(ctx)
        return
    st = ctx.flow.tfa
    if ctx.cfg.read_only_login:
        await _read_only(ctx, win)
        return
    if st.started is None:
        st.started = time.monotonic()
        ctx.fire(Event.SECOND_FACTOR)
    if has_text(win, "Select second factor device"):
        await _choose_device(ctx, win)
        return
    if [f for f in win.text_fields() if f.enabled and f.editable is not False]:
        await _totp(ctx, win)
        return
    if not st.pending:
        st.pending = True
        ctx.alert(Alert.TWOFA_PENDING, "approve the login on your phone (IB Key notification)",
                  timeout_s=int(ctx.cfg.s.twofa_timeout), user=ctx.cfg.username)
        ctx.spawn(_progress(ctx), "2fa-progress")


async def _read_only(ctx: Ctx, win: Window) -> None:
    """READ_ONLY_LOGIN (IBC's ReadOnlyLogin, TWS): "Enter Read Only" instead of the second factor."""
    st = ctx.flow.tfa
    if st.read_only == win.handle:
        return
    button = first_button(win, ("Enter Read Only",))
    if button is None:
        if not st.read_only_alerted:
            st.read_only_alerted = True
            ctx.alert(Alert.TWOFA_FAILED, "READ_ONLY_LOGIN=yes but the second factor window has no 'Enter Read "
                      "Only' button: finish the login by hand through VNC", title=win.title)
        return
    st.read_only = win.handle
    ctx.log.info("READ_ONLY_LOGIN: entering read only (no second factor; this session cannot trade)")
    await ctx.click(win, button)


async def _closed(ctx: Ctx) -> None:
    s = ctx.cfg.s
    st = ctx.flow.tfa
    if st.read_only is not None:
        ctx.log.info("second factor window closed after 'Enter Read Only'")
        return
    started = ctx.flow.login.submitted_at or time.monotonic()
    took = time.monotonic() - started
    ctx.log.info("second factor dialog closed %.0fs after Log In", took)
    ctx.fire(Event.SECOND_FACTOR_DONE)
    if st.pending and took < s.twofa_timeout:
        ctx.observer.second_factor("push")
        ctx.alert(Alert.TWOFA_APPROVED, "the phone approval was given; Gateway goes on logging in",
                  seconds=int(took), user=ctx.cfg.username)
    st.pending = False
    if took >= s.twofa_timeout:
        # Gateway brings the login frame back; its flow must not log in by itself (IBC §5.1 decides).
        again = s.relogin_after_twofa_timeout
        ctx.flow.login.retry_at = time.monotonic() + (5.0 if again else 1e9)
        ctx.alert(Alert.TWOFA_TIMEOUT, "second factor not completed in time", seconds=int(took),
                  next="re-login in 5s" if again else s.twofa_timeout_action)
        if again:
            await asyncio.sleep(5)
            ctx.flow.login.retry_at = None
            st.started = None
            await relogin_from_frame(ctx, "second factor timed out")
            return
    ctx.spawn(_exit_timer(ctx), "2fa-exit-timer")


async def _choose_device(ctx: Ctx, win: Window) -> None:
    lists = win.of_type("JList")
    if not lists:
        ctx.alert(Alert.TWOFA_FAILED, "device chooser without a list", title=win.title)
        return
    items = list(lists[0].items or ())
    wanted = ctx.cfg.s.twofa_device or ""
    idx = tfa.choose_device(items, wanted, bool(ctx.cfg.totp_secret))
    if idx is None:
        ctx.alert(Alert.TWOFA_FAILED, "no matching second factor device: set TWOFA_DEVICE",
                  devices="|".join(i.strip() for i in items), wanted=wanted)
        return
    if ctx.flow.tfa.device_chosen == win.handle:
        return
    ctx.flow.tfa.device_chosen = win.handle
    ctx.log.info("choosing second factor device %r", items[idx].strip())
    await ctx.act("select", window=win.handle, path=list(lists[0].path), index=idx)
    await click_first(ctx, win, ("OK",))


async def _totp(ctx: Ctx, win: Window) -> None:
    secret = ctx.cfg.totp_secret
    st = ctx.flow.tfa
    if not secret:
        if not st.no_secret_alerted:
            st.no_secret_alerted = True
            ctx.alert(Alert.TWOFA_FAILED, "Gateway asks for a second factor code but TWOFACTOR_CODE is not set;"
                      " enter it through VNC")
        return
    if st.busy:
        return
    st.busy = True
    try:
        code, wait = tfa.totp_code(secret)
        if wait:
            ctx.log.info("waiting %.1fs for a fresh TOTP code", wait)
            await asyncio.sleep(wait)
            code, _ = tfa.totp_code(secret)
        if st.last_code == code:
            return  # already sent this one (dialog re-rendered); the next step gives a new code
        st.last_code = code
        fresh = await ctx.refresh(win) or win
        fields = [f for f in fresh.text_fields() if f.enabled and f.editable is not False]
        if not fields:
            return
        await ctx.set_text(fresh, fields[0], code, secret=True)
        ok = first_button(fresh, ("OK", "Submit", "Continue"))
        if ok is not None:
            ctx.log.info("second factor: TOTP code entered")
            await ctx.click(fresh, ok)
            ctx.observer.second_factor("totp")
    finally:
        st.busy = False


async def _progress(ctx: Ctx) -> None:
    t0 = time.monotonic()
    while ctx.flow.tfa.pending:
        await asyncio.sleep(15)
        if ctx.flow.tfa.pending:
            ctx.log.info("still waiting for the phone approval (%.0fs; past TWOFA_TIMEOUT=%.0fs it counts as timed "
                         "out once Gateway closes its window)", time.monotonic() - t0,
                         ctx.cfg.s.twofa_timeout)


async def _exit_timer(ctx: Ctx) -> None:
    s = ctx.cfg.s
    await asyncio.sleep(s.twofa_exit_interval)
    if ctx.login_complete or ctx.state in (State.SECOND_FACTOR,):
        return
    ctx.alert(Alert.TWOFA_TIMEOUT, "login not completed after the second factor",
              seconds=int(s.twofa_exit_interval), action=s.twofa_timeout_action)
    if s.twofa_timeout_action == "exit":
        raise Outcome("second factor: login not completed", restart=False, code=EXIT_TWOFA)
    if s.twofa_timeout_action == "restart":
        raise Outcome("second factor: login not completed")
