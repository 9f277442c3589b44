"""ALERT_PROCESS_EXITED: a stack program exited by itself, read from supervisord's own log lines.

supervisord says everything about a process's end in its log (its stdout under `ibpilot run`):
`spawned: 'x11vnc' with pid 123`, `success: x11vnc entered RUNNING state ...`,
`exited: x11vnc (terminated by SIGKILL; not expected)`. A stop that was asked for (by `ibpilot run`, an
operator's supervisorctl, the shutdown) is logged as `stopped: ...` instead, so every `exited:` line of a
long-running program is an unexpected end. `ExitWatch.feed` turns it into one alert line naming the
program, its pid, its exit status or signal, and whether supervisord will start it again.

Not alerted: hooks that finished well (one-shot programs exiting 0), a controller's deliberate exits
(CONTROLLER_FINAL_EXIT_CODES: it has alerted itself), and anything once the stack is stopping.
"""

from __future__ import annotations

import logging
import re
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ibpilot.serve.alerts import Alert, format_alert
from ibpilot.settings import Settings
from ibpilot.stack.conf import CONTROLLER_FINAL_EXIT_CODES
from ibpilot.stack.plan import Program, is_controller

_SPAWNED = re.compile(r"\bspawned: '(?P<name>[^']+)' with pid (?P<pid>\d+)")
_RUNNING = re.compile(r"\bsuccess: (?P<name>\S+) entered RUNNING state")
_EXITED = re.compile(r"\bexited: (?P<name>\S+) \((?P<how>.*); (?P<expected>expected|not expected)\)\s*$")
_STATUS = re.compile(r"exit status (?P<status>-?\d+)")
_SIGNAL = re.compile(r"terminated by (?P<signal>SIG\w+)")




@dataclass
class _Seen:
    pid: int | None = None
    running: bool = False  # reached RUNNING since its last spawn (else an exit is a failed start)
    quick_exits: int = 0  # failed starts in a row: supervisord retries while <= startretries


class ExitWatch:
    """Feed it supervisord's log lines (any thread); it logs ALERT_PROCESS_EXITED for unexpected exits."""

    def __init__(self, settings: Settings, programs: Sequence[Program], stopping: Callable[[], bool],
                 log: logging.Logger) -> None:
        self._programs = {p.name: p for p in programs}
        self._stopping = stopping
        self._log = log
        self._seen: dict[str, _Seen] = {}
        modes = settings.modes()
        self._default_mode = modes[0] if len(modes) == 1 else "both"
        self.alerts: list[str] = []

    def _mode(self, name: str) -> str:
        for m in ("live", "paper"):
            if name.endswith(f"-{m}"):
                return m
        return self._default_mode

    def feed(self, line: str) -> str | None:
        """Take one supervisord log line; the alert line when it reports an unexpected exit."""
        if m := _SPAWNED.search(line):
            seen = self._seen.setdefault(m["name"], _Seen())
            seen.pid, seen.running = int(m["pid"]), False
        elif m := _RUNNING.search(line):
            seen = self._seen.setdefault(m["name"], _Seen())
            seen.running, seen.quick_exits = True, 0
        elif m := _EXITED.search(line):
            return self._exited(m["name"], m["how"], m["expected"] == "expected")
        return None

    def _exited(self, name: str, how: str, expected: bool) -> str | None:
        program = self._programs.get(name)
        seen = self._seen.setdefault(name, _Seen())
        # a program with startsecs=0 cannot fail to start in supervisord's sense (it is RUNNING at once)
        was_running = seen.running or (program is not None and program.startsecs == 0)
        seen.running = False
        if not was_running:
            seen.quick_exits += 1
        if program is None or self._stopping():
            return None
        status_m, signal_m = _STATUS.search(how), _SIGNAL.search(how)
        status = int(status_m["status"]) if status_m else None
        if program.oneshot and expected:
            return None  # a hook that finished
        if is_controller(program) and status in CONTROLLER_FINAL_EXIT_CODES:
            return None  # the controller's own decision; it has said why
        sig = signal_m["signal"] if signal_m else None
        if sig is None and status is not None and status > 128 and program.restart_delay > 0:
            # the restart-delay wrapper (`sh -c '"$@"; rc=$?; sleep ..; exit $rc'`) reports a signal as 128+n
            try:
                sig = signal.Signals(status - 128).name
            except ValueError:
                sig = None
        restart = self._will_restart(program, expected, was_running, seen.quick_exits)
        fields: dict[str, object] = {"program": name, "pid": seen.pid if seen.pid is not None else "?"}
        if status is not None:
            fields["status"] = status
        if sig is not None:
            fields["signal"] = sig
        fields["restart"] = "yes" if restart else "no"
        what = f"killed by {sig}" if sig and status is None else f"exited with status {status}"
        if sig and status is not None:
            what += f" ({sig})"
        if not was_running:
            what += " while starting"
        then = "supervisord restarts it" if restart else "supervisord does not restart it"
        line = format_alert(Alert.PROCESS_EXITED, self._mode(name), f"{name} {what}; {then}", **fields)
        self._log.warning(line)
        self.alerts.append(line)
        return line

    @staticmethod
    def _will_restart(program: Program, expected: bool, was_running: bool, quick_exits: int) -> bool:
        """supervisord's own rule (process.py transition()), with the autorestart/exitcodes of conf.py."""
        if not was_running:  # BACKOFF: retried while the failed starts are <= startretries
            return quick_exits <= program.startretries
        if not program.autorestart:
            return False
        if is_controller(program):  # autorestart=unexpected, exitcodes=CONTROLLER_FINAL_EXIT_CODES
            return not expected
        return True
