"""Processes from /proc: the stack's tree, argv and environment, and the TCP sockets each one listens on."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from ibpilot.gateway.listener import fd_targets, socket_inodes

PROC = Path("/proc")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    argv: bytes  # NUL-separated, as in /proc/<pid>/cmdline
    environ: bytes | None  # None when not readable (another user's process)

    @property
    def command(self) -> str:
        return self.argv.replace(b"\0", b" ").decode(errors="replace").strip()


def _stat(pid_dir: Path) -> tuple[int, str] | None:
    try:
        after = (pid_dir / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(after[1]), after[0]


def processes(proc: Path = PROC) -> dict[int, Proc]:
    """Every live process (zombies left out) that can be read."""
    out: dict[int, Proc] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        st = _stat(entry)
        if st is None or st[1] == "Z":
            continue
        try:
            argv = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        try:
            env: bytes | None = (entry / "environ").read_bytes()
        except OSError:
            env = None
        out[int(entry.name)] = Proc(int(entry.name), st[0], argv, env)
    return out


def descendants(procs: dict[int, Proc], pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for p in procs.values():
        children.setdefault(p.ppid, []).append(p.pid)
    out: list[int] = []
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def env_names_with(environ: bytes, value: bytes) -> list[str]:
    """The names of the environment entries whose value contains `value`."""
    names = []
    for entry in environ.split(b"\0"):
        name, sep, val = entry.partition(b"=")
        if sep and value in val:
            names.append(name.decode(errors="replace"))
    return names


def proc_net_address(hexaddr: str) -> str:
    """`0100007F` / 32 hex digits of /proc/net/tcp{,6} -> `127.0.0.1` / `::1` (IPv4-mapped shown as IPv4)."""
    raw = bytes.fromhex(hexaddr)
    fixed = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # each 32-bit word is host order
    if len(fixed) == 4:
        return str(ipaddress.IPv4Address(fixed))
    v6 = ipaddress.IPv6Address(fixed)
    return str(v6.ipv4_mapped) if v6.ipv4_mapped is not None else str(v6)


def listen_table(tables: tuple[str, ...] = ("/proc/net/tcp", "/proc/net/tcp6")) -> dict[int, tuple[str, int]]:
    """socket inode -> (address, port) of every TCP socket in LISTEN state."""
    listening: dict[int, tuple[str, int]] = {}
    for table in tables:
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) < 10 or cols[3] != "0A":  # TCP_LISTEN
                continue
            addr, port = cols[1].split(":")
            listening[int(cols[9])] = (proc_net_address(addr), int(port, 16))
    return listening


def listening_sockets(pids: set[int], proc: Path = PROC) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every listening TCP socket (IPv4 and IPv6) that one of `pids` holds."""
    listening = listen_table()
    return sorted({(pid, *listening[i]) for pid in pids for i in socket_inodes(pid, proc) if i in listening})


def open_files(pids: set[int], proc: Path = PROC) -> set[Path]:
    """The regular files the processes `pids` hold open (logs written outside RUN_DIR, for instance)."""
    return {Path(t) for pid in pids for t in fd_targets(pid, proc)
            if t.startswith("/") and not t.startswith(("/dev/", "/proc/", "/sys/")) and not t.endswith(" (deleted)")}
