"""The plan under supervisord: render supervisord.conf, start supervisord, order the programs, stop gracefully.

supervisord has no dependencies between programs, so `Stack` (running inside `ibpilot run`, supervisord's
parent) adds them:
- programs without `depends_on` are `autostart=true`; the others are `autostart=false` and started over
  XML-RPC once every dependency is ready (its `Ready` condition holds and supervisord says RUNNING; a
  one-shot hook is "ready" once it has exited);
- a long-running program that depends on a controller (a `file` readiness, e.g. `socat-paper`) is
  *gated*: it is stopped whenever that controller is not ready and started again when it is, so that
  API clients get "connection refused" instead of a half-started Gateway;
- a `fatal` program that gives up (FATAL) or exits for good (a controller's exit code 0, 2 or 3) stops the
  whole stack, so that the container's restart policy acts.

Secrets never reach supervisord.conf or argv: the web UI password is stored as `{SHA}` hash, program
files (VNC password, ssh passphrase) are written 0600 into RUN_DIR, and secret environment variables are
moved into 0600 files named by `<NAME>_FILE` before supervisord (and everything under it) starts.

Every program's output goes to `RUN_DIR/logs/<name>.log` (rotated by supervisord) and is echoed by
`ibpilot run` to its own stdout as `[<name>] <line>`, so `docker logs` shows everything.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import http.client
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import xmlrpc.client
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ibpilot.serve.alerts import Alert, emit
from ibpilot.settings import VARS, Secret, Settings
from ibpilot.stack.plan import Program, ProgramFile

log = logging.getLogger("ibpilot.stack")

# A controller exiting with one of these has finished on purpose (0 stopped/closed down, 2 bad
# configuration, 3 credentials refused too often, 4 second factor not completed with
# TWOFA_TIMEOUT_ACTION=exit): supervisord must not restart it (no retry storm; the user's choice).
CONTROLLER_FINAL_EXIT_CODES = (0, 2, 3, 4)

# `ibpilot run` exit codes
EXIT_OK = 0  # stopped by SIGTERM/SIGINT (or every controller finished by itself with 0)
EXIT_ERROR = 1  # supervisord could not start or died
EXIT_CONFIG = 2  # bad configuration: nothing was started
EXIT_CREDENTIALS = 3  # a controller gave up: credentials refused (passed through from `ibpilot control`)
EXIT_TWOFA = 4  # a controller exited after an incomplete second factor (TWOFA_TIMEOUT_ACTION=exit)
EXIT_PROGRAM_FAILED = 5  # a vital program failed for good (FATAL), e.g. Xvfb or a crashing controller
EXIT_KILLED = 6  # the graceful stop took longer than the grace period; what was left was killed

_RUNNING_STATES = {"STARTING", "RUNNING", "BACKOFF", "STOPPING"}
LOG_MAXBYTES = 10 * 1024 * 1024


# --------------------------------------------------------------------------------------------------
# Paths


@dataclass(frozen=True)
class Layout:
    """Where the stack keeps its files (all inside RUN_DIR, which is 0700)."""

    run_dir: Path

    @property
    def conf(self) -> Path:
        return self.run_dir / "supervisord.conf"

    @property
    def socket(self) -> Path:
        return self.run_dir / "supervisor.sock"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "supervisord.pid"

    @property
    def logfile(self) -> Path:
        return self.run_dir / "supervisord.log"

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def secrets_dir(self) -> Path:
        return self.run_dir / "secrets"

    def program_log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def env_file(self, name: str) -> Path:
        return self.secrets_dir / f"{name}.env"


def layout(settings: Settings) -> Layout:
    return Layout(Path(settings.run_dir).expanduser())


# --------------------------------------------------------------------------------------------------
# Rendering (pure)


def _conf_value(text: str) -> str:
    """A value safe for supervisord's ini file: one line, `%` escaped (supervisord expands `%(...)s`)."""
    if "\n" in text or "\r" in text:
        raise ValueError(f"a newline cannot go into supervisord.conf: {text!r}")
    return text.replace("%", "%%")


def _env_value(name: str, value: str) -> str:
    for q in ('"', "'"):
        if q not in value:
            return f"{name}={q}{_conf_value(value)}{q}"
    raise ValueError(f"{name}: a value with both kinds of quotes cannot go into supervisord.conf")


