#!/usr/bin/env python3
"""The chaos suite's two commands.

  scripts/chaos.py table [--run] [--results FILE]
      --run: run every row of tests/chaos (fast and `chaos_slow`) into a fresh results file first.
      Then write the table (fault, detected by, alert, time to recover ÷ cold start, nothing lost) into
      docs/reliability.md between the chaos-table markers, from the last result of each row.

  scripts/chaos.py soak [--seconds N] [--restarts R] [--out FILE]
      One stack under `ibpilot run`; random recoverable faults, one at a time, for N seconds (CHAOS_SOAK_S,
      default 900) or until the JVM was restarted R times (CHAOS_SOAK_RESTARTS, default 100), whichever comes
      first. Reports faults survived, recovery time percentiles, JVM restarts, and the RSS of every process of
      the stack over time; fails (exit 1) on a fault not recovered from within the liveness bound (beyond the
      controller's restart back-off), or on RSS growth of a long-lived process (`ibpilot run`, supervisord,
      the controller, Xvfb).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "chaos"))
DOC = REPO / "docs" / "reliability.md"
START, END = "<!-- chaos-table:start -->", "<!-- chaos-table:end -->"
DEFAULT_RESULTS = REPO / "build" / "chaos" / "results.jsonl"


# --- table -----------------------------------------------------------------------------------------------------


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f}"


def render_table(results: list[dict[str, Any]]) -> str:
    last: dict[str, dict[str, Any]] = {}
    for r in results:
        last[r["fault"]] = r
    colds = [r["cold_start_s"] for r in last.values() if r.get("cold_start_s")]
    cold = statistics.median(colds) if colds else None
    from faults import FAULTS  # the table's order is the fault table's

    rows = ["| fault | detected by | alert | expected state | time to recover (s) | ÷ cold start | nothing lost "
            "| result |", "|---|---|---|---|---|---|---|---|"]
    for f in FAULTS:
        r = last.get(f.name)
        if r is None:
            rows.append(f"| {f.what} | {f.detected_by} | | {f.expect} | | | | not run |")
            continue
        ratio = f"{r['recover_s'] / cold:.2f}" if cold and r.get("recover_s") is not None else "—"
        if r.get("passed"):
            verdict = "pass"
        else:
            verdict = f"**FAIL**: {r.get('problem', '')}".replace("|", "\\|")
        alert = f"`{r.get('alert', '-')}`"
        if r.get("tolerated"):
            alert += " (seen: " + ", ".join(f"`{t}`" for t in r["tolerated"]) + ", a false alert: bug)"
        rows.append(f"| {f.what} | {f.detected_by} | {alert} | {f.expect} | "
                    f"{_fmt(r.get('recover_s'))} | {ratio} | {'yes' if r.get('nothing_lost') else '—'} | {verdict} |")
    when = time.strftime("%Y-%m-%d", time.gmtime(max((r["t"] for r in last.values()), default=time.time())))
    head = (f"Produced by `scripts/chaos.py table --run` on {when}; cold start (`ibpilot run` to READY, median of "
            f"the rows that measured it): {_fmt(cold)} s. Time to recover is from the fault to the recovery "
            "criterion (or the expected final state).\n\n")
    return head + "\n".join(rows) + "\n"


def write_table(results_path: Path) -> int:
    results = [json.loads(x) for x in results_path.read_text().splitlines() if x.strip()]
    table = render_table(results)
    text = DOC.read_text()
    if START not in text:
        raise SystemExit(f"{DOC}: no {START} marker")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    DOC.write_text(f"{before}{START}\n{table}{END}{after}")
    print(table)
    last = {r["fault"]: r for r in results}
    return 0 if last and all(r.get("passed") for r in last.values()) else 1


def run_all(results_path: Path) -> int:
    results_path.parent.mkdir(parents=True, exist_ok=True)
    if results_path.exists():
        results_path.unlink()
    env = {**os.environ, "CHAOS_RESULTS": str(results_path)}
    cmd = [sys.executable, "-m", "pytest", "-p", "no:xdist", "-q", "-m", "chaos_slow or not chaos_slow", "tests/chaos"]
    return subprocess.run(cmd, cwd=REPO, env=env, check=False).returncode


# --- soak ------------------------------------------------------------------------------------------------------

SOAK_FAULTS = ("jvm-sigkill", "jvm-sigstop", "xvfb-killed", "socat-killed", "x11vnc-killed")
LONG_LIVED = ("ibpilot run", "supervisord", "controller", "Xvfb")
MAX_BACKOFF_S = 300.0  # the controller's longest restart back-off (ControllerConfig.restart_backoff_s)


def _role(cmd: str) -> str | None:
    if "/bin/java " in cmd:
        return "jvm"
    if "ibpilot run" in cmd:
        return "ibpilot run"
    if "supervisord" in cmd:
        return "supervisord"
    if "ibpilot control" in cmd:
        return "controller"
    for name in ("Xvfb", "x11vnc", "socat"):
        if cmd.startswith(name) or f"/{name} " in cmd:
            return name
    return None


def _rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler(threading.Thread):
    def __init__(self, marker: str, every: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.marker, self.every = marker, every
        self.samples: list[dict[str, Any]] = []  # {"t": s, role: rss_kb (summed over processes of that role)}
        self.stop = threading.Event()
        self.t0 = time.monotonic()

    def run(self) -> None:
        from chaoslib import processes_with

        while not self.stop.is_set():
            row: dict[str, Any] = {"t": round(time.monotonic() - self.t0, 1)}
            for pid, cmd in processes_with(self.marker):
                role = _role(cmd)
                if role and (kb := _rss_kb(pid)):
                    row[role] = row.get(role, 0) + kb
            self.samples.append(row)
            self.stop.wait(self.every)


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def soak(seconds: float, out: Path, restarts: int) -> int:
    from chaoslib import FAST_PROBES, LIVENESS_S, Run, StackFactory, health, jvms, settings_manifest
    from chaoslib import manifest_problems as lost
    from faults import FAULTS

    from ibpilot.testing import free_port, wait_until

    class Tmp:
        def mktemp(self, name: str) -> Path:
            return Path(tempfile.mkdtemp(prefix=f"chaos-soak-{name}-"))

    faults = {f.name: f for f in FAULTS if f.name in SOAK_FAULTS}
    factory = StackFactory(Tmp())
    hp = free_port()
    st = factory({"step_delay_ms": 100}, start=False, HEALTH_PORT=str(hp), VNC_SERVER_PASSWORD="Vnc7pw42",
                 VNC_BIND="127.0.0.1", **FAST_PROBES)
    st.env["VNC_PORT"] = str(st.ports["vnc"])
    sampler = RssSampler(str(st.root))
    survived: list[dict[str, Any]] = []
    failure = ""
    rng = random.Random(int(os.environ.get("CHAOS_SEED", "0")) or None)
    try:
        t_start = time.monotonic()
        st.start()
        st.wait_ready("paper", LIVENESS_S)
        cold = time.monotonic() - t_start
        sampler.start()
        before = settings_manifest(st)
        run = Run(next(iter(faults.values())), st, hp)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and st.output().count("launching gateway") <= restarts:
            f = faults[rng.choice(sorted(faults))]
            run.fault, run.offset, run.extra = f, len(st.output()), {}
            wait_until(lambda: health(hp) == 200 and run.socat_accepts(), LIVENESS_S, "steady before a fault", 0.2)
            t0 = time.monotonic()
            try:
                f.inject(run)
                assert f.alert is not None
                wait_until(lambda f=f: re.search(f.alert, run.since(), re.M), LIVENESS_S, f"alert of {f.name}", 0.1)
                if f.after_alert:
                    f.after_alert(run)
                wait_until(lambda f=f: f.recovered(run), LIVENESS_S + MAX_BACKOFF_S, f"recovery from {f.name}", 0.1)
            except (TimeoutError, AssertionError) as exc:
                failure = f"{f.name}: {exc}"
                break
            took = time.monotonic() - t0
            # the controller's documented restart back-off (2, 10, 30, 60, 120, 300 s) is policy, not slowness:
            # the liveness bound applies to the time beyond it
            backoff = sum(float(x) for x in re.findall(r"restarting Gateway in (\d+)s", run.since()))
            survived.append({"fault": f.name, "recover_s": round(took, 2), "backoff_s": backoff})
            if took - backoff > LIVENESS_S:
                failure = f"{f.name}: recovered after {took:.0f} s, {took - backoff:.0f} s beyond the back-off"
                break
            if len(jvms(st)) != 1:
                failure = f"after {f.name}: JVMs {jvms(st)}"
                break
            print(f"[{len(survived)}] {f.name}: recovered in {survived[-1]['recover_s']} s", flush=True)
            time.sleep(rng.uniform(1, 5))
        if not failure and (problems := lost(st, before)):
            failure = "; ".join(problems)
        code = st.terminate(90)
        if code != 0:
            failure = failure or f"ibpilot run exited {code}"
        time.sleep(1)
        if st.leftovers():
            failure = failure or f"left behind: {st.leftovers()}"
    finally:
        sampler.stop.set()
        factory.cleanup()
        if not os.environ.get("CHAOS_KEEP"):  # CHAOS_KEEP=1 keeps the stack's logs for a look
            shutil.rmtree(st.root, ignore_errors=True)
    jvm_starts = st.output().count("launching gateway")
    report = _report(survived, sampler.samples, cold, jvm_starts, failure)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(report["summary"])
    return 0 if report["ok"] else 1


def _report(survived: list[dict[str, Any]], samples: list[dict[str, Any]], cold: float, jvm_starts: int,
            failure: str) -> dict[str, Any]:
    rec = [s["recover_s"] for s in survived]
    net = [s["recover_s"] - s["backoff_s"] for s in survived]
    growth: dict[str, dict[str, float]] = {}
    problems = [failure] if failure else []
    n = max(1, len(samples) // 10)
    for role in sorted({k for s in samples for k in s if k != "t"}):
        series = [s[role] / 1024 for s in samples if role in s]
        if len(series) < 4:
            continue
        first, last = statistics.median(series[:n]), statistics.median(series[-n:])
        growth[role] = {"first_mb": round(first, 1), "last_mb": round(last, 1), "max_mb": round(max(series), 1)}
        # JVMs, x11vnc and socat are new processes after each restart; the long-lived ones must not grow
        if role in LONG_LIVED and last > first * 1.2 + 20:
            problems.append(f"{role} RSS grew from {first:.0f} MB to {last:.0f} MB")
    lines = [f"soak: {len(survived)} faults survived, {jvm_starts} JVM starts, cold start {cold:.1f} s"]
    if rec:
        lines.append(f"recovery s: p50 {_pct(rec, 50):.1f}  p90 {_pct(rec, 90):.1f}  p99 {_pct(rec, 99):.1f}  "
                     f"max {max(rec):.1f}")
        lines.append(f"recovery s beyond the restart back-off: p50 {_pct(net, 50):.1f}  p90 {_pct(net, 90):.1f}  "
                     f"max {max(net):.1f}; back-off waited up to {max(s['backoff_s'] for s in survived):.0f} s")
    for role, g in growth.items():
        lines.append(f"RSS {role}: first {g['first_mb']} MB, last {g['last_mb']} MB, max {g['max_mb']} MB")
    lines.append("OK" if not problems else "FAILED: " + "; ".join(problems))
    return {"ok": not problems, "survived": survived, "rss": samples, "growth": growth, "jvm_starts": jvm_starts,
            "cold_start_s": cold, "problems": problems, "summary": "\n".join(lines)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table")
    t.add_argument("--run", action="store_true", help="run every row first")
    t.add_argument("--results", type=Path, default=Path(os.environ.get("CHAOS_RESULTS", DEFAULT_RESULTS)))
    s = sub.add_parser("soak")
    s.add_argument("--seconds", type=float, default=float(os.environ.get("CHAOS_SOAK_S", "900")))
    s.add_argument("--out", type=Path, default=REPO / "build" / "chaos" / "soak.json")
    s.add_argument("--restarts", type=int, default=int(os.environ.get("CHAOS_SOAK_RESTARTS", "100")),
                   help="stop once the Gateway's JVM has been restarted this often (or at --seconds)")
    a = ap.parse_args()
    if a.cmd == "table":
        rc = run_all(a.results) if a.run else 0
        return write_table(a.results) or rc
    return soak(a.seconds, a.out, a.restarts)


if __name__ == "__main__":
    sys.exit(main())
