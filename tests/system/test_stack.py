"""One paper stack with everything on (VNC, noVNC, supervisord UI, socat), looked at from outside."""

from __future__ import annotations

import base64
import http.server
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import RunningStack, StackFactory, accepts, listening_sockets, refused
from ib_async import IB
from PIL import Image

from ibpilot.settings import Settings
from ibpilot.stack.listeners import ANY_ADDRESS, expected_listeners
from ibpilot.stack.plan import plan
from ibpilot.testing import descendants, free_port, wait_until

pytestmark = [pytest.mark.system, pytest.mark.timeout(240)]

VNC_PW = "Vnc7pw42"
VNCDOTOOL = str(Path(sys.executable).parent / "vncdotool")
UI_USER, UI_PASS = "admin", "Ui-pass-9f3k2"


@dataclass
class Full:
    stack: RunningStack
    probes_before_ready: list[bool]  # socat port refused? sampled until the ready file appeared


@pytest.fixture(scope="module")
def full(stacks: StackFactory) -> Full:
    st = stacks(
        {"connect_delay_s": 3},
        start=False,
        VNC_SERVER_PASSWORD=VNC_PW,
        VNC_BIND="127.0.0.1",
        DISPLAY_SIZE="1280x900x24",
    )
    st.env.update(
        VNC_PORT=str(st.ports["vnc"]),
        NOVNC_PORT=str(st.ports["novnc"]),
        NOVNC_BIND="127.0.0.1",
        SUPERVISORD_UI_PORT=str(st.ports["ui"]),
        SUPERVISORD_UI_USER=UI_USER,
        SUPERVISORD_UI_PASS=UI_PASS,
        HEALTH_PORT=str(free_port()),
        COMMAND_SERVER_PORT=str(free_port()),
    )
    st.start()
    probes: list[bool] = []

    def probe() -> bool:
        if st.ready_file("paper").exists():
            return True
        probes.append(refused(st.ports["socat"]))
        return False

    wait_until(probe, 60, "paper ready", 0.1)
    st.wait_ready("paper")
    return Full(st, probes)


def connect(port: int, client_id: int = 1, host: str = "127.0.0.1") -> IB:
    ib = IB()
    ib.connect(host, port, clientId=client_id, timeout=15, readonly=True)  # Read-Only API is on
    return ib


def test_api_through_socat_only_when_ready(full: Full) -> None:
    st = full.stack
    # Before READY, socat was not listening: every probe was refused (and there were many probes).
    assert len(full.probes_before_ready) >= 10, full.probes_before_ready
    assert all(full.probes_before_ready), full.probes_before_ready
    wait_until(lambda: accepts(st.ports["socat"]), 15, "socat listening after READY")
    ib = connect(st.ports["socat"], 7)
    try:
        assert ib.managedAccounts() == ["DU1234567"]
        t = ib.reqCurrentTime()
        assert t.year >= 2024
    finally:
        ib.disconnect()
    assert "READY mode=paper" in st.output()


def test_status_reports_ready(full: Full) -> None:
    r = full.stack.status()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "paper: READY" in r.stdout
    assert "controller state READY for" in r.stdout
    rj = full.stack.status("--json")
    doc = json.loads(rj.stdout)
    assert doc["ready"] is True and doc["modes"]["paper"]["state"] == "READY"
    assert "controller-paper" in doc["programs"]


