"""The process plan: Settings -> the programs supervisord runs. Pure; table-tested.

Rules (what starts when):
- `start-scripts` (START_SCRIPTS) runs once, first.
- `xvfb` (unless START_XVFB=no) is the display; ready when its X socket exists. `x-scripts` after it.
- `x11vnc` only when VNC_SERVER_PASSWORD is set; the password reaches it as an `-rfbauth` file, never
  argv. `novnc` (websockify) when NOVNC_PORT is set (settings refuse it without VNC).
- `controller-<mode>` for each trading mode: `ibpilot control` with IBPILOT_INSTANCE=<mode>; it owns
  the Gateway JVM and is ready when its ready file exists (the API answered).
- `socat-<mode>` per mode when socat is enabled (ENABLE_SOCAT, default: unless SSH_TUNNEL=yes); it
  starts only after its controller is ready, so clients never meet a half-started Gateway.
- `ssh-tunnel-<n>` per SSH_USER_TUNNEL entry when SSH_TUNNEL is yes/both, carrying every mode's API
  (and VNC when SSH_VNC_PORT is set).
- `ibc-scripts` (IBC_SCRIPTS) runs once every controller is ready.

No secret ever appears in a Program's argv or env: secrets travel in `files` (written 0600 into RUN_DIR
by whoever starts the programs), and the controller reads its own from the environment it inherits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ibpilot.net.forward import socat_argv
from ibpilot.net.tunnel import Forward, askpass_env, askpass_script, ssh_argv
from ibpilot.settings import Secret, Settings

FOREVER = 1_000_000  # startretries for programs that must keep retrying (network links)


@dataclass(frozen=True)
class Ready:
    """How to tell a program is ready: a `file` or `unix` socket path exists, or `tcp` host:port accepts."""

    kind: Literal["file", "unix", "tcp"]
    target: str


@dataclass(frozen=True)
class ProgramFile:
    """A file to write before the program starts (created with `mode`, parent RUN_DIR is 0700)."""

    path: str
    content: Secret | str
    mode: int = 0o600
    format: Literal["plain", "vnc-rfbauth"] = "plain"

    def render(self) -> bytes:
        text = self.content.reveal() if isinstance(self.content, Secret) else self.content
        if self.format == "vnc-rfbauth":
            return vnc_rfbauth(text)
        return text.encode()

    @property
    def secret(self) -> bool:
        return isinstance(self.content, Secret)


@dataclass(frozen=True)
class Program:
    """One supervised program."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    secret_env: frozenset[str] = frozenset()  # names in `env` whose values must not be logged
    files: tuple[ProgramFile, ...] = ()
    autorestart: bool = True
    startsecs: int = 1
    startretries: int = 3
    priority: int = 100
    depends_on: tuple[str, ...] = ()  # start only once these programs are ready
    ready: Ready | None = None
    user: str | None = None
    stopwaitsecs: int = 10
    stopasgroup: bool = True
    restart_delay: float = 0.0  # seconds between restarts (supervisord's own back-off comes on top)
    fatal: bool = False  # when it gives up (FATAL), stop everything so the container's policy acts

    @property
    def oneshot(self) -> bool:
        return not self.autorestart and self.startsecs == 0


_RUN_HOOKS = 'for f in "$1"/*.sh; do [ -e "$f" ] || continue; echo "hook: $f"; bash "$f" || exit $?; done'


def _hooks(name: str, directory: str, priority: int, depends_on: tuple[str, ...], user: str | None,
           env: Mapping[str, str] | None = None) -> Program:
    return Program(
        name=name,
        argv=("sh", "-c", _RUN_HOOKS, name, directory),
        env=dict(env or {}),
        autorestart=False,
        startsecs=0,
        startretries=0,
        priority=priority,
        depends_on=depends_on,
        user=user,
    )


