"""The schema: every setting declared exactly once, as a field of `Settings` built with `var(...)`.

Each declaration gives the canonical environment name, the aliases (IBC's config.ini keys, the
gnzsnz/ib-gateway-docker, DankLab and ibg-controller names), the kind, default, group and help text.
`Settings` also answers the per-mode questions (which port, which user, which settings directory).
Reading the environment is in `load`, the rules across settings in `checks`.
"""

# `var(...)` is the dataclass field specifier (it returns `dataclasses.field`):
# ruff: noqa: RUF009
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import time as dtime
from pathlib import Path
from typing import Any, Literal

from ibpilot.settings.checks import cross_check
from ibpilot.settings.declare import Var, check_declarations, collect_vars, var
from ibpilot.settings.kinds import (
    ARGS,
    BOOL,
    DURATION,
    FALSE_WORDS,
    HOST,
    INT,
    LIST,
    PATH,
    PORT,
    PORT0,
    SECRET,
    STR,
    TIME,
    TRUE_WORDS,
    Invalid,
    Kind,
    enum_kind,
    p_base32,
    p_chat_id,
    p_dialog_rules,
    p_display_size,
    p_duration_in,
    p_host_list,
    p_int,
    p_ip,
    p_ip_list,
    p_save_settings,
    p_str,
    p_url,
    p_version,
    p_weekly,
)
from ibpilot.settings.load import process_environ, read_values
from ibpilot.settings.show import jsonable
from ibpilot.settings.system import system_errors
from ibpilot.settings.values import Credentials, DialogRule, Secret, SettingsError, WeeklyTime


def _dual_mode(value: str) -> str | None:
    v = value.strip().lower()
    if v in TRUE_WORDS:
        return "both"
    if v in FALSE_WORDS:
        return None
    return value



def _p_order_id_reset(raw: str) -> str:
    """IBC's ConfirmOrderIdReset: one word, or `<atStart>/<userInitiated>`; the user-initiated part is kept."""
    parts = [p.strip().lower() for p in raw.split("/")]
    if len(parts) > 2 or any(p not in ("confirm", "reject", "ignore") for p in parts):
        raise Invalid("each part must be confirm, reject or ignore")
    return parts[-1]


TradingMode = Literal["live", "paper"]
_BYPASS_HELP = "Precautions checkbox \"{}\"; unset leaves it as it is."

DEFAULT_API_PORTS: Mapping[str, Mapping[str, int]] = {
    "gateway": {"live": 4001, "paper": 4002},
    "tws": {"live": 7496, "paper": 7497},
}
DEFAULT_SOCAT_PORTS: Mapping[str, Mapping[str, int]] = {
    "gateway": {"live": 4003, "paper": 4004},
    "tws": {"live": 7498, "paper": 7499},
}


