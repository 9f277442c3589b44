"""What the stack answers on the network, looked at as a client on loopback (or the bound address).

- HTTP: /health, /ready, /metrics, / (and / with the command token, when commands are on) of each controller:
  no secret in the status line, headers or body.
- The command server: `STATUS` (after `AUTH <token>` when a token is set): no secret in the reply.
- VNC: the server's RFB security types must include VNC authentication (2) and never None (1).
- supervisord's web UI: bound beyond loopback, it must answer 401 without credentials; its page (logged in)
  holds no secret.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import re
import socket
import struct

from ibpilot.audit.needles import Needle, find
from ibpilot.audit.report import Finding, Report

TIMEOUT = 5.0
_REPLY = re.compile(rb"(?:OK|ERROR)(?: |$)")


def connect_host(bind: str) -> str:
    """Where a client reaches a server bound to `bind` from this machine (a wildcard: loopback)."""
    if bind in ("", "0.0.0.0", "*"):
        return "127.0.0.1"
    if bind == "::":
        return "::1"
    return bind


def is_loopback(bind: str) -> bool:
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return bind == "localhost"


def http_get(host: str, port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """(status, the raw status line + headers + body) of one GET."""
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read(4 << 20)
        head = f"HTTP {resp.status} {resp.reason}\r\n{resp.msg}".encode(errors="replace")
        return resp.status, head + b"\r\n" + body
    finally:
        conn.close()


def scan_answer(where: str, data: bytes, needles: list[Needle], report: Report, check: str) -> None:
    report.count("answers")
    for n in find(needles, data):
        report.add(Finding(check, where, f"{n.label} found in the answer of {where}", n.var))


def scan_http(host: str, port: int, needles: list[Needle], report: Report, token: str | None) -> None:
    """The health server's answers (see the module doc)."""
    requests: list[tuple[str, dict[str, str]]] = [(p, {}) for p in ("/health", "/ready", "/metrics", "/", "/status")]
    if token:
        requests.append(("/", {"Authorization": f"Bearer {token}"}))
    for path, headers in requests:
        where = f"http://{host}:{port}{path}" + (" (with the token)" if headers else "")
        try:
            _code, data = http_get(host, port, path, headers)
        except (OSError, http.client.HTTPException) as exc:
            report.add(Finding("http", where, f"{where} did not answer ({type(exc).__name__}: {exc})"))
            continue
        scan_answer(where, data, needles, report, "http")


def command_status(host: str, port: int, token: str | None) -> bytes:
    """The command server's reply to STATUS (the AUTH line first when there is a token)."""
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        if token:
            sock.sendall(b"AUTH " + token.encode() + b"\n")
        sock.sendall(b"STATUS\n")
        data = b""
        while not any(_REPLY.search(line) for line in data.split(b"\n")[:-1]):  # a prompt may come first
            chunk = sock.recv(65536)
            if not chunk or len(data) > 1 << 20:
                break
            data += chunk
        sock.sendall(b"EXIT\n")
        return data


def scan_command_server(host: str, port: int, needles: list[Needle], report: Report, token: str | None) -> None:
    where = f"the command server {host}:{port} (STATUS)"
    try:
        data = command_status(host, port, token)
    except OSError as exc:
        report.add(Finding("command", where, f"{where} did not answer ({exc})"))
        return
    if not re.search(rb"OK(?: |$)", data, re.M):
        report.notes.append(f"{where} did not answer OK ({len(data)} bytes)")
    scan_answer(where, data, needles, report, "command")


def rfb_security_types(host: str, port: int) -> list[int]:
    """The security types a VNC server offers (RFB 3.7+: a list; 3.3: the one the server chose)."""
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        version = _recv_exact(sock, 12)
        if not version.startswith(b"RFB "):
            raise OSError(f"not an RFB server (greeting {version!r})")
        minor = int(version[8:11])
        if minor < 7:  # RFB 3.3: the server decides, one u32
            sock.sendall(b"RFB 003.003\n")
            (chosen,) = struct.unpack(">I", _recv_exact(sock, 4))
            return [chosen]
        sock.sendall(b"RFB 003.008\n" if minor >= 8 else b"RFB 003.007\n")
        (count,) = _recv_exact(sock, 1)
        if count == 0:  # a failure reason follows
            return []
        return list(_recv_exact(sock, count))


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def check_vnc(host: str, port: int, report: Report) -> None:
    where = f"VNC {host}:{port}"
    try:
        types = rfb_security_types(host, port)
    except (OSError, ValueError) as exc:
        report.add(Finding("vnc", where, f"{where}: could not read its security types ({exc})"))
        return
    report.count("vnc servers")
    if 1 in types:
        report.add(Finding("vnc", where, f"{where} offers security type None (1): no password needed"))
    if 2 not in types:
        report.add(Finding("vnc", where, f"{where} does not offer VNC authentication (2); offered {types}"))


def check_supervisord_ui(bind: str, port: int, report: Report, needles: list[Needle] | None = None,
                         login: tuple[str, str] | None = None) -> None:
    """401 without credentials beyond loopback; with `login`, its logged-in page holds no secret."""
    host = connect_host(bind)
    where = f"the supervisord web UI http://{host}:{port}/"
    try:
        code, _ = http_get(host, port, "/")
        if login is not None and needles:
            basic = base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
            _c, page = http_get(host, port, "/", {"Authorization": f"Basic {basic}"})
            scan_answer(f"{where} (logged in)", page, needles, report, "http")
    except (OSError, http.client.HTTPException) as exc:
        report.add(Finding("supervisord-ui", where, f"{where} did not answer ({exc})"))
        return
    report.count("web UIs")
    if code == 401:
        return
    if is_loopback(bind):
        report.notes.append(f"{where} answers {code} without credentials (loopback only: allowed)")
    else:
        report.add(Finding("supervisord-ui", where, f"{where} is bound to {bind} and answers {code} without "
                           "credentials (401 expected): set SUPERVISORD_UI_USER and SUPERVISORD_UI_PASS"))
