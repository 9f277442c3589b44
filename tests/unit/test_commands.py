"""The IBC-compatible command server and `ibpilot command`, on real loopback sockets.

The server runs on its own event loop in a thread; clients are plain blocking sockets (and, for the CLI, real
subprocesses), so every test sees exactly the bytes an IBC client would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ibpilot.serve.commands import CommandError, CommandServer, parse_ip
from ibpilot.testing import free_port, wait_until

TOKEN = "t0k3n-Sekrit-9f2c"


class Target:
    """A CommandTarget that records calls; a command listed in `gates` waits until `release(name)`."""

    def __init__(self, product: str = "gateway", fix: bool = False, logged_in: bool = True) -> None:
        self.product, self.fix, self.logged_in = product, fix, logged_in
        self.calls: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.errors: dict[str, Exception] = {}
        self.restart_info = "at 11:59 PM"
        self.enable_result = "configured"
        self.status_doc: dict[str, Any] = {"state": "READY", "mode": "paper", "api_port": 4002}

    async def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.gates:
            await self.gates[name].wait()
        if name in self.errors:
            raise self.errors[name]

    async def stop(self) -> None:
        await self._call("stop")

    async def restart(self) -> str:
        await self._call("restart")
        return self.restart_info

    async def reconnect_account(self) -> None:
        await self._call("reconnect_account")

    async def reconnect_data(self) -> None:
        await self._call("reconnect_data")

    async def enable_api(self) -> str:
        await self._call("enable_api")
        return self.enable_result

    def status(self) -> dict[str, Any]:
        self.calls.append("status")
        return self.status_doc


class Running:
    """A CommandServer served by an event loop in a background thread."""

    def __init__(self, target: Target, **kw: Any) -> None:
        kw.setdefault("host", "127.0.0.1")
        kw.setdefault("port", 0)
        self.target = target
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: CommandServer = self.run(self._make(kw))
        self.port = self.server.port

    async def _make(self, kw: dict[str, Any]) -> CommandServer:
        server = CommandServer(self.target, **kw)
        await server.start()
        return server

    def run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def gate(self, name: str) -> None:
        async def make() -> None:
            self.target.gates[name] = asyncio.Event()

        self.run(make())

    def release(self, name: str) -> None:
        self.loop.call_soon_threadsafe(self.target.gates.pop(name).set)

    def close(self) -> None:
        try:
            for name in list(self.target.gates):
                self.release(name)
            self.run(self.server.close())
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            if pending:
                self.run(asyncio.wait(pending, timeout=5))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(target: Target | None = None, **kw: Any) -> Running:
        r = Running(target or Target(), **kw)
        started.append(r)
        return r

    yield start
    for r in started:
        r.close()


def connect(port: int, host: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection((host, port), timeout=10)


def read_all(s: socket.socket, timeout: float = 10) -> bytes:
    """Everything until the server closes (a reset after data counts as closed)."""
    s.settimeout(timeout)
    out = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := s.recv(65536):
            out += chunk
    return out


def talk(port: int, data: bytes, *, half_close: bool = True) -> bytes:
    """Send `data`, optionally end our side (the server then finishes and closes), return all it sent."""
    with connect(port) as s:
        with contextlib.suppress(OSError):  # the server may already have closed (refused clients)
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        return read_all(s)


def read_until(s: socket.socket, end: bytes, timeout: float = 10) -> bytes:
    s.settimeout(timeout)
    out = b""
    while not out.endswith(end):
        chunk = s.recv(4096)
        if not chunk:
            raise AssertionError(f"closed before {end!r}; got {out!r}")
        out += chunk
    return out


STATUS_LINE = b'OK {"api_port":4002,"mode":"paper","state":"READY"}\n'


# ------------------------------------------------------------------------------------------ exact replies

@pytest.mark.parametrize(
    ("target_kw", "sent", "expected", "calls"),
    [
        ({}, b"STOP\n", b"OK Shutting down: STOP command\n", ["stop"]),
        ({"logged_in": False}, b"stop\n", b"OK Shutting down: STOP command\n", ["stop"]),
        ({}, b"RESTART\n", b"OK RESTART at 11:59 PM\n", ["restart"]),
        ({}, b"EXIT\n", b"OK Goodbye\n", []),
        ({}, b"ENABLEAPI\n", b"ERROR ENABLEAPI is not valid for the IB Gateway\n", []),
        ({"product": "tws"}, b"EnableApi\n", b"OK configured\n", ["enable_api"]),
        ({}, b"RECONNECTACCOUNT\n", b"OK \n", ["reconnect_account"]),
        ({}, b"reconnectdata\n", b"OK \n", ["reconnect_data"]),
        ({"logged_in": False}, b"RECONNECTDATA\n",
         b"ERROR RECONNECTDATA: not logged in (main window not known)\n", []),
        ({"logged_in": False}, b"RECONNECTACCOUNT\n",
         b"ERROR RECONNECTACCOUNT: not logged in (main window not known)\n", []),
        ({"fix": True}, b"RESTART\n", b"ERROR RESTART is not valid for the FIX Gateway\n", []),
        ({"fix": True}, b"RECONNECTACCOUNT\n", b"ERROR RECONNECTACCOUNT is not valid for the FIX Gateway\n", []),
        ({"fix": True}, b"RECONNECTDATA\n", b"ERROR RECONNECTDATA is not valid for the FIX Gateway\n", []),
        ({"fix": True}, b"PAUSE\n", b"ERROR PAUSE is not valid for the FIX Gateway\n", []),
        ({"fix": True}, b"ENABLEAPI\n", b"ERROR ENABLEAPI is not valid for the IB Gateway\n", []),
        ({}, b"PAUSE\n", b"ERROR PAUSE is not supported by ibpilot; use STOP\n", []),
        ({}, b"STATUS\n", STATUS_LINE, ["status"]),
        ({}, b"stop \n", b"ERROR Command invalid\n", []),
        ({}, b" STOP\n", b"ERROR Command invalid\n", []),
        ({}, b"HELLO\n", b"ERROR Command invalid\n", []),
        ({}, "ST\u00d6P\n".encode(), b"ERROR Command invalid\n", []),
        ({}, b"\xff\xfe\n", b"ERROR Command invalid\n", []),
    ],
)
def test_exact_replies(serve: Callable[..., Running], target_kw: dict[str, Any], sent: bytes, expected: bytes,
                       calls: list[str]) -> None:
    r = serve(Target(**target_kw))
    assert talk(r.port, sent) == expected
    wait_until(lambda: r.target.calls == calls, 10, f"calls {calls}")


def test_info_messages_when_not_suppressed(serve: Callable[..., Running]) -> None:
    r = serve(suppress_info=False)
    assert talk(r.port, b"STATUS\n") == b"INFO IBC Command Server\n" + STATUS_LINE
    assert talk(r.port, b"STOP\n") == b"INFO IBC Command Server\nINFO Closing IBC\nOK Shutting down: STOP command\n"
    wait_until(lambda: r.target.calls == ["status", "stop"], 10, "stop called")
    assert talk(r.port, b"RESTART\n") == b"INFO IBC Command Server\nINFO Restarting TWS\nOK RESTART at 11:59 PM\n"
    assert talk(r.port, b"") == b"INFO IBC Command Server\n"


def test_enableapi_on_tws_reports_the_targets_answer(serve: Callable[..., Running]) -> None:
    t = Target(product="tws")
    r = serve(t)
    t.enable_result = "already configured"
    assert talk(r.port, b"ENABLEAPI\n") == b"OK already configured\n"
    t.errors["enable_api"] = CommandError("could not find Enable ActiveX checkbox")
    assert talk(r.port, b"ENABLEAPI\nSTATUS\n") == b"ERROR could not find Enable ActiveX checkbox\n" + STATUS_LINE


def test_target_failures_answer_error_and_keep_serving(serve: Callable[..., Running]) -> None:
    t = Target()
    r = serve(t)
    t.errors["reconnect_data"] = RuntimeError("boom")
    assert talk(r.port, b"RECONNECTDATA\nSTATUS\n") == (
        b"ERROR RECONNECTDATA failed (see the controller's log)\n" + STATUS_LINE)
    t.errors["restart"] = CommandError("the main window is not showing")
    assert talk(r.port, b"RESTART\nSTATUS\n") == b"ERROR the main window is not showing\n"  # closed after it
    t.errors.clear()
    assert talk(r.port, b"RESTART\n") == b"OK RESTART at 11:59 PM\n"  # not left "in progress"


def test_line_endings_case_and_several_commands(serve: Callable[..., Running]) -> None:
    r = serve()
    assert talk(r.port, b"status\r\nStatus\rSTATUS\nsTaTuS") == STATUS_LINE * 4
    assert r.target.calls == ["status"] * 4
    # \r\n is one line end (no blank line between), a lone \r at the very end too
    r2 = serve(prompt="> ")
    assert talk(r2.port, b"STATUS\r\nSTATUS\r") == STATUS_LINE + b"> " + STATUS_LINE + b"> "


def test_blank_lines_resend_the_prompt_and_no_prompt_at_connect(serve: Callable[..., Running]) -> None:
    r = serve(prompt="IBC> ")
    assert talk(r.port, b"\n   \r\n\t\nSTATUS\nbad\n") == (
        b"IBC> IBC> IBC> " + STATUS_LINE + b"IBC> ERROR Command invalid\nIBC> ")
    assert talk(r.port, b"") == b""  # nothing at connect
    assert talk(r.port, b"EXIT\n") == b"OK Goodbye\n"  # no prompt after the closing commands
    assert talk(r.port, b"STOP\n") == b"OK Shutting down: STOP command\n"
    r3 = serve()
    assert talk(r3.port, b"\n\n") == b""  # empty prompt: blank lines answer nothing


@pytest.mark.parametrize(("cmd", "reply"), [(b"STOP", b"OK Shutting down: STOP command\n"),
                                             (b"RESTART", b"OK RESTART at 11:59 PM\n"),
                                             (b"EXIT", b"OK Goodbye\n")])
def test_stop_restart_exit_close_the_connection(serve: Callable[..., Running], cmd: bytes, reply: bytes) -> None:
    r = serve()
    # we keep our side open: the server closes after the reply and never reads the STATUS
    assert talk(r.port, cmd + b"\nSTATUS\n", half_close=False) == reply
    assert "status" not in r.target.calls


def test_concurrent_stop_and_restart_are_refused(serve: Callable[..., Running]) -> None:
    r = serve()
    r.gate("stop")
    assert talk(r.port, b"STOP\n", half_close=False) == b"OK Shutting down: STOP command\n"
    wait_until(lambda: r.target.calls == ["stop"], 10, "stop running")
    assert talk(r.port, b"STOP\nSTATUS\n", half_close=False) == b"ERROR STOP already in progress\n"
    assert talk(r.port, b"restart\n", half_close=False) == b"ERROR STOP already in progress\n"
    assert talk(r.port, b"STATUS\n") == STATUS_LINE  # other commands still served
    r.release("stop")
    wait_until(lambda: talk(r.port, b"RESTART\n") == b"OK RESTART at 11:59 PM\n", 10, "RESTART accepted again")

    r.gate("restart")
    with connect(r.port) as slow:
        slow.sendall(b"RESTART\n")
        wait_until(lambda: r.target.calls.count("restart") == 2, 10, "restart running")
        assert talk(r.port, b"RESTART\n", half_close=False) == b"ERROR RESTART already in progress\n"
        assert talk(r.port, b"STOP\n", half_close=False) == b"ERROR RESTART already in progress\n"
        assert talk(r.port, b"STATUS\n") == STATUS_LINE  # a slow command holds up only its own client
        r.release("restart")
        assert read_all(slow) == b"OK RESTART at 11:59 PM\n"
    assert r.target.calls.count("stop") == 1


# ------------------------------------------------------------------------------------------------- auth

def test_auth(serve: Callable[..., Running], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    r = serve(token=TOKEN)
    assert talk(r.port, b"STATUS\n") == b"ERROR authentication required\n"
    assert talk(r.port, b"AUTH wrong-guess-77\nSTATUS\n", half_close=False) == b"ERROR authentication required\n"
    assert talk(r.port, b"AUTH " + TOKEN.encode() + b"x\nSTATUS\n", half_close=False) == (
        b"ERROR authentication required\n")
    assert talk(r.port, b"AUTH " + TOKEN[:-1].encode() + b"\n", half_close=False) == (
        b"ERROR authentication required\n")
    assert talk(r.port, b"AUTH\n") == b"ERROR authentication required\n"
    assert talk(r.port, b"\nAUTH " + TOKEN.encode() + b"\n") == b"ERROR authentication required\n"
    assert r.target.calls == []
    assert talk(r.port, b"AUTH " + TOKEN.encode() + b"\nSTATUS\n") == STATUS_LINE
    assert talk(r.port, b"auth " + TOKEN.encode() + b"\r\nSTOP\r\n") == b"OK Shutting down: STOP command\n"
    wait_until(lambda: r.target.calls == ["status", "stop"], 10, "commands after AUTH")
    assert "command STOP from 127.0.0.1:" in caplog.text
    assert TOKEN not in caplog.text and TOKEN[:-1] not in caplog.text and "wrong-guess-77" not in caplog.text
    assert TOKEN not in repr(r.server)


def test_auth_line_without_a_token_is_accepted_silently(serve: Callable[..., Running],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    r = serve()
    assert talk(r.port, b"AUTH whatever-secret-1\nSTATUS\n") == STATUS_LINE
    assert "whatever-secret-1" not in caplog.text


def test_one_log_line_per_command_and_invalid_text_never_logged(serve: Callable[..., Running],
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ibpilot.serve.commands")
    r = serve()
    talk(r.port, b"STATUS\nRECONNECTDATA\nsome-typed-secret\n")
    levels = {rec.getMessage().split(" from ")[0]: rec.levelno for rec in caplog.records}
    assert levels["command STATUS"] == logging.DEBUG  # read-only: a monitoring loop must not fill the log
    assert levels["command RECONNECTDATA"] == logging.INFO
    msgs = [m for rec in caplog.records if (m := rec.getMessage()).startswith("command") and " from " in m]
    assert len(msgs) == 3 and msgs[0].startswith("command STATUS from 127.0.0.1:"), msgs
    assert msgs[1].startswith("command RECONNECTDATA from 127.0.0.1:")
    assert "some-typed-secret" not in caplog.text


# ------------------------------------------------------------------------------------------ construction

@pytest.mark.parametrize(("kw", "ok"), [
    ({"host": "0.0.0.0"}, False),
    ({"host": ""}, False),
    ({"host": "::"}, False),
    ({"host": "10.1.2.3"}, False),
    ({"host": "0.0.0.0", "token": TOKEN}, True),
    ({"host": "0.0.0.0", "allow_from": ["10.0.0.0/8"]}, True),
    ({"host": "127.0.0.1"}, True),
    ({"host": "127.0.0.2"}, True),
    ({"host": "::1"}, True),
    ({"host": "localhost"}, True),
    ({"host": "127.0.0.1", "allow_from": ["10.0.0.0/33"]}, False),
    ({"host": "127.0.0.1", "port": 70000}, False),
    ({"host": "127.0.0.1", "max_clients": 0}, False),
])
def test_constructor_refuses_unsafe_or_bad_settings(kw: dict[str, Any], ok: bool) -> None:
    kw.setdefault("port", 7462)
    if ok:
        CommandServer(Target(), **kw)
    else:
        with pytest.raises(ValueError, match="command server"):
            CommandServer(Target(), **kw)


def test_allowed_peers() -> None:
    s = CommandServer(Target(), host="10.9.8.7", port=1, allow_from=["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"])
    def ok(text: str) -> bool:
        ip = parse_ip(text)
        assert ip is not None
        return s.allowed(ip)
    assert ok("127.0.0.1") and ok("127.8.9.10") and ok("::1") and ok("::ffff:127.0.0.1")
    assert ok("10.9.8.7")  # the server's own (bind) address
    assert ok("192.0.2.200") and ok("::ffff:192.0.2.1") and ok("2001:db8::5") and ok("198.51.100.7")
    assert not ok("10.9.8.6") and not ok("198.51.100.8") and not ok("192.0.3.1") and not ok("2001:db9::1")
    # a token with no allow-list: anyone may connect (and must authenticate); with a list, the list still rules
    anyone = CommandServer(Target(), host="0.0.0.0", port=1, token=TOKEN)
    listed = CommandServer(Target(), host="0.0.0.0", port=1, token=TOKEN, allow_from=["192.0.2.1"])
    far = parse_ip("203.0.113.9")
    assert far is not None and anyone.allowed(far) and not listed.allowed(far)


def test_host_names_are_resolved_once_at_start_case_insensitively(serve: Callable[..., Running]) -> None:
    r = serve(allow_from=["LocalHost", "no-such-host.invalid"])
    ip = parse_ip("127.0.0.1")
    assert ip in r.server._resolved
    assert talk(r.port, b"STATUS\n") == STATUS_LINE


# ------------------------------------------------------------------------------------------------ bounds

def test_a_one_megabyte_line_is_refused(serve: Callable[..., Running]) -> None:
    r = serve(max_line=1024)
    with connect(r.port) as s:
        def flood() -> None:
            with contextlib.suppress(OSError):
                s.sendall(b"A" * 1_000_000)
        t = threading.Thread(target=flood, daemon=True)
        t.start()
        got = read_all(s)
        t.join(30)
    assert got == b"ERROR line too long\n"
    assert talk(r.port, b"X" * 1024 + b"\n") == b"ERROR Command invalid\n"  # at the limit: still a line
    assert talk(r.port, b"X" * 1025 + b"\nSTATUS\n", half_close=False) == b"ERROR line too long\n"
    assert talk(r.port, b"STATUS\n") == STATUS_LINE
    wait_until(lambda: r.server.connections == 0, 10, "no connection left open")


def test_a_thousand_connections_at_once(serve: Callable[..., Running]) -> None:
    r = serve(max_clients=16)
    flood = [connect(r.port) for _ in range(1000)]
    try:
        wait_until(lambda: r.server.refused + r.server.connections >= 1000, 30, "all connections handled")
        assert r.server.connections == 16 and r.server.refused == 984

        def closed(s: socket.socket) -> bool:
            s.setblocking(False)
            try:
                return s.recv(1) == b""
            except BlockingIOError:
                return False
            except ConnectionResetError:
                return True

        wait_until(lambda: sum(map(closed, flood)) >= 984, 30, "extra connections closed by the server")
        assert sum(map(closed, flood)) == 984
        # while the slots are held, one more is closed at once without a reply
        assert talk(r.port, b"STATUS\n") == b""
    finally:
        for s in flood:
            s.close()
    wait_until(lambda: r.server.connections == 0, 30, "the slots freed")
    assert talk(r.port, b"STATUS\n") == STATUS_LINE


def test_a_client_that_does_not_read_is_dropped(serve: Callable[..., Running],
                                               caplog: pytest.LogCaptureFixture) -> None:
    t = Target()
    t.status_doc = {"filler": "x" * 2000}
    r = serve(t, write_timeout_s=0.5)
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", r.port))

    def flood() -> None:
        with contextlib.suppress(OSError):
            slow.sendall(b"STATUS\n" * 200_000)

    th = threading.Thread(target=flood, daemon=True)
    th.start()
    try:
        wait_until(lambda: "does not read its replies" in caplog.text, 60, "the slow reader dropped")
        assert talk(r.port, b"EXIT\n") == b"OK Goodbye\n"
        wait_until(lambda: r.server.connections == 0, 10, "its slot freed")
        assert t.calls.count("status") < 2000  # it stopped answering long before the 200,000 commands
    finally:
        slow.close()
        th.join(30)


def test_idle_connections_are_closed(serve: Callable[..., Running]) -> None:
    r = serve(idle_timeout_s=0.3, suppress_info=False)
    with connect(r.port) as s:
        assert read_all(s) == b"INFO IBC Command Server\n"
    with connect(r.port) as s:
        s.sendall(b"STATUS\n")
        assert read_until(s, STATUS_LINE) == b"INFO IBC Command Server\n" + STATUS_LINE
        s.sendall(b"STAT")  # an unfinished line does not keep it open
        assert read_all(s) == b""
    wait_until(lambda: r.server.connections == 0, 10, "no connection left open")


# --------------------------------------------------------------------------------------------------- CLI

def cli_env(**extra: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ibpilot", "command", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_cli_exit_codes(serve: Callable[..., Running]) -> None:
    r = serve(token=TOKEN, prompt="IBC> ", suppress_info=False)
    env = cli_env(COMMAND_SERVER_PORT=str(r.port), COMMAND_SERVER_TOKEN=TOKEN)
    res = run_cli("status", "RECONNECTDATA", env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "INFO IBC Command Server\n" + STATUS_LINE.decode() + "OK \n"
    assert TOKEN not in res.stdout + res.stderr
    # the same with the prompt configured (COMMAND_SERVER_PROMPT) rather than recognised
    res = run_cli("status", "RECONNECTDATA", env={**env, "COMMAND_SERVER_PROMPT": "IBC> "})
    assert res.returncode == 0 and res.stdout == "INFO IBC Command Server\n" + STATUS_LINE.decode() + "OK \n"

    res = run_cli("ENABLEAPI", "STATUS", env=env)
    assert (res.returncode, res.stdout) == (1, "INFO IBC Command Server\nERROR ENABLEAPI is not valid for the IB "
                                               "Gateway\n")
    res = run_cli("STATUS", env=cli_env(COMMAND_SERVER_PORT=str(r.port), COMMAND_SERVER_TOKEN="not-it"))
    assert (res.returncode, res.stdout) == (1, "INFO IBC Command Server\nERROR authentication required\n")
    res = run_cli("STOP", env=env)
    assert (res.returncode, res.stdout) == (0, "INFO IBC Command Server\nINFO Closing IBC\n"
                                               "OK Shutting down: STOP command\n")
    wait_until(lambda: "stop" in r.target.calls, 10, "stop called")


def test_cli_ports_modes_and_usage(serve: Callable[..., Running]) -> None:
    r = serve()
    # dual mode: the paper side is COMMAND_SERVER_PORT + 1
    dual = cli_env(COMMAND_SERVER_PORT=str(r.port - 1), TRADING_MODE="both")
    res = run_cli("--mode", "paper", "STATUS", env=dual)
    assert (res.returncode, res.stdout) == (0, STATUS_LINE.decode()), res.stderr
    res = run_cli("STATUS", env=dual)
    assert res.returncode == 2 and "--mode" in res.stderr
    res = run_cli("--port", str(r.port), "STATUS", env=cli_env())
    assert res.returncode == 0
    assert run_cli("STATUS", env=cli_env()).returncode == 2  # COMMAND_SERVER_PORT=0: off
    assert run_cli("STATUS", env=cli_env(COMMAND_SERVER_PORT="nonsense")).returncode == 2
    assert run_cli(env=cli_env(COMMAND_SERVER_PORT=str(r.port))).returncode == 2  # no command
    res = run_cli("NOPE", env=cli_env(COMMAND_SERVER_PORT=str(r.port)))
    assert (res.returncode, res.stdout) == (1, "ERROR Command invalid\n")
    res = run_cli("STATUS", env=cli_env(COMMAND_SERVER_PORT=str(free_port())))
    assert res.returncode == 1 and "cannot connect" in res.stderr
    res = run_cli("--timeout", "1", "RESTART", env=cli_env(COMMAND_SERVER_PORT=str(r.port)))
    assert res.returncode == 0 and res.stdout == "OK RESTART at 11:59 PM\n"


def test_cli_no_answer_is_exit_1(serve: Callable[..., Running]) -> None:
    r = serve()
    r.gate("reconnect_account")
    res = run_cli("--timeout", "0.5", "RECONNECTACCOUNT", env=cli_env(COMMAND_SERVER_PORT=str(r.port)))
    assert res.returncode == 1 and "no answer" in res.stderr


def test_cli_help_teaches() -> None:
    res = subprocess.run([sys.executable, "-m", "ibpilot", "command", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0
    assert "echo STOP | nc 127.0.0.1 7462" in res.stdout and "ibpilot command STATUS" in res.stdout


def test_raw_ibc_style_client(serve: Callable[..., Running]) -> None:
    r = serve()
    res = subprocess.run(["sh", "-c", f"printf 'STOP\\n' | socat - TCP:127.0.0.1:{r.port}"], capture_output=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"OK Shutting down: STOP command\n"
    wait_until(lambda: r.target.calls == ["stop"], 10, "stop called")
    assert json.loads(talk(r.port, b"STATUS\n")[3:]) == r.target.status_doc


def test_close_drops_connected_clients_quietly(serve: Callable[..., Running],
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    r = serve()
    clients = [connect(r.port) for _ in range(3)]
    try:
        wait_until(lambda: r.server.connections == 3, 10, "three clients served")
        r.run(r.server.close())
        assert [read_all(c) for c in clients] == [b""] * 3
        assert r.server.connections == 0
        with pytest.raises(OSError):
            connect(r.port)
    finally:
        for c in clients:
            c.close()
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR], caplog.text
