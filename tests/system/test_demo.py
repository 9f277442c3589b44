"""`ibpilot demo` (what `make demo` runs): the whole stack comes up and every endpoint it prints answers."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ibpilot.testing import kill_processes_with, wait_until

pytestmark = pytest.mark.system
REPO = Path(__file__).resolve().parents[2]


def test_demo_prints_endpoints_that_all_answer(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TERM", "USER", "LOGNAME")}
    env.update(HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO / "src"))
    out_path = tmp_path / "demo.out"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ibpilot", "demo", "--dir", str(tmp_path / "demo")], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def connect_text() -> str | None:
            t = out_path.read_text(errors="replace")
            if "Stop: Ctrl-C" in t:
                return t
            if proc.poll() is not None:
                pytest.fail(f"demo exited {proc.returncode}:\n{t}")
            return None

        text = str(wait_until(connect_text, 120, "the demo's connect text", 0.2))
        api = re.search(r"TWS API \(through socat\)\s+([\d.]+):(\d+)", text)
        health = re.search(r"health / metrics\s+(http://\S+/health)", text)
        cmd = re.search(r"command server \(IBC\)\s+([\d.]+):(\d+)\s+token (\S+)", text)
        assert api and health and cmd, text
        assert health.group(1).startswith("http://")
        with urllib.request.urlopen(health.group(1), timeout=10) as r:  # noqa: S310 - checked above
            assert r.status == 200 and json.loads(r.read())["state"] == "READY"
        with socket.create_connection((cmd.group(1), int(cmd.group(2))), timeout=10) as s:
            s.sendall(f"AUTH {cmd.group(3)}\nSTATUS\n".encode())
            s.shutdown(socket.SHUT_WR)
            reply = s.makefile().readline()
        assert reply.startswith("OK {") and '"READY"' in reply, reply
        with socket.create_connection((api.group(1), int(api.group(2))), timeout=10):
            pass
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        assert proc.wait(90) == 0, out_path.read_text()
        print(f"demo stopped in {time.monotonic() - t0:.1f}s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        kill_processes_with(str(tmp_path))
