"""One controller's operations surface: Prometheus metrics, alert delivery, the health server (/health,
/ready, /metrics, status page) and the IBC-compatible command server, all fed by the `Instance`.

`Operations` is the instance's `Observer`; it owns the servers and closes them on the way out. Every
server is optional (port 0 = off); a server that cannot bind is an error at start (exit 2 from the CLI),
never a silent absence.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ibpilot.controller.commands import InstanceCommands
from ibpilot.controller.instance import Instance
from ibpilot.controller.machine import State
from ibpilot.controller.watchdog import ProbeResult
from ibpilot.logs import register_secret
from ibpilot.serve.commands import CommandServer
from ibpilot.serve.health import HealthServer
from ibpilot.serve.metrics import Metrics
from ibpilot.serve.notify import Notifier, NotifyConfig

log = logging.getLogger("ibpilot.controller.ops")


def notify_config(inst: Instance) -> NotifyConfig:
    s = inst.cfg.s

    def reveal(v: Any) -> str | None:
        return v.reveal() if v else None

    return NotifyConfig(
        webhook_url=reveal(s.alert_webhook_url),
        telegram_bot_token=reveal(s.telegram_bot_token),
        telegram_chat_id=s.telegram_chat_id,
        discord_webhook_url=reveal(s.discord_webhook_url),
        ntfy_url=reveal(s.ntfy_url),
        ntfy_token=reveal(s.ntfy_token),
        dedup_window_s=s.alert_dedup_window,
    )


def _link_host(bind: str) -> str:
    return "localhost" if bind in ("0.0.0.0", "::", "") else bind


class Operations:
    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        s, mode = inst.cfg.s, inst.cfg.mode
        self.metrics = Metrics(mode, [st.value for st in State])
        cfg = notify_config(inst)
        for secret in cfg.secrets():
            register_secret(secret)
        self.notifier = Notifier(cfg) if cfg.enabled else None
        self.commands = InstanceCommands(inst)
        token = s.command_server_token.reveal() if s.command_server_token else None
        if token:
            register_secret(token)
        self.health: HealthServer | None = None
        if port := s.health_port_for(mode):
            self.health = HealthServer(inst, self.metrics, host=s.health_bind, port=port, command=self._page_command,
                                       command_token=token, peers=self._peers)
        self.command_server: CommandServer | None = None
        if port := s.command_server_port_for(mode):
            self.command_server = CommandServer(
                self.commands, host=s.command_server_bind, port=port, allow_from=s.control_from, token=token,
                prompt=s.command_server_prompt or "", suppress_info=s.suppress_info_messages)

    def links(self) -> dict[str, str | None]:
        s = self.inst.cfg.s
        novnc = f"http://{_link_host(s.novnc_bind)}:{s.novnc_port}/vnc.html" if s.novnc_port else None
        ui = f"http://{_link_host(s.supervisord_ui_bind)}:{s.supervisord_ui_port}/" if s.supervisord_ui_port else None
        return {"novnc": novnc, "supervisord": ui}

    def _peers(self) -> list[dict[str, Any]]:
        """The other trading mode's state, from its state file (dual mode)."""
        out = []
        for path in sorted(Path(self.inst.cfg.run_dir).glob("state-*.json")):
            if path == self.inst.cfg.state_file:
                continue
            try:
                out.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        return out

    async def _page_command(self, name: str) -> str:
        if name == "STOP":
            await self.commands.stop()
            return "OK Shutting down: STOP command"
        return f"OK RESTART {await self.commands.restart()}"

    async def start(self) -> None:
        """Start every configured server; OSError (port taken) propagates: the CLI refuses to go on."""
        if self.notifier is not None:
            self.notifier.start()
        if self.health is not None:
            await self.health.start()
            log.info("health server on %s:%d (/health /ready /metrics, status page /)", self.health.host,
                     self.health.port)
        if self.command_server is not None:
            await self.command_server.start()
            log.info("command server on %s:%d (IBC protocol: STOP, RESTART, RECONNECTACCOUNT, RECONNECTDATA, "
                     "ENABLEAPI, EXIT, STATUS)", self.inst.cfg.s.command_server_bind, self.command_server.port)

    async def close(self) -> None:
        if self.command_server is not None:
            await self.command_server.close()
        if self.health is not None:
            await self.health.close()
        if self.notifier is not None:
            await self.notifier.close(5.0)

    # ------------------------------------------------------------------ Observer
    def state(self, name: str) -> None:
        self.metrics.set_state(name)

    def alert(self, alert: str, msg: str, fields: Mapping[str, object]) -> None:
        self.metrics.alert(alert)
        if self.notifier is not None:
            self.notifier.submit(alert, self.inst.cfg.mode, msg, fields)

    def probe(self, res: ProbeResult) -> None:
        self.metrics.probe(res.seconds, res.ok)

    def login(self) -> None:
        self.metrics.login()

    def second_factor(self, kind: str) -> None:
        self.metrics.second_factor(kind)

    def restart(self, cause: str) -> None:
        self.metrics.restart(cause)
