"""The running stack: start supervisord, start programs as their dependencies get ready, stop gracefully.

supervisord has no dependencies between programs, so `Stack` (running inside `ibpilot run`, supervisord's
parent) adds them:
- programs without `depends_on` are `autostart=true`; the others are `autostart=false` and started over
  XML-RPC once every dependency is ready (its `Ready` condition holds and supervisord says RUNNING; a
  one-shot hook is "ready" once it has exited);
- a long-running program that depends on a controller (a `file` readiness, e.g. `socat-paper`) is
  *gated*: it is stopped whenever that controller is not ready and started again when it is, so that
  API clients get "connection refused" instead of a half-started Gateway;
- a `fatal` program that gives up (FATAL) or exits for good (a controller's exit code 0, 2 or 3) stops the
  whole stack, so that the container's restart policy acts.

The pieces: `layout` (RUN_DIR and the files written before the start), `conf` (supervisord.conf), `rpc`
(supervisord's XML-RPC), `ready` (readiness conditions), `logfollow` (echoing the programs' output).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import xmlrpc.client
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ibpilot.serve.alerts import Alert, emit
from ibpilot.settings import Settings
from ibpilot.stack.conf import render_conf
from ibpilot.stack.exits import ExitWatch
from ibpilot.stack.layout import (
    Layout,
    child_environment,
    chown_tree,
    layout,
    prepare_run_dir,
    write_private,
    write_program_files,
)
from ibpilot.stack.logfollow import LogForwarder, pump
from ibpilot.stack.plan import Program, gated_on, is_controller
from ibpilot.stack.ready import condition_holds
from ibpilot.stack.rpc import Supervisor

log = logging.getLogger("ibpilot.stack")

# `ibpilot run` exit codes
EXIT_OK = 0  # stopped by SIGTERM/SIGINT (or every controller finished by itself with 0)
EXIT_ERROR = 1  # supervisord could not start or died
EXIT_CONFIG = 2  # bad configuration: nothing was started
EXIT_CREDENTIALS = 3  # a controller gave up: credentials refused (passed through from `ibpilot control`)
EXIT_TWOFA = 4  # a controller exited after an incomplete second factor (TWOFA_TIMEOUT_ACTION=exit)
EXIT_PROGRAM_FAILED = 5  # a vital program failed for good (FATAL), e.g. Xvfb or a crashing controller
EXIT_KILLED = 6  # the graceful stop took longer than the grace period; what was left was killed

_RUNNING_STATES = {"STARTING", "RUNNING", "BACKOFF", "STOPPING"}


def _set_pdeathsig() -> None:
    """In the child: get SIGTERM if `ibpilot run` dies, so supervisord never outlives it (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


# --------------------------------------------------------------------------------------------------
# The running stack


@dataclass
class Stack:
    """supervisord plus the ordering loop. `run()` blocks until stopped and returns an exit code."""

    settings: Settings
    programs: list[Program]
    env: Mapping[str, str]
    out: TextIO = sys.stdout
    forward_logs: bool = True
    grace: float | None = None  # seconds for a graceful stop; default: the longest stopwaitsecs + 15
    on_ready: Callable[[Stack], None] | None = None
    poll_interval: float = 0.2

    lay: Layout = field(init=False)
    stop_requested: threading.Event = field(default_factory=threading.Event, init=False)
    stopping: threading.Event = field(default_factory=threading.Event, init=False)  # stop() has begun
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    rpc: Supervisor | None = field(default=None, init=False)
    started: set[str] = field(default_factory=set, init=False)
    ready: set[str] = field(default_factory=set, init=False)
    infos: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _forwarder: LogForwarder | None = field(default=None, init=False)
    _all_ready_once: bool = field(default=False, init=False)
    _modes_ready: set[str] = field(default_factory=set, init=False)
    _reported_down: set[str] = field(default_factory=set, init=False)
    _hooks_reported: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.lay = layout(self.settings)
        self._by_name = {p.name: p for p in self.programs}
        self._gates = {p.name: gated_on(p, self.programs) for p in self.programs}
        self.exits = ExitWatch(self.settings, self.programs,
                               lambda: self.stop_requested.is_set() or self.stopping.is_set(), log)

    @property
    def controllers(self) -> list[Program]:
        return [p for p in self.programs if is_controller(p)]

    def request_stop(self) -> None:
        self.stop_requested.set()

    # --- start ------------------------------------------------------------------------------------
    def prepare(self) -> dict[str, str]:
        """Write RUN_DIR: secrets, program files, supervisord.conf. Returns supervisord's environment."""
        s = self.settings
        prepare_run_dir(self.lay)
        for mode in s.modes():  # a ready file from an earlier run must not claim readiness
            with contextlib.suppress(FileNotFoundError):
                Path(s.ready_file(mode)).expanduser().unlink()
        for stale in (self.lay.socket, self.lay.pidfile):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        env, written = child_environment(s, self.env, self.lay)
        written += write_program_files(self.programs, self.lay)
        write_private(self.lay.conf, render_conf(s, self.programs, self.lay).encode())
        for p in self.programs:
            log_file = self.lay.program_log(p.name)
            log_file.touch(mode=0o600, exist_ok=True)
        if os.geteuid() == 0 and s.puid is not None:
            gid = s.pgid if s.pgid is not None else s.puid
            chown_tree([self.lay.run_dir, self.lay.log_dir, self.lay.secrets_dir, *written,
                        *self.lay.log_dir.iterdir()], s.puid, gid)
        return env

    def _supervisord_argv(self) -> list[str]:
        return [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.lay.conf)]

    def start(self) -> None:
        env = self.prepare()
        self.proc = subprocess.Popen(
            self._supervisord_argv(),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,  # always read: its log lines also tell of programs that exit (exits.py)
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C reaches `ibpilot run` only; it stops things in order
            preexec_fn=_set_pdeathsig,
            umask=0o077,  # program logs and what programs create: owner only (supervisord's umask= needs daemon mode)
        )
        threading.Thread(target=pump, args=(self.proc.stdout, "supervisord", self.out if self.forward_logs else None,
                                            self._lock, self.exits.feed),
                         name="supervisord-output", daemon=True).start()
        if self.forward_logs:
            self._forwarder = LogForwarder({p.name: self.lay.program_log(p.name) for p in self.programs},
                                           self.out, self._lock)
            self._forwarder.start()
        self.rpc = Supervisor(self.lay.socket)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"supervisord exited with status {self.proc.returncode} while starting "
                                   f"(see {self.lay.logfile})")
            try:
                if self.rpc.state() == "RUNNING":
                    break
            except (OSError, xmlrpc.client.Error):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("supervisord did not answer on its socket within 30 s")
            if self.stop_requested.wait(0.05):
                break
        self.started = {p.name for p in self.programs if not p.depends_on}

    # --- the ordering loop -------------------------------------------------------------------------
    def _is_ready(self, name: str) -> bool:
        p = self._by_name[name]
        info = self.infos.get(name, {})
        state = info.get("statename")
        if p.oneshot:
            return state == "EXITED"
        return state in ("STARTING", "RUNNING") and condition_holds(p)

    def _tick(self) -> int | None:
        """One pass: refresh states, start/stop what depends on readiness; an exit code means stop."""
        assert self.rpc is not None
        self.infos = self.rpc.processes()
        now_ready = {p.name for p in self.programs if p.name in self.infos and self._is_ready(p.name)}
        for name in sorted(now_ready - self.ready):
            log.info("stack: %s ready", name)
        for name in sorted((self.ready - now_ready) & {c.name for c in self.controllers}):
            log.warning("stack: %s is no longer ready", name)
        self.ready = now_ready
        for p in self.programs:
            if p.oneshot and self.infos.get(p.name, {}).get("statename") == "EXITED" \
                    and p.name not in self._hooks_reported:
                self._hooks_reported.add(p.name)
                code = self.infos[p.name].get("exitstatus", 0)
                if code:
                    log.warning("stack: %s exited with status %s (continuing)", p.name, code)
        for p in self.programs:
            gates = self._gates[p.name]
            deps_ready = all(d in self.ready for d in p.depends_on)
            state = self.infos.get(p.name, {}).get("statename")
            if p.name not in self.started:
                if deps_ready and not self.stop_requested.is_set():
                    log.info("stack: starting %s (%s ready)", p.name, ", ".join(p.depends_on))
                    self.rpc.start(p.name)
                    self.started.add(p.name)
            elif gates and not all(g in self.ready for g in gates):
                if state in _RUNNING_STATES and state != "STOPPING":
                    log.info("stack: stopping %s until %s is ready again", p.name, ", ".join(gates))
                    self.rpc.stop(p.name)
                self.started.discard(p.name)
        self._report_modes()
        return self._verdict()

    def _report_modes(self) -> None:
        s = self.settings
        for mode in s.modes():
            name = f"controller-{mode}"
            ok = name in self.ready
            if ok and mode not in self._modes_ready:
                self._modes_ready.add(mode)
                where = [f"API 127.0.0.1:{s.api_port(mode)}"]
                if f"socat-{mode}" in self._by_name:
                    where.append(f"socat {s.socat_bind}:{s.socat_port(mode)}")
                log.info("stack: %s READY (%s)", mode, ", ".join(where))
            elif not ok:
                self._modes_ready.discard(mode)
        if not self._all_ready_once and len(self._modes_ready) == len(s.modes()):
            self._all_ready_once = True
            if self.on_ready is not None:
                self.on_ready(self)

    def _verdict(self) -> int | None:
        codes: list[int] = []
        for p in self.programs:
            info = self.infos.get(p.name, {})
            state = info.get("statename")
            final = state == "FATAL" or (state == "EXITED" and not p.oneshot and p.name in self.started)
            if not final:
                continue
            code = EXIT_PROGRAM_FAILED if state == "FATAL" else int(info.get("exitstatus", 1))
            if code == 2:  # a controller refusing the configuration: same meaning for the stack
                code = EXIT_CONFIG
            elif code not in (0, EXIT_CREDENTIALS, EXIT_TWOFA):
                code = EXIT_PROGRAM_FAILED
            if p.fatal:
                log.error("stack: %s %s (exit status %s); stopping everything", p.name,
                          "gave up" if state == "FATAL" else "finished", info.get("exitstatus"))
                return code
            if p.name not in self._reported_down:
                self._reported_down.add(p.name)
                if is_controller(p):
                    emit(log, Alert.MODE_DOWN, p.name.removeprefix("controller-"),
                         f"{p.name} is down for good ({state}); the other side keeps running",
                         exit_status=info.get("exitstatus"))
                else:
                    log.error("stack: %s %s; not restarted", p.name, state)
            if is_controller(p):
                codes.append(code)
        if self.controllers and len(codes) == len(self.controllers):
            log.error("stack: every controller is down; stopping")
            return max(codes)
        return None

    def run(self) -> int:
        """Start, keep ordering until a stop is requested or something vital failed, stop; the exit code."""
        try:
            self.start()
        except (OSError, RuntimeError) as exc:
            log.error("stack: %s", exc)
            self._kill_everything()
            return EXIT_ERROR
        code: int | None = None
        while not self.stop_requested.is_set():
            assert self.proc is not None
            if self.proc.poll() is not None:
                log.error("stack: supervisord exited unexpectedly (status %s)", self.proc.returncode)
                self._kill_everything()
                self._finish()
                return EXIT_ERROR
            try:
                code = self._tick()
            except (OSError, xmlrpc.client.Error) as exc:
                log.warning("stack: supervisord did not answer (%s)", exc)
            if code is not None:
                break
            self.stop_requested.wait(self.poll_interval)
        stop_code = self.stop()
        return stop_code if code is None else (code if stop_code == EXIT_OK else stop_code)

    # --- stop -------------------------------------------------------------------------------------
    def default_grace(self) -> float:
        return max((p.stopwaitsecs for p in self.programs), default=10) + 15.0

    def stop(self) -> int:
        """Controllers first (clean logout), then everything else; kill what outlives the grace period."""
        self.stopping.set()
        grace = self.grace if self.grace is not None else self.default_grace()
        deadline = time.monotonic() + grace
        log.info("stack: stopping (grace %.0f s): controllers first", grace)
        rpc, proc = self.rpc, self.proc
        if proc is None or rpc is None:
            return EXIT_OK
        forced = False
        try:
            gated = [p for p in self.programs if self._gates[p.name]]
            for p in [*gated, *self.controllers]:  # API forwarders first: clients get refused, not hung
                with contextlib.suppress(xmlrpc.client.Fault):
                    rpc.stop(p.name)
            while time.monotonic() < deadline - 5 and proc.poll() is None:
                infos = rpc.processes()
                if all(infos.get(c.name, {}).get("statename") not in _RUNNING_STATES for c in self.controllers):
                    break
                time.sleep(0.1)
            self.infos = rpc.processes()
            rpc.shutdown()
        except (OSError, xmlrpc.client.Error) as exc:
            log.warning("stack: supervisord did not answer while stopping (%s)", exc)
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("stack: still running after the %.0f s grace period: killing what is left", grace)
            self._kill_everything()
            forced = True
        self._finish()
        log.info("stack: stopped")
        return EXIT_KILLED if forced else EXIT_OK

    def _kill_everything(self) -> None:
        for info in self.infos.values():
            pid = int(info.get("pid") or 0)
            if pid > 0:
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)  # programs run in their own process groups
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def _finish(self) -> None:
        if self._forwarder is not None:
            self._forwarder.stop()
            self._forwarder = None
        for mode in self.settings.modes():
            with contextlib.suppress(FileNotFoundError):
                Path(self.settings.ready_file(mode)).expanduser().unlink()
