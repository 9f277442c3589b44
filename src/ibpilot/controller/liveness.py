"""Readiness and liveness: the API watch (READY only on positive evidence), the login-progress deadlines,
and the UI safety poll (missed window events, a blocked event thread).

READY needs three things: the TWS API answers a real handshake and a current-time request (`watchdog`),
the listening socket belongs to our JVM (`gateway.listener`: after a relaunch another process may hold the
port), and where that cannot be proven, the accounts are the ones our Gateway served before.

The FIX CTCI gateway (FIX=yes) has no TWS API to ask. Its evidence is its FIX port (TWS_API_PORT, written to
jts.ini as LocalServerPort) accepting a TCP connection while the listening socket belongs to our JVM: the port
opens only once the FIX session is logged in, and a connection is all that can be checked without speaking FIX
to IB on the user's behalf (a FIX Logon needs the FIX engine's own session identities). It also marks the login
complete: IBC's #207 shows that a FIX login signals nothing else (no "Starting application..." close).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol

from ibpilot.agent.bridge import AgentBridge, AgentError
from ibpilot.agent.model import Window
from ibpilot.controller.context import Ctx
from ibpilot.controller.flows.login import login_complete
from ibpilot.controller.machine import Event, State
from ibpilot.controller.outcome import Outcome
from ibpilot.controller.watchdog import ProbeResult, probe
from ibpilot.gateway.listener import group_pids, holders, listening_inodes, owned_by
from ibpilot.serve.alerts import Alert


class WatchCtx(Ctx, Protocol):
    @property
    def jvm_pid(self) -> int | None: ...

    known_accounts: tuple[str, ...]  # the accounts our own Gateway served (empty until first READY)

    def api_ready(self, res: ProbeResult) -> None:
        """The API answered and is ours: READY."""
        ...

    def probe_done(self, res: ProbeResult) -> None:
        """Every probe's result (for /health and /metrics)."""
        ...


class PollCtx(WatchCtx, Protocol):
    async def on_window(self, kind: str, win: Window) -> None: ...

    async def on_closed(self, handle: str, title: str | None) -> None: ...


async def fix_probe(port: int, timeout: float) -> ProbeResult:
    """The FIX port accepts a TCP connection (closed at once; nothing is sent)."""
    t0 = time.monotonic()
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    except (OSError, TimeoutError) as exc:
        return ProbeResult(False, f"FIX port {port}: {exc or type(exc).__name__}", seconds=time.monotonic() - t0)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return ProbeResult(True, seconds=time.monotonic() - t0)


async def fix_port_ours(ctx: WatchCtx) -> bool:
    """Our JVM listens on the FIX port (or /proc cannot tell) and it accepts a connection. A port held by
    another process is alerted once (API_PORT_TAKEN) and never counts."""
    port, pid = ctx.cfg.effective_api_port, ctx.jvm_pid
    if pid is None or owned_by(port, group_pids(pid)) is False:
        st = ctx.flow.login
        if pid is not None and listening_inodes(port) and not st.fix_port_alerted:
            st.fix_port_alerted = True
            held = ", ".join(h.describe() for h in holders(port)) or "another process"
            ctx.alert(Alert.API_PORT_TAKEN, "the FIX port is held by another process, not our Gateway: not READY",
                      port=port, detail=f"port {port} is held by {held}, not by our Gateway (pid {pid})")
        return False
    return (await fix_probe(port, ctx.cfg.probe_timeout_s)).ok


