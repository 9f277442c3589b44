"""The fault table: every fault the chaos suite injects, in one place (see chaoslib for how a row runs).

`slow=True` rows (the clock jump only) carry the pytest marker `chaos_slow`: `make chaos` runs them, `make test`
deselects them (libfaketime slows the JVM several times over: too slow and unsteady for CI); every
other row runs in `make test` too.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chaos_env import clock_jump, disk_full, dual_crash_loop, link_cut, sshd_restart
from chaoslib import (
    Fault,
    Run,
    cont_jvm,
    in_state,
    jvms,
    kill_jvm,
    kill_program,
    nothing,
    sigterm_stack,
    sim_states,
    stack_exited,
    stop_jvm,
)


def _ready(run: Run) -> bool:
    return run.ready_again() and run.socat_accepts()


def _serving(run: Run) -> bool:
    """Still READY (no relaunch needed), API reachable through socat again."""
    return run.serving() and run.socat_accepts()


def _heal(**changes: object) -> Callable[[Run], None]:
    return lambda run: run.scenario(**changes)


def _wait_event(name: str) -> Callable[[Run], None]:
    """Inject = the scenario's own timer fires: wait for the simulator's event, then heal the scenario so the
    next JVM the controller launches does not play it again."""

    def inject(run: Run) -> None:
        ev = run.st.root / "sim-events.jsonl"
        deadline = time.monotonic() + 60
        while f'"event":"{name}"' not in ev.read_text().replace(" ", ""):
            assert time.monotonic() < deadline, f"no {name} event"
            time.sleep(0.1)

    return inject


def _wait_state(state: str) -> Callable[[Run], None]:
    def inject(run: Run) -> None:
        deadline = time.monotonic() + 60
        while state not in sim_states(run.st):
            assert time.monotonic() < deadline, f"the simulator never reached {state}"
            time.sleep(0.1)

    return inject


def _stalled_api(run: Run) -> None:
    run.scenario(hang_at=None)  # the running JVM has read it; a relaunched one must serve again
    _wait_event("hang")(run)


def _auto_restart(run: Run) -> None:
    run.scenario(auto_restart_in_s=None)  # fires once per JVM: the relaunch must not restart again
    _wait_event("autorestart")(run)


def _restarted(run: Run) -> bool:
    return "restart_token" in (run.st.root / "sim-events.jsonl").read_text() and _ready(run)


def _exited_clean(run: Run) -> bool:
    return stack_exited(run)


def _sigterm_in(state: str, slow: bool = False, **scenario: object) -> Fault:
    return Fault(
        name=f"sigterm-{state.replace('_', '-')}",
        what=f"SIGTERM to `ibpilot run` while the Gateway is in `{state}`",
        detected_by="signal handler of `ibpilot run`",
        alert=None,
        inject=sigterm_stack,
        recovered=_exited_clean,
        expect="clean stop: exit 0, nothing left running",
        scenario=dict(scenario),
        when=in_state(state),
        exit_code=0,
        slow=slow,
        # waiting for a push approval is announced (ALERT_2FA_PENDING) when the dialog shows; whether that line
        # comes before the SIGTERM is a race of no consequence: it is the state's own alert, not a fault's
        tolerated=("ALERT_2FA_PENDING",) if state == "second_factor" else (),
    )


def _sigterm_ready() -> Fault:
    f = _sigterm_in("logged_in")
    f.name, f.what, f.when = "sigterm-ready", "SIGTERM to `ibpilot run` while READY", None
    return f


FAULTS: list[Fault] = [
    Fault("jvm-sigkill", "Gateway JVM killed (SIGKILL)", "controller: JVM exit", r"ALERT_JVM_EXITED mode=paper",
          kill_jvm, _ready, "READY again (relaunched)"),
    Fault("jvm-sigstop", "Gateway JVM stopped (SIGSTOP) past the probe budget",
          "controller: API probe (3 failures)", r"ALERT_HANG mode=paper", stop_jvm, _ready,
          "READY again (hung JVM killed, relaunched)", after_alert=cont_jvm),
    Fault("api-stalled", "API stalled, port open (accepts, never answers)", "controller: API probe",
          r"ALERT_HANG mode=paper", _stalled_api, _ready, "READY again (relaunched)",
          scenario={"hang_at": {"state": "logged_in", "kind": "api", "after_s": 12}}),
    Fault("xvfb-killed", "Xvfb killed", "supervisord exit → ExitWatch; controller: JVM exit",
          r"ALERT_PROCESS_EXITED mode=paper program=xvfb", kill_program("xvfb"), _ready,
          "Xvfb restarted, READY again"),
    Fault("socat-killed", "socat killed", "supervisord exit → ExitWatch",
          r"ALERT_PROCESS_EXITED mode=paper program=socat-paper", kill_program("socat-paper", "socat"),
          _serving, "socat restarted, API reachable again"),
    Fault("x11vnc-killed", "x11vnc killed", "supervisord exit → ExitWatch",
          r"ALERT_PROCESS_EXITED mode=paper program=x11vnc", kill_program("x11vnc"),
          lambda run: _serving(run) and run.vnc_accepts(), "x11vnc restarted, VNC reachable again",
          env={"VNC_SERVER_PASSWORD": "Vnc7pw42", "VNC_BIND": "127.0.0.1"}),
    Fault("kicked-out", "session kicked by another login", "controller: window rule",
          r"ALERT_EXISTING_SESSION mode=paper", _wait_state("kicked_out"), _ready,
          "session taken back (primary), READY again", scenario={"kick_out_after_s": 8}),
    Fault("wrong-password", "wrong password", "controller: Login failed dialog",
          r"ALERT_LOGIN_FAILED mode=paper", nothing, stack_exited,
          "ALERT_GIVING_UP, stack stops with exit 3", scenario={"password": "the-right-one"},
          env={"LOGIN_FAILURE_LIMIT": "1"}, when=in_state("login_frame"), exit_code=3),
    Fault("lockout", "lockout: 2 login attempts hang silently", "controller: login timeout",
          r"ALERT_LOGIN_STALLED mode=paper", nothing, _ready, "READY after the lockout (relaunches)",
          scenario={"lockout_attempts": 2, "lockout_hang_s": 3600}, env={"LOGIN_TIMEOUT": "12"},
          when=in_state("connecting")),
    Fault("push-never-approved", "IB Key push never approved", "controller: 2FA timeout",
          r"ALERT_2FA_TIMEOUT mode=paper", nothing, _ready,
          "relaunched; READY once the phone approves",
          # Gateway's own 2FA window closes after second_factor_timeout_s (as the real one does): the
          # controller acts only then (see docs/reliability.md, "Found")
          scenario={"second_factor": "push", "push_approve_after_s": -1, "second_factor_timeout_s": 10},
          env={"TWOFA_TIMEOUT": "8", "TWOFA_EXIT_INTERVAL": "5"}, when=in_state("second_factor"),
          after_alert=_heal(push_approve_after_s=1)),
    Fault("auto-restart", "the daily auto-restart", "simulator: Lock and Exit; controller: restart token",
          None, _auto_restart, _restarted, "READY again without credentials (restart token)",
          # Gateway announces the restart ("Restart in progress") before its API closes: no ALERT_API_DOWN
          scenario={"auto_restart_in_s": 8}),
    _sigterm_in("connecting", connect_delay_s=30),
    _sigterm_in("second_factor", second_factor="push", push_approve_after_s=-1),
    _sigterm_ready(),
    Fault("sigterm-restart", "SIGTERM to `ibpilot run` during the auto-restart", "signal handler of `ibpilot run`",
          None, sigterm_stack, _exited_clean, "clean stop: exit 0, nothing left running",
          scenario={"auto_restart_in_s": 6, "connect_delay_s": 5},
          when=lambda run: "connecting" in sim_states(run.st)[sim_states(run.st).index("logged_in") + 1:]
          if "logged_in" in sim_states(run.st) else False, exit_code=0),
    Fault("dual-crash-loop", "dual mode: paper's JVM killed 3 times in a row", "controller: JVM exit",
          r"ALERT_JVM_EXITED mode=paper", dual_crash_loop, lambda run: _ready(run) and run.serving("live"),
          "live READY throughout; paper READY again after back-off", scenario={"second_factor": "none"},
          modes=("live", "paper"),
          no_alerts=("ALERT_JVM_EXITED mode=live", "ALERT_MODE_DOWN mode=live", "ALERT_HANG mode=live")),
    sshd_restart(),
    link_cut(),
    disk_full(),
    clock_jump(),
]

assert len({f.name for f in FAULTS}) == len(FAULTS)
_ = jvms  # re-exported for the soak script
