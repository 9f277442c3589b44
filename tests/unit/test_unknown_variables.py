"""check-config names variables that are not ibpilot's but look like one of its names (never their values)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ibpilot.cli import main
from ibpilot.settings.unknown import unknown_variables

SECRET = "hunter2-do-not-print"


def test_names_close_to_ours_are_reported_with_a_suggestion() -> None:
    env = {"TWS_USERNAME": SECRET, "TWS_PASWORD": SECRET, "TRADNG_MODE": "paper", "VNC_PASSWORD": SECRET,
           "ReadOnlyAPI": "yes", "tws_userid": "me", "TWOFA_DEVICE_FILE": "/run/secrets/x",
           "IB_PASS": SECRET, "HEALTH_PROT": "8080"}
    got = unknown_variables(env)
    assert got == [
        "unknown variable HEALTH_PROT: did you mean HEALTH_PORT?",
        "unknown variable IB_PASS: did you mean IB_PASSWORD (an alias of TWS_PASSWORD)?",
        "unknown variable ReadOnlyAPI: names are case-sensitive; did you mean ReadOnlyApi (an alias of "
        "READ_ONLY_API)?",
        "unknown variable TRADNG_MODE: did you mean TRADING_MODE?",
        "unknown variable TWOFA_DEVICE_FILE: TWOFA_DEVICE cannot be read from a file; set it directly",
        "unknown variable TWS_PASWORD: did you mean TWS_PASSWORD?",
        "unknown variable TWS_USERNAME: did you mean TWS_USERID?",
        "unknown variable VNC_PASSWORD: did you mean VNC_SERVER_PASSWORD?",
        "unknown variable tws_userid: names are case-sensitive; did you mean TWS_USERID?",
    ]
    assert SECRET not in "".join(got)


def test_unrelated_and_declared_names_are_not_reported() -> None:
    env = {"PATH": "/usr/bin", "HOME": "/root", "DISPLAY": ":1", "HOSTNAME": "box", "SSH_AUTH_SOCK": "/tmp/a",
           "JAVA_HOME": "/usr/lib/jvm", "LC_ALL": "C", "CI": "true", "PYTHONPATH": "x", "SHLVL": "1",
           "TWS_USERID": "me", "TWS_PASSWORD_FILE": "/run/secrets/pw", "IBC_ReadOnlyApi": "yes", "TZ": "UTC",
           "TERM": "xterm", "VIRTUAL_ENV": "/v", "KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    assert unknown_variables(env) == []


def test_check_config_prints_them_as_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / ".env"
    f.write_text(f"TRADING_MODE=paper\nTWS_USERNAME={SECRET}\nPATH=/usr/bin\n")
    assert main(["check-config", "--config-only", "--env-file", str(f)]) == 0
    out = capsys.readouterr().out
    assert "  - unknown variable TWS_USERNAME: did you mean TWS_USERID?" in out.splitlines()
    assert SECRET not in out and "PATH" not in out.split("Warnings:")[1]
    assert main(["check-config", "--config-only", "--json", "--env-file", str(f)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "unknown variable TWS_USERNAME: did you mean TWS_USERID?" in report["warnings"]
    # Also beside the errors of a configuration that does not load.
    f.write_text(f"TRADING_MODE=sometimes\nTWS_USERNAME={SECRET}\n")
    assert main(["check-config", "--config-only", "--env-file", str(f)]) == 2
    err = capsys.readouterr().err
    assert "TRADING_MODE" in err and "unknown variable TWS_USERNAME" in err and SECRET not in err
