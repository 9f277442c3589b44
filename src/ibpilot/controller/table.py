"""Which window is which, and what to do with it: one table, first match wins (IBC's order, §2.2).

A simple pop-up is one line of data (`Screen(..., action=Click("Close"))`); the real flows (login,
second factor, existing session, configuration) are async functions in `controller/flows/`, referenced
here directly: "what happens when the existing-session dialog appears" is one hop from its row.
"""

from __future__ import annotations

from collections.abc import Sequence

from ibpilot.agent.model import Window
from ibpilot.controller.flows import dialogs, login, notices, twofa
from ibpilot.controller.screens import Click, Flow, Note, Screen, WindowEvent
from ibpilot.controller.screens import recognise as _recognise
from ibpilot.controller.texts import LOGIN_BUTTONS, SECOND_FACTOR_TITLES

OPENED_OR_CHANGED: frozenset[WindowEvent] = frozenset({"opened", "changed"})


SCREENS: tuple[Screen, ...] = (
    Screen("accept_incoming", "dialog", texts=("Accept incoming connection",), action=Flow(dialogs.accept_incoming)),
    Screen("blind_trading", "dialog", title_contains=("Order Preview",), texts=("blind trading",),
           action=Flow(dialogs.blind_trading)),
    Screen("blind_trading_confirm", "dialog", texts=("blind trading", "Are you sure you want to submit this order?"),
           action=Flow(dialogs.blind_trading)),
    # TWS 1016+ turns its login frame into the second factor panel (gateway-ui.md §2.3): before login_tws
    Screen("second_factor_in_frame", "frame", title_equals=("Login", "New Login"), texts=SECOND_FACTOR_TITLES[:1],
           on=frozenset({"opened", "changed", "closed"}), action=Flow(twofa.second_factor)),
    Screen("login_tws", "frame", title_equals=("Login", "New Login"), buttons=LOGIN_BUTTONS, action=Flow(login.login)),
    Screen(
        "login_gateway",
        "frame",
        title_contains=("IBKR Gateway", "IB Gateway", "Interactive Brokers Gateway"),
        buttons=LOGIN_BUTTONS,
        action=Flow(login.login),
    ),
    Screen("main_window_tws", "frame", menus=(("File", "Lock Application"),), action=Note(login.main_window)),
    Screen(
        "main_window_gateway",
        "frame",
        menus=(("Help", "About IB Gateway"), ("Help", "About Gateway")),
        on=OPENED_OR_CHANGED,
        action=Note(login.main_window),
    ),
    Screen("newer_version", "any", texts=("Newer Version",), action=Click("OK", "No")),
    Screen("not_currently_available", "dialog", title_contains=("Login",), texts=("not currently available",),
           action=Flow(notices.not_available)),
    Screen("tip_of_the_day", "dialog", title_contains=("Tip of the Day",), action=Click("Close")),
    Screen("nse_compliance", "frame", title_contains=("NSE Compliance",), action=Flow(notices.nse_compliance)),
    Screen("password_notice", "frame", title_contains=("Password Notice",), action=Flow(dialogs.password_notice)),
    Screen("config_dialog", "dialog", title_contains=("Configuration",), on=frozenset(), action=Note()),
    Screen("trades", "frame", title_contains=("Trades",), on=frozenset({"opened", "closed"}),
           action=Flow(notices.trades)),
    Screen("existing_session", "dialog", title_contains=("Existing session detected",),
           action=Flow(dialogs.existing_session)),
    Screen("api_port_change", "dialog", texts=("apply the new socket port setting",), action=Click("Yes")),
    Screen("splash", "frame", title_contains=("Starting application...",), on=frozenset({"opened", "closed"}),
           closed_unseen=True, action=Note(login.splash)),
    Screen("second_factor", "any", title_contains=SECOND_FACTOR_TITLES, on=frozenset({"opened", "changed", "closed"}),
           action=Flow(twofa.second_factor)),
    Screen("relogin", "dialog", title_contains=("Re-login is required",), action=Flow(dialogs.relogin)),
    Screen("paper_warning", "dialog", texts=("This is not a brokerage account",), action=Flow(dialogs.paper_warning)),
    Screen("exit_confirm", "dialog", texts=("Are you sure you want to exit?",), action=Flow(dialogs.exit_confirm)),
    Screen("trading_handoff", "dialog", title_contains=("Trading Login Handoff",), action=Flow(notices.handoff)),
    Screen("login_failed", "dialog", title_contains=("Login failed",), action=Flow(login.login_failed)),
    Screen("too_many_attempts", "dialog", texts=("Too many failed login attempts",),
           action=Flow(notices.too_many_attempts)),
    Screen("shutdown_progress", "dialog", title_contains=("Shutdown progress",),
           action=Note(notices.shutdown_progress)),
    Screen("bid_ask_update", "dialog", texts=("Bid, Ask and Last Size Display Update",),
           action=Flow(notices.bid_ask_update)),
    Screen("login_error", "dialog", title_contains=("Login Error",), action=Flow(notices.login_error)),
    Screen("crypto_order", "dialog", title_contains=("Cryptocurrency order confirmation",),
           action=Flow(notices.crypto_order)),
    Screen("restart_confirm", "dialog", texts=("Are you sure you would like to restart the application",),
           action=Click("Yes")),
    # Gateway's daily auto-restart announces itself (IbcAlpha/IBC#221 log), then exits; the JVM watcher relaunches.
    Screen("restart_progress", "dialog", title_contains=("Restart in progress",), action=Note(login.restart_progress)),
    Screen("order_id_reset", "dialog", texts=("Are you sure you want to reset API order ID sequence?",),
           action=Flow(notices.order_id_reset)),
    Screen("reconnect_confirm", "dialog", texts=('Are you sure you want to execute "simulate',), action=Click("OK")),
    # Catch-all for Gateway's own dialogs (progress box, trusted-IP prompts): log, never a bare OK.
    Screen("gateway_dialog", "dialog", title_contains=("Gateway",), action=Flow(dialogs.gateway_dialog)),
    # Windows that are only steps of the login: known, nothing to do.
    Screen("progress", "frame", title_contains=("Connecting to server", "Authenticating", "Downloading settings",
                                                 "Loading..."), on=frozenset(), action=Note()),
)

# Buttons that accept a disclaimer; `BYPASS_WARNING` adds to it. A bare "OK" is never one of them.
DISCLAIMER_BUTTONS = ("I understand and accept", "I Accept", "Acknowledge", "Accept and Continue", "I agree")


def recognise(w: Window, screens: Sequence[Screen] = SCREENS) -> Screen | None:
    return _recognise(w, screens)
