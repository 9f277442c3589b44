"""Helpers for tests/integration/test_sim_api.py: build and run `ibpilot.sim.api.ApiServerMain`, real clients."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ibapi.client import EClient  # type: ignore[import-untyped]
from ibapi.wrapper import EWrapper  # type: ignore[import-untyped]

from ibpilot.testing import NetnsPeer

ROOT = Path(__file__).resolve().parents[2]
API_SRC = ROOT / "sim" / "src" / "ibpilot" / "sim" / "api"
JSON_SRC = ROOT / "src" / "ibpilot" / "agent" / "java" / "ibpilot" / "json" / "Json.java"
MAIN = "ibpilot.sim.api.ApiServerMain"


def _tool(name: str) -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / name).exists():
        return str(Path(home) / "bin" / name)
    found = shutil.which(name)
    assert found, f"{name} not found (JDK 17 required)"
    return found


def _newest_source() -> float:
    return max(p.stat().st_mtime for p in [*API_SRC.glob("*.java"), JSON_SRC])


def classpath(tmp: Path) -> tuple[str, str]:
    """(classpath, how): the project's sim jar when it builds and is fresh, else our package compiled alone."""
    why = ""
    try:
        from ibpilot.jars import jar_path

        jar = jar_path("sim")
        with zipfile.ZipFile(jar) as z:
            names = set(z.namelist())
        if (
            "ibpilot/sim/api/ApiServerMain.class" in names
            and "ibpilot/json/Json.class" in names
            and jar.stat().st_mtime >= _newest_source()
        ):
            return str(jar), "jar"
        why = "jar lacks the api classes or is stale"
    except Exception as e:  # colleagues' sources may not compile yet: fall back, say why
        why = f"jar build failed: {type(e).__name__}: {str(e)[:200]}"
    out = tmp / "apiclasses"
    out.mkdir(parents=True, exist_ok=True)
    sources = [str(p) for p in sorted(API_SRC.glob("*.java"))] + [str(JSON_SRC)]
    subprocess.run([_tool("javac"), "--release", "17", "-nowarn", "-d", str(out), *sources], check=True)
    return str(out), f"javac ({why})"


