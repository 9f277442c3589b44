"""The whole stack (`ibpilot run` -> supervisord -> Xvfb, VNC, controllers, socat, ssh) on the simulator.

Every stack gets its own tmp dir (the simulator install, RUN_DIR, scenario, event log), free ports, and a
free X display for the stack's own Xvfb. `stacks` stops every stack it started (SIGTERM, then SIGKILL), and
kills any process left behind that carries the tmp dir in its command line or environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ibpilot.audit.procs import listening_sockets  # noqa: F401 - re-exported for the system tests
from ibpilot.sim import install as sim_install
from ibpilot.stack.display import free_display
from ibpilot.testing import free_port, wait_until

REPO = Path(__file__).resolve().parents[2]


def processes_with(marker: str, exclude: set[int] | None = None) -> list[tuple[int, str]]:
    """(pid, command line) of every process whose command line or environment contains `marker`."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid == me or (exclude and pid in exclude):
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            env = (entry / "environ").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            continue  # a zombie waiting for its parent is not running
        if marker in cmd or marker.encode() in env:
            found.append((pid, cmd.strip()))
    return found


def refused(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


def accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class RunningStack:
    root: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return Path(self.env["RUN_DIR"])

    @property
    def out_path(self) -> Path:
        return self.root / "run.out"

    def ready_file(self, mode: str = "paper") -> Path:
        if self.env.get("TRADING_MODE") == "both":
            return self.run_dir / f"ready-{mode}"
        return self.run_dir / f"ready-{mode}"

    def start(self) -> RunningStack:
        out = open(self.out_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "ibpilot", "run"], env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT, cwd=self.root)
        out.close()
        return self

    def output(self) -> str:
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    def diagnostics(self) -> str:
        parts = [f"--- ibpilot run output ---\n{self.output()[-8000:]}"]
        ev = self.root / "sim-events.jsonl"
        if ev.exists():
            parts.append(f"--- sim events ---\n{ev.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def wait_ready(self, mode: str = "paper", timeout: float = 60) -> None:
        def check() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"ibpilot run exited with {self.proc.returncode}\n{self.diagnostics()}")
            return self.ready_file(mode).exists()

        try:
            wait_until(check, timeout, f"{mode} ready", 0.1)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.diagnostics()}") from None

    def status(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ibpilot", "status", *args], env=self.env,
                              capture_output=True, text=True, timeout=30, check=False)

    def terminate(self, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise

    def program_pids(self) -> dict[str, int]:
        """supervisord's pid of every running program (`ibpilot status --json`)."""
        doc = json.loads(self.status("--json").stdout)
        return {name: int(p["pid"]) for name, p in doc["programs"].items() if p.get("pid")}

    def leftovers(self) -> list[tuple[int, str]]:
        return processes_with(str(self.root))


class StackFactory:
    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.stacks: list[RunningStack] = []

    def __call__(self, scenario: dict[str, Any] | None = None, *, start: bool = True, **overrides: str) -> RunningStack:
        root = self.tmp_path_factory.mktemp("stack")
        sim_install.install(root / "Jts", "gateway")
        (root / "scenario.json").write_text(json.dumps(scenario or {}))
        ports = {k: free_port() for k in ("api", "api_paper", "socat", "socat_paper", "vnc", "novnc", "ui")}
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TERM", "USER", "LOGNAME")}
        env.update(
            HOME=str(root / "home"),
            IBPILOT_SIM="yes",
            IBPILOT_SIM_SCENARIO=str(root / "scenario.json"),
            IBPILOT_SIM_EVENTS=str(root / "sim-events.jsonl"),
            TWS_PATH=str(root / "Jts"),
            RUN_DIR=str(root / "run"),
            TRADING_MODE="paper",
            TWS_USERID="tester",
            TWS_PASSWORD="Tw5-P4ssw0rd-xyzzy",
            TWS_API_PORT=str(ports["api"]),
            SOCAT_PORT=str(ports["socat"]),
            SOCAT_BIND="127.0.0.1",
            DISPLAY_NUMBER=str(free_display(200 + os.getpid() % 500)),
            HEALTH_PORT="0",
            PYTHONPATH=str(REPO / "src"),
        )
        env.update(overrides)
        (root / "home").mkdir()
        st = RunningStack(root, env, ports=ports)
        self.stacks.append(st)
        return st.start() if start else st

    def cleanup(self) -> None:
        for st in self.stacks:
            if st.proc is not None and st.proc.poll() is None:
                with contextlib.suppress(Exception):
                    st.terminate(60)
            deadline = time.monotonic() + 5
            while st.leftovers() and time.monotonic() < deadline:
                time.sleep(0.1)
            for pid, _cmd in st.leftovers():
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackFactory]:
    factory = StackFactory(tmp_path_factory)
    try:
        yield factory
    finally:
        factory.cleanup()
