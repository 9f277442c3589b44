"""The flows behind `Flow(...)` entries of the screen table, and the notes behind `Note(...)`.

Each flow is `async def name(inst, win, event)`; `inst` is the controller `Instance` (typed loosely here
to keep the import graph one-way). They follow gateway-ui.md §2.3-§2.6 and §5.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING

from ibpilot.agent.model import Window
from ibpilot.controller import second_factor as tfa
from ibpilot.controller.machine import Event, State
from ibpilot.controller.screens import DISCLAIMER_BUTTONS
from ibpilot.controller.ui import first_button, has_text, structure
from ibpilot.serve.alerts import Alert

if TYPE_CHECKING:
    from ibpilot.controller.instance import Instance

LOGIN_BUTTONS = ("Login", "Log In", "Paper Log In")


async def click_first(inst: Instance, win: Window, buttons: tuple[str, ...]) -> bool:
    """Click the first of `buttons` the window has; False when it has none of them."""
    b = first_button(win, buttons)
    return b is not None and await inst.click(win, b)


# ---------------------------------------------------------------------------------------------- login
async def login(inst: Instance, win: Window, event: str) -> None:
    cfg = inst.cfg
    if inst.restart_mode:
        inst.note("auto-restart: Gateway logs itself in; nothing to type", win)
        inst.fire(Event.LOGIN_FRAME)
        return
    inst.flow_state["login_frame"] = win.handle
    inst.fire(Event.LOGIN_FRAME)
    retry_at = inst.flow_state.get("retry_at")
    if retry_at is not None and time.monotonic() < retry_at:
        inst.log.info("login frame shown again after a refused login; the retry is due in %.0fs",
                      retry_at - time.monotonic())
        return
    if not cfg.username or not cfg.password:
        inst.alert(Alert.LOGIN_FAILED, "no credentials configured: log in by hand through VNC",
                   missing="user" if not cfg.username else "password")
        return
    await submit_login(inst, win)


async def submit_login(inst: Instance, win: Window) -> None:
    cfg = inst.cfg
    if inst.flow_state.get("login_busy"):
        return
    inst.flow_state["login_busy"] = True
    try:
        api = win.toggle("IB API") or win.toggle("TWS/API")
        if api is not None and not api.selected:
            await inst.click(win, api)
        elif api is None and cfg.product == "gateway":
            inst.log.warning("login frame has no 'IB API' toggle; going on")
        if win.label_containing("Trading Mode") is not None or cfg.product == "tws":
            mode_text = "Live Trading" if cfg.mode == "live" else "Paper Trading"
            toggle = win.toggle(mode_text)
            if toggle is None:
                inst.alert(Alert.LOGIN_FAILED, f"login frame has no {mode_text!r} toggle", title=win.title)
            else:
                await inst.click(win, toggle)
        fresh = await inst.refresh(win) or win
        fields = fresh.text_fields()
        if len(fields) < 2:
            inst.alert(Alert.LOGIN_FAILED, "cannot find the user name and password fields", title=win.title)
            return
        await inst.set_text(fresh, fields[0], cfg.username)
        await inst.set_text(fresh, fields[1], cfg.password, secret=True)
        button = first_button(fresh, LOGIN_BUTTONS)
        if button is None:
            inst.alert(Alert.LOGIN_FAILED, "cannot find the Log In button", title=win.title)
            return
        inst.flow_state["login_submitted_at"] = time.monotonic()
        inst.log.info("login submitted: user=%s mode=%s button=%r", cfg.username, cfg.mode, button.text)
        await inst.click(fresh, button)
        inst.fire(Event.LOGIN_SUBMITTED)
    finally:
        inst.flow_state["login_busy"] = False


async def relogin_from_frame(inst: Instance, why: str) -> None:
    frame = inst.find_window(lambda w: (s := inst.known.get(w.handle)) is not None and s.name.startswith("login_"))
    if frame is None:
        inst.log.warning("%s, but no login frame is showing", why)
        return
    inst.log.info("%s: logging in again", why)
    fresh = await inst.refresh(frame)
    if fresh is not None:
        await submit_login(inst, fresh)


async def login_failed(inst: Instance, win: Window, event: str) -> None:
    inst.login_failures += 1
    give_up = inst.login_failures >= inst.cfg.max_login_failures
    delay = 30.0 * inst.login_failures
    # Set before OK is clicked: OK brings the login frame back, and its flow must see the pending retry.
    inst.flow_state["retry_at"] = time.monotonic() + (1e9 if give_up else delay)
    text = "; ".join(win.texts()[:4])
    inst.alert(Alert.LOGIN_FAILED, "Gateway refused the login", detail=text, failures=inst.login_failures)
    await click_first(inst, win, ("OK", "Close"))
    inst.fire(Event.LOGIN_FAILED)
    if give_up:
        from ibpilot.controller.instance import EXIT_GAVE_UP, Outcome

        inst.alert(Alert.GIVING_UP, "credentials refused too often; not retrying (avoids an account lock-out)",
                   failures=inst.login_failures)
        raise Outcome("login refused", restart=False, code=EXIT_GAVE_UP)
    inst.log.info("retrying the login in %.0fs (failure %d of %d allowed)", delay, inst.login_failures,
                  inst.cfg.max_login_failures)
    await asyncio.sleep(delay)
    inst.flow_state.pop("retry_at", None)
    await relogin_from_frame(inst, "after a refused login")


# ------------------------------------------------------------------------------------- second factor
async def second_factor(inst: Instance, win: Window, event: str) -> None:
    cfg = inst.cfg
    st = inst.flow_state
    if event == "closed":
        started = st.get("login_submitted_at") or time.monotonic()
        took = time.monotonic() - started
        inst.log.info("second factor dialog closed %.0fs after Log In", took)
        inst.fire(Event.SECOND_FACTOR_DONE)
        st.pop("tfa_pending", None)
        if took >= cfg.twofa_timeout_s:
            # Gateway brings the login frame back; its flow must not log in by itself (IBC §5.1 decides).
            again = cfg.relogin_after_twofa_timeout
            st["retry_at"] = time.monotonic() + (5.0 if again else 1e9)
            inst.alert(Alert.TWOFA_TIMEOUT, "second factor not completed in time", seconds=int(took),
                       next="re-login in 5s" if again else cfg.twofa_timeout_action)
            if again:
                await asyncio.sleep(5)
                st.pop("retry_at", None)
                st.pop("tfa_started", None)
                await relogin_from_frame(inst, "second factor timed out")
                return
        inst.spawn(_twofa_exit_timer(inst), "2fa-exit-timer")
        return
    if st.get("tfa_started") is None:
        st["tfa_started"] = time.monotonic()
        inst.fire(Event.SECOND_FACTOR)
    if has_text(win, "Select second factor device"):
        lists = win.of_type("JList")
        if not lists:
            inst.alert(Alert.TWOFA_FAILED, "device chooser without a list", title=win.title)
            return
        items = list(lists[0].items or ())
        idx = tfa.choose_device(items, cfg.twofa_device, bool(cfg.totp_secret))
        if idx is None:
            inst.alert(Alert.TWOFA_FAILED, "no matching second factor device: set TWOFA_DEVICE",
                       devices="|".join(i.strip() for i in items), wanted=cfg.twofa_device)
            return
        if st.get("tfa_device_chosen") == win.handle:
            return
        st["tfa_device_chosen"] = win.handle
        inst.log.info("choosing second factor device %r", items[idx].strip())
        await inst.act("select", window=win.handle, path=list(lists[0].path), index=idx)
        await click_first(inst, win, ("OK",))
        return
    fields = [f for f in win.text_fields() if f.enabled and f.editable is not False]
    if fields:
        if not cfg.totp_secret:
            if not st.get("tfa_no_secret"):
                st["tfa_no_secret"] = True
                inst.alert(Alert.TWOFA_FAILED, "Gateway asks for a second factor code but TWOFACTOR_CODE is not set;"
                           " enter it through VNC")
            return
        if st.get("tfa_busy"):
            return
        st["tfa_busy"] = True
        try:
            code, wait = tfa.totp_code(cfg.totp_secret)
            if wait:
                inst.log.info("waiting %.1fs for a fresh TOTP code", wait)
                await asyncio.sleep(wait)
                code, _ = tfa.totp_code(cfg.totp_secret)
            if st.get("tfa_last_code") == code:
                return  # already sent this one (dialog re-rendered); the next step gives a new code
            st["tfa_last_code"] = code
            fresh = await inst.refresh(win) or win
            fields = [f for f in fresh.text_fields() if f.enabled and f.editable is not False]
            if not fields:
                return
            await inst.set_text(fresh, fields[0], code, secret=True)
            ok = first_button(fresh, ("OK", "Submit", "Continue"))
            if ok is not None:
                inst.log.info("second factor: TOTP code entered")
                await inst.click(fresh, ok)
        finally:
            st["tfa_busy"] = False
        return
    if not st.get("tfa_pending"):
        st["tfa_pending"] = True
        inst.alert(Alert.TWOFA_PENDING, "approve the login on your phone (IB Key notification)",
                   timeout_s=int(cfg.twofa_timeout_s))
        inst.spawn(_twofa_progress(inst), "2fa-progress")


async def _twofa_progress(inst: Instance) -> None:
    t0 = time.monotonic()
    while inst.flow_state.get("tfa_pending"):
        await asyncio.sleep(15)
        if inst.flow_state.get("tfa_pending"):
            inst.log.info("still waiting for the phone approval (%.0fs of %.0fs)", time.monotonic() - t0,
                          inst.cfg.twofa_timeout_s)


async def _twofa_exit_timer(inst: Instance) -> None:
    cfg = inst.cfg
    await asyncio.sleep(cfg.twofa_exit_interval_s)
    if inst.login_complete or inst.state in (State.SECOND_FACTOR,):
        return
    from ibpilot.controller.instance import EXIT_TWOFA, Outcome

    inst.alert(Alert.TWOFA_TIMEOUT, "login not completed after the second factor",
               seconds=int(cfg.twofa_exit_interval_s), action=cfg.twofa_timeout_action)
    if cfg.twofa_timeout_action == "exit":
        raise Outcome("second factor: login not completed", restart=False, code=EXIT_TWOFA)
    if cfg.twofa_timeout_action == "restart":
        raise Outcome("second factor: login not completed")


# ----------------------------------------------------------------------------------------- dialogs
async def existing_session(inst: Instance, win: Window, event: str) -> None:
    action = inst.cfg.existing_session_action
    seen = inst.flow_state.get("existing_seen", 0) + 1
    inst.flow_state["existing_seen"] = seen
    history: list[float] = inst.flow_state.setdefault("existing_times", [])
    history.append(time.monotonic())
    recent = [t for t in history if time.monotonic() - t < 600]
    history[:] = recent  # only the last 10 minutes matter (and the list stays small for months)
    inst.alert(Alert.EXISTING_SESSION, "another session for this user", action=action,
               during_login=not inst.login_complete, occurrences=len(recent))
    cont = first_button(win, ("OK", "Continue Login", "Reconnect This Session"))
    end = first_button(win, ("Cancel", "Exit Application"))
    if action == "manual":
        return
    if len(recent) > 3 and action in ("primary", "primaryoverride"):
        inst.log.warning("existing session: %d kick-outs in 10 min; stopping the ping-pong (choosing End)",
                         len(recent))
        choice = end
    elif action == "secondary":
        choice = end
    elif not inst.login_complete:
        choice = cont if seen == 1 else end
    else:
        choice = cont if action == "primary" else end
    if choice is None:
        return
    if inst.login_complete and choice is cont:
        # taking the session back: Gateway logs in again, the API is down meanwhile
        inst.login_complete = False
        inst.fire(Event.RELOGIN_REQUIRED)
    await inst.click(win, choice)


async def relogin(inst: Instance, win: Window, event: str) -> None:
    inst.alert(Alert.RELOGIN, "Gateway asks for a re-login")
    inst.login_complete = False
    inst.fire(Event.RELOGIN_REQUIRED)
    button = first_button(win, ("Re-login", "Relogin", "OK"))
    if button is not None:
        inst.flow_state["login_submitted_at"] = time.monotonic()
        await inst.click(win, button)


async def handoff(inst: Instance, win: Window, event: str) -> None:
    if inst.cfg.existing_session_action == "primary":
        await click_first(inst, win, ("Disconnect Other Session",))


async def password_notice(inst: Instance, win: Window, event: str) -> None:
    text = " ".join(win.texts())
    m = re.search(r"(\d+)\s+day", text)
    inst.alert(Alert.PASSWORD_EXPIRY, "IBKR password expires soon: change it in Client Portal",
               days_left=m.group(1) if m else "?")
    if not inst.cfg.dismiss_password_notice:
        inst.log.info("password notice left on screen (DISMISS_PASSWORD_EXPIRY_WARNING=no)")
        return
    await click_first(inst, win, ("OK", "Close"))


async def paper_warning(inst: Instance, win: Window, event: str) -> None:
    if not inst.cfg.accept_paper_warning:
        inst.log.warning("paper-account warning left on screen (ACCEPT_NON_BROKERAGE_WARNING=no): the API will "
                         "not answer until someone accepts it")
        return
    await click_first(inst, win, ("I understand and accept",))


async def blind_trading(inst: Instance, win: Window, event: str) -> None:
    """Orders for instruments without market data (IBC's AllowBlindTrading)."""
    if not inst.cfg.allow_blind_trading:
        inst.log.info("blind-trading warning left for a person (ALLOW_BLIND_TRADING=no)")
        return
    await click_first(inst, win, ("Override and Transmit", "Yes"))


async def accept_incoming(inst: Instance, win: Window, event: str) -> None:
    action = inst.cfg.accept_incoming
    inst.log.info("incoming API connection prompt (%s): %s", action, "; ".join(win.texts()[:2]))
    if action != "manual":
        await click_first(inst, win, ("OK", "Yes") if action == "accept" else ("No",))


async def gateway_dialog(inst: Instance, win: Window, event: str) -> None:
    texts = win.texts()
    inst.log.info("Gateway dialog %r: %s", win.title, " | ".join(texts))
    if await apply_rules(inst, win):  # a user's DIALOG_RULES entry is more specific than this catch-all
        return
    if any(t.startswith("Connection to server failed") for t in texts):
        inst.alert(Alert.LOGIN_STALLED, "connection to server failed", detail=texts[0][:200])
        await click_first(inst, win, ("OK",))
    # anything else (the login progress box): leave it; its OK would cancel the login


async def exit_confirm(inst: Instance, win: Window, event: str) -> None:
    if inst.state in (State.STOPPING,):
        await click_first(inst, win, ("Yes", "OK"))
    else:
        inst.log.warning("exit confirmation shown while not stopping; leaving it")


async def apply_rules(inst: Instance, win: Window) -> bool:
    """The first DIALOG_RULES entry matching the window clicks its button; True if one did."""
    texts = "\n".join(win.texts())
    for rule in inst.cfg.dialog_rules:
        if rule.matches(win.title or "", texts):
            b = first_button(win, (rule.button,))
            if b is not None:
                inst.log.info("dialog rule %r matched %s", rule, win.describe())
                await inst.click(win, b)
                return True
    return False


async def unknown_window(inst: Instance, win: Window) -> None:
    texts = win.texts()
    if await apply_rules(inst, win):
        return
    allowed = (*DISCLAIMER_BUTTONS, *inst.cfg.bypass_warning)
    b = first_button(win, allowed)
    if b is not None and win.kind == "dialog":
        inst.log.info("disclaimer %s: accepting with %r", win.describe(), b.text)
        await inst.click(win, b)
        return
    if win.kind == "window" and not win.title and not texts:
        return  # popups, tooltips, shared owner frames
    key = f"{win.kind}|{win.title}|{'|'.join(texts[:5])}"
    if key in inst.unknown_logged:
        return
    inst.unknown_logged.add(key)
    inst.alert(Alert.UNKNOWN_WINDOW, "a window no rule knows (add a DIALOG_RULES entry to handle it)",
               title=win.title or "", kind=win.kind)
    inst.log.warning("structure of the unknown window:\n%s", structure(win))


# ------------------------------------------------------------------------------------------- notes
def note(inst: Instance, name: str, win: Window, event: str) -> None:
    if name == "main_window":
        inst.flow_state["main_window"] = win.handle
        if inst.cfg.product == "tws" and not inst.login_complete:
            _login_complete(inst, "TWS main window opened")
    elif name == "restart_progress":
        inst.log.info("Gateway's daily auto-restart has begun: it will exit and be relaunched without a login")
    elif name == "splash" and event == "closed" and inst.cfg.product == "gateway" and not inst.login_complete:
        _login_complete(inst, "'Starting application...' closed")


def _login_complete(inst: Instance, why: str) -> None:
    inst.login_complete = True
    inst.login_failures = 0
    since = inst.flow_state.get("login_submitted_at")
    took = f" {time.monotonic() - since:.1f}s after Log In" if since else ""
    inst.log.info("login complete (%s)%s", why, took)
    inst.fire(Event.LOGIN_COMPLETE)
    inst.start_configuration()
