"""One Gateway/TWS for one trading mode: launch the JVM, drive its screens, watch it, recover.

The JVM is this process's child (`process.GatewayProcess`); the agent inside it pushes window events,
which are matched against the screen table (`table.SCREENS`) and handled by small actions and the flows
(`controller/flows/`). State lives in this object (one per trading mode), never in module globals; what
one JVM session's flows remember is `self.flow`, replaced at every launch.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine
from typing import Any

from ibpilot import __version__
from ibpilot.agent.bridge import AgentBridge, AgentDisconnected, AgentError
from ibpilot.agent.model import Component, Window, WindowChanged, WindowClosed, WindowOpened
from ibpilot.controller import api_settings
from ibpilot.controller.config import ControllerConfig
from ibpilot.controller.flows.dialogs import unknown_window
from ibpilot.controller.flowstate import SessionFlows
from ibpilot.controller.liveness import ApiWatch, safety_poll, watch_progress
from ibpilot.controller.machine import Event, State, format_transition, next_state
from ibpilot.controller.observer import NullObserver, Observer
from ibpilot.controller.outcome import EXIT_FATAL, EXIT_STOPPED, Outcome
from ibpilot.controller.process import GatewayProcess
from ibpilot.controller.screens import Click, Flow, Note, Screen, WindowEvent
from ibpilot.controller.table import SCREENS, recognise
from ibpilot.controller.timed import timed_actions
from ibpilot.controller.watchdog import ProbeResult
from ibpilot.serve.alerts import Alert, AlertRecord, emit

# States in which a closing dialog may have been what kept the API from answering.
_API_PENDING = (State.CONFIGURING, State.WAITING_API, State.RELOGIN)


class Instance:
    def __init__(self, cfg: ControllerConfig, env: dict[str, str] | None = None) -> None:
        self.cfg = cfg
        self.log = logging.getLogger(f"ibpilot.controller.{cfg.mode}")
        self.gw = GatewayProcess(cfg, dict(os.environ if env is None else env), self.log)
        self.state = State.STARTING
        self.windows: dict[str, Window] = {}
        self.known: dict[str, Screen] = {}
        self.handled: set[tuple[str, str]] = set()
        self.unknown_logged: set[str] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.waiters: list[tuple[Callable[[Window], bool], asyncio.Future[Window]]] = []
        self.outcome: asyncio.Future[Outcome] | None = None
        self.stop_requested = asyncio.Event()
        self.transitions: deque[str] = deque(maxlen=100)  # the recent ones, for status and diagnostics
        self.timeline: deque[tuple[float, str, str]] = deque(maxlen=50)  # (time, "transition"|"alert", text)
        self.observer: Observer = NullObserver()
        self.links: dict[str, str | None] = {}  # noVNC, supervisord UI (set by the operations surface)
        self.flow = SessionFlows()
        self.api_watch: ApiWatch | None = None
        self.ready_since: float | None = None
        self.session_was_ready = False  # this JVM session reached READY (the restart back-off starts over)
        self.login_complete = False
        self.login_failures = 0
        self.known_accounts: tuple[str, ...] = ()
        self.state_since = time.time()
        self.last_alert: AlertRecord | None = None
        self.last_probe: ProbeResult | None = None
        self.last_probe_at: float | None = None
        self.last_probe_ok_at: float | None = None
        self.last_login_at: float | None = None
        self.restarts: Counter[str] = Counter()

    # ------------------------------------------------------------------ the JVM, as the flows see it
    @property
    def restart_mode(self) -> bool:
        return self.gw.restart_mode

    @property
    def jvm_pid(self) -> int | None:
        return self.gw.pid

    @property
    def jvm_starts(self) -> int:
        return self.gw.starts

    @property
    def bridge(self) -> AgentBridge | None:
        return self.gw.bridge

    # ------------------------------------------------------------------ state
    def fire(self, event: Event) -> None:
        new = next_state(self.state, event)
        if new is None:
            self.log.debug("event %s ignored in %s", event.value, self.state.value)
            return
        if new is not self.state or event in (Event.LOGIN_SUBMITTED,):
            line = format_transition(self.state, new, event, self.cfg.mode)
            self.transitions.append(line)
            self.timeline.append((time.time(), "transition", line))
            self.log.info(line)
        old, self.state = self.state, new
        if event is Event.LOGIN_COMPLETE:
            self.last_login_at = time.time()
            self.observer.login()
        if old is State.READY and new is not State.READY:
            self._ready_file(False)
            self.ready_since = None
        if new is not old:
            self.state_since = time.time()
            self.observer.state(new.value)
            self.publish()

    def status(self) -> dict[str, Any]:
        """What `ibpilot status`, /health, the status page and STATUS show for this mode (never a secret)."""
        probe = self.last_probe
        return {
            "mode": self.cfg.mode,
            "state": self.state.value,
            "since": self.state_since,
            "login_complete": self.login_complete,
            "jvm_starts": self.gw.starts,
            "controller_pid": os.getpid(),
            "jvm_pid": self.gw.pid,
            "api_port": self.cfg.effective_api_port,
            "probe": {
                "last_ok_at": self.last_probe_ok_at,
                "last_at": self.last_probe_at,
                "latency_ms": round(probe.seconds * 1000, 1) if probe is not None else None,
                "error": (probe.error or None) if probe is not None else None,
                "interval_s": self.cfg.probe_interval_s,
                "timeout_s": self.cfg.probe_timeout_s,
            },
            "last_login_at": self.last_login_at,
            "restarts": dict(self.restarts),
            "last_alert": dataclasses.asdict(self.last_alert) if self.last_alert else None,
            "version": __version__,
            "timeline": [{"t": t, "kind": k, "text": x} for t, k, x in self.timeline],
            "links": self.links,
        }

    def publish(self) -> None:
        """Write the state file (atomically): what `ibpilot status` shows for this mode."""
        try:
            self.cfg.run_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.cfg.state_file.with_name(self.cfg.state_file.name + ".tmp")
            tmp.write_text(json.dumps(self.status()))
            tmp.replace(self.cfg.state_file)
        except OSError as exc:
            self.log.debug("cannot write %s: %s", self.cfg.state_file, exc)

    def alert(self, alert: Alert, msg: str, **fields: object) -> None:
        line = emit(self.log, alert, self.cfg.mode, msg, **fields)
        self.last_alert = AlertRecord(alert.value, msg, time.time())
        self.timeline.append((self.last_alert.t, "alert", line))
        self.observer.alert(alert.value, msg, fields)
        self.publish()

    def end(self, outcome: Outcome) -> None:
        if self.outcome is not None and not self.outcome.done():
            self.outcome.set_result(outcome)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
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
        assert self.gw.bridge is not None
        return await self.gw.bridge.request(op, **args)

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
        result = await self.act("windows", handle=win.handle)
        raw = result if isinstance(result, list) else []
        for w in raw:
            self.gw.record({"event": "snapshot", "window": w})
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

    def screen_name(self, handle: str) -> str | None:
        screen = self.known.get(handle)
        return screen.name if screen is not None else None

    def window_named(self, prefix: str) -> Window | None:
        return self.find_window(lambda w: (self.screen_name(w.handle) or "").startswith(prefix))

    # ------------------------------------------------------------------ events
    async def on_window(self, kind: str, win: Window) -> None:
        self.windows[win.handle] = win
        screen = recognise(win)
        if screen is not None:
            self.known[win.handle] = screen
        for pred, fut in list(self.waiters):
            if not fut.done() and pred(win):
                fut.set_result(win)
        if screen is None:
            if (win.handle, "?") not in self.handled:
                self.handled.add((win.handle, "?"))
                await unknown_window(self, win)
            return
        key = (win.handle, screen.name)
        if key not in self.handled:
            self.handled.add(key)
            self.log.info("window %s recognised as %s", win.describe(), screen.name)
            if "opened" in screen.on:
                self.dispatch(screen, "opened", win)
        elif kind == "changed" and "changed" in screen.on:
            self.dispatch(screen, "changed", win)

    async def on_closed(self, handle: str, title: str | None) -> None:
        win = self.windows.pop(handle, None)
        screen = self.known.pop(handle, None)
        self.handled = {k for k in self.handled if k[0] != handle}
        if win is not None and win.is_dialog and self.state in _API_PENDING and self.api_watch is not None:
            self.api_watch.kick()  # it may have been what kept the API from answering (the paper warning)
        if screen is None and win is None and title:
            # shown and closed at once, before its opened event (the agent marks it unseen): a screen whose
            # closing matters (the splash: login complete) is recognised by its title alone
            screen = next((s for s in SCREENS if s.closed_unseen and any(t in title for t in s.title_contains)), None)
            win = Window.from_json({"handle": handle, "title": title}) if screen is not None else None
        if screen is not None and win is not None:
            self.log.info("window %r (%s) closed", title, screen.name)
            if "closed" in screen.on:
                self.dispatch(screen, "closed", win)

    def dispatch(self, screen: Screen, event: WindowEvent, win: Window) -> None:
        action = screen.action
        if isinstance(action, Click):
            self.spawn(action(self, win), f"click-{screen.name}")
        elif isinstance(action, Flow):
            self.spawn(action.handler(self, win, event), f"flow-{action.name}")
        elif isinstance(action, Note) and action.handler is not None:
            action.handler(self, win, event)

    async def pump(self, bridge: AgentBridge) -> None:
        async for ev in bridge.events():
            if isinstance(ev, WindowOpened):
                await self.on_window("opened", ev.window)
            elif isinstance(ev, WindowChanged):
                await self.on_window("changed", ev.window)
            elif isinstance(ev, WindowClosed):
                await self.on_closed(ev.handle, ev.title)
        raise AgentDisconnected("agent connection closed")

    async def _watch_jvm(self) -> None:
        code = await self.gw.wait()
        if self.state in (State.STOPPING, State.STOPPED):
            raise Outcome(f"JVM exited with code {code} after stop", restart=False)
        if self.gw.autorestart_pending():
            self.log.info("JVM exited (code %s) for Gateway's daily auto-restart: relaunching", code)
            raise Outcome("auto-restart", restart=True)
        self.alert(Alert.JVM_EXITED, "Gateway's JVM exited unexpectedly", code=code, state=self.state.value)
        raise Outcome(f"JVM exited with code {code}")

    # ------------------------------------------------------------------ readiness (WatchCtx)
    def _ready_file(self, ready: bool) -> None:
        path = self.cfg.ready_file
        if ready:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps({"mode": self.cfg.mode, "api_port": self.cfg.effective_api_port,
                                       "since": time.time()}))
            tmp.replace(path)
        else:
            path.unlink(missing_ok=True)

    def probe_done(self, res: ProbeResult) -> None:
        self.last_probe, self.last_probe_at = res, time.time()
        if res.ok:
            self.last_probe_ok_at = self.last_probe_at
        self.observer.probe(res)
        self.publish()  # the state file carries the probe's freshness (status, the peers' status page)

    def api_ready(self, res: ProbeResult) -> None:
        # after a re-login Gateway may not show the splash again: the API answering is the positive evidence
        # that the session is back
        self.login_complete = True
        self.known_accounts = self.known_accounts or res.accounts
        self.fire(Event.API_READY)
        self.ready_since = time.monotonic()
        self.session_was_ready = True
        self._ready_file(True)
        self.log.info("READY mode=%s api_port=%d", self.cfg.mode, self.cfg.effective_api_port)
        self.log.info("API answered in %.0f ms (server version %d, accounts %s)", res.seconds * 1000,
                      res.server_version, ",".join(res.accounts))

    # ------------------------------------------------------------------ one JVM lifetime
    async def session(self) -> Outcome:
        self.outcome = asyncio.get_running_loop().create_future()
        self.windows.clear()
        self.known.clear()
        self.handled.clear()
        self.flow = SessionFlows()
        self.session_was_ready = False
        self.api_watch = None
        self.login_complete = False
        try:
            bridge = await self.gw.launch(lambda: self.fire(Event.JVM_STARTED))
        except Outcome as o:
            return o
        except (OSError, RuntimeError, ValueError) as exc:
            self.log.error("cannot launch Gateway: %s", exc)
            return Outcome(str(exc), restart=False, code=EXIT_FATAL)
        self.publish()
        pump_task = self.spawn(self.pump(bridge), "pump")
        for coro, name in (
            (safety_poll(self, bridge), "poll"),
            (self._watch_jvm(), "jvm"),
            (watch_progress(self), "progress"),
            (timed_actions(self), "timed"),
        ):
            self.spawn(coro, name)
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
        done, _ = await asyncio.wait({self.outcome, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if stop_wait in done:
            outcome = await self._stop_gateway()
        else:
            stop_wait.cancel()
            outcome = self.outcome.result()
        await self._cancel_tasks()
        await self.gw.kill(grace=5.0, reason=outcome.reason)
        await self.gw.close_bridge()
        self._ready_file(False)
        return outcome

    async def _cancel_tasks(self) -> None:
        """Cancel this session's tasks and wait for them; a task that does not end is cancelled again (and
        named), so a late one can never keep a finished session's JVM alive."""
        for attempt in range(5):
            pending = [t for t in self.tasks if not t.done()]
            if not pending:
                return
            for t in pending:
                t.cancel()
            _, still = await asyncio.wait(pending, timeout=2.0)
            if still:
                self.log.warning("tasks still running after cancel #%d: %s", attempt + 1,
                                 ", ".join(sorted(t.get_name() for t in still)))

    async def _stop_gateway(self) -> Outcome:
        self.fire(Event.STOP)
        main = self.window_named("main_window")
        if self.login_complete and self.gw.bridge is not None and main is not None:
            items = ["File", "Exit"] if self.cfg.product == "tws" else ["File", "Close"]
            self.log.info("logging out: %s", " > ".join(items))
            with contextlib.suppress(AgentError, AgentDisconnected):
                await self.act("menu", window=main.handle, items=items)
            try:
                await asyncio.wait_for(self.gw.wait(), 20.0)
            except TimeoutError:
                self.log.warning("Gateway did not exit within 20s of %s; killing it", " > ".join(items))
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
            if self.session_was_ready or time.monotonic() - started > 600 or outcome.reason == "auto-restart":
                attempt = 0
            backoff = self.cfg.restart_backoff_s
            delay = 0.0 if outcome.reason == "auto-restart" else backoff[min(attempt, len(backoff) - 1)]
            attempt += 1
            self.restarts[outcome.cause] += 1
            self.observer.restart(outcome.cause)
            self.fire(Event.RESTART)
            self.log.info("restarting Gateway in %.0fs (%s)", delay, outcome.reason)
            try:
                await asyncio.wait_for(self.stop_requested.wait(), delay)
            except TimeoutError:
                continue
            self.fire(Event.STOP)
            self.fire(Event.STOPPED)
            return EXIT_STOPPED

    def request_stop(self) -> None:
        self.log.info("stop requested")
        self.stop_requested.set()

    def start_configuration(self) -> None:
        self.spawn(api_settings.configure(self), "configure")
        if not any(t.get_name() == "api" and not t.done() for t in self.tasks):
            self.api_watch = ApiWatch(self)
            self.spawn(self.api_watch.run(), "api")
