"""Faults that need something around the stack: a real sshd (on loopback or in a network namespace), a small
tmpfs for the settings, libfaketime for a clock step, the second mode for a crash loop."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from chaoslib import REPO, Fault, Run, _system_stack, jvms

from ibpilot.testing import free_port, netns_peer, wait_until


def _ssh_module() -> Any:
    name = "ibpilot_system_ssh"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "system" / "test_ssh_tunnel.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        # it does `from conftest import ...`, meaning tests/system's: whichever conftest pytest loaded last sits
        # in sys.modules under that name, so put tests/system's there while it imports
        saved = sys.modules.get("conftest")
        sys.modules["conftest"] = _system_stack()
        try:
            spec.loader.exec_module(mod)
        finally:
            if saved is not None:
                sys.modules["conftest"] = saved
            else:
                del sys.modules["conftest"]
    return sys.modules[name]


# --- sshd restarted (loopback) ---------------------------------------------------------------------------------


def _sshd_setup(run: Run) -> None:
    ssh = _ssh_module()
    sshd = ssh.Sshd(run.st.root.parent / f"sshd-{run.st.root.name}")  # outside the stack: not a leftover
    sshd.start()
    run.cleanups.append(sshd.stop)
    remote = free_port()
    run.st.env.update(ssh.tunnel_env(sshd, remote))
    run.extra.update(sshd=sshd, remote=remote,
                     tunnel_up=lambda: ssh.accepts(remote) and _api_ok(ssh, remote))


def _api_ok(ssh: Any, port: int) -> bool:
    try:
        return bool(ssh.api_through(port) == ["DU1234567"])
    except (OSError, TimeoutError):
        return False


def _sshd_restart(run: Run) -> None:
    sshd = run.extra["sshd"]
    sshd.stop()
    wait_until(lambda: not _ssh_module().accepts(run.extra["remote"]), 10, "remote port gone with sshd")
    sshd.start()


def sshd_restart() -> Fault:
    return Fault("sshd-restarted", "sshd restarted (tunnel's server)", "ssh exits → supervisord → ExitWatch",
                 r"ALERT_PROCESS_EXITED mode=paper program=ssh-tunnel-1", _sshd_restart,
                 lambda run: run.extra["tunnel_up"](), "tunnel back, API reachable through it",
                 setup=_sshd_setup)


# --- the SSH link cut (network namespace) ----------------------------------------------------------------------


def _netns_setup(run: Run) -> None:
    ssh = _ssh_module()
    stack = contextlib.ExitStack()
    ns = stack.enter_context(netns_peer())
    run.cleanups.append(stack.close)
    root = run.st.root.parent / f"sshd-ns-{run.st.root.name}"  # test equipment, outside the stack
    sshd = ssh.Sshd(root)
    cfg = (root / "sshd_config").read_text().replace("ListenAddress 127.0.0.1", f"ListenAddress {ns.peer_ip}")
    (root / "sshd_config").write_text(cfg)
    log = open(root / "sshd.log", "ab")
    ns.popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(root / "sshd_config")], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    wait_until(lambda: ssh.accepts(sshd.port, ns.peer_ip), 10, "sshd listening in the namespace")
    remote = free_port()
    env = ssh.tunnel_env(sshd, remote)
    env["SSH_USER_TUNNEL"] = env["SSH_USER_TUNNEL"].replace("127.0.0.1", ns.peer_ip)
    run.st.env.update(env)

    def up() -> bool:  # the remote port exists on the sshd host (inside the namespace), reached from there
        probe = (f"import socket,sys\ntry:\n socket.create_connection(('127.0.0.1',{remote}),2).close()\n"
                 "except OSError:\n sys.exit(1)\n")
        return ns.run([sys.executable, "-c", probe], timeout=20).returncode == 0

    run.extra.update(ns=ns, remote=remote, tunnel_up=up)


def _cut_link(run: Run) -> None:
    ns = run.extra["ns"]
    subprocess.run(["ip", "link", "set", ns.host_if, "down"], check=True)
    run.cleanups.append(lambda: subprocess.run(["ip", "link", "set", ns.host_if, "up"], check=False))
    run.extra["cut_at"] = time.monotonic()


def _restore_link(run: Run) -> None:
    ns = run.extra["ns"]
    subprocess.run(["ip", "link", "set", ns.host_if, "up"], check=True)
    with contextlib.suppress(Exception):  # an address on a downed veth loses nothing, but make sure
        subprocess.run(["ip", "addr", "add", f"{ns.host_ip}/30", "dev", ns.host_if], capture_output=True)


def link_cut() -> Fault:
    return Fault("ssh-link-cut", "SSH link cut (veth down in a network namespace), then restored",
                 "ssh ServerAlive → exit → ExitWatch", r"ALERT_PROCESS_EXITED mode=paper program=ssh-tunnel-1",
                 _cut_link, lambda run: run.extra["tunnel_up"](), "tunnel back once the link is up",
                 setup=_netns_setup, after_alert=_restore_link)


# --- the disk holding the settings full ------------------------------------------------------------------------


def _disk_setup(run: Run) -> None:
    """The settings directory on its own small tmpfs (root: mounted here, unmounted at the end)."""
    disk = run.st.root / "Jts-disk"
    disk.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0755", "tmpfs", str(disk)],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"mount tmpfs refused: {r.stderr.strip()}"
    run.cleanups.append(lambda: subprocess.run(["umount", "-l", str(disk)], check=False))
    shutil.copytree(run.st.root / "Jts", disk / "Jts", symlinks=True)
    run.st.env["TWS_PATH"] = str(disk / "Jts")
    run.extra["disk"] = disk


def _fill_disk_and_kill(run: Run) -> None:
    """Fill the settings' filesystem to the last byte, then kill the JVM: the relaunch has to write there."""
    disk = run.extra["disk"]
    for name, chunk in (("filler", 65536), ("filler2", 1)):  # unbuffered: nothing left to flush at close
        with open(disk / name, "wb", buffering=0) as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * chunk)
    st = os.statvfs(disk)
    assert st.f_bavail == 0, st
    run.extra["jvm"] = jvms(run.st)[0]
    os.kill(run.extra["jvm"], signal.SIGKILL)


