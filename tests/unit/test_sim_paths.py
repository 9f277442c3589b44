"""A relative IBPILOT_SIM_SCENARIO works: the JVM runs in the settings directory and the stack's programs
elsewhere, so a path relative to where the user started ibpilot is made absolute before it is passed on."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from ibpilot.controller.config import ControllerConfig
from ibpilot.controller.process import GatewayProcess
from ibpilot.settings import Settings
from ibpilot.stack.layout import child_environment, layout


def test_relative_scenario_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"TWS_USERID": "u", "TWS_PASSWORD": "p", "HOME": str(tmp_path), "RUN_DIR": str(tmp_path / "run"),
           "IBPILOT_SIM_SCENARIO": "scenario.json", "IBPILOT_SIM_EVENTS": "/abs/events.jsonl"}
    s = Settings.from_env(env)
    out, _ = child_environment(s, env, layout(s))
    assert out["IBPILOT_SIM_SCENARIO"] == str(tmp_path / "scenario.json")
    assert out["IBPILOT_SIM_EVENTS"] == "/abs/events.jsonl"
    gw = GatewayProcess(ControllerConfig(s, "paper"), env, logging.getLogger("t"))
    jvm_env = gw.child_env()
    assert jvm_env["IBPILOT_SIM_SCENARIO"] == os.path.join(tmp_path, "scenario.json")
    assert "TWS_PASSWORD" not in jvm_env
