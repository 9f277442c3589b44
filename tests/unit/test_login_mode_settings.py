"""FIX, FIX_USERID/FIX_PASSWORD and READ_ONLY_LOGIN: their aliases, secrets and the check-config rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from ibpilot.controller.config import ControllerConfig
from ibpilot.settings import Settings, SettingsError


def errors_of(env: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as ei:
        Settings.from_env(env)
    return str(ei.value)


def test_fix_with_ibc_aliases_and_a_secret_file(tmp_path: Path) -> None:
    pw = tmp_path / "fixpw"
    pw.write_text("fix-s3cret\n")
    s = Settings.from_env({"FIX": "yes", "FIXLoginId": "fixer", "FIX_PASSWORD_FILE": str(pw),
                           "TRADING_MODE": "live"})
    assert s.fix and s.fix_userid == "fixer" and s.fix_password is not None
    assert s.fix_password.reveal() == "fix-s3cret"
    assert "fix-s3cret" not in repr(s) and "fix-s3cret" not in str(s.redacted())
    cfg = ControllerConfig(s, "live")
    assert cfg.fix and cfg.fix_username == "fixer" and cfg.fix_password == "fix-s3cret"
    assert "fix-s3cret" in cfg.secrets()
    assert Settings.from_env({"FIXUSERID": "a", "FIXPASSWORD": "b", "FIX": "true",
                              "TRADING_MODE": "live"}).fix_userid == "a"


def test_fix_needs_its_credentials_and_gateway() -> None:
    msg = errors_of({"FIX": "yes", "GATEWAY_OR_TWS": "tws"})
    assert "FIX_USERID" in msg and "FIX_PASSWORD" in msg and "GATEWAY_OR_TWS=gateway" in msg
    assert "TRADING_MODE=both" in errors_of({"FIX": "yes", "FIX_USERID": "f", "FIX_PASSWORD": "p",
                                             "TRADING_MODE": "both"})
    s = Settings.from_env({"FIX": "yes", "FIX_USERID": "f", "FIX_PASSWORD": "p", "TRADING_MODE": "paper"})
    assert any("paper" in w for w in s.warnings)
    s = Settings.from_env({"FIX_USERID": "f"})
    assert not s.fix and any("FIX is not yes" in w for w in s.warnings)
    assert not ControllerConfig(s, "paper").fix


def test_read_only_login_is_tws_only() -> None:
    assert "TWS only" in errors_of({"ReadOnlyLogin": "yes"})
    s = Settings.from_env({"READ_ONLY_LOGIN": "yes", "GATEWAY_OR_TWS": "tws"})
    assert s.read_only_login and ControllerConfig(s, "paper").read_only_login
    assert not Settings.from_env({}).read_only_login
