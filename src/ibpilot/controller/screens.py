"""The vocabulary of the screen table (`controller/table.py`): a `Screen` recognises one kind of window, and
its action says what to do: `Click` buttons, run a `Flow`, or only `Note` it.

Recognisers use only what the real Gateway shows: window type and title, label and button texts,
component types and order, menu paths (shared/gateway-ui.md). Actions hold their handler by reference,
so a wrong name fails at import and "what happens when X appears" is one hop from the table.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ibpilot.agent.model import Window
from ibpilot.controller.context import Ctx
from ibpilot.controller.ui import first_button, has_text

WinKind = Literal["frame", "dialog", "any"]
WindowEvent = Literal["opened", "changed", "closed"]


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


FlowHandler = Callable[[Ctx, Window, WindowEvent], Coroutine[Any, Any, None]]
NoteHandler = Callable[[Ctx, Window, WindowEvent], None]


@dataclass(frozen=True)
class Flow:
    """Run this async flow (login, second factor, ...) as a task of the instance."""

    handler: FlowHandler

    @property
    def name(self) -> str:
        return self.handler.__name__


@dataclass(frozen=True)
class Note:
    """Tell the instance at once, synchronously (the main window appeared, the splash closed); None: only known."""

    handler: NoteHandler | None = None


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
    # its "closed" also counts when the window closed before it was ever seen open (matched by title alone)
    closed_unseen: bool = False
    action: Action = field(default=Note())

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


def recognise(w: Window, screens: Sequence[Screen]) -> Screen | None:
    """The first screen of `screens` that matches (first match wins, as IBC's handler order)."""
    return next((s for s in screens if s.matches(w)), None)
