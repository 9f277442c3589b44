"""One Gateway/TWS for one trading mode: launch the JVM, drive its screens, watch it, recover.

The JVM is this process's child; the agent inside it pushes window events, which are matched against
the screen table (`screens.SCREENS`) and handled by small actions and flows. State lives in this
object (one per trading mode), never in module globals.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from ibpilot.agent.bridge import AgentBridge, AgentDisconnected, AgentError
from ibpilot.agent.model import Component, Window, WindowChanged, WindowClosed, WindowOpened
from ibpilot.controller import api_settings, flows, schedule
from ibpilot.controller.config import ControllerConfig
from ibpilot.controller.machine import Event, State, format_transition, next_state
from ibpilot.controller.screens import Click, Flow, Note, Screen, recognise
from ibpilot.controller.watchdog import probe
from ibpilot.gateway import jts_ini, warm_state
from ibpilot.gateway.install import find_install
from ibpilot.gateway.jvm import JvmOptions, build_command, find_autorestart, find_java
from ibpilot.jars import jar_path
from ibpilot.serve.alerts import Alert, emit

# Exit codes of `ibpilot control` (documented in --help).
EXIT_STOPPED, EXIT_FATAL, EXIT_GAVE_UP, EXIT_TWOFA = 0, 1, 3, 4

SECRET_ENV = re.compile(r"PASSWORD|PASSPHRASE|SECRET|TOKEN|TWOFACTOR|TOTP|_PASS$|_PWD$", re.I)


class Outcome(Exception):
    """Ends the current JVM session: why, and what to do next."""

    def __init__(self, reason: str, restart: bool = True, code: int = EXIT_STOPPED) -> None:
        super().__init__(reason)
        self.reason, self.restart, self.code = reason, restart, code


class Instance:
    def __init__(self, cfg: ControllerConfig, env: dict[str, str] | None = None) -> None:
        self.cfg = cfg
        self.log = logging.getLogger(f"ibpilot.controller.{cfg.mode}")
        self.env = dict(os.environ if env is None else env)
        self.state = State.STARTING
        self.proc: asyncio.subprocess.Process | None = None
        self.bridge: AgentBridge | None = None
        self.windows: dict[str, Window] = {}
        self.known: dict[str, Screen] = {}
        self.handled: set[tuple[str, str]] = set()
        self.unknown_logged: set[str] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.waiters: list[tuple[Callable[[Window], bool], asyncio.Future[Window]]] = []
        self.outcome: asyncio.Future[Outcome] | None = None
        self.stop_requested = asyncio.Event()
        self.transitions: deque[str] = deque(maxlen=100)  # the recent ones, for status and diagnostics
        self.flow_state: dict[str, Any] = {}
        self.ready_since: float | None = None
        self.restart_mode = False
        self.login_complete = False
        self.login_failures = 0
        self.jvm_starts = 0
        self.last_exit_code: int | None = None
        self.recorded = 0
        self.state_since = time.time()
        self.last_alert: dict[str, Any] | None = None

    # ------------------------------------------------------------------ state
    def fire(self, event: Event) -> None:
        new = next_state(self.state, event)
        if new is None:
            self.log.debug("event %s ignored in %s", event.value, self.state.value)
            return
        if new is not self.state or event in (Event.LOGIN_SUBMITTED,):
            line = format_transition(self.state, new, event, self.cfg.mode)
            self.transitions.append(line)
            self.log.info(line)
        old, self.state = self.state, new
        if old is State.READY and new is not State.READY:
            self._ready_file(False)
            self.ready_since = None
        if new is not old:
            self.state_since = time.time()
            self.publish()

    def publish(self) -> None:
        """Write the state file (atomically): what `ibpilot status` shows for this mode."""
        doc = {
            "mode": self.cfg.mode,
            "state": self.state.value,
            "since": self.state_since,
            "login_complete": self.login_complete,
            "jvm_starts": self.jvm_starts,
            "controller_pid": os.getpid(),
            "jvm_pid": self.proc.pid if self.proc is not None and self.proc.returncode is None else None,
            "last_alert": self.last_alert,
        }
        try:
            self.cfg.run_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.cfg.state_file.with_name(self.cfg.state_file.name + ".tmp")
            tmp.write_text(json.dumps(doc))
            tmp.replace(self.cfg.state_file)
        except OSError as exc:
            self.log.debug("cannot write %s: %s", self.cfg.state_file, exc)

    def alert(self, alert: Alert, msg: str, **fields: object) -> None:
        emit(self.log, alert, self.cfg.mode, msg, **fields)
        self.last_alert = {"alert": alert.value, "msg": msg, "t": time.time()}
        self.publish()

    def end(self, outcome: Outcome) -> None:
        if self.outcome is not None and not self.outcome.done():
            self.outcome.set_result(outcome)

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        async def guarded() -> Any:
            try:
                return await coro
            except (AgentDisconnected, asyncio.CancelledError):
                raise
            except Outcome as o:
                self.end(o)
            except Exception:
                self.log.exception("task %s failed", name)
            return None

        task = asyncio.create_task(guarded(), name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # ------------------------------------------------------------------ agent actions (Ctx)
    async def act(self, op: str, **args: Any) -> Any:
        assert self.bridge is not None
        return await self.bridge.request(op, **args)

    async def click(self, win: Window, comp: Component) -> bool:
        self.log.info("click %r in %r", comp.text, win.title)
        try:
            await self.act("click", window=win.handle, path=list(comp.path))
        except AgentError as exc:
            self.log.warning("click %r in %r failed: %s", comp.text, win.title, exc)
            return False
        return True

    async def set_text(self, win: Window, comp: Component, text: str, secret: bool = False) -> None:
        shown = "(secret, not logged)" if secret else repr(text)  # not even its length
        self.log.info("set text %s in %r field %s", shown, win.title, list(comp.path))
        await self.act("set_text", window=win.handle, path=list(comp.path), text=text)

    async def refresh(self, win: Window) -> Window | None:
        assert self.bridge is not None
        result = await self.bridge.request("windows", handle=win.handle)
        raw = result if isinstance(result, list) else []
        if self.cfg.record_dir is not None:
            for w in raw:
                self._record({"event": "snapshot", "window": w})
        wins = [Window.from_json(w) for w in raw]
        if wins:
            self.windows[win.handle] = wins[0]
            return wins[0]
        return None

    def note(self, what: str, win: Window) -> None:
        self.log.info("%s: %s", win.describe(), what)

    async def wait_window(self, pred: Callable[[Window], bool], timeout: float, what: str) -> Window:
        for w in list(self.windows.values()):
            if pred(w):
                return w
        fut: asyncio.Future[Window] = asyncio.get_running_loop().create_future()
        self.waiters.append((pred, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise TimeoutError(f"no {what} within {timeout:.0f}s") from None
        finally:
            self.waiters = [(p, f) for p, f in self.waiters if f is not fut]

    def find_window(self, pred: Callable[[Window], bool]) -> Window | None:
        return next((w for w in self.windows.values() if pred(w)), None)

    # ------------------------------------------------------------------ events
    async def on_window(self, kind: str, win: Window) -> None:
        self.windows[win.handle] = win
        for pred, fut in list(self.waiters):
            if not fut.done() and pred(win):
                fut.set_result(win)
        screen = recognise(win)
        if screen is None:
            if (win.handle, "?") not in self.handled:
                self.handled.add((win.handle, "?"))
                await flows.unknown_window(self, win)
            return
        self.known[win.handle] = screen
        key = (win.handle, screen.name)
        if key not in self.handled:
            self.handled.add(key)
            self.log.info("window %s recognised as %s", win.describe(), screen.name)
            if "opened" in screen.on:
                await self.dispatch(screen, "opened", win)
        elif kind == "changed" and "changed" in screen.on:
            await self.dispatch(screen, "changed", win)

    async def on_closed(self, handle: str, title: str | None) -> None:
        win = self.windows.pop(handle, None)
        screen = self.known.pop(handle, None)
        self.handled = {k for k in self.handled if k[0] != handle}
        if screen is not None and win is not None:
            self.log.info("window %r (%s) closed", title, screen.name)
            if "closed" in screen.on:
                await self.dispatch(screen, "closed", win)

    async def dispatch(self, screen: Screen, event: str, win: Window) -> None:
        action = screen.action
        if isinstance(action, Click):
            self.spawn(action(self, win), f"click-{screen.name}")
        elif isinstance(action, Flow):
            handler = getattr(flows, action.name)
            self.spawn(handler(self, win, event), f"flow-{action.name}")
        elif isinstance(action, Note):
            flows.note(self, action.name, win, event)

    async def pump(self) -> None:
        assert self.bridge is not None
        async for ev in self.bridge.events():
            if isinstance(ev, WindowOpened):
                await self.on_window("opened", ev.window)
            elif isinstance(ev, WindowChanged):
                await self.on_window("changed", ev.window)
            elif isinstance(ev, WindowClosed):
                await self.on_closed(ev.handle, ev.title)
        raise AgentDisconnected("agent connection closed")

    async def safety_poll(self) -> None:
        """Events are the mechanism; this is only a net for anything missed.

        It doubles as the UI watchdog: the agent answers "EDT busy" when Gateway's event thread is blocked.
        A hung UI before READY blocks the login, so Gateway is relaunched; once READY the API still
        serves, so it is only alerted (a restart would cut the clients off).
        """
        assert self.bridge is not None
        busy_since: float | None = None
        alerted = False
        while True:
            # a full snapshot of every window: every 2 s while Gateway is being driven, 5 s once it only runs
            await asyncio.sleep(5.0 if self.state is State.READY else 2.0)
            try:
                result = await self.bridge.request("windows", timeout=10.0)
            except AgentError as exc:
                self.log.debug("safety poll: %s", exc)
                if "EDT busy" in str(exc):
                    busy_since = busy_since or time.monotonic()
                    stuck = time.monotonic() - busy_since
                    if stuck > self.cfg.ui_hang_s and self.state is not State.READY:
                        self.alert(Alert.HANG, "Gateway's UI is not responding; relaunching", seconds=int(stuck),
                                   state=self.state.value)
                        raise Outcome("UI hang") from None
                    if stuck > self.cfg.ui_hang_s and not alerted:
                        alerted = True
                        self.alert(Alert.HANG, "Gateway's UI is not responding (the API still answers)",
                                   seconds=int(stuck))
                continue
            busy_since, alerted = None, False
            showing = {w["handle"]: Window.from_json(w) for w in result} if isinstance(result, list) else {}
            for handle in [h for h in self.windows if h not in showing]:
                await self.on_closed(handle, self.windows[handle].title)
            for w in showing.values():
                if w.handle not in self.windows:
                    await self.on_window("opened", w)

    # ------------------------------------------------------------------ JVM
    def _child_env(self) -> dict[str, str]:
        env = {k: v for k, v in self.env.items() if not SECRET_ENV.search(k)}
        env.pop("JAVA_TOOL_OPTIONS", None)
        return env

    def _prepare(self) -> list[str]:
        cfg = self.cfg
        cfg.settings_dir.mkdir(parents=True, exist_ok=True)
        cfg.run_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(cfg.run_dir, 0o700)
        cfg.agent_socket.unlink(missing_ok=True)
        restart_subdir = find_autorestart(cfg.settings_dir)
        self.restart_mode = restart_subdir is not None
        if cfg.warm_state is not None and not self.restart_mode:
            n = warm_state.apply(cfg.warm_state, cfg.settings_dir)
            self.log.info("warm state: %d files from %s copied into %s", n, cfg.warm_state, cfg.settings_dir)
        if cfg.custom_config:
            self.log.info("CUSTOM_CONFIG=yes: jts.ini is left as it is")
        else:
            keys = jts_ini.wanted_keys(
                product=cfg.product, server=cfg.tws_server, trusted_ips=cfg.trusted_ips, time_zone=cfg.time_zone
            )
            jts_ini.ensure(cfg.settings_dir / "jts.ini", keys)
        install = find_install(cfg.tws_path, cfg.product, cfg.version)
        opts = JvmOptions(
            settings_dir=cfg.settings_dir,
            agent_jar=jar_path("agent"),
            agent_socket=cfg.agent_socket,
            heap_mb=cfg.heap_mb,
            extra=cfg.java_opts,
            restart_subdir=restart_subdir,
        )
        return build_command(install, find_java(install, self.env.get("JAVA_HOME")), opts)

    async def _launch(self) -> None:
        cmd = self._prepare()
        self.jvm_starts += 1
        self.log.info(
            "launching %s %s (JVM start #%d%s), console log %s",
            self.cfg.product,
            cmd[-2],
            self.jvm_starts,
            ", auto-restart: Gateway logs itself in" if self.restart_mode else "",
            self.cfg.console_log,
        )
        with open(self.cfg.console_log, "ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *cmd,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                env=self._child_env(),
                cwd=self.cfg.settings_dir,
                start_new_session=True,
            )
        self.fire(Event.JVM_STARTED)
        t0 = time.monotonic()
        connect = asyncio.ensure_future(AgentBridge.connect(self.cfg.agent_socket, timeout=60.0))
        died = asyncio.ensure_future(self.proc.wait())
        done, _ = await asyncio.wait({connect, died}, return_when=asyncio.FIRST_COMPLETED)
        if connect not in done:
            connect.cancel()
            raise Outcome(f"JVM exited with code {self.proc.returncode} before the agent answered")
        died.cancel()
        self.bridge = connect.result()
        if self.cfg.record_dir is not None:
            self.bridge.on_raw_event = self._record
        self.log.info("agent connected in %.2fs (pid %s)", time.monotonic() - t0, self.proc.pid)

    def _record(self, msg: dict[str, Any]) -> None:
        """Save window snapshots as the agent sent them (password fields carry no text)."""
        assert self.cfg.record_dir is not None
        win = msg.get("window")
        if not isinstance(win, dict):
            return
        self.cfg.record_dir.mkdir(parents=True, exist_ok=True)
        self.recorded += 1
        slug = re.sub(r"[^A-Za-z0-9]+", "-", str(win.get("title") or "untitled")).strip("-")[:40] or "untitled"
        name = f"{self.jvm_starts:02d}-{self.recorded:04d}-{msg.get('event')}-{slug}.json"
        (self.cfg.record_dir / name).write_text(json.dumps(win, indent=1, sort_keys=True))

    async def _watch_jvm(self) -> None:
        assert self.proc is not None
        code = await self.proc.wait()
        self.last_exit_code = code
        if self.state in (State.STOPPING, State.STOPPED):
            raise Outcome(f"JVM exited with code {code} after stop", restart=False)
        autorestart = find_autorestart(self.cfg.settings_dir) if self.cfg.settings_dir.is_dir() else None
        if autorestart:
            self.log.info("JVM exited (code %s) for Gateway's daily auto-restart: relaunching", code)
            raise Outcome("auto-restart", restart=True)
        self.alert(Alert.JVM_EXITED, "Gateway's JVM exited unexpectedly", code=code, state=self.state.value)
        raise Outcome(f"JVM exited with code {code}")

    async def _kill_jvm(self, grace: float) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()

    # ------------------------------------------------------------------ readiness and liveness
    def _ready_file(self, ready: bool) -> None:
        path = self.cfg.ready_file
        if path is None:
            return
        if ready:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps({"mode": self.cfg.mode, "api_port": self.cfg.effective_api_port,
                                       "since": time.time()}))
            tmp.replace(path)
        else:
            path.unlink(missing_ok=True)

    async def watch_api(self) -> None:
        """From CONFIGURED on: READY only when the API answers a real handshake; then stay watchful."""
        port = self.cfg.effective_api_port
        failures = 0
        t0 = time.monotonic()
        last_progress = t0
        lost_at: float | None = None
        while True:
            if self.state in (State.WAITING_API, State.READY, State.RELOGIN):
                res = await probe("127.0.0.1", port, client_id=self.cfg.probe_client_id, timeout=5.0)
                if res.ok:
                    failures = 0
                    if self.state is not State.READY:
                        # after a re-login Gateway may not show the splash again: the API answering is
                        # the positive evidence that the session is back
                        self.login_complete = True
                        self.fire(Event.API_READY)
                        self.ready_since = time.monotonic()
                        self._ready_file(True)
                        self.log.info("READY mode=%s api_port=%d", self.cfg.mode, port)
                        self.log.info(
                            "API answered in %.0f ms (server version %d, accounts %s)",
                            res.seconds * 1000, res.server_version, ",".join(res.accounts),
                        )
                else:
                    failures += 1
                    now = time.monotonic()
                    if self.state is State.RELOGIN:
                        failures = 0  # Gateway is logging in again; the API is expected to be down
                    elif self.state is State.READY:
                        self.alert(Alert.API_DOWN, "the TWS API stopped answering", error=res.error)
                        self.fire(Event.API_LOST)
                        lost_at = now
                    elif lost_at is not None and failures >= self.cfg.probe_failures_for_hang:
                        self.alert(Alert.HANG, "the API stopped answering; restarting Gateway", port=port,
                                   seconds=int(now - lost_at), error=res.error)
                        raise Outcome("API hang")
                    elif lost_at is None and now - t0 > self.cfg.api_wait_s:
                        self.alert(Alert.HANG, "the API never answered after login", port=port, error=res.error)
                        raise Outcome("API never answered")
                    if self.state is State.WAITING_API and now - last_progress > 15:
                        last_progress = now
                        self.log.info("still waiting for the API on port %d (%.0fs): %s", port, now - t0, res.error)
                if res.ok:
                    lost_at = None
            await asyncio.sleep(self.cfg.probe_interval_s if self.state is State.READY else 0.25)

    async def watch_progress(self) -> None:
        """Deadlines on login progress (lockouts and silent timeouts look like nothing happening)."""
        launched = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            if self.state is State.STARTING and time.monotonic() - launched > self.cfg.login_dialog_timeout_s:
                self.alert(Alert.LOGIN_STALLED, "the login window did not appear",
                           seconds=int(time.monotonic() - launched))
                raise Outcome("login window not shown")
            since = self.flow_state.get("login_submitted_at")
            if self.state is State.AUTHENTICATING and since and time.monotonic() - since > self.cfg.login_stall_s:
                self.alert(Alert.LOGIN_STALLED, "no progress after Log In (lockout or server timeout?)",
                           seconds=int(time.monotonic() - since))
                raise Outcome("login stalled")

    def _next_timed(self, now: datetime) -> tuple[datetime, str] | None:
        cfg = self.cfg
        due: list[tuple[datetime, str]] = []
        if cfg.cold_restart_at is not None:
            due.append((schedule.next_weekly(now, cfg.cold_restart_at, "Sunday"), "cold_restart"))
        if cfg.closedown_at is not None:
            at, day = cfg.closedown_at
            due.append((schedule.next_weekly(now, at, day) if day else schedule.next_daily(now, at), "closedown"))
        if cfg.save_settings_at:
            due.append((schedule.SaveSchedule.parse(cfg.save_settings_at).next_after(now), "save_settings"))
        return min(due) if due else None

    async def timed_actions(self) -> None:
        """COLD_RESTART_TIME (Sundays), CLOSEDOWN_AT, SAVE_TWS_SETTINGS: wall-clock actions (local time)."""
        while True:
            nxt = self._next_timed(datetime.now())
            if nxt is None:
                return
            when, what = nxt
            self.log.info("next timed action: %s at %s", what, when.strftime("%a %Y-%m-%d %H:%M"))
            while (left := (when - datetime.now()).total_seconds()) > 0:
                await asyncio.sleep(min(left, 30.0))  # re-read the clock: suspend, DST, NTP steps
            if what == "closedown":
                self.log.info("CLOSEDOWN_AT reached: logging out and stopping")
                self.request_stop()
                return
            if what == "cold_restart":
                self.log.info("COLD_RESTART_TIME reached: restarting Gateway with a fresh login")
                for token in self.cfg.settings_dir.glob("*/autorestart"):
                    token.unlink(missing_ok=True)
                raise Outcome("cold restart (COLD_RESTART_TIME)")
            main = self.find_window(lambda w: (s := self.known.get(w.handle)) is not None
                                    and s.name.startswith("main_window"))
            if main is not None and self.login_complete:
                self.log.info("SAVE_TWS_SETTINGS: File > Save Settings")
                with contextlib.suppress(AgentError):
                    await self.act("menu", window=main.handle, items=["File", "Save Settings"])
            await asyncio.sleep(1.0)

    # ------------------------------------------------------------------ one JVM lifetime
    async def session(self) -> Outcome:
        self.outcome = asyncio.get_running_loop().create_future()
        self.windows.clear()
        self.known.clear()
        self.handled.clear()
        self.flow_state.clear()
        self.login_complete = False
        try:
            await self._launch()
        except Outcome as o:
            return o
        except (OSError, RuntimeError, ValueError) as exc:
            self.log.error("cannot launch Gateway: %s", exc)
            return Outcome(str(exc), restart=False, code=EXIT_FATAL)
        for coro, name in (
            (self.pump(), "pump"),
            (self.safety_poll(), "poll"),
            (self._watch_jvm(), "jvm"),
            (self.watch_progress(), "progress"),
            (self.timed_actions(), "timed"),
        ):
            self.spawn(coro, name)
        pump_task = next(t for t in self.tasks if t.get_name() == "pump")
        # A lost agent usually means the JVM died: give the JVM watcher a second to say why first. The
        # callback is bound to this session's outcome, so a late one can never end the next session.
        this_outcome = self.outcome

        def lost_for_good() -> None:
            if not this_outcome.done():
                this_outcome.set_result(Outcome("agent connection lost"))

        def agent_lost(t: asyncio.Task[Any]) -> None:
            if not t.cancelled() and t.exception() and not this_outcome.done():
                asyncio.get_running_loop().call_later(1.0, lost_for_good)

        pump_task.add_done_callback(agent_lost)
        stop_wait: asyncio.Future[Any] = asyncio.ensure_future(self.stop_requested.wait())
        waitables: set[asyncio.Future[Any]] = {self.outcome, stop_wait}
        done, _ = await asyncio.wait(waitables, return_when=asyncio.FIRST_COMPLETED)
        if stop_wait in done:
            outcome = await self._stop_gateway()
        else:
            stop_wait.cancel()
            outcome = self.outcome.result()
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self._kill_jvm(grace=5.0)
        if self.bridge is not None:
            await self.bridge.close()
            self.bridge = None
        self._ready_file(False)
        return outcome

    async def _stop_gateway(self) -> Outcome:
        self.fire(Event.STOP)
        if self.login_complete and self.bridge is not None:
            main = self.find_window(lambda w: self.known.get(w.handle, None) is not None
                                    and self.known[w.handle].name.startswith("main_window"))
            if main is not None:
                items = ["File", "Exit"] if self.cfg.product == "tws" else ["File", "Close"]
                self.log.info("logging out: %s", " > ".join(items))
                with contextlib.suppress(AgentError, AgentDisconnected):
                    await self.act("menu", window=main.handle, items=items)
                assert self.proc is not None
                try:
                    await asyncio.wait_for(self.proc.wait(), 20.0)
                except TimeoutError:
                    self.log.warning("Gateway did not exit within 20s of File > Close; killing it")
        self.fire(Event.STOPPED)
        return Outcome("stop requested", restart=False)

    # ------------------------------------------------------------------ main loop
    async def run(self) -> int:
        attempt = 0
        while True:
            started = time.monotonic()
            outcome = await self.session()
            if self.stop_requested.is_set() or not outcome.restart:
                self.fire(Event.STOP)
                self.fire(Event.STOPPED)
                self.log.info("controller stopping: %s (exit code %d)", outcome.reason, outcome.code)
                return outcome.code
            if self.ready_since is not None or time.monotonic() - started > 600 or outcome.reason == "auto-restart":
                attempt = 0
            delay = 0.0 if outcome.reason == "auto-restart" else self.cfg.restart_backoff_s[
                min(attempt, len(self.cfg.restart_backoff_s) - 1)]
            attempt += 1
            self.fire(Event.RESTART)
            self.log.info("restarting Gateway in %.0fs (%s)", delay, outcome.reason)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_requested.wait(), delay)
            if self.stop_requested.is_set():
                self.fire(Event.STOP)
                self.fire(Event.STOPPED)
                return EXIT_STOPPED

    def request_stop(self) -> None:
        self.log.info("stop requested")
        self.stop_requested.set()

    def start_configuration(self) -> None:
        self.spawn(api_settings.configure(self), "configure")
        if not any(t.get_name() == "api" and not t.done() for t in self.tasks):
            self.spawn(self.watch_api(), "api")
