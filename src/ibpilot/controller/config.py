"""One trading mode's view of the settings: what one controller needs to know, typed and immutable.

The controller reads plain settings as they are declared in `ibpilot.settings` (`cfg.s.twofa_timeout`),
so a new option is declared once and used where it matters; only the values that depend on the mode
(credentials, ports, directories) or combine settings are properties here. Secrets stay wrapped in
`Secret` inside `Settings` (never in a repr) and are revealed only by the properties that type them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Literal

from ibpilot.settings import Settings

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


def _ampm(t: time | None) -> str | None:
    return t.strftime("%I:%M %p") if t is not None else None


@dataclass(frozen=True)
class ControllerConfig:
    s: Settings
    mode: Mode
    # Recovery tunables: fixed policy, not settings (documented in docs/alerts.md).
    restart_backoff_s: tuple[float, ...] = (2.0, 10.0, 30.0, 60.0, 120.0, 300.0)
    probe_failures_for_hang: int = 3  # consecutive failed probes after the API was lost: a hang
    api_wait_s: float = 180.0  # after login, the API must answer within this long
    ui_hang_s: float = 20.0  # the UI thread blocked this long: a hang
    probe_client_id: int = 973  # reserved for the API probe

    # ---------------------------------------------------------------- the install and its directories
    @property
    def product(self) -> Product:
        return self.s.gateway_or_tws

    @property
    def tws_path(self) -> Path:
        return Path(self.s.tws_path).expanduser()

    @property
    def version(self) -> str | None:
        return self.s.tws_major_vrsn

    @property
    def settings_dir(self) -> Path:
        return Path(self.s.settings_path(self.mode)).expanduser()

    @property
    def run_dir(self) -> Path:
        """Agent socket, state and ready files, the JVM's console log."""
        return Path(self.s.run_dir).expanduser()

    @property
    def warm_state(self) -> Path | None:
        return Path(self.s.gateway_warm_state) if self.s.gateway_warm_state else None

    @property
    def record_dir(self) -> Path | None:
        return Path(self.s.record_windows).expanduser() / self.mode if self.s.record_windows else None

    @property
    def ready_file(self) -> Path:
        return Path(self.s.ready_file(self.mode)).expanduser()

    @property
    def agent_socket(self) -> Path:
        return self.run_dir / f"agent-{self.mode}.sock"

    @property
    def state_file(self) -> Path:
        """Where the controller publishes its state (for `ibpilot status` and the status page)."""
        return self.run_dir / f"state-{self.mode}.json"

    @property
    def console_log(self) -> Path:
        return self.run_dir / f"jvm-{self.mode}.log"

    # ---------------------------------------------------------------- this mode's login
    @property
    def username(self) -> str:
        return self.s.credentials(self.mode).userid or ""

    @property
    def password(self) -> str:
        pw = self.s.credentials(self.mode).password
        return pw.reveal() if pw else ""

    @property
    def totp_secret(self) -> str:
        return self.s.twofactor_code.reveal() if self.s.twofactor_code else ""

    @property
    def fix(self) -> bool:
        """The FIX CTCI gateway: the login frame's "FIX CTCI" API type, READY on the FIX port."""
        return self.s.fix and self.product == "gateway"

    @property
    def fix_username(self) -> str:
        return self.s.fix_userid or ""

    @property
    def fix_password(self) -> str:
        return self.s.fix_password.reveal() if self.s.fix_password else ""

    @property
    def read_only_login(self) -> bool:
        """TWS: answer the second factor with "Enter Read Only" (IBC's ReadOnlyLogin)."""
        return self.s.read_only_login and self.product == "tws"

    @property
    def tws_server(self) -> str | None:
        return self.s.server(self.mode)

    def secrets(self) -> list[str]:
        """This mode's login secrets: values that must never reach a log line."""
        return [s for s in (self.password, self.totp_secret, self.fix_password) if s]

    # ---------------------------------------------------------------- the API and its settings
    @property
    def api_port(self) -> int | None:
        """The port set explicitly for this mode (applied in the configuration dialog), else None."""
        s = self.s
        if self.mode == "paper" and s.tws_api_port_paper is not None:
            return s.tws_api_port_paper
        if s.dual and self.mode == "paper":
            return None
        return s.tws_api_port

    @property
    def effective_api_port(self) -> int:
        return self.s.api_port(self.mode)

    @property
    def precautions(self) -> dict[str, bool]:
        return {k: v for k in PRECAUTIONS if (v := getattr(self.s, k)) is not None}

    @property
    def auto_logoff_time(self) -> str | None:
        """'hh:mm AM' as Lock and Exit shows it."""
        return _ampm(self.s.auto_logoff_time)

    @property
    def auto_restart_time(self) -> str | None:
        return _ampm(self.s.auto_restart_time)

    # ---------------------------------------------------------------- recovery
    @property
    def login_stall_s(self) -> float:
        """No progress after Log In for this long: stalled (a lockout, or a server timeout)."""
        return min(self.s.login_timeout, 600.0)

    @property
    def closedown_at(self) -> tuple[time, str | None] | None:
        c = self.s.closedown_at
        return (c.at, c.day) if c else None

    @property
    def probe_interval_s(self) -> float:
        return self.s.health_probe_interval

    @property
    def probe_timeout_s(self) -> float:
        return self.s.health_probe_timeout