@dataclass(frozen=True)
class Settings:
    """The whole configuration, typed and validated. Build it with `Settings.from_env(env)`."""

    # --- credentials -------------------------------------------------------------------------------
    trading_mode: Literal["live", "paper", "both"] = var(
        "TRADING_MODE", enum_kind("live", "paper", "both"), "paper", group="credentials", example="paper",
        aliases=["TradingMode", "DUAL_MODE"], transforms={"DUAL_MODE": _dual_mode},
        help="Which account(s) to log in to. `both` runs a live and a paper Gateway side by side in one "
        "container (each with its own controller, settings directory and ports). gnzsnz's `DUAL_MODE=yes` "
        "means `both`.",
    )
    tws_userid: str | None = var(
        "TWS_USERID", STR, group="credentials", aliases=["IB_USER", "IB_ACCOUNT", "IbLoginId"],
        file_ok=True, example="",
        help="IBKR user name (live, or the only mode). Unset: nobody types it; log in by hand over VNC.",
    )
    tws_password: Secret | None = var(
        "TWS_PASSWORD", SECRET, group="credentials", aliases=["IB_PASSWORD", "IbPassword"], secret=True,
        help="Password for TWS_USERID. Prefer `TWS_PASSWORD_FILE` (a Docker/Kubernetes secret file).",
    )
    tws_userid_paper: str | None = var(
        "TWS_USERID_PAPER", STR, group="credentials", file_ok=True,
        help="User name for the paper account. Used by the paper side; unset: TWS_USERID is used.",
    )
    tws_password_paper: Secret | None = var(
        "TWS_PASSWORD_PAPER", SECRET, group="credentials", secret=True,
        help="Password for TWS_USERID_PAPER.",
    )
    fix: bool = var(
        "FIX", BOOL, False, group="credentials",
        help="Log in to the FIX CTCI gateway (the login frame's \"FIX CTCI\" API type) instead of the IB API: "
        "Gateway only, with FIX_USERID/FIX_PASSWORD; TWS_USERID/TWS_PASSWORD, when set, are the optional "
        "market data login. No API settings are applied; READY means the FIX port (TWS_API_PORT, written to "
        "jts.ini as IBC does) accepts a connection from our Gateway.",
    )
    fix_userid: str | None = var(
        "FIX_USERID", STR, group="credentials", aliases=["FIXLoginId", "FIXUSERID"], file_ok=True,
        help="FIX CTCI user name (with FIX=yes).",
    )
    fix_password: Secret | None = var(
        "FIX_PASSWORD", SECRET, group="credentials", aliases=["FIXPassword", "FIXPASSWORD"], secret=True,
        help="Password for FIX_USERID. Prefer `FIX_PASSWORD_FILE`.",
    )
    read_only_login: bool = var(
        "READ_ONLY_LOGIN", BOOL, False, group="credentials", aliases=["ReadOnlyLogin"],
        help="TWS only: answer the second factor window with \"Enter Read Only\": a read-only session "
        "(no orders) without a second factor.",
    )
    dual_mode_policy: Literal["keep-other", "stop-all"] = var(
        "DUAL_MODE_POLICY", enum_kind("keep-other", "stop-all"), "keep-other", group="credentials",
        help="With TRADING_MODE=both, when one side fails for good: `keep-other` keeps the other side "
        "running (and alerts), `stop-all` stops the container so that its restart policy acts.",
    )
    # --- gateway -----------------------------------------------------------------------------------
    gateway_or_tws: Literal["gateway", "tws"] = var(
        "GATEWAY_OR_TWS", enum_kind("gateway", "tws", synonyms={"ibgateway": "gateway"}), "gateway",
        group="gateway", help="Run IB Gateway or TWS.",
    )
    tws_path: str = var(
        "TWS_PATH", PATH, "~/Jts", group="gateway",
        help="Where Gateway/TWS is installed: the directory holding `ibgateway/<version>/` or "
        "`tws/<version>/` (IBC's default, `~/Jts`; the ibpilot image sets it explicitly).",
    )
    tws_major_vrsn: str | None = var(
        "TWS_MAJOR_VRSN", Kind("version", "digits such as `1045` (or `10.45`)", p_version),
        group="gateway", default_doc="the only version installed",
        help="Which installed version to run. Unset: the only version found under TWS_PATH (an error "
        "if there are several).",
    )
    tws_settings_path: str | None = var(
        "TWS_SETTINGS_PATH", PATH, group="gateway", default_doc="TWS_PATH",
        help="Settings directory (jts.ini, the autorestart token, per-user settings); keep it on a volume "
        "to avoid 2FA after restarts. With TRADING_MODE=both, `_live`/`_paper` is appended.",
    )
    gateway_warm_state: str | None = var(
        "GATEWAY_WARM_STATE", PATH, group="gateway",
        help="A directory copied into the settings directory before each cold start (a known-good "
        "jts.ini, `Peer=`/`SupportsSSL` cache). Must be absolute and not a system directory.",
    )
    custom_config: bool = var(
        "CUSTOM_CONFIG", BOOL, False, group="gateway",
        help="yes: never write jts.ini; use the one you mounted.",
    )
    java_heap_size: int | None = var(
        "JAVA_HEAP_SIZE", Kind("int", "megabytes, 128-65536 (no unit)", p_int(128, 65536)),
        group="gateway", default_doc="the installer's (768)",
        help="Maximum Java heap in MB (`-Xmx`).",
    )
    java_opts: tuple[str, ...] = var(
        "JAVA_OPTS", ARGS, (), group="gateway", aliases=["CUSTOM_JVM_OPTS"],
        help="Extra JVM options, e.g. `-Dsun.java2d.noddraw=true -XX:+ExitOnOutOfMemoryError`. "
        "`-D` options are kept (IBC dropped them).",
    )
    tws_server: str | None = var(
        "TWS_SERVER", HOST, group="gateway",
        help="Pin the IBKR server host (written to jts.ini `Peer=`), e.g. `ndc1.ibllc.com`.",
    )
    tws_server_paper: str | None = var(
        "TWS_SERVER_PAPER", HOST, group="gateway", default_doc="TWS_SERVER",
        help="Server host for the paper side.",
    )
    time_zone: str = var(
        "TIME_ZONE", Kind("tz", "an IANA time zone such as `America/New_York`", p_str), "Etc/UTC",
        group="gateway", aliases=["TZ"],
        help="Time zone for the Gateway (jts.ini) and for interpreting AUTO_RESTART_TIME etc.",
    )
    save_tws_settings: str | None = var(
        "SAVE_TWS_SETTINGS", Kind("schedule", "times (`hh:mm`) or `Every n mins|hours`", p_save_settings),
        group="gateway", aliases=["SaveTwsSettingsAt"],
        help="When to use File > Save Settings (TWS), as IBC's SaveTwsSettingsAt.",
    )
    login_dialog_timeout: float = var(
        "LOGIN_DIALOG_TIMEOUT", DURATION, 60.0, group="gateway", aliases=["LoginDialogDisplayTimeout"],
        help="Seconds to wait for the login window after the JVM starts before restarting it.",
    )
    login_timeout: float = var(
        "LOGIN_TIMEOUT", DURATION, 600.0, group="gateway",
        help="Seconds from pressing Log In to the API being ready (2FA included) before recovery starts.",
    )
    login_failure_limit: int = var(
        "LOGIN_FAILURE_LIMIT", Kind("int", "1-20", p_int(1, 20)), 3, group="gateway",
        help="Refused logins in a row before the controller gives up (exit 3) instead of retrying; retries "
        "wait 30 s times the failure count. IB locks an account after a few wrong passwords: keep this low.",
    )
    ibpilot_sim: bool = var(
        "IBPILOT_SIM", BOOL, False, group="gateway",
        help="yes: run ibpilot's simulated Gateway instead of IB's (demo and tests; no IBKR account).",
    )
    # --- api ---------------------------------------------------------------------------------------
    tws_api_port: int | None = var(
        "TWS_API_PORT", PORT, group="api", aliases=["OverrideTwsApiPort", "OVERRIDE_TWS_API_PORT"],
        default_doc="4001 live / 4002 paper (TWS: 7496 / 7497)",
        help="API socket port inside the container. With TRADING_MODE=both it applies to the live side.",
    )
    tws_api_port_paper: int | None = var(
        "TWS_API_PORT_PAPER", PORT, group="api", default_doc="4002 (TWS: 7497)",
        help="API socket port of the paper side.",
    )
    trusted_ips: tuple[str, ...] = var(
        "TRUSTED_IPS", Kind("list", "comma-separated IP addresses", p_ip_list), (), group="api",
        aliases=["TrustedTwsApiClientIPs", "TRUSTED_TWS_API_CLIENT_IPS"],
        help="IP addresses allowed to connect to the API without a prompt (besides 127.0.0.1).",
    )
    read_only_api: bool | None = var(
        "READ_ONLY_API", BOOL, group="api", aliases=["ReadOnlyApi"], default_doc="unchanged",
        help="The Read-Only API checkbox; unset leaves it as it is.",
    )
    tws_master_client_id: int | None = var(
        "TWS_MASTER_CLIENT_ID", INT, group="api",
        aliases=["OverrideTwsMasterClientID", "OVERRIDE_TWS_MASTER_CLIENT_ID"], default_doc="unchanged",
        help="Master API client ID.",
    )
    allow_blind_trading: bool = var(
        "ALLOW_BLIND_TRADING", BOOL, False, group="api", aliases=["AllowBlindTrading"],
        help="Accept orders for instruments without market data (the blind-trading warning).",
    )
    bypass_order_precautions: bool | None = var(
        "BYPASS_ORDER_PRECAUTIONS", BOOL, group="api", aliases=["BypassOrderPrecautions"],
        default_doc="unchanged", help=_BYPASS_HELP.format("Bypass Order Precautions for API Orders"),
    )
    bypass_bond_warning: bool | None = var(
        "BYPASS_BOND_WARNING", BOOL, group="api", aliases=["BypassBondWarning"], default_doc="unchanged",
        help=_BYPASS_HELP.format("Bypass Bond warning for API Orders"),
    )
    bypass_negative_yield_confirmation: bool | None = var(
        "BYPASS_NEGATIVE_YIELD_CONFIRMATION", BOOL, group="api",
        aliases=["BypassNegativeYieldToWorstConfirmation"], default_doc="unchanged",
        help=_BYPASS_HELP.format("Bypass negative yield to worst confirmation for API Orders"),
    )
    bypass_called_bond_warning: bool | None = var(
        "BYPASS_CALLED_BOND_WARNING", BOOL, group="api", aliases=["BypassCalledBondWarning"],
        default_doc="unchanged", help=_BYPASS_HELP.format("Bypass Called Bond warning for API Orders"),
    )
    bypass_same_action_pair_trade_warning: bool | None = var(
        "BYPASS_SAME_ACTION_PAIR_TRADE_WARNING", BOOL, group="api",
        aliases=["BypassSameActionPairTradeWarning"], default_doc="unchanged",
        help=_BYPASS_HELP.format("Bypass 'same action pair trade' warning for API orders"),
    )
    bypass_price_based_volatility_warning: bool | None = var(
        "BYPASS_PRICE_BASED_VOLATILITY_WARNING", BOOL, group="api",
        aliases=["BypassPriceBasedVolatilityRiskWarning"], default_doc="unchanged",
        help=_BYPASS_HELP.format("Bypass price-based volatility risk warning for API Orders"),
    )
    bypass_us_stocks_market_data_warning: bool | None = var(
        "BYPASS_US_STOCKS_MARKET_DATA_WARNING", BOOL, group="api",
        aliases=["BypassUSStocksMarketDataInSharesWarning"], default_doc="unchanged",
        help=_BYPASS_HELP.format("Bypass US Stocks market data in shares warning for API Orders"),
    )
    bypass_redirect_order_warning: bool | None = var(
        "BYPASS_REDIRECT_ORDER_WARNING", BOOL, group="api", aliases=["BypassRedirectOrderWarning"],
        default_doc="unchanged", help=_BYPASS_HELP.format("Bypass Redirect Order warning for Stock API Orders"),
    )
    bypass_no_overfill_protection: bool | None = var(
        "BYPASS_NO_OVERFILL_PROTECTION", BOOL, group="api",
        aliases=["BypassNoOverfillProtectionPrecaution"], default_doc="unchanged",
        help=_BYPASS_HELP.format("Bypass No Overfill Protection precaution for destinations where implied natively"),
    )
    # --- 2fa ---------------------------------------------------------------------------------------
    twofa_device: str | None = var(
        "TWOFA_DEVICE", STR, group="2fa", aliases=["SecondFactorDevice", "SECOND_FACTOR_DEVICE"],
        help="The entry to pick when IB asks which second-factor device to use (exact list text).",
    )
    twofactor_code: Secret | None = var(
        "TWOFACTOR_CODE", Kind("secret", "the base32 TOTP secret (not a 6-digit code)", p_base32),
        group="2fa", aliases=["TOTP_KEY"], secret=True,
        help="TOTP secret of an IBKR Mobile Authenticator registration; ibpilot types the current code. "
        "Unset: wait for approval on the phone (IB Key push).",
    )
    twofa_timeout_action: Literal["exit", "restart", "none"] = var(
        "TWOFA_TIMEOUT_ACTION", enum_kind("exit", "restart", "none"), "restart", group="2fa",
        help="When the second factor is not completed in time: `restart` the Gateway in place (with "
        "back-off), `exit` the controller (supervisord restarts it), or `none` (keep waiting).",
    )
    twofa_exit_interval: float = var(
        "TWOFA_EXIT_INTERVAL", DURATION, 60.0, group="2fa",
        aliases=["SecondFactorAuthenticationExitInterval"],
        help="Seconds to wait for login to complete after the second factor was accepted.",
    )
    twofa_timeout: float = var(
        "TWOFA_TIMEOUT", DURATION, 180.0, group="2fa",
        aliases=["SecondFactorAuthenticationTimeout", "SECOND_FACTOR_AUTH_TIMEOUT"],
        help="A second factor that took this long counts as timed out (IBC's rule): judged when Gateway's own "
        "second-factor window closes, then RELOGIN_AFTER_TWOFA_TIMEOUT / TWOFA_TIMEOUT_ACTION apply.",
    )
    relogin_after_twofa_timeout: bool = var(
        "RELOGIN_AFTER_TWOFA_TIMEOUT", BOOL, False, group="2fa",
        aliases=["ReloginAfterSecondFactorAuthenticationTimeout"],
        help="yes: after a 2FA timeout, log in again in the same JVM first.",
    )
    # --- dialogs -----------------------------------------------------------------------------------
    existing_session_detected_action: Literal["primary", "primaryoverride", "secondary", "manual"] = var(
        "EXISTING_SESSION_DETECTED_ACTION", enum_kind("primary", "primaryoverride", "secondary", "manual"),
        "primary", group="dialogs", aliases=["ExistingSessionDetectedAction"],
        help="When IB reports another session for this user: `primary` takes over (except from a "
        "primary session elsewhere), `primaryoverride` always takes over, `secondary` gives way, "
        "`manual` leaves the dialog to you.",
    )
    tws_accept_incoming: Literal["accept", "reject", "manual"] = var(
        "TWS_ACCEPT_INCOMING", enum_kind("accept", "reject", "manual"), "reject", group="dialogs",
        aliases=["AcceptIncomingConnectionAction", "ACCEPT_INCOMING_CONNECTION_ACTION"],
        help="API connection from an address not in TRUSTED_IPS: accept, reject (default: nobody "
        "is watching to answer), or leave the prompt (manual).",
    )
    accept_non_brokerage_warning: bool = var(
        "ACCEPT_NON_BROKERAGE_WARNING", BOOL, True, group="dialogs",
        aliases=["AcceptNonBrokerageAccountWarning"],
        help="Accept the paper-account warning (API connections fail until it is accepted).",
    )
    dismiss_password_expiry_warning: bool = var(
        "DISMISS_PASSWORD_EXPIRY_WARNING", BOOL, False, group="dialogs",
        aliases=["DismissPasswordExpiryWarning"],
        help="Dismiss the password-expiry notice (an alert is raised either way).",
    )
    dismiss_nse_compliance_notice: bool = var(
        "DISMISS_NSE_COMPLIANCE_NOTICE", BOOL, True, group="dialogs", aliases=["DismissNSEComplianceNotice"],
        help="Close the \"NSE Compliance\" notice (TWS, Indian accounts) as soon as it appears.",
    )
    show_all_trades: bool = var(
        "SHOW_ALL_TRADES", BOOL, False, group="dialogs", aliases=["ShowAllTrades"],
        help="TWS Trades window: tick every day and \"All\", and open it again when it is closed (TWS "
        "before 955; on newer TWS the window is closed, as IBC does).",
    )
    accept_bid_ask_last_size_display_update: Literal["accept", "defer", "ignore"] = var(
        "ACCEPT_BID_ASK_LAST_SIZE_DISPLAY_UPDATE", enum_kind("accept", "defer", "ignore"), "defer",
        group="dialogs", aliases=["AcceptBidAskLastSizeDisplayUpdateNotification"],
        help="The \"Bid, Ask and Last Size Display Update\" notice: `accept` (tick \"Don't display this "
        "message again.\" and dismiss), `defer` (dismiss only), `ignore` (leave it; IBC's default).",
    )
    confirm_crypto_currency_orders: Literal["transmit", "cancel", "manual"] = var(
        "CONFIRM_CRYPTO_CURRENCY_ORDERS", enum_kind("transmit", "cancel", "manual"), "manual", group="dialogs",
        aliases=["ConfirmCryptoCurrencyOrders"],
        help="The \"Cryptocurrency order confirmation\" dialog: `transmit`, `cancel`, or leave it (`manual`).",
    )
    confirm_order_id_reset: str = var(
        "CONFIRM_ORDER_ID_RESET", Kind("order-id-reset", "`confirm`, `reject` or `ignore`, or IBC's "
                                       "`<atStart>/<userInitiated>` pair of them", _p_order_id_reset),
        "ignore", group="dialogs", aliases=["ConfirmOrderIdReset"],
        help="The \"reset API order ID sequence?\" question (someone clicked Reset API order ID sequence): "
        "`confirm` (Yes), `reject` (No) or `ignore`. IBC's `a/b` form is accepted; ibpilot never resets at "
        "start, so the second part is the one used.",
    )
    bypass_warning: tuple[str, ...] = var(
        "BYPASS_WARNING", LIST, (), group="dialogs",
        help="Extra button labels that may be clicked on disclaimers, e.g. `I Agree,Proceed`. A single "
        "yes/no (gnzsnz's meaning) instead sets every BYPASS_* precaution that is not set itself.",
    )
    dialog_rules: tuple[DialogRule, ...] = var(
        "DIALOG_RULES", Kind("json", 'a JSON list of {"title": regex, "text": regex, "button": label}',
                             p_dialog_rules),
        (), group="dialogs",
        help="Rules for windows ibpilot does not know: click `button` when the title and text match. "
        'Example: `[{"title": "Prediction Markets", "button": "Close"}]`.',
    )
    # --- restart -----------------------------------------------------------------------------------
    auto_restart_time: dtime | None = var(
        "AUTO_RESTART_TIME", TIME, group="restart", aliases=["AutoRestartTime"],
        help="Gateway's daily soft restart (no 2FA) at this time, e.g. `11:45 PM` or `23:45`.",
    )
    auto_logoff_time: dtime | None = var(
        "AUTO_LOGOFF_TIME", TIME, group="restart", aliases=["AutoLogoffTime"],
        help="Gateway's daily log-off time instead of a restart (AUTO_RESTART_TIME wins if both).",
    )
    cold_restart_time: dtime | None = var(
        "COLD_RESTART_TIME", TIME, group="restart", aliases=["ColdRestartTime", "TWS_COLD_RESTART"],
        help="Every Sunday at this time: a full restart with a fresh login.",
    )
    closedown_at: WeeklyTime | None = var(
        "CLOSEDOWN_AT", Kind("time", "`HH:MM` (daily) or `<Day> HH:MM` (weekly)", p_weekly),
        group="restart", aliases=["ClosedownAt"],
        help="Shut the Gateway down tidily at this time (and stop the controller).",
    )
    # --- display -----------------------------------------------------------------------------------
    start_xvfb: bool = var(
        "START_XVFB", BOOL, True, group="display",
        help="Start an Xvfb virtual display. no: use an X server you provide on DISPLAY_NUMBER.",
    )
    display_number: int = var(
        "DISPLAY_NUMBER", Kind("int", "an X display number 0-999", p_int(0, 999)), 1, group="display",
        help="X display number (`:1`).",
    )
    display_size: str = var(
        "DISPLAY_SIZE", Kind("size", "WIDTHxHEIGHTxDEPTH, e.g. `1280x1024x24`", p_display_size),
        "1024x768x24", group="display", aliases=["VNC_SCREEN_DIMENSION"],
        help="Virtual screen size and depth.",
    )
    vnc_server_password: Secret | None = var(
        "VNC_SERVER_PASSWORD", SECRET, group="display", aliases=["VNC_PWD"], secret=True,
        help="Enables the VNC server (x11vnc). VNC never starts without a password; only the first 8 "
        "characters count (VNC protocol).",
    )
    vnc_port: int = var("VNC_PORT", PORT, 5900, group="display", help="VNC port.")
    vnc_bind: str = var(
        "VNC_BIND", Kind("ip", "an IP address", p_ip), "127.0.0.1", group="display",
        help="Address VNC listens on. The image sets 0.0.0.0 (inside a container, publishing the port is what "
        "chooses who reaches it); on a bare host it stays on this machine unless you say otherwise.",
    )
    novnc_port: int | None = var(
        "NOVNC_PORT", PORT, group="display",
        help="Serve noVNC (VNC in a browser, via websockify) on this port. Needs VNC_SERVER_PASSWORD.",
    )
    novnc_bind: str = var(
        "NOVNC_BIND", Kind("ip", "an IP address", p_ip), "127.0.0.1", group="display",
        help="Address noVNC listens on (the image sets 0.0.0.0, as for VNC_BIND).",
    )
    novnc_web: str = var(
        "NOVNC_WEB", PATH, "/usr/share/novnc", group="display", help="noVNC's web files.",
    )
    # --- socat -------------------------------------------------------------------------------------
    enable_socat: bool | None = var(
        "ENABLE_SOCAT", BOOL, group="socat", default_doc="yes, unless SSH_TUNNEL=yes",
        help="Forward SOCAT_PORT to the API port so that clients outside the container can connect "
        "(bridge networking). no: with host networking, or SSH only.",
    )
    socat_bind: str = var(
        "SOCAT_BIND", Kind("ip", "an IP address", p_ip), "127.0.0.1", group="socat",
        help="Address socat listens on. Clients arrive at the Gateway from 127.0.0.1 (trusted), so whoever "
        "reaches this port trades: the image sets 0.0.0.0 and you publish the port only where you mean to "
        "(e.g. `127.0.0.1:4001:4003` in compose); on a bare host it stays on this machine unless you say so.",
    )
    socat_listen_port: int | None = var(
        "SOCAT_PORT", PORT, group="socat", aliases=["API_PORT_EXPOSED"],
        default_doc="4003 live / 4004 paper (TWS: 7498 / 7499)",
        help="Port socat listens on for the live side (or the only side).",
    )
    socat_listen_port_paper: int | None = var(
        "SOCAT_PORT_PAPER", PORT, group="socat", default_doc="4004 (TWS: 7499)",
        help="Port socat listens on for the paper side when TRADING_MODE=both.",
    )
    # --- ssh ---------------------------------------------------------------------------------------
    ssh_tunnel: Literal["no", "yes", "both"] = var(
        "SSH_TUNNEL", enum_kind("no", "yes", "both"), "no", group="ssh",
        help="`yes`: reach the API only through an SSH reverse tunnel (no socat); `both`: tunnel and "
        "socat; `no`/empty: no tunnel.",
    )
    ssh_user_tunnel: tuple[str, ...] = var(
        "SSH_USER_TUNNEL", LIST, (), group="ssh",
        help="Comma-separated `user@host[:port]` to tunnel to; one ssh process each.",
    )
    ssh_remote_port: int | None = var(
        "SSH_REMOTE_PORT", PORT, group="ssh", default_doc="the API port",
        help="Port opened on the remote host (127.0.0.1 there) for the live (or only) API.",
    )
    ssh_remote_port_paper: int | None = var(
        "SSH_REMOTE_PORT_PAPER", PORT, group="ssh", default_doc="the paper API port",
        help="Remote port for the paper API when TRADING_MODE=both.",
    )
    ssh_vnc_port: int | None = var(
        "SSH_VNC_PORT", PORT, group="ssh", help="Also forward VNC to this remote port (when VNC runs).",
    )
    ssh_rdp_port: int | None = var(
        "SSH_RDP_PORT", PORT, group="ssh", help="Also forward local port 3389 (RDP) to this remote port.",
    )
    ssh_options: tuple[str, ...] = var(
        "SSH_OPTIONS", ARGS, (), group="ssh", help="Extra ssh arguments, e.g. `-o ProxyJump=bastion`.",
    )
    ssh_alive_interval: int = var(
        "SSH_ALIVE_INTERVAL", Kind("int", "seconds, 1-3600", p_int(1, 3600)), 20, group="ssh",
        help="ssh ServerAliveInterval.",
    )
    ssh_alive_count: int = var(
        "SSH_ALIVE_COUNT", Kind("int", "1-100", p_int(1, 100)), 3, group="ssh",
        help="ssh ServerAliveCountMax (a dead link is noticed after interval x count seconds).",
    )
    ssh_passphrase: Secret | None = var(
        "SSH_PASSPHRASE", SECRET, group="ssh", secret=True,
        help="Passphrase of the SSH key, given to ssh through SSH_ASKPASS from a 0600 file.",
    )
    ssh_restart: float = var(
        "SSH_RESTART", DURATION, 5.0, group="ssh", help="Seconds between tunnel reconnection attempts.",
    )
    ssh_known_hosts: str = var(
        "SSH_KNOWN_HOSTS", PATH, "~/.ssh/known_hosts", group="ssh",
        help="known_hosts file; keep it on a volume. New hosts are accepted once, changed keys refused.",
    )
    ssh_identity_file: str | None = var(
        "SSH_IDENTITY_FILE", PATH, group="ssh", default_doc="ssh's defaults (~/.ssh/id_*)",
        help="Private key for the tunnel.",
    )
    # --- supervisord -------------------------------------------------------------------------------
    supervisord_ui_port: int | None = var(
        "SUPERVISORD_UI_PORT", PORT, group="supervisord", help="Serve supervisord's web UI on this port.",
    )
    supervisord_ui_bind: str = var(
        "SUPERVISORD_UI_BIND", Kind("ip", "an IP address", p_ip), "127.0.0.1", group="supervisord",
        help="Address of the web UI. Anything but loopback requires SUPERVISORD_UI_USER and _PASS.",
    )
    supervisord_ui_user: str | None = var(
        "SUPERVISORD_UI_USER", STR, group="supervisord", help="Web UI user name.",
    )
    supervisord_ui_pass: Secret | None = var(
        "SUPERVISORD_UI_PASS", SECRET, group="supervisord", secret=True, help="Web UI password.",
    )
    # --- operations --------------------------------------------------------------------------------
    command_server_port: int = var(
        "COMMAND_SERVER_PORT", PORT0, 0, group="operations",
        aliases=["CommandServerPort", "CONTROLLER_COMMAND_SERVER_PORT"],
        help="IBC-compatible command server (STOP, RESTART, RECONNECTACCOUNT, ...); 0 = off. "
        "With TRADING_MODE=both the paper side uses port + 1.",
    )
    command_server_bind: str = var(
        "COMMAND_SERVER_BIND", Kind("ip", "an IP address", p_ip), "127.0.0.1", group="operations",
        aliases=["BindAddress", "BIND_ADDRESS"],
        help="Address of the command server. Beyond loopback it needs COMMAND_SERVER_TOKEN or CONTROL_FROM.",
    )
    control_from: tuple[str, ...] = var(
        "CONTROL_FROM", Kind("list", "comma-separated hosts, IPs or CIDR blocks", p_host_list), (),
        group="operations", aliases=["ControlFrom"],
        help="Allow-list of command-server clients (loopback is always allowed).",
    )
    command_server_token: Secret | None = var(
        "COMMAND_SERVER_TOKEN", SECRET, group="operations",
        aliases=["CONTROLLER_COMMAND_SERVER_AUTH_TOKEN"], secret=True,
        help="When set, a client's first line must be `AUTH <token>`.",
    )
    health_port: int = var(
        "HEALTH_PORT", PORT0, 8080, group="operations", aliases=["CONTROLLER_HEALTH_SERVER_PORT"],
        help="HTTP /health, /ready, /metrics; 0 = off. With TRADING_MODE=both the paper side uses port + 1.",
    )
    health_bind: str = var(
        "HEALTH_BIND", Kind("ip", "an IP address", p_ip), "127.0.0.1", group="operations",
        help="Address of the health server.",
    )
    controller_ready_file: str | None = var(
        "CONTROLLER_READY_FILE", PATH, group="operations", default_doc="RUN_DIR/ready-<mode>",
        help="Touched when the API is ready, removed when it is not. With TRADING_MODE=both, `_<mode>` "
        "is added before the extension.",
    )
    record_windows: str | None = var(
        "RECORD_WINDOWS", PATH, group="operations",
        help="Write every window Gateway shows as a JSON snapshot (component tree; password fields carry no "
        "text) into this directory: for bug reports about a screen ibpilot does not know, and for new recognisers.",
    )
    alert_webhook_url: Secret | None = var(
        "ALERT_WEBHOOK_URL", Kind("url", "an http(s) URL", p_url), group="operations", secret=True,
        help="POST every ALERT_* event as JSON to this URL (it often embeds a token, so it is a secret).",
    )
    health_probe_interval: float = var(
        "HEALTH_PROBE_INTERVAL", Kind("duration", "seconds, 1-3600 (also `30s`, `1m`)", p_duration_in(1, 3600)),
        10.0, group="operations",
        help="Seconds between two probes of the TWS API while it is ready (a real handshake and the "
        "current time, not just an open port).",
    )
    health_probe_timeout: float = var(
        "HEALTH_PROBE_TIMEOUT", Kind("duration", "seconds, 1-300", p_duration_in(1, 300)), 5.0,
        group="operations", help="Seconds one API probe may take before it counts as failed.",
    )
    health_probe_failures: int = var(
        "HEALTH_PROBE_FAILURES", Kind("int", "1-100", p_int(1, 100)), 1, group="operations",
        help="Failed probes in a row before the API counts as down (ready file removed, socat closed, "
        "ALERT_API_DOWN). Separate from the hang detection after a loss, which always waits for 3 failed "
        "probes in a row before restarting the Gateway.",
    )
    command_server_prompt: str | None = var(
        "COMMAND_SERVER_PROMPT", STR, group="operations", aliases=["CommandPrompt"],
        help="Prompt the command server sends when a client connects (IBC's CommandPrompt); unset: none.",
    )
    suppress_info_messages: bool = var(
        "SUPPRESS_INFO_MESSAGES", BOOL, True, group="operations", aliases=["SuppressInfoMessages"],
        help="The command server answers each command with its final reply only; no: also the "
        "informational lines in between (IBC's SuppressInfoMessages).",
    )
    telegram_bot_token: Secret | None = var(
        "TELEGRAM_BOT_TOKEN", SECRET, group="operations", secret=True,
        help="Send alerts to Telegram with this bot (the token @BotFather gives). Needs TELEGRAM_CHAT_ID.",
    )
    telegram_chat_id: str | None = var(
        "TELEGRAM_CHAT_ID", Kind("chat", "a numeric chat id (`-100...` for groups) or `@channelname`", p_chat_id),
        group="operations", help="Chat the Telegram bot writes to.",
    )
    discord_webhook_url: Secret | None = var(
        "DISCORD_WEBHOOK_URL", Kind("url", "an http(s) URL", p_url), group="operations", secret=True,
        help="Send alerts to this Discord channel webhook (the URL holds its token, so it is a secret).",
    )
    ntfy_url: Secret | None = var(
        "NTFY_URL", Kind("url", "an http(s) URL", p_url), group="operations", secret=True,
        help="Send alerts to ntfy: the full topic URL, e.g. `https://ntfy.example.com/my-ibpilot` (an "
        "unguessable topic name is its only protection, so it is a secret).",
    )
    ntfy_token: Secret | None = var(
        "NTFY_TOKEN", SECRET, group="operations", secret=True,
        help="Access token for NTFY_URL (sent as `Authorization: Bearer`), when the topic is protected.",
    )
    alert_dedup_window: float = var(
        "ALERT_DEDUP_WINDOW", Kind("duration", "seconds, 0-86400 (also `5m`, `1h`)", p_duration_in(0, 86400)),
        300.0, group="operations",
        help="The same alert (same ALERT_* name and mode) is sent to the destinations above at most once "
        "in this many seconds; the log keeps every one. 0: send each.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = var(
        "LOG_LEVEL", enum_kind("debug", "info", "warning", "error", synonyms={"warn": "warning"}), "info",
        group="operations", help="Log verbosity.",
    )
    run_dir: str = var(
        "RUN_DIR", PATH, "~/.ibpilot/run", group="operations",
        help="Private runtime directory (0700): agent sockets, secret files for VNC/ssh, ready files.",
    )
    # --- container ---------------------------------------------------------------------------------
    puid: int | None = var(
        "PUID", Kind("int", "a user id 0-4294967294", p_int(0, 4294967294)), group="container",
        help="Run the programs as this user id (when started as root).",
    )
    pgid: int | None = var(
        "PGID", Kind("int", "a group id 0-4294967294", p_int(0, 4294967294)), group="container",
        help="Group id to go with PUID.",
    )
    start_scripts: str | None = var(
        "START_SCRIPTS", PATH, group="container",
        help="Directory of `*.sh` run (in name order) before the display starts. Relative to $HOME.",
    )
    x_scripts: str | None = var(
        "X_SCRIPTS", PATH, group="container", help="Directory of `*.sh` run once the display is up.",
    )
    ibc_scripts: str | None = var(
        "IBC_SCRIPTS", PATH, group="container", help="Directory of `*.sh` run once the API is ready.",
    )
    # --- internal ----------------------------------------------------------------------------------
    ibpilot_instance: TradingMode | None = var(
        "IBPILOT_INSTANCE", enum_kind("live", "paper"), group="internal",
        help="Set by the process plan for each controller: which side of TRADING_MODE it runs.",
    )

    # Not variables: where each value came from, and non-fatal remarks.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    warnings: tuple[str, ...] = field(default=(), compare=False, repr=False)

    # ---------------------------------------------------------------------------------------------
    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, read_file: Callable[[str], str] | None = None, system: bool = False
    ) -> Settings:
        """Parse and validate `env`; raise `SettingsError` listing every problem.

        `system=True`: also what this machine lacks for it (`system_errors`: the Gateway install at
        TWS_PATH, GATEWAY_WARM_STATE), reported with the other errors.
        """
        loaded = read_values(VARS, env, read_file)
        errors = loaded.errors
        warnings: list[str] = []
        obj = cls(**loaded.values, sources=loaded.sources, warnings=())
        errors.extend(cross_check(obj, VARS_BY_ATTR, warnings, loaded.failed))
        if system:
            errors.extend(system_errors(obj, skip=loaded.failed))
        if errors:
            raise SettingsError(errors)
        return dataclasses.replace(obj, warnings=tuple(warnings))

    @classmethod
    def load(cls, *, system: bool = False) -> Settings:
        """`from_env(os.environ)`: the one place the process environment is read."""
        return cls.from_env(process_environ(), system=system)

    # --- per-mode helpers ------------------------------------------------------------------------
    def modes(self) -> list[TradingMode]:
        if self.trading_mode == "both":
            return ["live", "paper"]
        return [self.trading_mode]

    @property
    def dual(self) -> bool:
        return self.trading_mode == "both"

    @property
    def instance(self) -> TradingMode:
        """This controller's mode: IBPILOT_INSTANCE, or the only mode."""
        if self.ibpilot_instance is not None:
            return self.ibpilot_instance
        if self.dual:
            raise ValueError("TRADING_MODE=both: IBPILOT_INSTANCE says which side this controller runs")
        return self.modes()[0]

    def credentials(self, mode: TradingMode) -> Credentials:
        if mode == "paper" and self.tws_userid_paper:
            return Credentials(self.tws_userid_paper, self.tws_password_paper)
        return Credentials(self.tws_userid, self.tws_password)

    def server(self, mode: TradingMode) -> str | None:
        if mode == "paper" and self.tws_server_paper:
            return self.tws_server_paper
        return self.tws_server

    def api_port(self, mode: TradingMode) -> int:
        if mode == "paper" and self.tws_api_port_paper is not None:
            return self.tws_api_port_paper
        if self.tws_api_port is not None and (mode == "live" or not self.dual):
            return self.tws_api_port
        return DEFAULT_API_PORTS[self.gateway_or_tws][mode]

    def socat_enabled(self) -> bool:
        if self.enable_socat is not None:
            return self.enable_socat
        return self.ssh_tunnel != "yes"

    def socat_port(self, mode: TradingMode) -> int:
        if mode == "paper" and self.dual and self.socat_listen_port_paper is not None:
            return self.socat_listen_port_paper
        if mode == "paper" and not self.dual and self.socat_listen_port is None and self.socat_listen_port_paper:
            return self.socat_listen_port_paper
        if self.socat_listen_port is not None and (mode == "live" or not self.dual):
            return self.socat_listen_port
        return DEFAULT_SOCAT_PORTS[self.gateway_or_tws][mode]

    def ssh_remote_port_for(self, mode: TradingMode) -> int:
        if mode == "paper" and self.dual:
            return self.ssh_remote_port_paper or self.api_port(mode)
        return self.ssh_remote_port or self.api_port(mode)

    def settings_path(self, mode: TradingMode) -> str:
        base = (self.tws_settings_path or self.tws_path).rstrip("/") or "/"
        return f"{base}_{mode}" if self.dual else base

    def health_port_for(self, mode: TradingMode) -> int | None:
        return _mode_port(self.health_port, mode, self.dual)

    def command_server_port_for(self, mode: TradingMode) -> int | None:
        return _mode_port(self.command_server_port, mode, self.dual)

    def ready_file(self, mode: TradingMode) -> str:
        if self.controller_ready_file is None:
            return f"{self.run_dir}/ready-{mode}"
        if not self.dual:
            return self.controller_ready_file
        p = Path(self.controller_ready_file)
        return str(p.with_name(f"{p.stem}_{mode}{p.suffix}"))

    def agent_socket(self, mode: TradingMode) -> str:
        return f"{self.run_dir}/agent-{mode}.sock"

    def vnc_enabled(self) -> bool:
        return bool(self.vnc_server_password)

    def listening_ports(self) -> dict[str, int]:
        """Every TCP port something in the container listens on, by a descriptive name."""
        ports: dict[str, int] = {}
        for m in self.modes():
            ports[f"API port ({m}, {_api_port_var(self, m)})"] = self.api_port(m)
            if self.socat_enabled():
                ports[f"socat port ({m}, {'SOCAT_PORT_PAPER' if m == 'paper' and self.dual else 'SOCAT_PORT'})"] = (
                    self.socat_port(m)
                )
            hp = self.health_port_for(m)
            if hp:
                ports[f"HEALTH_PORT ({m})"] = hp
            cp = self.command_server_port_for(m)
            if cp:
                ports[f"COMMAND_SERVER_PORT ({m})"] = cp
        if self.vnc_enabled():
            ports["VNC_PORT"] = self.vnc_port
        if self.novnc_port:
            ports["NOVNC_PORT"] = self.novnc_port
        if self.supervisord_ui_port:
            ports["SUPERVISORD_UI_PORT"] = self.supervisord_ui_port
        return ports

    # --- output ----------------------------------------------------------------------------------
    def value_of(self, v: Var) -> Any:
        return getattr(self, v.attr)

    def redacted(self) -> dict[str, Any]:
        """Canonical NAME -> JSON-friendly value; secrets are `***` (or None when unset)."""
        return {v.name: jsonable(self.value_of(v)) for v in VARS}


def _mode_port(port: int, mode: str, dual: bool) -> int | None:
    if not port:
        return None
    return port + 1 if dual and mode == "paper" else port


def _api_port_var(s: Settings, mode: str) -> str:
    if mode == "paper" and s.tws_api_port_paper is not None:
        return "TWS_API_PORT_PAPER"
    if s.tws_api_port is not None and (mode == "live" or not s.dual):
        return "TWS_API_PORT"
    return "default"


VARS: tuple[Var, ...] = collect_vars(Settings)
VARS_BY_ATTR: Mapping[str, Var] = {v.attr: v for v in VARS}
VARS_BY_NAME: Mapping[str, Var] = {v.name: v for v in VARS}
check_declarations(VARS)


def all_env_names() -> Iterable[str]:
    """Every environment name ibpilot reads (for the docs and tests)."""
    for v in VARS:
        yield from v.all_names()
        yield from (f"{n}_FILE" for n in v.file_names())
