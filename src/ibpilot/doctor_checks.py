"""The checks of `ibpilot doctor`: this machine and the configuration, each with its fix.

Each check is a function of `Settings` (and the environment) returning `Check`s; none changes anything
(a writability test creates and removes one temporary file) and none reaches the network beyond what the
OS's own tools do (`timedatectl`, `chronyc` ask the local time daemon).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ibpilot.controller.second_factor import valid_base32
from ibpilot.gateway.install import Install, InstallError, find_install, installed_versions
from ibpilot.gateway.jvm import JavaNotFound, find_java
from ibpilot.net.tunnel import parse_destination
from ibpilot.settings import Settings
from ibpilot.stack.listeners import ANY_ADDRESS, expected_listeners, port_free
from ibpilot.stack.plan import plan

Status = Literal["ok", "warn", "FAIL"]
TOOL_TIMEOUT = 20.0  # seconds for `java -version`, `chronyc`, ... (a JVM's first start can be slow)
SKEW_WARN, SKEW_FAIL = 2.0, 10.0  # seconds: TOTP codes last 30 s and IB accepts little drift


@dataclass(frozen=True)
class Check:
    check: str
    status: Status
    detail: str
    fix: str = ""


def _run(argv: list[str]) -> subprocess.CompletedProcess[str] | None:
    """Run a local tool; None when it is missing or does not finish in time."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None


# --- install and Java -------------------------------------------------------------------------------------


def check_install(s: Settings) -> tuple[Check, Install | None]:
    tws_path = Path(s.tws_path).expanduser()
    if s.ibpilot_sim and not installed_versions(tws_path, s.gateway_or_tws):
        return Check("install", "ok", f"IBPILOT_SIM=yes: `ibpilot run` installs the simulated {s.gateway_or_tws} "
                     f"in {tws_path}"), None
    try:
        inst = find_install(tws_path, s.gateway_or_tws, s.tws_major_vrsn)
    except (InstallError, OSError) as e:
        return Check("install", "FAIL", str(e),
                     f"install IB's offline {s.gateway_or_tws} (its installer, into TWS_PATH) or set TWS_PATH to "
                     "the directory holding it; to try ibpilot without IB's software: IBPILOT_SIM=yes"), None
    return Check("install", "ok", f"{inst.product} {inst.version} in {inst.program_dir}"), inst


_JAVA_VERSION = re.compile(r'version "([^"]+)"')


def java_major(version: str) -> int | None:
    """17 for "17.0.9", 8 for "1.8.0_392"."""
    m = re.match(r"(\d+)(?:\.(\d+))?", version)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def check_java(inst: Install | None, env: Mapping[str, str]) -> Check:
    java_home = env.get("JAVA_HOME") or None
    try:
        java = find_java(inst, java_home) if inst is not None else (shutil.which("java") or "")
    except JavaNotFound as e:
        java = ""
        why = str(e)
    else:
        why = "no java on PATH"
    if not java:
        return Check("java", "FAIL", why, "install a Java 17 runtime (Debian: apt-get install openjdk-17-jre), or "
                     "set JAVA_HOME")
    done = _run([java, "-version"])
    if done is None or done.returncode != 0:
        return Check("java", "FAIL", f"{java} -version did not work", "reinstall Java, or set JAVA_HOME to a "
                     "working Java 17")
    m = _JAVA_VERSION.search(done.stderr + done.stdout)
    version = m.group(1) if m else "unknown version"
    major = java_major(version)
    if major is not None and major < 17:
        return Check("java", "warn", f"{java}: Java {version}", "Gateway 10.x and the simulator need Java 17 or "
                     "later: install one, or set JAVA_HOME")
    return Check("java", "ok", f"{java}: Java {version}")


# --- display ----------------------------------------------------------------------------------------------


def x_display_answers(display: str, timeout: float = 5.0) -> str | None:
    """None when the local X server of `display` (":N") accepts an X11 connection; else why not."""
    m = re.fullmatch(r"(?:unix)?:(\d+)(?:\.\d+)?", display.strip())
    if not m:
        return f"DISPLAY={display} is not a local display (:N); only local displays are checked"
    path = f"/tmp/.X11-unix/X{m.group(1)}"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            # X11 connection setup: little-endian, protocol 11.0, no authorisation.
            sock.sendall(b"l\0" + (11).to_bytes(2, "little") + b"\0\0" + b"\0\0\0\0" + b"\0\0")
            first = sock.recv(1)
    except OSError as e:
        return f"no X server answers on {path} ({e.strerror or e})"
    if first == b"\x01":
        return None
    if first in (b"\x00", b"\x02"):
        return f"the X server on {display} refused a connection without authorisation (xauth cookie)"
    return f"no X11 answer on {path}"


