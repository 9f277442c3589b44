"""Settings: parsing, aliases, *_FILE secrets, all errors at once, per-mode helpers."""

# Fake credentials throughout:
from __future__ import annotations

import json
from datetime import time
from pathlib import Path

import pytest

from ibpilot.settings import (
    VARS,
    VARS_BY_NAME,
    DialogRule,
    Secret,
    Settings,
    SettingsError,
    WeeklyTime,
    all_env_names,
    ibc_time,
    parse_env_file,
)

BASE = {"HOME": "/home/u", "TWS_USERID": "bob", "TWS_PASSWORD": "pw"}


def load(**env: str) -> Settings:
    return Settings.from_env({**BASE, **env})


def errors_of(**env: str) -> tuple[str, ...]:
    with pytest.raises(SettingsError) as ei:
        Settings.from_env({**BASE, **env})
    return ei.value.errors


# --- types -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "attr", "expected"),
    [
        ({}, "trading_mode", "paper"),
        ({"TRADING_MODE": "LIVE"}, "trading_mode", "live"),
        ({"DUAL_MODE": "yes"}, "trading_mode", "both"),
        ({"DUAL_MODE": "no"}, "trading_mode", "paper"),
        ({"TradingMode": "live"}, "trading_mode", "live"),
        ({"IBC_TradingMode": "live"}, "trading_mode", "live"),
        ({"READ_ONLY_API": "yes"}, "read_only_api", True),
        ({"READ_ONLY_API": "FALSE"}, "read_only_api", False),
        ({"READ_ONLY_API": "1"}, "read_only_api", True),
        ({"ReadOnlyApi": "0"}, "read_only_api", False),
        ({}, "read_only_api", None),
        ({"READ_ONLY_API": ""}, "read_only_api", None),
        ({"AUTO_RESTART_TIME": "11:45 PM"}, "auto_restart_time", time(23, 45)),
        ({"AUTO_RESTART_TIME": "12:05 am"}, "auto_restart_time", time(0, 5)),
        ({"AUTO_RESTART_TIME": "12:00 PM"}, "auto_restart_time", time(12, 0)),
        ({"AutoRestartTime": "07:30"}, "auto_restart_time", time(7, 30)),
        ({"AUTO_LOGOFF_TIME": "23:59"}, "auto_logoff_time", time(23, 59)),
        ({"TWS_COLD_RESTART": "01:00"}, "cold_restart_time", time(1, 0)),
        ({"CLOSEDOWN_AT": "Friday 22:00"}, "closedown_at", WeeklyTime(time(22, 0), "Friday")),
        ({"CLOSEDOWN_AT": "sat 9:00"}, "closedown_at", WeeklyTime(time(9, 0), "Saturday")),
        ({"CLOSEDOWN_AT": "18:00"}, "closedown_at", WeeklyTime(time(18, 0))),
        ({"TWS_API_PORT": "4100"}, "tws_api_port", 4100),
        ({"OverrideTwsApiPort": "4100"}, "tws_api_port", 4100),
        ({"TRUSTED_IPS": "10.0.0.1, 192.168.1.2"}, "trusted_ips", ("10.0.0.1", "192.168.1.2")),
        ({"TrustedTwsApiClientIPs": "10.0.0.1"}, "trusted_ips", ("10.0.0.1",)),
        ({"JAVA_OPTS": "-Xss2m -Dfoo='a b'"}, "java_opts", ("-Xss2m", "-Dfoo=a b")),
        ({"CUSTOM_JVM_OPTS": "-Da=1"}, "java_opts", ("-Da=1",)),
        ({"VNC_SCREEN_DIMENSION": "1600x1200x16"}, "display_size", "1600x1200x16"),
        ({"DISPLAY_SIZE": "1280x1024"}, "display_size", "1280x1024x24"),
        ({}, "display_size", "1024x768x24"),
        ({"TWOFA_EXIT_INTERVAL": "2m"}, "twofa_exit_interval", 120.0),
        ({"SSH_RESTART": "10"}, "ssh_restart", 10.0),
        ({}, "twofa_exit_interval", 60.0),
        ({"TWS_MAJOR_VRSN": "10.45"}, "tws_major_vrsn", "1045"),
        ({"GATEWAY_OR_TWS": "ibgateway"}, "gateway_or_tws", "gateway"),
        ({"SSH_TUNNEL": "both", "SSH_USER_TUNNEL": "a@b.c"}, "ssh_tunnel", "both"),
        ({"SSH_USER_TUNNEL": "a@h1, b@h2:2222", "SSH_TUNNEL": "yes"}, "ssh_user_tunnel", ("a@h1", "b@h2:2222")),
        ({"TWS_SERVER": "ndc1.ibllc.com"}, "tws_server", "ndc1.ibllc.com"),
        ({"EXISTING_SESSION_DETECTED_ACTION": "primaryOverride"}, "existing_session_detected_action",
         "primaryoverride"),
        ({"LOG_LEVEL": "WARN"}, "log_level", "warning"),
        ({"TWS_PATH": "~/Jts"}, "tws_path", "/home/u/Jts"),
        ({"START_SCRIPTS": "hooks/start"}, "start_scripts", "/home/u/hooks/start"),
        ({"START_SCRIPTS": "/opt/hooks"}, "start_scripts", "/opt/hooks"),
        ({"CONTROL_FROM": "10.0.0.0/8,host.example"}, "control_from", ("10.0.0.0/8", "host.example")),
        ({"BYPASS_WARNING": "I Agree, Proceed"}, "bypass_warning", ("I Agree", "Proceed")),
        ({"DIALOG_RULES": '[{"title": "Prediction", "button": "Close"}]'}, "dialog_rules",
         (DialogRule(button="Close", title="Prediction"),)),
        ({"DIALOG_RULES": '{"text": "promo", "button": "OK"}'}, "dialog_rules", (DialogRule("OK", text="promo"),)),
    ],
)
def test_values(env: dict[str, str], attr: str, expected: object) -> None:
    assert getattr(load(**env), attr) == expected


