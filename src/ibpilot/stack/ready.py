"""A program's own readiness condition (file or Unix socket exists, or a TCP port accepts)."""

from __future__ import annotations

import socket
from pathlib import Path

from ibpilot.stack.plan import Program


def tcp_accepts(target: str, timeout: float = 0.3) -> bool:
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def condition_holds(program: Program) -> bool:
    """The program's own Ready condition (file/socket exists, or the TCP port accepts)."""
    r = program.ready
    if r is None:
        return True
    if r.kind == "tcp":
        return tcp_accepts(r.target)
    return Path(r.target).expanduser().exists()
