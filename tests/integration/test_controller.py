"""The controller against the simulated Gateway: real JVM, real Swing on Xvfb, real agent, real clients."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _apiserver import peer_ib_connect
from _clients import ib_connect

from ibpilot.testing import NetnsPeer, SimGateway, free_port, netns_peer, wait_until

pytestmark = pytest.mark.integration

TOTP = "JBSWY3DPEHPK3PXP"




def test_paper_gateway_logs_in_accepts_warning_and_serves_the_api(controlled) -> None:
    c = controlled()
    c.wait_log(r"READY mode=paper api_port=(\d+)")
    assert ib_connect(c.port) == ["DU1234567"]
    log = c.log()
    assert "s3cret-pw" not in log
    assert "STATE LOGIN -> AUTHENTICATING on login_submitted mode=paper" in log
    assert "click 'I understand and accept' in 'Warning'" in log
    attempts = c.event("login_attempt")
    assert attempts and attempts[0]["user"] == "demo" and attempts[0]["mode"] == "paper"
    assert "s3cret-pw" not in c.events_path.read_text()
    ready = json.loads(Path(c.tmp / "run" / "ready-paper").read_text())
    assert ready["api_port"] == c.port
    assert c.stop() == 0
    assert not (c.tmp / "run" / "ready-paper").exists()
    exits = c.event("exit")
    assert exits and exits[-1]["code"] == 0, exits  # logged out through File > Close + "Yes"


def test_live_login_with_totp_second_factor(controlled) -> None:
    c = controlled({"second_factor": {"live": "totp"}, "totp_secret": TOTP}, TRADING_MODE="live",
                   TWOFACTOR_CODE=TOTP)
    c.wait_log(r"READY mode=live")
    assert c.event("second_factor_ok")
    assert not c.event("second_factor_bad")
    assert TOTP not in c.log()
    assert ib_connect(c.port) == ["U1234567"]


def test_device_chooser_then_totp(controlled) -> None:
    c = controlled({"second_factor": {"live": "totp"}, "totp_secret": TOTP,
                    "devices": [" IB Key", " Mobile Authenticator app"]},
                   TRADING_MODE="live", TWOFACTOR_CODE=TOTP, TWOFA_DEVICE="Mobile Authenticator app")
    c.wait_log(r"READY mode=live")
    assert "choosing second factor device 'Mobile Authenticator app'" in c.log()
    assert ib_connect(c.port) == ["U1234567"]


def test_push_approval_is_waited_for_with_a_clear_alert(controlled) -> None:
    c = controlled({"second_factor": {"live": "push"}, "push_approve_after_s": 3}, TRADING_MODE="live")
    c.wait_log(r"ALERT_2FA_PENDING mode=live")
    state_file = c.tmp / "run" / "state-live.json"

    def published(state: str, alert: str | None = None) -> bool:
        try:
            doc = json.loads(state_file.read_text())
        except (OSError, ValueError):
            return False
        return bool(doc["state"] == state and (alert is None or (doc["last_alert"] or {}).get("alert") == alert))

    # what `ibpilot status` shows while it waits: the state and why
    wait_until(lambda: published("SECOND_FACTOR", "ALERT_2FA_PENDING"), 5, "state file: waiting for the phone")
    c.wait_log(r"READY mode=live")
    wait_until(lambda: published("READY"), 5, "state file: READY")
    assert "approve the login on your phone" in c.log()
    assert ib_connect(c.port) == ["U1234567"]


def test_existing_session_is_continued_when_primary(controlled) -> None:
    c = controlled({"existing_session": True}, EXISTING_SESSION_DETECTED_ACTION="primary")
    c.wait_log(r"READY mode=paper")
    assert "ALERT_EXISTING_SESSION mode=paper action=primary" in c.log()
    c.wait_event("clicked", button="Continue Login")
    assert ib_connect(c.port) == ["DU1234567"]


def test_api_settings_are_applied_and_read_back(controlled) -> None:
    c = controlled(READ_ONLY_API="yes", TWS_MASTER_CLIENT_ID="77", BYPASS_ORDER_PRECAUTIONS="yes",
                   AUTO_RESTART_TIME="11:30 PM")
    c.wait_log(r"READY mode=paper", timeout=60)
    log = c.log()
    assert "ALERT_SETTING_NOT_KEPT" not in log
    assert "configuration: 5 settings applied, 5 verified" in log, c.tail()
    saved = json.loads((c.tmp / "settings" / "ibpilot-sim-settings.json").read_text())
    text = json.dumps(saved)
    assert "77" in text and "11:30" in text


def test_refused_password_alerts_and_does_not_storm(controlled) -> None:
    c = controlled({"user": "demo", "password": "right"})
    c.wait_log(r"ALERT_LOGIN_FAILED mode=paper")
    c.wait_log(r"retrying the login in 30s")
    c.wait_log(r"login frame shown again after a refused login")  # the frame is back: no instant retry
    time.sleep(3)  # a storm would show within a few step delays
    assert len(c.event("login_attempt")) == 1, c.event("login_attempt")
    assert c.stop() == 0


def test_crash_is_recovered_by_relaunching(controlled) -> None:
    c = controlled({"crash_at": {"state": "logged_in", "after_s": 1.5, "mode": "halt", "code": 1}})
    c.wait_log(r"READY mode=paper")
    c.wait_log(r"ALERT_JVM_EXITED mode=paper")
    c.wait_log(r"JVM start #2")
    c.wait_log(r"READY mode=paper", count=2)


def test_relogin_required_is_answered(controlled) -> None:
    c = controlled({"relogin_after_s": 2})
    c.wait_log(r"READY mode=paper")
    c.wait_log(r"ALERT_RELOGIN mode=paper")
    c.wait_log(r"READY mode=paper", count=2)
    assert ib_connect(c.port, client_id=12) == ["DU1234567"]


def test_tws_live_with_totp(controlled) -> None:
    # the second factor in its own JFrame: TWS before 1016 (1016+ morphs the login frame: test_login_modes.py)
    c = controlled({"second_factor": {"live": "totp"}, "totp_secret": TOTP, "second_factor_in_frame": False},
                   product="tws", TRADING_MODE="live",
                   TWOFACTOR_CODE=TOTP)
    c.wait_log(r"READY mode=live")
    assert "recognised as second_factor" in c.log() and "recognised as main_window_tws" in c.log()
    assert ib_connect(c.port) == ["U1234567"]


def test_tws_paper(controlled) -> None:
    c = controlled(product="tws")
    c.wait_log(r"READY mode=paper")
    assert "recognised as login_tws" in c.log()
    assert ib_connect(c.port) == ["DU1234567"]


def test_unknown_popup_is_handled_by_a_dialog_rule(controlled) -> None:
    rules = json.dumps([{"title": "Special Offer", "button": "No thanks"}])
    c = controlled({"unknown_popup": {"title": "Special Offer", "text": "Upgrade now!", "buttons": ["No thanks", "Buy"],
                                      "after_s": 0.5}}, DIALOG_RULES=rules)
    c.wait_log(r"READY mode=paper")
    c.wait_log(r"dialog rule .* matched")
    c.wait_event("clicked", window="Special Offer", button="No thanks")


def test_secrets_are_not_in_any_process_argv(controlled) -> None:
    c = controlled()
    c.wait_log(r"READY mode=paper")
    for pid_dir in Path("/proc").iterdir():
        if pid_dir.name.isdigit():
            try:
                cmd = (pid_dir / "cmdline").read_bytes()
                env = (pid_dir / "environ").read_bytes() if str(c.tmp) in cmd.decode(errors="replace") else b""
            except OSError:
                continue
            assert b"s3cret-pw" not in cmd
            if b"-javaagent" in cmd:
                assert b"s3cret-pw" not in env  # the JVM's environment carries no secrets


def test_lockout_hang_is_detected_and_recovered_by_relaunching(controlled) -> None:
    c = controlled({"lockout_attempts": 1, "lockout_hang_s": 3600}, LOGIN_TIMEOUT="4")
    c.wait_log(r"ALERT_LOGIN_STALLED mode=paper")
    c.wait_log(r"JVM start #2")
    c.wait_log(r"READY mode=paper")
    assert len(c.event("login_attempt")) == 2


def test_login_window_that_never_appears_triggers_a_relaunch(controlled) -> None:
    c = controlled({"login_frame_delay_s": 30}, LOGIN_DIALOG_TIMEOUT="2")
    c.wait_log(r"ALERT_LOGIN_STALLED mode=paper .*login window did not appear")
    c.wait_log(r"JVM start #2")


def test_api_hang_is_detected_and_gateway_restarted(controlled) -> None:
    c = controlled({"hang_at": {"state": "logged_in", "after_s": 5, "kind": "api"}})  # READY comes first
    c.wait_log(r"READY mode=paper")
    c.wait_log(r"ALERT_API_DOWN mode=paper", timeout=60)
    c.wait_log(r"ALERT_HANG mode=paper", timeout=60)
    c.wait_log(r"JVM start #2")


def test_routine_dialogs_and_never_a_bare_ok_on_the_progress_box(controlled) -> None:
    c = controlled({"tip_of_the_day": True, "password_notice_days": 5,
                    "gateway_dialog": {"text": "Attempt 1: connecting to server", "hold_s": 1.5}})
    c.wait_log(r"READY mode=paper")
    c.wait_log(r"ALERT_PASSWORD_EXPIRY mode=paper days_left=5")
    c.wait_log(r"click 'Close' in 'Tip of the Day'")
    clicked = c.event("clicked")
    assert not [e for e in clicked if e.get("window") == "Gateway"], clicked
    assert not c.event("login_cancelled")
    assert "Gateway dialog 'Gateway': Attempt 1: connecting to server" in c.log()


@pytest.fixture
def netns() -> Iterator[NetnsPeer]:
    # the "remote" API client lives in a private network namespace: it reaches the Gateway at netns.host_ip
    with netns_peer() as ns:
        yield ns


def test_accept_incoming_prompt_accepts_a_remote_client(controlled, netns: NetnsPeer) -> None:
    c = controlled({"localhost_only": False}, TWS_ACCEPT_INCOMING="accept")
    c.wait_log(r"READY mode=paper")
    got = peer_ib_connect(netns, c.port, 21, timeout=20)
    assert got["ok"] is True and got["accounts"] == ["DU1234567"], f"{got}\n{c.tail()}"
    c.wait_log(rf"incoming API connection prompt \(accept\): .*{re.escape(netns.peer_ip)}")
    c.wait_log(r"click '(OK|Yes)' in 'IBKR Gateway'")  # the prompt's title (sim default), not another OK
    c.wait_event("accept_incoming_answer")
    answers = c.event("accept_incoming_answer")
    assert [(a["peer"], a["accepted"]) for a in answers] == [(netns.peer_ip, True)], answers
    assert "ALERT_UNKNOWN_WINDOW" not in c.log()


def test_accept_incoming_prompt_rejects_a_remote_client(controlled, netns: NetnsPeer) -> None:
    c = controlled({"localhost_only": False}, TWS_ACCEPT_INCOMING="reject")
    c.wait_log(r"READY mode=paper")
    got = peer_ib_connect(netns, c.port, 22, timeout=20)
    assert got["ok"] is False, f"{got}\n{c.tail()}"
    c.wait_log(rf"incoming API connection prompt \(reject\): .*{re.escape(netns.peer_ip)}")
    c.wait_log(r"click 'No' in 'IBKR Gateway'")
    c.wait_event("accept_incoming_answer")
    answers = c.event("accept_incoming_answer")
    assert [(a["peer"], a["accepted"]) for a in answers] == [(netns.peer_ip, False)], answers
    assert ib_connect(c.port, client_id=23) == ["DU1234567"]  # 127.0.0.1 needs no prompt
    assert "ALERT_UNKNOWN_WINDOW" not in c.log()


def test_a_dialog_rule_wins_over_the_gateway_catch_all(controlled) -> None:
    rules = json.dumps([{"title": "^Gateway$", "text": "Attempt 1", "button": "OK"}])
    c = controlled({"gateway_dialog": {"text": "Attempt 1: connecting to server", "hold_s": 5}}, DIALOG_RULES=rules)
    c.wait_log(r"dialog rule .* matched")
    c.wait_event("clicked", window="Gateway", button="OK")
    c.wait_event("login_cancelled")  # the user asked for it: OK on that box cancels the login, as on Gateway


def test_gives_up_with_exit_3_when_credentials_are_refused_too_often(controlled) -> None:
    c = controlled({"user": "demo", "password": "right"}, LOGIN_FAILURE_LIMIT="1")
    c.wait_log(r"ALERT_GIVING_UP mode=paper")
    assert c.proc.wait(30) == 3
    assert len(c.event("login_attempt")) == 1


def test_second_factor_timeout_relogs_in_when_allowed(controlled) -> None:
    c = controlled({"second_factor": {"live": "push"}, "push_approve_after_s": 600, "second_factor_timeout_s": 2},
                   TRADING_MODE="live", TWOFA_TIMEOUT="2", RELOGIN_AFTER_TWOFA_TIMEOUT="yes")
    c.wait_log(r"ALERT_2FA_TIMEOUT mode=live .*next=\"re-login in 5s\"")
    c.wait_log(r"second factor timed out: logging in again")
    wait_attempts = 2
    c.wait_log(r"ALERT_2FA_PENDING mode=live", count=wait_attempts)
    assert len(c.event("login_attempt")) == wait_attempts


def test_second_factor_timeout_exits_with_4_when_told_to(controlled) -> None:
    c = controlled({"second_factor": {"live": "push"}, "push_approve_after_s": 600, "second_factor_timeout_s": 2},
                   TRADING_MODE="live", TWOFA_TIMEOUT="2", RELOGIN_AFTER_TWOFA_TIMEOUT="no",
                   TWOFA_TIMEOUT_ACTION="exit", TWOFA_EXIT_INTERVAL="1")
    c.wait_log(r"ALERT_2FA_TIMEOUT mode=live")
    assert c.proc.wait(30) == 4
    assert len(c.event("login_attempt")) == 1


def test_warm_state_is_copied_in_and_jts_ini_keeps_its_keys(controlled, tmp_path: Path) -> None:
    warm = tmp_path / "warm"
    (warm / "xyzuser").mkdir(parents=True)
    (warm / "jts.ini").write_text("[Logon]\nColorPalletName=dark\n")
    (warm / "xyzuser" / "marker.xml").write_text("<warm/>")
    c = controlled(GATEWAY_WARM_STATE=str(warm), TRUSTED_IPS="10.1.2.3")
    c.wait_log(r"READY mode=paper")
    settings = c.tmp / "settings"
    assert (settings / "xyzuser" / "marker.xml").read_text() == "<warm/>"
    ini = (settings / "jts.ini").read_text()
    assert "ColorPalletName=dark" in ini and "ApiOnly=true" in ini and "TrustedIPs=127.0.0.1,10.1.2.3" in ini
    assert "warm state: 2 files" in c.log()


def test_kick_out_by_another_session_is_taken_back_when_primary(controlled) -> None:
    c = controlled({"kick_out_after_s": 1.5}, EXISTING_SESSION_DETECTED_ACTION="primary")
    c.wait_log(r"READY mode=paper")
    c.wait_log(r"ALERT_EXISTING_SESSION mode=paper action=primary during_login=False")
    c.wait_log(r"STATE READY -> RELOGIN on relogin_required")
    c.wait_log(r"READY mode=paper", count=2)
    assert ib_connect(c.port) == ["DU1234567"]


def test_daily_auto_restart_relaunches_without_credentials_or_second_factor(controlled) -> None:
    c = controlled({"second_factor": {"live": "totp"}, "totp_secret": TOTP, "auto_restart_in_s": 1.5},
                   TRADING_MODE="live", TWOFACTOR_CODE=TOTP)
    c.wait_log(r"READY mode=live")
    c.wait_log(r"JVM exited \(code 0\) for Gateway's daily auto-restart: relaunching")
    c.wait_log(r"JVM start #2, auto-restart: Gateway logs itself in")
    c.wait_log(r"READY mode=live", count=2)
    attempts = c.event("login_attempt")
    assert [bool(a.get("restart")) for a in attempts[:2]] == [False, True]  # the 2nd used the autorestart token
    assert len(c.event("second_factor_ok")) == 1
    assert "ALERT_JVM_EXITED" not in c.log() and "ALERT_UNKNOWN_WINDOW" not in c.log()
    assert "daily auto-restart has begun" in c.log()
    assert ib_connect(c.port) == ["U1234567"]


@pytest.mark.timeout(150)
def test_closedown_at_logs_out_and_stops_with_exit_0(controlled) -> None:
    from datetime import datetime, timedelta

    at = (datetime.now() + timedelta(seconds=75)).strftime("%H:%M")  # wall-clock action: 15 to 75 s away
    c = controlled(CLOSEDOWN_AT=at)
    c.wait_log(r"READY mode=paper")
    c.wait_log(r"next timed action: closedown at")
    c.wait_log(r"CLOSEDOWN_AT reached: logging out and stopping", timeout=75)
    assert c.proc.wait(40) == 0
    exits = c.event("exit")
    assert exits and exits[-1]["code"] == 0  # Gateway was closed through File > Close, not killed


def test_hung_ui_during_login_is_detected_and_gateway_relaunched(controlled) -> None:
    c = controlled({"hang_at": {"state": "login_frame", "after_s": 0, "kind": "edt"}})
    c.wait_log(r"ALERT_HANG mode=paper .*UI is not responding; relaunching", timeout=60)
    c.wait_log(r"JVM start #2")


def test_ready_is_never_declared_against_another_process_holding_the_api_port(controlled, tmp_path, display) -> None:
    # Another Gateway (logged in by itself, other accounts) holds the API port before ours starts: our JVM cannot
    # bind it, yet that API answers. The controller must say whose port it is and never declare READY.
    port = free_port()
    foreign = SimGateway(tmp_path / "foreign", display, scenario={
        "api_port": port, "self_login": True, "paper_warning": False, "accounts": ["DUFOREIGN1"],
        "step_delay_ms": 50})
    foreign.start()
    try:
        foreign.wait_event("api_listening", timeout=60)
        assert foreign.proc is not None
        c = controlled(TWS_API_PORT=str(port))
        line = c.wait_log(r"(ALERT_API_PORT_TAKEN mode=paper port=\d+ .*)", timeout=90)
        assert f"port={port}" in line and f"pid {foreign.proc.pid}" in line, line
        time.sleep(3)  # probes go on (every 0.25 s): still no READY
        log = c.log()
        assert "READY mode=paper" not in log and "DUFOREIGN1" not in log.split("ALERT_API_PORT_TAKEN")[0]
        assert not (c.tmp / "run" / "ready-paper").exists()
        assert c.count("ALERT_API_PORT_TAKEN") == 1  # said once, not at every probe
        assert c.stop() == 0
    finally:
        foreign.stop()


def test_a_stopped_jvm_is_killed_with_a_logged_reason_and_no_traceback(controlled) -> None:
    c = controlled()
    c.wait_log(r"READY mode=paper")
    pid = json.loads((c.tmp / "run" / "state-paper.json").read_text())["jvm_pid"]
    assert isinstance(pid, int) and pid > 0
    os.kill(pid, signal.SIGSTOP)
    try:
        c.wait_log(r"ALERT_API_DOWN mode=paper", timeout=60)
        c.wait_log(r"ALERT_HANG mode=paper", timeout=90)
        c.wait_log(rf"stopping Gateway's JVM \(pid {pid}\): API hang", timeout=30)
        c.wait_log(r"JVM start #2", timeout=30)  # SIGCONT with the SIGTERM: a frozen JVM goes at once, no 5 s wait
        c.wait_log(r"READY mode=paper", count=2, timeout=90)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    log = c.log()
    assert "Traceback" not in log and "task poll failed" not in log, c.tail()
    assert c.count(r"did not answer within 10s") <= 1  # one clear line for the silent agent, not one per poll
    assert c.stop() == 0


def _jvms_of(c) -> list[int]:
    marker = str(c.tmp / "settings")
    out = []
    for pid_dir in Path("/proc").iterdir():
        if pid_dir.name.isdigit():
            with contextlib.suppress(OSError):
                cmd = (pid_dir / "cmdline").read_bytes().decode(errors="replace")
                if marker in cmd and "java" in cmd:
                    out.append(int(pid_dir.name))
    return out


@pytest.mark.parametrize("state", ["STARTING", "AUTHENTICATING", "SECOND_FACTOR", "READY"])
def test_sigterm_in_every_state_stops_cleanly(controlled, state: str) -> None:
    scenario: dict[str, object] = {
        "STARTING": {"login_frame_delay_s": 30},
        "AUTHENTICATING": {"lockout_attempts": 1, "lockout_hang_s": 60},  # hangs after Log In
        "SECOND_FACTOR": {"second_factor": {"live": "push"}, "push_approve_after_s": -1},
        "READY": {},
    }[state]
    c = controlled(scenario, TRADING_MODE="live" if state == "SECOND_FACTOR" else "paper")
    c.wait_log({"STARTING": r"agent connected", "AUTHENTICATING": r"-> AUTHENTICATING",
                "SECOND_FACTOR": r"ALERT_2FA_PENDING", "READY": r"READY mode="}[state])
    assert _jvms_of(c), "the JVM runs"
    t0 = time.monotonic()
    assert c.stop(timeout=60) == 0
    took = time.monotonic() - t0
    print(f"SIGTERM in {state}: controller exited 0 in {took:.1f}s")
    assert took < 110, took  # within compose's stop_grace_period (120 s), with margin
    assert wait_until(lambda: not _jvms_of(c), 10, "no JVM left", 0.1)
    if state == "READY":
        exits = c.event("exit")
        assert exits and exits[-1]["code"] == 0, exits  # a clean logout through File > Close, not a kill


def test_a_plain_process_holding_the_api_port_is_named_not_waited_on_silently(controlled) -> None:
    # Something that is no Gateway at all (it accepts, never answers) holds the API port: our Gateway cannot
    # bind it. The alert names the port and the holder (this test's own process) instead of a silent wait.
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(5)
        port = squatter.getsockname()[1]
        c = controlled(TWS_API_PORT=str(port))
        line = c.wait_log(r"(ALERT_API_PORT_TAKEN mode=paper port=\d+ .*)", timeout=90)
        assert f"port={port}" in line and f"pid {os.getpid()}" in line, line
        assert "READY mode=" not in c.log()
        assert c.stop() == 0