def check_display(s: Settings, env: Mapping[str, str]) -> Check:
    n = s.display_number
    if s.start_xvfb:
        exe = shutil.which("Xvfb")
        if not exe:
            return Check("display", "FAIL", "START_XVFB=yes but Xvfb is not installed",
                         "apt-get install xvfb (or START_XVFB=no with an X server of yours on DISPLAY_NUMBER)")
        if Path(f"/tmp/.X{n}-lock").exists() or Path(f"/tmp/.X11-unix/X{n}").exists():
            return Check("display", "warn", f"Xvfb is {exe}, but display :{n} is already taken by an X server",
                         "choose a free DISPLAY_NUMBER (or stop that X server; ignore this if it is ibpilot's own)")
        return Check("display", "ok", f"Xvfb is {exe}; display :{n} is free")
    display = env.get("DISPLAY") or f":{n}"
    why = x_display_answers(display)
    if why is None:
        return Check("display", "ok", f"START_XVFB=no and the X server on {display} answers")
    return Check("display", "FAIL", f"START_XVFB=no: {why}",
                 f"start your X server on :{n} (DISPLAY_NUMBER), or set START_XVFB=yes to let ibpilot run Xvfb")


# --- ports and programs -----------------------------------------------------------------------------------




def check_ports_and_programs(s: Settings) -> list[Check]:
    programs = plan(s, exe=(sys.executable, "-m", "ibpilot"))
    out: list[Check] = []
    taken = []
    listeners = expected_listeners(s, programs)
    for x in listeners:
        bind = "0.0.0.0" if x.bind == ANY_ADDRESS else x.bind
        if not port_free(bind, x.port):
            taken.append(f"{x.what} {x.bind}:{x.port}")
    if taken:
        out.append(Check("ports", "FAIL", "already in use: " + ", ".join(taken),
                         "stop what listens there (`ss -ltnp`) or choose other ports; if ibpilot itself is running "
                         "here, this is expected"))
    else:
        out.append(Check("ports", "ok", f"{len(listeners)} port(s) free: "
                         + ", ".join(f"{x.port}" for x in listeners)))
    missing = sorted({p.argv[0] for p in programs if not os.path.isabs(p.argv[0]) and not shutil.which(p.argv[0])})
    if missing:
        out.append(Check("programs", "FAIL", "not installed: " + ", ".join(missing),
                         "install them (scripts/install-system-deps.sh lists the Debian packages)"))
    else:
        out.append(Check("programs", "ok", f"every program of the plan is installed ({len(programs)} programs)"))
    return out


# --- credentials, TOTP and the clock ----------------------------------------------------------------------


def check_credentials(s: Settings) -> list[Check]:
    out = []
    for m in s.modes():
        c = s.credentials(m)
        if c.userid and c.password:
            out.append(Check(f"credentials ({m})", "ok", f"user {c.userid} with a password"))
        elif s.ibpilot_sim:
            out.append(Check(f"credentials ({m})", "ok", "none needed: the simulator logs in a demo user"))
        else:
            var = "TWS_USERID_PAPER or TWS_USERID" if m == "paper" else "TWS_USERID"
            out.append(Check(f"credentials ({m})", "warn", "no user name: nobody will log in",
                             f"set {var} and its password (TWS_PASSWORD_FILE), or log in by hand over VNC"))
    return out


def check_totp(s: Settings) -> Check:
    if s.twofactor_code is None:
        return Check("totp", "ok", "no TOTP secret: the second factor is approved on the phone (IB Key)")
    if valid_base32(s.twofactor_code.reveal()):
        return Check("totp", "ok", "TWOFACTOR_CODE is a valid base32 TOTP secret")
    return Check("totp", "FAIL", "TWOFACTOR_CODE is not a usable base32 TOTP secret (too short or not base32)",
                 "copy the whole secret shown when registering the IBKR Mobile Authenticator (the text under the "
                 "QR code), not a 6-digit code")


_CHRONY_OFFSET = re.compile(r"^System time\s*:\s*([\d.]+) seconds (fast|slow)", re.M)


