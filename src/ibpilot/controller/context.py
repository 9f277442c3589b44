"""What a flow, a screen action or a watcher may use of the controller: `Ctx`, implemented by `Instance`.

Flows and watchers are typed against this protocol, never against `Instance`, so the import graph of
`controller/` stays one-way: instance -> table -> flows -> context (a unit test walks it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from ibpilot.agent.model import Component, Window
from ibpilot.controller.config import ControllerConfig
from ibpilot.controller.flowstate import SessionFlows
from ibpilot.controller.machine import Event, State
from ibpilot.controller.observer import Observer
from ibpilot.serve.alerts import Alert


class Ctx(Protocol):
    cfg: ControllerConfig
    log: logging.Logger
    state: State
    flow: SessionFlows  # this JVM session's flow records
    windows: dict[str, Window]  # showing windows by handle
    login_complete: bool
    login_failures: int  # refused logins in a row (reset when a login completes)

    @property
    def restart_mode(self) -> bool:
        """This JVM was started by Gateway's auto-restart: it logs itself in."""
        ...

    unknown_logged: set[str]
    observer: Observer  # metrics and alert delivery hear of logins, second factors, ...

    # state and reporting
    def fire(self, event: Event) -> None: ...

    def alert(self, alert: Alert, msg: str, **fields: object) -> None: ...

    def note(self, what: str, win: Window) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]: ...

    # acting on Gateway through the agent
    async def act(self, op: str, **args: Any) -> Any: ...

    async def click(self, win: Window, comp: Component) -> bool: ...

    async def set_text(self, win: Window, comp: Component, text: str, secret: bool = False) -> None: ...

    async def refresh(self, win: Window) -> Window | None: ...

    # finding windows
    async def wait_window(self, pred: Callable[[Window], bool], timeout: float, what: str) -> Window: ...

    def find_window(self, pred: Callable[[Window], bool]) -> Window | None: ...

    def screen_name(self, handle: str) -> str | None:
        """The name of the screen a showing window was recognised as (None: not recognised)."""
        ...

    def window_named(self, prefix: str) -> Window | None:
        """A showing window recognised as a screen whose name starts with `prefix` (e.g. "main_window")."""
        ...

    # what the flows start
    def start_configuration(self) -> None: ...

    def request_stop(self) -> None: ...
