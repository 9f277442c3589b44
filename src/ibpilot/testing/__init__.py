"""What ibpilot's tests (and benchmarks, and the demo) share: a virtual display, free ports, and a
simulated Gateway started exactly like the real one (install tree, java command, in-JVM agent)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ibpilot.gateway.install import Product, find_install
from ibpilot.gateway.jvm import JvmOptions, build_command, find_autorestart, find_java
from ibpilot.jars import jar_path
from ibpilot.sim import install as sim_install


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll `cond` until truthy (returning its value) or raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


class Xvfb:
    """A private X display: `with Xvfb() as display: ...` (display like ':93')."""

    def __init__(self, size: str = "1280x1024x24") -> None:
        self.size = size
        self.proc: subprocess.Popen[bytes] | None = None
        self.display = ""

    def start(self) -> str:
        exe = shutil.which("Xvfb")
        if not exe:
            raise FileNotFoundError("Xvfb is not installed (scripts/install-system-deps.sh)")
        for n in range(90 + os.getpid() % 400, 900):
            if Path(f"/tmp/.X{n}-lock").exists() or Path(f"/tmp/.X11-unix/X{n}").exists():
                continue
            proc = subprocess.Popen(
                [exe, f":{n}", "-screen", "0", self.size, "-nolisten", "tcp", "-noreset"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            sock = Path(f"/tmp/.X11-unix/X{n}")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and proc.poll() is None and not sock.exists():
                time.sleep(0.02)
            if proc.poll() is None and sock.exists():
                self.proc, self.display = proc, f":{n}"
                return self.display
            proc.kill()
            proc.wait()
        raise RuntimeError("could not start Xvfb on any display")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class SimGateway:
    """One simulated Gateway/TWS JVM, launched with ibpilot's own java command and agent.

    The scenario (a dict, see sim/README.md) is written to a file; the simulator's JSON-lines event log
    is readable with :meth:`events` / :meth:`wait_event`.
    """

    workdir: Path
    display: str
    product: Product = "gateway"
    scenario: dict[str, Any] = field(default_factory=dict)
    with_agent: bool = True
    proc: subprocess.Popen[bytes] | None = None

    @property
    def tws_path(self) -> Path:
        return self.workdir / "Jts"

    @property
    def settings_dir(self) -> Path:
        return self.workdir / "settings"

    @property
    def agent_socket(self) -> Path:
        return self.workdir / "agent" / "agent.sock"

    @property
    def events_path(self) -> Path:
        return self.workdir / "sim-events.jsonl"

    @property
    def console_path(self) -> Path:
        return self.workdir / "jvm-console.log"

    def command(self) -> list[str]:
        sim_install.install(self.tws_path, self.product)
        inst = find_install(self.tws_path, self.product)
        self.settings_dir.mkdir(parents=True, exist_ok=True)
        self.agent_socket.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        opts = JvmOptions(
            settings_dir=self.settings_dir,
            agent_jar=jar_path("agent") if self.with_agent else None,
            agent_socket=self.agent_socket if self.with_agent else None,
            restart_subdir=find_autorestart(self.settings_dir),
        )
        return build_command(inst, find_java(inst), opts)

    def env(self) -> dict[str, str]:
        scen = self.workdir / "scenario.json"
        scen.write_text(json.dumps(self.scenario))
        env = dict(os.environ)
        env.update(
            DISPLAY=self.display,
            IBPILOT_SIM_SCENARIO=str(scen),
            IBPILOT_SIM_EVENTS=str(self.events_path),
        )
        return env

    def start(self) -> SimGateway:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cmd = self.command()
        log = open(self.console_path, "ab")
        self.proc = subprocess.Popen(
            cmd, env=self.env(), stdout=log, stderr=subprocess.STDOUT, cwd=self.settings_dir, start_new_session=True
        )
        log.close()
        return self

    def events(self) -> list[dict[str, Any]]:
        if not self.events_path.exists():
            return []
        out = []
        for line in self.events_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def find_event(self, name: str, **match: Any) -> dict[str, Any] | None:
        for ev in self.events():
            if ev.get("event") == name and all(ev.get(k) == v for k, v in match.items()):
                return ev
        return None

    def wait_event(self, name: str, timeout: float = 30, **match: Any) -> dict[str, Any]:
        ev: dict[str, Any] = wait_until(
            lambda: self.find_event(name, **match), timeout, f"sim event {name} {match or ''}", 0.05
        )
        return ev

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def diagnostics(self) -> str:
        parts = []
        for p in (self.console_path, self.events_path):
            if p.exists():
                parts.append(f"--- {p.name} ---\n" + p.read_text(errors="replace")[-6000:])
        return "\n".join(parts)
