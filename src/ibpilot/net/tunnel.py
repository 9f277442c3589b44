"""ssh reverse-tunnel command lines (`ssh -N -R ...`).

One ssh process per destination carries every forward (the API of each trading mode, optionally VNC).
Keep-alives make a dead link end the process; supervisord restarts it. `ExitOnForwardFailure` makes a
tunnel whose remote port cannot be bound fail loudly instead of running uselessly. Host keys: a new host
is accepted once and remembered in a persistent known_hosts; a changed key is refused.

The key's passphrase never appears in argv or the environment: ssh runs the `SSH_ASKPASS` program, which
prints it from a 0600 file (`askpass_script`). Without a passphrase, BatchMode=yes: no prompt can hang.
Password and keyboard-interactive authentication are always off, so the passphrase can never be sent to
the server as a password.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

_DEST = re.compile(
    r"^(?P<user>[A-Za-z0-9._][A-Za-z0-9._-]*)@(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}))?$"
)


@dataclass(frozen=True)
class Forward:
    """Remote `remote_bind:remote_port` on the ssh server -> `local_host:local_port` here."""

    remote_port: int
    local_port: int
    remote_bind: str = "127.0.0.1"
    local_host: str = "127.0.0.1"

    def spec(self) -> str:
        for p in (self.remote_port, self.local_port):
            if not 1 <= p <= 65535:
                raise ValueError(f"{p} is not a TCP port (1-65535)")
        return f"{self.remote_bind}:{self.remote_port}:{self.local_host}:{self.local_port}"


def parse_destination(dest: str) -> tuple[str, int | None]:
    """`user@host[:port]` -> (`user@host`, port or None); ValueError when malformed."""
    m = _DEST.match(dest.strip())
    if not m:
        raise ValueError(f"{dest!r} is not user@host[:port]")
    port = int(m.group("port")) if m.group("port") else None
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"{dest!r}: {port} is not a TCP port")
    return f"{m.group('user')}@{m.group('host')}", port


def ssh_argv(
    destination: str,
    forwards: Sequence[Forward],
    *,
    known_hosts: str,
    alive_interval: int = 20,
    alive_count: int = 3,
    batch_mode: bool = True,
    identity_file: str | None = None,
    extra_options: Sequence[str] = (),
) -> list[str]:
    """The ssh command line for one reverse tunnel."""
    if not forwards:
        raise ValueError("an ssh tunnel needs at least one forward")
    userhost, port = parse_destination(destination)
    argv = [
        "ssh", "-N", "-T",
        "-o", f"ServerAliveInterval={alive_interval}",
        "-o", f"ServerAliveCountMax={alive_count}",
        "-o", "ExitOnForwardFailure=yes",
        "-o", "StrictHostKeyChecking=accept-new",
        "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "PasswordAuthentication=no",
        "-o", "KbdInteractiveAuthentication=no",
    ]  # fmt: skip
    if batch_mode:
        argv += ["-o", "BatchMode=yes"]
    if identity_file:
        argv += ["-o", "IdentitiesOnly=yes", "-i", identity_file]
    if port is not None:
        argv += ["-p", str(port)]
    argv += list(extra_options)
    for f in forwards:
        argv += ["-R", f.spec()]
    argv.append(userhost)
    return argv


def askpass_env(askpass_path: str) -> dict[str, str]:
    """Environment that makes ssh ask `askpass_path` for the passphrase even without a terminal."""
    return {"SSH_ASKPASS": askpass_path, "SSH_ASKPASS_REQUIRE": "force"}


def askpass_script(passphrase_file: str) -> str:
    """A tiny SSH_ASKPASS program printing the passphrase file (the file holds the secret, not this)."""
    return f"#!/bin/sh\nexec cat -- {shlex.quote(passphrase_file)}\n"
