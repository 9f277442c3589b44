"""`ibpilot command`: send commands to a running controller's IBC-compatible command server."""

from __future__ import annotations

import argparse
import re
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any

from ibpilot.cli import add_command

HELP = """\
Send commands to the command server of a running controller (COMMAND_SERVER_PORT) and print its answers.
The port, address and token come from the same environment as the controller's (`ibpilot check-config`);
with TRADING_MODE=both, --mode picks the side (paper listens on port + 1). When COMMAND_SERVER_TOKEN is
set, `AUTH <token>` is sent first (the token never appears in argv or output).

commands (IBC's, case-insensitive):
  STOP               log out cleanly and exit              OK Shutting down: STOP command
  RESTART            restart Gateway/TWS (Gateway: at the next minute)   OK RESTART at 11:59 PM
  RECONNECTACCOUNT   reconnect to the account server (Ctrl+Alt+R)        OK
  RECONNECTDATA      reconnect the market data farms (Ctrl+Alt+F)        OK
  ENABLEAPI          TWS only: enable the API socket       OK configured / OK already configured
  STATUS             ibpilot's extension: the controller's state         OK {"state":"READY",...}

examples:
  ibpilot command STATUS
  ibpilot command --mode paper RESTART
  ibpilot command --host 10.0.0.5 --port 7462 stop

IBC's own clients keep working unchanged, e.g. commandsend.sh or:
  echo STOP | nc 127.0.0.1 7462
(with a token: printf 'AUTH %s\\nSTOP\\n' "$(cat /run/secrets/token)" | nc 127.0.0.1 7462)

Exit codes: 0 every command answered OK, 1 an ERROR or no answer (not running, refused, timed out),
2 bad configuration or usage (e.g. COMMAND_SERVER_PORT=0 and no --port).
"""


def register(sub: Any) -> None:
    p = add_command(sub, "command", "send IBC commands (STOP, RESTART, STATUS, ...) to a running controller",
                    HELP, cmd_command)
    p.add_argument("--mode", choices=["live", "paper"], help="which side, with TRADING_MODE=both")
    p.add_argument("--host", help="server address (default: COMMAND_SERVER_BIND, or 127.0.0.1 when it is "
                   "a wildcard)")
    p.add_argument("--port", type=int, help="server port (default: COMMAND_SERVER_PORT for --mode)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="seconds to wait for each answer (default 60; RESTART answers once it is arranged)")
    p.add_argument("commands", nargs="+", metavar="COMMAND", help="one or more commands, sent in order")


def _fail(msg: str, code: int) -> int:
    print(f"ibpilot command: {msg}", file=sys.stderr)
    return code


def _connect_host(bind: str) -> str:
    if bind in ("", "0.0.0.0"):  # a wildcard bind is reached on loopback
        return "127.0.0.1"
    if bind == "::":
        return "::1"
    return bind


def cmd_command(args: argparse.Namespace) -> int:
    from ibpilot.settings import Settings, SettingsError

    if args.timeout <= 0:
        return _fail("--timeout must be positive", 2)
    if args.port is not None and not 0 < args.port < 65536:
        return _fail(f"--port {args.port} is not a port number", 2)
    try:
        settings = Settings.load()
    except SettingsError as exc:
        return _fail(str(exc), 2)
    port = args.port
    if port is None:
        try:
            mode = args.mode or settings.instance
        except ValueError as exc:
            return _fail(f"{exc}; or pass --mode live|paper", 2)
        port = settings.command_server_port_for(mode)
        if not port:
            return _fail("the command server is off (COMMAND_SERVER_PORT=0); set it, or pass --port", 2)
    host = args.host or _connect_host(settings.command_server_bind)
    token = settings.command_server_token.reveal() if settings.command_server_token else None
    prompt = settings.command_server_prompt or ""
    return send_commands(host, port, args.commands, token=token, prompt=prompt, timeout=args.timeout)


def send_commands(host: str, port: int, commands: Sequence[str], *, token: str | None = None, prompt: str = "",
                  timeout: float = 60.0, out: Any = None) -> int:
    """Send `commands` one after another, printing each reply line; 0 when all answered OK, else 1."""
    out = out or sys.stdout
    for cmd in commands:
        if any(ch in cmd for ch in "\r\n"):
            return _fail("a command cannot contain a line break", 2)
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        return _fail(f"cannot connect to {host}:{port}: {exc.strerror or exc} (is the controller running with "
                     "COMMAND_SERVER_PORT set?)", 1)
    with sock:
        reader = _Lines(sock, prompt)
        try:
            if token:
                sock.sendall(b"AUTH " + token.encode("utf-8") + b"\n")
            for cmd in commands:
                sock.sendall(cmd.encode("utf-8") + b"\n")
                while True:
                    line = reader.next_line(timeout)
                    if line is None:
                        return _fail(f"{cmd}: the server closed the connection without an answer (this client "
                                     "not allowed? a wrong token?)", 1)
                    print(line, file=out, flush=True)
                    if line == "OK" or line.startswith("OK "):
                        break
                    if line == "ERROR" or line.startswith("ERROR "):
                        return 1
        except TimeoutError:
            return _fail(f"no answer within {timeout:g}s", 1)
        except OSError as exc:
            return _fail(f"connection to {host}:{port} failed: {exc.strerror or exc}", 1)
    return 0


_REPLY = re.compile(r"(?:OK|ERROR|INFO)(?: |$)")


class _Lines:
    """Reply lines from the socket (the prompt, sent without a newline after each answer, removed)."""

    def __init__(self, sock: socket.socket, prompt: str) -> None:
        self.sock, self.prompt = sock, prompt.encode("utf-8")
        self.buf = b""

    def next_line(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while True:
            while self.prompt and self.buf.startswith(self.prompt):
                self.buf = self.buf[len(self.prompt):]
            if b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                text = line.rstrip(b"\r").decode("utf-8", "replace")
                found = _REPLY.search(text)  # a prompt we were not told about is what comes before the reply
                return text[found.start():] if found else text
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
            if len(self.buf) > 1 << 20:
                raise OSError("answer line longer than 1 MiB")
