"""Alert delivery (serve.notify) against real HTTP servers on 127.0.0.1: formats, dedup, retries, hangs, secrets."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ibpilot.serve.alerts import Alert
from ibpilot.serve.notify import TWOFA_APPROVED, Notifier, NotifyConfig, NotifyConfigError
from ibpilot.serve.notify_channels import parse_retry_after

SECRET = "s3cr3t"  # every secret below contains it; no log line may
TG_TOKEN = f"123456:AA-{SECRET}-bot"
NTFY_TOKEN = f"tk_{SECRET}_ntfy"
LOG = "ibpilot.notify"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


# ------------------------------------------------------------------------------------ test servers
@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    t: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server answering from a script of (status, headers) and recording every request."""

    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                rec.seen.append(Seen("POST", self.path, dict(self.headers.items()), body, time.monotonic()))
                status, headers = rec.script.pop(0) if rec.script else (200, {})
            payload = b'{"ok":true}' if status < 400 else b'{"ok":false}'
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class Hanger:
    """Accepts connections and never answers."""

    port: int
    accepted: list[float] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def hanger() -> Iterator[Hanger]:
    lsock = socket.create_server(("127.0.0.1", 0))
    lsock.settimeout(0.1)
    h = Hanger(lsock.getsockname()[1])
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = lsock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conns.append(conn)
            h.accepted.append(time.monotonic())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield h
    finally:
        stop.set()
        thread.join(5)
        for c in conns:
            c.close()
        lsock.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(coro: Awaitable[None], timeout: float = 60) -> None:
    async def main() -> None:
        await asyncio.wait_for(coro, timeout)
    asyncio.run(main())


async def until(cond: Callable[[], object], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOG and r.levelno >= logging.WARNING]


def assert_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records, "nothing was logged: the test did not exercise a failure path"
    for r in caplog.records:
        assert SECRET not in r.getMessage(), r.getMessage()
    assert SECRET not in caplog.text


FAST = NotifyConfig(dedup_window_s=300, timeout_s=2, max_attempts=3, backoff_s=0.05, host="box1")


# ------------------------------------------------------------------------------------------ channels
def test_each_channel_gets_its_format(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, LOG)
    cfg = replace(FAST, webhook_url=receiver.url(f"/hook/{SECRET}"), telegram_bot_token=TG_TOKEN,
                  telegram_chat_id="-100777", telegram_api_base=receiver.url("/tg"),
                  discord_webhook_url=receiver.url(f"/api/webhooks/42/{SECRET}"),
                  ntfy_url=receiver.url(f"/ibpilot-{SECRET}"), ntfy_token=NTFY_TOKEN)

    async def go() -> None:
        n = Notifier(cfg)
        n.start()
        n.submit(Alert.TWOFA_PENDING, "paper", "approve the login on your phone (IB Key notification)",
                 {"user": "alice", "timeout_s": 180})
        n.submit(Alert.JVM_EXITED, "live", "Gateway's JVM exited unexpectedly", {"code": 1, "state": "READY"})
        await n.close(10)
        assert n.stats()["ntfy"]["sent"] == 2

    run(go())
    by_path: dict[str, list[Seen]] = {}
    for s in receiver.seen:
        by_path.setdefault(s.path, []).append(s)
    assert set(by_path) == {f"/hook/{SECRET}", f"/tg/bot{TG_TOKEN}/sendMessage", f"/api/webhooks/42/{SECRET}",
                            f"/ibpilot-{SECRET}"}
    assert all(s.method == "POST" for s in receiver.seen) and len(receiver.seen) == 8
    want = ("[paper] ALERT_2FA_PENDING: Approve the IBKR login for user alice (paper) in the IB Key app on your "
            "phone — timeout_s=180")

    hook = [s.json() for s in by_path[f"/hook/{SECRET}"]]
    assert {s.headers["Content-Type"] for s in by_path[f"/hook/{SECRET}"]} == {"application/json; charset=utf-8"}
    assert hook[0]["alert"] == "ALERT_2FA_PENDING" and hook[0]["mode"] == "paper"
    assert hook[0]["msg"] == "approve the login on your phone (IB Key notification)"
    assert hook[0]["fields"] == {"user": "alice", "timeout_s": 180}
    assert hook[0]["host"] == "box1" and hook[0]["version"] and hook[0]["time"].endswith("Z")
    assert hook[0]["text"] == want
    assert hook[1]["alert"] == "ALERT_JVM_EXITED" and hook[1]["fields"] == {"code": 1, "state": "READY"}

    tg = [s.json() for s in by_path[f"/tg/bot{TG_TOKEN}/sendMessage"]]
    assert tg[0]["chat_id"] == "-100777" and tg[0]["text"] == want
    assert tg[1]["text"] == "[live] ALERT_JVM_EXITED: Gateway's JVM exited unexpectedly — code=1 state=READY"

    dc = [s.json() for s in by_path[f"/api/webhooks/42/{SECRET}"]]
    assert [d["content"] for d in dc] == [want, tg[1]["text"]]

    nt = by_path[f"/ibpilot-{SECRET}"]
    assert nt[0].body.decode() == want
    assert nt[0].headers["Authorization"] == f"Bearer {NTFY_TOKEN}"
    assert nt[0].headers["Priority"] == "high" and nt[1].headers["Priority"] == "default"
    assert "ALERT_2FA_PENDING" in nt[0].headers["Title"] and "paper" in nt[0].headers["Title"]
    assert nt[0].headers["Tags"] and nt[0].headers["Tags"] != nt[1].headers["Tags"]
    for r in caplog.records:
        assert SECRET not in r.getMessage()