def gated_on(program: Program, programs: Sequence[Program]) -> tuple[str, ...]:
    """The controllers (programs ready by a file) a long-running program follows: stopped while not ready."""
    if not program.autorestart:
        return ()
    by_name = {p.name: p for p in programs}
    return tuple(d for d in program.depends_on if (dep := by_name.get(d)) and dep.ready and dep.ready.kind == "file")


def is_controller(program: Program) -> bool:
    return program.name.startswith("controller-")


def command_line(program: Program, env_file: Path | None = None) -> list[str]:
    """The argv supervisord runs: the program's own, wrapped for a restart delay and secret environment."""
    argv = list(program.argv)
    if program.restart_delay > 0:
        # Keep the program's exit status but wait a little before supervisord restarts it.
        argv = ["sh", "-c", f'"$@"; rc=$?; sleep {program.restart_delay:g}; exit $rc', program.name, *argv]
    if env_file is not None:
        argv = ["sh", "-c", 'set -a; . "$0"; set +a; exec "$@"', str(env_file), *argv]
    return argv


def render_conf(
    settings: Settings, programs: Sequence[Program], lay: Layout, *, as_root: bool | None = None
) -> str:
    """supervisord.conf for `programs` (no secret in it: the UI password is a SHA-1 hash)."""
    root = os.geteuid() == 0 if as_root is None else as_root
    run = lay.run_dir
    out = [
        "; Generated by `ibpilot run` at every start: edit the environment, not this file.",
        "[unix_http_server]",
        f"file={_conf_value(str(lay.socket))}",
        "chmod=0700",
        "",
    ]
    if settings.supervisord_ui_port:
        out += ["[inet_http_server]", f"port={settings.supervisord_ui_bind}:{settings.supervisord_ui_port}"]
        if settings.supervisord_ui_user and settings.supervisord_ui_pass:
            digest = hashlib.sha1(settings.supervisord_ui_pass.reveal().encode()).hexdigest()  # noqa: S324
            out += [f"username={_conf_value(settings.supervisord_ui_user)}", f"password={{SHA}}{digest}"]
        out.append("")
    out += [
        "[supervisord]",
        "nodaemon=true",
        f"logfile={_conf_value(str(lay.logfile))}",
        "logfile_maxbytes=10MB",
        "logfile_backups=2",
        f"pidfile={_conf_value(str(lay.pidfile))}",
        f"childlogdir={_conf_value(str(lay.log_dir))}",
        f"loglevel={'debug' if settings.log_level == 'debug' else 'info'}",
        "identifier=ibpilot",
        *(["user=root"] if root else []),  # said on purpose: silences supervisord's warning
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{_conf_value(str(lay.socket))}",
        "",
    ]
    for p in programs:
        env_file = lay.env_file(p.name) if p.secret_env else None
        if is_controller(p) and p.autorestart:
            autorestart, exitcodes = "unexpected", ",".join(map(str, CONTROLLER_FINAL_EXIT_CODES))
        else:
            autorestart, exitcodes = ("true" if p.autorestart else "false"), "0"
        out += [
            f"[program:{p.name}]",
            f"command={_conf_value(shlex.join(command_line(p, env_file)))}",
            f"autostart={'false' if p.depends_on else 'true'}",
            f"autorestart={autorestart}",
            f"exitcodes={exitcodes}",
            f"startsecs={p.startsecs}",
            f"startretries={p.startretries}",
            f"priority={p.priority}",
            "stopsignal=TERM",
            f"stopwaitsecs={p.stopwaitsecs}",
            f"stopasgroup={'true' if p.stopasgroup else 'false'}",
            f"killasgroup={'true' if p.stopasgroup else 'false'}",
            "redirect_stderr=true",
            f"stdout_logfile={_conf_value(str(lay.program_log(p.name)))}",
            "stdout_logfile_maxbytes=10MB",
            "stdout_logfile_backups=2",
            f"directory={_conf_value(str(run))}",
        ]
        plain_env = {k: v for k, v in p.env.items() if k not in p.secret_env}
        if plain_env:
            out.append("environment=" + ",".join(_env_value(k, v) for k, v in sorted(plain_env.items())))
        if p.user is not None and root:
            out.append(f"user={_conf_value(p.user)}")
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------
# Files and environment (side effects, before supervisord starts)


