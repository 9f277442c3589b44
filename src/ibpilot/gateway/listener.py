"""Who holds a listening TCP port: the proof that the API we probe is our own Gateway's.

A TWS API that answers on the port proves nothing about *whose* API it is: after a relaunch another
process (a second Gateway, another user's container on the host network) may have bound the port, and our
JVM failed with a BindException. On Linux, /proc/net/tcp{,6} lists each listening socket's inode, and
/proc/<pid>/fd links name the sockets a process holds; elsewhere nothing can be proven (None).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_LISTEN = "0A"


@dataclass(frozen=True)
class Holder:
    pid: int | None  # None: the socket is not among the processes this user can see
    command: str  # a short command line, or "?"

    def describe(self) -> str:
        return f"pid {self.pid} ({self.command})" if self.pid is not None else "a process this user cannot see"


def listening_inodes(port: int, proc: Path = PROC) -> set[int]:
    """Inodes of the sockets listening on `port` (any address, IPv4 and IPv6); empty when none or no /proc."""
    found: set[int] = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 10 or f[3] != _LISTEN:
                continue
            try:
                if int(f[1].rsplit(":", 1)[1], 16) == port:
                    found.add(int(f[9]))
            except (IndexError, ValueError):
                continue
    return found


def fd_targets(pid: int, proc: Path = PROC) -> list[str]:
    """What each open file descriptor of `pid` points at (`socket:[inode]`, a path, ...); empty when gone."""
    try:
        fds = list((proc / str(pid) / "fd").iterdir())
    except OSError:
        return []
    out = []
    for fd in fds:
        try:
            out.append(os.readlink(fd))
        except OSError:
            continue
    return out


def socket_inodes(pid: int, proc: Path = PROC) -> set[int]:
    """Inodes of the sockets process `pid` holds (empty when it is gone or not ours to see)."""
    return {int(t[8:-1]) for t in fd_targets(pid, proc) if t.startswith("socket:[")}


def _command(pid: int, proc: Path) -> str:
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    args = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    if not args:
        return "?"
    # the program and its main class / script: enough to recognise it, never a long argv (it may hold paths)
    shown = [os.path.basename(args[0])] + [a for a in args[1:] if not a.startswith("-")][:1]
    return " ".join(shown)[:80]


def holders(port: int, proc: Path = PROC) -> list[Holder]:
    """The processes holding a socket listening on `port`."""
    inodes = listening_inodes(port, proc)
    if not inodes:
        return []
    found: list[Holder] = []
    seen: set[int] = set()
    try:
        pids = [int(p.name) for p in proc.iterdir() if p.name.isdigit()]
    except OSError:
        pids = []
    for pid in pids:
        mine = socket_inodes(pid, proc) & inodes
        if mine:
            seen |= mine
            found.append(Holder(pid, _command(pid, proc)))
    if inodes - seen:
        found.append(Holder(None, "?"))
    return found


def owned_by(port: int, pids: set[int], proc: Path = PROC) -> bool | None:
    """True when every socket listening on `port` belongs to one of `pids`; False when one belongs to someone
    else (or nobody listens); None when this system cannot tell (no /proc)."""
    if not (proc / "net" / "tcp").exists():
        return None
    inodes = listening_inodes(port, proc)
    if not inodes:
        return False
    ours: set[int] = set()
    for pid in pids:
        ours |= socket_inodes(pid, proc)
    return inodes <= ours


def group_pids(pgid: int, proc: Path = PROC) -> set[int]:
    """The processes of process group `pgid` (the JVM runs in its own session: its launcher and children)."""
    out = {pgid}
    try:
        entries = [p for p in proc.iterdir() if p.name.isdigit()]
    except OSError:
        return out
    for p in entries:
        try:
            stat = (p / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 2 and fields[2] == str(pgid):
            out.add(int(p.name))
    return out
