"""The operations surface end to end on the simulated Gateway: the IBC command server with its exact replies,
/health flipping on real faults, /metrics through prometheus-client's own parser, alerts delivered to a
local receiver."""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from _clients import command
from prometheus_client.parser import text_string_to_metric_families

from ibpilot.testing import free_port, wait_until

pytestmark = pytest.mark.integration

TOTP = "JBSWY3DPEHPK3PXP"
FAST_PROBES = {"HEALTH_PROBE_INTERVAL": "2", "HEALTH_PROBE_TIMEOUT": "2"}




def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def health(port: int) -> tuple[int, dict[str, Any]]:
    code, body = get(port, "/health")
    return code, json.loads(body)


def wait_health(port: int, code: int, timeout: float) -> float:
    """Seconds until /health answers `code`."""
    t0 = time.monotonic()
    wait_until(lambda: health(port)[0] == code, timeout, f"/health {code}", 0.1)
    return time.monotonic() - t0


@pytest.fixture
def ops(controlled) -> Any:
    def make(scenario: dict[str, Any] | None = None, product: str = "gateway", **env: str) -> Any:
        hp, cp = free_port(), free_port()
        c = controlled(scenario, product, HEALTH_PORT=str(hp), COMMAND_SERVER_PORT=str(cp),
                       **{**FAST_PROBES, **env})
        c.health_port, c.command_port = hp, cp
        return c

    return make


def test_commands_answer_with_ibcs_exact_texts(ops) -> None:
    c = ops()
    c.wait_log(r"READY mode=paper")
    assert command(c.command_port, "frobnicate") == "ERROR Command invalid\n"
    assert command(c.command_port, "stop ") == "ERROR Command invalid\n"  # untrimmed, as IBC
    assert command(c.command_port, "ENABLEAPI") == "ERROR ENABLEAPI is not valid for the IB Gateway\n"
    assert command(c.command_port, "EXIT") == "OK Goodbye\n"
    status = command(c.command_port, "status")
    assert status.startswith("OK {") and json.loads(status[3:])["state"] == "READY", status
    assert "s3cret-pw" not in status
    assert command(c.command_port, "RECONNECTACCOUNT") == "OK \n"
    c.wait_event("reconnect_account")
    assert command(c.command_port, "reconnectdata") == "OK \n"
    c.wait_event("reconnect_data")
    assert command(c.command_port, "STOP") == "OK Shutting down: STOP command\n"
    assert c.proc.wait(40) == 0
    exits = c.event("exit")
    assert exits and exits[-1]["code"] == 0, exits  # logged out through File > Close, not killed
    assert "controller stopping: stop requested (exit code 0)" in c.log()


def test_auth_token_is_required_and_never_logged(ops) -> None:
    c = ops(COMMAND_SERVER_TOKEN="t0ken-abc-123")
    c.wait_log(r"command server on")
    assert command(c.command_port, "STATUS") == "ERROR authentication required\n"
    assert command(c.command_port, "AUTH wrong", "STATUS") == "ERROR authentication required\n"
    assert command(c.command_port, "AUTH t0ken-abc-123", "EXIT") == "OK Goodbye\n"
    assert "t0ken-abc-123" not in c.log()
    assert c.stop() == 0


def test_restart_keeps_the_session_no_new_second_factor(ops) -> None:
    c = ops({"second_factor": {"live": "totp"}, "totp_secret": TOTP}, TRADING_MODE="live", TWOFACTOR_CODE=TOTP)
    c.wait_log(r"READY mode=live")
    assert len(c.event("second_factor_ok")) == 1
    reply = command(c.command_port, "RESTART")
    assert re.fullmatch(r"OK RESTART at \d\d:\d\d [AP]M\n", reply), reply
    c.wait_log(r"daily auto-restart: relaunching", timeout=150)
    c.wait_log(r"READY mode=live", count=2, timeout=60)
    assert len(c.event("second_factor_ok")) == 1  # the restart kept the session: no second factor again
    assert "ALERT_2FA" not in c.log()
    assert "ALERT_API_DOWN" not in c.log()  # Gateway announced the restart: its API closing is no outage
    code, doc = health(c.health_port)
    assert code == 200 and doc["restarts"] == {"auto_restart": 1}, doc
    assert c.stop() == 0


def test_tws_enableapi_ticks_the_checkbox_and_the_api_comes_up(ops) -> None:
    c = ops({"enable_activex": False}, "tws")
    c.wait_log(r"login complete \(TWS main window opened\)")
    c.wait_log(r"STATE CONFIGURING -> WAITING_API")
    assert command(c.command_port, "ENABLEAPI") == "OK configured\n"
    c.wait_log(r"READY mode=paper")
    assert command(c.command_port, "ENABLEAPI") == "OK already configured\n"
    assert c.stop() == 0


