"""What one controller (one trading mode) needs to know, as one typed, immutable object.

Built from `ibpilot.settings.Settings` by `from_settings`, or directly by tests. Secrets are held in
fields excluded from repr, and are never logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Literal

from ibpilot.settings import DEFAULT_API_PORTS, DialogRule

Mode = Literal["live", "paper"]
Product = Literal["gateway", "tws"]

# The nine API precautions (gateway-ui.md §2.4): Settings attribute -> the checkbox's exact text.
PRECAUTIONS: dict[str, str] = {
    "bypass_order_precautions": "Bypass Order Precautions for API Orders",
    "bypass_bond_warning": "Bypass Bond warning for API Orders.",
    "bypass_negative_yield_confirmation": "Bypass negative yield to worst confirmation for API Orders.",
    "bypass_called_bond_warning": "Bypass Called Bond warning for API Orders",
    "bypass_same_action_pair_trade_warning": 'Bypass "same action pair trade" warning for API orders.',
    "bypass_price_based_volatility_warning": "Bypass price-based volatility risk warning for API Orders.",
    "bypass_us_stocks_market_data_warning": "Bypass US Stocks market data in shares warning for API Orders",
    "bypass_redirect_order_warning": "Bypass Redirect Order warning for Stock API Orders",
    "bypass_no_overfill_protection": "Bypass No Overfill Protection precaution for destinations where implied "
    "natively.",
}


@dataclass(frozen=True)
class ControllerConfig:
    mode: Mode
    tws_path: Path
    settings_dir: Path
    run_dir: Path  # agent socket, ready file default, JVM console log
    product: Product = "gateway"
    version: str | None = None
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    totp_secret: str = field(default="", repr=False)
    twofa_device: str = ""
    twofa_timeout_s: float = 180.0
    twofa_exit_interval_s: float = 60.0
    twofa_timeout_action: Literal["exit", "restart", "none"] = "restart"
    relogin_after_twofa_timeout: bool = True
    existing_session_action: Literal["primary", "primaryoverride", "secondary", "manual"] = "primary"
    accept_incoming: Literal["accept", "reject", "manual"] = "manual"
    bypass_warning: tuple[str, ...] = ()
    dialog_rules: tuple[DialogRule, ...] = ()
    read_only_api: bool | None = None
    master_client_id: int | None = None
    api_port: int | None = None
    precautions: dict[str, bool] = field(default_factory=dict)
    auto_logoff_time: str | None = None  # "hh:mm AM"
    auto_restart_time: str | None = None  # "hh:mm AM"
    trusted_ips: tuple[str, ...] = ()
    tws_server: str | None = None
    time_zone: str | None = None
    heap_mb: int | None = None
    java_opts: tuple[str, ...] = ()
    ready_file: Path | None = None
    accept_paper_warning: bool = True  # click "I understand and accept" (API connections fail until then)
    dismiss_password_notice: bool = False  # click OK on the password notice (alerted either way)
    allow_blind_trading: bool = False  # confirm orders for instruments without market data
    cold_restart_at: time | None = None  # every Sunday: stop and log in afresh (no autorestart token)
    closedown_at: tuple[time, str | None] | None = None  # (time, weekday or None = daily): tidy stop
    save_settings_at: str | None = None  # File > Save Settings schedule (IBC's SaveTwsSettingsAt)
    warm_state: Path | None = None  # copied into settings_dir before each cold start
    custom_config: bool = False  # the user manages jts.ini: do not edit it
    record_dir: Path | None = None  # write every window snapshot here (JSON) for bug reports / recognisers
    login_dialog_timeout_s: float = 60.0  # the login window must appear within this long after launch
    login_stall_s: float = 120.0  # no progress after Log In for this long: stalled (lockout?)
    max_login_failures: int = 3  # refused credentials this many times in a row: give up (no lockout storm)
    restart_backoff_s: tuple[float, ...] = (2.0, 10.0, 30.0, 60.0, 120.0, 300.0)
    probe_interval_s: float = 10.0
    probe_failures_for_hang: int = 3  # consecutive failed probes after the API was lost: a hang
    api_wait_s: float = 180.0  # after login, the API must answer within this long
    ui_hang_s: float = 20.0  # the UI thread blocked this long: a hang
    probe_client_id: int = 973

    @property
    def effective_api_port(self) -> int:
        return self.api_port or DEFAULT_API_PORTS[self.product][self.mode]

    @property
    def agent_socket(self) -> Path:
        return self.run_dir / f"agent-{self.mode}.sock"

    @property
    def state_file(self) -> Path:
        """Where the controller publishes its state (for `ibpilot status`, and the health endpoint to come)."""
        return self.run_dir / f"state-{self.mode}.json"

    @property
    def console_log(self) -> Path:
        return self.run_dir / f"jvm-{self.mode}.log"

    def secrets(self) -> list[str]:
        """Values that must never reach a log line."""
        return [s for s in (self.password, self.totp_secret) if s]
