"""The instance's event handling without a JVM: events fed in as the agent would send them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ibpilot.controller.config import ControllerConfig
from ibpilot.controller.instance import Instance
from ibpilot.controller.machine import State
from ibpilot.settings import Settings


def _instance(tmp_path: Path) -> Instance:
    env = {"TWS_USERID": "u", "TWS_PASSWORD": "p", "TRADING_MODE": "paper", "TWS_PATH": str(tmp_path / "Jts"),
           "RUN_DIR": str(tmp_path / "run"), "HOME": str(tmp_path)}
    return Instance(ControllerConfig(Settings.from_env(env), "paper"), env={})


def test_a_splash_closed_before_it_was_seen_open_still_completes_the_login(tmp_path: Path) -> None:
    async def go() -> Instance:
        inst = _instance(tmp_path)
        inst.state = State.AUTHENTICATING
        await inst.on_closed("w7", "Something else closed")  # unknown, unrelated: nothing
        assert not inst.login_complete and inst.state is State.AUTHENTICATING
        await inst.on_closed("w8", "Starting application...")  # the agent's "unseen" close of the splash
        for t in list(inst.tasks):
            t.cancel()
        await asyncio.gather(*inst.tasks, return_exceptions=True)
        return inst

    inst = asyncio.run(go())
    assert inst.login_complete and inst.state is State.CONFIGURING
