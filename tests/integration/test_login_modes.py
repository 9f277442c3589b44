"""Login modes beyond the plain IB API login: the FIX CTCI gateway, TWS 1016+'s second factor inside the login
frame (TOTP and push), and TWS's read-only login ("Enter Read Only") — controller and simulator run for real."""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Any

import pytest
from _clients import command, ib_connect
from ib_async import IB, MarketOrder, Stock

from ibpilot.sim import install as sim_install
from ibpilot.testing import free_port, wait_until

pytestmark = pytest.mark.integration

TOTP = "JBSWY3DPEHPK3PXP"




def order_errors(port: int, client_id: int = 21) -> list[int]:
    """Place one order through ib_async; the error codes the API answered with (321 = read-only)."""

    async def go() -> list[int]:
        ib = IB()
        codes: list[int] = []
        ib.errorEvent += lambda req_id, code, *rest: codes.append(code)
        await ib.connectAsync("127.0.0.1", port, clientId=client_id, timeout=10)
        try:
            ib.placeOrder(Stock("AAPL", "SMART", "USD"), MarketOrder("BUY", 1))
            for _ in range(100):
                if codes:
                    break
                await asyncio.sleep(0.05)
            return codes
        finally:
            ib.disconnect()

    return asyncio.run(go())




def shown_titles(c: Any) -> list[str]:
    return [str(e.get("title")) for e in c.event("shown")]


# ---------------------------------------------------------------- FIX CTCI


def test_fix_login_is_ready_when_our_fix_port_accepts(controlled) -> None:
    cp = free_port()
    c = controlled({"second_factor": {"live": "totp"}, "totp_secret": TOTP, "fix_user": "fixer",
                    "fix_password": "fix-pw-9"},
                   TRADING_MODE="live", FIX="yes", FIXLoginId="fixer", FIX_PASSWORD="fix-pw-9",
                   TWOFACTOR_CODE=TOTP, COMMAND_SERVER_PORT=str(cp))
    c.wait_log(r"READY mode=live")
    attempt = c.wait_event("login_attempt")
    # FIX user + password in fields 0/1, the market data (IB API) login in 2/3, as IBC's setFields
    assert attempt["api_type"] == "fix" and attempt["user"] == "fixer" and attempt["market_data_user"] == "demo"
    c.wait_event("second_factor_ok", method="totp")
    assert c.wait_event("logged_in")["api_type"] == "fix"
    assert c.wait_event("fix_listening")["port"] == c.port
    assert c.event("api_listening") == []  # FIX-only: no TWS API
    assert "Starting application..." not in shown_titles(c)  # no splash in FIX mode: the port is the evidence
    assert "login complete (the FIX port" in c.log()
    jts = (c.tmp / "settings" / "jts.ini").read_text()
    assert f"LocalServerPort={c.port}" in jts and "ApiOnly=false" in jts
    # a FIX engine can connect
    with socket.create_connection(("127.0.0.1", c.port), timeout=5):
        pass
    wait_until(lambda: len(c.event("fix_connect")) >= 2, 10, "the probe's and our connection")
    # the command server refuses what IBC refuses on the FIX gateway
    assert command(cp, "RESTART") == "ERROR RESTART is not valid for the FIX Gateway\n"
    assert "fix-pw-9" not in c.log() and "s3cret-pw" not in c.log()


def test_fix_port_held_by_another_process_is_never_ready(controlled) -> None:
    """Something else accepting on the FIX port must never make a FIX gateway READY: the listener must be our
    JVM's. Here a squatter holds the port, so the simulated FIX gateway cannot bind it."""
    squat = socket.create_server(("127.0.0.1", 0))
    try:
        port = squat.getsockname()[1]
        c = controlled({"second_factor": "none", "fix_user": "fixer", "fix_password": "fix-pw-9"},
                       TRADING_MODE="live", FIX="yes", FIX_USERID="fixer", FIX_PASSWORD="fix-pw-9",
                       TWS_API_PORT=str(port))
        assert c.wait_event("fix_error")["port"] == port  # the simulated gateway could not listen
        c.wait_log(rf"ALERT_API_PORT_TAKEN mode=live port={port}")
        assert "login complete" not in c.log() and "READY mode=live" not in c.log()
    finally:
        squat.close()