def test_ntfy_without_token_sends_no_authorization(receiver: Receiver) -> None:
    async def go() -> None:
        n = Notifier(replace(FAST, ntfy_url=receiver.url("/topic")))
        n.start()
        n.submit(Alert.GIVING_UP, "live", "restart budget exhausted", {})
        await n.close(10)

    run(go())
    (s,) = receiver.seen
    assert "Authorization" not in s.headers and s.headers["Priority"] == "high"


# ---------------------------------------------------------------------------------------------- dedup
def test_dedup_within_window_and_again_after(receiver: Receiver) -> None:
    window = 0.4

    async def go() -> None:
        n = Notifier(replace(FAST, webhook_url=receiver.url("/h"), dedup_window_s=window))
        n.start()
        n.submit(Alert.UNKNOWN_WINDOW, "live", "a window no rule knows", {"title": "Foo", "kind": "dialog"})
        n.submit(Alert.UNKNOWN_WINDOW, "live", "a window no rule knows", {"title": "Foo", "kind": "dialog"})
        n.submit(Alert.UNKNOWN_WINDOW, "paper", "a window no rule knows", {"title": "Foo", "kind": "dialog"})
        n.submit(Alert.UNKNOWN_WINDOW, "live", "a window no rule knows", {"title": "Bar", "kind": "dialog"})
        n.submit(Alert.HANG, "live", "the API stopped answering", {"port": 4001, "seconds": 30})
        n.submit(Alert.HANG, "live", "the API stopped answering", {"port": 4001, "seconds": 60})  # timing only
        await until(lambda: len(receiver.seen) >= 4, "first deliveries")
        await asyncio.sleep(window * 1.5)
        n.submit(Alert.HANG, "live", "the API stopped answering", {"port": 4001, "seconds": 90})
        await n.close(10)

    run(go())
    got = [(s.json()["alert"], s.json()["mode"], s.json()["fields"].get("title")) for s in receiver.seen]
    assert got == [("ALERT_UNKNOWN_WINDOW", "live", "Foo"), ("ALERT_UNKNOWN_WINDOW", "paper", "Foo"),
                   ("ALERT_UNKNOWN_WINDOW", "live", "Bar"), ("ALERT_HANG", "live", None),
                   ("ALERT_HANG", "live", None)]
    assert [s.json()["fields"].get("seconds") for s in receiver.seen][3:] == [30, 90]


