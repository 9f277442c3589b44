"""`ibpilot doctor` on real conditions the tests create: an install, a taken port, an unwritable directory,
an X server that answers or not, a bad TOTP secret, known_hosts."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ibpilot.cli import main
from ibpilot.doctor_checks import x_display_answers
from ibpilot.sim.install import DEFAULT_VERSION, install
from ibpilot.stack.display import free_display
from ibpilot.testing import free_port

pytestmark = pytest.mark.integration
TOTP = "JBSWY3DPEHPK3PXP"


@pytest.fixture()
def base(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A configuration that is all fine on this machine: a simulated install, free ports, free display."""
    install(tmp_path / "Jts")
    yield {
        "TWS_PATH": str(tmp_path / "Jts"), "TWS_SETTINGS_PATH": str(tmp_path / "settings"),
        "RUN_DIR": str(tmp_path / "run"), "TRADING_MODE": "paper", "TWS_USERID": "demo",
        "TWS_PASSWORD": "pw-s3cret-value",
        "TWS_API_PORT": str(free_port()), "SOCAT_PORT": str(free_port()), "HEALTH_PORT": str(free_port()),
        "DISPLAY_NUMBER": str(free_display(500)), "HOME": str(tmp_path),
    }


def doctor(capsys: pytest.CaptureFixture[str], tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    f = tmp_path / "doctor.env"
    f.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    rc = main(["doctor", "--env-file", str(f), *args])
    out, err = capsys.readouterr()
    return rc, out + err


def lines_of(out: str, check: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln[6:].startswith(f"{check}:") or ln[6:].startswith(f"{check} (")]


def test_all_fine(capsys: pytest.CaptureFixture[str], tmp_path: Path, base: dict[str, str]) -> None:
    rc, out = doctor(capsys, tmp_path, base)
    assert rc == 0, out
    assert "FAIL" not in out
    assert f"ok    install: gateway {DEFAULT_VERSION} in " in out
    assert lines_of(out, "java")[0].startswith("ok    java: ") and re.search(r"Java (1[7-9]|[2-9]\d)", out)
    for check in ("display", "ports", "programs", "credentials", "totp", "settings directory", "RUN_DIR"):
        assert lines_of(out, check) and all(ln.startswith("ok ") for ln in lines_of(out, check)), (check, out)
    assert "s3cret" not in out  # the password is never printed


def test_problems_exit_1_each_with_its_fix(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          base: dict[str, str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        env = {**base, "TWS_API_PORT": str(port), "TWS_SETTINGS_PATH": str(blocker / "settings"),
               "TWS_PATH": str(tmp_path / "nothing-here"), "TWOFACTOR_CODE": "AAAA"}
        rc, out = doctor(capsys, tmp_path, env)
    finally:
        taken.close()
    assert rc == 1
    lines = out.splitlines()
    for check, words in (("ports", f"*:{port}"), ("install", "no gateway"),
                         ("settings directory", "is not a directory"), ("totp", "not a usable base32")):
        found = lines_of(out, check)
        assert found and found[0].startswith("FAIL") and words in found[0], (check, out)
        assert lines[lines.index(found[0]) + 1].startswith("      fix: "), (check, out)
    assert "AAAA" not in out


def test_bad_configuration_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, base: dict[str, str]) -> None:
    rc, out = doctor(capsys, tmp_path, {**base, "TWOFACTOR_CODE": "not base32 at all!", "TWS_API_PORT": "x"})
    assert rc == 2
    assert "TWOFACTOR_CODE" in out and "TWS_API_PORT" in out and "base32 at all" not in out


def test_json(capsys: pytest.CaptureFixture[str], tmp_path: Path, base: dict[str, str]) -> None:
    rc, out = doctor(capsys, tmp_path, {**base, "TWS_USERNAME": "secret-value"}, "--json")
    report = json.loads(out)
    assert rc == 0 and report["ok"] is True and report["exit"] == 0 and report["errors"] == []
    by = {c["check"]: c for c in report["checks"]}
    assert by["install"]["status"] == "ok" and set(by["install"]) == {"check", "status", "detail", "fix"}
    assert any(c["check"] == "variables" and "TWS_USERNAME" in c["detail"] for c in report["checks"])
    assert "secret-value" not in out


def test_an_x_server_of_ours_must_answer(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                         base: dict[str, str], display: str) -> None:
    assert x_display_answers(display) is None
    n = display.lstrip(":")
    rc, out = doctor(capsys, tmp_path, {**base, "START_XVFB": "no", "DISPLAY_NUMBER": n, "DISPLAY": display})
    assert rc == 0 and lines_of(out, "display")[0].startswith("ok    display: START_XVFB=no and the X server")
    nobody = str(free_display(700))
    rc, out = doctor(capsys, tmp_path, {**base, "START_XVFB": "no", "DISPLAY_NUMBER": nobody, "DISPLAY": f":{nobody}"})
    assert rc == 1 and lines_of(out, "display")[0].startswith("FAIL  display: START_XVFB=no: no X server answers")


def test_ssh_tunnel_hosts_must_be_pinned(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                         base: dict[str, str]) -> None:
    key = tmp_path / "hostkey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    known = tmp_path / "known_hosts"
    known.write_text(f"[pinned.example]:2222 {key.with_suffix('.pub').read_text().split(' ', 2)[0]} "
                     f"{key.with_suffix('.pub').read_text().split(' ', 2)[1]}\n")
    env = {**base, "SSH_TUNNEL": "yes", "SSH_USER_TUNNEL": "u@pinned.example:2222,u@other.example",
           "SSH_KNOWN_HOSTS": str(known), "SSH_IDENTITY_FILE": str(key)}
    rc, out = doctor(capsys, tmp_path, env)
    assert rc == 0, out  # unpinned hosts are warnings
    assert lines_of(out, "known_hosts")[0] == f"ok    known_hosts (pinned.example): [pinned.example]:2222 is in {known}"
    assert lines_of(out, "known_hosts")[1].startswith("warn  known_hosts (other.example): other.example is not in")
    assert "ssh-keyscan other.example >> " in out
    known.unlink()
    _, out = doctor(capsys, tmp_path, env)
    assert all(ln.startswith("warn") and "does not exist" in ln for ln in lines_of(out, "known_hosts"))
