"""Secrets never reach a log line, a repr or an exception text."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ibpilot.controller.config import ControllerConfig
from ibpilot.logs import _Redact, register_secret
from ibpilot.settings import Settings, SettingsError

ENV = {
    "TWS_USERID": "alice",
    "TWS_PASSWORD": "hunter2-very-secret",
    "TWOFACTOR_CODE": "JBSWY3DPEHPK3PXP",
    "TRADING_MODE": "live",
    "HOME": "/root",
}


def test_controller_config_repr_has_no_secrets() -> None:
    cfg = ControllerConfig(Settings.from_env(ENV), "live")
    assert cfg.password == "hunter2-very-secret"  # available to the code that types it...
    text = repr(cfg) + str(cfg)
    assert "hunter2" not in text and "JBSWY3DPEHPK3PXP" not in text  # ...but never printed
    assert set(cfg.secrets()) == {"hunter2-very-secret", "JBSWY3DPEHPK3PXP"}


def test_settings_errors_do_not_echo_secret_values() -> None:
    with pytest.raises(SettingsError) as exc:
        Settings.from_env({**ENV, "TWOFACTOR_CODE": "not base32 hunter3!!"})
    assert "hunter3" not in str(exc.value)
    assert "TWOFACTOR_CODE" in str(exc.value)


def test_log_filter_masks_registered_secrets(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    register_secret("hunter2-very-secret")
    log = logging.getLogger("ibpilot.test.redaction")
    log.addFilter(_Redact())
    try:
        with caplog.at_level(logging.INFO, logger="ibpilot.test.redaction"):
            log.info("oops %s", "password=hunter2-very-secret")
    finally:
        log.filters.clear()
    assert "hunter2" not in caplog.text
    assert "password=***" in caplog.text