class ApiServerProc:
    """`ApiServerMain` in a child JVM; its JSON-lines events are collected from stdout."""

    def __init__(self, cp: str, *args: str) -> None:
        argv = list(args)
        if "--bind" not in argv:
            argv += ["--bind", "127.0.0.1"]
        if "--port" not in argv:
            argv += ["--port", "0"]
        self.proc = subprocess.Popen(
            [_tool("java"), "-Xss512k", "-cp", cp, MAIN, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.port: int = self.wait_event("api_listening", timeout=30)["port"]

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"event": "_bad_line", "line": line}
            with self._cond:
                self.events.append(ev)
                self._cond.notify_all()
        with self._cond:
            self.events.append({"event": "_eof"})
            self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def mark(self) -> int:
        with self._cond:
            return len(self.events)

    def find(self, name: str, since: int = 0, **match: Any) -> list[dict[str, Any]]:
        with self._cond:
            return [
                e
                for e in self.events[since:]
                if e.get("event") == name and all(e.get(k) == v for k, v in match.items())
            ]

    def wait_event(self, name: str, timeout: float = 10, since: int = 0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events[since:]:
                    if e.get("event") == name and all(e.get(k) == v for k, v in match.items()):
                        return e
                left = deadline - time.monotonic()
                if left <= 0 or (self.events and self.events[-1].get("event") == "_eof"):
                    raise AssertionError(
                        f"no event {name} {match} within {timeout}s; events: {self.events[-15:]};"
                        f" stderr: {''.join(self.stderr[-20:])}"
                    )
                self._cond.wait(min(left, 0.2))

    def command(self, cmd: str, timeout: float = 10) -> dict[str, Any]:
        since = self.mark()
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self.wait_event("command_ok", timeout=timeout, since=since, command=cmd)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(Exception):
                if f is not None:
                    f.close()




# ---------------------------------------------------------------- clients on a remote peer (a private netns)

_PEER_PRELUDE = f"import json, sys\nsys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"

_PEER_HANDSHAKE = """
import socket
from _apiserver import closed_by_peer, raw_handshake
host, port = sys.argv[1], int(sys.argv[2])
out = {}
with socket.create_connection((host, port), timeout=5) as s:
    out["local"] = s.getsockname()[0]
    try:
        out["reply"] = raw_handshake(s)
    except ConnectionResetError:
        out["reply"] = None
    out["closed"] = out["reply"] is None or closed_by_peer(s, 1.0)
print(json.dumps(out))
"""

_PEER_IB_CONNECT = """
import asyncio
from ib_async import IB
host, port, client_id, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
async def go():
    ib = IB()
    try:
        await ib.connectAsync(host, port, clientId=client_id, timeout=timeout, readonly=True)
        t = await ib.reqCurrentTimeAsync()
        return {"ok": ib.isConnected(), "accounts": list(ib.managedAccounts()), "time": t.timestamp()}
    except BaseException as e:
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}
    finally:
        ib.disconnect()
print(json.dumps(asyncio.run(go())))
"""


def _peer_python(ns: NetnsPeer, code: str, *args: str | int | float, timeout: float) -> dict[str, Any]:
    res = ns.run([sys.executable, "-c", _PEER_PRELUDE + code, *map(str, args)], timeout=timeout)
    assert res.returncode == 0 and res.stdout.strip(), f"peer client failed ({res.returncode}): {res.stderr[-3000:]}"
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def peer_handshake(ns: NetnsPeer, port: int, timeout: float = 20) -> dict[str, Any]:
    """From inside `ns`: connect to ns.host_ip:port, send the API handshake.

    {"local": our address, "reply": the server's first frame or None when it closed, "closed": bool}."""
    return _peer_python(ns, _PEER_HANDSHAKE, ns.host_ip, port, timeout=timeout)


def peer_ib_connect(ns: NetnsPeer, port: int, client_id: int, timeout: float = 10) -> dict[str, Any]:
    """From inside `ns`: ib_async (readonly) connects to ns.host_ip:port. {"ok": True, "accounts", "time"} or
    {"ok": False, "error"}."""
    return _peer_python(ns, _PEER_IB_CONNECT, ns.host_ip, port, client_id, timeout, timeout=timeout + 20)


# ---------------------------------------------------------------- raw wire helpers


def frame(*fields: str | int) -> bytes:
    body = b"".join(str(f).encode() + b"\0" for f in fields)
    return struct.pack(">I", len(body)) + body


def read_frame(sock: socket.socket, timeout: float) -> list[str] | None:
    """One frame's fields, or None on EOF."""
    sock.settimeout(timeout)
    head = _recv_exact(sock, 4)
    if head is None:
        return None
    (n,) = struct.unpack(">I", head)
    body = _recv_exact(sock, n)
    if body is None:
        return None
    parts = body.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return [p.decode() for p in parts]


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def raw_handshake(sock: socket.socket, versions: str = "v100..226") -> list[str] | None:
    body = versions.encode()
    sock.sendall(b"API\0" + struct.pack(">I", len(body)) + body)
    return read_frame(sock, 5)


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """True when the peer closes (EOF or RST) within timeout, discarding data."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False
    return False


# ---------------------------------------------------------------- ibapi client


class IbapiApp(EWrapper, EClient):  # type: ignore[misc]
    """ibapi's EClient + EWrapper recording what arrives; `run()` goes on a daemon thread."""

    def __init__(self) -> None:
        EWrapper.__init__(self)
        EClient.__init__(self, self)
        self.lock = threading.Lock()
        self.next_id: int | None = None
        self.accounts: str | None = None
        self.times: list[int] = []
        self.errors: list[tuple[int, int, str]] = []
        self.prices: list[tuple[int, int, float]] = []
        self.sizes: list[tuple[int, int, float]] = []
        self.details: list[tuple[int, Any]] = []
        self.details_end: list[int] = []
        self.closed = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self, port: int, client_id: int, host: str = "127.0.0.1") -> None:
        self.connect(host, port, client_id)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.disconnect()
        if self.thread is not None:
            self.thread.join(5)

    # EWrapper
    def nextValidId(self, orderId: int) -> None:
        self.next_id = orderId

    def managedAccounts(self, accountsList: str) -> None:
        self.accounts = accountsList

    def currentTime(self, time: int) -> None:
        self.times.append(time)

    def error(
        self, reqId: int, errorTime: int, errorCode: int, errorString: str, advancedOrderRejectJson: str = ""
    ) -> None:
        with self.lock:
            self.errors.append((reqId, errorCode, errorString))

    def tickPrice(self, reqId: int, tickType: int, price: float, attrib: Any) -> None:
        with self.lock:
            self.prices.append((reqId, int(tickType), price))

    def tickSize(self, reqId: int, tickType: int, size: Any) -> None:
        with self.lock:
            self.sizes.append((reqId, int(tickType), float(size)))

    def contractDetails(self, reqId: int, contractDetails: Any) -> None:
        with self.lock:
            self.details.append((reqId, contractDetails))

    def contractDetailsEnd(self, reqId: int) -> None:
        self.details_end.append(reqId)

    def connectionClosed(self) -> None:
        self.closed.set()

    def codes(self) -> list[int]:
        with self.lock:
            return [c for _, c, _ in self.errors]


@contextlib.contextmanager
def ibapi_client(port: int, client_id: int, host: str = "127.0.0.1") -> Iterator[IbapiApp]:
    app = IbapiApp()
    try:
        app.start(port, client_id, host)
        yield app
    finally:
        app.stop()
