"""Start-up refusal, SIGTERM shutdown, and both trading modes side by side."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import StackFactory, accepts, refused
from ib_async import IB

from ibpilot.testing import descendants, free_port, wait_until

pytestmark = [pytest.mark.system, pytest.mark.timeout(240)]


def test_bad_configuration_exits_2_and_starts_nothing(stacks: StackFactory) -> None:
    st = stacks(start=False, TRADING_MODE="sideways", NOVNC_PORT="6080", SOCAT_PORT="99999")
    r = subprocess.run([sys.executable, "-m", "ibpilot", "run"], env=st.env, capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    for name in ("TRADING_MODE", "NOVNC_PORT", "SOCAT_PORT"):
        assert name in r.stderr
    assert not (st.run_dir / "supervisord.conf").exists()
    assert st.leftovers() == []


def test_port_in_use_is_refused_before_anything_starts(stacks: StackFactory) -> None:
    import socket

    st = stacks(start=False)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", st.ports["socat"]))
        busy.listen()
        r = subprocess.run([sys.executable, "-m", "ibpilot", "run"], env=st.env, capture_output=True, text=True,
                           timeout=60, check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"127.0.0.1:{st.ports['socat']} is already in use" in r.stderr
    assert st.leftovers() == []


def test_sigterm_logs_out_and_leaves_nothing_behind(stacks: StackFactory) -> None:
    st = stacks()
    st.wait_ready("paper")
    wait_until(lambda: accepts(st.ports["socat"]), 15, "socat listening")
    procs = st.leftovers()
    assert len(procs) >= 5, procs  # ibpilot run, supervisord, Xvfb, controller, JVM, socat
    t0 = time.monotonic()
    code = st.terminate(90)
    took = time.monotonic() - t0
    assert code == 0, st.diagnostics()
    assert st.leftovers() == [], st.leftovers()
    assert not st.ready_file("paper").exists()
    assert refused(st.ports["socat"])
    out = st.output()
    assert "logging out" in out  # the controller logged out cleanly before the JVM went
    assert out.index("stopped: controller-paper") < out.index("stopped: xvfb"), out[-3000:]
    assert took < 30, took
    assert "ALERT_PROCESS_EXITED" not in out  # a requested stop is no unexpected exit


def test_socat_follows_the_controllers_readiness(stacks: StackFactory) -> None:
    st = stacks()
    st.wait_ready("paper")
    wait_until(lambda: accepts(st.ports["socat"]), 15, "socat listening")
    ctl = [str(Path(sys.executable).parent / "supervisorctl"), "-c", str(st.run_dir / "supervisord.conf")]

    def supervisorctl(*args: str) -> str:
        r = subprocess.run([*ctl, *args], capture_output=True, text=True, timeout=120, check=False)
        return r.stdout + r.stderr

    assert "stopped" in supervisorctl("stop", "controller-paper")  # an operator stops the Gateway
    assert not st.ready_file("paper").exists()
    wait_until(lambda: refused(st.ports["socat"]), 5, "socat stopped while not ready", 0.05)
    r = st.status()
    assert r.returncode == 1 and "paper: not ready" in r.stdout, r.stdout
    supervisorctl("start", "controller-paper")
    st.wait_ready("paper", 60)
    wait_until(lambda: accepts(st.ports["socat"]), 15, "socat back")
    assert "stopping socat-paper until controller-paper is ready again" in st.output()
    assert st.proc is not None and st.proc.poll() is None  # an operator's stop does not end the stack
    assert "ALERT_PROCESS_EXITED" not in st.output()  # neither the operator's stop nor the gating is alerted


def test_both_modes_side_by_side(stacks: StackFactory) -> None:
    st = stacks({"second_factor": "none"}, start=False, TRADING_MODE="both")
    st.env.update(TWS_API_PORT_PAPER=str(st.ports["api_paper"]), SOCAT_PORT_PAPER=str(st.ports["socat_paper"]))
    st.start()
    st.wait_ready("live", 90)
    st.wait_ready("paper", 90)
    for mode, port, account in (("live", st.ports["socat"], "U1234567"),
                                ("paper", st.ports["socat_paper"], "DU1234567")):
        wait_until(lambda p=port: accepts(p), 15, f"socat {mode}")  # type: ignore[misc]
        ib = IB()
        ib.connect("127.0.0.1", port, clientId=3, timeout=15, readonly=True)
        try:
            assert ib.managedAccounts() == [account], mode
            assert ib.reqCurrentTime().year >= 2024
        finally:
            ib.disconnect()
    # Separate settings directories and agent sockets.
    root = st.root / "Jts"
    assert (st.root / "Jts_live").is_dir() and (st.root / "Jts_paper").is_dir(), list(st.root.iterdir())
    assert root.is_dir()
    assert (st.run_dir / "agent-live.sock").exists() or any(st.run_dir.glob("*live*"))
    r = st.status()
    assert r.returncode == 0, r.stdout
    assert "live: READY" in r.stdout and "paper: READY" in r.stdout
    assert st.terminate(90) == 0
    assert st.leftovers() == []


def test_missing_install_is_refused_or_filled_by_the_simulator(stacks: StackFactory) -> None:
    st = stacks(start=False, IBPILOT_SIM="no")
    empty = st.root / "empty-jts"
    st.env["TWS_PATH"] = str(empty)
    r = subprocess.run([sys.executable, "-m", "ibpilot", "run"], env=st.env, capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "no gateway installation found" in r.stderr and "IBPILOT_SIM=yes" in r.stderr
    assert not empty.exists() and st.leftovers() == []

    st.env["IBPILOT_SIM"] = "yes"  # nothing installed there: `ibpilot run` installs the simulator first
    st.start()
    st.wait_ready("paper")
    assert (empty / "ibgateway" / "1037" / "ibgateway.vmoptions").exists()
    assert st.terminate(90) == 0


def test_one_side_failing_in_dual_mode_is_visible_and_the_other_keeps_running(stacks: StackFactory) -> None:
    st = stacks({"user": "tester", "password": "Tw5-P4ssw0rd-xyzzy", "second_factor": "none"}, start=False,
                TRADING_MODE="both",
                DUAL_MODE_POLICY="keep-other", LOGIN_FAILURE_LIMIT="1")
    st.env.update(TWS_API_PORT_PAPER=str(st.ports["api_paper"]), SOCAT_PORT_PAPER=str(st.ports["socat_paper"]),
                  TWS_USERID_PAPER="tester", TWS_PASSWORD_PAPER="wrong-password")
    st.start()
    st.wait_ready("live", 90)
    wait_until(lambda: "ALERT_MODE_DOWN mode=paper" in st.output(), 60, "ALERT_MODE_DOWN for paper")
    assert "ALERT_GIVING_UP mode=paper" in st.output()
    assert st.proc is not None and st.proc.poll() is None  # keep-other: the stack goes on
    time.sleep(3)  # supervisord would have respawned a refused controller by now
    assert st.output().count("spawned: 'controller-paper'") == 1, st.output()[-3000:]
    ib = IB()
    ib.connect("127.0.0.1", st.ports["socat"], clientId=4, timeout=15, readonly=True)
    try:
        assert ib.managedAccounts() == ["U1234567"]
    finally:
        ib.disconnect()
    r = st.status()
    assert r.returncode != 0  # not every mode is ready: the health check says so
    assert "paper: not ready" in r.stdout and "last alert ALERT_GIVING_UP" in r.stdout, r.stdout
    assert st.terminate(90) == 0


def test_start_hooks_run_in_order_display_and_api_hooks_when_ready(stacks: StackFactory) -> None:
    st = stacks(start=False)
    trace = st.root / "hooks.trace"
    for env_name, dirname, line in (("START_SCRIPTS", "start.d", "start"), ("X_SCRIPTS", "x.d", "x $DISPLAY"),
                                    ("IBC_SCRIPTS", "api.d", "api")):
        d = st.root / dirname
        d.mkdir()
        # each hook records when it ran and whether the API was ready then (ready file present)
        (d / "10-trace.sh").write_text(
            f'echo "{line} ready=$(test -e {st.ready_file("paper")} && echo yes || echo no)" >> {trace}\n')
        st.env[env_name] = str(d)
    (st.root / "start.d" / "20-second.sh").write_text(f'echo "start-2" >> {trace}\n')
    st.start()
    st.wait_ready("paper")
    wait_until(lambda: trace.exists() and "api" in trace.read_text(), 30, "the after-login hook")
    lines = trace.read_text().splitlines()
    display = f":{st.env['DISPLAY_NUMBER']}"
    assert lines == ["start ready=no", "start-2", f"x {display} ready=no", "api ready=yes"], lines
    assert st.terminate(90) == 0


def _alert_for(out: str, program: str) -> str | None:
    m = re.search(rf"^.*ALERT_PROCESS_EXITED mode=\S+ program={re.escape(program)} .*$", out, re.M)
    return m.group(0) if m else None


def test_a_program_that_dies_is_alerted_by_name_pid_and_signal(stacks: StackFactory) -> None:
    st = stacks(start=False, VNC_SERVER_PASSWORD="Vnc7pw42", VNC_BIND="127.0.0.1")
    st.env["VNC_PORT"] = str(free_port())
    st.start()
    st.wait_ready("paper")
    wait_until(lambda: accepts(st.ports["socat"]), 15, "socat listening")
    pids = st.program_pids()
    assert _alert_for(st.output(), "x11vnc") is None

    os.kill(pids["x11vnc"], signal.SIGKILL)  # x11vnc runs directly under supervisord
    wait_until(lambda: _alert_for(st.output(), "x11vnc") is not None, 15, "the x11vnc alert")
    line = _alert_for(st.output(), "x11vnc")
    assert line is not None
    assert f"pid={pids['x11vnc']} " in line and "signal=SIGKILL" in line and "restart=yes" in line, line
    assert "mode=paper" in line, line

    # socat runs under the restart-delay wrapper (sh): supervisord sees the wrapper exit with 128+9
    wrapper = pids["socat-paper"]
    (socat,) = [p for p in descendants(wrapper) if "socat" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")]
    os.kill(socat, signal.SIGKILL)
    wait_until(lambda: _alert_for(st.output(), "socat-paper") is not None, 15, "the socat alert")
    line = _alert_for(st.output(), "socat-paper")
    assert line is not None
    assert f"pid={wrapper} " in line and "status=137" in line and "signal=SIGKILL" in line, line
    assert "restart=yes" in line, line
    wait_until(lambda: accepts(st.ports["socat"]), 15, "socat back after the restart")

    alerts = st.output().count("ALERT_PROCESS_EXITED")
    assert alerts == 2, st.output()[-3000:]  # one per death, nothing for the others
    assert st.terminate(90) == 0
    assert st.output().count("ALERT_PROCESS_EXITED") == alerts  # the shutdown itself is not alerted
