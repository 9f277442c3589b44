"""Fault -> /health 503 and fault -> READY again, for a killed JVM, a frozen JVM and a stalled API.

A fresh `ibpilot control` for every fault (paper, warning shown, `HEALTH_PORT` set, **HEALTH_PROBE_INTERVAL=2,
HEALTH_PROBE_TIMEOUT=2**): cold start to READY, `/health` 200, one fault, READY again, stop. A fresh controller
per fault makes every figure a *first* fault: the controller's restart backoff (2, 10, 30, ... s) grows with
repeated faults within 10 minutes. Kinds are interleaved (SIGKILL, SIGSTOP, stall, SIGKILL, ...).

- `SIGKILL`: the Gateway JVM (pid from /health's `jvm_pid`) is killed; the fault time is taken just before
  `os.kill`.
- `SIGSTOP`: the JVM is frozen and **left frozen**: the controller has to find out by itself that the API no
  longer answers and replace the JVM.
- API stall: the simulator's `hang_at {"state": "logged_in", "kind": "api", "after_s": 5}`: the API port stays
  open and accepts connections, but nothing answers. The fault time is the simulator's `hang` event.

Per run: fault -> the first `/health` answer 503 (polled every 20 ms, from outside), and fault -> the next
`READY` line of the controller log (log time); plus, from the controller log, when it raised ALERT_API_DOWN,
declared the hang (ALERT_HANG), SIGKILLed the JVM, and relaunched it. Both figures are printed as ratios of a
**cold start in the same run**: the median spawn -> first READY of the same controllers.

    .venv/bin/python bench/faults.py [--runs 3] [--bound 480]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Cleanup, Controller, kill_marked, log_epoch, median, time_bound

from ibpilot.testing import Xvfb, free_port, wait_until

PROBE_ENV = {"HEALTH_PROBE_INTERVAL": "2", "HEALTH_PROBE_TIMEOUT": "2"}
SCENARIO: dict[str, Any] = {"step_delay_ms": 100}
HANG_AFTER_S = 5.0  # API stall: this long after each login (READY and /health 200 come well before)
READY_RX = r"READY mode=paper api_port=\d+"
RECOVER_BOUND_S = 90.0  # fault -> READY again beyond this: counted as stuck, logs kept, the bench goes on
KINDS = ("SIGKILL", "SIGSTOP", "API stall")


def health(port: int, timeout: float = 2.0) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of GET /health; (0, {}) when it does not answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/health")
        r = conn.getresponse()
        body = r.read()
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {}
        return r.status, doc if isinstance(doc, dict) else {}
    except OSError:
        return 0, {}
    finally:
        conn.close()


def wait_health(port: int, code: int, timeout: float, every: float = 0.02) -> float:
    """Wall-clock time of the first /health answer `code`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if health(port)[0] == code:
            return time.time()
        time.sleep(every)
    raise TimeoutError(f"/health did not answer {code} within {timeout:.0f}s")


def ready_times(c: Controller) -> list[float]:
    out = []
    for line in c.log().splitlines():
        if "READY mode=" in line and (t := log_epoch(line)) is not None:
            out.append(t)
    return out


STEPS = (("API_DOWN", r"ALERT_API_DOWN"), ("hang", r"ALERT_HANG"), ("SIGKILL", r"with SIGKILL"),
         ("relaunch", r"JVM start #"))


def nth(times: Callable[[], list[float]], n: int, timeout: float, what: str) -> float:
    """The n-th (from 0) of the times `times()` returns, once there are that many."""
    found: list[float] = []

    def enough() -> bool:
        found[:] = times()
        return len(found) > n

    wait_until(enough, timeout, what, 0.02)
    return found[n]


def steps_after(c: Controller, t_fault: float) -> dict[str, float]:
    """Seconds from the fault to the first log line of each step after it (steps that did not happen: absent)."""
    out: dict[str, float] = {}
    for line in c.log().splitlines():
        t = log_epoch(line)
        if t is None or t < t_fault:
            continue
        for name, rx in STEPS:
            if name not in out and re.search(rx, line):
                out[name] = t - t_fault
    return out