class ApiWatch:
    """From CONFIGURED on: READY only when our Gateway's API answers; then stay watchful (one per JVM session)."""

    def __init__(self, ctx: WatchCtx) -> None:
        self.ctx = ctx
        self._kick = asyncio.Event()
        self._foreign_alerted = False

    def kick(self) -> None:
        """A dialog that blocks the API was dismissed: abandon a probe in flight and probe again at once."""
        self._kick.set()

    async def _probe(self, port: int) -> ProbeResult | None:
        """One probe, or None when it was abandoned by a kick."""
        cfg = self.ctx.cfg
        self._kick.clear()
        task = asyncio.ensure_future(
            fix_probe(port, cfg.probe_timeout_s) if cfg.fix
            else probe("127.0.0.1", port, client_id=cfg.probe_client_id, timeout=cfg.probe_timeout_s))
        kicked = asyncio.ensure_future(self._kick.wait())
        try:
            done, _ = await asyncio.wait({task, kicked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            kicked.cancel()
        if task in done:
            return task.result()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if me is not None and me.cancelling():
                raise  # we are being cancelled ourselves: never swallow that
        self.ctx.log.debug("API probe abandoned: a dialog closed; probing again")
        return None

    def _ours(self, port: int, res: ProbeResult) -> ProbeResult:
        """`res` if nothing but our Gateway listens on the port (and an answer is our Gateway's), else a failed
        result saying whose port it is, alerted once: a foreign API must never make us READY, and a port
        held by someone else must never look like a slow Gateway."""
        ctx = self.ctx
        pid = ctx.jvm_pid
        owner = owned_by(port, group_pids(pid)) if pid is not None else False
        why = ""
        if owner is False and (res.ok or listening_inodes(port)):
            held = ", ".join(h.describe() for h in holders(port)) or "nobody (it has just closed)"
            why = f"port {port} is held by {held}, not by our Gateway (pid {pid})"
        elif owner is None and res.ok and ctx.known_accounts and set(res.accounts) != set(ctx.known_accounts):
            why = (f"the API on port {port} serves accounts {','.join(res.accounts)}, not "
                   f"{','.join(ctx.known_accounts)} (cannot check the socket's owner on this system)")
        if not why:
            self._foreign_alerted = False
            return res
        if not self._foreign_alerted:
            self._foreign_alerted = True
            ctx.alert(Alert.API_PORT_TAKEN, "the API port is held by another process, not our Gateway: not READY",
                      port=port, detail=why)
        return ProbeResult(False, why, server_version=res.server_version, seconds=res.seconds)

    async def run(self) -> None:
        ctx, cfg = self.ctx, self.ctx.cfg
        port = cfg.effective_api_port
        failures = 0
        t0 = time.monotonic()
        last_progress = t0
        lost_at: float | None = None
        while True:
            if ctx.state in (State.WAITING_API, State.READY, State.RELOGIN):
                raw = await self._probe(port)
                if raw is None:
                    continue
                res = self._ours(port, raw)
                ctx.probe_done(res)
                if res.ok:
                    failures, lost_at = 0, None
                    if ctx.state is not State.READY:
                        ctx.api_ready(res)
                else:
                    failures += 1
                    now = time.monotonic()
                    if ctx.state is State.RELOGIN:
                        failures = 0  # Gateway is logging in again; the API is expected to be down
                    elif ctx.state is State.READY:
                        if ctx.flow.restarting:  # Gateway announced its auto-restart: the API closes on purpose
                            ctx.log.info("the API closed for Gateway's auto-restart (%s)", res.error)
                        else:
                            ctx.alert(Alert.API_DOWN, "the TWS API stopped answering", error=res.error)
                        ctx.fire(Event.API_LOST)
                        lost_at = now
                    elif ctx.flow.restarting:
                        failures = 0  # the JVM's exit (and relaunch) follows; that is no hang
                    elif (lost_at is not None and failures >= cfg.probe_failures_for_hang
                          and now - lost_at >= cfg.probe_interval_s + cfg.probe_timeout_s):
                        # a hang is that many failures *and* a whole probe budget: refused connections come
                        # back in milliseconds, and 3 of them in 0.6 s prove nothing about a hang
                        ctx.alert(Alert.HANG, "the API stopped answering; restarting Gateway", port=port,
                                  seconds=int(now - lost_at), error=res.error)
                        raise Outcome("API hang")
                    elif lost_at is None and now - t0 > cfg.api_wait_s:
                        ctx.alert(Alert.HANG, "the API never answered after login", port=port, error=res.error)
                        raise Outcome("API never answered")
                    if ctx.state is State.WAITING_API and now - last_progress > 15:
                        last_progress = now
                        ctx.log.info("still waiting for the API on port %d (%.0fs): %s", port, now - t0, res.error)
            pause = cfg.probe_interval_s if ctx.state is State.READY else 0.25
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), pause)