def test_secrets_are_not_in_conf_argv_or_children_env(full: Full) -> None:
    st = full.stack
    conf = (st.run_dir / "supervisord.conf").read_text()
    tws_pw, = [st.env["TWS_PASSWORD"]]
    for secret in (tws_pw, VNC_PW, UI_PASS):
        assert secret not in conf
    assert "{SHA}" in conf
    ps = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True, check=True).stdout
    for secret in (tws_pw, VNC_PW, UI_PASS):
        assert secret not in ps
    # Only `ibpilot run` itself was given the secrets; everything under supervisord gets *_FILE paths.
    assert st.proc is not None
    for pid in descendants(st.proc.pid):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        assert tws_pw.encode() not in env, pid
        assert VNC_PW.encode() not in env, pid
    assert tws_pw not in st.output()
    secret_file = st.run_dir / "secrets" / "TWS_PASSWORD"
    assert secret_file.read_text() == tws_pw
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert (st.run_dir / "vnc.passwd").stat().st_mode & 0o777 == 0o600
    assert st.run_dir.stat().st_mode & 0o777 == 0o700



def _non_trivial(png: Path, min_colours: int = 8) -> Image.Image:
    img = Image.open(png).convert("RGB")
    colours = img.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) >= min_colours, f"{png}: {len(colours or [])} colours"
    return img


