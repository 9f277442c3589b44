"""Command-server clients from another host: a private network namespace linked by a veth pair (NetnsPeer).

The peer inside the namespace reaches the server (in this process, on the host side) at `ns.host_ip`, from
`ns.peer_ip`: neither loopback nor the server's address, so only CONTROL_FROM (or a token) lets it in.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ibpilot.serve.commands import CommandServer
from ibpilot.testing import NETNS_NET, NetnsPeer, netns_peer, wait_until

pytestmark = pytest.mark.integration

TOKEN = "peer-t0ken-5b1e"
STATUS_LINE = b'OK {"state":"READY"}\n'

_PEER_TALK = """
import json, socket, sys
host, port, data = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode("latin-1")
out = {"data": "", "error": None}
try:
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
        out["data"] = got.decode("latin-1")
except OSError as e:
    out["error"] = f"{type(e).__name__}: {e}"
print(json.dumps(out))
"""


class Target:
    product, fix, logged_in = "gateway", False, True

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def stop(self) -> None:
        self.calls.append("stop")

    async def restart(self) -> str:
        self.calls.append("restart")
        return "in progress"

    async def reconnect_account(self) -> None:
        self.calls.append("reconnect_account")

    async def reconnect_data(self) -> None:
        self.calls.append("reconnect_data")

    async def enable_api(self) -> str:
        return "configured"

    def status(self) -> dict[str, Any]:
        self.calls.append("status")
        return {"state": "READY"}


class Served:
    def __init__(self, **kw: Any) -> None:
        self.target = Target()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = CommandServer(self.target, port=0, **kw)
        self._run(self.server.start())

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        try:
            self._run(self.server.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture
def netns() -> Iterator[NetnsPeer]:
    with netns_peer() as ns:
        yield ns


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(**kw: Any) -> Served:
        s = Served(**kw)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


def peer_talk(ns: NetnsPeer, port: int, data: bytes) -> dict[str, Any]:
    res = ns.run([sys.executable, "-c", _PEER_TALK, ns.host_ip, str(port), data.decode("latin-1")], timeout=60)
    assert res.returncode == 0 and res.stdout.strip(), f"peer client failed ({res.returncode}): {res.stderr}"
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def local_talk(host: str, port: int, data: bytes) -> bytes:
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
        return got


def test_a_peer_not_allowed_is_closed_without_a_reply(netns: NetnsPeer, serve: Callable[..., Served],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ibpilot.serve.commands")
    s = serve(host="0.0.0.0", allow_from=["192.0.2.0/24", "198.51.100.1"], suppress_info=False)
    for _ in range(3):
        got = peer_talk(netns, s.server.port, b"STATUS\nSTOP\n")
        assert got["data"] == "", got  # not even the INFO banner
    assert s.target.calls == []
    assert s.server.refused == 3
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1 and netns.peer_ip in refusals[0], refusals  # one line, then rate-limited
    # loopback is still served
    assert local_talk("127.0.0.1", s.server.port, b"STATUS\n") == b"INFO IBC Command Server\n" + STATUS_LINE


@pytest.mark.parametrize("entry", ["cidr", "ip"])
def test_a_peer_allowed_by_control_from(netns: NetnsPeer, serve: Callable[..., Served], entry: str) -> None:
    allow = f"{NETNS_NET}.0.0/16" if entry == "cidr" else netns.peer_ip
    s = serve(host="0.0.0.0", allow_from=["192.0.2.0/24", allow])
    got = peer_talk(netns, s.server.port, b"status\nRECONNECTACCOUNT\nSTOP\n")
    assert got["data"] == (STATUS_LINE + b"OK \nOK Shutting down: STOP command\n").decode(), got
    wait_until(lambda: s.target.calls == ["status", "reconnect_account", "stop"], 10, "the peer's commands")


def test_allowed_peer_still_needs_the_token(netns: NetnsPeer, serve: Callable[..., Served]) -> None:
    s = serve(host="0.0.0.0", allow_from=[netns.peer_ip], token=TOKEN)
    assert peer_talk(netns, s.server.port, b"STATUS\n")["data"] == "ERROR authentication required\n"
    got = peer_talk(netns, s.server.port, b"AUTH " + TOKEN.encode() + b"\nSTATUS\n")
    assert got["data"] == STATUS_LINE.decode()


def test_token_without_allow_list_admits_any_peer_that_authenticates(netns: NetnsPeer,
                                                                      serve: Callable[..., Served]) -> None:
    s = serve(host="0.0.0.0", token=TOKEN)
    assert peer_talk(netns, s.server.port, b"STOP\n")["data"] == "ERROR authentication required\n"
    got = peer_talk(netns, s.server.port, b"AUTH " + TOKEN.encode() + b"\nRESTART\n")
    assert got["data"] == "OK RESTART in progress\n"
    assert s.target.calls == ["restart"]


def test_the_servers_own_address_is_allowed(netns: NetnsPeer, serve: Callable[..., Served]) -> None:
    # bound to the host end of the veth: a client on this host reaching that address comes *from* it (allowed),
    # the namespace's peer does not (refused), exactly as IBC compares the client with the server's address
    s = serve(host=netns.host_ip, allow_from=["192.0.2.0/24"])
    assert local_talk(netns.host_ip, s.server.port, b"STATUS\n") == STATUS_LINE
    assert peer_talk(netns, s.server.port, b"STATUS\n")["data"] == ""
    assert s.target.calls == ["status"]
