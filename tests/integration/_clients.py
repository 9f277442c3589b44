"""Clients the integration tests talk to a controller with: a real ib_async client, a raw IBC command client."""

from __future__ import annotations

import asyncio
import socket

from ib_async import IB


def ib_connect(port: int, client_id: int = 11) -> list[str]:
    """Connect a real ib_async client, ask the current time; the managed accounts."""

    async def go() -> list[str]:
        ib = IB()
        await ib.connectAsync("127.0.0.1", port, clientId=client_id, timeout=10, readonly=True)
        try:
            t = await ib.reqCurrentTimeAsync()
            assert t.year >= 2026
            return list(ib.managedAccounts())
        finally:
            ib.disconnect()

    return asyncio.run(go())


def command(port: int, *lines: str, timeout: float = 90) -> str:
    """What a raw IBC client (echo STOP | nc) reads back until the server closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall("".join(f"{line}\n" for line in lines).encode())
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(4096):
            out += chunk
    return out.decode()