def _write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)


def prepare_run_dir(lay: Layout) -> None:
    for d in (lay.run_dir, lay.log_dir, lay.secrets_dir):
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o700)


def write_program_files(programs: Iterable[Program], lay: Layout) -> list[Path]:
    """Write every ProgramFile (VNC password file, ssh askpass...) and secret env file; return the paths."""
    written: list[Path] = []
    seen: set[str] = set()
    for p in programs:
        files: list[ProgramFile] = [f for f in p.files if f.path not in seen]
        for f in files:
            seen.add(f.path)
            path = Path(f.path).expanduser()
            _write_private(path, f.render(), f.mode)
            written.append(path)
        if p.secret_env:
            lines = "".join(f"{k}={shlex.quote(p.env[k])}\n" for k in sorted(p.secret_env) if k in p.env)
            path = lay.env_file(p.name)
            _write_private(path, lines.encode())
            written.append(path)
    return written


def child_environment(settings: Settings, env: Mapping[str, str], lay: Layout) -> tuple[dict[str, str], list[Path]]:
    """`env` for supervisord and its programs, with every secret given directly moved into a 0600 file.

    `TWS_PASSWORD=x` becomes `TWS_PASSWORD_FILE=RUN_DIR/secrets/TWS_PASSWORD` (aliases included), so the
    value is in no process environment but the reader's memory. Secrets already given as files stay.
    """
    out = dict(env)
    written: list[Path] = []
    for v in VARS:
        if not v.secret:
            continue
        given = [n for n in v.all_names() if out.get(n, "").strip()]
        if not given:
            continue
        for n in v.all_names():
            out.pop(n, None)
        for n in v.file_names():
            out.pop(f"{n}_FILE", None)
        value = settings.value_of(v)
        if isinstance(value, Secret):
            path = lay.secrets_dir / v.name
            _write_private(path, value.reveal().encode())
            written.append(path)
            out[f"{v.name}_FILE"] = str(path)
    return out, written


def chown_tree(paths: Iterable[Path], uid: int, gid: int) -> None:
    for p in paths:
        with contextlib.suppress(OSError):
            os.chown(p, uid, gid)


# --------------------------------------------------------------------------------------------------
# XML-RPC to supervisord over its Unix socket


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self._path)
        except OSError:
            s.close()
            raise
        self.sock = s


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__()
        self._path = path
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return _UnixHTTPConnection(self._path, self._timeout)


class Supervisor:
    """A small typed client of supervisord's XML-RPC interface (the `supervisor.*` namespace)."""

    def __init__(self, socket_path: Path, timeout: float = 10.0) -> None:
        self._proxy = xmlrpc.client.ServerProxy(
            "http://localhost/RPC2", transport=_UnixTransport(str(socket_path), timeout), allow_none=True
        )

    def _call(self, method: str, *args: Any) -> Any:
        return getattr(self._proxy.supervisor, method)(*args)

    def state(self) -> str:
        return str(self._call("getState")["statename"])

    def processes(self) -> dict[str, dict[str, Any]]:
        return {str(i["name"]): dict(i) for i in self._call("getAllProcessInfo")}

    def start(self, name: str) -> bool:
        """Start without waiting; False when it was already started."""
        try:
            self._call("startProcess", name, False)
            return True
        except xmlrpc.client.Fault as e:
            if "ALREADY_STARTED" in e.faultString:
                return False
            raise

    def stop(self, name: str) -> bool:
        """Ask it to stop without waiting; False when it was not running."""
        try:
            self._call("stopProcess", name, False)
            return True
        except xmlrpc.client.Fault as e:
            if "NOT_RUNNING" in e.faultString:
                return False
            raise

    def shutdown(self) -> None:
        self._call("shutdown")


# --------------------------------------------------------------------------------------------------
# Readiness


def tcp_accepts(target: str, timeout: float = 0.3) -> bool:
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def condition_holds(program: Program) -> bool:
    """The program's own Ready condition (file/socket exists, or the TCP port accepts)."""
    r = program.ready
    if r is None:
        return True
    if r.kind == "tcp":
        return tcp_accepts(r.target)
    return Path(r.target).expanduser().exists()


