"""Where the stack keeps its files, and writing them before supervisord starts.

Everything lives in RUN_DIR (0700): supervisord.conf, its socket, pid and log, `logs/<program>.log`, and
`secrets/` with the 0600 files that carry secrets instead of argv or environment: program files (VNC
password, ssh passphrase), secret environment of a program, and every secret setting given directly
(`TWS_PASSWORD=x` becomes `TWS_PASSWORD_FILE=RUN_DIR/secrets/TWS_PASSWORD`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ibpilot.settings import VARS, Secret, Settings
from ibpilot.stack.plan import Program, ProgramFile


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


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
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
            write_private(path, f.render(), f.mode)
            written.append(path)
        if p.secret_env:
            lines = "".join(f"{k}={shlex.quote(p.env[k])}\n" for k in sorted(p.secret_env) if k in p.env)
            path = lay.env_file(p.name)
            write_private(path, lines.encode())
            written.append(path)
    return written


# The simulator's own variables (sim/README.md) that name files.
SIM_PATHS = ("IBPILOT_SIM_SCENARIO", "IBPILOT_SIM_EVENTS")


def child_environment(settings: Settings, env: Mapping[str, str], lay: Layout) -> tuple[dict[str, str], list[Path]]:
    """`env` for supervisord and its programs, with every secret given directly moved into a 0600 file.

    `TWS_PASSWORD=x` becomes `TWS_PASSWORD_FILE=RUN_DIR/secrets/TWS_PASSWORD` (aliases included), so the
    value is in no process environment but the reader's memory. Secrets already given as files stay.
    """
    out = dict(env)
    for name in SIM_PATHS:  # the programs run elsewhere: a path relative to where `ibpilot run` was started
        if out.get(name) and not os.path.isabs(out[name]):
            out[name] = os.path.abspath(out[name])
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
            write_private(path, value.reveal().encode())
            written.append(path)
            out[f"{v.name}_FILE"] = str(path)
    return out, written


def chown_tree(paths: Iterable[Path], uid: int, gid: int) -> None:
    for p in paths:
        with contextlib.suppress(OSError):
            os.chown(p, uid, gid)