@pytest.mark.parametrize(
    ("env", "fragments"),
    [
        ({"TRADING_MODE": "demo"}, ["TRADING_MODE='demo'", "live | paper | both"]),
        ({"READ_ONLY_API": "maybe"}, ["READ_ONLY_API='maybe'", "yes/no"]),
        ({"OverrideTwsApiPort": "70000"}, ["TWS_API_PORT (given as OverrideTwsApiPort)='70000'", "1-65535"]),
        ({"AUTO_RESTART_TIME": "25:00"}, ["AUTO_RESTART_TIME='25:00'", "hh:mm AM/PM"]),
        ({"AUTO_RESTART_TIME": "13:00 PM"}, ["AUTO_RESTART_TIME"]),
        ({"TWS_SERVER": "bad host!"}, ["TWS_SERVER='bad host!'", "host name"]),
        ({"TRUSTED_IPS": "10.0.0.1,nope"}, ["TRUSTED_IPS", "'nope' is not an IP address"]),
        ({"DISPLAY_SIZE": "big"}, ["DISPLAY_SIZE='big'", "WIDTHxHEIGHTxDEPTH"]),
        ({"DIALOG_RULES": "[{"}, ["DIALOG_RULES", "not JSON"]),
        ({"DIALOG_RULES": '[{"button": "OK"}]'}, ["rule 1 needs a \"title\" or a \"text\""]),
        ({"DIALOG_RULES": '[{"title": "(", "button": "OK"}]'}, ["rule 1 title is not a valid regex"]),
        ({"DIALOG_RULES": '[{"title": "x", "button": "OK", "click": 1}]'}, ["unknown key(s) click"]),
        ({"DIALOG_RULES": '[{"title": "x"}]'}, ["has no \"button\""]),
        ({"JAVA_HEAP_SIZE": "2g"}, ["JAVA_HEAP_SIZE='2g'", "megabytes"]),
        ({"JAVA_OPTS": "-Da='x"}, ["JAVA_OPTS", "unbalanced quotes"]),
        ({"TWOFA_EXIT_INTERVAL": "soon"}, ["TWOFA_EXIT_INTERVAL='soon'", "seconds"]),
        ({"CLOSEDOWN_AT": "Funday 10:00"}, ["CLOSEDOWN_AT"]),
        ({"SSH_TUNNEL": "yes"}, ["SSH_TUNNEL='yes' needs SSH_USER_TUNNEL"]),
        ({"SSH_TUNNEL": "yes", "SSH_USER_TUNNEL": "nouser"}, ["SSH_USER_TUNNEL entry 1 'nouser'"]),
        ({"NOVNC_PORT": "6080"}, ["NOVNC_PORT=6080 needs VNC_SERVER_PASSWORD"]),
        ({"SUPERVISORD_UI_PORT": "9001", "SUPERVISORD_UI_BIND": "0.0.0.0"}, ["SUPERVISORD_UI_BIND='0.0.0.0'"]),
        ({"SUPERVISORD_UI_PORT": "9001", "SUPERVISORD_UI_USER": "admin"}, ["set together"]),
        ({"COMMAND_SERVER_PORT": "7462", "BindAddress": "0.0.0.0"},
         ["COMMAND_SERVER_BIND (given as BindAddress)='0.0.0.0'", "COMMAND_SERVER_TOKEN"]),
        ({"HEALTH_PORT": "4002"}, ["port 4002 is used twice"]),
        ({"TRADING_MODE": "both", "SOCAT_PORT_PAPER": "4003"}, ["port 4003 is used twice"]),
        ({"GATEWAY_WARM_STATE": "/etc"}, ["GATEWAY_WARM_STATE='/etc' is a system directory"]),
        ({"GATEWAY_WARM_STATE": "warm"}, ["must be an absolute path"]),
        ({"IBPILOT_INSTANCE": "live"}, ["IBPILOT_INSTANCE='live'"]),
        ({"TWS_USERID_PAPER": "pp"}, ["TWS_USERID_PAPER is set but TWS_PASSWORD_PAPER is not"]),
    ],
)
def test_errors_name_variable_value_and_expectation(env: dict[str, str], fragments: list[str]) -> None:
    text = "\n".join(errors_of(**env))
    for frag in fragments:
        assert frag in text


