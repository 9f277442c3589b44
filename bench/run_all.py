"""Run every benchmark and print a summary table (`make bench`).

Figures only, no thresholds: the exit code is 0 unless a benchmark broke (then 1, after the others ran).

    .venv/bin/python bench/run_all.py
"""

from __future__ import annotations

import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import api_throughput
import cold_start
import faults
import hostile
import reaction_latency
import readiness

BENCHMARKS: list[tuple[str, Callable[[], dict[str, Any]]]] = [
    ("reaction_latency", reaction_latency.run),
    ("cold_start", cold_start.run),
    ("api_throughput", api_throughput.run),
    ("readiness", readiness.run),
    ("faults", faults.run),
    ("hostile", hostile.run),
]


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor() or "?")
    return (f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), "
            f"Python {platform.python_version()}")


def main() -> int:
    print(f"ibpilot benchmarks, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {machine()}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    results: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    for name, fn in BENCHMARKS:
        t0 = time.monotonic()
        try:
            results[name] = fn()
        except Exception:
            failed.append(name)
            print(f"{name}: FAILED\n{traceback.format_exc()}", file=sys.stderr)
        print(f"  ({name} took {time.monotonic() - t0:.0f}s)\n")

    rows: list[tuple[str, str, str]] = []
    if r := results.get("reaction_latency"):
        rows += [
            ("reaction: dialog shown -> controller click, p50 / p99",
             f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f} ms (n={r['n']})",
             f"x{r['ratio_p50']:.2f} / x{r['ratio_p99']:.2f} of raw reaction "
             f"({r['raw_p50_ms']:.1f} / {r['raw_p99_ms']:.1f} ms)"),
            ("reaction: agent opened -> closed, p50 / p99",
             f"{r['seen_p50_ms']:.1f} / {r['seen_p99_ms']:.1f} ms",
             f"x{r['seen_ratio_p50']:.2f} / x{r['seen_ratio_p99']:.2f} of raw reaction"),
            ("agent round trip p50: ping / click", f"{r['ping_p50_ms']:.2f} / {r['click_p50_ms']:.2f} ms", "floor"),
        ]
    if r := results.get("cold_start"):
        rows += [
            ("cold start: spawn -> READY (median)", f"{r['ready_s']:.2f} s",
             f"x{r['ratio']:.2f} of sim self-login to API ready ({r['baseline_s']:.2f} s)"),
            ("peak RSS: controller / its JVM", f"{r['ctl_rss_mb']:.1f} / {r['jvm_rss_mb']:.1f} MB",
             f"self-login JVM {r['base_jvm_rss_mb']:.1f} MB"),
        ]
    if r := results.get("api_throughput"):
        rows += [
            ("API ticks/s through socat", f"{r['socat_tps']:.0f} /s",
             f"x{r['ratio']:.2f} of direct ({r['direct_tps']:.0f} /s)"),
            ("ib_async connect through socat", f"{r['connect_socat_ms']:.1f} ms",
             f"x{r['connect_socat_ms'] / r['connect_direct_ms']:.2f} of direct ({r['connect_direct_ms']:.1f} ms)"),
        ]
    if r := results.get("readiness"):
        rows += [
            (f"readiness: cold start -> READY, {r['runs']} runs, p50 / p90 / max",
             f"{r['p50_s']:.2f} / {r['p90_s']:.2f} / {r['max_s']:.2f} s",
             f"p90/p50 x{r['p90_over_p50']:.2f} (<= 1.2); p50 x{r['ratio_self_login']:.2f} of sim self-login "
             f"({r['self_login_s']:.2f} s, its p90/p50 x{r.get('self_login_p90_over_p50', float('nan')):.2f})"),
            ("readiness: READY - paper warning accepted, p50 / max",
             f"{r['gap_p50_s']:.2f} / {r['gap_max_s']:.2f} s",
             f"runs with READY > 1 s after the warning: {r['late_runs']} of {r['runs']}"
             + (f" ({r['stuck']} never READY)" if r.get("stuck") else "")),
        ]
    if r := results.get("faults"):
        for key, label in (("sigkill", "JVM SIGKILL"), ("sigstop", "JVM SIGSTOP"), ("stall", "API stall")):
            rows.append((f"fault ({label}) -> /health 503 / -> READY again",
                         f"{r[f'{key}_503_s']:.2f} / {r[f'{key}_ready_s']:.2f} s",
                         f"x{r[f'{key}_503_s'] / r['cold_s']:.2f} / x{r[f'{key}_ready_s'] / r['cold_s']:.2f} of cold "
                         f"start ({r['cold_s']:.2f} s); probes every 2 s, 2 s timeout"
                         + (f"; STUCK (no READY) in {r[f'{key}_stuck']} run(s)" if r[f"{key}_stuck"] else "")))
    if r := results.get("hostile"):
        rows += [
            ("hostile clients: controller RSS before / peak / after",
             f"{r['rss_before_mb']:.1f} / {r['rss_peak_mb']:.1f} / {r['rss_after_mb']:.1f} MB",
             f"after x{r['rss_after_mb'] / r['rss_before_mb']:.2f} of before; states seen: "
             f"{','.join(r['states'])}; READY lines {r['ready_lines']}"),
        ]
        for what in ("STATUS", "/health"):
            pp = r["per_phase"][what]
            rows.append((f"hostile clients: good {what} answered (idle/1MB/slow)",
                         " ".join(f"{a}/{b}" for a, b in pp.values()),
                         "during each phase" + (f"; /health p90 {r['health_p90_ms']:.1f} ms" if what != "STATUS"
                                                else "")))
    w0 = max((len(a) for a, _, _ in rows), default=10)
    w1 = max((len(b) for _, b, _ in rows), default=10)
    print("summary")
    print(f"  {'figure':<{w0}}  {'value':<{w1}}  vs baseline (same run)")
    for a, b, c in rows:
        print(f"  {a:<{w0}}  {b:<{w1}}  {c}")
    for name in failed:
        print(f"  {name}: FAILED (see stderr)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
