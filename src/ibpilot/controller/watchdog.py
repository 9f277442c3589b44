"""The TWS API probe: a real handshake, start-up and current-time round trip, not just an open port.

A port that accepts connections proves little (the paper warning or a hung Gateway accept and never
answer, shared/tws-api.md §4); readiness and liveness in ibpilot mean this probe succeeded.
"""

from __future__ import annotations

import asyncio
import struct
import time
from dataclasses import dataclass, field

MIN_VERSION, MAX_VERSION = 100, 176


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    error: str = ""
    server_version: int = 0
    accounts: tuple[str, ...] = field(default=())
    server_time: int = 0
    seconds: float = 0.0


def _frame(*fields: str) -> bytes:
    payload = b"".join(f.encode() + b"\0" for f in fields)
    return struct.pack(">I", len(payload)) + payload


async def _read_frame(reader: asyncio.StreamReader) -> list[str]:
    size = struct.unpack(">I", await reader.readexactly(4))[0]
    if size > 16 * 1024 * 1024:
        raise ValueError(f"frame of {size} bytes")
    payload = await reader.readexactly(size)
    return payload.decode(errors="replace").split("\0")[:-1]


async def _session(host: str, port: int, client_id: int) -> ProbeResult:
    t0 = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        version = f"v{MIN_VERSION}..{MAX_VERSION}".encode()
        writer.write(b"API\0" + struct.pack(">I", len(version)) + version)
        await writer.drain()
        hello = await _read_frame(reader)
        if len(hello) != 2 or not hello[0].isdigit():
            return ProbeResult(False, f"unexpected handshake reply {hello!r}")
        server_version = int(hello[0])
        writer.write(_frame("71", "2", str(client_id), ""))
        await writer.drain()
        accounts: tuple[str, ...] = ()
        have_next_id = False
        asked_time = False
        while True:
            fields = await _read_frame(reader)
            if not fields:
                continue
            msg = fields[0]
            if msg == "15" and len(fields) >= 3:
                accounts = tuple(a for a in fields[2].split(",") if a)
            elif msg == "9":
                have_next_id = True
            elif msg == "4" and len(fields) >= 5 and fields[3] == "326":
                return ProbeResult(False, f"client id {client_id} already in use (error 326)", server_version)
            elif msg == "49" and len(fields) >= 3:
                return ProbeResult(
                    True,
                    server_version=server_version,
                    accounts=accounts,
                    server_time=int(fields[2]),
                    seconds=time.monotonic() - t0,
                )
            if accounts and have_next_id and not asked_time:
                writer.write(_frame("49", "1"))
                await writer.drain()
                asked_time = True
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, asyncio.IncompleteReadError):
            pass


async def probe(host: str, port: int, *, client_id: int = 973, timeout: float = 5.0) -> ProbeResult:
    """Connect as a TWS API client and ask for the current time; never raises."""
    t0 = time.monotonic()
    try:
        result = await asyncio.wait_for(_session(host, port, client_id), timeout)
    except TimeoutError:
        return ProbeResult(False, f"no answer within {timeout:.1f}s", seconds=time.monotonic() - t0)
    except ConnectionRefusedError:
        return ProbeResult(False, "connection refused (API port not listening)", seconds=time.monotonic() - t0)
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        return ProbeResult(False, f"{type(exc).__name__}: {exc}", seconds=time.monotonic() - t0)
    return result
