"""`ibpilot convert-ibc`: IBC's config.ini read as IBC reads it, every key converted or reported, values checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from ibpilot.cli import main
from ibpilot.ibc_cli import env_value, redacted
from ibpilot.ibc_config import BY_IBC_KEY, Conversion, convert
from ibpilot.ibc_ini import IBC_KEYS, decode, parse
from ibpilot.settings import Settings, parse_env_file

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_UI = ROOT.parent / "shared" / "gateway-ui.md"
FIXTURE = ROOT / "tests" / "fixtures" / "ibc" / "config-full.ini"
PASSWORD = "pa$$w0rd #1 (ok)"


def section4_keys() -> list[str]:
    """Every config.ini key in gateway-ui.md §4 (its tables' first column)."""
    assert GATEWAY_UI.is_file(), f"{GATEWAY_UI} is missing: shared/ must sit beside the repository"
    text = GATEWAY_UI.read_text()
    section = text[text.index("## 4. config.ini settings"):text.index("## 5. Behaviours")]
    keys: list[str] = []
    for row in re.findall(r"^\| ([^|]+?) \|", section, flags=re.M):
        if row in ("Key",) or set(row) <= {"-"}:
            continue
        for k in row.split(" / "):
            if k.startswith("Bypass*"):
                bypass = [x for x in IBC_KEYS if x.startswith("Bypass")]
                assert len(bypass) == int(re.search(r"\((\d+) keys\)", k).group(1))  # type: ignore[union-attr]
                keys += bypass
            else:
                keys.append(k.strip())
    return keys


def fixture_conversion(**kw: str) -> Conversion:
    text, bom = decode(FIXTURE.read_bytes())
    return convert(text, bom=bom, **kw)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["convert-ibc", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_every_key_of_gateway_ui_is_mapped_by_an_alias_or_has_a_reason() -> None:
    keys = section4_keys()
    assert len(keys) >= 55 and "CommandServerPort" in keys and "BypassNoOverfillProtectionPrecaution" in keys
    for k in keys:
        assert k in IBC_KEYS, f"{k} of gateway-ui.md §4 is unknown to ibpilot.ibc_ini"
        mapped, reason = k in BY_IBC_KEY, IBC_KEYS[k].reason
        assert mapped != (reason is not None), f"{k}: mapped={mapped}, reason={reason!r}: exactly one of them"


def test_the_fixture_is_full_and_every_key_is_converted_or_reported() -> None:
    data = FIXTURE.read_bytes()
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")  # Windows line endings throughout
    ini = parse(decode(data)[0])
    assert set(section4_keys()) <= set(ini.entries), "the fixture must hold every key of gateway-ui.md §4"
    conv = fixture_conversion()
    assert conv.ok, conv.errors
    converted = set(conv.origin.values())
    remarked = {r.key for r in conv.remarks}
    silent = [k for k in ini.entries if k not in converted and k not in remarked]
    assert silent == []
    # Each reported key of the file says why, with its line.
    for k in ini.entries:
        if k not in converted:
            assert any(r.key == k and r.line == ini.entries[k].line and len(r.text) > 10 for r in conv.remarks), k


def test_the_fixture_values_are_translated() -> None:
    env = fixture_conversion().env
    assert env["TWS_USERID"] == "jdoe123"
    assert env["TWS_PASSWORD"] == PASSWORD  # blanks around `=` skipped, the rest kept
    assert env["LOGIN_DIALOG_TIMEOUT"] == "75"  # leading blanks and `   =   `
    assert env["TRADING_MODE"] == "paper"
    assert env["TWS_API_PORT"] == "4002"
    assert env["SAVE_TWS_SETTINGS"] == "Every 30 mins 08:00 17:30"  # IBC's unit-less `Every 30` is minutes
    assert env["COMMAND_SERVER_PORT"] == "7462" and env["COMMAND_SERVER_BIND"] == "0.0.0.0"
    assert env["TWS_ACCEPT_INCOMING"] == "reject"
    assert "TWS_SETTINGS_PATH" not in env and "BYPASS_CALLED_BOND_WARNING" not in env
    s = Settings.from_env(env)
    assert s.bypass_negative_yield_confirmation is False and s.bypass_order_precautions is True
    assert s.trusted_ips == ("127.0.0.1", "172.17.0.1")
    assert str(s.closedown_at) == "Friday 22:30"


def test_secrets_are_redacted_unless_asked(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, str(FIXTURE))
    assert rc == 0
    assert "TWS_PASSWORD=<redacted: pass with --show-secrets or use TWS_PASSWORD_FILE>" in out.splitlines()
    assert "w0rd" not in out + err
    rc, out, _ = run(capsys, str(FIXTURE), "--show-secrets")
    assert rc == 0 and f"TWS_PASSWORD='{PASSWORD}'" in out.splitlines()


def test_env_output_reads_back_the_same(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "ibpilot.env"
    rc, out, _ = run(capsys, str(FIXTURE), "--show-secrets", "-o", str(target))
    assert rc == 0 and out == "" and target.stat().st_mode & 0o777 == 0o600
    back = parse_env_file(target.read_text())
    assert back == fixture_conversion().env
    assert main(["check-config", "--config-only", "--env-file", str(target)]) == 0


def test_compose_output_is_yaml_and_round_trips(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, str(FIXTURE), "--format", "compose", "--show-secrets")
    assert rc == 0
    doc = YAML(typ="safe").load(out)
    env = {k: v.replace("$$", "$") for k, v in doc["environment"].items()}  # compose's `$$` escape
    assert env == fixture_conversion().env
    s = Settings.from_env(env)
    assert s.tws_password is not None and s.tws_password.reveal() == PASSWORD
    assert s == Settings.from_env(fixture_conversion().env)
    rc, out, _ = run(capsys, str(FIXTURE), "--format", "compose")
    redacted_env = YAML(typ="safe").load(out)["environment"]
    assert redacted_env["TWS_PASSWORD"] == redacted("TWS_PASSWORD")


def test_invalid_values_exit_2_and_name_every_problem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "config.ini"
    bad.write_text("IbLoginId=me\nIbPassword=secret-pw\nExistingSessionDetectedAction=primry\n"
                   "OverrideTwsApiPort=99999\nAutoRestartTime=25:00 PM\nTradingMode=demo\n"
                   "ControlFrom=bad host!\nTrustedTwsApiClientIPs=10.0.0.300\n")
    target = tmp_path / "out.env"
    rc, out, err = run(capsys, str(bad), "-o", str(target))
    assert rc == 2 and out == "" and not target.exists()
    for name in ("EXISTING_SESSION_DETECTED_ACTION", "TWS_API_PORT", "AUTO_RESTART_TIME", "TradingMode=demo",
                 "CONTROL_FROM", "TRUSTED_IPS"):
        assert name in err, name
    assert "[config.ini: OverrideTwsApiPort, line 4]" in err
    assert "secret-pw" not in err
    assert "6 error(s)" in err


def test_fix_gateway_and_read_only_login_are_converted() -> None:
    conv = convert("FIX=yes\nFIXLoginId=fixuser\nFIXPassword=fixpw\nTradingMode=live\nReadOnlyLogin=no\n")
    assert conv.errors == []
    assert conv.env["FIX"] == "yes" and conv.env["FIX_USERID"] == "fixuser" and conv.env["FIX_PASSWORD"] == "fixpw"
    assert conv.env["READ_ONLY_LOGIN"] == "no"
    assert not any("fixpw" in r.text for r in conv.remarks)
    bad = convert("FIX=yes\nFIXLoginId=fixuser\n")
    assert any("FIX_PASSWORD" in e for e in bad.errors)


def test_ibc_parsing_quirks() -> None:
    text = ("\ufeffIbLoginId=u1\r\n"
            "IbPassword pw with spaces\r\n"          # a blank separates key and value
            "! a comment in Java's other style\r\n"
            "CommandServerPort=7462 \r\n"            # IBC's getInt does not trim: ignored
            "ControlFrom=10.0.0.1,\\\r\n"            # a continued line
            "    10.0.0.2\r\n"
            "CommandPrompt=C:\\\\ibc>\r\n"           # `\\` is one backslash
            "TradingMode=live\r\nTradingMode=paper\r\n"
            "tradingmode=live\r\n"
            "SecondFactorDevise=IB Key\r\n"
            "[Settings]\r\n")
    conv = convert(text)
    env = conv.env
    assert env["TWS_USERID"] == "u1" and env["TWS_PASSWORD"] == "pw with spaces"
    assert "COMMAND_SERVER_PORT" not in env
    assert env["CONTROL_FROM"] == "10.0.0.1,10.0.0.2"
    assert env["COMMAND_SERVER_PROMPT"] == "C:\\ibc>"
    assert env["TRADING_MODE"] == "paper"
    texts = {(r.key, r.level): r.text for r in conv.remarks}
    assert "byte-order mark" in texts[("", "warning")]
    assert "blank at the end" in texts[("CommandServerPort", "warning")]
    assert "last one counts" in texts[("TradingMode", "warning")]
    assert "case-sensitive" in texts[("tradingmode", "warning")]
    assert "did you mean SecondFactorDevice?" in texts[("SecondFactorDevise", "warning")]
    assert any("[Settings]" in r.text for r in conv.remarks)
    assert conv.ok, conv.errors


def test_ibc_semantics_are_translated() -> None:
    conv = convert("ExitAfterSecondFactorAuthenticationTimeout=yes\nReadOnlyApi=maybe\nOverrideTwsApiPort=0\n"
                   "SaveTwsSettingsAt=Every 90\nCommandServerPort=7462\nBindAddress=\nSuppressInfoMessages=1\n")
    env = conv.env
    assert env["RELOGIN_AFTER_TWOFA_TIMEOUT"] == "yes"  # the deprecated key stands in for the blank new one
    assert env["READ_ONLY_API"] == "yes"  # IBC: anything but yes/no is yes
    assert "TWS_API_PORT" not in env  # 0 = leave the port as it is
    assert env["SAVE_TWS_SETTINGS"] == "Every 90 mins"
    assert env["TRADING_MODE"] == "live"  # IBC's default, written because ibpilot's is paper
    assert "SUPPRESS_INFO_MESSAGES" not in env  # IBC's getBoolean ignored `1`
    by_key = {r.key: r.text for r in conv.remarks}
    assert "every address" in by_key["BindAddress"]
    assert "ReloginAfterSecondFactorAuthenticationTimeout" not in by_key  # re-login is on: nothing to say
    assert "IBC used manual" in by_key["ExistingSessionDetectedAction"]
    assert "IBC used manual" in by_key["AcceptIncomingConnectionAction"]
    assert conv.ok, conv.errors


def test_mode_overrides_trading_mode_and_a_missing_password_is_not_an_error() -> None:
    conv = convert("IbLoginId=me\nTradingMode=live\n", mode="paper")
    assert conv.ok, conv.errors
    assert conv.env["TRADING_MODE"] == "paper" and "TWS_PASSWORD" not in conv.env
    assert any(r.key == "IbPassword" and "TWS_PASSWORD_FILE" in r.text for r in conv.remarks)


def test_env_values_are_quoted_only_when_needed() -> None:
    assert env_value("Every 30 mins") == "Every 30 mins"
    assert env_value("a$b") == "'a$b'"
    assert env_value("it's") == '"it\'s"'
    with pytest.raises(ValueError):
        env_value("it's $HOME")
    for v in ("plain", "a$b #c", "it's"):
        assert parse_env_file(f"X={env_value(v)}\n") == {"X": v}


def test_two_factor_timeout_and_bind_address_semantics() -> None:
    conv = convert("ReloginAfterSecondFactorAuthenticationTimeout=no\nCommandServerPort=7462\nBindAddress=localhost\n")
    assert conv.env["COMMAND_SERVER_BIND"] == "127.0.0.1"
    by_key = {r.key: r.text for r in conv.remarks}
    assert "TWOFA_TIMEOUT_ACTION=none" in by_key["ReloginAfterSecondFactorAuthenticationTimeout"]
    assert conv.ok, conv.errors
