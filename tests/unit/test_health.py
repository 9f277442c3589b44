"""The health server on a real socket (127.0.0.1, port 0), fed by an in-test status source."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from ibpilot.serve import health
from ibpilot.serve.alerts import Alert
from ibpilot.serve.health import FRESH_SLACK_S, HealthServer, evaluate, safe_url
from ibpilot.serve.metrics import Metrics
from ibpilot.testing import free_port

STATES = ["STARTING", "LOGIN", "WAITING_API", "READY", "RECOVERING", "STOPPED"]
TOKEN = "s3cret-command-token"


class Source:
    def __init__(self) -> None:
        now = time.time()
        self.doc: dict[str, Any] = {
            "mode": "paper", "state": "READY", "since": now - 120, "jvm_pid": 4242, "api_port": 4002,
            "probe": {"last_ok_at": now, "last_at": now, "latency_ms": 12.5, "error": None,
                      "interval_s": 10.0, "timeout_s": 4.0},
            "last_login_at": now - 110, "restarts": {"jvm_exited": 1}, "last_alert": None, "version": "0.1.0",
            "timeline": [{"t": now - 115, "kind": "transition", "text": "STATE WAITING_API -> READY on api_ready"}],
            "links": {"novnc": None, "supervisord": None},
        }

    def status(self) -> dict[str, Any]:
        return copy.deepcopy(self.doc)


class Running:
    """A HealthServer on its own event loop in a thread, so tests (and subprocesses) talk to it for real."""

    def __init__(self, source: Source, metrics: Metrics | None = None, **kw: Any) -> None:
        self.source, self.metrics = source, metrics or Metrics("paper", STATES)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = HealthServer(source, self.metrics, host="127.0.0.1", port=0, **kw)
        self.call(self.server.start())
        self.port = self.server.port

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def stop(self) -> None:
        self.call(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET",
            body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body, method=method,
                                     headers=headers or {})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def source() -> Source:
    return Source()


@pytest.fixture
def srv(source: Source) -> Iterator[Running]:
    r = Running(source)
    yield r
    r.stop()


def _health(srv: Running) -> tuple[int, dict[str, Any]]:
    code, _, body = srv.get("/health")
    return code, json.loads(body)


# ---------------------------------------------------------------------- /health and /ready
def test_healthy_only_when_ready_and_fresh(srv: Running, source: Source) -> None:
    code, doc = _health(srv)
    assert code == 200 and doc["healthy"] is True
    assert doc["state"] == "READY" and doc["api_port"] == 4002 and doc["probe"]["latency_ms"] == 12.5
    assert doc["reason"].startswith("API answered") and "12 ms" in doc["reason"]


def test_stale_probe_is_unhealthy(srv: Running, source: Source) -> None:
    source.doc["probe"]["last_ok_at"] = time.time() - 43
    code, doc = _health(srv)
    assert code == 503 and doc["healthy"] is False
    assert doc["reason"] == "last API probe succeeded 43s ago (budget 15s)"


def test_budget_is_interval_plus_timeout_plus_slack() -> None:
    now = 1_000_000.0
    st = Source().doc
    budget = st["probe"]["interval_s"] + st["probe"]["timeout_s"] + FRESH_SLACK_S
    st["probe"]["last_ok_at"] = now - budget + 0.01
    assert evaluate(st, now)[0] is True
    st["probe"]["last_ok_at"] = now - budget - 0.01
    assert evaluate(st, now)[0] is False


def test_not_ready_states_are_unhealthy(srv: Running, source: Source) -> None:
    for state in ("STARTING", "WAITING_API", "RELOGIN", "RECOVERING", "STOPPED"):
        source.doc["state"] = state
        code, doc = _health(srv)
        assert (code, doc["healthy"], doc["reason"]) == (503, False, f"state {state}")


def test_no_probe_yet_is_unhealthy(srv: Running, source: Source) -> None:
    source.doc["probe"]["last_ok_at"] = None
    code, doc = _health(srv)
    assert (code, doc["reason"]) == (503, "no successful API probe yet")


def test_broken_source_is_unhealthy_not_a_crash(source: Source) -> None:
    class Broken:
        def status(self) -> dict[str, Any]:
            raise RuntimeError("password=hunter2")

    r = Running(source)
    r.server.source = Broken()
    try:
        code, _, body = r.get("/health")
        assert code == 503 and b"RuntimeError" in body and b"hunter2" not in body
    finally:
        r.stop()


def test_binds_exactly_the_given_address(srv: Running) -> None:
    assert srv.server._server is not None
    assert [s.family for s in srv.server._server.sockets] == [socket.AF_INET]
    with pytest.raises(OSError), socket.create_connection(("::1", srv.port), timeout=5):
        pass


def test_failing_command_is_a_500(source: Source) -> None:
    async def command(name: str) -> str:
        raise RuntimeError("token=abc")

    r = Running(source, command=command, command_token=TOKEN)
    try:
        code, _, body = r.get("/command", {"Authorization": f"Bearer {TOKEN}"}, "POST", b"STOP")
        assert (code, body) == (500, b"internal error (RuntimeError)\n")
        assert r.get("/ready")[0] == 200
    finally:
        r.stop()


def test_ready_endpoint(srv: Running, source: Source) -> None:
    assert srv.get("/ready")[::2] == (200, b"ready\n")
    source.doc["state"] = "WAITING_API"
    assert srv.get("/ready")[::2] == (503, b"not ready: state WAITING_API\n")


def test_head_has_no_body_and_unknown_paths(srv: Running) -> None:
    code, headers, body = srv.get("/health", method="HEAD")
    assert code == 200 and body == b"" and int(headers["Content-Length"]) > 0
    assert headers["Connection"] == "close"
    assert srv.get("/nope")[0] == 404
    assert srv.get("/health", method="POST", body=b"x")[0] == 405
    assert srv.get("/health", method="DELETE")[0] == 405


def test_no_secret_in_answers(srv: Running, source: Source) -> None:
    source.doc["password"] = "hunter2"
    source.doc["links"] = {"novnc": "http://user:pw0rd@10.0.0.1:6080/vnc.html?autoconnect=1&password=vncpw",
                           "supervisord": "javascript:alert(1)"}
    for path in ("/health", "/"):
        _, _, body = srv.get(path)
        for secret in (b"hunter2", b"vncpw", b"pw0rd", b"javascript:"):
            assert secret not in body, (path, secret)
    _, doc = _health(srv)
    assert doc["links"] == {"novnc": "http://10.0.0.1:6080/vnc.html?autoconnect=1", "supervisord": None}
    assert safe_url("https://h/x?token=1&a=2") == "https://h/x?a=2"


# ---------------------------------------------------------------------- /metrics
def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_values(source: Source) -> None:
    clock = [50.0]
    m = Metrics("paper", STATES, clock=lambda: clock[0])
    r = Running(source, m)
    try:
        m.set_state("LOGIN")
        m.set_state("READY")
        m.login()
        m.second_factor("totp")
        m.second_factor("TOTP")
        m.restart("jvm_exited")
        m.restart("JVM exited!")  # normalised to one label value
        m.restart("api_hang")
        m.probe(0.02, True)
        m.probe(0.3, True)
        m.probe(5.0, False)
        m.alert(Alert.HANG)
        clock[0] = 170.0
        code, headers, body = r.get("/metrics")
        assert code == 200 and headers["Content-Type"].startswith("text/plain; version=")
        s = _samples(body.decode())
    finally:
        r.stop()
    p = (("mode", "paper"),)
    assert s[("ibpilot_state", (("mode", "paper"), ("state", "READY")))] == 1
    assert [s[("ibpilot_state", (("mode", "paper"), ("state", x)))] for x in STATES if x != "READY"] == [0] * 5
    assert s[("ibpilot_logins_total", p)] == 1
    assert s[("ibpilot_second_factor_total", (("kind", "totp"), ("mode", "paper")))] == 2
    assert s[("ibpilot_second_factor_total", (("kind", "push"), ("mode", "paper")))] == 0
    assert s[("ibpilot_restarts_total", (("cause", "jvm_exited"), ("mode", "paper")))] == 2
    assert s[("ibpilot_restarts_total", (("cause", "api_hang"), ("mode", "paper")))] == 1
    assert s[("ibpilot_api_probe_seconds_count", p)] == 3
    assert s[("ibpilot_api_probe_seconds_sum", p)] == pytest.approx(5.32)
    assert s[("ibpilot_api_probe_seconds_bucket", (("le", "0.025"), ("mode", "paper")))] == 1
    assert s[("ibpilot_api_probe_seconds_bucket", (("le", "0.5"), ("mode", "paper")))] == 2
    assert s[("ibpilot_api_probe_failures_total", p)] == 1
    assert s[("ibpilot_api_probe_last_ok_seconds", p)] > 0
    assert s[("ibpilot_alerts_total", (("alert", "ALERT_HANG"), ("mode", "paper")))] == 1
    assert s[("ibpilot_alerts_total", (("alert", "ALERT_API_DOWN"), ("mode", "paper")))] == 0
    assert s[("ibpilot_uptime_seconds", p)] == 120.0
    assert s[("ibpilot_state_since_seconds", p)] > 0
    assert ("ibpilot_info", (("mode", "paper"), ("version", "0.1.0"))) in s


def test_metrics_registry_is_per_instance() -> None:
    a, b = Metrics("live", STATES), Metrics("live", STATES)  # the global registry would refuse the second
    a.login()
    assert _samples(a.render().decode())[("ibpilot_logins_total", (("mode", "live"),))] == 1
    assert _samples(b.render().decode())[("ibpilot_logins_total", (("mode", "live"),))] == 0
    assert not any(name.startswith("ibpilot_") for name in REGISTRY._names_to_collectors)


# ---------------------------------------------------------------------- /command and the page
def test_command_is_404_without_a_token(srv: Running) -> None:
    code, _, _ = srv.get("/command", {"Authorization": f"Bearer {TOKEN}"}, "POST", b"RESTART")
    assert code == 404
    code, _, body = srv.get("/")
    assert code == 200 and b'data-command="' not in body and b'id="unlock"' not in body


def test_command_needs_the_token(source: Source) -> None:
    calls: list[str] = []

    async def command(name: str) -> str:
        calls.append(name)
        return f"OK {name.lower()} scheduled"

    r = Running(source, command=command, command_token=TOKEN)
    try:
        assert r.get("/command", {}, "POST", b"RESTART")[0] == 401
        code, headers, body = r.get("/command", {"Authorization": "Bearer wrong"}, "POST", b"RESTART")
        assert code == 401 and headers["WWW-Authenticate"].startswith("Bearer") and TOKEN.encode() not in body
        assert r.get("/command", {"Authorization": f"Basic {TOKEN}"}, "POST", b"RESTART")[0] == 401
        assert calls == []
        ok = r.get("/command", {"Authorization": f"Bearer {TOKEN}"}, "POST", b"RESTART")
        assert ok[::2] == (200, b"OK restart scheduled\n")
        assert r.get("/command", {"Authorization": f"Bearer {TOKEN}"}, "POST", b"STOP\n")[0] == 200
        assert r.get("/command", {"Authorization": f"Bearer {TOKEN}"}, "POST", b"SHUTDOWN")[0] == 400
        assert r.get("/command", {"Authorization": f"Bearer {TOKEN}"}, "POST", b"x" * 2000)[0] == 413
        assert r.get("/command", {"Authorization": f"Bearer {TOKEN}"})[0] == 405
        assert calls == ["RESTART", "STOP"]
        # the page: an unlock field without the token, the buttons with it, 401 with a wrong one
        code, _, page = r.get("/")
        assert code == 200 and b'id="unlock"' in page and b'data-command="' not in page
        code, _, page = r.get("/", {"Authorization": f"Bearer {TOKEN}"})
        assert code == 200 and b'data-command="RESTART"' in page and b'data-command="STOP"' in page
        assert TOKEN.encode() not in page
        assert r.get("/", {"Authorization": "Bearer nope"})[0] == 401
        # the part the page refreshes: the same rule, no script
        code, _, part = r.get("/status", {"Authorization": f"Bearer {TOKEN}"})
        assert code == 200 and part.startswith(b'<main id="status"') and b'data-command="STOP"' in part
        assert b"<script" not in part and b'data-command="' not in r.get("/status")[2]
        assert r.get("/status", {"Authorization": "Bearer nope"})[0] == 401
    finally:
        r.stop()


def test_page_escapes_every_value(srv: Running, source: Source) -> None:
    source.doc["timeline"].append({"t": time.time(), "kind": "alert", "text": "<script>alert('x')</script> & co"})
    source.doc["state"] = 'READY"><img src=x onerror=alert(1)>'
    source.doc["last_alert"] = {"alert": "ALERT_HANG", "msg": "<b>bold</b>", "t": time.time()}
    code, headers, body = srv.get("/")
    page = body.decode()
    assert code == 200 and "default-src 'none'" in headers["Content-Security-Policy"]
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>bold</b>" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page


def test_page_shows_peers(source: Source) -> None:
    live = {"mode": "live", "state": "SECOND_FACTOR", "since": time.time() - 30,
            "timeline": [{"t": time.time() - 5, "kind": "alert", "text": "ALERT_2FA_PENDING approve on phone"}]}
    r = Running(source, peers=lambda: [live])
    try:
        page = r.get("/")[2].decode()
    finally:
        r.stop()
    assert 'data-mode="live" data-state="SECOND_FACTOR"' in page and 'data-mode="paper" data-state="READY"' in page
    assert "ALERT_2FA_PENDING approve on phone" in page


# ---------------------------------------------------------------------- hostile clients
def _raw(port: int, data: bytes, timeout: float = 15.0) -> bytes:
    """Send `data`, then read until the server closes; the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_huge_request_line_is_refused_and_closed(srv: Running) -> None:
    answer = _raw(srv.port, b"GET /" + b"a" * (1024 * 1024) + b" HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert srv.get("/ready")[0] == 200


def test_malformed_requests(srv: Running) -> None:
    assert _raw(srv.port, b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert _raw(srv.port, b"GET /health HTTP/2.0\r\n\r\n").startswith(b"HTTP/1.1 505 ")
    assert _raw(srv.port, b"GET /health HTTP/1.1\r\nbad header\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert _raw(srv.port, b"POST /command HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").startswith(
        b"HTTP/1.1 501 ")
    assert _raw(srv.port, b"POST /command HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 411 ")
    many = b"GET /health HTTP/1.1\r\n" + b"X-A: " + b"b" * 9000 + b"\r\n\r\n"
    assert _raw(srv.port, many).startswith(b"HTTP/1.1 431 ")


def test_idle_connections_do_not_lock_out_a_request(srv: Running) -> None:
    idle = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(100)]
    try:
        for s in idle[:10]:
            s.sendall(b"GET /health HTTP/1.1\r\n")  # a started request that never ends
        code, _, body = srv.get("/ready")
        assert (code, body) == (200, b"ready\n")
    finally:
        for s in idle:
            s.close()


def test_slow_loris_is_cut_off(srv: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "READ_TIMEOUT_S", 1.0)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=15) as s:
        s.sendall(b"GET /health HTTP/1.1\r\n")
        for _ in range(60):  # one header byte every 0.25 s until the server answers (15 s at most)
            if select.select([s], [], [], 0.25)[0]:
                break
            s.sendall(b"X")
        got = b""
        while chunk := s.recv(4096):
            got += chunk
    assert got.startswith(b"HTTP/1.1 408 "), got[:100]
    assert srv.get("/ready")[0] == 200