def test_all_errors_reported_at_once_and_exact() -> None:
    errs = errors_of(TRADING_MODE="x", TWS_API_PORT="y", LOG_LEVEL="loud", VNC_PORT="0")
    assert len(errs) == 4
    assert [e.split("=")[0].split(" ")[0].split(":")[0] for e in errs] == [
        "TRADING_MODE", "TWS_API_PORT", "VNC_PORT", "LOG_LEVEL"]  # fmt: skip
    assert str(SettingsError(errs)).startswith("4 configuration error(s):")


def test_valid_config_has_no_errors() -> None:
    s = load()
    assert s.trading_mode == "paper" and s.warnings == ()


# --- secrets ---------------------------------------------------------------------------------------


def test_secret_never_prints() -> None:
    s = load(TWS_PASSWORD="hunter2", VNC_PWD="vncpw", TWOFACTOR_CODE="JBSWY3DPEHPK3PXP")
    assert isinstance(s.tws_password, Secret)
    for text in (repr(s), str(s), json.dumps(s.redacted()), repr(s.tws_password), f"{s.tws_password}"):
        assert "hunter2" not in text and "vncpw" not in text and "JBSWY3DP" not in text
    assert s.tws_password.reveal() == "hunter2"
    assert s.redacted()["TWS_PASSWORD"] == "***"
    assert s.redacted()["TWS_PASSWORD_PAPER"] is None
    assert s.twofactor_code is not None and s.twofactor_code.reveal() == "JBSWY3DPEHPK3PXP"


@pytest.mark.parametrize("bad", ["123456", "not base32!", "ABC1"])
def test_totp_secret_validated_without_echo(bad: str) -> None:
    errs = errors_of(TWOFACTOR_CODE=bad)
    assert len(errs) == 1 and "TWOFACTOR_CODE=(hidden)" in errs[0] and bad not in errs[0]


def test_totp_secret_normalised() -> None:
    s = load(TOTP_KEY="jbsw y3dp ehpk 3pxp")
    assert s.twofactor_code is not None and s.twofactor_code.reveal() == "JBSWY3DPEHPK3PXP"
    assert s.sources["twofactor_code"] == "alias TOTP_KEY"