def session(kind: str, tmp: Path, display: str, cleanup: Cleanup) -> dict[str, Any]:
    """A fresh controller: cold start, one fault, recovery, stop."""
    scenario = dict(SCENARIO)
    if kind == "API stall":
        scenario["hang_at"] = {"state": "logged_in", "kind": "api", "after_s": HANG_AFTER_S}
    hp = free_port()
    c = Controller(tmp, display, scenario, HEALTH_PORT=str(hp), **PROBE_ENV)
    c.start(cleanup)
    first = log_epoch(c.wait_log(READY_RX, timeout=120))
    assert first is not None
    out: dict[str, Any] = {"cold": first - c.t_start}
    t_ok = wait_health(hp, 200, 60)
    if kind == "API stall":
        t_fault = nth(lambda: [float(e["t"]) for e in c.events() if e.get("event") == "hang"], 0,
                      HANG_AFTER_S + 30, "sim hang")
        if t_fault < t_ok:
            print(f"  ({kind}: the API stalled before /health said 200; run not counted)")
            c.kill()
            return out
    else:
        pid = int(health(hp)[1]["jvm_pid"])
        t_fault = time.time()
        os.kill(pid, signal.SIGKILL if kind == "SIGKILL" else signal.SIGSTOP)
    t_503 = wait_health(hp, 503, 60)
    try:
        t_ready = nth(lambda: ready_times(c), 1, RECOVER_BOUND_S, f"READY again after {kind}")
    except TimeoutError:
        keep = Path(tempfile.mkdtemp(prefix="ibpilot-bench-faults-stuck-"))
        for f in [*tmp.glob("*.log"), *tmp.glob("*.jsonl"), *tmp.glob("run/*.log")]:
            shutil.copy(f, keep / f.name)
        print(f"  ({kind}: no READY within {RECOVER_BOUND_S:.0f} s of the fault; logs kept in {keep})")
        out.update(to_503=t_503 - t_fault, stuck=True, steps=steps_after(c, t_fault))
        c.kill()
        return out
    out.update(to_503=t_503 - t_fault, to_ready=t_ready - t_fault, steps=steps_after(c, t_fault),
               restarts=health(hp)[1].get("restarts", {}))
    code = c.stop()
    if code != 0:
        print(f"  ({kind}: controller exited with code {code} on SIGTERM)", file=sys.stderr)
    return out


def run(runs: int = 3, bound_s: int = 480) -> dict[str, Any]:
    res: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    with time_bound(bound_s, "faults"), \
            tempfile.TemporaryDirectory(prefix="ibpilot-bench-faults-") as tmpdir, Cleanup() as cleanup:
        tmp = Path(tmpdir)
        cleanup.add(lambda: kill_marked(tmpdir))
        xvfb = Xvfb()
        display = xvfb.start()
        cleanup.add(xvfb.stop)
        for i in range(runs):  # kinds interleaved: load from elsewhere falls on all alike
            for n, kind in enumerate(KINDS):
                try:
                    res[kind].append(session(kind, tmp / f"r{i}k{n}", display, cleanup))
                except Exception:
                    keep = Path(tempfile.mkdtemp(prefix="ibpilot-bench-faults-failed-"))
                    for f in (tmp / f"r{i}k{n}").glob("**/*.log"):
                        shutil.copy(f, keep / f.name)
                    print(f"  ({kind} run {i + 1} failed; its logs are kept in {keep})", file=sys.stderr)
                    raise

    colds = [r["cold"] for rs in res.values() for r in rs]
    cold = median(colds)
    print(f"faults: fault -> /health 503 and fault -> READY again, {runs} runs each (a fresh controller per run: "
          f"the first fault, restart backoff 2 s), HEALTH_PROBE_INTERVAL=2 HEALTH_PROBE_TIMEOUT=2 (this bench only), "
          f"seconds")
    print(f"  baseline: cold start spawn -> READY of the same {len(colds)} controllers: median {cold:.2f} s, "
          f"max {max(colds):.2f} s")
    out: dict[str, Any] = {"cold_s": cold}
    for kind, rs in res.items():
        done = [r for r in rs if "to_ready" in r]
        stuck = sum(1 for r in rs if r.get("stuck"))
        a, b = median([r["to_503"] for r in rs if "to_503" in r]), median([r["to_ready"] for r in done])
        print(f"  {kind:<10} -> 503   median {a:5.2f}  (x{a / cold:.2f} of cold start)  runs "
              + " ".join(f"{r['to_503']:5.2f}" for r in done))
        print(f"  {kind:<10} -> READY median {b:5.2f}  (x{b / cold:.2f} of cold start)  runs "
              + " ".join(f"{r['to_ready']:5.2f}" for r in done)
              + f"   restarts by cause: {done[-1]['restarts'] if done else '-'}"
              + (f"; NO READY within {RECOVER_BOUND_S:.0f} s in {stuck} run(s)" if stuck else ""))
        seen = [(name, median([r["steps"][name] for r in rs if name in r.get("steps", {})])) for name, _ in STEPS]
        print(f"  {'':<10}    controller log after the fault (median s): "
              + ", ".join(f"{name} {t:.2f}" for name, t in seen if t == t))
        key = {"SIGKILL": "sigkill", "SIGSTOP": "sigstop"}.get(kind, "stall")
        out[f"{key}_503_s"], out[f"{key}_ready_s"], out[f"{key}_stuck"] = a, b, stuck
    print(f"  (API stall: hang_at logged_in + {HANG_AFTER_S:.0f} s; fault time = the sim's `hang` event. SIGSTOP: "
          "the JVM stays stopped until the controller kills it)")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="faults of each kind (default 3)")
    ap.add_argument("--bound", type=int, default=480, help="overall time bound in seconds (default 480)")
    a = ap.parse_args()
    run(a.runs, a.bound)
    return 0


if __name__ == "__main__":
    sys.exit(main())