def clock_state() -> tuple[Status, str]:
    """How well this machine's clock is kept, from the OS's own time tools."""
    tried = []
    done = _run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"]) if shutil.which("timedatectl") else None
    if done is not None and done.returncode == 0 and done.stdout.strip() in ("yes", "no"):
        if done.stdout.strip() == "yes":
            return "ok", "timedatectl: the clock is synchronised (NTP)"
        return "warn", "timedatectl: the clock is NOT synchronised"
    tried.append("timedatectl (no systemd here)" if shutil.which("timedatectl") else "timedatectl (not installed)")
    if shutil.which("chronyc"):
        done = _run(["chronyc", "tracking"])
        m = _CHRONY_OFFSET.search(done.stdout) if done is not None and done.returncode == 0 else None
        if m:
            skew = float(m.group(1))
            status: Status = "FAIL" if skew > SKEW_FAIL else "warn" if skew > SKEW_WARN else "ok"
            return status, f"chronyc: the clock is {skew:.3f} s {m.group(2)} of NTP time"
        tried.append("chronyc (no answer from chronyd)")
    else:
        tried.append("chronyc (not installed)")
    return "warn", "cannot check the clock: tried " + ", ".join(tried)


def check_clock(s: Settings) -> Check:
    status, detail = clock_state()
    if status == "ok":
        return Check("clock", "ok", detail)
    if s.twofactor_code is None:  # only TOTP codes depend on it
        return Check("clock", "ok", f"{detail}; only TOTP needs an exact clock, and no TWOFACTOR_CODE is set")
    return Check("clock", status, detail, "TOTP codes need the clock within a few seconds: keep the host's clock "
                 "synchronised (a container shares the host's clock; check it there with `timedatectl` or "
                 "`chronyc tracking`)")


# --- directories and ssh ----------------------------------------------------------------------------------


def writable_dir(path: Path) -> str | None:
    """None when `path` is (or can be created as) a directory we can write; else why not."""
    p = path
    while not p.exists():
        if p.parent == p:
            return f"no existing parent of {path}"
        p = p.parent
    if not p.is_dir():
        return f"{p} is not a directory" if p == path else f"{p} (on the way to {path}) is not a directory"
    try:
        with tempfile.NamedTemporaryFile(dir=p, prefix=".ibpilot-doctor-"):
            pass
    except OSError as e:
        return f"cannot write in {p} ({e.strerror or e})"
    return None


def check_dirs(s: Settings) -> list[Check]:
    out = []
    dirs = [(f"settings directory ({m})", s.settings_path(m)) for m in s.modes()] + [("RUN_DIR", s.run_dir)]
    for name, d in dirs:
        why = writable_dir(Path(d).expanduser())
        if why is None:
            out.append(Check(name, "ok", f"{d} is writable"))
        else:
            out.append(Check(name, "FAIL", why, "make it a directory this user can write (a volume for the settings "
                             "directory), or point TWS_SETTINGS_PATH / RUN_DIR elsewhere"))
    return out


def check_ssh(s: Settings) -> list[Check]:
    if s.ssh_tunnel == "no":
        return []
    out = []
    kh = Path(s.ssh_known_hosts).expanduser()
    keygen = shutil.which("ssh-keygen")
    for dest in s.ssh_user_tunnel:
        try:
            userhost, port = parse_destination(dest)
        except ValueError:
            continue  # a configuration error, already reported
        host = userhost.split("@", 1)[1]
        name = f"known_hosts ({host})"
        entry = f"[{host}]:{port}" if port and port != 22 else host
        scan = f"ssh-keyscan {'-p ' + str(port) + ' ' if port else ''}{host} >> {kh}"
        if not kh.is_file():
            out.append(Check(name, "warn", f"{kh} does not exist: the first connection trusts whatever key {host} "
                             "presents", f"pin the host key first: {scan} (and compare its fingerprint)"))
            continue
        found = _run([keygen, "-F", entry, "-f", str(kh)]) if keygen else None
        if found is None:
            out.append(Check(name, "warn", "cannot look it up (ssh-keygen is not installed)", "install openssh-client"))
        elif found.returncode == 0 and found.stdout.strip():
            out.append(Check(name, "ok", f"{entry} is in {kh}"))
        else:
            out.append(Check(name, "warn", f"{entry} is not in {kh}: the first connection trusts its key",
                             f"pin the host key first: {scan} (and compare its fingerprint)"))
    if s.ssh_identity_file and not Path(s.ssh_identity_file).expanduser().is_file():
        out.append(Check("ssh key", "FAIL", f"SSH_IDENTITY_FILE={s.ssh_identity_file} does not exist",
                         "mount the private key there (mode 0600)"))
    return out


def run_checks(s: Settings, env: Mapping[str, str]) -> list[Check]:
    """Every check, in the order they are printed."""
    install, inst = check_install(s)
    checks = [install, check_java(inst, env), check_display(s, env)]
    checks += check_ports_and_programs(s)
    checks += check_credentials(s)
    checks += [check_totp(s), check_clock(s)]
    checks += check_dirs(s)
    checks += check_ssh(s)
    return checks
