"""`ibpilot control`: one controller for one trading mode, in the foreground, configured by the environment."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from ibpilot.cli import add_command
from ibpilot.controller.config import ControllerConfig
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


async def _run(cfg: ControllerConfig) -> int:
    from ibpilot.controller.instance import Instance
    from ibpilot.controller.ops import Operations

    inst = Instance(cfg)
    try:
        ops = Operations(inst)
    except ValueError as exc:
        print(f"ibpilot control: {exc}", file=sys.stderr)
        return 2
    try:
        await ops.start()
    except OSError as exc:
        await ops.close()
        print(f"ibpilot control: cannot start the operations surface: {exc}", file=sys.stderr)
        return 2
    inst.observer, inst.links = ops, ops.links()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, inst.request_stop)
    try:
        return await inst.run()
    finally:
        await ops.close()


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
    cfg = ControllerConfig(settings, mode)
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