def test_file_secret_strips_one_newline(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text("s3cret\n\n")
    s = Settings.from_env({"HOME": "/h", "TWS_USERID": "bob", "TWS_PASSWORD_FILE": str(f)})
    assert s.tws_password is not None and s.tws_password.reveal() == "s3cret\n"
    assert s.sources["tws_password"] == f"file TWS_PASSWORD_FILE ({f})"


@pytest.mark.parametrize("name", ["IB_PASSWORD_FILE", "TWS_PASSWORD_FILE"])
def test_file_via_alias_and_canonical(tmp_path: Path, name: str) -> None:
    f = tmp_path / "pw"
    f.write_text("abc\n")
    s = Settings.from_env({"TWS_USERID": "bob", name: str(f)})
    assert s.tws_password is not None and s.tws_password.reveal() == "abc"


def test_user_id_file(tmp_path: Path) -> None:
    f = tmp_path / "u"
    f.write_text("alice\n")
    s = Settings.from_env({"IB_USER_FILE": str(f), "IB_PASSWORD": "x"})
    assert s.tws_userid == "alice"


def test_name_and_file_both_set_is_error(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text("abc")
    errs = errors_of(TWS_PASSWORD_FILE=str(f))
    assert errs == ("TWS_PASSWORD and TWS_PASSWORD_FILE are both set; set only one",)


def test_unreadable_file_is_error() -> None:
    errs = errors_of(VNC_SERVER_PASSWORD_FILE="/nonexistent/pw")
    assert len(errs) == 1 and errs[0].startswith("VNC_SERVER_PASSWORD_FILE='/nonexistent/pw': cannot read")


def test_read_file_is_injectable() -> None:
    s = Settings.from_env({"TWS_USERID": "b", "TWS_PASSWORD_FILE": "/x"}, read_file=lambda p: f"from {p}\n")
    assert s.tws_password is not None and s.tws_password.reveal() == "from /x"


# --- aliases ---------------------------------------------------------------------------------------


def test_alias_agreeing_reports_canonical() -> None:
    s = load(TWS_API_PORT="4100", OverrideTwsApiPort="4100")
    assert s.tws_api_port == 4100 and s.sources["tws_api_port"] == "env TWS_API_PORT"


def test_alias_conflict_names_both() -> None:
    errs = errors_of(READ_ONLY_API="yes", ReadOnlyApi="no")
    assert errs == ("READ_ONLY_API: READ_ONLY_API='yes', ReadOnlyApi='no' disagree; set only one",)


def test_secret_alias_conflict_hides_values() -> None:
    errs = errors_of(VNC_SERVER_PASSWORD="aaa", VNC_PWD="bbb")
    assert len(errs) == 1 and "VNC_SERVER_PASSWORD, VNC_PWD" in errs[0]
    assert "aaa" not in errs[0] and "bbb" not in errs[0]


def test_dual_mode_conflicts_with_trading_mode() -> None:
    errs = errors_of(TRADING_MODE="live", DUAL_MODE="yes")
    assert "TRADING_MODE" in errs[0] and "DUAL_MODE" in errs[0]


def test_alias_source_recorded() -> None:
    s = load(IB_USER="carol", TWS_USERID="", TWS_PASSWORD="x")
    assert s.tws_userid == "carol" and s.sources["tws_userid"] == "alias IB_USER"


def test_bypass_warning_yes_sets_all_nine_unless_set() -> None:
    s = load(BYPASS_WARNING="yes", BypassBondWarning="no")
    bypass = {v.attr: getattr(s, v.attr) for v in VARS if v.name.startswith("BYPASS_") and v.name != "BYPASS_WARNING"}
    assert len(bypass) == 9
    assert bypass.pop("bypass_bond_warning") is False
    assert set(bypass.values()) == {True}
    assert s.bypass_warning == ()


def test_every_name_unique_and_documented() -> None:
    names = list(all_env_names())
    assert len(names) == len(set(names))
    for n in ("IB_USER", "IB_PASSWORD_FILE", "VNC_PWD", "VNC_SCREEN_DIMENSION", "ENABLE_SOCAT", "SSH_PASSPHRASE_FILE",
              "SUPERVISORD_UI_PASS", "PUID", "PGID", "TZ", "JAVA_OPTS", "BypassOrderPrecautions",
              "CONTROLLER_COMMAND_SERVER_AUTH_TOKEN", "TWOFACTOR_CODE_FILE", "SecondFactorDevice"):
        assert n in names, n
    assert all(v.help.strip() for v in VARS)


# --- warnings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"TWS_USERID": "", "TWS_PASSWORD": ""}, "no user name for paper"),
        ({"AUTO_RESTART_TIME": "23:00", "AUTO_LOGOFF_TIME": "22:00"}, "AUTO_RESTART_TIME wins"),
        ({"VNC_PWD": "123456789"}, "only the first 8"),
        ({"SSH_USER_TUNNEL": "a@b"}, "no tunnel"),
    ],
)
def test_warnings(env: dict[str, str], fragment: str) -> None:
    assert any(fragment in w for w in load(**env).warnings)