# ---------------------------------------------------------------- TWS 1016+: the second factor inside the login frame


def test_tws_1016_second_factor_in_the_login_frame_totp(controlled) -> None:
    c = controlled({"second_factor": {"live": "totp"}, "totp_secret": TOTP}, product="tws", TRADING_MODE="live",
                   TWOFACTOR_CODE=TOTP)
    c.wait_log(r"READY mode=live")
    assert c.wait_event("login_attempt")["version"] == 1037
    assert c.wait_event("second_factor")["in_login_frame"] is True
    c.wait_event("second_factor_ok", method="totp")
    assert "recognised as second_factor_in_frame" in c.log() and "TOTP code entered" in c.log()
    assert "Second Factor Authentication" not in shown_titles(c)  # no separate window: the frame morphed
    assert ib_connect(c.port) == ["U1234567"]


def test_tws_1016_second_factor_in_the_login_frame_push(controlled) -> None:
    c = controlled({"second_factor": {"live": "push"}, "push_approve_after_s": 1}, product="tws",
                   TRADING_MODE="live")
    c.wait_log(r"READY mode=live")
    assert c.wait_event("second_factor")["in_login_frame"] is True
    c.wait_event("second_factor_ok", method="push")
    assert "recognised as second_factor_in_frame" in c.log()
    assert "ALERT_2FA_PENDING" in c.log() and "ALERT_2FA_APPROVED" in c.log()
    assert "Second Factor Authentication" not in shown_titles(c)
    assert ib_connect(c.port) == ["U1234567"]


def test_tws_before_1016_keeps_the_second_factor_jframe(controlled, tmp_path) -> None:
    """The version decides: TWS 1012 (its install dir and jar say so) still opens its own 2FA JFrame."""
    sim_install.install(tmp_path / "Jts", "tws", "1012")
    c = controlled({"second_factor": {"live": "totp"}, "totp_secret": TOTP}, product="tws", TRADING_MODE="live",
                   TWOFACTOR_CODE=TOTP, TWS_MAJOR_VRSN="1012")
    c.wait_log(r"READY mode=live")
    assert c.wait_event("login_attempt")["version"] == 1012
    assert c.wait_event("second_factor")["in_login_frame"] is False
    assert "Second Factor Authentication" in shown_titles(c)
    assert re.search(r"recognised as second_factor$", c.log(), re.M) and "second_factor_in_frame" not in c.log()
    assert ib_connect(c.port) == ["U1234567"]


# ---------------------------------------------------------------- TWS ReadOnlyLogin


@pytest.mark.parametrize("in_frame", [True, False], ids=["tws-1016+", "tws-2fa-jframe"])
def test_read_only_login_skips_the_second_factor_and_cannot_trade(controlled, in_frame: bool) -> None:
    c = controlled({"second_factor": {"live": "totp"}, "totp_secret": TOTP, "second_factor_in_frame": in_frame},
                   product="tws", TRADING_MODE="live", READ_ONLY_LOGIN="yes",
                   TWOFACTOR_CODE=TOTP)  # set, to show it is not used
    c.wait_log(r"READY mode=live")
    c.wait_event("read_only_login")
    assert c.wait_event("logged_in")["read_only"] is True
    # the second factor window was answered with "Enter Read Only": no code typed, none checked
    assert c.event("second_factor_ok") == [] and c.event("second_factor_bad") == []
    assert "TOTP code entered" not in c.log() and "ALERT_2FA_PENDING" not in c.log()
    assert "READ_ONLY_LOGIN: entering read only" in c.log()
    assert ib_connect(c.port) == ["U1234567"]
    assert 321 in order_errors(c.port)  # the session is read-only: the API refuses orders
