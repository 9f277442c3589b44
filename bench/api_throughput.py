"""TWS API market-data throughput: a real ib_async client, straight to the API port vs through socat.

The simulated Gateway's API server (`ibpilot.sim.api.ApiServerMain`, no UI) streams synthetic ticks for
every subscription every `--tick-ms`; the same client subscribes to `--subs` stocks and counts the ticks
it receives, once on the API port and once through the socat relay ibpilot puts in front of it (the same
argv as the stack's `socat-<mode>` program). Rounds alternate between the two paths so that machine load
hits both alike; the figure of interest is the ratio socat / direct (1.0 = the relay costs nothing).

    .venv/bin/python bench/api_throughput.py [--rounds 3] [--seconds 3] [--subs 20] [--tick-ms 2]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Cleanup, median, time_bound
from ib_async import IB, Stock

from ibpilot.jars import jar_path
from ibpilot.net.forward import socat_argv
from ibpilot.testing import free_port, wait_until

SYMBOLS = ["AAPL", "MSFT", "AMZN", "GOOG", "META", "NVDA", "TSLA", "JPM", "V", "XOM", "JNJ", "PG", "HD", "MA",
           "CVX", "KO", "PEP", "MRK", "ABBV", "WMT", "BAC", "COST", "DIS", "CSCO", "ORCL", "INTC", "AMD", "NFLX"]


def accepts(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start(argv: list[str], cleanup: Cleanup) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop() -> None:
        proc.kill()
        proc.wait(10)

    cleanup.add(stop)
    return proc


async def measure(port: int, subs: int, seconds: float, client_id: int) -> tuple[float, float]:
    """(ticks per second, connect seconds) for one client session on `port`."""
    ib = IB()
    t0 = time.perf_counter()
    await ib.connectAsync("127.0.0.1", port, clientId=client_id, timeout=10, readonly=True)
    connect_s = time.perf_counter() - t0
    count = 0

    def on_tickers(tickers: Any) -> None:
        nonlocal count
        count += sum(len(t.ticks) for t in tickers)

    ib.pendingTickersEvent += on_tickers
    try:
        contracts = await ib.qualifyContractsAsync(*(Stock(sym, "SMART", "USD") for sym in SYMBOLS[:subs]))
        for c in contracts:
            ib.reqMktData(c, "", False, False)
        await asyncio.sleep(0.5)  # warm-up: subscriptions start, JIT warms
        count = 0
        t1 = time.perf_counter()
        await asyncio.sleep(seconds)
        rate = count / (time.perf_counter() - t1)
    finally:
        ib.disconnect()
    return rate, connect_s


def run(rounds: int = 3, seconds: float = 3.0, subs: int = 20, tick_ms: int = 2, bound: int = 180) -> dict[str, Any]:
    direct, relay = free_port(), free_port()
    rates: dict[str, list[float]] = {"direct": [], "socat": []}
    connects: dict[str, list[float]] = {"direct": [], "socat": []}
    with Cleanup() as cleanup, time_bound(bound, "api_throughput"):
        java = ["java", "-cp", str(jar_path("sim")), "ibpilot.sim.api.ApiServerMain", "--port", str(direct),
                "--accounts", "DU1234567", "--bind", "127.0.0.1", "--tick-ms", str(tick_ms)]
        start(java, cleanup)
        wait_until(lambda: accepts(direct), 30, "the API server")
        start(socat_argv(relay, direct, "127.0.0.1"), cleanup)
        wait_until(lambda: accepts(relay), 10, "socat")
        for r in range(rounds):
            for name, port in (("direct", direct), ("socat", relay)) if r % 2 == 0 else (
                    ("socat", relay), ("direct", direct)):
                rate, conn = asyncio.run(measure(port, subs, seconds, client_id=10 + r))
                rates[name].append(rate)
                connects[name].append(conn)
    d, s = median(rates["direct"]), median(rates["socat"])
    dc, sc = median(connects["direct"]), median(connects["socat"])
    print(f"API market-data throughput: ib_async, {subs} subscriptions, a tick round every {tick_ms} ms each, "
          f"{rounds} rounds x {seconds:.0f} s per path (alternating)")
    for label, name, value in (("direct to the API port", "direct", d), ("through socat", "socat", s)):
        runs = " ".join(f"{x:.0f}" for x in rates[name])
        print(f"  {label:<24} median {value:10.0f} ticks/s   runs {runs}")
    print(f"  ratio socat / direct: x{s / d:.2f}")
    print(f"  connect (full ib_async start-up sync): direct {dc * 1000:.1f} ms, socat {sc * 1000:.1f} ms "
          f"(x{sc / dc:.2f})")
    return {"direct_tps": d, "socat_tps": s, "ratio": s / d, "connect_direct_ms": dc * 1000,
            "connect_socat_ms": sc * 1000}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--subs", type=int, default=20)
    ap.add_argument("--tick-ms", type=int, default=2)
    a = ap.parse_args()
    run(a.rounds, a.seconds, a.subs, a.tick_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
