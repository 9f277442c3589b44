"""What ibpilot's tests (and benchmarks, and the demo) share: a virtual display, free ports, a private network
namespace for "remote" peers, and a simulated Gateway started exactly like the real one (install tree, java
command, in-JVM agent)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ibpilot.gateway.install import Product, find_install
from ibpilot.gateway.jvm import JvmOptions, build_command, find_autorestart, find_java
from ibpilot.jars import jar_path
from ibpilot.sim import install as sim_install
from ibpilot.stack.display import free_display


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(
    cond: Callable[[], Any],
    timeout: float,
    what: str,
    interval: float = 0.02,
    sleep: Callable[[float], Any] = time.sleep,
) -> Any:
    """Poll `cond` until truthy (returning its value) or raise TimeoutError naming `what`.

    Pass `sleep=ib.sleep` to keep an ib_async event loop running while waiting.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        sleep(interval)


def kill_processes_with(marker: str) -> None:
    """SIGKILL every process whose command line contains `marker` (a test's or benchmark's own tmp dir)."""
    me = os.getpid()
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit() or int(pid_dir.name) == me:
            continue
        try:
            cmd = (pid_dir / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(pid_dir.name), signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, grandchildren, ...), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


# ---------------------------------------------------------------- a remote peer in a private network namespace

NETNS_NET = "10.231"  # the /16 our namespaces' /30 links come from (host .1, namespace .2 of each /30)
_netns_seq = itertools.count()


class NetnsError(RuntimeError):
    """The private network namespace could not be set up (needs root or CAP_NET_ADMIN, and iproute2)."""