def _free_disk(run: Run) -> None:
    for f in ("filler", "filler2"):
        (run.extra["disk"] / f).unlink()


def disk_full() -> Fault:
    return Fault("disk-full", "the disk holding the settings full (tmpfs), then the JVM killed",
                 "controller: JVM exit", r"ALERT_JVM_EXITED mode=paper", _fill_disk_and_kill,
                 lambda run: run.ready_again() and run.socat_accepts(),
                 "READY again on a full disk; settings intact", setup=_disk_setup)


# --- the clock jumping -----------------------------------------------------------------------------------------

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def _clock_setup(run: Run) -> None:
    """The Gateway's JVM sees the wall clock through libfaketime, offset by the file's content.

    Only the JVM: under libfaketime supervisord's RPC fails (`[Errno 22] Invalid argument` when `ibpilot run`
    stops it, even at offset +0) and the whole stack starts 7x slower, an artefact of the tool, not a clock
    jump. The JVM holds the schedule that matters (Gateway's Lock and Exit, on the wall clock); it is started
    through a `java` wrapper named in the install's `.install4j/inst_jre.cfg`, as a real install names its JRE.
    """
    assert Path(FAKETIME_LIB).exists(), f"{FAKETIME_LIB} missing (apt-get install faketime)"
    root = run.st.root
    rc = root / "faketime.rc"
    rc.write_text("+0\n")
    (cfg,) = (root / "Jts").glob("ibgateway/*/.install4j/inst_jre.cfg")
    real = cfg.read_text().strip()
    jre = root / "faketime-jre"
    (jre / "bin").mkdir(parents=True)
    (jre / "bin" / "java").write_text(
        f"#!/bin/sh\nLD_PRELOAD={FAKETIME_LIB} FAKETIME_TIMESTAMP_FILE={rc} FAKETIME_NO_CACHE=1 "
        f'DONT_FAKE_MONOTONIC=1 exec {real}/bin/java "$@"\n')
    (jre / "bin" / "java").chmod(0o755)
    cfg.write_text(f"{jre}\n")
    run.extra["rc"] = rc
    # Lock and Exit one hour ahead (the simulator's clock, UTC in this container): the jump carries past it
    at = dt.datetime.now() + dt.timedelta(hours=1)
    run.scenario(lock_exit_time=at.strftime("%I:%M %p"))


def _jump(run: Run) -> None:
    run.extra["rc"].write_text("+7200\n")  # two hours forward


def clock_jump() -> Fault:
    return Fault("clock-jump", "the Gateway's wall clock jumps 2 h forward (libfaketime) past Lock and Exit",
                 "simulator: Lock and Exit on the wall clock; controller: restart token",
                 None, _jump,
                 lambda run: "restart_token" in (run.st.root / "sim-events.jsonl").read_text()
                 and run.ready_again() and run.socat_accepts(),
                 "the auto-restart fires at the jumped time; READY again (restart token)",
                 setup=_clock_setup, slow=True, tolerated=("ALERT_API_DOWN",))


# --- dual mode, one side crashing repeatedly -------------------------------------------------------------------


def dual_crash_loop(run: Run) -> None:
    """Kill paper's JVM three times, each as soon as the controller has launched a new one."""
    seen: set[int] = set()
    for _ in range(3):
        pid = wait_until(lambda: next((p for p in jvms(run.st, "paper") if p not in seen), None), 120,
                         "a new paper JVM", 0.1)
        seen.add(pid)
        time.sleep(1)  # let it get going: a crash during the login, not before the JVM is up
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
