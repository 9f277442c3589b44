"""The listener table (`stack/listeners.py`): a function of the settings, and the same as docs/network.md."""

from __future__ import annotations

import re
from pathlib import Path

from ibpilot.settings import Settings
from ibpilot.stack.listeners import ANY_ADDRESS, Listener, expected_listeners
from ibpilot.stack.plan import plan

DOC = Path(__file__).resolve().parents[2] / "docs" / "network.md"
BASE = {"HOME": "/home/ib", "TWS_USERID": "bob", "TWS_PASSWORD": "pw-live-123"}  # fake credentials
BOTH = {"TRADING_MODE": "both", "TWS_USERID_PAPER": "bobp", "TWS_PASSWORD_PAPER": "pw-paper-456"}


def table(**env: str) -> list[Listener]:
    s = Settings.from_env({**BASE, **env})
    return expected_listeners(s, plan(s))


def test_plain_paper_stack_is_the_api_and_socat_on_loopback() -> None:
    assert table(TRADING_MODE="paper", HEALTH_PORT="0") == [
        Listener("API port (paper)", "controller-paper", ANY_ADDRESS, 4002),
        Listener("socat port (paper)", "socat-paper", "127.0.0.1", 4004),
    ]


def test_every_server_is_one_line_conditional_on_its_port() -> None:
    full = table(**BOTH, HEALTH_PORT="8080",
                 HEALTH_BIND="10.0.0.5", COMMAND_SERVER_PORT="7462", COMMAND_SERVER_TOKEN="tok-111",
                 COMMAND_SERVER_BIND="0.0.0.0", VNC_SERVER_PASSWORD="vncpw789", VNC_BIND="0.0.0.0",
                 NOVNC_PORT="6080", SUPERVISORD_UI_PORT="9001")
    got = {(x.what, x.program, x.bind, x.port) for x in full}
    assert ("HEALTH_PORT (live)", "controller-live", "10.0.0.5", 8080) in got
    assert ("HEALTH_PORT (paper)", "controller-paper", "10.0.0.5", 8081) in got
    assert ("COMMAND_SERVER_PORT (paper)", "controller-paper", "0.0.0.0", 7463) in got
    assert ("VNC_PORT", "x11vnc", "0.0.0.0", 5900) in got
    assert ("NOVNC_PORT", "novnc", "127.0.0.1", 6080) in got
    assert ("SUPERVISORD_UI_PORT", "supervisord", "127.0.0.1", 9001) in got
    assert len(full) == 11
    quiet = table(**BOTH, HEALTH_PORT="0", ENABLE_SOCAT="no")
    assert [x.what for x in quiet] == ["API port (live)", "API port (paper)"]


def _doc_rows() -> dict[str, tuple[str, str]]:
    """listener -> (process, address) from docs/network.md's table."""
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] not in ("listener", "---"):
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def test_docs_say_the_same_as_the_table() -> None:
    env = dict(**BOTH, HEALTH_PORT="8080", HEALTH_BIND="10.0.0.5",
               COMMAND_SERVER_PORT="7462", COMMAND_SERVER_TOKEN="tok-111", COMMAND_SERVER_BIND="10.0.0.6",
               VNC_SERVER_PASSWORD="vncpw789", VNC_BIND="10.0.0.7", NOVNC_PORT="6080", NOVNC_BIND="10.0.0.8",
               SUPERVISORD_UI_PORT="9001", SUPERVISORD_UI_BIND="10.0.0.9", SUPERVISORD_UI_USER="u",
               SUPERVISORD_UI_PASS="ui-222", SOCAT_BIND="10.0.0.10")
    s = Settings.from_env({**BASE, **env})
    rows = _doc_rows()
    listeners = expected_listeners(s, plan(s))
    assert {x.what.split(" (")[0] for x in listeners} == set(rows), "docs/network.md lists other listeners"
    for x in listeners:
        process, address = rows[x.what.split(" (")[0]]
        mode = x.what.rpartition("(")[2].rstrip(")")
        assert f"`{x.program}`" in process.replace("<mode>", mode) or (
            x.program == f"controller-{mode}" and "JVM" in process), (x, process)
        if x.bind == ANY_ADDRESS:
            assert address.startswith("every address"), (x, address)
        else:
            (var,) = re.findall(r"`(\w+_BIND)`", address)
            assert getattr(s, var.lower()) == x.bind, (x, address)