# ---------------------------------------------------------------------- ibpilot health
def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run([sys.executable, "-m", "ibpilot", "health", *args], env={**base, **env},
                          capture_output=True, text=True, timeout=60, check=False)


def test_cli_exit_codes(srv: Running, source: Source) -> None:
    env = {"TRADING_MODE": "paper", "HEALTH_PORT": str(srv.port)}
    ok = _cli(env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("paper: healthy READY: API answered")
    source.doc["state"] = "WAITING_API"
    bad = _cli(env)
    assert bad.returncode == 1 and "UNHEALTHY WAITING_API: state WAITING_API" in bad.stdout
    source.doc["state"] = "READY"
    assert _cli({}, "--url", f"http://127.0.0.1:{srv.port}").returncode == 0
    nothing = _cli({"TRADING_MODE": "paper", "HEALTH_PORT": str(free_port())})
    assert nothing.returncode == 1 and "no answer" in nothing.stdout
    conf = _cli({"HEALTH_PORT": "http", "TRADING_MODE": "sideways"})
    assert conf.returncode == 2 and "HEALTH_PORT" in conf.stderr and "TRADING_MODE" in conf.stderr
    assert _cli({"HEALTH_PORT": "0"}).returncode == 2
    assert _cli({"TRADING_MODE": "live"}, "--mode", "paper").returncode == 2
    assert _cli({}, "--url", "ftp://x").returncode == 2


def test_cli_checks_both_modes(srv: Running) -> None:
    # TRADING_MODE=both: live on HEALTH_PORT, paper on HEALTH_PORT + 1 (nothing there): unhealthy overall
    both = _cli({"TRADING_MODE": "both", "HEALTH_PORT": str(srv.port)})
    lines = both.stdout.splitlines()
    assert both.returncode == 1 and len(lines) == 2
    assert lines[0].startswith("live: healthy") and lines[1].startswith("paper: UNHEALTHY no answer")
    assert _cli({"TRADING_MODE": "both", "HEALTH_PORT": str(srv.port)}, "--mode", "live").returncode == 0