def test_sim_needs_no_credentials() -> None:
    assert Settings.from_env({"IBPILOT_SIM": "yes"}).warnings == ()


# --- per-mode helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "modes", "api", "socat"),
    [
        ({}, ["paper"], {"paper": 4002}, {"paper": 4004}),
        ({"TRADING_MODE": "live"}, ["live"], {"live": 4001}, {"live": 4003}),
        ({"TRADING_MODE": "both"}, ["live", "paper"], {"live": 4001, "paper": 4002}, {"live": 4003, "paper": 4004}),
        ({"TRADING_MODE": "both", "GATEWAY_OR_TWS": "tws"}, ["live", "paper"], {"live": 7496, "paper": 7497},
         {"live": 7498, "paper": 7499}),
        ({"TRADING_MODE": "paper", "TWS_API_PORT": "4000", "SOCAT_PORT": "4010"}, ["paper"], {"paper": 4000},
         {"paper": 4010}),
        ({"TRADING_MODE": "both", "TWS_API_PORT": "4000"}, ["live", "paper"], {"live": 4000, "paper": 4002},
         {"live": 4003, "paper": 4004}),
        ({"TRADING_MODE": "both", "TWS_API_PORT_PAPER": "4100", "SOCAT_PORT_PAPER": "4200"}, ["live", "paper"],
         {"live": 4001, "paper": 4100}, {"live": 4003, "paper": 4200}),
    ],
)
def test_ports_per_mode(env: dict[str, str], modes: list[str], api: dict[str, int], socat: dict[str, int]) -> None:
    s = load(**env)
    assert s.modes() == modes
    assert {m: s.api_port(m) for m in s.modes()} == api
    assert {m: s.socat_port(m) for m in s.modes()} == socat


def test_dual_mode_paths_ports_credentials() -> None:
    s = load(TRADING_MODE="both", TWS_USERID_PAPER="pbob", TWS_PASSWORD_PAPER="ppw", TWS_SETTINGS_PATH="/data/jts",
             COMMAND_SERVER_PORT="7462", CONTROLLER_READY_FILE="/tmp/r/ready.flag", TWS_SERVER="a.example")
    assert s.settings_path("live") == "/data/jts_live" and s.settings_path("paper") == "/data/jts_paper"
    assert s.credentials("live").userid == "bob" and s.credentials("paper").userid == "pbob"
    paper_pw = s.credentials("paper").password
    assert paper_pw is not None and paper_pw.reveal() == "ppw"
    assert (s.health_port_for("live"), s.health_port_for("paper")) == (8080, 8081)
    assert (s.command_server_port_for("live"), s.command_server_port_for("paper")) == (7462, 7463)
    assert s.ready_file("paper") == "/tmp/r/ready_paper.flag"
    assert s.server("paper") == "a.example"
    with pytest.raises(ValueError, match="IBPILOT_INSTANCE"):
        _ = s.instance
    assert load(TRADING_MODE="both", IBPILOT_INSTANCE="paper").instance == "paper"


def test_single_mode_helpers() -> None:
    s = load(TRADING_MODE="paper")
    assert s.settings_path("paper") == "/home/u/Jts"
    assert s.credentials("paper").userid == "bob"  # no paper user: the main one
    assert s.command_server_port_for("paper") is None
    assert s.ready_file("paper") == "/home/u/.ibpilot/run/ready-paper"
    assert s.instance == "paper"


@pytest.mark.parametrize(
    ("env", "enabled"),
    [({}, True), ({"ENABLE_SOCAT": "no"}, False), ({"SSH_TUNNEL": "yes", "SSH_USER_TUNNEL": "a@b"}, False),
     ({"SSH_TUNNEL": "both", "SSH_USER_TUNNEL": "a@b"}, True),
     ({"SSH_TUNNEL": "yes", "SSH_USER_TUNNEL": "a@b", "ENABLE_SOCAT": "yes"}, True)],
)
def test_socat_enabled(env: dict[str, str], enabled: bool) -> None:
    assert load(**env).socat_enabled() is enabled


