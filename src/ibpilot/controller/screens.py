"""Which window is which, and what to do with it: one table, first match wins (IBC's order, §2.2).

A simple pop-up is one line of data (`Screen(..., action=Click("Close"))`); the real flows (login,
second factor, existing session, configuration) are async functions in their own modules, named here
by `Flow("login")`. Recognisers use only what the real Gateway shows: window type and title, label and
button texts, component types and order, menu paths (shared/gateway-ui.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ibpilot.agent.model import Component, Window
from ibpilot.controller.config import ControllerConfig
from ibpilot.controller.ui import first_button, has_text

WinKind = Literal["frame", "dialog", "any"]
WindowEvent = Literal["opened", "changed", "closed"]


class Ctx(Protocol):
    """What an action may use: the controller instance, seen narrowly."""

    cfg: ControllerConfig

    async def click(self, win: Window, comp: Component) -> bool: ...

    async def act(self, op: str, **args: Any) -> Any: ...

    def note(self, what: str, win: Window) -> None: ...


@dataclass(frozen=True)
class Click:
    """Click the first of these buttons that exists."""

    buttons: tuple[str, ...]

    def __init__(self, *buttons: str) -> None:
        object.__setattr__(self, "buttons", buttons)

    async def __call__(self, ctx: Ctx, win: Window) -> bool:
        b = first_button(win, self.buttons)
        if b is None:
            ctx.note(f"none of the buttons {list(self.buttons)} found", win)
            return False
        return await ctx.click(win, b)


@dataclass(frozen=True)
class Flow:
    """A named flow implemented by the instance (login, second_factor, ...)."""

    name: str


@dataclass(frozen=True)
class Note:
    """Only tell the instance (e.g. the main window appeared, the splash closed)."""

    name: str


Action = Click | Flow | Note


@dataclass(frozen=True)
class Screen:
    name: str
    kind: WinKind = "any"
    title_contains: tuple[str, ...] = ()  # any of
    title_equals: tuple[str, ...] = ()  # any of
    texts: tuple[str, ...] = ()  # all of: a label / text area containing each
    buttons: tuple[str, ...] = ()  # any of
    menus: tuple[tuple[str, ...], ...] = ()  # any of these menu paths exists
    check: Callable[[Window], bool] | None = None
    on: frozenset[WindowEvent] = frozenset({"opened"})
    action: Action = field(default=Note("seen"))

    def matches(self, w: Window) -> bool:
        if self.kind == "frame" and not w.is_frame:
            return False
        if self.kind == "dialog" and not w.is_dialog:
            return False
        if self.title_contains and not any(w.title_contains(t) for t in self.title_contains):
            return False
        if self.title_equals and not any(w.title_equals(t) for t in self.title_equals):
            return False
        if any(not has_text(w, t) for t in self.texts):
            return False
        if self.buttons and first_button(w, self.buttons) is None:
            return False
        if self.menus and not any(w.has_menu(p) for p in self.menus):
            return False
        return self.check is None or self.check(w)


LOGIN_BUTTONS = ("Login", "Log In", "Paper Log In")
SECOND_FACTOR_TITLES = ("Second Factor Authentication", "Security Code Card Authentication")
OPENED_OR_CHANGED: frozenset[WindowEvent] = frozenset({"opened", "changed"})


SCREENS: tuple[Screen, ...] = (
    Screen("accept_incoming", "dialog", texts=("Accept incoming connection",), action=Flow("accept_incoming")),
    Screen("blind_trading", "dialog", title_contains=("Order Preview",), texts=("blind trading",),
           action=Flow("blind_trading")),
    Screen("blind_trading_confirm", "dialog", texts=("blind trading", "Are you sure you want to submit this order?"),
           action=Flow("blind_trading")),
    Screen("login_tws", "frame", title_equals=("Login", "New Login"), buttons=LOGIN_BUTTONS, action=Flow("login")),
    Screen(
        "login_gateway",
        "frame",
        title_contains=("IBKR Gateway", "IB Gateway", "Interactive Brokers Gateway"),
        buttons=LOGIN_BUTTONS,
        action=Flow("login"),
    ),
    Screen("main_window_tws", "frame", menus=(("File", "Lock Application"),), action=Note("main_window")),
    Screen(
        "main_window_gateway",
        "frame",
        menus=(("Help", "About IB Gateway"), ("Help", "About Gateway")),
        on=OPENED_OR_CHANGED,
        action=Note("main_window"),
    ),
    Screen("newer_version", "any", texts=("Newer Version",), action=Click("OK", "No")),
    Screen("tip_of_the_day", "dialog", title_contains=("Tip of the Day",), action=Click("Close")),
    Screen("nse_compliance", "frame", title_contains=("NSE Compliance",), action=Click("OK", "Close")),
    Screen("password_notice", "frame", title_contains=("Password Notice",), action=Flow("password_notice")),
    Screen("config_dialog", "dialog", title_contains=("Configuration",), on=frozenset(), action=Note("config")),
    Screen("existing_session", "dialog", title_contains=("Existing session detected",),
           action=Flow("existing_session")),
    Screen("api_port_change", "dialog", texts=("apply the new socket port setting",), action=Click("Yes")),
    Screen("splash", "frame", title_contains=("Starting application...",), on=frozenset({"opened", "closed"}),
           action=Note("splash")),
    Screen("second_factor", "any", title_contains=SECOND_FACTOR_TITLES, on=frozenset({"opened", "changed", "closed"}),
           action=Flow("second_factor")),
    Screen("relogin", "dialog", title_contains=("Re-login is required",), action=Flow("relogin")),
    Screen("paper_warning", "dialog", texts=("This is not a brokerage account",), action=Flow("paper_warning")),
    Screen("exit_confirm", "dialog", texts=("Are you sure you want to exit?",), action=Flow("exit_confirm")),
    Screen("trading_handoff", "dialog", title_contains=("Trading Login Handoff",), action=Flow("handoff")),
    Screen("login_failed", "dialog", title_contains=("Login failed",), action=Flow("login_failed")),
    Screen("too_many_attempts", "dialog", texts=("Too many failed login attempts",), action=Flow("login_failed")),
    Screen("bid_ask_update", "dialog", texts=("Bid, Ask and Last Size Display Update",),
           action=Click("I understand - display market data")),
    Screen("login_error", "dialog", title_contains=("Login Error",), action=Flow("login_failed")),
    Screen("restart_confirm", "dialog", texts=("Are you sure you would like to restart the application",),
           action=Click("Yes")),
    # Gateway's daily auto-restart announces itself (IbcAlpha/IBC#221 log), then exits; the JVM watcher relaunches.
    Screen("restart_progress", "dialog", title_contains=("Restart in progress",), action=Note("restart_progress")),
    Screen("reconnect_confirm", "dialog", texts=('Are you sure you want to execute "simulate',), action=Click("OK")),
    # Catch-all for Gateway's own dialogs (progress box, trusted-IP prompts): log, never a bare OK.
    Screen("gateway_dialog", "dialog", title_contains=("Gateway",), action=Flow("gateway_dialog")),
    # Windows that are only steps of the login: known, nothing to do.
    Screen("progress", "frame", title_contains=("Connecting to server", "Authenticating", "Downloading settings",
                                                 "Loading..."), on=frozenset(), action=Note("progress")),
)

# Buttons that accept a disclaimer; `BYPASS_WARNING` adds to it. A bare "OK" is never one of them.
DISCLAIMER_BUTTONS = ("I understand and accept", "I Accept", "Acknowledge", "Accept and Continue", "I agree")


def recognise(w: Window, screens: Sequence[Screen] = SCREENS) -> Screen | None:
    return next((s for s in screens if s.matches(w)), None)


Handler = Callable[[Ctx, Window], Awaitable[bool]]
