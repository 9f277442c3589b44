"""The chaos suite's fault library: one table of faults, and the code that runs one row on a whole stack.

A row starts `ibpilot run` (IBPILOT_SIM=yes) with the row's scenario and settings, waits for READY (measuring
the cold start), injects one fault from outside (a signal, a killed program, a cut link, a full disk, a clock
step, or a scenario the simulated Gateway plays), then waits for the row's alert line and for recovery, and
checks that nothing was lost: the settings directory (a manifest of every file), one JVM per mode, and after
the stack stops no process left and no port still bound. Each row's figures go to a JSON-lines results file
(`CHAOS_RESULTS`, default `build/chaos/results.jsonl`) from which `scripts/chaos.py table` writes the table in
docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ibpilot.testing import descendants, free_port, wait_until

REPO = Path(__file__).resolve().parents[2]


def _system_stack() -> Any:
    """tests/system/conftest.py (StackFactory, RunningStack) under its own module name: importing it as
    `conftest` would collide with whichever conftest pytest loaded last."""
    spec = importlib.util.spec_from_file_location("ibpilot_system_stack", REPO / "tests" / "system" / "conftest.py")
    assert spec is not None and spec.loader is not None
    mod = sys.modules.get("ibpilot_system_stack") or importlib.util.module_from_spec(spec)
    if "ibpilot_system_stack" not in sys.modules:
        sys.modules["ibpilot_system_stack"] = mod
        spec.loader.exec_module(mod)
    return mod


_sys = _system_stack()
RunningStack = _sys.RunningStack
StackFactory = _sys.StackFactory
accepts = _sys.accepts
processes_with = _sys.processes_with

RESULTS = Path(os.environ.get("CHAOS_RESULTS", str(REPO / "build" / "chaos" / "results.jsonl")))
LIVENESS_S = 120.0  # a liveness bound, not a timing assertion: recovery must happen, however slowly
FAST_PROBES = {"HEALTH_PROBE_INTERVAL": "2", "HEALTH_PROBE_TIMEOUT": "2"}
PASSWORD = "Tw5-P4ssw0rd-xyzzy"

# Files the Gateway (or the controller before each launch) rewrites: they may change, but must stay whole.
REWRITTEN = {"ibpilot-sim-settings.json", ".ibpilot-sim-server-attempts", "jts.ini"}


def settings_manifest(st: RunningStack) -> dict[str, str]:
    """relative path -> sha256 of every file in the stack's settings directories (Jts, Jts_live, Jts_paper)."""
    found: dict[str, str] = {}
    for d in sorted(st.root.glob("Jts*")):
        for dirpath, _dirs, files in os.walk(d):
            for name in files:
                p = Path(dirpath) / name
                with contextlib.suppress(OSError):
                    found[str(p.relative_to(st.root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return found


def manifest_problems(st: RunningStack, before: dict[str, str]) -> list[str]:
    """What was lost or damaged since `before`: a missing file, a changed one that nobody rewrites, a rewritten
    one left empty or (JSON) unreadable. New files (an autorestart token, logs) are fine."""
    after = settings_manifest(st)
    problems = []
    for rel, digest in before.items():
        name = Path(rel).name
        if name == "autorestart":
            continue  # a restart token is consumed by design
        if rel not in after:
            problems.append(f"{rel} is gone")
        elif after[rel] != digest:
            p = st.root / rel
            if name not in REWRITTEN:
                problems.append(f"{rel} changed")
            elif p.stat().st_size == 0:
                problems.append(f"{rel} is empty")
            elif name.endswith(".json"):
                try:
                    json.loads(p.read_text())
                except ValueError as exc:
                    problems.append(f"{rel} is no longer JSON: {exc}")
    return problems


def jvms(st: RunningStack, mode: str | None = None) -> list[int]:
    """pids of the Gateway JVMs of this stack (of one mode's settings dir in dual mode)."""
    out = []
    for pid, cmd in processes_with(str(st.root)):
        if "/bin/java " not in cmd + " " or "ibpilot" not in cmd:
            continue
        if mode and st.env.get("TRADING_MODE") == "both" and f"Jts_{mode}" not in cmd:
            continue
        out.append(pid)
    return out


def health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:
        return 0


def sim_states(st: RunningStack) -> list[str]:
    ev = st.root / "sim-events.jsonl"
    if not ev.exists():
        return []
    states = []
    for line in ev.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            doc = json.loads(line)
            if doc.get("event") == "state":
                states.append(str(doc.get("state")))
    return states


@dataclass
class Run:
    """One row in progress: the stack, its health port, and the log offset where the fault was injected."""

    fault: Fault
    st: RunningStack
    health_port: int
    offset: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # what a fault's setup made (sshd, netns, mount)
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    health_down_at: float | None = None

    def since(self) -> str:
        return self.st.output()[self.offset:]

    def mode(self) -> str:
        m = self.st.env.get("TRADING_MODE", "paper")
        return "paper" if m == "both" else m

    def scenario(self, **changes: Any) -> None:
        """Rewrite the scenario file: the next JVM the controller launches plays it (the running one does not)."""
        path = self.st.root / "scenario.json"
        doc = json.loads(path.read_text())
        for k, v in changes.items():
            if v is None:
                doc.pop(k, None)
            else:
                doc[k] = v
        path.write_text(json.dumps(doc))

    def hport(self, mode: str | None = None) -> int:
        """The health port of a mode's controller: paper's is HEALTH_PORT + 1 in dual mode."""
        dual = self.st.env.get("TRADING_MODE") == "both"
        return self.health_port + (1 if dual and (mode or self.mode()) == "paper" else 0)

    def serving(self, mode: str | None = None) -> bool:
        m = mode or self.mode()
        return self.st.ready_file(m).exists() and health(self.hport(m)) == 200

    def ready_again(self, mode: str | None = None) -> bool:
        m = mode or self.mode()
        return f"READY mode={m}" in self.since() and self.serving(m)

    def vnc_accepts(self) -> bool:
        return accepts(int(self.st.env["VNC_PORT"]))

    def socat_accepts(self) -> bool:
        return accepts(self.st.ports["socat"])


@dataclass
class Fault:
    name: str
    what: str  # the fault, as the table says it
    detected_by: str  # the channel that notices it
    alert: str | None  # regex the log must show after injection (None: the fault must raise no alert)
    inject: Callable[[Run], None]
    recovered: Callable[[Run], bool]  # the recovery criterion (or the expected final state)
    expect: str  # the state the row must end in, as the table says it
    scenario: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    when: Callable[[Run], bool] | None = None  # inject when this holds (default: READY and /health 200)
    setup: Callable[[Run], None] | None = None  # before the stack starts
    after_alert: Callable[[Run], None] | None = None  # e.g. heal a scenario so the relaunch succeeds
    exit_code: int | None = None  # the stack is expected to stop by itself with this code
    slow: bool = False  # make chaos only (marker chaos_slow): the clock jump under libfaketime
    modes: tuple[str, ...] = ("paper",)
    no_alerts: tuple[str, ...] = ()  # alert names that must not appear after injection
    tolerated: tuple[str, ...] = ()  # a known false alert (a reported bug): recorded in the result, not failed on


class HealthWatch(threading.Thread):
    """Samples /health every 0.2 s from injection on; remembers when it first stopped answering 200."""

    def __init__(self, run: Run, t0: float) -> None:
        super().__init__(daemon=True)
        self.run_, self.t0 = run, t0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            if self.run_.health_down_at is None and health(self.run_.hport()) != 200:
                self.run_.health_down_at = time.monotonic() - self.t0
            self.stop.wait(0.2)


def _wait(cond: Callable[[], Any], what: str, run: Run, timeout: float = LIVENESS_S) -> None:
    try:
        wait_until(cond, timeout, what, 0.1)
    except TimeoutError as exc:
        raise AssertionError(f"{run.fault.name}: {exc}\n{run.st.diagnostics()}") from None


def _ports_free(st: RunningStack, health_port: int) -> list[int]:
    """The stack's ports still accepting connections after it stopped (must be none)."""
    ports = [p for k, p in st.ports.items() if k in ("api", "api_paper", "socat", "socat_paper")]
    ports += [int(st.env[k]) for k in ("VNC_PORT", "TWS_API_PORT_PAPER") if st.env.get(k)]
    ports += [health_port, health_port + 1] if st.env.get("TRADING_MODE") == "both" else [health_port]
    return [p for p in ports if accepts(p)]


def run_fault(fault: Fault, factory: StackFactory) -> dict[str, Any]:
    """Run one row on a fresh stack; assert everything; return (and append to RESULTS) its figures."""
    hp = free_port()
    scenario = {"step_delay_ms": 100, **fault.scenario}
    st = factory(scenario, start=False, HEALTH_PORT=str(hp), **{**FAST_PROBES, **fault.env})
    if len(fault.modes) == 2:
        st.env.update(TRADING_MODE="both", TWS_API_PORT_PAPER=str(st.ports["api_paper"]),
                      SOCAT_PORT_PAPER=str(st.ports["socat_paper"]))
    if "VNC_SERVER_PASSWORD" in fault.env:
        st.env["VNC_PORT"] = str(st.ports["vnc"])
    run = Run(fault, st, hp)
    try:
        return _run(run, factory)
    except AssertionError as exc:
        _record({"fault": fault.name, "what": fault.what, "detected_by": fault.detected_by, "alert": "-",
                 "expect": fault.expect, "passed": False, "problem": str(exc).splitlines()[0][:300],
                 "slow": fault.slow, "t": time.time()})
        raise
    finally:
        for c in reversed(run.cleanups):
            with contextlib.suppress(Exception):
                c()


def _record(result: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(json.dumps(result) + "\n")


def _run(run: Run, factory: StackFactory) -> dict[str, Any]:
    fault, st, hp = run.fault, run.st, run.health_port
    if fault.setup:
        fault.setup(run)
    t_start = time.monotonic()
    st.start()
    cold: float | None = None
    if fault.when is None:
        for m in fault.modes:
            st.wait_ready(m, LIVENESS_S)
        cold = time.monotonic() - t_start
        _wait(lambda: all(health(run.hport(m)) == 200 for m in fault.modes), "/health 200 before the fault", run, 30)
        if st.env.get("SSH_TUNNEL") != "yes":
            _wait(run.socat_accepts, "socat listening before the fault", run, 30)
    else:
        _wait(lambda: fault.when(run), f"the moment to inject ({fault.name})", run)  # type: ignore[misc]
    before = settings_manifest(st)
    run.offset = len(st.output())
    t0 = time.monotonic()
    watch = HealthWatch(run, t0)
    watch.start()
    try:
        fault.inject(run)
        t0 = time.monotonic()  # a scenario-played fault has happened only when inject returns
        watch.t0 = t0
        detect: float | None = None
        if fault.alert:
            _wait(lambda: re.search(fault.alert, run.since(), re.M), f"alert /{fault.alert}/", run)  # type: ignore[arg-type]
            detect = time.monotonic() - t0
            if fault.after_alert:
                fault.after_alert(run)
        _wait(lambda: fault.recovered(run), f"recovery: {fault.expect}", run)
        recover = time.monotonic() - t0
    finally:
        watch.stop.set()
    problems = manifest_problems(st, before)
    for name in fault.no_alerts:
        if name in run.since():
            problems.append(f"unexpected {name}: " + next(x for x in run.since().splitlines() if name in x))
    unexpected = [x for x in run.since().splitlines() if "ALERT_" in x]
    tolerated = [x for x in unexpected if any(t in x for t in fault.tolerated)]
    if fault.alert is None and (rest := [x for x in unexpected if x not in tolerated]):
        problems.append(f"unexpected alert: {rest[0]}")
    assert st.proc is not None
    if fault.exit_code is None:
        for m in fault.modes:
            n = len(jvms(st, m))
            if n != 1:
                problems.append(f"{n} JVMs for {m} after recovery: {jvms(st, m)}")
        code = st.terminate(90)
        if code != 0:
            problems.append(f"ibpilot run exited {code} on SIGTERM")
    else:
        code = st.proc.wait(LIVENESS_S)
        if code != fault.exit_code:
            problems.append(f"ibpilot run exited {code}, expected {fault.exit_code}")
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: not st.leftovers(), 5, "leftovers gone", 0.1)
    if st.leftovers():
        problems.append(f"left behind: {st.leftovers()}")
    if bound := _ports_free(st, hp):
        problems.append(f"ports still bound after the stop: {bound}")
    assert not problems, f"{fault.name}: " + "; ".join(problems) + "\n" + st.diagnostics()
    alert_line = ""
    if fault.alert:
        m = re.search(fault.alert, run.since(), re.M)
        line = run.since()[m.start():].splitlines()[0] if m else ""
        alert_line = (re.search(r"ALERT_\w+", line) or re.search(r"\S+", line) or [""])[0]  # type: ignore[index]
    result = {
        "fault": fault.name, "what": fault.what, "detected_by": fault.detected_by,
        "alert": alert_line or "none", "expect": fault.expect, "cold_start_s": cold,
        "detect_s": detect, "recover_s": recover, "health_down_s": run.health_down_at,
        "nothing_lost": True, "exit_code": code, "slow": fault.slow, "t": time.time(), "passed": True,
        "tolerated": sorted({m.group(0) for x in tolerated if (m := re.search(r"ALERT_\w+", x))}),
    }
    _record(result)
    return result


# --- injections ------------------------------------------------------------------------------------------------


def _one_jvm(run: Run, mode: str | None = None) -> int:
    pids = jvms(run.st, mode)
    assert len(pids) == 1, f"expected one JVM, found {pids}"
    return pids[0]


def kill_jvm(run: Run) -> None:
    os.kill(_one_jvm(run), signal.SIGKILL)


def stop_jvm(run: Run) -> None:
    pid = _one_jvm(run)
    os.kill(pid, signal.SIGSTOP)
    run.extra["stopped"] = pid
    run.cleanups.append(lambda: os.kill(pid, signal.SIGCONT))


def cont_jvm(run: Run) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(run.extra["stopped"], signal.SIGCONT)  # if the controller has not killed it already


def kill_program(name: str, inner: str | None = None) -> Callable[[Run], None]:
    """SIGKILL supervisord's program `name` (or, under a wrapper, its descendant whose command has `inner`)."""

    def inject(run: Run) -> None:
        pid = run.st.program_pids()[name]
        if inner:
            argv0 = {p: Path(f"/proc/{p}/cmdline").read_text(errors="replace").split("\0")[0]
                     for p in descendants(pid)}
            # the program itself, not a shell wrapper whose command line also names it, nor the per-connection
            # children it forks (socat's `fork`): the match whose parent is no match
            found = [p for p, a in argv0.items() if os.path.basename(a) == inner] or \
                [p for p, a in argv0.items() if inner in a]

            def ppid(p: int) -> int:
                stat = Path(f"/proc/{p}/stat").read_text()
                return int(stat[stat.rfind(")") + 2:].split()[1])

            (pid,) = [p for p in found if ppid(p) not in found]
        os.kill(pid, signal.SIGKILL)

    return inject


def sigterm_stack(run: Run) -> None:
    assert run.st.proc is not None
    run.st.proc.send_signal(signal.SIGTERM)


def nothing(run: Run) -> None:
    """The fault is played by the scenario (a timer in the simulated Gateway)."""


def in_state(state: str, extra: Callable[[Run], bool] | None = None) -> Callable[[Run], bool]:
    return lambda run: state in sim_states(run.st) and (extra is None or extra(run))


def stack_exited(run: Run) -> bool:
    return run.st.proc is not None and run.st.proc.poll() is not None


def wait_s(seconds: float) -> Callable[[Run], None]:
    return lambda run: time.sleep(seconds)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0
