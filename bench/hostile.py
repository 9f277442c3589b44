"""Hostile clients against a READY controller's command server and health server: memory and service under load.

One `ibpilot control` (paper, READY, `HEALTH_PORT` and `COMMAND_SERVER_PORT` on loopback, defaults otherwise).
Three phases, one after the other, each against **both** servers at once:

1. idle flood: `--conns` (1,000) connections to each server, opened concurrently and held, sending nothing.
2. long lines: waves of `--long` connections to each server for 4 s, each sending a 1 MB line (command server:
   1 MB of `A` then `\\n`; health server: alternately a 1 MB request line and a 1 MB header), then reading the answer.
3. slow readers: `--slow` connections to each server that send pipelined requests (`STATUS\\n` x 10,000;
   `GET /metrics` x 500) and never read a byte of the answers (receive buffer pinned at 4 KB).

Throughout, a separate thread sends a good `STATUS` (fresh connection) and `GET /health` every 0.25 s and records
whether and how fast they answered; the controller's `VmRSS` (/proc/<pid>/status) is sampled every 20 ms. Printed:
RSS before, peak (and in which phase), after (all hostile connections closed, `--settle` s later); per phase the
good requests answered; the controller's state on every answered /health, and its READY count in the log (1
means it never left READY). Every connection has a time bound; everything is closed and killed at the end.

    .venv/bin/python bench/hostile.py [--conns 1000] [--long 20] [--slow 100] [--rounds 2] [--bound 300]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import re
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Cleanup, Controller, kill_marked, median, pct, time_bound

from ibpilot.testing import Xvfb, free_port

MB = 1 << 20
CONNECT_TIMEOUT_S = 5.0
IDLE_HOLD_S = 6.0
SLOW_HOLD_S = 15.0  # longer than both servers' write timeouts (10 s)
SLOW_STATUS = 10_000  # pipelined STATUS per slow reader: its replies (~MBs) outgrow the socket buffers
PHASE_GAP_S = 2.0
LONG_PHASE_S = 4.0  # 1 MB lines come in waves of --long per server until this long has passed
CHECK_EVERY_S = 0.25
CHECK_TIMEOUT_S = 5.0


def vm_rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def server_conns(port: int) -> int:
    """Established TCP sockets whose local port is `port` (the server's side of its connections, loopback)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 3 and f[3] == "01" and int(f[1].rsplit(":", 1)[1], 16) == port:
                n += 1
    return n


def log_kinds(log: str, top: int = 3) -> list[tuple[int, str]]:
    """The most frequent controller log lines, digits and quoted text blanked, with their counts."""
    counts: dict[str, int] = {}
    for line in log.splitlines():
        key = re.sub(r"\d+", "N", line[25:])[:90]
        counts[key] = counts.get(key, 0) + 1
    return sorted(((n, k) for k, n in counts.items()), reverse=True)[:top]


# ------------------------------------------------------------------------------------------- observers
@dataclass
class Probe:
    t: float
    phase: str
    what: str  # "STATUS" or "/health"
    ok: bool
    seconds: float
    state: str = ""


@dataclass
class Watch:
    pid: int
    cmd_port: int
    health_port: int
    phase: str = "before"
    probes: list[Probe] = field(default_factory=list)
    rss: list[tuple[float, str, int]] = field(default_factory=list)
    conns: list[tuple[str, int, int]] = field(default_factory=list)  # phase, command server, health server
    stop: threading.Event = field(default_factory=threading.Event)

    def status(self) -> Probe:
        t0 = time.monotonic()
        phase = self.phase
        try:
            with socket.create_connection(("127.0.0.1", self.cmd_port), timeout=CHECK_TIMEOUT_S) as s:
                s.sendall(b"STATUS\n")
                s.shutdown(socket.SHUT_WR)
                out = b""
                while len(out) < 1 << 20 and (chunk := s.recv(65536)):
                    out += chunk
            text = out.decode(errors="replace")
            state = ""
            if text.startswith("OK {"):
                with contextlib.suppress(ValueError, AttributeError):
                    state = str(json.loads(text[3:]).get("state", ""))
            return Probe(time.time(), phase, "STATUS", bool(state), time.monotonic() - t0, state)
        except OSError:
            return Probe(time.time(), phase, "STATUS", False, time.monotonic() - t0)

    def health(self) -> Probe:
        t0 = time.monotonic()
        phase = self.phase
        conn = http.client.HTTPConnection("127.0.0.1", self.health_port, timeout=CHECK_TIMEOUT_S)
        try:
            conn.request("GET", "/health")
            r = conn.getresponse()
            doc = json.loads(r.read())
            return Probe(time.time(), phase, "/health", r.status == 200, time.monotonic() - t0,
                         str(doc.get("state", "")))
        except (OSError, ValueError, http.client.HTTPException):
            return Probe(time.time(), phase, "/health", False, time.monotonic() - t0)
        finally:
            conn.close()

    def check_loop(self) -> None:
        while not self.stop.wait(CHECK_EVERY_S):
            self.probes.append(self.status())
            self.probes.append(self.health())

    def rss_loop(self) -> None:
        n = 0
        while not self.stop.wait(0.02):
            if (kb := vm_rss_kb(self.pid)) is not None:
                self.rss.append((time.time(), self.phase, kb))
            n += 1
            if n % 10 == 0:
                self.conns.append((self.phase, server_conns(self.cmd_port), server_conns(self.health_port)))


# ------------------------------------------------------------------------------------------- hostile clients
@dataclass
class Tally:
    opened: int = 0
    failed: int = 0  # connect refused / timed out
    closed_by_server: int = 0  # EOF or reset seen while we held the connection
    answers: dict[str, int] = field(default_factory=dict)

    def answer(self, first_line: bytes) -> None:
        key = first_line.decode(errors="replace").strip()[:40] or "(closed, no answer)"
        self.answers[key] = self.answers.get(key, 0) + 1


async def _connect(port: int, tally: Tally, rcvbuf: int = 0) -> tuple[asyncio.StreamReader,
                                                                     asyncio.StreamWriter] | None:
    """A connection; `rcvbuf` > 0 pins a small receive buffer (no autotuning: the server's replies back up)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            rw = await asyncio.open_connection(sock=sock, limit=MB)
        tally.opened += 1
        return rw
    except (OSError, TimeoutError):
        sock.close()
        tally.failed += 1
        return None


def _abort(w: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        w.transport.abort()


async def idle_client(port: int, hold: float, tally: Tally) -> None:
    rw = await _connect(port, tally)
    if rw is None:
        return
    r, w = rw
    try:
        async with asyncio.timeout(hold):
            await r.read(65536)  # only returns when the server closes or answers (408)
            tally.closed_by_server += 1
    except TimeoutError:
        pass
    except OSError:
        tally.closed_by_server += 1
    finally:
        _abort(w)


async def long_line_client(port: int, payload: bytes, tally: Tally) -> None:
    rw = await _connect(port, tally)
    if rw is None:
        return
    r, w = rw
    try:
        async with asyncio.timeout(10):
            w.write(payload)
            with contextlib.suppress(OSError):
                await w.drain()
            with contextlib.suppress(OSError):
                tally.answer(await r.readline())
    except TimeoutError:
        tally.answer(b"(no answer in 10 s)")
    finally:
        _abort(w)


async def slow_reader(port: int, payload: bytes, hold: float, tally: Tally) -> None:
    rw = await _connect(port, tally, rcvbuf=4096)
    if rw is None:
        return
    _, w = rw
    try:
        w.write(payload)  # never drained from our side beyond the socket buffers; never read
        await asyncio.sleep(hold)  # whether the server dropped us shows in its server-side socket count
    finally:
        _abort(w)


async def storm_phase(clients: list[Any], bound: float) -> None:
    async with asyncio.timeout(bound):
        await asyncio.gather(*clients)


async def waves(make: Any, min_s: float = 0.0, max_waves: int = 50) -> None:
    """Waves of clients (`make()` -> coroutines), one after the other, until `min_s` (LONG_PHASE_S) has passed."""
    t0 = time.monotonic()
    for _ in range(max_waves):
        await asyncio.gather(*make())
        if time.monotonic() - t0 >= (min_s or LONG_PHASE_S):
            break


def http_long(i: int) -> bytes:
    if i % 2:
        return b"GET /" + b"a" * MB + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    return b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * MB + b"\r\n\r\n"


# ------------------------------------------------------------------------------------------- run
def run(conns: int = 1000, long: int = 20, slow: int = 100, settle: float = 5.0, rounds: int = 2,
        bound_s: int = 300) -> dict[str, Any]:
    phases = ("idle flood", "long lines", "slow readers")
    tallies = {f"{p}|{srv}": Tally() for p in phases for srv in ("command", "health")}
    with time_bound(bound_s, "hostile"), \
            tempfile.TemporaryDirectory(prefix="ibpilot-bench-hostile-") as tmpdir, Cleanup() as cleanup:
        tmp = Path(tmpdir)
        cleanup.add(lambda: kill_marked(tmpdir))
        xvfb = Xvfb()
        display = xvfb.start()
        cleanup.add(xvfb.stop)
        hp, cp = free_port(), free_port()
        c = Controller(tmp / "ctl", display, {"step_delay_ms": 100}, HEALTH_PORT=str(hp), COMMAND_SERVER_PORT=str(cp))
        c.start(cleanup)
        c.wait_log(r"READY mode=paper api_port=\d+", timeout=120)
        c.wait_log(r"command server on", timeout=10)
        assert c.proc is not None
        pid = c.proc.pid
        time.sleep(2.0)  # let start-up allocations settle
        watch = Watch(pid, cp, hp)
        rss_before = vm_rss_kb(pid) or 0
        threads = [threading.Thread(target=watch.check_loop, daemon=True),
                   threading.Thread(target=watch.rss_loop, daemon=True)]
        for t in threads:
            t.start()
        cleanup.add(watch.stop.set)
        time.sleep(1.0)
        took: dict[str, float] = {}

        def phase(name: str, make: Any, bound: float) -> None:
            watch.phase = "between"  # the previous phase's connections wind down (servers linger up to 1 s)
            time.sleep(PHASE_GAP_S)
            watch.phase = name
            t0 = time.monotonic()
            asyncio.run(storm_phase(make(), bound))
            took[name] = took.get(name, 0.0) + time.monotonic() - t0

        rss_rounds: list[int] = []
        for _ in range(rounds):
            phase("idle flood", lambda: [idle_client(port, IDLE_HOLD_S, tallies[f"idle flood|{srv}"])
                                         for port, srv in ((cp, "command"), (hp, "health")) for _ in range(conns)],
                  IDLE_HOLD_S + CONNECT_TIMEOUT_S + 10)
            phase("long lines", lambda: [waves(lambda: [long_line_client(cp, b"A" * MB + b"\n",
                                                                         tallies["long lines|command"])
                                                        for _ in range(long)]
                                               + [long_line_client(hp, http_long(i), tallies["long lines|health"])
                                                  for i in range(long)])], LONG_PHASE_S + 30)
            phase("slow readers", lambda: [slow_reader(cp, b"STATUS\n" * SLOW_STATUS, SLOW_HOLD_S,
                                                       tallies["slow readers|command"]) for _ in range(slow)]
                  + [slow_reader(hp, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 500, SLOW_HOLD_S,
                                 tallies["slow readers|health"]) for _ in range(slow)],
                  SLOW_HOLD_S + CONNECT_TIMEOUT_S + 10)
            watch.phase = "after"
            time.sleep(settle)
            rss_rounds.append(vm_rss_kb(pid) or 0)
        watch.stop.set()
        for t in threads:
            t.join(CHECK_TIMEOUT_S * 2 + 1)
        rss_after = vm_rss_kb(pid) or 0
        log = c.log()
        ready_lines = sum(1 for ln in log.splitlines() if "READY mode=paper" in ln)
        code = c.stop()

    peak_t, peak_phase, peak = max(watch.rss, key=lambda x: x[2]) if watch.rss else (0.0, "?", 0)
    print(f"hostile clients vs a READY controller (command server + health server on loopback, defaults): "
          f"{conns} idle connections each, {long} x 1 MB lines each, {slow} slow readers each")
    print(f"  controller RSS (VmRSS): before {rss_before / 1024:.1f} MB, peak {peak / 1024:.1f} MB "
          f"(during {peak_phase}), after {rss_after / 1024:.1f} MB ({settle:.0f} s after the last hostile "
          f"connection closed); after / before x{rss_after / rss_before:.2f}")
    print(f"  RSS after each round of the three phases ({rounds} rounds; growth only in the first = allocator "
          f"high-water mark, growth in every round = a leak): " + ", ".join(f"{kb / 1024:.1f} MB" for kb in rss_rounds))
    for name in phases:
        rs = [kb for _, ph, kb in watch.rss if ph == name]
        print(f"  {name} ({took.get(name, float('nan')):.1f} s): peak RSS {max(rs, default=0) / 1024:.1f} MB")
        cs = [(a, b) for ph, a, b in watch.conns if ph == name]
        mc, mh = max((a for a, _ in cs), default=0), max((b for _, b in cs), default=0)
        print(f"    server-side open connections (sampled every 0.2 s), max: command {mc}, health {mh}; "
              f"at the phase's last sample: "
              f"command {cs[-1][0] if cs else 0}, health {cs[-1][1] if cs else 0}")
        for srv in ("command", "health"):
            tl = tallies[f"{name}|{srv}"]
            ans = ", ".join(f"{k!r} x{v}" for k, v in sorted(tl.answers.items())) or "-"
            held = "-" if name == "slow readers" else str(tl.closed_by_server)
            print(f"    {srv:<7} server: opened {tl.opened}, connect failed {tl.failed}, closed by the server while "
                  f"held {held}; answers: {ans}")
    good: dict[str, Any] = {}
    for what in ("STATUS", "/health"):
        for name in ("before", *phases, "after"):
            ps = [p for p in watch.probes if p.what == what and p.phase == name]
            if not ps:
                continue
            ok = [p for p in ps if p.ok]
            lat = [p.seconds for p in ok]
            print(f"  good {what:<7} during {name:<12}: answered {len(ok):3d} of {len(ps):3d}"
                  + (f", p50 {median(lat) * 1000:6.1f} ms, max {max(lat) * 1000:7.1f} ms" if lat else ""))
            good[f"{what}|{name}"] = (len(ok), len(ps))
    states = sorted({p.state for p in watch.probes if p.state})
    print(f"  controller state on every answer: {', '.join(states) or 'none'}; READY lines in its log: "
          f"{ready_lines} (1 = never left READY); exit code on SIGTERM {code}")
    warnings = sum(1 for ln in log.splitlines() if " WARNING " in ln)
    print(f"  controller log: {len(log.splitlines())} lines, {warnings} warnings; most frequent:")
    for n, k in log_kinds(log):
        print(f"    {n:6d} x {k}")
    ok_storm = {w: sum(good.get(f"{w}|{p}", (0, 0))[0] for p in phases) for w in ("STATUS", "/health")}
    n_storm = {w: sum(good.get(f"{w}|{p}", (0, 0))[1] for p in phases) for w in ("STATUS", "/health")}
    return {"rss_before_mb": rss_before / 1024, "rss_rounds_mb": [kb / 1024 for kb in rss_rounds],
            "rss_peak_mb": peak / 1024, "rss_after_mb": rss_after / 1024,
            "status_ok": ok_storm["STATUS"], "status_n": n_storm["STATUS"],
            "health_ok": ok_storm["/health"], "health_n": n_storm["/health"],
            "per_phase": {w: {p: good.get(f"{w}|{p}", (0, 0)) for p in phases} for w in ("STATUS", "/health")},
            "states": states, "ready_lines": ready_lines, "peak_t": peak_t,
            "health_p90_ms": pct([p.seconds for p in watch.probes if p.ok and p.what == "/health"
                                  and p.phase in phases], 90) * 1000}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conns", type=int, default=1000, help="idle connections to each server (default 1000)")
    ap.add_argument("--long", type=int, default=20, help="1 MB lines to each server (default 20)")
    ap.add_argument("--slow", type=int, default=100, help="slow readers on each server (default 100)")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds after the storm before RSS 'after'")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of the three phases (default 2)")
    ap.add_argument("--bound", type=int, default=300, help="overall time bound in seconds (default 300)")
    a = ap.parse_args()
    run(a.conns, a.long, a.slow, a.settle, a.rounds, a.bound)
    return 0


if __name__ == "__main__":
    sys.exit(main())
