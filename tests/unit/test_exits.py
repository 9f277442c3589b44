"""ALERT_PROCESS_EXITED from supervisord's log lines (stack/exits.py), on the lines supervisord 4.x writes."""

from __future__ import annotations

import logging

import pytest

from ibpilot.settings import Settings
from ibpilot.stack.exits import ExitWatch
from ibpilot.stack.plan import plan

ENV = {"HOME": "/home/ib", "TWS_USERID": "bob", "TWS_PASSWORD": "pw-live-123", "TRADING_MODE": "paper",
       "VNC_SERVER_PASSWORD": "vncpw789", "START_SCRIPTS": "/hooks"}  # fake credentials
TS = "2026-01-02 03:04:05,678"


def watch(stopping: bool = False) -> ExitWatch:
    s = Settings.from_env(ENV)
    return ExitWatch(s, plan(s), lambda: stopping, logging.getLogger("test"))


def feed(w: ExitWatch, *lines: str) -> list[str | None]:
    return [w.feed(f"{TS} INFO {line}") for line in lines]


def test_a_killed_program_is_alerted_with_pid_signal_and_restart() -> None:
    w = watch()
    *_, alert = feed(w, "spawned: 'x11vnc' with pid 4242",
                     "success: x11vnc entered RUNNING state, process has stayed up for > than 2 seconds (startsecs)",
                     "exited: x11vnc (terminated by SIGKILL; not expected)")
    assert alert is not None
    assert alert.startswith("ALERT_PROCESS_EXITED mode=paper program=x11vnc pid=4242 signal=SIGKILL restart=yes ")
    assert 'msg="x11vnc killed by SIGKILL; supervisord restarts it"' in alert
    assert w.alerts == [alert]


def test_the_restart_delay_wrapper_status_is_read_as_the_signal() -> None:
    w = watch()
    *_, alert = feed(w, "spawned: 'socat-paper' with pid 77",
                     "success: socat-paper entered RUNNING state, process has stayed up for > than 1 seconds",
                     "exited: socat-paper (exit status 137; not expected)")
    assert alert is not None and "program=socat-paper pid=77 status=137 signal=SIGKILL restart=yes" in alert


@pytest.mark.parametrize("lines", [
    ["spawned: 'start-scripts' with pid 5", "exited: start-scripts (exit status 0; expected)"],  # hook done
    ["spawned: 'controller-paper' with pid 6", "exited: controller-paper (exit status 3; expected)"],  # gave up
    ["spawned: 'x11vnc' with pid 7", "stopped: x11vnc (terminated by SIGTERM)"],  # asked to stop
    ["spawned: 'nobody' with pid 8", "exited: nobody (exit status 1; not expected)"],  # not ours
])
def test_what_is_not_an_unexpected_exit(lines: list[str]) -> None:
    w = watch()
    assert feed(w, *lines) == [None] * len(lines)
    assert w.alerts == []


def test_nothing_is_alerted_while_stopping() -> None:
    w = watch(stopping=True)
    assert feed(w, "spawned: 'x11vnc' with pid 9", "exited: x11vnc (terminated by SIGKILL; not expected)")[-1] is None


def test_a_crashing_controller_and_a_failing_hook_are_alerted() -> None:
    w = watch()
    crash = feed(w, "spawned: 'controller-paper' with pid 10", "exited: controller-paper (exit status 1; not expected)")
    assert crash[-1] is not None and "program=controller-paper pid=10 status=1 restart=yes" in crash[-1]
    hook = feed(w, "spawned: 'start-scripts' with pid 11", "exited: start-scripts (exit status 2; not expected)")
    assert hook[-1] is not None and "program=start-scripts pid=11 status=2 restart=no" in hook[-1]
    assert "mode=paper" in hook[-1]


def test_failed_starts_say_restart_until_supervisord_gives_up() -> None:
    w = watch()  # xvfb: startsecs 2, startretries 3 -> supervisord tries 4 times, then FATAL
    verdicts = []
    for pid in range(20, 24):
        alert = feed(w, f"spawned: 'xvfb' with pid {pid}", "exited: xvfb (exit status 1; not expected)")[-1]
        assert alert is not None and f"pid={pid} " in alert and "while starting" in alert
        verdicts.append("restart=yes" in alert)
    assert verdicts == [True, True, True, False]
    # once it ran for long enough, the count starts again
    feed(w, "spawned: 'xvfb' with pid 30", "success: xvfb entered RUNNING state, process has stayed up for > than 2")
    assert "restart=yes" in (feed(w, "exited: xvfb (terminated by SIGSEGV (core dumped); not expected)")[-1] or "")