@dataclass
class NetnsPeer:
    """A network namespace linked to this host by one veth pair: the namespace is a "remote" host.

    From inside the namespace (:meth:`run`, :meth:`popen`) only `host_ip` is reachable (there is no other route);
    on this host, `peer_ip` is the namespace's address. Made by :func:`netns_peer`.
    """

    name: str
    host_if: str
    peer_if: str
    host_ip: str
    peer_ip: str
    procs: list[subprocess.Popen[Any]] = field(default_factory=list)

    def argv(self, argv: Sequence[str]) -> list[str]:
        return [_ip_exe(), "netns", "exec", self.name, *argv]

    def run(self, argv: Sequence[str], *, timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess[Any]:
        """Run `argv` inside the namespace to completion; output is captured as text unless `kw` says otherwise."""
        if not {"stdout", "stderr", "capture_output"} & kw.keys():
            kw["capture_output"] = True
        kw.setdefault("text", True)
        return subprocess.run(self.argv(argv), timeout=timeout, **kw)

    def popen(self, argv: Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
        """Start `argv` inside the namespace (in its own session); it is killed when the namespace goes."""
        kw.setdefault("start_new_session", True)
        proc: subprocess.Popen[Any] = subprocess.Popen(self.argv(argv), **kw)
        self.procs.append(proc)
        return proc

    def pids(self) -> list[int]:
        out = subprocess.run([_ip_exe(), "netns", "pids", self.name], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split() if p.isdigit()]

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        self.procs.clear()
        for pid in self.pids():  # anything still in our namespace was started by us (its children)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        # deleting the namespace destroys its end of the veth, which removes the pair; delete both to be sure
        subprocess.run([_ip_exe(), "netns", "delete", self.name], capture_output=True)
        subprocess.run([_ip_exe(), "link", "delete", self.host_if], capture_output=True)


def _ip_exe() -> str:
    exe = shutil.which("ip") or next((p for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip") if Path(p).exists()), "")
    if not exe:
        raise NetnsError("the `ip` command (iproute2) is not installed (scripts/install-system-deps.sh)")
    return exe


def _ip(*args: str) -> None:
    res = subprocess.run([_ip_exe(), *args], capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        why = (res.stderr or res.stdout).strip()
        raise NetnsError(
            f"`ip {' '.join(args)}` failed ({res.returncode}): {why}. Network tests need a private network "
            "namespace: run them as root or with CAP_NET_ADMIN (and CAP_SYS_ADMIN for `ip netns`)."
        )


def _netns_subnet() -> int:
    """Index of a free /30 in NETNS_NET.0.0/16: derived from the pid (parallel workers differ), skipping used ones."""
    used = subprocess.run([_ip_exe(), "-4", "-o", "addr", "show"], capture_output=True, text=True).stdout
    start = (os.getpid() % 1024) * 16 + next(_netns_seq) % 16
    for k in range(16384):
        idx = (start + k) % 16384
        base = idx * 4
        if f" {NETNS_NET}.{base >> 8}.{(base & 255) + 1}/" not in used:
            return idx
    raise NetnsError(f"no free /30 left in {NETNS_NET}.0.0/16")


@contextlib.contextmanager
def netns_peer() -> Iterator[NetnsPeer]:
    """A private network namespace with a veth link to this host, removed (with what ran in it) on exit.

    `with netns_peer() as ns: ns.run([...])` runs a command as a peer at `ns.peer_ip` that reaches this host at
    `ns.host_ip` and nothing else. Raises :class:`NetnsError` when the namespace cannot be made (not root / no
    CAP_NET_ADMIN): tests that need a remote peer must not silently skip.
    """
    seq = next(_netns_seq) % 1000
    stem = f"ibp{os.getpid()}x{seq}"  # ≤ 3 + 7 + 1 + 3 = 14 chars: interface names allow 15
    idx = _netns_subnet()
    base = idx * 4
    third, fourth = base >> 8, base & 255
    ns = NetnsPeer(
        name=f"{stem}n",
        host_if=f"{stem}h",
        peer_if=f"{stem}n",
        host_ip=f"{NETNS_NET}.{third}.{fourth + 1}",
        peer_ip=f"{NETNS_NET}.{third}.{fourth + 2}",
    )
    _ip("netns", "add", ns.name)
    try:
        _ip("link", "add", ns.host_if, "type", "veth", "peer", "name", ns.peer_if)
        _ip("link", "set", ns.peer_if, "netns", ns.name)
        # no IPv6 link-local addresses: the link carries only the IPv4 traffic the test makes
        with contextlib.suppress(NetnsError):
            _ip("link", "set", ns.host_if, "addrgenmode", "none")
        with contextlib.suppress(NetnsError):
            _ip("-n", ns.name, "link", "set", ns.peer_if, "addrgenmode", "none")
        _ip("addr", "add", f"{ns.host_ip}/30", "dev", ns.host_if)
        _ip("link", "set", ns.host_if, "up")
        _ip("-n", ns.name, "addr", "add", f"{ns.peer_ip}/30", "dev", ns.peer_if)
        _ip("-n", ns.name, "link", "set", ns.peer_if, "up")
        _ip("-n", ns.name, "link", "set", "lo", "up")
        yield ns
    finally:
        ns.close()


def controller_env(
    workdir: Path,
    display: str,
    scenario: dict[str, Any],
    api_port: int,
    product: str = "gateway",
    password: str = "demo-pw",  # noqa: S107 - a login the simulator accepts, not a real secret
    **extra: str,
) -> dict[str, str]:
    """The environment of an `ibpilot control` run against a simulator installed in `workdir/Jts`.

    Writes the scenario to `workdir/scenario.json`; the simulator's event log goes to
    `workdir/sim-events.jsonl`, the settings to `workdir/settings`, RUN_DIR is `workdir/run`.
    """
    scen = workdir / "scenario.json"
    scen.write_text(json.dumps(scenario))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWS_", "IB_", "TRADING_", "IBPILOT_"))}
    env.update(
        DISPLAY=display,
        IBPILOT_SIM_SCENARIO=str(scen),
        IBPILOT_SIM_EVENTS=str(workdir / "sim-events.jsonl"),
        TWS_PATH=str(workdir / "Jts"),
        TWS_SETTINGS_PATH=str(workdir / "settings"),
        RUN_DIR=str(workdir / "run"),
        GATEWAY_OR_TWS=product,
        TRADING_MODE="paper",
        TWS_USERID="demo",
        TWS_PASSWORD=password,
        TWS_API_PORT=str(api_port),
        HEALTH_PORT="0",  # tests that want the health server set a free port
    )
    env.update(extra)
    return env


class Xvfb:
    """A private X display: `with Xvfb() as display: ...` (display like ':93')."""

    def __init__(self, size: str = "1280x1024x24") -> None:
        self.size = size
        self.proc: subprocess.Popen[bytes] | None = None
        self.display = ""

    def start(self) -> str:
        exe = shutil.which("Xvfb")
        if not exe:
            raise FileNotFoundError("Xvfb is not installed (scripts/install-system-deps.sh)")
        n = 89 + os.getpid() % 400
        while True:
            n = free_display(n + 1, 900)  # raises when none is left
            proc = subprocess.Popen(
                [exe, f":{n}", "-screen", "0", self.size, "-nolisten", "tcp", "-noreset"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            sock = Path(f"/tmp/.X11-unix/X{n}")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and proc.poll() is None and not sock.exists():
                time.sleep(0.02)
            if proc.poll() is None and sock.exists():
                self.proc, self.display = proc, f":{n}"
                return self.display
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class SimGateway:
    """One simulated Gateway/TWS JVM, launched with ibpilot's own java command and agent.

    The scenario (a dict, see sim/README.md) is written to a file; the simulator's JSON-lines event log
    is readable with :meth:`events` / :meth:`wait_event`.
    """

    workdir: Path
    display: str
    product: Product = "gateway"
    scenario: dict[str, Any] = field(default_factory=dict)
    with_agent: bool = True
    proc: subprocess.Popen[bytes] | None = None

    @property
    def tws_path(self) -> Path:
        return self.workdir / "Jts"

    @property
    def settings_dir(self) -> Path:
        return self.workdir / "settings"

    @property
    def agent_socket(self) -> Path:
        return self.workdir / "agent" / "agent.sock"

    @property
    def events_path(self) -> Path:
        return self.workdir / "sim-events.jsonl"

    @property
    def console_path(self) -> Path:
        return self.workdir / "jvm-console.log"

    def command(self) -> list[str]:
        sim_install.install(self.tws_path, self.product)
        inst = find_install(self.tws_path, self.product)
        self.settings_dir.mkdir(parents=True, exist_ok=True)
        self.agent_socket.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        opts = JvmOptions(
            settings_dir=self.settings_dir,
            agent_jar=jar_path("agent") if self.with_agent else None,
            agent_socket=self.agent_socket if self.with_agent else None,
            restart_subdir=find_autorestart(self.settings_dir),
        )
        return build_command(inst, find_java(inst), opts)

    def env(self) -> dict[str, str]:
        scen = self.workdir / "scenario.json"
        scen.write_text(json.dumps(self.scenario))
        env = dict(os.environ)
        env.update(
            DISPLAY=self.display,
            IBPILOT_SIM_SCENARIO=str(scen),
            IBPILOT_SIM_EVENTS=str(self.events_path),
        )
        return env

    def start(self) -> SimGateway:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cmd = self.command()
        log = open(self.console_path, "ab")
        self.proc = subprocess.Popen(
            cmd, env=self.env(), stdout=log, stderr=subprocess.STDOUT, cwd=self.settings_dir, start_new_session=True
        )
        log.close()
        return self

    def events(self) -> list[dict[str, Any]]:
        if not self.events_path.exists():
            return []
        out = []
        for line in self.events_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def find_event(self, name: str, **match: Any) -> dict[str, Any] | None:
        for ev in self.events():
            if ev.get("event") == name and all(ev.get(k) == v for k, v in match.items()):
                return ev
        return None

    def wait_event(self, name: str, timeout: float = 30, **match: Any) -> dict[str, Any]:
        ev: dict[str, Any] = wait_until(
            lambda: self.find_event(name, **match), timeout, f"sim event {name} {match or ''}", 0.05
        )
        return ev

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def diagnostics(self) -> str:
        parts = []
        for p in (self.console_path, self.events_path):
            if p.exists():
                parts.append(f"--- {p.name} ---\n" + p.read_text(errors="replace")[-6000:])
        return "\n".join(parts)
