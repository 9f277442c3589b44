"""The status page in a real browser: headless Chromium loads it from a live health server."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from ibpilot.serve.health import HealthServer
from ibpilot.serve.metrics import Metrics

pytestmark = pytest.mark.integration


def _status(now: float) -> dict[str, Any]:
    return {
        "mode": "paper", "state": "READY", "since": now - 754, "jvm_pid": 31337, "api_port": 4002,
        "probe": {"last_ok_at": now - 2, "last_at": now - 2, "latency_ms": 8.4, "error": None,
                  "interval_s": 10.0, "timeout_s": 5.0},
        "last_login_at": now - 790, "restarts": {"jvm_exited": 1}, "version": "0.1.0",
        "last_alert": {"alert": "ALERT_JVM_EXITED", "msg": "Gateway's JVM exited unexpectedly", "t": now - 840},
        "timeline": [
            {"t": now - 840, "kind": "alert", "text": "ALERT_JVM_EXITED mode=paper code=1 <script>x</script>"},
            {"t": now - 835, "kind": "transition", "text": "STATE READY -> RECOVERING on jvm_exited mode=paper"},
            {"t": now - 800, "kind": "transition", "text": "STATE RECOVERING -> STARTING on jvm_started mode=paper"},
            {"t": now - 790, "kind": "transition", "text": "STATE LOGIN -> AUTHENTICATING on login_submitted"},
            {"t": now - 754, "kind": "transition", "text": "STATE WAITING_API -> READY on api_ready mode=paper"},
        ],
        "links": {"novnc": "http://127.0.0.1:6080/vnc.html?autoconnect=1&password=hidden-vnc-pw",
                  "supervisord": "http://127.0.0.1:9001/"},
    }


def _peer(now: float) -> dict[str, Any]:
    return {"mode": "live", "state": "SECOND_FACTOR", "since": now - 41, "jvm_pid": 31400, "api_port": 4001,
            "restarts": {}, "last_alert": {"alert": "ALERT_2FA_PENDING", "msg": "approve the login on your phone",
                                           "t": now - 40},
            "timeline": [{"t": now - 40, "kind": "alert", "text": "ALERT_2FA_PENDING mode=live"}]}


class Source:
    def __init__(self) -> None:
        self.calls = 0  # one per page load (and per refresh the page's script makes)

    def status(self) -> dict[str, Any]:
        self.calls += 1
        return _status(time.time())


async def _reply(name: str) -> str:
    return f"OK {name}"


@pytest.fixture(params=["no-token", "token"])
def server(request: pytest.FixtureRequest) -> Iterator[HealthServer]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    token = "page-test-token" if request.param == "token" else None
    srv = HealthServer(Source(), Metrics("paper"), host="127.0.0.1", port=0, command=_reply if token else None,
                       command_token=token, peers=lambda: [_peer(time.time())])
    asyncio.run_coroutine_threadsafe(srv.start(), loop).result(10)
    try:
        yield srv
    finally:
        asyncio.run_coroutine_threadsafe(srv.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("chromium")
    assert exe, "Debian's chromium is not installed (scripts/install-system-deps.sh)"
    return subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", f"--user-data-dir={tmp / 'chrome'}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )


def test_status_page_in_chromium(server: HealthServer, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{server.port}/"
    source = server.source
    assert isinstance(source, Source)
    # virtual time lets the page's 5 s refresh run (a fetch the CSP must allow) before the DOM is dumped
    dom = _chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=12000", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, "\n".join(console)  # no script error, no CSP refusal
    assert source.calls >= 2, "the page did not refresh itself"
    # both modes' states, this one healthy
    assert 'data-mode="paper" data-state="READY" data-healthy="true"' in html
    assert 'data-mode="live" data-state="SECOND_FACTOR" data-healthy="false"' in html
    # the timeline, newest first, escaped
    assert "STATE WAITING_API -&gt; READY on api_ready mode=paper" in html
    assert html.index("ALERT_2FA_PENDING mode=live") < html.index("STATE WAITING_API -&gt; READY")
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x</script>" not in html
    # links, without the VNC password; Restart/Stop never without the token (a token field when one is set)
    assert 'href="http://127.0.0.1:9001/"' in html and 'href="http://127.0.0.1:6080/vnc.html?autoconnect=1"' in html
    assert "hidden-vnc-pw" not in html and "page-test-token" not in html
    assert 'data-command="' not in html
    assert ('id="unlock"' in html) == server.commands_enabled

    shot = tmp_path / "status-page.png"
    r = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,900", url)
    assert shot.exists(), r.stdout + r.stderr
    print(f"status page screenshot: {shot}")
    img = Image.open(shot).convert("RGB")
    colours = img.getcolors(maxcolors=1 << 20) or []
    green = sum(n for n, (red, g, b) in colours if g > 100 and red < 60 and b < 90)  # the READY badge
    assert len(colours) > 16 and green > 200, f"page looks empty: {shot}"
