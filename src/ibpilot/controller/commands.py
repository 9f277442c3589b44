"""The IBC commands, done on Gateway/TWS as IBC does them (gateway-ui.md §3): the command server's target.

- STOP: a clean logout (File > Close, TWS File > Exit, "Yes" to the exit question); the controller exits 0.
- RESTART: TWS has File > Restart... (its confirmation gets "Yes"). Gateway has none: as IBC, set Lock and
  Exit's "Auto restart" time to the next whole minute; Gateway then does its daily auto-restart then and
  logs itself back in (no second factor). IBC takes the next minute unless the second is >= 58; ibpilot
  reads the value back first, so it takes the minute after from second 50 on.
- RECONNECTACCOUNT / RECONNECTDATA: Ctrl+Alt+R / Ctrl+Alt+F dispatched to the main window; the "simulate
  reconnect" confirmation is answered by the screen table.
- ENABLEAPI (TWS): tick "Enable ActiveX and Socket Clients" in the configuration, read back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from ibpilot.agent.bridge import AgentError
from ibpilot.controller import api_settings
from ibpilot.controller.api_settings import Wanted
from ibpilot.controller.context import Ctx
from ibpilot.serve.commands import CommandError


class CommandCtx(Ctx, Protocol):
    def status(self) -> dict[str, Any]: ...


def next_restart_minute(now: datetime, margin_s: int = 50) -> datetime:
    """The next whole minute, or the one after when fewer than 60 - margin_s seconds are left."""
    nxt = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return nxt + timedelta(minutes=1) if now.second >= margin_s else nxt


class InstanceCommands:
    """`serve.commands.CommandTarget` for one controller."""

    def __init__(self, ctx: CommandCtx) -> None:
        self.ctx = ctx

    @property
    def fix(self) -> bool:
        """FIX=yes: the FIX CTCI gateway (RESTART, PAUSE, RECONNECT* are refused as IBC does)."""
        return self.ctx.cfg.fix

    @property
    def product(self) -> str:
        return self.ctx.cfg.product

    @property
    def logged_in(self) -> bool:
        return self.ctx.login_complete and self.ctx.window_named("main_window") is not None

    def status(self) -> dict[str, Any]:
        return self.ctx.status()

    def _main(self, cmd: str) -> str:
        main = self.ctx.window_named("main_window")
        if main is None or not self.ctx.login_complete:
            raise CommandError(f"{cmd}: not logged in (main window not known)")
        return main.handle

    async def stop(self) -> None:
        self.ctx.log.info("STOP command: logging out and stopping")
        self.ctx.request_stop()

    async def restart(self) -> str:
        ctx = self.ctx
        main = self._main("RESTART")
        if ctx.cfg.product == "tws":
            ctx.log.info("RESTART command: File > Restart...")
            try:
                await ctx.act("menu", window=main, items=["File", "Restart..."])
            except AgentError as exc:
                raise CommandError(f"RESTART: File > Restart... failed: {exc}") from None
            return "in progress"
        at = next_restart_minute(datetime.now())
        hhmm, ampm = at.strftime("%I:%M"), at.strftime("%p")
        ctx.log.info("RESTART command: Gateway's auto-restart set to %s %s", hhmm, ampm)
        try:
            _, bad = await api_settings.apply_and_verify(
                ctx, [Wanted("lock_and_exit", ("Lock and Exit",), (hhmm, ampm, "Auto restart"))])
        except (AgentError, TimeoutError, RuntimeError) as exc:
            raise CommandError(f"RESTART: cannot set the auto-restart time: {exc}") from None
        if bad:
            raise CommandError("RESTART: Gateway did not keep the auto-restart time (its Lock and Exit may offer "
                               "auto logoff only)")
        return f"at {hhmm} {ampm}"

    async def _reconnect(self, cmd: str, key: str) -> None:
        main = self._main(cmd)
        self.ctx.log.info("%s command: Ctrl+Alt+%s to the main window", cmd, key)
        try:
            await self.ctx.act("key", window=main, key=key, modifiers=["ctrl", "alt"], target="window")
        except AgentError as exc:
            raise CommandError(f"{cmd}: {exc}") from None

    async def reconnect_account(self) -> None:
        await self._reconnect("RECONNECTACCOUNT", "R")

    async def reconnect_data(self) -> None:
        await self._reconnect("RECONNECTDATA", "F")

    async def enable_api(self) -> str:
        self._main("ENABLEAPI")
        item = Wanted("enable_api", ("API", "Settings"), True)
        try:
            now = (await api_settings.read_values(self.ctx, [item]))["enable_api"]
            if now is None:
                raise CommandError("could not find Enable ActiveX checkbox")
            if now is True:
                return "already configured"
            _, bad = await api_settings.apply_and_verify(self.ctx, [item])
        except (AgentError, TimeoutError, RuntimeError) as exc:
            raise CommandError(f"could not find Enable ActiveX checkbox ({exc})") from None
        if bad:
            raise CommandError("could not find Enable ActiveX checkbox")
        return "configured"
