"""The audit's scanners on crafted inputs: secrets and their forms, files and modes, network answers,
VNC security types, the supervisord UI, processes. Real files, sockets and servers on loopback."""

from __future__ import annotations

import http.server
import os
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ibpilot.audit import files, probes
from ibpilot.audit.cli import check_processes, redact
from ibpilot.audit.needles import find, needles_of, url_parts
from ibpilot.audit.procs import Proc, env_names_with, open_files, proc_net_address
from ibpilot.audit.report import Report
from ibpilot.settings import Settings
from ibpilot.stack.vncpasswd import vnc_rfbauth

PW = "Pw-unit-5x8q"
VNC = "vnc7pw42"
HOOK = "https://hooks.example/services/T0001/B0002/AbCdEfGhIjKlMnOpQrStUvWx?key=k3y-v4lue"


def settings(tmp_path: Path, **extra: str) -> Settings:
    env = {"TWS_USERID": "u", "TWS_PASSWORD": PW, "RUN_DIR": str(tmp_path / "run"), "TWS_PATH": str(tmp_path / "Jts"),
           "VNC_SERVER_PASSWORD": VNC, "ALERT_WEBHOOK_URL": HOOK, "COMMAND_SERVER_TOKEN": "tok\"en/12"}
    env.update(extra)
    return Settings.from_env(env)


def test_needles_cover_every_secret_and_its_forms(tmp_path: Path) -> None:
    needles, notes = needles_of(settings(tmp_path, SSH_PASSPHRASE="abc"))
    got = {(n.var, n.form) for n in needles}
    assert ("TWS_PASSWORD", "plain") in got and ("VNC_SERVER_PASSWORD", "vnc-rfbauth") in got
    assert {("COMMAND_SERVER_TOKEN", "json"), ("COMMAND_SERVER_TOKEN", "url-quoted")} <= got
    assert ("ALERT_WEBHOOK_URL", "url-part") in got
    assert notes == ["SSH_PASSPHRASE (plain) is shorter than 6 characters: not searched (it would match by chance)"]
    assert all(PW not in repr(n) for n in needles)
    rfb = next(n for n in needles if n.form == "vnc-rfbauth")
    assert rfb.value == vnc_rfbauth(VNC)


def test_url_parts_are_the_secret_pieces() -> None:
    assert url_parts(HOOK) == ["k3y-v4lue", "AbCdEfGhIjKlMnOpQrStUvWx"]
    assert url_parts("https://u:s3cret-pw@ntfy.example/alerts-42x") == ["s3cret-pw", "alerts-42x"]
    assert url_parts("https://discord.example/api/webhooks/123456789012345678/tok") == ["123456789012345678"]
    assert url_parts("https://ntfy.example/short") == []


def test_find_reports_each_variable_once(tmp_path: Path) -> None:
    needles, _ = needles_of(settings(tmp_path))
    hit = find(needles, f"x {PW} y {PW} AbCdEfGhIjKlMnOpQrStUvWx".encode())
    assert [(n.var, n.form) for n in hit] == [("TWS_PASSWORD", "plain"), ("ALERT_WEBHOOK_URL", "url-part")]
    assert find(needles, b"nothing secret here") == []