def test_twofa_follow_ups_are_never_swallowed(receiver: Receiver) -> None:
    async def go() -> None:
        n = Notifier(replace(FAST, webhook_url=receiver.url("/h"), dedup_window_s=3600))
        n.start()
        pending = ("approve the login on your phone (IB Key notification)", {"user": "alice", "timeout_s": 180})
        n.submit(Alert.TWOFA_PENDING, "live", *pending)
        n.submit(Alert.TWOFA_PENDING, "live", *pending)  # same login, still pending: swallowed
        n.submit(TWOFA_APPROVED, "live", "login approved", {"user": "alice"})
        n.submit(Alert.TWOFA_PENDING, "live", *pending)  # the next login asks again: sent
        n.submit(Alert.TWOFA_TIMEOUT, "live", "second factor not completed in time", {"seconds": 180})
        n.submit(Alert.TWOFA_TIMEOUT, "live", "second factor not completed in time", {"seconds": 180})
        n.submit(Alert.TWOFA_PENDING, "live", *pending)
        await n.close(10)

    run(go())
    assert [s.json()["alert"] for s in receiver.seen] == [
        "ALERT_2FA_PENDING", "ALERT_2FA_APPROVED", "ALERT_2FA_PENDING", "ALERT_2FA_TIMEOUT", "ALERT_2FA_TIMEOUT",
        "ALERT_2FA_PENDING"]
    assert receiver.seen[1].json()["text"] == "[live] ALERT_2FA_APPROVED: login approved"


# -------------------------------------------------------------------------------------------- retries
def test_5xx_retried_with_backoff_then_delivered(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, LOG)
    receiver.script[:] = [(500, {}), (503, {}), (200, {})]
    cfg = replace(FAST, telegram_bot_token=TG_TOKEN, telegram_chat_id="1", telegram_api_base=receiver.url(""),
                  backoff_s=0.1, max_attempts=5)

    async def go() -> None:
        n = Notifier(cfg)
        n.start()
        n.submit(Alert.HANG, "live", "stuck", {})
        await n.close(10)
        assert n.stats()["telegram"] == {"sent": 1, "lost": 0, "dropped": 0, "queued": 0, "failing": False}

    run(go())
    assert len(receiver.seen) == 3
    t = [s.t for s in receiver.seen]
    assert t[1] - t[0] >= 0.1 * 0.9 and t[2] - t[1] >= 0.2 * 0.9  # 1x then 2x the base back-off
    assert warnings(caplog) == []  # a blip that recovered is not an operator's problem
    assert_no_secret(caplog)


def test_429_honours_retry_after(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, LOG)
    receiver.script[:] = [(429, {"Retry-After": "1"}), (200, {})]

    async def go() -> None:
        n = Notifier(replace(FAST, discord_webhook_url=receiver.url(f"/api/webhooks/1/{SECRET}"), backoff_s=0.01))
        n.start()
        n.submit(Alert.API_DOWN, "paper", "the TWS API stopped answering", {})
        await n.close(10)

    run(go())
    assert len(receiver.seen) == 2
    assert receiver.seen[1].t - receiver.seen[0].t >= 0.9  # the server's 1 s, not our 0.01 s back-off
    assert_no_secret(caplog)


def test_retry_after_parsing() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == pytest.approx(10.0)
    assert parse_retry_after(None, b'{"ok":false,"error_code":429,"parameters":{"retry_after":12}}') == 12.0
    assert parse_retry_after(None, b'{"message":"rate limited","retry_after":0.5}') == 0.5
    assert parse_retry_after("soon", b"<html>") is None


def test_4xx_not_retried_and_logged_once_per_streak(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, LOG)
    receiver.script[:] = [(400, {}), (404, {}), (200, {}), (400, {})]

    async def go() -> None:
        n = Notifier(replace(FAST, ntfy_url=receiver.url(f"/{SECRET}"), ntfy_token=NTFY_TOKEN, max_attempts=5))
        n.start()
        n.submit(Alert.RELOGIN, "live", "a", {})
        await until(lambda: len(receiver.seen) == 1, "first")
        n.submit(Alert.RELOGIN, "live", "b", {})
        await until(lambda: len(receiver.seen) == 2, "second")
        n.submit(Alert.RELOGIN, "live", "c", {})
        await until(lambda: len(receiver.seen) == 3, "third")
        n.submit(Alert.RELOGIN, "live", "d", {})
        await n.close(10)
        assert n.stats()["ntfy"]["lost"] == 3 and n.stats()["ntfy"]["sent"] == 1

    run(go())
    assert [s.body.split(b": ")[-1] for s in receiver.seen] == [b"a", b"b", b"c", b"d"]  # one attempt each
    w = warnings(caplog)
    assert len(w) == 2, w  # one per failure streak: a+b, then d
    assert w[0].startswith("notify ntfy: ") and "HTTP 400" in w[0] and "HTTP 400" in w[1]
    assert any("ntfy: delivering again (2 alert(s) lost" in r.getMessage() for r in caplog.records)
    assert_no_secret(caplog)


