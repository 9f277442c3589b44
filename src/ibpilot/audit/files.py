"""Secrets in files, and the modes of the files, directories and sockets that guard them.

Places scanned: everything under RUN_DIR (logs, supervisord's files, state and ready files, secrets/),
every Gateway settings dir (jts.ini, the Gateway's own logs and per-user folders), and every regular file a
process of the stack holds open (a log written elsewhere). A secret may only be in
its *holder*: `RUN_DIR/secrets/<VAR>` (written by `ibpilot run` for a secret given directly), the program
files of the plan (`vnc.passwd` in its DES form, `ssh.passphrase`), `RUN_DIR/secrets/<program>.env`, or the
file the operator named in `<VAR>_FILE`. A holder must not be readable by group or other; anywhere else a
secret is a finding whatever the mode. No Gateway file is a holder: IB Gateway keeps no clear-text login
on disk (ibpilot types it), so finding one in a settings dir is a leak too.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from ibpilot.audit.needles import Needle, find
from ibpilot.audit.report import Finding, Report
from ibpilot.settings import VARS, Secret, Settings
from ibpilot.stack.layout import layout

MAX_BYTES = 64 << 20  # larger files are skipped (noted)
SKIP_SUFFIXES = (".jar", ".zip", ".so", ".gz", ".class", ".png", ".jpg", ".ico")  # compressed/binary: no clear text
_FROM_FILE = re.compile(r"^file \S+_FILE \((.*)\)$")


def holders(settings: Settings) -> dict[Path, set[str]]:
    """path -> the secret variables that file may hold (see the module doc)."""
    lay = layout(settings)
    out: dict[Path, set[str]] = {}
    for v in VARS:
        if not v.secret or not isinstance(settings.value_of(v), Secret):
            continue
        out.setdefault(lay.secrets_dir / v.name, set()).add(v.name)
        m = _FROM_FILE.match(settings.sources.get(v.attr, ""))
        if m:
            out.setdefault(Path(m.group(1)).expanduser(), set()).add(v.name)
    run = lay.run_dir
    out.setdefault(run / "vnc.passwd", set()).add("VNC_SERVER_PASSWORD")
    out.setdefault(run / "ssh.passphrase", set()).add("SSH_PASSPHRASE")
    all_secret = {v.name for v in VARS if v.secret}
    if lay.secrets_dir.is_dir():
        for env_file in lay.secrets_dir.glob("*.env"):
            out.setdefault(env_file, set()).update(all_secret)
    return out


def walk(root: Path) -> Iterator[Path]:
    """Every regular file and socket under `root` (symlinks are not followed); `root` itself if a file."""
    if root.is_file():
        yield root
        return
    try:
        entries = list(root.iterdir())
    except OSError:
        return
    for p in sorted(entries):
        try:
            st = p.lstat()
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from walk(p)
        elif stat.S_ISREG(st.st_mode) or stat.S_ISSOCK(st.st_mode):
            yield p


def group_other(mode: int) -> bool:
    return bool(mode & 0o077)


def scan_files(roots: Iterable[Path], needles: list[Needle], allowed: dict[Path, set[str]], report: Report) -> None:
    """Every file under `roots`: a secret outside its holder, or a holder readable by group/other."""
    seen: set[Path] = set()
    skipped = 0
    for root in roots:
        for path in walk(root):
            if path in seen:
                continue
            seen.add(path)
            try:
                st = path.lstat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if path.suffix.lower() in SKIP_SUFFIXES or st.st_size > MAX_BYTES:
                skipped += 1
                continue
            try:
                data = path.read_bytes()
            except OSError as exc:
                report.notes.append(f"{path}: not readable ({exc.strerror})")
                continue
            report.count("files")
            for n in find(needles, data):
                if n.var in allowed.get(path, set()):
                    if group_other(st.st_mode):
                        report.add(Finding("mode", str(path), f"{n.var} is in {path}, which is readable by "
                                           f"group/other (mode {stat.S_IMODE(st.st_mode):04o})", n.var))
                    continue
                readable = " (readable by group/other)" if group_other(st.st_mode) else ""
                report.add(Finding("file", str(path), f"{n.label} found in file {path}{readable}", n.var))
    if skipped:
        report.notes.append(f"{skipped} archive/binary or over-{MAX_BYTES >> 20}-MiB file(s) not searched")


def check_private(path: Path, what: str, kind: str, report: Report, *, must_exist: bool = True) -> None:
    """`path` (a directory, socket or file) must not be open to group/other."""
    try:
        st = path.lstat()
    except OSError:
        if must_exist:
            report.add(Finding("mode", str(path), f"{what} {path} is missing"))
        else:
            report.notes.append(f"{what} {path} does not exist (not checked)")
        return
    report.count("modes")
    mode = stat.S_IMODE(st.st_mode)
    kinds = {"dir": stat.S_ISDIR, "socket": stat.S_ISSOCK, "file": stat.S_ISREG}
    if not kinds[kind](st.st_mode):
        report.add(Finding("mode", str(path), f"{what} {path} is not a {kind}"))
    elif group_other(mode):
        report.add(Finding("mode", str(path), f"{what} {path} has mode {mode:04o}: open to group/other"))


def check_modes(settings: Settings, report: Report) -> None:
    """RUN_DIR and secrets/ 0700, the agent sockets and supervisord's socket 0600 (nothing for group/other)."""
    lay = layout(settings)
    check_private(lay.run_dir, "RUN_DIR", "dir", report)
    check_private(lay.secrets_dir, "the secrets directory", "dir", report, must_exist=False)
    check_private(lay.socket, "supervisord's control socket", "socket", report)
    for m in settings.modes():
        sock = Path(settings.agent_socket(m)).expanduser()
        check_private(sock, f"the agent socket ({m})", "socket", report, must_exist=False)
        check_private(sock.parent, f"the agent socket's directory ({m})", "dir", report)
    for path, names in holders(settings).items():
        if path.exists() and path.is_relative_to(lay.run_dir):
            check_private(path, f"the file holding {', '.join(sorted(names))}", "file", report)
        elif path.exists() and group_other(path.stat().st_mode):
            report.notes.append(f"{path} (given as a *_FILE for {', '.join(sorted(names))}) is readable by "
                                "group/other: outside the stack's control, consider 0400/0600")
