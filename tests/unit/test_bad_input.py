"""Bad input (issue 7 §3): long values are cut, secrets are never echoed, `*_FILE` is bounded, and
check-config refuses what `run` would refuse (a TWS_PATH without an installation)."""

# Fake credentials throughout:
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ibpilot.cli import main
from ibpilot.settings import Settings, SettingsError, system_errors
from ibpilot.sim.install import install

SECRET = "correct-horse-battery"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME with a (simulated) Gateway installed at the default TWS_PATH, ~/Jts."""
    h = tmp_path / "home"
    install(h / "Jts", "gateway", "1045")
    monkeypatch.setenv("HOME", str(h))
    return h


def check(tmp_path: Path, text: str, *extra: str) -> int:
    f = tmp_path / "bad.env"
    f.write_text(text)
    return main(["check-config", *extra, "--env-file", str(f)])


def errors_of(env: dict[str, str], **kw: bool) -> tuple[str, ...]:
    with pytest.raises(SettingsError) as ei:
        Settings.from_env({"HOME": "/home/u", **env}, **kw)
    return ei.value.errors


# --- long values are cut to a prefix and their length --------------------------------------------


def test_long_invalid_value_is_cut(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = "abcdefgh" * 16384  # 128 KiB
    assert check(tmp_path, f"TRADING_MODE={big}\nTWS_USERID=bob\nTWS_PASSWORD=pw\n") == 2
    err = capsys.readouterr().err
    assert len(err) < 1000, err[:300]
    assert "TRADING_MODE='abcdefghabcdefgh…' (131072 chars): not one of the allowed values" in err


def test_long_list_item_and_alias_values_are_cut() -> None:
    item = "x" * 5000
    errs = errors_of({"TRUSTED_IPS": f"1.2.3.4,{item}", "TWS_SERVER": "a" * 300, "TZ": "b" * 201,
                      "TIME_ZONE": "Etc/UTC"})
    assert all(len(e) < 300 for e in errs), [e[:100] for e in errs]
    assert any("'xxxxxxxxxxxxxxxx…' (5000 chars) is not an IP address" in e for e in errs)
    assert any(e.startswith("TWS_SERVER='aaaaaaaaaaaaaaaa…' (300 chars): ") for e in errs)
    assert any("TZ='bbbbbbbbbbbbbbbb…' (201 chars) disagree" in e for e in errs)


def test_long_valid_value_is_cut_in_the_table(home: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    user = "u" * 4000  # within the bound of user names (4 KiB)
    assert check(tmp_path, f"TWS_USERID={user}\nTWS_PASSWORD=pw\n") == 0
    out = capsys.readouterr().out
    assert "u" * 100 not in out  # cut, whatever the length of the rest of the table
    assert out.count("uuuuuuuuuuuuuuuu… (4000 chars)") == 2  # the table and the per-mode line


# --- a secret is never echoed, even from a variable that is not a secret ---------------------------


def test_secret_in_a_plain_variable_is_not_echoed_in_errors(home: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    text = f"TWS_USERID=bob\nTWS_PASSWORD={SECRET}\nTRADING_MODE={SECRET}\nTWS_API_PORT=x{SECRET}x\n"
    assert check(tmp_path, text) == 2
    err = capsys.readouterr().err
    assert SECRET not in err
    assert "TRADING_MODE=<hidden: equals a secret>: not one of the allowed values" in err
    assert "TWS_API_PORT=<hidden: contains a secret>: not an integer" in err


def test_secret_from_a_file_is_not_echoed(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(SECRET + "\n")
    errs = errors_of({"TWS_USERID": "bob", "TWS_PASSWORD_FILE": str(pw), "LOG_LEVEL": SECRET})
    assert errs == ("LOG_LEVEL=<hidden: equals a secret>: not one of the allowed values; "
                    "expected debug | info | warning | error",)


def test_secret_in_a_plain_variable_is_not_echoed_in_the_table(home: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    text = f"TWS_USERID={SECRET}\nTWS_PASSWORD={SECRET}\nTWOFA_DEVICE=my {SECRET} phone\n"
    assert check(tmp_path, text) == 0
    out = capsys.readouterr().out
    assert SECRET not in out
    line = next(x for x in out.splitlines() if x.strip().startswith("TWS_USERID "))
    assert "<hidden: equals a secret>" in line and "[env TWS_USERID]" in line
    assert check(tmp_path, text, "--json") == 0
    out = capsys.readouterr().out
    assert SECRET not in out
    assert json.loads(out)["settings"]["TWOFA_DEVICE"] == "<hidden: contains a secret>"


# --- *_FILE is bounded ---------------------------------------------------------------------------------


def test_file_over_the_limit_is_an_error_with_the_others(tmp_path: Path) -> None:
    big = tmp_path / "user"
    big.write_text("u" * 1_048_576)
    errs = errors_of({"TWS_USERID_FILE": str(big), "TWS_PASSWORD": "pw", "TRADING_MODE": "demo"})
    assert len(errs) == 2  # and not "TWS_PASSWORD is set but TWS_USERID is not" on top
    assert errs[0].startswith("TRADING_MODE='demo'")
    assert errs[1] == (f"TWS_USERID_FILE={str(big)!r}: the file holds 1048576 bytes, more than the limit of "
                       "4096 bytes (4 KiB, plenty for a credential or token)")


def test_endless_file_is_refused_not_read(tmp_path: Path) -> None:
    errs = errors_of({"COMMAND_SERVER_TOKEN_FILE": "/dev/zero"})
    assert errs == ("COMMAND_SERVER_TOKEN_FILE='/dev/zero': the file holds more than the limit of 4096 bytes "
                    "(4 KiB, plenty for a credential or token)",)


def test_file_at_the_limit_is_fine(tmp_path: Path) -> None:
    f = tmp_path / "tok"
    f.write_text("t" * 4096 + "\n")
    s = Settings.from_env({"HOME": "/home/u", "COMMAND_SERVER_TOKEN_FILE": str(f)})
    assert s.command_server_token is not None and len(s.command_server_token.reveal()) == 4096


def test_file_that_is_not_text_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "bin"
    f.write_bytes(b"\xff\xfe\x00bad")
    errs = errors_of({"COMMAND_SERVER_TOKEN_FILE": str(f)})
    assert errs == (f"COMMAND_SERVER_TOKEN_FILE={str(f)!r}: the file is not UTF-8 text",)


# --- check-config refuses what run refuses ---------------------------------------------------------


def test_missing_install_is_an_error_of_check_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = f"TWS_PATH={tmp_path / 'nowhere'}\nTWS_USERID=bob\nTWS_PASSWORD=pw\nTWS_API_PORT=x\n"
    assert check(tmp_path, text) == 2
    err = capsys.readouterr().err
    assert "2 configuration error(s)" in err
    assert f"TWS_PATH='{tmp_path / 'nowhere'}': no gateway installation found" in err
    assert "or set IBPILOT_SIM=yes" in err
    # --config-only: the file is for another machine; the installation is not looked for.
    assert check(tmp_path, text, "--config-only") == 2
    assert "1 configuration error(s)" in capsys.readouterr().err


def test_simulator_is_installed_on_demand(tmp_path: Path) -> None:
    env = {"HOME": "/home/u", "TWS_PATH": str(tmp_path / "empty"), "IBPILOT_SIM": "yes"}
    s = Settings.from_env(env, system=True)
    assert system_errors(s) == []
    # ... but what is installed there must still be usable.
    install(tmp_path / "two", "gateway", "1037")
    install(tmp_path / "two", "gateway", "1045")
    errs = errors_of({**env, "TWS_PATH": str(tmp_path / "two")}, system=True)
    assert len(errs) == 1 and "several gateway versions" in errs[0] and "TWS_MAJOR_VRSN" in errs[0]
    assert Settings.from_env({**env, "TWS_PATH": str(tmp_path / "two"), "TWS_MAJOR_VRSN": "1045"}, system=True)


def test_install_and_warm_state_checked_together(tmp_path: Path) -> None:
    env = {"TWS_USERID": "bob", "TWS_PASSWORD": "pw", "TWS_PATH": str(tmp_path),
           "GATEWAY_WARM_STATE": str(tmp_path / "warm")}
    assert Settings.from_env(env)  # the machine is not looked at unless asked
    errs = errors_of(env, system=True)
    assert len(errs) == 2
    assert errs[0].startswith(f"TWS_PATH={str(tmp_path)!r}: no gateway installation found")
    assert errs[1].startswith(f"GATEWAY_WARM_STATE={str(tmp_path / 'warm')!r} is not a directory")


def test_invalid_install_settings_are_not_looked_for(tmp_path: Path) -> None:
    errs = errors_of({"TWS_USERID": "bob", "TWS_PASSWORD": "pw", "TWS_PATH": str(tmp_path),
                      "TWS_MAJOR_VRSN": "x"}, system=True)
    assert len(errs) == 1 and errs[0].startswith("TWS_MAJOR_VRSN='x'")


def test_secret_given_directly_is_bounded_as_its_file() -> None:
    # `run` moves it into a file that the controller reads back as TWS_PASSWORD_FILE: the same bound.
    errs = errors_of({"TWS_USERID": "bob", "TWS_PASSWORD": "p" * 5000})
    assert errs[0] == ("TWS_PASSWORD=(hidden): more than the limit of 4096 bytes (4 KiB, plenty for "
                       "a credential or token)")
    assert "p" * 20 not in " ".join(errs) and "5000" not in " ".join(errs)
    errs = errors_of({"TWS_USERID": "u" * 5000, "TWS_PASSWORD": "pw"})
    assert errs == ("TWS_USERID='uuuuuuuuuuuuuuuu…' (5000 chars): 5000 bytes, more than the limit of 4096 bytes "
                    "(4 KiB, plenty for a credential or token)",)


def test_long_unknown_dialog_rule_key_is_cut() -> None:
    rules = json.dumps([{"button": "OK", "title": "x", "k" * 10_000: 1}])
    errs = errors_of({"DIALOG_RULES": rules})
    assert len(errs) == 1 and len(errs[0]) < 400
    assert "rule 1 has unknown key(s) kkkk" in errs[0] and "…" in errs[0]