# ------------------------------------------------------------------------------------- hanging receiver
def test_hanging_receiver_blocks_nothing(receiver: Receiver, hanger: Hanger,
                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, LOG)
    cfg = replace(FAST, webhook_url=hanger.url(f"/hook/{SECRET}"), timeout_s=1.0, max_attempts=2, backoff_s=0.01,
                  discord_webhook_url=receiver.url("/discord"), ntfy_url=receiver.url("/ntfy"))
    figures: dict[str, float] = {}

    async def go() -> None:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        tick_task = asyncio.create_task(ticker())
        n = Notifier(cfg)
        n.start()
        t0 = time.perf_counter()
        n.submit(Alert.TWOFA_PENDING, "live", "approve", {"user": "bob"})
        figures["submit_s"] = time.perf_counter() - t0
        assert receiver.seen == [] and hanger.accepted == []  # submit did no I/O: it only queued
        await until(lambda: len(receiver.seen) == 2 and hanger.accepted, "deliveries and the hung connection")
        assert warnings(caplog) == []  # the other channels delivered while the webhook still hangs
        ticks_at_hang = ticks
        await until(lambda: warnings(caplog), "the webhook failure")
        assert ticks - ticks_at_hang > 10  # the loop kept running all along the 2 x 1 s hang
        await until(lambda: len(hanger.accepted) == 2, "both attempts")  # max_attempts, then abandoned
        n.submit(Alert.HANG, "live", "stuck", {})  # the streak goes on: not logged again
        await until(lambda: len(receiver.seen) == 4 and len(hanger.accepted) == 4, "second alert")
        await n.close(0.2)  # the webhook is still hanging: dropped at shutdown
        tick_task.cancel()

    run(go())
    w = warnings(caplog)
    assert len(w) == 2, w
    assert w[0].startswith("notify webhook: ALERT_2FA_PENDING mode=live not delivered: timed out after 2 attempt")
    assert w[1] == "notify: 1 alert deliveries dropped at shutdown after 0.2s (webhook: 1)"
    assert {s.path for s in receiver.seen} == {"/discord", "/ntfy"}
    assert_no_secret(caplog)
    print(f"\nsubmit() took {figures['submit_s'] * 1e6:.0f} µs")


# ---------------------------------------------------------------------------------- secrets, failures
def test_no_secret_in_logs_on_any_failure(receiver: Receiver, hanger: Hanger,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, LOG)
    receiver.script[:] = [(500, {}), (500, {}), (401, {})]  # telegram: 5xx twice (given up); discord: 401
    cfg = replace(FAST, timeout_s=0.3, max_attempts=2, backoff_s=0.01,
                  webhook_url=f"http://127.0.0.1:{closed_port()}/hook/{SECRET}?token={SECRET}",  # refused
                  telegram_bot_token=TG_TOKEN, telegram_chat_id="5", telegram_api_base=receiver.url(""),
                  ntfy_url=hanger.url(f"/{SECRET}"), ntfy_token=NTFY_TOKEN)  # hangs

    async def go() -> None:
        n = Notifier(cfg)
        n.start()
        n.submit(Alert.LOGIN_FAILED, "live", "Gateway refused the login", {"failures": 1})
        await until(lambda: len(receiver.seen) == 2, "telegram attempts")
        n2 = Notifier(replace(FAST, discord_webhook_url=receiver.url(f"/api/webhooks/9/{SECRET}")))
        n2.start()
        n2.submit(Alert.LOGIN_FAILED, "live", "Gateway refused the login", {"failures": 1})
        await asyncio.gather(n.close(5), n2.close(5))

    run(go())
    w = sorted(warnings(caplog))
    assert [x.split(":")[0] for x in w] == ["notify discord", "notify ntfy", "notify telegram", "notify webhook"]
    assert "HTTP 401" in w[0] and "timed out" in w[1] and "HTTP 500" in w[2] and "Connection" in w[3]
    assert_no_secret(caplog)
    assert SECRET not in repr(cfg) and SECRET not in repr(Notifier(cfg))


