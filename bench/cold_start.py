"""Cold start to API ready: `ibpilot control` vs the simulator logging itself in, measured in one run.

(a) baseline: the simulated Gateway JVM with `self_login: true` (paper, no 2FA, paper warning shown and
    accepted by the simulator itself), launched with ibpilot's java command and agent, no controller.
    API ready = the later of the simulator's `api_listening` and `paper_warning_accepted` events (the API
    answers from then on; before the warning is accepted it accepts connections but stays silent).
    Times are sim event `t` minus the wall-clock time just before the JVM process was spawned. A TWS API
    handshake probe (every 50 ms) gives the same point seen from outside, for comparison.
(b) `ibpilot control` with the same scenario minus self_login: from spawning the controller process to its
    `READY mode=paper api_port=N` log line (logged once a real API handshake succeeded; log timestamp).
    This includes the controller's work after login: the paper warning, the API settings dialog (applied and
    read back), and API probing.
Runs alternate a, b, a, b, ... (N each, default 5: a pair takes ~4 s). Prints medians and the ratio (b)/(a),
and peak RSS (VmHWM, read while the processes are alive right after ready) of the controller's Python process
and of the JVMs.

    .venv/bin/python bench/cold_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Cleanup, Controller, kill_marked, log_epoch, median, time_bound, vm_hwm_kb

from ibpilot.controller.watchdog import probe
from ibpilot.testing import SimGateway, Xvfb, free_port, wait_until

SCENARIO: dict[str, Any] = {"step_delay_ms": 100}  # also what the integration tests use


def ev_time(events: list[dict[str, Any]], name: str) -> float | None:
    return next((float(e["t"]) for e in events if e.get("event") == name), None)


async def probe_until_ok(port: int, timeout: float) -> float:
    """Wall-clock time of the first successful TWS API handshake."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = await probe("127.0.0.1", port, client_id=977, timeout=0.25)
        if res.ok:
            return time.time()
        await asyncio.sleep(0.05)
    raise TimeoutError(f"API on port {port} did not answer within {timeout:.0f}s")


def baseline_run(tmp: Path, display: str, cleanup: Cleanup) -> dict[str, float]:
    port = free_port()
    sim = SimGateway(tmp, display, "gateway",
                     {**SCENARIO, "self_login": True, "trading_mode": "paper", "api_port": port})
    cmd = sim.command()  # installs the simulated Gateway first: not part of the timing
    env = sim.env()
    tmp.mkdir(parents=True, exist_ok=True)
    cleanup.add(sim.stop)
    with open(sim.console_path, "ab") as log:
        t0 = time.time()
        sim.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=sim.settings_dir,
                                    start_new_session=True)
    t_probe = asyncio.run(probe_until_ok(port, 60))
    hwm = vm_hwm_kb(sim.proc.pid)
    events = wait_until(lambda: (evs := sim.events()) and ev_time(evs, "paper_warning_accepted") and evs,
                        10, "paper_warning_accepted")
    sim.stop()
    listening = ev_time(events, "api_listening")
    accepted = ev_time(events, "paper_warning_accepted")
    logged_in = ev_time(events, "logged_in")
    assert listening and accepted and logged_in, "missing sim events"
    return {
        "api_ready": max(listening, accepted) - t0,
        "logged_in": logged_in - t0,
        "probe_ok": t_probe - t0,
        "jvm_hwm_kb": float(hwm or 0),
    }


