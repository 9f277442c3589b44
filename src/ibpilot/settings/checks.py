"""Rules across settings (user without password, exposed servers without a login, ports used twice, ...):
`cross_check` returns every error and adds the non-fatal remarks to `warnings`."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

from ibpilot.net.tunnel import parse_destination
from ibpilot.settings.declare import Var
from ibpilot.settings.load import display_name
from ibpilot.settings.show import echo, secrets_of

if TYPE_CHECKING:
    from ibpilot.settings.schema import Settings

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
# Settings written into supervisord.conf by `ibpilot run` (paths, ssh options, the web UI's user).
CONF_VALUES = ("run_dir", "start_scripts", "x_scripts", "ibc_scripts", "novnc_web", "ssh_known_hosts",
               "ssh_identity_file", "ssh_options", "supervisord_ui_user")
SYSTEM_DIRS = {"/", "/etc", "/root", "/home", "/var", "/usr", "/tmp", "/bin", "/lib", "/opt"}


def conf_unsafe(text: str) -> bool:
    """True when supervisord's reader would change `text`: a line break ends the value, and `;` or `#`
    after whitespace starts an inline comment (there is no way to escape either)."""
    return "\n" in text or "\r" in text or any(c in ";#" and text[i - 1].isspace() for i, c in enumerate(text) if i)


def cross_check(
    s: Settings, by_attr: Mapping[str, Var], warnings: list[str], failed: Collection[str] = ()
) -> list[str]:
    """Every error that needs more than one setting to see; remarks go to `warnings`.

    `failed`: attributes whose value was refused (already an error): no second error about them missing.
    """
    errors: list[str] = []
    src = s.sources
    secrets = secrets_of(s)

    def named(attr: str) -> str:
        v = by_attr[attr]
        where = src.get(attr, "default")
        used = where.split(" ", 1)[1] if " " in where else v.name
        return display_name(v, used.split(" ")[0])

    for user, pw in (("tws_userid", "tws_password"), ("tws_userid_paper", "tws_password_paper")):
        if user in failed or pw in failed:
            continue
        if getattr(s, user) and not getattr(s, pw):
            errors.append(f"{named(user)} is set but {by_attr[pw].name} is not; set both "
                          f"(or {by_attr[pw].name}_FILE)")
        if getattr(s, pw) and not getattr(s, user):
            errors.append(f"{named(pw)} is set but {by_attr[user].name} is not; set both")
    if s.fix:
        if s.gateway_or_tws != "gateway":
            errors.append(f"{named('fix')}=yes needs GATEWAY_OR_TWS=gateway: FIX CTCI is a mode of IB Gateway's login")
        if "fix_userid" not in failed and not s.fix_userid:
            errors.append(f"{named('fix')}=yes needs FIX_USERID (the FIX CTCI user name)")
        if "fix_password" not in failed and not s.fix_password:
            errors.append(f"{named('fix')}=yes needs FIX_PASSWORD (or FIX_PASSWORD_FILE)")
        if s.dual:
            errors.append(f"{named('fix')}=yes with TRADING_MODE=both: one FIX CTCI gateway logs in to one account")
        if s.trading_mode == "paper":
            warnings.append("FIX=yes with TRADING_MODE=paper: IBKR's paper accounts do not take FIX (FIX is "
                            "tested in IB's QA system)")
    elif s.fix_userid or s.fix_password:
        warnings.append("FIX_USERID/FIX_PASSWORD are set but FIX is not yes: they are not used")
    if s.read_only_login and s.gateway_or_tws != "tws":
        errors.append(f"{named('read_only_login')}=yes is for TWS only (Gateway has no read-only login; IBC "
                      "ignores it there); set GATEWAY_OR_TWS=tws or READ_ONLY_LOGIN=no")
    if not s.ibpilot_sim and not s.fix:
        for m in s.modes():
            if not s.credentials(m).userid:
                warnings.append(f"no user name for {m} (TWS_USERID): nobody will log in; do it by hand "
                                "over VNC")
    if s.ibpilot_instance is not None and s.ibpilot_instance not in s.modes():
        errors.append(f"IBPILOT_INSTANCE={s.ibpilot_instance!r} is not one of TRADING_MODE="
                      f"{s.trading_mode!r}'s modes; expected {' or '.join(s.modes())}")
    if s.supervisord_ui_port:
        if bool(s.supervisord_ui_user) != bool(s.supervisord_ui_pass):
            errors.append("SUPERVISORD_UI_USER and SUPERVISORD_UI_PASS must be set together")
        elif s.supervisord_ui_bind not in LOOPBACK and not s.supervisord_ui_user:
            errors.append(f"{named('supervisord_ui_bind')}={s.supervisord_ui_bind!r} exposes the "
                          "supervisord UI beyond this machine without a login; set SUPERVISORD_UI_USER and "
                          "SUPERVISORD_UI_PASS, or bind 127.0.0.1")
    if (s.command_server_port and s.command_server_bind not in LOOPBACK
            and not s.command_server_token and not s.control_from):
        errors.append(f"{named('command_server_bind')}={s.command_server_bind!r} opens the command "
                      "server beyond this machine to anyone; set COMMAND_SERVER_TOKEN or CONTROL_FROM, "
                      "or bind 127.0.0.1")
    if s.novnc_port and not s.vnc_enabled():
        errors.append(f"{named('novnc_port')}={s.novnc_port} needs VNC_SERVER_PASSWORD (VNC never "
                      "starts without a password)")
    if s.ssh_vnc_port and not s.vnc_enabled():
        warnings.append("SSH_VNC_PORT is set but VNC is off (no VNC_SERVER_PASSWORD): not forwarded")
    if s.vnc_server_password and len(s.vnc_server_password.reveal()) > 8:
        warnings.append("VNC_SERVER_PASSWORD is longer than 8 characters; VNC uses only the first 8")
    if s.ssh_tunnel != "no" and not s.ssh_user_tunnel:
        errors.append(f"SSH_TUNNEL={s.ssh_tunnel!r} needs SSH_USER_TUNNEL (user@host)")
    if s.ssh_tunnel == "no" and s.ssh_user_tunnel:
        warnings.append("SSH_USER_TUNNEL is set but SSH_TUNNEL is not yes/both: no tunnel")
    for i, dest in enumerate(s.ssh_user_tunnel):
        try:
            parse_destination(dest)
        except ValueError:
            errors.append(f"SSH_USER_TUNNEL entry {i + 1} {echo(dest, secrets)} is not user@host[:port]")
    if s.ssh_passphrase and s.ssh_tunnel == "no":
        warnings.append("SSH_PASSPHRASE is set but SSH_TUNNEL is not yes/both")
    if bool(s.telegram_bot_token) != bool(s.telegram_chat_id):
        errors.append("TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID must be set together")
    if s.ntfy_token and not s.ntfy_url:
        errors.append("NTFY_TOKEN is set but NTFY_URL is not; set the topic URL too")
    if s.health_probe_timeout > s.health_probe_interval:
        warnings.append(f"HEALTH_PROBE_TIMEOUT={s.health_probe_timeout:g} is longer than HEALTH_PROBE_INTERVAL="
                        f"{s.health_probe_interval:g}: a probe may still be running when the next one is due")
    if s.auto_restart_time and s.auto_logoff_time:
        warnings.append("AUTO_RESTART_TIME and AUTO_LOGOFF_TIME are both set; AUTO_RESTART_TIME wins")
    if s.socat_enabled() is False and s.ssh_tunnel == "no" and s.enable_socat is False:
        warnings.append("ENABLE_SOCAT=no and no SSH tunnel: the API is reachable only inside the "
                        "container (fine with host networking)")
    if s.gateway_warm_state is not None:
        w = s.gateway_warm_state.rstrip("/") or "/"
        if not w.startswith("/"):
            errors.append(f"{named('gateway_warm_state')}={echo(s.gateway_warm_state, secrets)} must be an absolute "
                          "path")
        elif w in SYSTEM_DIRS:
            errors.append(f"{named('gateway_warm_state')}={echo(s.gateway_warm_state, secrets)} is a system "
                          "directory; "
                          "expected a directory of its own")
    for attr in CONF_VALUES:  # `ibpilot run` writes these into supervisord.conf
        value = getattr(s, attr)
        for text in value if isinstance(value, tuple) else (value,) if value else ():
            if conf_unsafe(text):
                errors.append(f"{named(attr)}={echo(text, secrets)} cannot hold a line break, or ';' or '#' after "
                              "a space (supervisord.conf would end the value there)")
    seen: dict[int, str] = {}
    for what, port in s.listening_ports().items():
        if port in seen:
            errors.append(f"port {port} is used twice: {seen[port]} and {what}")
        else:
            seen[port] = what
    return errors