def _write(path: Path, data: bytes, mode: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    return path


def test_files_secrets_outside_their_holder_and_open_holders(tmp_path: Path) -> None:
    s = settings(tmp_path)
    run = tmp_path / "run"
    needles, _ = needles_of(s)
    _write(run / "secrets" / "TWS_PASSWORD", PW.encode(), 0o600)  # its holder: fine
    _write(run / "vnc.passwd", vnc_rfbauth(VNC), 0o644)  # holder, but open to others
    _write(run / "logs" / "controller-paper.log", b"login ok\n", 0o644)  # no secret: fine
    _write(run / "logs" / "x.log", f"pw={PW}\n".encode(), 0o600)  # a secret in a log
    _write(run / "copy.bin", b"\0" + vnc_rfbauth(VNC) + b"\0", 0o600)  # the DES form elsewhere
    _write(tmp_path / "Jts" / "jts.ini", f"[Logon]\nkey={HOOK}\n".encode(), 0o644)
    report = Report()
    files.scan_files([run, tmp_path / "Jts"], needles, files.holders(s), report)
    lines = sorted(f.line() for f in report.findings)
    assert lines == sorted([
        f"FINDING mode: VNC_SERVER_PASSWORD is in {run / 'vnc.passwd'}, which is readable by group/other (mode 0644)",
        f"FINDING file: TWS_PASSWORD found in file {run / 'logs' / 'x.log'}",
        f"FINDING file: VNC_SERVER_PASSWORD (vnc-rfbauth) found in file {run / 'copy.bin'}",
        f"FINDING file: ALERT_WEBHOOK_URL found in file {tmp_path / 'Jts' / 'jts.ini'} (readable by group/other)",
    ])
    assert report.checked["files"] == 6


def test_a_secret_from_a_file_may_stay_in_that_file(tmp_path: Path) -> None:
    src = _write(tmp_path / "run" / "given-pw", PW.encode(), 0o600)
    s = Settings.from_env({"TWS_USERID": "u", "TWS_PASSWORD_FILE": str(src), "RUN_DIR": str(tmp_path / "run"),
                           "TWS_PATH": str(tmp_path / "Jts")})
    needles, _ = needles_of(s)
    report = Report()
    files.scan_files([tmp_path / "run"], needles, files.holders(s), report)
    assert report.findings == []
    src.chmod(0o640)
    files.scan_files([tmp_path / "run"], needles, files.holders(s), report)
    assert [f.check for f in report.findings] == ["mode"]


def test_modes_of_run_dir_and_sockets(tmp_path: Path) -> None:
    s = settings(tmp_path)
    run = tmp_path / "run"
    run.mkdir(mode=0o755)
    run.chmod(0o755)
    socks = []
    for name, mode in (("supervisor.sock", 0o660), ("agent-paper.sock", 0o666)):
        sk = socket.socket(socket.AF_UNIX)
        sk.bind(str(run / name))
        os.chmod(run / name, mode)
        socks.append(sk)
    try:
        report = Report()
        files.check_modes(s, report)
    finally:
        for sk in socks:
            sk.close()
    msgs = sorted(f.message for f in report.findings)
    assert msgs == sorted([
        f"RUN_DIR {run} has mode 0755: open to group/other",
        f"the agent socket (paper) {run / 'agent-paper.sock'} has mode 0666: open to group/other",
        f"the agent socket's directory (paper) {run} has mode 0755: open to group/other",
        f"supervisord's control socket {run / 'supervisor.sock'} has mode 0660: open to group/other",
    ])


# ---------------------------------------------------------------------------------------------- network


def _serve(handler: Callable[[socket.socket], None]) -> Iterator[int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.1)  # so that the loop sees `stop`
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            with conn:
                try:
                    handler(conn)
                except OSError:
                    pass

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join(5)
        srv.close()


@pytest.fixture
def rfb_server(request: pytest.FixtureRequest) -> Iterator[int]:
    version, types = request.param

    def handler(conn: socket.socket) -> None:
        conn.sendall(version)
        conn.recv(12)
        if version.startswith(b"RFB 003.003"):
            conn.sendall(struct.pack(">I", types[0]))
        else:
            conn.sendall(bytes([len(types), *types]))

    yield from _serve(handler)


@pytest.mark.parametrize(("rfb_server", "expected"), [
    ((b"RFB 003.008\n", [2]), []),
    ((b"RFB 003.008\n", [1, 2]), ["offers security type None (1): no password needed"]),
    ((b"RFB 003.008\n", [1]), ["offers security type None (1): no password needed",
                               "does not offer VNC authentication (2); offered [1]"]),
    ((b"RFB 003.003\n", [1]), ["offers security type None (1): no password needed",
                               "does not offer VNC authentication (2); offered [1]"]),
    ((b"RFB 003.003\n", [2]), []),
], indirect=["rfb_server"])
def test_vnc_security_types(rfb_server: int, expected: list[str]) -> None:
    report = Report()
    probes.check_vnc("127.0.0.1", rfb_server, report)
    assert [f.message.split(f"{rfb_server} ", 1)[1] for f in report.findings] == expected
    assert report.checked == {"vnc servers": 1}


def test_vnc_not_answering_is_a_finding() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    report = Report()
    probes.check_vnc("127.0.0.1", port, report)
    assert [f.check for f in report.findings] == ["vnc"]


class _Http:
    def __init__(self, answer: Callable[[str, dict[str, str]], tuple[int, dict[str, str], bytes]]) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.seen.append((self.path, dict(self.headers)))
                code, headers, body = answer(self.path, dict(self.headers))
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.seen: list[tuple[str, dict[str, str]]] = []
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()


def test_http_answers_are_searched_headers_and_body(tmp_path: Path) -> None:
    needles, _ = needles_of(settings(tmp_path))

    def answer(path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if path == "/metrics":
            return 200, {}, b'ibpilot_up{url="' + HOOK.encode() + b'"} 1\n'
        if path == "/ready":
            return 503, {"X-Debug": PW}, b"not ready\n"
        return 200, {}, b"{}"

    srv = _Http(answer)
    try:
        report = Report()
        probes.scan_http("127.0.0.1", srv.port, needles, report, token="tok\"en/12")
    finally:
        srv.close()
    base = f"http://127.0.0.1:{srv.port}"
    assert sorted(f.line() for f in report.findings) == [
        f"FINDING http: ALERT_WEBHOOK_URL found in the answer of {base}/metrics",
        f"FINDING http: TWS_PASSWORD found in the answer of {base}/ready",
    ]
    assert [p for p, _ in srv.seen] == ["/health", "/ready", "/metrics", "/", "/status", "/"]
    assert srv.seen[-1][1]["Authorization"] == 'Bearer tok"en/12'


@pytest.mark.parametrize(("bind", "code", "finding"), [
    ("0.0.0.0", 200, True), ("0.0.0.0", 401, False), ("127.0.0.1", 200, False),
])
def test_supervisord_ui_needs_auth_beyond_loopback(bind: str, code: int, finding: bool) -> None:
    srv = _Http(lambda _p, _h: (code, {}, b"ui"))
    try:
        report = Report()
        # a wildcard bind is reached on 127.0.0.1, where this server listens
        probes.check_supervisord_ui(bind if bind != "127.0.0.1" else "127.0.0.1", srv.port, report)
    finally:
        srv.close()
    assert [f.check for f in report.findings] == (["supervisord-ui"] if finding else [])
    if code == 200 and not finding:
        assert report.notes and "loopback only" in report.notes[0]


@pytest.fixture
def command_server(request: pytest.FixtureRequest) -> Iterator[tuple[int, list[bytes]]]:
    reply: bytes = request.param
    got: list[bytes] = []

    def handler(conn: socket.socket) -> None:
        buf = b""
        while b"STATUS\n" not in buf:
            chunk = conn.recv(4096)
            if not chunk:
                return
            buf += chunk
        got.append(buf)
        conn.sendall(b"> " + reply)
        conn.recv(100)

    for port in _serve(handler):
        yield port, got


@pytest.mark.parametrize(("command_server", "leaks"), [
    (b'OK {"state":"READY"}\n', False),
    (b'OK {"state":"READY","cfg":"' + PW.encode() + b'"}\n', True),
], indirect=["command_server"])
def test_command_server_status_is_searched(tmp_path: Path, command_server: tuple[int, list[bytes]],
                                          leaks: bool) -> None:
    port, got = command_server
    needles, _ = needles_of(settings(tmp_path))
    report = Report()
    probes.scan_command_server("127.0.0.1", port, needles, report, "tok12345")
    assert got == [b"AUTH tok12345\nSTATUS\n"]
    assert [f.secret for f in report.findings] == (["TWS_PASSWORD"] if leaks else [])


# ---------------------------------------------------------------------------------------------- processes


def test_proc_net_addresses() -> None:
    assert proc_net_address("0100007F") == "127.0.0.1"
    assert proc_net_address("00000000") == "0.0.0.0"
    assert proc_net_address("00000000000000000000000001000000") == "::1"
    assert proc_net_address("0000000000000000FFFF00000100007F") == "127.0.0.1"
    assert env_names_with(b"A=1\0B=xx" + PW.encode() + b"\0C=" + PW.encode(), PW.encode()) == ["B", "C"]


def test_processes_argv_everywhere_environment_below_supervisord(tmp_path: Path) -> None:
    needles, _ = needles_of(settings(tmp_path))
    pw = PW.encode()
    procs = {
        10: Proc(10, 1, b"ibpilot\0run\0", b"TWS_PASSWORD=" + pw + b"\0"),  # the launcher: a note
        11: Proc(11, 10, b"supervisord\0", b"PATH=/bin\0"),
        12: Proc(12, 11, b"java\0-Dx\0", b"LEAKED=" + pw + b"\0"),  # below supervisord: a finding
        13: Proc(13, 1, b"other\0", b"X=" + pw + b"\0"),  # not ours: environment not looked at
        14: Proc(14, 1, b"curl\0-u\0me:" + pw + b"\0", None),  # anyone's argv: a finding
        15: Proc(15, 11, b"x11vnc\0", None),  # below supervisord but not readable: said so
    }
    report = Report()
    check_processes(needles, 11, 10, procs, {11: "supervisord", 12: "controller-paper"}, report)
    assert sorted(f.line() for f in report.findings) == [
        "FINDING argv: TWS_PASSWORD in the argv of curl (pid 14)",
        "FINDING environ: TWS_PASSWORD in the environment of controller-paper (pid 12) (as LEAKED)",
    ]
    assert len(report.notes) == 2 and "`ibpilot run` (pid 10, as TWS_PASSWORD)" in report.notes[1]
    assert report.notes[0].startswith("the environment of 1 stack process(es) is not readable here (pids 15)")
    assert report.checked == {"argv": 6, "environments": 3}


def test_redact_is_a_last_guard(tmp_path: Path) -> None:
    needles, _ = needles_of(settings(tmp_path))
    assert redact(f"a path /x/{PW}/y", needles) == "a path /x/***/y"


def test_open_files_of_a_process_are_scanned_too(tmp_path: Path) -> None:
    s = settings(tmp_path)
    needles, _ = needles_of(s)
    log = tmp_path / "elsewhere" / "app.log"
    log.parent.mkdir()
    with open(log, "w") as fh:
        fh.write(f"connecting with {PW}\n")
        fh.flush()
        held = open_files({os.getpid()})
        assert log in held
        report = Report()
        files.scan_files(sorted(held), needles, files.holders(s), report)
    assert f"FINDING file: TWS_PASSWORD found in file {log}" in [f.line().split(" (readable")[0]
                                                                 for f in report.findings]


def _audit_cli(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME")}
    return subprocess.run([sys.executable, "-m", "ibpilot", "audit"], env={**base, **env}, capture_output=True,
                          text=True, timeout=60, check=False)


def test_cli_exit_2_without_a_stack_or_with_bad_settings(tmp_path: Path) -> None:
    r = _audit_cli({"TWS_USERID": "u", "TWS_PASSWORD": PW, "RUN_DIR": str(tmp_path / "run"),
                    "TWS_PATH": str(tmp_path)})
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"ibpilot audit: nothing to audit: no supervisord pid file at {tmp_path / 'run' / 'supervisord.pid'}" \
        in r.stderr
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "supervisord.pid").write_text(f"{os.getpid()}\n")  # a live pid, but not supervisord
    stale = _audit_cli({"TWS_USERID": "u", "TWS_PASSWORD": PW, "RUN_DIR": str(tmp_path / "run"),
                        "TWS_PATH": str(tmp_path)})
    assert stale.returncode == 2 and f"supervisord (pid {os.getpid()} in" in stale.stderr, stale.stderr
    bad = _audit_cli({"TWS_USERID": "u", "TWS_PASSWORD": PW, "HEALTH_PORT": "http", "RUN_DIR": str(tmp_path)})
    assert bad.returncode == 2 and "HEALTH_PORT" in bad.stderr and PW not in bad.stderr + bad.stdout, bad.stderr


def test_supervisord_ui_page_behind_the_login_is_searched(tmp_path: Path) -> None:
    needles, _ = needles_of(settings(tmp_path))

    def answer(_path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if headers.get("Authorization") != "Basic YWRtaW46dWktcGFzcy0x":  # admin:ui-pass-1
            return 401, {}, b"no"
        return 200, {}, b"<td>controller-paper</td><pre>tail: " + PW.encode() + b"</pre>"

    srv = _Http(answer)
    try:
        report = Report()
        probes.check_supervisord_ui("0.0.0.0", srv.port, report, needles, ("admin", "ui-pass-1"))
    finally:
        srv.close()
    assert [(f.check, f.secret) for f in report.findings] == [("http", "TWS_PASSWORD")]
    assert "(logged in)" in report.findings[0].message
