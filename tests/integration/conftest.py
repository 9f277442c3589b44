"""Shared fixtures for integration tests: one Xvfb per test session, controllers run for real."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ibpilot.sim import install as sim_install
from ibpilot.testing import Xvfb, controller_env, free_port, kill_processes_with, wait_until


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    x = Xvfb()
    try:
        yield x.start()
    finally:
        x.stop()


class Controlled:
    """`ibpilot control` as a real subprocess against a simulated Gateway installed in `tmp`."""

    def __init__(self, tmp: Path, display: str, scenario: dict[str, Any], env: dict[str, str],
                 product: str = "gateway") -> None:
        self.tmp, self.display, self.scenario, self.product = tmp, display, scenario, product
        self.port = int(env.pop("TWS_API_PORT", 0)) or free_port()
        self.scenario.setdefault("api_port", self.port)
        self.scenario.setdefault("step_delay_ms", 100)
        self.extra_env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = tmp / "controller.log"
        self.events_path = tmp / "sim-events.jsonl"

    def env(self) -> dict[str, str]:
        return controller_env(self.tmp, self.display, self.scenario, self.port, self.product, "s3cret-pw",
                              **self.extra_env)

    def start(self) -> Controlled:
        sim_install.install(self.tmp / "Jts", self.product)  # type: ignore[arg-type]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ibpilot", "control"], env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.log()))

    def wait_log(self, pattern: str, timeout: float = 45, count: int = 1) -> str:
        def found() -> str | None:
            matches = re.findall(pattern, self.log())
            if len(matches) >= count:
                return str(matches[count - 1])
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"controller exited ({self.proc.returncode}) before {pattern!r}:\n{self.tail()}")
            return None

        try:
            return str(wait_until(found, timeout, f"log line {pattern!r}", 0.05))
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.tail()}") from None

    def events(self) -> list[dict[str, Any]]:
        if not self.events_path.exists():
            return []
        out = []
        for line in self.events_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def event(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events() if e.get("event") == name]

    def wait_event(self, name: str, timeout: float = 15, **match: Any) -> dict[str, Any]:
        """The first simulator event `name` whose fields include `match` (the sim logs asynchronously)."""

        def found() -> dict[str, Any] | None:
            return next((e for e in self.event(name) if all(e.get(k) == v for k, v in match.items())), None)

        try:
            ev: dict[str, Any] = wait_until(found, timeout, f"sim event {name} {match}", 0.05)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.tail()}") from None
        return ev

    def tail(self) -> str:
        jvm = self.tmp / "run" / "jvm-paper.log"
        jvm_live = self.tmp / "run" / "jvm-live.log"
        parts = [f"--- controller log ---\n{self.log()[-5000:]}"]
        for p in (jvm, jvm_live):
            if p.exists():
                parts.append(f"--- {p.name} ---\n{p.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def stop(self, timeout: float = 40) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                raise AssertionError(f"controller did not stop within {timeout}s\n{self.tail()}") from None
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        # the JVM runs in its own session: find it by its settings dir and kill it too
        kill_processes_with(str(self.tmp / "settings"))


@pytest.fixture
def controlled(tmp_path: Path, display: str) -> Iterator[Any]:
    started: list[Controlled] = []

    def make(scenario: dict[str, Any] | None = None, product: str = "gateway", **env: str) -> Controlled:
        c = Controlled(tmp_path, display, dict(scenario or {}), dict(env), product)
        started.append(c)
        return c.start()

    try:
        yield make
    finally:
        for c in started:
            c.kill()
        time.sleep(0)
