"""`ibpilot control`: one controller for one trading mode, in the foreground, configured by the environment."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from datetime import time as dtime
from pathlib import Path
from typing import Any

from ibpilot.cli import add_command
from ibpilot.controller.config import PRECAUTIONS, ControllerConfig
from ibpilot.logs import register_secret, setup_logging
from ibpilot.settings import Settings, SettingsError

HELP = """\
Launch IB Gateway (or TWS) for one trading mode and keep it logged in: type the credentials, answer the
second factor (TOTP from TWOFACTOR_CODE, or wait for the phone approval), click through every dialog,
apply the API settings and read them back, then log `READY mode=<mode> api_port=<port>` once a real TWS
API handshake succeeds. Crashes, hangs, re-logins and daily restarts are recovered in place.

Everything is configured by environment variables (see `ibpilot check-config` and docs/configuration.md):

  TWS_USERID=me TWS_PASSWORD_FILE=/run/secrets/pw TRADING_MODE=paper TWS_PATH=~/Jts ibpilot control

Try it on the simulated Gateway:  ibpilot sim install ~/Jts && TWS_USERID=demo TWS_PASSWORD=demo \\
  TRADING_MODE=paper DISPLAY=:1 ibpilot control

Exit codes: 0 stopped (SIGTERM/SIGINT), 1 cannot launch, 2 bad configuration, 3 credentials refused
too often (no retry storm that would lock the account), 4 second factor not completed (TWOFA_TIMEOUT_ACTION=exit).
"""


def _ampm(t: dtime | None) -> str | None:
    return t.strftime("%I:%M %p") if t is not None else None


def config_from_settings(s: Settings, mode: Any) -> ControllerConfig:
    creds = s.credentials(mode)
    explicit_port = s.tws_api_port_paper if mode == "paper" and s.tws_api_port_paper is not None else s.tws_api_port
    if s.dual and mode == "paper" and s.tws_api_port_paper is None:
        explicit_port = None
    return ControllerConfig(
        mode=mode,
        product=s.gateway_or_tws,
        tws_path=Path(s.tws_path).expanduser(),
        version=s.tws_major_vrsn,
        settings_dir=Path(s.settings_path(mode)).expanduser(),
        run_dir=Path(s.run_dir).expanduser(),
        username=creds.userid or "",
        password=creds.password.reveal() if creds.password else "",
        totp_secret=s.twofactor_code.reveal() if s.twofactor_code else "",
        twofa_device=s.twofa_device or "",
        twofa_timeout_s=s.twofa_timeout,
        twofa_exit_interval_s=s.twofa_exit_interval,
        twofa_timeout_action=s.twofa_timeout_action,
        relogin_after_twofa_timeout=s.relogin_after_twofa_timeout,
        existing_session_action=s.existing_session_detected_action,
        accept_incoming=s.tws_accept_incoming,
        bypass_warning=tuple(s.bypass_warning),
        dialog_rules=tuple(s.dialog_rules),
        read_only_api=s.read_only_api,
        master_client_id=s.tws_master_client_id,
        api_port=explicit_port,
        precautions={k: v for k in PRECAUTIONS if (v := getattr(s, k)) is not None},
        auto_logoff_time=_ampm(s.auto_logoff_time),
        auto_restart_time=_ampm(s.auto_restart_time),
        trusted_ips=tuple(s.trusted_ips),
        tws_server=s.server(mode),
        time_zone=s.time_zone,
        heap_mb=s.java_heap_size,
        java_opts=tuple(s.java_opts),
        ready_file=Path(s.ready_file(mode)).expanduser(),
        record_dir=Path(s.record_windows).expanduser() / mode if s.record_windows else None,
        warm_state=Path(s.gateway_warm_state) if s.gateway_warm_state else None,
        accept_paper_warning=s.accept_non_brokerage_warning,
        dismiss_password_notice=s.dismiss_password_expiry_warning,
        allow_blind_trading=s.allow_blind_trading,
        cold_restart_at=s.cold_restart_time,
        closedown_at=(s.closedown_at.at, s.closedown_at.day) if s.closedown_at else None,
        save_settings_at=s.save_tws_settings,
        custom_config=s.custom_config,
        login_stall_s=min(s.login_timeout, 600.0),
        login_dialog_timeout_s=s.login_dialog_timeout,
        max_login_failures=s.login_failure_limit,
    )


async def _run(cfg: ControllerConfig) -> int:
    from ibpilot.controller.instance import Instance

    inst = Instance(cfg)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, inst.request_stop)
    return await inst.run()


def _cmd_control(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load()
        mode = args.mode or settings.instance
    except SettingsError as exc:
        print(f"ibpilot control: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"ibpilot control: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, prefix=f"[{mode}] " if settings.dual else "")
    cfg = config_from_settings(settings, mode)
    for secret in cfg.secrets():
        register_secret(secret)
    log = logging.getLogger("ibpilot.controller")
    log.info("ibpilot control: mode=%s product=%s tws_path=%s user=%s", mode, cfg.product, cfg.tws_path,
             cfg.username or "(none)")
    for w in settings.warnings:
        log.warning("configuration: %s", w)
    return asyncio.run(_run(cfg))


def register(sub: Any) -> None:
    p = add_command(sub, "control", "run one Gateway/TWS for one trading mode (foreground)", HELP, _cmd_control)
    p.add_argument("--mode", choices=["live", "paper"], help="override TRADING_MODE / IBPILOT_INSTANCE")
