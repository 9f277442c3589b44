#!/usr/bin/env python3
"""Record the window snapshots the simulated Gateway shows, for the recogniser unit tests.

Runs `ibpilot control` with RECORD_WINDOWS against a few scenarios and copies one snapshot per distinct
window title (the first `window_opened` of each) into tests/unit/snapshots/<scenario>/. Re-run it when the
simulator's screens change:  .venv/bin/python scripts/record-snapshots.py [scenario ...] (default: all)
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ibpilot.sim import install as sim_install
from ibpilot.testing import Xvfb, controller_env, free_port

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "unit" / "snapshots"
TOTP = "JBSWY3DPEHPK3PXP"

SCENARIOS: dict[str, tuple[dict[str, object], dict[str, str], str, float]] = {
    # name: (scenario, extra env, product, seconds to record after READY)
    "gateway-paper": ({"tip_of_the_day": True, "password_notice_days": 5, "existing_session": True,
                       "gateway_dialog": {"text": "Attempt 1: connecting to server", "hold_s": 1}},
                      {"READ_ONLY_API": "no", "AUTO_RESTART_TIME": "11:30 PM", "BYPASS_BOND_WARNING": "yes"},
                      "gateway", 3),
    "gateway-live-2fa": ({"second_factor": {"live": "totp"}, "totp_secret": TOTP,
                          "devices": [" IB Key", " Mobile Authenticator app"], "relogin_after_s": 2},
                         {"TRADING_MODE": "live", "TWOFACTOR_CODE": TOTP}, "gateway", 6),
    "gateway-push": ({"second_factor": {"live": "push"}, "push_approve_after_s": 1}, {"TRADING_MODE": "live"},
                     "gateway", 1),
    "gateway-failed": ({"user": "demo", "password": "other"}, {}, "gateway", 0),
    "tws-paper": ({}, {}, "tws", 1),
    "tws-live-2fa-in-frame": ({"second_factor": {"live": "totp"}, "totp_secret": TOTP},
                              {"TRADING_MODE": "live", "TWOFACTOR_CODE": TOTP}, "tws", 1),
    "gateway-fix": ({"second_factor": {"live": "totp"}, "totp_secret": TOTP},
                    {"TRADING_MODE": "live", "TWOFACTOR_CODE": TOTP, "FIX": "yes", "FIX_USERID": "fixer",
                     "FIX_PASSWORD": "fix-pw"}, "gateway", 1),
}


def record(name: str, scenario: dict[str, object], extra: dict[str, str], product: str, linger: float,
           display: str) -> None:
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        port = free_port()
        scenario = {"api_port": port, "step_delay_ms": 100, **scenario}
        sim_install.install(tmp / "Jts", product)  # type: ignore[arg-type]
        env = controller_env(tmp, display, scenario, port, product, RECORD_WINDOWS=str(tmp / "rec"), **extra)
        log = tmp / "ctl.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen([sys.executable, "-m", "ibpilot", "control"], env=env, stdout=fh,
                                    stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        want = "ALERT_LOGIN_FAILED" if name == "gateway-failed" else "READY mode="
        while want not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(linger + 0.5)
        proc.terminate()
        proc.wait(40)
        dest = OUT / name
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        seen: set[str] = set()
        for f in sorted((tmp / "rec").rglob("*.json")):
            win = json.loads(f.read_text())
            texts = sorted(set(re.findall(r'"text": "([^"]*)"', f.read_text())))
            key = f"{win.get('handle')}|{win.get('title')}|{texts!r}"
            if key in seen:
                continue
            seen.add(key)
            target = dest / f.name.split("-", 2)[2]
            n = 2
            while target.exists():
                target = dest / f"{target.stem.rsplit('~', 1)[0]}~{n}.json"
                n += 1
            shutil.copyfile(f, target)
        print(f"{name}: {len(seen)} snapshots")


def main() -> None:
    with Xvfb() as display:
        for name, (scen, extra, product, linger) in SCENARIOS.items():
            if len(sys.argv) < 2 or name in sys.argv[1:]:
                record(name, scen, extra, product, linger, display)


if __name__ == "__main__":
    main()
