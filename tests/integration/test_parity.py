"""IBC's window handlers (gateway-ui.md §2.2) that had no simulated window or test: each one shown by the
simulator under its scenario key, handled by `ibpilot control` with IBC's setting, and, where the session
goes on, ending with a real API client connected. The map handler -> window -> row -> test is in sim/README.md."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from test_controller import ib_connect

from ibpilot.testing import free_port, wait_until

pytestmark = pytest.mark.integration


def ready_and_connected(c, client_id: int = 11) -> None:
    c.wait_log(r"READY mode=paper")
    assert ib_connect(c.port, client_id) == ["DU1234567"]


# ---------------------------------------------------------------- before / during the login
@pytest.mark.parametrize(("kind", "button"), [("dialog", "OK"), ("frame", "OK"), ("option_pane", "No")])
def test_newer_version_is_answered_ok_else_no(controlled, kind: str, button: str) -> None:
    c = controlled({"newer_version": kind})
    c.wait_event("newer_version_answer", kind=kind, button=button)
    assert "recognised as newer_version" in c.log()
    ready_and_connected(c)


def test_not_currently_available_is_dismissed_and_gateway_started_afresh(controlled) -> None:
    c = controlled({"not_currently_available": 1})
    c.wait_log(r"ALERT_LOGIN_STALLED mode=paper .*not currently available")
    c.wait_event("login_notice_answer", title="Login", button="OK")
    c.wait_log(r"JVM start #2")
    ready_and_connected(c)
    assert len(c.event("login_attempt")) == 2


def test_login_error_is_a_cold_restart(controlled) -> None:
    c = controlled({"login_error": 1})
    c.wait_log(r"ALERT_LOGIN_STALLED mode=paper .*Server disconnected.*login error")
    c.wait_event("login_notice_answer", title="Login Error", button="OK")
    c.wait_log(r"restarting Gateway in \d+s \(cold restart \(Login Error\)\)")
    ready_and_connected(c)
    assert len(c.event("login_attempt")) == 2


def test_connection_to_server_failed_is_a_cold_restart_not_an_instant_retry(controlled) -> None:
    c = controlled({"connection_failed": True})
    c.wait_log(r"ALERT_LOGIN_STALLED mode=paper .*connection to server failed")
    c.wait_log(r"JVM start #2")

    def names() -> list[str]:
        return [e["event"] for e in c.events() if e.get("event") in ("started", "login_attempt")]

    wait_until(lambda: names().count("started") >= 2, 30, "the second JVM's simulator started")
    seen = names()
    second = seen.index("started", 1)
    assert seen[:second] == ["started", "login_attempt"], seen  # one attempt in the first JVM: no storm
    assert c.stop() == 0


def test_refused_login_is_a_cold_restart_then_gives_up(controlled) -> None:
    c = controlled({"user": "demo", "password": "right"}, LOGIN_FAILURE_LIMIT="2")
    c.wait_log(r"ALERT_LOGIN_FAILED mode=paper .*failures=1")
    c.wait_log(r"restarting Gateway in \d+s \(cold restart \(Login failed\)\)", timeout=60)
    c.wait_log(r"JVM start #2")
    c.wait_log(r"ALERT_GIVING_UP mode=paper", timeout=60)
    assert c.proc.wait(30) == 3
    assert len(c.event("login_attempt")) == 2


@pytest.mark.parametrize("same_jvm", [False, True])
def test_too_many_failed_attempts_waits_out_the_lock_then_logs_in(controlled, same_jvm: bool) -> None:
    env = {"RELOGIN_AFTER_TWOFA_TIMEOUT": "yes"} if same_jvm else {}
    c = controlled({"too_many_attempts": {"wait_s": 4}}, **env)
    line = c.wait_log(r"ALERT_LOGIN_LOCKED mode=paper [^\n]*")
    m = re.search(r"seconds=(\d+) until=(\S+)", line)
    assert m, line
    assert 5 <= int(m.group(1)) <= 7  # "Please wait 4 seconds" (or 3, as the clock turns) + IBC's 3 s
    until = datetime.fromisoformat(m.group(2))
    ready_and_connected(c)
    attempts = c.event("login_attempt")
    assert len(attempts) == 2
    assert attempts[1]["t"] >= until.timestamp() - 1  # not before the time the alert announced
    assert ("JVM start #2" in c.log()) is not same_jvm
    locked = c.event("login_failed")
    assert [e["reason"] for e in locked] == ["too many failed login attempts"]


def test_trading_login_handoff_disconnects_the_other_session_when_primary(controlled) -> None:
    c = controlled({"trading_handoff": True}, EXISTING_SESSION_DETECTED_ACTION="primary")
    c.wait_event("trading_handoff_answer", button="Disconnect Other Session")
    ready_and_connected(c)


def test_trading_login_handoff_stops_the_controller_when_secondary(controlled) -> None:
    c = controlled({"trading_handoff": True}, EXISTING_SESSION_DETECTED_ACTION="secondary")
    c.wait_log(r"ALERT_EXISTING_SESSION mode=paper action=secondary .*Trading Login Handoff")
    assert c.proc.wait(40) == 1  # IBC exits (1110): a state it does not expect
    assert not [e for e in c.event("clicked") if e.get("button") == "Disconnect Other Session"]


# ---------------------------------------------------------------- after login
@pytest.mark.parametrize(("form", "button"), [("order_preview", "Override and Transmit"), ("confirm", "Yes")])
def test_blind_trading_warning_is_transmitted_when_allowed(controlled, form: str, button: str) -> None:
    c = controlled({"blind_trading": form}, ALLOW_BLIND_TRADING="yes")
    c.wait_event("blind_trading_answer", form=form, button=button)
    ready_and_connected(c)


def test_blind_trading_warning_is_left_for_a_person_by_default(controlled) -> None:
    c = controlled({"blind_trading": "order_preview"})
    c.wait_log(r"blind-trading warning left for a person")
    ready_and_connected(c)
    assert not c.event("blind_trading_answer")


@pytest.mark.parametrize("dismiss", [True, False])
def test_nse_compliance_notice_is_closed_unless_told_not_to(controlled, dismiss: bool) -> None:
    c = controlled({"nse_compliance": True}, DISMISS_NSE_COMPLIANCE_NOTICE="yes" if dismiss else "no")
    if dismiss:
        c.wait_event("closed", title="NSE Compliance")
    else:
        c.wait_log(r"NSE Compliance notice left on screen")
    ready_and_connected(c)
    assert bool(c.event("closed") and [e for e in c.event("closed") if e["title"] == "NSE Compliance"]) is dismiss


def test_tws_trades_window_shows_all_trades_and_is_reopened(controlled) -> None:
    c = controlled({"trades_frame": {"close_after_s": 2}}, product="tws", SHOW_ALL_TRADES="yes")
    c.wait_event("trades_closed_by_user", timeout=30)
    c.wait_event("menu", item="Trade Log")
    c.wait_log(r"Trades window: showing all trades", count=2)

    def ticked() -> list[str]:
        return [e["box"] for e in c.event("trades_filter") if e["selected"] is True]

    wait_until(lambda: len(ticked()) >= 16, 15, "every box ticked in both Trades windows")
    assert sorted(ticked()) == sorted(["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "All"] * 2)
    c.wait_log(r"READY mode=paper")
    assert ib_connect(c.port) == ["DU1234567"]


@pytest.mark.parametrize(("action", "clicked", "dont_again"), [("accept", True, True), ("defer", True, False),
                                                                ("ignore", False, None)])
def test_bid_ask_last_size_notice(controlled, action: str, clicked: bool, dont_again: bool | None) -> None:
    c = controlled({"bid_ask_update": True}, AcceptBidAskLastSizeDisplayUpdateNotification=action)  # IBC's name
    if clicked:
        ev = c.wait_event("bid_ask_answer", button="I understand - display market data")
        assert ev["dont_display_again"] is dont_again
    else:
        c.wait_log(r"Bid/Ask/Last size notice left on screen")
    ready_and_connected(c)
    assert bool(c.event("bid_ask_answer")) is clicked


@pytest.mark.parametrize(("action", "button"), [("transmit", "Transmit"), ("cancel", "Cancel")])
def test_crypto_order_confirmation(controlled, action: str, button: str) -> None:
    c = controlled({"crypto_order": True}, CONFIRM_CRYPTO_CURRENCY_ORDERS=action)
    c.wait_event("crypto_order_answer", button=button)
    ready_and_connected(c)


@pytest.mark.parametrize(("setting", "button"), [("ignore/confirm", "Yes"), ("confirm/reject", "No")])
def test_order_id_reset_confirmation_uses_the_user_initiated_part(controlled, setting: str, button: str) -> None:
    c = controlled({"order_id_reset_prompt": True}, ConfirmOrderIdReset=setting)
    c.wait_event("clicked", window="Reset API order ID sequence", button=button)
    ready_and_connected(c)
    assert bool(c.event("order_id_reset")) is (button == "Yes")


def test_tws_api_port_change_is_confirmed(controlled) -> None:
    port = free_port()
    c = controlled({"api_port": free_port(), "api_port_confirm": True}, product="tws", TWS_API_PORT=str(port))
    c.wait_event("api_port_confirm_answer", button="Yes", timeout=40)
    c.wait_log(rf"READY mode=paper api_port={port}")
    assert c.port == port
    assert ib_connect(port) == ["DU1234567"]
    assert c.event("config_saved")[-1]["effective_port"] == port


def test_shutdown_progress_is_known_on_stop(controlled) -> None:
    c = controlled({"shutdown_progress": True})
    ready_and_connected(c)
    assert c.stop() == 0
    log = c.log()
    assert "recognised as shutdown_progress" in log
    assert "Gateway is shutting down (as asked)" in log
    assert "ALERT_UNKNOWN_WINDOW" not in log