def plan(settings: Settings, *, exe: Sequence[str] = ("ibpilot",)) -> list[Program]:
    """Every program to run for these settings, in start order."""
    s = settings
    user = str(s.puid) if s.puid is not None else None
    display = f":{s.display_number}"
    progs: list[Program] = []
    first: tuple[str, ...] = ()

    if s.start_scripts:
        progs.append(_hooks("start-scripts", s.start_scripts, 1, (), user))
        first = ("start-scripts",)

    x_dep: tuple[str, ...] = first
    if s.start_xvfb:
        progs.append(Program(
            name="xvfb",
            argv=("Xvfb", display, "-screen", "0", s.display_size, "-nolisten", "tcp", "-noreset"),
            startsecs=2,
            priority=10,
            depends_on=first,
            ready=Ready("unix", f"/tmp/.X11-unix/X{s.display_number}"),
            user=user,
            fatal=True,
        ))  # fmt: skip
        x_dep = ("xvfb",)

    if s.x_scripts:
        progs.append(_hooks("x-scripts", s.x_scripts, 15, x_dep, user, {"DISPLAY": display}))

    if s.vnc_server_password:
        passwd = f"{s.run_dir}/vnc.passwd"
        progs.append(Program(
            name="x11vnc",
            argv=("x11vnc", "-display", display, "-rfbport", str(s.vnc_port), "-listen", s.vnc_bind,
                  "-rfbauth", passwd, "-forever", "-shared", "-noipv6", "-quiet"),
            files=(ProgramFile(passwd, s.vnc_server_password, 0o600, "vnc-rfbauth"),),
            startsecs=2,
            priority=20,
            depends_on=x_dep,
            ready=Ready("tcp", f"127.0.0.1:{s.vnc_port}"),
            user=user,
        ))  # fmt: skip
        if s.novnc_port:
            progs.append(Program(
                name="novnc",
                argv=("websockify", "--web", s.novnc_web, f"{s.novnc_bind}:{s.novnc_port}",
                      f"127.0.0.1:{s.vnc_port}"),
                startsecs=2,
                priority=21,
                depends_on=("x11vnc",),
                ready=Ready("tcp", f"127.0.0.1:{s.novnc_port}"),
                user=user,
            ))  # fmt: skip

    controllers: list[str] = []
    for i, mode in enumerate(s.modes()):
        name = f"controller-{mode}"
        controllers.append(name)
        progs.append(Program(
            name=name,
            argv=(*exe, "control"),
            env={"IBPILOT_INSTANCE": mode, "DISPLAY": display},
            # 0: supervisord must not treat a quick exit as a failed start and retry it; the controller's
            # exit code decides (3 = credentials refused must stay down: no lock-out storm).
            startsecs=0,
            priority=30 + i,
            depends_on=x_dep,
            ready=Ready("file", s.ready_file(mode)),
            user=user,
            stopwaitsecs=90,  # a clean IBKR logout before the JVM is stopped
            fatal=not s.dual or s.dual_mode_policy == "stop-all",
        ))  # fmt: skip

    if s.socat_enabled():
        for mode in s.modes():
            port = s.socat_port(mode)
            progs.append(Program(
                name=f"socat-{mode}",
                argv=tuple(socat_argv(port, s.api_port(mode), s.socat_bind)),
                startsecs=1,
                startretries=FOREVER,
                priority=40,
                depends_on=(f"controller-{mode}",),
                ready=Ready("tcp", f"127.0.0.1:{port}"),
                user=user,
                restart_delay=1.0,
            ))  # fmt: skip

    if s.ssh_tunnel in ("yes", "both"):
        forwards = [Forward(s.ssh_remote_port_for(m), s.api_port(m)) for m in s.modes()]
        if s.ssh_vnc_port and s.vnc_server_password:
            forwards.append(Forward(s.ssh_vnc_port, s.vnc_port))
        if s.ssh_rdp_port:
            forwards.append(Forward(s.ssh_rdp_port, 3389))
        files: tuple[ProgramFile, ...] = ()
        env: dict[str, str] = {}
        if s.ssh_passphrase:
            secret_path = f"{s.run_dir}/ssh.passphrase"
            askpass = f"{s.run_dir}/ssh-askpass"
            files = (
                ProgramFile(secret_path, s.ssh_passphrase, 0o600),
                ProgramFile(askpass, askpass_script(secret_path), 0o700),
            )
            env = askpass_env(askpass)
        for n, dest in enumerate(s.ssh_user_tunnel, start=1):
            argv = ssh_argv(
                dest,
                forwards,
                known_hosts=s.ssh_known_hosts,
                alive_interval=s.ssh_alive_interval,
                alive_count=s.ssh_alive_count,
                batch_mode=not s.ssh_passphrase,
                identity_file=s.ssh_identity_file,
                extra_options=s.ssh_options,
            )
            progs.append(Program(
                name=f"ssh-tunnel-{n}",
                argv=tuple(argv),
                env=dict(env),
                files=files,
                startsecs=10,
                startretries=FOREVER,
                priority=50,
                user=user,
                restart_delay=s.ssh_restart,
            ))  # fmt: skip

    if s.ibc_scripts:
        progs.append(_hooks("ibc-scripts", s.ibc_scripts, 60, tuple(controllers), user, {"DISPLAY": display}))
    return progs


