"""Wall-clock actions (local time): COLD_RESTART_TIME (Sundays), CLOSEDOWN_AT, SAVE_TWS_SETTINGS."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from ibpilot.agent.bridge import AgentError
from ibpilot.controller import schedule
from ibpilot.controller.config import ControllerConfig
from ibpilot.controller.context import Ctx
from ibpilot.controller.outcome import Outcome


def next_timed(cfg: ControllerConfig, now: datetime) -> tuple[datetime, str] | None:
    due: list[tuple[datetime, str]] = []
    if cfg.s.cold_restart_time is not None:
        due.append((schedule.next_weekly(now, cfg.s.cold_restart_time, "Sunday"), "cold_restart"))
    if cfg.closedown_at is not None:
        at, day = cfg.closedown_at
        due.append((schedule.next_weekly(now, at, day) if day else schedule.next_daily(now, at), "closedown"))
    if cfg.s.save_tws_settings:
        due.append((schedule.SaveSchedule.parse(cfg.s.save_tws_settings).next_after(now), "save_settings"))
    return min(due) if due else None


async def timed_actions(ctx: Ctx) -> None:
    while True:
        nxt = next_timed(ctx.cfg, datetime.now())
        if nxt is None:
            return
        when, what = nxt
        ctx.log.info("next timed action: %s at %s", what, when.strftime("%a %Y-%m-%d %H:%M"))
        while (left := (when - datetime.now()).total_seconds()) > 0:
            await asyncio.sleep(min(left, 30.0))  # re-read the clock: suspend, DST, NTP steps
        if what == "closedown":
            ctx.log.info("CLOSEDOWN_AT reached: logging out and stopping")
            ctx.request_stop()
            return
        if what == "cold_restart":
            ctx.log.info("COLD_RESTART_TIME reached: restarting Gateway with a fresh login")
            for token in ctx.cfg.settings_dir.glob("*/autorestart"):
                token.unlink(missing_ok=True)
            raise Outcome("cold restart (COLD_RESTART_TIME)")
        main = ctx.window_named("main_window")
        if main is not None and ctx.login_complete:
            ctx.log.info("SAVE_TWS_SETTINGS: File > Save Settings")
            with contextlib.suppress(AgentError):
                await ctx.act("menu", window=main.handle, items=["File", "Save Settings"])
        await asyncio.sleep(1.0)
