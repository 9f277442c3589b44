"""The generated docs are up to date, and check-config behaves."""

# Fake credentials throughout:
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ibpilot import config_cli
from ibpilot.cli import main
from ibpilot.settings import VARS
from ibpilot.sim.install import install

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def home_with_gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """check-config also looks for the Gateway at TWS_PATH (default ~/Jts): give HOME a (simulated) one."""
    home = tmp_path / "home"
    install(home / "Jts", "gateway", "1045")
    monkeypatch.setenv("HOME", str(home))


@pytest.mark.parametrize(
    ("path", "render"),
    [("docs/configuration.md", config_cli.render_markdown), ("docker/.env.example", config_cli.render_env_example)],
)
def test_generated_file_is_current(path: str, render: object) -> None:
    assert callable(render)
    current = (ROOT / path).read_text(encoding="utf-8")
    assert current == render(), f"{path} is out of date; regenerate with: {config_cli.REGENERATE}"


def test_docs_mention_every_variable() -> None:
    md = config_cli.render_markdown()
    env = config_cli.render_env_example()
    for v in VARS:
        assert f"`{v.name}`" in md
        if v.group != "internal":
            assert f"{v.name}=" in env


def test_env_example_is_valid_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / ".env"
    f.write_text(config_cli.render_env_example())
    assert main(["check-config", "--env-file", str(f)]) == 0
    assert "OK: no errors." in capsys.readouterr().out


def test_check_config_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / ".env"
    f.write_text("TRADING_MODE=demo\nTWS_API_PORT=x\nTWS_USERID=bob\nTWS_PASSWORD=hunter2\n")
    assert main(["check-config", "--env-file", str(f)]) == 2
    err = capsys.readouterr().err
    assert "2 configuration error(s)" in err and "TRADING_MODE='demo'" in err and "TWS_API_PORT='x'" in err


def test_check_config_json_redacts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pw = tmp_path / "pw"
    pw.write_text("hunter2\n")
    f = tmp_path / ".env"
    f.write_text(f"TWS_USERID=bob\nTWS_PASSWORD_FILE={pw}\nVNC_PWD=vncsecret\nTRADING_MODE=both\n")
    assert main(["check-config", "--json", "--env-file", str(f)]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out and "vncsecret" not in out
    data = json.loads(out)
    assert data["ok"] is True
    assert data["settings"]["TWS_PASSWORD"] == "***"
    assert data["sources"]["TWS_PASSWORD"] == f"file TWS_PASSWORD_FILE ({pw})"
    assert data["sources"]["VNC_SERVER_PASSWORD"] == "alias VNC_PWD"
    assert data["modes"]["paper"]["api_port"] == 4002


def test_check_config_text_shows_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / ".env"
    f.write_text("IB_USER=bob\nIB_PASSWORD=hunter2\n")
    assert main(["check-config", "--env-file", str(f)]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    line = next(x for x in out.splitlines() if x.strip().startswith("TWS_USERID "))
    assert "bob" in line and "[alias IB_USER]" in line


def test_config_docs_output(tmp_path: Path) -> None:
    out = tmp_path / "c.md"
    assert main(["config-docs", "-o", str(out)]) == 0
    assert out.read_text() == config_cli.render_markdown()