# --------------------------------------------------------------------------------------------------
# VNC password file (`vncpasswd`/`x11vnc -storepasswd` format): the password, NUL-padded to 8 bytes,
# DES-encrypted with VNC's well-known fixed key. Obfuscation only, hence the 0600 file.

_VNC_KEY = bytes([23, 82, 107, 6, 35, 78, 88, 7])

_PC1 = (57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44,
        36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20,
        12, 4)  # fmt: skip
_PC2 = (14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, 41, 52, 31, 37,
        47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32)  # fmt: skip
_SHIFTS = (1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1)
_IP = (58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48,
       40, 32, 24, 16, 8, 57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, 61, 53, 45, 37, 29, 21, 13,
       5, 63, 55, 47, 39, 31, 23, 15, 7)  # fmt: skip
_FP = (40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31, 38, 6, 46, 14, 54, 22, 62, 30, 37, 5, 45, 13,
       53, 21, 61, 29, 36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27, 34, 2, 42, 10, 50, 18, 58, 26,
       33, 1, 41, 9, 49, 17, 57, 25)  # fmt: skip
_E = (32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17, 16, 17, 18, 19, 20, 21, 20,
      21, 22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1)  # fmt: skip
_P = (16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22,
      11, 4, 25)  # fmt: skip
_S = (
    (14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8,
     4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13),
    (15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5,
     0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9),
    (10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1,
     13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12),
    (7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9,
     10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14),
    (2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6,
     4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3),
    (12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8,
     9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13),
    (4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6,
     1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12),
    (13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2,
     7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11),
)  # fmt: skip


def _permute(value: int, table: Sequence[int], width: int) -> int:
    out = 0
    for pos in table:
        out = (out << 1) | ((value >> (width - pos)) & 1)
    return out


def des_encrypt_block(key: bytes, block: bytes) -> bytes:
    """Standard DES (FIPS 46) of one 8-byte block. Only for VNC's password file; not for security."""
    if len(key) != 8 or len(block) != 8:
        raise ValueError("DES needs an 8-byte key and an 8-byte block")
    k = _permute(int.from_bytes(key, "big"), _PC1, 64)
    c, d = k >> 28, k & 0xFFFFFFF
    subkeys = []
    for shift in _SHIFTS:
        c = ((c << shift) | (c >> (28 - shift))) & 0xFFFFFFF
        d = ((d << shift) | (d >> (28 - shift))) & 0xFFFFFFF
        subkeys.append(_permute((c << 28) | d, _PC2, 56))
    b = _permute(int.from_bytes(block, "big"), _IP, 64)
    left, right = b >> 32, b & 0xFFFFFFFF
    for sk in subkeys:
        x = _permute(right, _E, 32) ^ sk
        out = 0
        for i in range(8):
            six = (x >> (42 - 6 * i)) & 0x3F
            row = ((six & 0x20) >> 4) | (six & 1)
            out = (out << 4) | _S[i][row * 16 + ((six >> 1) & 0xF)]
        left, right = right, left ^ _permute(out, _P, 32)
    return _permute((right << 32) | left, _FP, 64).to_bytes(8, "big")


def _reverse_bits(byte: int) -> int:
    return int(f"{byte:08b}"[::-1], 2)


def vnc_rfbauth(password: str) -> bytes:
    """The 8-byte content of a VNC password file for `password` (first 8 characters count)."""
    pw = password.encode("latin-1", errors="replace")[:8].ljust(8, b"\0")
    # VNC's d3des takes key bits in reverse order; in standard DES terms the key is bit-reversed.
    key = bytes(_reverse_bits(b) for b in _VNC_KEY)
    return des_encrypt_block(key, pw)