def test_vnc_shows_the_gateway(full: Full, tmp_path: Path) -> None:
    st = full.stack
    shot = tmp_path / "vnc.png"
    r = subprocess.run([VNCDOTOOL, "-s", f"127.0.0.1::{st.ports['vnc']}", "-p", VNC_PW, "capture", str(shot)],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    img = _non_trivial(shot)
    assert img.size == (1280, 900)
    assert _red_pixels(img) > 2000, "the Gateway window is not on the VNC screen"
    (st.root / "vnc.png").write_bytes(shot.read_bytes())
    # A wrong password is refused.
    bad = subprocess.run([VNCDOTOOL, "-s", f"127.0.0.1::{st.ports['vnc']}", "-p", "wrongpw1", "-t", "10",
                          "capture", str(tmp_path / "bad.png")], capture_output=True, text=True, timeout=60,
                         check=False)
    assert bad.returncode != 0
    assert not (tmp_path / "bad.png").exists()


def _slow_wrapper_server(inner_url: str, hold: float) -> tuple[http.server.HTTPServer, int]:
    """A page framing `inner_url` whose load event waits `hold` s (a slow image), so that headless
    Chromium's `--screenshot` (taken at load) shows noVNC after it has connected and drawn the screen."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/slow"):
                time.sleep(hold)
                body, ctype = b"GIF89a", "image/gif"
            else:
                body = (f'<html><body style="margin:0"><iframe src="{inner_url}" style="border:0;width:1280px;'
                        'height:900px"></iframe><img src="/slow" style="display:none"></body></html>').encode()
                ctype = "text/html"
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


def test_novnc_in_headless_chromium(full: Full, tmp_path: Path) -> None:
    st = full.stack
    url = f"http://127.0.0.1:{st.ports['novnc']}/vnc.html?autoconnect=1&resize=off&password={VNC_PW}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        assert b"noVNC" in resp.read()
    srv, port = _slow_wrapper_server(url, 5.0)
    shot = tmp_path / "novnc.png"
    try:
        r = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chrome'}", f"--screenshot={shot}", "--window-size=1280,900",
             f"http://127.0.0.1:{port}/"],
            capture_output=True, text=True, timeout=120, check=False,
        )
    finally:
        srv.shutdown()
        srv.server_close()
    assert shot.exists(), r.stdout + r.stderr
    (st.root / "novnc.png").write_bytes(shot.read_bytes())
    img = _non_trivial(shot, min_colours=16)
    # The Gateway's red title bar came through websockify and x11vnc into the browser's canvas.
    assert _red_pixels(img) > 2000, f"no Gateway window in {st.root / 'novnc.png'}"
    log = (st.run_dir / "logs" / "novnc.log").read_text(errors="replace")
    assert f"connecting to: 127.0.0.1:{st.ports['vnc']}" in log, log[-2000:]


def _red_pixels(img: Image.Image) -> int:
    colours = img.getcolors(maxcolors=1 << 22) or []
    return sum(n for n, (r, g, b) in colours if r > 180 and g < 70 and b < 90)


def test_supervisord_ui_needs_its_password(full: Full) -> None:
    st = full.stack
    url = f"http://127.0.0.1:{st.ports['ui']}/"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url, timeout=10)
    assert err.value.code == 401
    req = urllib.request.Request(url)
    token = base64.b64encode(f"{UI_USER}:{UI_PASS}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        assert resp.status == 200
        body = resp.read().decode()
    assert "controller-paper" in body and "socat-paper" in body
    bad = urllib.request.Request(url)
    bad.add_header("Authorization", "Basic " + base64.b64encode(f"{UI_USER}:nope".encode()).decode())
    with pytest.raises(urllib.error.HTTPError) as err2:
        urllib.request.urlopen(bad, timeout=10)  # noqa: S310
    assert err2.value.code == 401


def _owners(st: RunningStack) -> dict[int, str]:
    """pid -> the supervisord program (or `supervisord`, `ibpilot run`) whose process tree it is in."""
    assert st.proc is not None
    owners = {st.proc.pid: "ibpilot run"}
    sup = int((st.run_dir / "supervisord.pid").read_text())
    owners[sup] = "supervisord"
    for name, pid in st.program_pids().items():
        for p in (pid, *descendants(pid)):
            owners[p] = name
    return owners


def test_every_listener_is_documented_and_no_wider(full: Full) -> None:
    st = full.stack
    wait_until(lambda: accepts(st.ports["socat"]), 15, "socat listening")
    settings = Settings.from_env(st.env)
    expected = expected_listeners(settings, plan(settings))
    assert st.proc is not None
    owners = _owners(st)
    stack_pids = {st.proc.pid, *descendants(st.proc.pid)}
    sockets = listening_sockets(stack_pids)
    assert sockets, "no listening socket found at all"
    problems = []
    for pid, addr, port in sockets:
        owner = owners.get(pid, f"pid {pid}")
        ok = [x for x in expected if x.port == port and x.program == owner and x.bind in (ANY_ADDRESS, addr)]
        if not ok:
            promised = [f"{x.what} {x.bind}:{x.port} by {x.program}" for x in expected if x.port == port]
            problems.append(f"{owner} (pid {pid}) listens on {addr}:{port}; documented: {promised or 'nothing'}")
    for x in expected:
        if not any(port == x.port and owners.get(pid) == x.program for pid, _a, port in sockets):
            problems.append(f"{x.what} ({x.bind}:{x.port} by {x.program}) is not listening")
    assert not problems, "\n".join(problems) + f"\nall: {sockets}"
    # the table covers what this stack runs: VNC, noVNC, the UI, socat and the Gateway's API port
    assert {x.program for x in expected} >= {"x11vnc", "novnc", "supervisord", "socat-paper", "controller-paper"}
    # ... and the controller's operations surface: health and command servers, on loopback
    ops = {x.port for x in expected if x.program == "controller-paper" and x.bind == "127.0.0.1"}
    assert {int(st.env["HEALTH_PORT"]), int(st.env["COMMAND_SERVER_PORT"])} <= ops, expected


def test_ibpilot_health_and_command_against_the_stack(full: Full) -> None:
    st = full.stack
    env = {**st.env}
    wait_until(lambda: subprocess.run([sys.executable, "-m", "ibpilot", "health"], env=env, capture_output=True,
                                      timeout=30).returncode == 0, 30, "ibpilot health: healthy", 0.5)
    out = subprocess.run([sys.executable, "-m", "ibpilot", "command", "STATUS"], env=env, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and '"state":"READY"' in out.stdout.replace(" ", ""), out


def test_program_logs_are_readable_by_the_owner_only(full: Full) -> None:
    logs = list((full.stack.run_dir / "logs").glob("*.log"))
    assert logs, "no program log found"
    loose = [f"{p.name} {p.stat().st_mode & 0o777:o}" for p in logs if p.stat().st_mode & 0o077]
    assert loose == []