def test_tws_restart_goes_through_file_restart(ops) -> None:
    c = ops(None, "tws")
    c.wait_log(r"READY mode=paper")
    assert command(c.command_port, "RESTART") == "OK RESTART in progress\n"
    c.wait_event("restart_confirm_answer", button="Yes")
    c.wait_log(r"daily auto-restart: relaunching", timeout=60)
    c.wait_log(r"READY mode=paper", count=2, timeout=60)
    assert c.stop() == 0


def test_health_flips_on_a_stopped_and_on_a_killed_jvm_and_comes_back(ops) -> None:
    c = ops()
    c.wait_log(r"READY mode=paper")
    wait_health(c.health_port, 200, 10)
    code, doc = health(c.health_port)
    assert doc["healthy"] is True and doc["state"] == "READY" and doc["api_port"] == c.port
    assert "s3cret-pw" not in json.dumps(doc)
    budget = doc["probe"]["interval_s"] + doc["probe"]["timeout_s"] + 1  # the health rule's budget (+ slack)
    pid = doc["jvm_pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        took = wait_health(c.health_port, 503, budget + 3)
        print(f"SIGSTOP -> /health 503 in {took:.1f}s (budget {budget:.0f}s)")
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_health(c.health_port, 200, 60)
    pid = health(c.health_port)[1]["jvm_pid"]
    os.kill(pid, signal.SIGKILL)
    took = wait_health(c.health_port, 503, budget + 3)
    print(f"SIGKILL -> /health 503 in {took:.1f}s")
    wait_health(c.health_port, 200, 90)
    code, doc = health(c.health_port)
    assert doc["jvm_pid"] != pid and doc["restarts"].get("jvm_exited") == 1, doc
    os.kill(doc["jvm_pid"], signal.SIGKILL)  # again: that session too had reached READY
    wait_health(c.health_port, 503, budget + 3)
    wait_health(c.health_port, 200, 90)
    # each relaunch after a session that reached READY starts the back-off over (2 s), not 2 s then 10 s
    assert c.count(r"restarting Gateway in 2s") == 2 and "restarting Gateway in 10s" not in c.log(), c.tail()
    code, ready = get(c.health_port, "/ready")
    assert (code, ready) == (200, "ready\n") or (code == 200 and ready.startswith("ready")), ready
    assert c.stop() == 0


def test_metrics_parse_with_prometheus_clients_parser(ops) -> None:
    c = ops()
    c.wait_log(r"READY mode=paper")
    wait_until(lambda: health(c.health_port)[0] == 200, 10, "healthy", 0.1)
    code, text = get(c.health_port, "/metrics")
    assert code == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
    assert samples[("ibpilot_state", (("mode", "paper"), ("state", "READY")))] == 1
    assert samples[("ibpilot_state", (("mode", "paper"), ("state", "LOGIN")))] == 0
    assert samples[("ibpilot_logins_total", (("mode", "paper"),))] == 1
    assert samples[("ibpilot_api_probe_seconds_count", (("mode", "paper"),))] >= 1
    assert samples[("ibpilot_uptime_seconds", (("mode", "paper"),))] > 0
    assert c.stop() == 0


class _Receiver(http.server.BaseHTTPRequestHandler):
    got: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).got.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    got: ClassVar[list[dict[str, Any]]] = []
    handler = type("Handler", (_Receiver,), {"got": got})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    finally:
        server.shutdown()
        server.server_close()


def test_push_second_factor_alerts_reach_the_webhook_pending_then_approved(ops, receiver) -> None:
    url, got = receiver
    c = ops({"second_factor": {"live": "push"}, "push_approve_after_s": 3}, TRADING_MODE="live",
            ALERT_WEBHOOK_URL=url)
    c.wait_log(r"READY mode=live")
    wait_until(lambda: {"ALERT_2FA_PENDING", "ALERT_2FA_APPROVED"} <= {g["alert"] for g in got}, 20,
               "both 2FA alerts delivered", 0.1)
    pending = next(g for g in got if g["alert"] == "ALERT_2FA_PENDING")
    assert pending["mode"] == "live" and "demo" in pending["text"] and "IB Key" in pending["text"], pending
    assert [g["alert"] for g in got].index("ALERT_2FA_PENDING") < [g["alert"] for g in got].index(
        "ALERT_2FA_APPROVED")
    assert url not in c.log()  # the webhook URL is a secret
    assert c.stop() == 0
