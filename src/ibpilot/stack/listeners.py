"""Every TCP port the stack listens on, who listens, and on which address: the documented table.

`expected_listeners(settings, programs)` is the one statement of it. `ibpilot run` checks each port is free
before it starts (and prints the table), and the system tests compare it with the sockets the stack's
processes really hold: nothing may listen that is not in this table, nor on a wider address than it says
(docs/network.md says the same in prose).

`program` is the supervisord program whose process tree holds the socket (`supervisord` for its web UI);
`bind` is the address, or ANY_ADDRESS when the program chooses itself (Gateway's API port: the Gateway
listens on every address and lets only its trusted IPs in, 127.0.0.1 by default).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass

from ibpilot.settings import Settings
from ibpilot.stack.plan import Program

ANY_ADDRESS = "*"


@dataclass(frozen=True)
class Listener:
    what: str  # the setting that chose the port, e.g. "VNC_PORT" or "socat port (paper)"
    program: str  # supervisord program whose process tree listens, or "supervisord"
    bind: str  # the address, or ANY_ADDRESS
    port: int


def expected_listeners(settings: Settings, programs: Sequence[Program]) -> list[Listener]:
    """The listeners of the stack `programs` (as planned for `settings`): one line per server."""
    s = settings
    names = {p.name for p in programs}
    out: list[Listener] = []
    for m in s.modes():
        controller = f"controller-{m}"
        if controller not in names:
            continue
        out.append(Listener(f"API port ({m})", controller, ANY_ADDRESS, s.api_port(m)))  # Gateway's JVM
        if f"socat-{m}" in names:
            out.append(Listener(f"socat port ({m})", f"socat-{m}", s.socat_bind, s.socat_port(m)))
        if hp := s.health_port_for(m):  # served by the controller process itself
            out.append(Listener(f"HEALTH_PORT ({m})", controller, s.health_bind, hp))
        if cp := s.command_server_port_for(m):
            out.append(Listener(f"COMMAND_SERVER_PORT ({m})", controller, s.command_server_bind, cp))
    if "x11vnc" in names:
        out.append(Listener("VNC_PORT", "x11vnc", s.vnc_bind, s.vnc_port))
    if "novnc" in names and s.novnc_port:
        out.append(Listener("NOVNC_PORT", "novnc", s.novnc_bind, s.novnc_port))
    if s.supervisord_ui_port:
        out.append(Listener("SUPERVISORD_UI_PORT", "supervisord", s.supervisord_ui_bind, s.supervisord_ui_port))
    return out


def port_free(bind: str, port: int) -> bool:
    """Whether `port` can be bound on `bind` now (what `ibpilot run` and `doctor` check before anything starts)."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((bind, port))
            return True
        except OSError:
            return False