def controller_run(tmp: Path, display: str, cleanup: Cleanup, ready_timeout: float = 120) -> dict[str, float]:
    c = Controller(tmp, display, dict(SCENARIO))
    c.start(cleanup)
    try:
        line = c.wait_log(r"READY mode=paper api_port=\d+", timeout=ready_timeout)
    except RuntimeError:
        c.kill()
        raise
    assert c.proc is not None
    ctl_hwm = vm_hwm_kb(c.proc.pid)
    jvm = c.jvm_pid()
    jvm_hwm = vm_hwm_kb(jvm) if jvm else None
    t_ready = log_epoch(line)
    assert t_ready is not None, line
    conf = c.wait_log(r"configuration: \d+ settings applied", timeout=5)
    t_conf = log_epoch(conf)
    events = c.events()
    code = c.stop()
    if code != 0:
        print(f"  (controller exited with code {code} on SIGTERM)", file=sys.stderr)
    logged_in = ev_time(events, "logged_in")
    accepted = ev_time(events, "paper_warning_accepted")
    return {
        "ready": t_ready - c.t_start,
        "logged_in": (logged_in - c.t_start) if logged_in else float("nan"),
        "warning_accepted": (accepted - c.t_start) if accepted else float("nan"),
        "configured": (t_conf - c.t_start) if t_conf else float("nan"),
        "ctl_hwm_kb": float(ctl_hwm or 0),
        "jvm_hwm_kb": float(jvm_hwm or 0),
    }


def run(runs: int = 5, bound_s: int = 300) -> dict[str, Any]:
    base: list[dict[str, float]] = []
    ctl: list[dict[str, float]] = []
    with time_bound(bound_s, "cold_start"), \
            tempfile.TemporaryDirectory(prefix="ibpilot-bench-cold-") as tmpdir, Cleanup() as cleanup:
        tmp = Path(tmpdir)
        cleanup.add(lambda: kill_marked(tmpdir))
        xvfb = Xvfb()
        display = xvfb.start()
        cleanup.add(xvfb.stop)
        for i in range(runs):
            base.append(baseline_run(tmp / f"base{i}", display, cleanup))
            ctl.append(controller_run(tmp / f"ctl{i}", display, cleanup))

    def col(rows: list[dict[str, float]], key: str) -> list[float]:
        return [r[key] for r in rows]

    def row(label: str, rows: list[dict[str, float]], key: str) -> None:
        xs = col(rows, key)
        print(f"  {label:<38} median {median(xs):5.2f}   runs " + " ".join(f"{x:5.2f}" for x in xs))

    a, a_probe = median(col(base, "api_ready")), median(col(base, "probe_ok"))
    b = median(col(ctl, "ready"))
    print(f"cold start to API ready (paper, no 2FA, paper warning shown, step_delay_ms="
          f"{SCENARIO['step_delay_ms']}), {runs} runs each, seconds from process spawn")
    row("(a) sim self-login: logged_in", base, "logged_in")
    row("(a) sim self-login: API ready", base, "api_ready")
    row("(a) sim self-login: probe handshake ok", base, "probe_ok")
    row("(b) ibpilot control: sim logged_in", ctl, "logged_in")
    row("(b) ibpilot control: warning accepted", ctl, "warning_accepted")
    row("(b) ibpilot control: API settings done", ctl, "configured")
    row("(b) ibpilot control: READY", ctl, "ready")
    print(f"  ratio (b) READY / (a) API ready: x{b / a:.2f}   (vs (a) probe handshake: x{b / a_probe:.2f})")
    ctl_mb = median(col(ctl, "ctl_hwm_kb")) / 1024
    jvm_mb = median(col(ctl, "jvm_hwm_kb")) / 1024
    base_jvm_mb = median(col(base, "jvm_hwm_kb")) / 1024
    print(f"  peak RSS (VmHWM, median): controller (python) {ctl_mb:.1f} MB, its Gateway JVM {jvm_mb:.1f} MB "
          f"(controller / JVM x{ctl_mb / jvm_mb:.2f}); self-login JVM {base_jvm_mb:.1f} MB")
    return {"baseline_s": a, "baseline_probe_s": a_probe, "ready_s": b, "ratio": b / a,
            "ctl_rss_mb": ctl_mb, "jvm_rss_mb": jvm_mb, "base_jvm_rss_mb": base_jvm_mb}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs of each side (default 5)")
    ap.add_argument("--bound", type=int, default=300, help="overall time bound in seconds (default 300)")
    a = ap.parse_args()
    run(a.runs, a.bound)
    return 0


if __name__ == "__main__":
    sys.exit(main())