def test_config_errors_name_every_problem_without_secrets() -> None:
    assert not NotifyConfig().enabled
    assert NotifyConfig(ntfy_url="https://ntfy.example/t").enabled
    with pytest.raises(NotifyConfigError) as exc:
        NotifyConfig(webhook_url=f"ftp://{SECRET}", telegram_bot_token=TG_TOKEN, discord_webhook_url=SECRET,
                     ntfy_token=NTFY_TOKEN, timeout_s=0, max_attempts=0)
    text = str(exc.value)
    for name in ("ALERT_WEBHOOK_URL", "TELEGRAM_CHAT_ID", "DISCORD_WEBHOOK_URL", "NTFY_TOKEN", "timeout_s",
                 "max_attempts"):
        assert name in text
    assert SECRET not in text


def test_submit_never_raises_and_disabled_is_a_no_op(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("boom")

    async def go() -> None:
        off = Notifier(NotifyConfig())
        off.start()
        off.submit(Alert.HANG, "live", "x", {})
        await off.close(1)
        n = Notifier(replace(FAST, webhook_url=receiver.url("/h")))
        n.start()
        n.submit(Alert.UNKNOWN_WINDOW, "live", "x", {"title": Unprintable()})  # dedup key needs str(title)
        n.submit(Alert.UNKNOWN_WINDOW, "live", "x", {"title": Unprintable()})
        n.submit(Alert.HANG, "live", "still works", {})
        await n.close(5)

    run(go())
    assert [s.json()["msg"] for s in receiver.seen] == ["still works"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["notify: internal error in submit (RuntimeError); alerts may not be delivered"]


# ---------------------------------------------------------------------------------------- queue, close
def test_close_flushes_pending_deliveries(receiver: Receiver) -> None:
    async def go() -> None:
        n = Notifier(replace(FAST, webhook_url=receiver.url("/h"), discord_webhook_url=receiver.url("/d")))
        for i in range(5):
            n.submit(Alert.SETTING_NOT_KEPT, "live", "Gateway did not keep a setting", {"setting": f"s{i}"})
        n.start()
        await n.close(10)
        assert all(st["queued"] == 0 and st["sent"] == 5 for st in n.stats().values())

    run(go())
    assert sorted(receiver.paths()) == ["/d"] * 5 + ["/h"] * 5
    assert [s.json()["fields"]["setting"] for s in receiver.seen if s.path == "/h"] == [f"s{i}" for i in range(5)]


def test_full_queue_drops_oldest_and_logs_once(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        n = Notifier(replace(FAST, webhook_url=receiver.url("/h"), queue_max=3))
        for i in range(6):
            n.submit(Alert.JVM_EXITED, "live", "exited", {"code": i})
        n.start()
        await n.close(10)
        assert n.stats()["webhook"]["dropped"] == 3

    run(go())
    assert [s.json()["fields"]["code"] for s in receiver.seen] == [3, 4, 5]
    assert warnings(caplog) == ["notify webhook: queue full (3 alerts); dropping the oldest until it drains"]


def test_secrets_lists_tokens_and_url_paths() -> None:
    cfg = NotifyConfig(webhook_url=f"https://hooks.example/services/T1/{SECRET}", telegram_bot_token=TG_TOKEN,
                       telegram_chat_id="1", ntfy_url=f"https://ntfy.example/alerts-{SECRET}", ntfy_token=NTFY_TOKEN)
    got = cfg.secrets()
    assert set(got) == {TG_TOKEN, NTFY_TOKEN, cfg.webhook_url, cfg.ntfy_url, f"/services/T1/{SECRET}",
                        f"/alerts-{SECRET}"}


def test_close_drops_what_it_cannot_deliver(hanger: Hanger, caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        n = Notifier(replace(FAST, ntfy_url=hanger.url("/t"), timeout_s=0.5, max_attempts=1))
        n.start()
        for i in range(20):
            n.submit(Alert.JVM_EXITED, "live", "exited", {"code": i})
        await until(lambda: hanger.accepted, "the first request")
        await n.close(0.1)
        await asyncio.sleep(1.5)  # a worker still running would have tried the next alerts by now
        assert len(hanger.accepted) == 1
        assert n.stats()["ntfy"]["queued"] == 0

    run(go())
    assert warnings(caplog) == ["notify: 20 alert deliveries dropped at shutdown after 0.1s (ntfy: 20)"]
