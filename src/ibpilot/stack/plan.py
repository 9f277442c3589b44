"""The process plan: Settings -> the programs supervisord runs. Pure; table-tested.

Rules (what starts when):
- `start-scripts` (START_SCRIPTS) runs once, first.
- `xvfb` (unless START_XVFB=no) is the display; ready when its X socket exists. `x-scripts` after it.
- `x11vnc` only when VNC_SERVER_PASSWORD is set; the password reaches it as an `-rfbauth` file, never
  argv. It listens on VNC_BIND only: x11vnc 0.9.16 also opens `[::]:VNC_PORT` despite `-listen` and
  `-noipv6`, which `-rfbportv6 -1` stops. `novnc` (websockify) when NOVNC_PORT is set (settings refuse it
  without VNC).
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
from ibpilot.stack.vncpasswd import vnc_rfbauth

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
                  "-rfbauth", passwd, "-forever", "-shared", "-noipv6", "-rfbportv6", "-1", "-quiet"),
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


def is_controller(program: Program) -> bool:
    return program.name.startswith("controller-")


def gated_on(program: Program, programs: Sequence[Program]) -> tuple[str, ...]:
    """The controllers (programs ready by a file) a long-running program follows: stopped while not ready."""
    if not program.autorestart:
        return ()
    by_name = {p.name: p for p in programs}
    return tuple(d for d in program.depends_on if (dep := by_name.get(d)) and dep.ready and dep.ready.kind == "file")