async def watch_progress(ctx: WatchCtx) -> None:
    """Deadlines on login progress (lockouts and silent timeouts look like nothing happening); FIX: the login
    is complete when our JVM's FIX port accepts a connection."""
    launched = time.monotonic()
    while True:
        await asyncio.sleep(1.0)
        if (ctx.cfg.fix and not ctx.login_complete and ctx.state in (State.AUTHENTICATING, State.SECOND_FACTOR)
                and await fix_port_ours(ctx)):
            login_complete(ctx, f"the FIX port {ctx.cfg.effective_api_port} accepts connections from our Gateway")
            continue
        if ctx.state is State.STARTING and time.monotonic() - launched > ctx.cfg.s.login_dialog_timeout:
            ctx.alert(Alert.LOGIN_STALLED, "the login window did not appear", seconds=int(time.monotonic() - launched))
            raise Outcome("login window not shown")
        if ctx.state is State.LOGIN and ctx.restart_mode and time.monotonic() - launched > ctx.cfg.login_stall_s:
            ctx.alert(Alert.LOGIN_STALLED, "Gateway's auto-restart did not log itself back in",
                      seconds=int(time.monotonic() - launched))
            raise Outcome("login stalled")
        since = ctx.flow.login.submitted_at
        if ctx.state is State.AUTHENTICATING and since and time.monotonic() - since > ctx.cfg.login_stall_s:
            ctx.alert(Alert.LOGIN_STALLED, "no progress after Log In (lockout or server timeout?)",
                      seconds=int(time.monotonic() - since))
            raise Outcome("login stalled")


async def safety_poll(ctx: PollCtx, bridge: AgentBridge) -> None:
    """Events are the mechanism; this is only a net for anything missed.

    It doubles as the UI watchdog: the agent answers "EDT busy" when Gateway's event thread is blocked.
    A hung UI before READY blocks the login, so Gateway is relaunched; once READY the API still
    serves, so it is only alerted (a restart would cut the clients off). An agent that does not answer
    at all (a stopped JVM) is the API watch's business: logged once here, no traceback.
    """
    busy_since: float | None = None
    alerted = silent = False
    while True:
        # a full snapshot of every window: every 2 s while Gateway is being driven, 5 s once it only runs
        await asyncio.sleep(5.0 if ctx.state is State.READY else 2.0)
        try:
            result = await bridge.request("windows", timeout=10.0)
        except TimeoutError:
            if not silent:
                silent = True
                ctx.log.warning("the agent in Gateway's JVM (pid %s) did not answer within 10s: the JVM is "
                                 "stopped or hung; the API watch decides", ctx.jvm_pid)
            continue
        except AgentError as exc:
            ctx.log.debug("safety poll: %s", exc)
            if "EDT busy" in str(exc):
                busy_since = busy_since or time.monotonic()
                stuck = time.monotonic() - busy_since
                if stuck > ctx.cfg.ui_hang_s and ctx.state is not State.READY:
                    ctx.alert(Alert.HANG, "Gateway's UI is not responding; relaunching", seconds=int(stuck),
                               state=ctx.state.value)
                    raise Outcome("UI hang") from None
                if stuck > ctx.cfg.ui_hang_s and not alerted:
                    alerted = True
                    ctx.alert(Alert.HANG, "Gateway's UI is not responding (the API still answers)",
                               seconds=int(stuck))
            continue
        if silent:
            ctx.log.info("the agent answers again")
        busy_since, alerted, silent = None, False, False
        showing = {w["handle"]: Window.from_json(w) for w in result} if isinstance(result, list) else {}
        for handle in [h for h in ctx.windows if h not in showing]:
            await ctx.on_closed(handle, ctx.windows[handle].title)
        for w in showing.values():
            if w.handle not in ctx.windows:
                await ctx.on_window("opened", w)