# --------------------------------------------------------------------------------------------------
# Log forwarding: RUN_DIR/logs/<name>.log -> our stdout as "[name] line"


class LogForwarder:
    """Follows every program's log file (surviving rotation) and writes `[name] line` to `out`."""

    def __init__(self, files: Mapping[str, Path], out: TextIO, lock: threading.Lock) -> None:
        self._files = dict(files)
        self._out = out
        self._lock = lock
        self._handles: dict[str, Any] = {}
        self._partial: dict[str, bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="log-forwarder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._poll()  # the last lines
        for fh in self._handles.values():
            fh.close()

    def _emit(self, name: str, data: bytes) -> None:
        buf = self._partial.get(name, b"") + data
        *lines, rest = buf.split(b"\n")
        self._partial[name] = rest
        if lines:
            text = "".join(f"[{name}] {ln.decode(errors='replace').rstrip()}\n" for ln in lines)
            with self._lock:
                self._out.write(text)
                self._out.flush()

    def _poll(self) -> None:
        for name, path in self._files.items():
            fh = self._handles.get(name)
            if fh is None:
                try:
                    fh = open(path, "rb")
                except OSError:
                    continue
                self._handles[name] = fh
            data = fh.read()
            if data:
                self._emit(name, data)
            try:
                st = os.stat(path)
            except OSError:
                continue
            if st.st_ino != os.fstat(fh.fileno()).st_ino or st.st_size < fh.tell():
                rest = fh.read()  # rotated: finish the old file, then follow the new one
                if rest:
                    self._emit(name, rest)
                fh.close()
                del self._handles[name]

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self._poll()
            except Exception:  # the forwarder must never take the stack down
                log.exception("log forwarding failed")


def _pump(stream: Any, name: str, out: TextIO, lock: threading.Lock) -> None:
    for raw in iter(stream.readline, b""):
        with lock:
            out.write(f"[{name}] {raw.decode(errors='replace').rstrip()}\n")
            out.flush()


def _set_pdeathsig() -> None:
    """In the child: get SIGTERM if `ibpilot run` dies, so supervisord never outlives it (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


# --------------------------------------------------------------------------------------------------
# The running stack


@dataclass
class Stack:
    """supervisord plus the ordering loop. `run()` blocks until stopped and returns an exit code."""

    settings: Settings
    programs: list[Program]
    env: Mapping[str, str]
    out: TextIO = sys.stdout
    forward_logs: bool = True
    grace: float | None = None  # seconds for a graceful stop; default: the longest stopwaitsecs + 15
    on_ready: Callable[[Stack], None] | None = None
    poll_interval: float = 0.2

    lay: Layout = field(init=False)
    stop_requested: threading.Event = field(default_factory=threading.Event, init=False)
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    rpc: Supervisor | None = field(default=None, init=False)
    started: set[str] = field(default_factory=set, init=False)
    ready: set[str] = field(default_factory=set, init=False)
    infos: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _forwarder: LogForwarder | None = field(default=None, init=False)
    _all_ready_once: bool = field(default=False, init=False)
    _modes_ready: set[str] = field(default_factory=set, init=False)
    _reported_down: set[str] = field(default_factory=set, init=False)
    _hooks_reported: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.lay = layout(self.settings)
        self._by_name = {p.name: p for p in self.programs}
        self._gates = {p.name: gated_on(p, self.programs) for p in self.programs}

    @property
    def controllers(self) -> list[Program]:
        return [p for p in self.programs if is_controller(p)]

    def request_stop(self) -> None:
        self.stop_requested.set()

    # --- start ------------------------------------------------------------------------------------
    def prepare(self) -> dict[str, str]:
        """Write RUN_DIR: secrets, program files, supervisord.conf. Returns supervisord's environment."""
        s = self.settings
        prepare_run_dir(self.lay)
        for mode in s.modes():  # a ready file from an earlier run must not claim readiness
            with contextlib.suppress(FileNotFoundError):
                Path(s.ready_file(mode)).expanduser().unlink()
        for stale in (self.lay.socket, self.lay.pidfile):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        env, written = child_environment(s, self.env, self.lay)
        written += write_program_files(self.programs, self.lay)
        _write_private(self.lay.conf, render_conf(s, self.programs, self.lay).encode())
        for p in self.programs:
            log_file = self.lay.program_log(p.name)
            log_file.touch(exist_ok=True)
        if os.geteuid() == 0 and s.puid is not None:
            gid = s.pgid if s.pgid is not None else s.puid
            chown_tree([self.lay.run_dir, self.lay.log_dir, self.lay.secrets_dir, *written,
                        *self.lay.log_dir.iterdir()], s.puid, gid)
        return env

    def _supervisord_argv(self) -> list[str]:
        return [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.lay.conf)]

    def start(self) -> None:
        env = self.prepare()
        self.proc = subprocess.Popen(
            self._supervisord_argv(),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if self.forward_logs else subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C reaches `ibpilot run` only; it stops things in order
            preexec_fn=_set_pdeathsig,
        )
        if self.forward_logs:
            threading.Thread(target=_pump, args=(self.proc.stdout, "supervisord", self.out, self._lock),
                             name="supervisord-output", daemon=True).start()
            self._forwarder = LogForwarder({p.name: self.lay.program_log(p.name) for p in self.programs},
                                           self.out, self._lock)
            self._forwarder.start()
        self.rpc = Supervisor(self.lay.socket)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"supervisord exited with status {self.proc.returncode} while starting "
                                   f"(see {self.lay.logfile})")
            try:
                if self.rpc.state() == "RUNNING":
                    break
            except (OSError, xmlrpc.client.Error):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("supervisord did not answer on its socket within 30 s")
            if self.stop_requested.wait(0.05):
                break
        self.started = {p.name for p in self.programs if not p.depends_on}

    # --- the ordering loop -------------------------------------------------------------------------
    def _is_ready(self, name: str) -> bool:
        p = self._by_name[name]
        info = self.infos.get(name, {})
        state = info.get("statename")
        if p.oneshot:
            return state == "EXITED"
        return state in ("STARTING", "RUNNING") and condition_holds(p)

    def _tick(self) -> int | None:
        """One pass: refresh states, start/stop what depends on readiness; an exit code means stop."""
        assert self.rpc is not None
        self.infos = self.rpc.processes()
        now_ready = {p.name for p in self.programs if p.name in self.infos and self._is_ready(p.name)}
        for name in sorted(now_ready - self.ready):
            log.info("stack: %s ready", name)
        for name in sorted((self.ready - now_ready) & {c.name for c in self.controllers}):
            log.warning("stack: %s is no longer ready", name)
        self.ready = now_ready
        for p in self.programs:
            if p.oneshot and self.infos.get(p.name, {}).get("statename") == "EXITED" \
                    and p.name not in self._hooks_reported:
                self._hooks_reported.add(p.name)
                code = self.infos[p.name].get("exitstatus", 0)
                if code:
                    log.warning("stack: %s exited with status %s (continuing)", p.name, code)
        for p in self.programs:
            gates = self._gates[p.name]
            deps_ready = all(d in self.ready for d in p.depends_on)
            state = self.infos.get(p.name, {}).get("statename")
            if p.name not in self.started:
                if deps_ready and not self.stop_requested.is_set():
                    log.info("stack: starting %s (%s ready)", p.name, ", ".join(p.depends_on))
                    self.rpc.start(p.name)
                    self.started.add(p.name)
            elif gates and not all(g in self.ready for g in gates):
                if state in _RUNNING_STATES and state != "STOPPING":
                    log.info("stack: stopping %s until %s is ready again", p.name, ", ".join(gates))
                    self.rpc.stop(p.name)
                self.started.discard(p.name)
        self._report_modes()
        return self._verdict()

    def _report_modes(self) -> None:
        s = self.settings
        for mode in s.modes():
            name = f"controller-{mode}"
            ok = name in self.ready
            if ok and mode not in self._modes_ready:
                self._modes_ready.add(mode)
                where = [f"API 127.0.0.1:{s.api_port(mode)}"]
                if f"socat-{mode}" in self._by_name:
                    where.append(f"socat {s.socat_bind}:{s.socat_port(mode)}")
                log.info("stack: %s READY (%s)", mode, ", ".join(where))
            elif not ok:
                self._modes_ready.discard(mode)
        if not self._all_ready_once and len(self._modes_ready) == len(s.modes()):
            self._all_ready_once = True
            if self.on_ready is not None:
                self.on_ready(self)

    def _verdict(self) -> int | None:
        codes: list[int] = []
        for p in self.programs:
            info = self.infos.get(p.name, {})
            state = info.get("statename")
            final = state == "FATAL" or (state == "EXITED" and not p.oneshot and p.name in self.started)
            if not final:
                continue
            code = EXIT_PROGRAM_FAILED if state == "FATAL" else int(info.get("exitstatus", 1))
            if code == 2:  # a controller refusing the configuration: same meaning for the stack
                code = EXIT_CONFIG
            elif code not in (0, EXIT_CREDENTIALS, EXIT_TWOFA):
                code = EXIT_PROGRAM_FAILED
            if p.fatal:
                log.error("stack: %s %s (exit status %s); stopping everything", p.name,
                          "gave up" if state == "FATAL" else "finished", info.get("exitstatus"))
                return code
            if p.name not in self._reported_down:
                self._reported_down.add(p.name)
                if is_controller(p):
                    emit(log, Alert.MODE_DOWN, p.name.removeprefix("controller-"),
                         f"{p.name} is down for good ({state}); the other side keeps running",
                         exit_status=info.get("exitstatus"))
                else:
                    log.error("stack: %s %s; not restarted", p.name, state)
            if is_controller(p):
                codes.append(code)
        if self.controllers and len(codes) == len(self.controllers):
            log.error("stack: every controller is down; stopping")
            return max(codes)
        return None

    def run(self) -> int:
        """Start, keep ordering until a stop is requested or something vital failed, stop; the exit code."""
        try:
            self.start()
        except (OSError, RuntimeError) as exc:
            log.error("stack: %s", exc)
            self._kill_everything()
            return EXIT_ERROR
        code: int | None = None
        while not self.stop_requested.is_set():
            assert self.proc is not None
            if self.proc.poll() is not None:
                log.error("stack: supervisord exited unexpectedly (status %s)", self.proc.returncode)
                self._kill_everything()
                self._finish()
                return EXIT_ERROR
            try:
                code = self._tick()
            except (OSError, xmlrpc.client.Error) as exc:
                log.warning("stack: supervisord did not answer (%s)", exc)
            if code is not None:
                break
            self.stop_requested.wait(self.poll_interval)
        stop_code = self.stop()
        return stop_code if code is None else (code if stop_code == EXIT_OK else stop_code)

    # --- stop -------------------------------------------------------------------------------------
    def default_grace(self) -> float:
        return max((p.stopwaitsecs for p in self.programs), default=10) + 15.0

    def stop(self) -> int:
        """Controllers first (clean logout), then everything else; kill what outlives the grace period."""
        grace = self.grace if self.grace is not None else self.default_grace()
        deadline = time.monotonic() + grace
        log.info("stack: stopping (grace %.0f s): controllers first", grace)
        rpc, proc = self.rpc, self.proc
        if proc is None or rpc is None:
            return EXIT_OK
        forced = False
        try:
            gated = [p for p in self.programs if self._gates[p.name]]
            for p in [*gated, *self.controllers]:  # API forwarders first: clients get refused, not hung
                with contextlib.suppress(xmlrpc.client.Fault):
                    rpc.stop(p.name)
            while time.monotonic() < deadline - 5 and proc.poll() is None:
                infos = rpc.processes()
                if all(infos.get(c.name, {}).get("statename") not in _RUNNING_STATES for c in self.controllers):
                    break
                time.sleep(0.1)
            self.infos = rpc.processes()
            rpc.shutdown()
        except (OSError, xmlrpc.client.Error) as exc:
            log.warning("stack: supervisord did not answer while stopping (%s)", exc)
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("stack: still running after the %.0f s grace period: killing what is left", grace)
            self._kill_everything()
            forced = True
        self._finish()
        log.info("stack: stopped")
        return EXIT_KILLED if forced else EXIT_OK

    def _kill_everything(self) -> None:
        for info in self.infos.values():
            pid = int(info.get("pid") or 0)
            if pid > 0:
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)  # programs run in their own process groups
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def _finish(self) -> None:
        if self._forwarder is not None:
            self._forwarder.stop()
            self._forwarder = None
        for mode in self.settings.modes():
            with contextlib.suppress(FileNotFoundError):
                Path(self.settings.ready_file(mode)).expanduser().unlink()