def test_frozen() -> None:
    s = load()
    with pytest.raises(AttributeError):
        s.trading_mode = "live"  # type: ignore[misc]


def test_ibc_time() -> None:
    assert ibc_time(time(23, 45)) == "11:45 PM" and ibc_time(time(0, 5)) == "12:05 AM"


def test_parse_env_file() -> None:
    text = "# c\nexport A=1\nB='two words'\nC=\"q\"\n\nD=\nbad line\n"
    assert parse_env_file(text) == {"A": "1", "B": "two words", "C": "q", "D": ""}


# --- operations: health probes, command server, alert destinations ----------------------------------


def test_operations_defaults() -> None:
    s = load()
    assert (s.health_probe_interval, s.health_probe_timeout, s.health_probe_failures) == (10.0, 5.0, 1)
    assert s.command_server_prompt is None and s.suppress_info_messages is True
    assert s.alert_dedup_window == 300.0
    assert (s.telegram_bot_token, s.telegram_chat_id, s.discord_webhook_url, s.ntfy_url, s.ntfy_token) == (
        None, None, None, None, None)


def test_operations_values_and_ibc_keys(tmp_path: Path) -> None:
    tok = tmp_path / "tg"
    tok.write_text("123456:ABC-def\n")
    s = load(HEALTH_PROBE_INTERVAL="30s", HEALTH_PROBE_TIMEOUT="2", HEALTH_PROBE_FAILURES="3",
             CommandPrompt="ibc> ", IBC_SuppressInfoMessages="no", ALERT_DEDUP_WINDOW="0",
             TELEGRAM_BOT_TOKEN_FILE=str(tok), TELEGRAM_CHAT_ID="-1001234567890",
             DISCORD_WEBHOOK_URL="https://discord.example/api/webhooks/1/xyz",
             NTFY_URL="https://ntfy.example/topic-9f8e", NTFY_TOKEN_FILE=str(tok))
    assert (s.health_probe_interval, s.health_probe_timeout, s.health_probe_failures) == (30.0, 2.0, 3)
    assert s.command_server_prompt == "ibc>" and s.suppress_info_messages is False
    assert s.alert_dedup_window == 0.0
    assert s.telegram_bot_token == Secret("123456:ABC-def") and s.telegram_chat_id == "-1001234567890"
    assert s.ntfy_token == Secret("123456:ABC-def")
    red = json.dumps(s.redacted())
    assert "ABC-def" not in red and "xyz" not in red and "topic-9f8e" not in red
    assert all(VARS_BY_NAME[n].secret for n in ("TELEGRAM_BOT_TOKEN", "DISCORD_WEBHOOK_URL", "NTFY_URL", "NTFY_TOKEN"))


def test_operations_errors() -> None:
    errs = errors_of(HEALTH_PROBE_INTERVAL="0", HEALTH_PROBE_FAILURES="none", TELEGRAM_BOT_TOKEN="t",
                     NTFY_TOKEN="n", DISCORD_WEBHOOK_URL="discord.example/x", TELEGRAM_CHAT_ID="my chat")
    assert errs == (
        "HEALTH_PROBE_INTERVAL='0': out of range; expected seconds, 1-3600 (also `30s`, `1m`)",
        "HEALTH_PROBE_FAILURES='none': not an integer; expected 1-100",
        "TELEGRAM_CHAT_ID='my chat': not a Telegram chat id; expected a numeric chat id (`-100...` for groups) "
        "or `@channelname`",
        "DISCORD_WEBHOOK_URL=(hidden): not an http(s) URL; expected an http(s) URL",
        "TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID must be set together",
        "NTFY_TOKEN is set but NTFY_URL is not; set the topic URL too",
    )


def test_probe_timeout_longer_than_interval_warns() -> None:
    s = load(HEALTH_PROBE_INTERVAL="5", HEALTH_PROBE_TIMEOUT="20")
    assert any("HEALTH_PROBE_TIMEOUT=20 is longer than HEALTH_PROBE_INTERVAL=5" in w for w in s.warnings)
