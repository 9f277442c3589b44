"""One Gateway/TWS JVM at a time: prepare its settings directory, launch it with the agent, connect the
agent, and stop or kill it (always logged, with the pid and the reason).

Knows nothing of screens or states; `Instance` decides when to launch and why to kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import time
from collections.abc import Callable
from typing import Any

from ibpilot.agent.bridge import AgentBridge
from ibpilot.controller.config import ControllerConfig
from ibpilot.controller.outcome import Outcome
from ibpilot.gateway import jts_ini, warm_state
from ibpilot.gateway.install import find_install
from ibpilot.gateway.jvm import JvmOptions, build_command, find_autorestart, find_java
from ibpilot.jars import jar_path

# Never passed to the JVM: it needs none of ibpilot's secrets.
SECRET_ENV = re.compile(r"PASSWORD|PASSPHRASE|SECRET|TOKEN|TWOFACTOR|TOTP|WEBHOOK|NTFY|_PASS$|_PWD$", re.I)


class GatewayProcess:
    def __init__(self, cfg: ControllerConfig, env: dict[str, str], log: logging.Logger) -> None:
        self.cfg, self.env, self.log = cfg, env, log
        self.proc: asyncio.subprocess.Process | None = None
        self.bridge: AgentBridge | None = None
        self.starts = 0
        self.restart_mode = False  # this launch follows Gateway's auto-restart: it logs itself in
        self.last_exit_code: int | None = None
        self.recorded = 0

    @property
    def pid(self) -> int | None:
        """The running JVM's pid (None when there is none)."""
        return self.proc.pid if self.proc is not None and self.proc.returncode is None else None

    def child_env(self) -> dict[str, str]:
        env = {k: v for k, v in self.env.items() if not SECRET_ENV.search(k)}
        env.pop("JAVA_TOOL_OPTIONS", None)
        for name in ("IBPILOT_SIM_SCENARIO", "IBPILOT_SIM_EVENTS"):  # the JVM runs in the settings directory
            if env.get(name) and not os.path.isabs(env[name]):
                env[name] = os.path.abspath(env[name])
        return env

    def prepare(self) -> list[str]:
        cfg, s = self.cfg, self.cfg.s
        cfg.settings_dir.mkdir(parents=True, exist_ok=True)
        cfg.run_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(cfg.run_dir, 0o700)
        cfg.agent_socket.unlink(missing_ok=True)
        restart_subdir = find_autorestart(cfg.settings_dir)
        self.restart_mode = restart_subdir is not None
        if cfg.warm_state is not None and not self.restart_mode:
            n = warm_state.apply(cfg.warm_state, cfg.settings_dir)
            self.log.info("warm state: %d files from %s copied into %s", n, cfg.warm_state, cfg.settings_dir)
        if s.custom_config:
            self.log.info("CUSTOM_CONFIG=yes: jts.ini is left as it is")
        else:
            keys = jts_ini.wanted_keys(product=cfg.product, server=cfg.tws_server, trusted_ips=s.trusted_ips,
                                       time_zone=s.time_zone)
            if cfg.fix:  # as IBC with FIX=yes (gateway-ui.md §1.4): the FIX port is jts.ini's LocalServerPort
                keys["IBGateway"].update(ApiOnly="false", LocalServerPort=str(cfg.effective_api_port))
            jts_ini.ensure(cfg.settings_dir / "jts.ini", keys)
        install = find_install(cfg.tws_path, cfg.product, cfg.version)
        opts = JvmOptions(
            settings_dir=cfg.settings_dir,
            agent_jar=jar_path("agent"),
            agent_socket=cfg.agent_socket,
            heap_mb=s.java_heap_size,
            extra=tuple(s.java_opts),
            restart_subdir=restart_subdir,
        )
        return build_command(install, find_java(install, self.env.get("JAVA_HOME")), opts)

    async def launch(self, started: Callable[[], None]) -> AgentBridge:
        """Start the JVM (then call `started`) and connect its agent; Outcome when the JVM dies first."""
        cmd = self.prepare()
        self.starts += 1
        self.log.info(
            "launching %s %s (JVM start #%d%s), console log %s",
            self.cfg.product, cmd[-2], self.starts,
            ", auto-restart: Gateway logs itself in" if self.restart_mode else "", self.cfg.console_log,
        )
        with open(self.cfg.console_log, "ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *cmd, stdout=out, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
                env=self.child_env(), cwd=self.cfg.settings_dir, start_new_session=True,
            )
        started()
        t0 = time.monotonic()
        connect = asyncio.ensure_future(AgentBridge.connect(self.cfg.agent_socket, timeout=60.0))
        died = asyncio.ensure_future(self.proc.wait())
        done, _ = await asyncio.wait({connect, died}, return_when=asyncio.FIRST_COMPLETED)
        if connect not in done:
            connect.cancel()
            raise Outcome(f"JVM exited with code {self.proc.returncode} before the agent answered")
        died.cancel()
        self.bridge = connect.result()
        if self.cfg.record_dir is not None:
            self.bridge.on_raw_event = self.record
        self.log.info("agent connected in %.2fs (pid %s)", time.monotonic() - t0, self.proc.pid)
        return self.bridge

    async def wait(self) -> int:
        assert self.proc is not None
        code = await self.proc.wait()
        self.last_exit_code = code
        return code

    def autorestart_pending(self) -> bool:
        """Gateway left its auto-restart token: the exit was its daily restart."""
        return self.cfg.settings_dir.is_dir() and find_autorestart(self.cfg.settings_dir) is not None

    async def kill(self, grace: float, reason: str) -> None:
        """SIGTERM the JVM's process group, SIGKILL after `grace` seconds; both logged with the pid and why."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        self.log.warning("stopping Gateway's JVM (pid %d): %s", proc.pid, reason)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
            os.killpg(proc.pid, signal.SIGCONT)  # a stopped (frozen) JVM acts on TERM only once it runs again
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            self.log.warning("killing Gateway's JVM (pid %d) with SIGKILL: it did not exit within %.0fs of "
                             "SIGTERM (%s)", proc.pid, grace, reason)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()

    async def close_bridge(self) -> None:
        if self.bridge is not None:
            await self.bridge.close()
            self.bridge = None

    def record(self, msg: dict[str, Any]) -> None:
        """Save window snapshots as the agent sent them (password fields carry no text)."""
        record_dir = self.cfg.record_dir
        win = msg.get("window")
        if record_dir is None or not isinstance(win, dict):
            return
        record_dir.mkdir(parents=True, exist_ok=True)
        self.recorded += 1
        slug = re.sub(r"[^A-Za-z0-9]+", "-", str(win.get("title") or "untitled")).strip("-")[:40] or "untitled"
        name = f"{self.starts:02d}-{self.recorded:04d}-{msg.get('event')}-{slug}.json"
        (record_dir / name).write_text(json.dumps(win, indent=1, sort_keys=True))
