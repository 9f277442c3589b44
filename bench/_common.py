"""What the benchmarks share: a controller subprocess, process cleanup, percentiles, a time bound.

Every process a benchmark starts is registered with a `Cleanup` and killed (process group, SIGKILL as a last
resort) when the benchmark ends, normally or not.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ibpilot.sim import install as sim_install
from ibpilot.testing import controller_env, free_port, kill_processes_with, wait_until

REPO = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------- figures
def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    s = sorted(values)
    k = max(1, math.ceil(p / 100 * len(s)))
    return s[min(k, len(s)) - 1]


def median(values: Sequence[float]) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def vm_hwm_kb(pid: int) -> int | None:
    """Peak resident set size (VmHWM) of a live process, in kB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


# ------------------------------------------------------------------------------------------- time bound
class BenchTimeout(Exception):
    pass


@contextlib.contextmanager
def time_bound(seconds: int, what: str) -> Iterator[None]:
    """Raise BenchTimeout in the main thread after `seconds` (SIGALRM); cleanup runs in the callers' finally."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise BenchTimeout(f"{what} exceeded its time bound of {seconds}s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ------------------------------------------------------------------------------------------- processes
class Cleanup:
    """Kill everything registered, newest first: callables run even when an earlier one fails."""

    def __init__(self) -> None:
        self._actions: list[Callable[[], None]] = []

    def add(self, action: Callable[[], None]) -> None:
        self._actions.append(action)

    def run(self) -> None:
        signal.alarm(0)  # the time bound must not interrupt the cleanup itself
        while self._actions:
            action = self._actions.pop()
            try:
                action()
            except Exception as exc:
                print(f"bench: cleanup step failed: {exc!r}", file=sys.stderr)

    def __enter__(self) -> Cleanup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.run()


kill_marked = kill_processes_with  # SIGKILL every process carrying a benchmark's own temporary directory


_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z ")


def log_epoch(line: str) -> float | None:
    """The epoch seconds of a controller log line (`2026-01-02T03:04:05.678Z INFO ...`, UTC)."""
    m = _LOG_TIME.match(line)
    if not m:
        return None
    return datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC).timestamp()


class Controller:
    """`ibpilot control` as a subprocess against the simulated Gateway installed under `tmp` (as the
    integration tests run it)."""

    def __init__(self, tmp: Path, display: str, scenario: dict[str, Any], **env: str) -> None:
        self.tmp, self.display = tmp, display
        self.port = free_port()
        self.scenario = {"api_port": self.port, **scenario}
        self.extra_env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.t_start = math.nan
        self.log_path = tmp / "controller.log"
        self.events_path = tmp / "sim-events.jsonl"
        self.run_dir = tmp / "run"

    @property
    def agent_socket(self) -> Path:
        return self.run_dir / "agent-paper.sock"

    def env(self) -> dict[str, str]:
        return controller_env(self.tmp, self.display, self.scenario, self.port, "gateway", "bench-pw",
                              **self.extra_env)

    def start(self, cleanup: Cleanup) -> Controller:
        self.tmp.mkdir(parents=True, exist_ok=True)
        sim_install.install(self.tmp / "Jts", "gateway")
        env = self.env()
        cleanup.add(self.kill)
        with open(self.log_path, "ab") as log:
            self.t_start = time.time()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ibpilot", "control"], env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_log(self, pattern: str, timeout: float) -> str:
        """The first log line matching `pattern` (whole line returned)."""
        rx = re.compile(pattern)

        def found() -> str | None:
            for line in self.log().splitlines():
                if rx.search(line):
                    return line
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"controller exited ({self.proc.returncode}) before {pattern!r}:\n"
                                   + self.log()[-3000:])
            return None

        try:
            return str(wait_until(found, timeout, f"controller log {pattern!r}", 0.02))
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}\n{self.log()[-3000:]}") from None

    def jvm_pid(self) -> int | None:
        if self.proc is None:
            return None
        for pid in children(self.proc.pid):
            try:
                if b"java" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]:
                    return pid
            except OSError:
                continue
        return None

    def events(self) -> list[dict[str, Any]]:
        out = []
        if self.events_path.exists():
            for line in self.events_path.read_text(errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    out.append(json.loads(line))
        return out

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM: the controller logs out through File > Close and exits."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        kill_marked(str(self.tmp / "settings"))  # the JVM runs in its own session
