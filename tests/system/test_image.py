"""The container image, built and run: `make image` (scripts/build-image.sh), then the image's entrypoint on the
simulated Gateway (GATEWAY=sim) under podman, looked at from outside as a user would.

Needs a builder that works on this machine (buildah or podman, or Docker); scripts/install-system-deps.sh
--image installs buildah and podman. When the machine cannot build or run images, the tests skip with the
step that was refused and its error (tests/unit/test_docker_files.py still checks the Dockerfile statically).

podman runs the container with runc and host networking: crun refuses this kernel's hybrid cgroups, and
podman's bridge networking needs netavark/iptables that a sandbox may lack. Ports are free ports on 127.0.0.1.
Where podman cannot run it the tests skip, naming podman's refusal; IBPILOT_IMAGE_RUNNER=buildah tries
`buildah run --isolation chroot` instead (experimental: see `engine`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ib_async import IB

from ibpilot.stack.display import free_display
from ibpilot.testing import descendants, free_port, wait_until

pytestmark = [pytest.mark.system, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]
IMAGE = "localhost/ibpilot:sim"
PUID, PGID = 4321, 4322
GRACE_S = 120  # compose's stop_grace_period: longer than the controllers' 90 s logout budget
HEALTHY_WITHIN_S = 180  # the image's HEALTHCHECK start period
TWS_PASSWORD = "Tw5-P4ssw0rd-xyzzy"


def _skip_reason(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.startswith("image: refused:")]
    return lines[-1] if lines else text.strip()[-500:]


@dataclass
class Engine:
    """How containers run here: `podman run` (runc, host network), or `buildah run --isolation chroot` when
    IBPILOT_IMAGE_RUNNER=buildah (experimental)."""

    kind: str  # podman | buildah
    exe: str
    run_opts: list[str]
    env: dict[str, str]

    def __call__(self, *args: str, timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([self.exe, *args], capture_output=True, text=True, timeout=timeout, env=self.env,
                           check=False)
        if check and r.returncode != 0:
            raise AssertionError(f"{self.exe} {args[0]} exited {r.returncode}: {_quiet(r.stderr)}")
        return r

    def image_config(self) -> dict[str, Any]:
        """The image's Docker config (Healthcheck, StopSignal, Entrypoint, Cmd) and its Size (to print)."""
        if self.kind == "podman":
            meta = json.loads(self("image", "inspect", IMAGE, check=True).stdout)[0]
            return {**meta["Config"], "Healthcheck": meta["Healthcheck"], "Size": f"{meta['Size'] / 1e6:.0f} MB"}
        meta = json.loads(self("inspect", "--type", "image", IMAGE, check=True).stdout)
        size = json.loads(self("images", "--json", IMAGE, check=True).stdout)[0]["size"]
        return {**meta["Docker"]["config"], "Size": size}


def _quiet(text: str) -> str:
    """podman's stderr without its systemd-timer noise (there is no systemd in the sandbox)."""
    return "\n".join(ln for ln in text.splitlines() if not ln.startswith("time=")).strip()


def _try_podman(env: dict[str, str], errors: list[str]) -> Engine | None:
    podman = shutil.which("podman")
    if podman is None:
        errors.append("podman run: podman is not installed")
        return None
    for opts in (["--runtime", "runc", "--network", "host"], ["--network", "host"]):
        eng = Engine("podman", podman, opts, env)
        probe = eng("run", "--rm", *opts, "--no-healthcheck", "--entrypoint", "true", IMAGE, timeout=120)
        if probe.returncode == 0:
            return eng
        errors.append(f"podman run {' '.join(opts)}: {_quiet(probe.stderr)[-300:]}")
    return None


def _try_buildah(env: dict[str, str], errors: list[str]) -> Engine | None:
    buildah = shutil.which("buildah")
    if buildah is None:
        errors.append("buildah run: buildah is not installed")
        return None
    eng = Engine("buildah", buildah, ["--isolation", "chroot"], env)
    made = eng("from", IMAGE, timeout=120)
    if made.returncode != 0:
        errors.append(f"buildah from: {_quiet(made.stderr)[-300:]}")
        return None
    ctr = made.stdout.strip()
    try:
        probe = eng("run", "--isolation", "chroot", ctr, "--", "true", timeout=120)
    finally:
        eng("rm", ctr)
    if probe.returncode == 0:
        return eng
    errors.append(f"buildah run --isolation chroot: {_quiet(probe.stderr)[-300:]}")
    return None


@pytest.fixture(scope="module")
def engine() -> Engine:
    """Build the image (`make image`'s script), then find how to run it here; skip naming the refused step."""
    t0 = time.monotonic()
    r = subprocess.run(["bash", "scripts/build-image.sh"], cwd=REPO, capture_output=True, text=True,
                       timeout=1200, check=False)
    if r.returncode == 3:
        pytest.skip(_skip_reason(r.stderr))
    assert r.returncode == 0, f"scripts/build-image.sh exited {r.returncode}\n{(r.stdout + r.stderr)[-6000:]}"
    build_s = time.monotonic() - t0
    cache = Path(os.environ.get("IBPILOT_IMAGE_CACHE")
                 or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ibpilot-image")
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(cache / "containers.conf"))
    errors: list[str] = []
    # `buildah run --isolation chroot` (IBPILOT_IMAGE_RUNNER=buildah) is experimental, not a fallback: the
    # first container's settings volume is sometimes not written through (the volume checks then fail).
    if os.environ.get("IBPILOT_IMAGE_RUNNER", "") == "buildah":
        eng = _try_buildah(env, errors)
    else:
        eng = _try_podman(env, errors)
    if eng is None:
        pytest.skip("image: refused: " + "; ".join(errors))
    print(f"\nimage {IMAGE}: {eng.image_config()['Size']}, make image took {build_s:.0f} s; runs with {eng.kind} run "
          f"{' '.join(eng.run_opts)}")
    return eng




def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@dataclass
class Container:
    engine: Engine
    root: Path  # state/ is the settings volume, scenario/ the simulator's scenario, secrets/ the passwords
    name: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    started: float = 0.0
    proc: subprocess.Popen[bytes] | None = None  # buildah run

    def start(self, scenario: dict[str, object], as_user: str | None = None) -> Container:
        for d in ("state", "scenario", "secrets"):
            (self.root / d).mkdir(exist_ok=True)
        (self.root / "scenario" / "scenario.json").write_text(json.dumps(scenario))
        for name, value in (("tws_password", TWS_PASSWORD), ("vnc_password", "Vnc7pw42")):
            (self.root / "secrets" / name).write_text(value)
            (self.root / "secrets" / name).chmod(0o644)  # a test password, readable by PUID
        self.ports = {k: free_port() for k in ("api", "socat", "vnc", "health")}
        self.name = f"ibpilot-test-{os.getpid()}-{int(time.time() * 1000) % 10**8}"
        self.settings = {k: str(v) for k, v in {
            "TRADING_MODE": "paper", "TWS_USERID": "tester",
            "TWS_PASSWORD_FILE": "/run/secrets/tws_password", "VNC_SERVER_PASSWORD_FILE": "/run/secrets/vnc_password",
            "TWS_API_PORT": self.ports["api"], "SOCAT_PORT": self.ports["socat"], "SOCAT_BIND": "127.0.0.1",
            "VNC_PORT": self.ports["vnc"], "VNC_BIND": "127.0.0.1", "HEALTH_PORT": self.ports["health"],
            "DISPLAY_NUMBER": free_display(600 + os.getpid() % 300),
            "PUID": PUID, "PGID": PGID,
            "IBPILOT_SIM_SCENARIO": "/scenario/scenario.json",
            "IBPILOT_SIM_EVENTS": "/home/ibpilot/state/sim-events.jsonl",
        }.items()}
        args = ["-v", f"{self.root / 'state'}:/home/ibpilot/state", "-v", f"{self.root / 'scenario'}:/scenario:ro",
                "-v", f"{self.root / 'secrets'}:/run/secrets:ro"]
        if as_user:
            args += ["--user", as_user, "--cap-drop", "ALL"]
        for k, v in self.settings.items():
            args += ["-e", f"{k}={v}"]
        self.started = time.monotonic()
        if self.engine.kind == "podman":
            extra = ["--security-opt", "no-new-privileges"] if as_user else []
            self.engine("run", "-d", "--name", self.name, *self.engine.run_opts, *extra,
                        "--stop-timeout", str(GRACE_S), *args, IMAGE, check=True)
            return self
        self.engine("from", "--name", self.name, IMAGE, check=True, timeout=120)
        cfg = self.engine.image_config()
        out = open(self.root / f"{self.name}.out", "wb")
        args += ["-e", "TINI_SUBREAPER=1"]  # tini is not pid 1 under buildah run
        self.proc = subprocess.Popen([self.engine.exe, "run", *self.engine.run_opts, *args, self.name, "--",
                                      *cfg["Entrypoint"], *cfg["Cmd"]],
                                     stdout=out, stderr=subprocess.STDOUT, env=self.engine.env)
        out.close()
        # Another `buildah run` into this container (exec, healthcheck) only once its init runs with the volumes
        wait_until(lambda: self.proc is not None and (self.proc.poll() is not None or self._mounted()), 60,
                   "buildah run to start the entrypoint with its volumes", 0.1)
        return self

    def _mounted(self) -> bool:
        assert self.proc is not None
        for pid in descendants(self.proc.pid):
            if _comm(pid) == "tini":
                with contextlib.suppress(OSError):
                    return " /home/ibpilot/state " in Path(f"/proc/{pid}/mountinfo").read_text()
        return False

    def running(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        r = self.engine("inspect", self.name, "--format", "{{.State.Running}}")
        return r.stdout.strip() == "true"

    def logs(self) -> str:
        if self.proc is not None:
            return (self.root / f"{self.name}.out").read_text(errors="replace")[-8000:]
        r = self.engine("logs", self.name)
        return (r.stdout + r.stderr)[-8000:]

    def exec(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        if self.proc is not None:
            # Into the running container's mount namespace and root with nsenter, with the image's and the
            # container's environment: a second `buildah run` would take the volumes away from the first.
            env = [*self.engine.image_config().get("Env", []), *(f"{k}={v}" for k, v in self.settings.items())]
            return subprocess.run(["nsenter", "-t", str(self._tini()), "-m", "-r", "--", "/usr/bin/env", "-i", *env,
                                   *cmd], capture_output=True, text=True, timeout=60, check=False)
        return self.engine("exec", self.name, *cmd, timeout=60)

    def processes(self) -> list[tuple[str, str, str]]:
        """(uid, gid, command name) of every process in the container (but the `ps` asking)."""
        if self.proc is not None:  # chroot isolation shares the host's pid namespace: tini and its tree
            tini = self._tini()
            out = []
            for pid in [tini, *descendants(tini)]:
                with contextlib.suppress(OSError):
                    status = dict(ln.split(":", 1) for ln in Path(f"/proc/{pid}/status").read_text().splitlines())
                    out.append((status["Uid"].split()[0], status["Gid"].split()[0], _comm(pid)))
            return out
        ps = self.exec("ps", "-eo", "uid=,gid=,comm=")
        rows = [ln.split(None, 2) for ln in ps.stdout.splitlines() if ln.strip()]
        return [(r[0], r[1], r[2]) for r in rows if r[2] != "ps"]

    def healthcheck(self) -> bool:
        """The image's HEALTHCHECK command, as the engine runs it."""
        if self.proc is not None:
            test = self.engine.image_config()["Healthcheck"]["Test"]
            assert test[0] == "CMD", test
            return self.exec(*test[1:]).returncode == 0
        return self.engine("healthcheck", "run", self.name).returncode == 0

    def wait_healthy(self) -> float:
        """Run the image's HEALTHCHECK command until it passes; seconds from start."""
        def healthy() -> bool:
            if not self.running():
                raise AssertionError(f"the container exited before it was healthy\n{self.logs()}")
            return self.healthcheck()

        try:
            wait_until(healthy, HEALTHY_WITHIN_S, "the image's HEALTHCHECK to pass", 1.0)
        except TimeoutError as exc:
            hc = self.exec("ibpilot", "health")
            raise AssertionError(f"{exc}\nibpilot health: {hc.stdout}{hc.stderr}\n{self.logs()}") from None
        return time.monotonic() - self.started

    def _tini(self) -> int:
        assert self.proc is not None
        pids = [p for p in descendants(self.proc.pid) if _comm(p) == "tini"]
        assert pids, "no tini under buildah run"
        return pids[0]

    def stop(self) -> tuple[int, float]:
        """SIGTERM (the image's STOPSIGNAL) to the container's init, SIGKILL only after the grace period:
        (exit code, seconds). buildah run would kill its child outright, so tini gets the signal itself."""
        t0 = time.monotonic()
        if self.proc is not None:
            os.kill(self._tini(), signal.SIGTERM)
            try:
                code = self.proc.wait(GRACE_S)
            except subprocess.TimeoutExpired:
                self._kill_tree()
                code = 137
            return code, time.monotonic() - t0
        self.engine("stop", "-t", str(GRACE_S), self.name, timeout=GRACE_S + 60, check=True)
        code = int(self.engine("inspect", self.name, "--format", "{{.State.ExitCode}}", check=True).stdout)
        return code, time.monotonic() - t0

    def _kill_tree(self) -> None:
        assert self.proc is not None
        for pid in reversed([self.proc.pid, *descendants(self.proc.pid)]):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(30)

    def remove(self) -> None:
        if not self.name:
            return
        if self.engine.kind == "podman":
            self.engine("rm", "-f", "-t", "5", self.name, timeout=120)
            return
        if self.proc is not None and self.proc.poll() is None:
            self._kill_tree()
        self.engine("rm", self.name, timeout=120)


@pytest.fixture
def containers(engine: Engine, tmp_path: Path) -> Iterator[list[Container]]:
    made: list[Container] = []
    yield made
    for c in made:
        c.remove()


def _new(containers: list[Container], engine: Engine, root: Path) -> Container:
    c = Container(engine, root)
    containers.append(c)
    return c


def test_image_runs_healthy_serves_api_and_vnc_and_stops_cleanly(
        engine: Engine, containers: list[Container], tmp_path: Path) -> None:
    cfg = engine.image_config()
    assert cfg["Healthcheck"]["Test"] == ["CMD", "ibpilot", "health"], cfg.get("Healthcheck")
    assert cfg["StopSignal"] == "SIGTERM"
    assert cfg["Entrypoint"][0] == "/usr/bin/tini"

    c = _new(containers, engine, tmp_path).start({})
    healthy_s = c.wait_healthy()
    print(f"\nstart to healthy: {healthy_s:.1f} s")

    # socat is started once the controller is READY: a moment after the first healthy answer
    wait_until(lambda: _accepts(c.ports["socat"]), 15, "socat listening after healthy", 0.1)
    ib = IB()
    ib.connect("127.0.0.1", c.ports["socat"], clientId=3, timeout=20, readonly=True)
    try:
        assert ib.managedAccounts() == ["DU1234567"]
        assert ib.reqCurrentTime().year >= 2024
    finally:
        ib.disconnect()

    with socket.create_connection(("127.0.0.1", c.ports["vnc"]), timeout=10) as s:
        s.settimeout(10)
        assert s.recv(12) == b"RFB 003.008\n"

    expected = {"controller-paper": "RUNNING", "socat-paper": "RUNNING", "x11vnc": "RUNNING", "xvfb": "RUNNING"}
    seen: list[str] = []

    def all_running() -> bool:  # socat counts as RUNNING after its startsecs (1 s)
        sv = c.exec("supervisorctl", "status")
        assert sv.returncode in (0, 3), sv.stdout + sv.stderr  # 3: some program is not RUNNING (yet)
        seen.append(sv.stdout)
        return dict(ln.split()[:2] for ln in sv.stdout.splitlines() if ln.strip()) == expected

    try:
        wait_until(all_running, 15, "supervisorctl status: every program RUNNING", 0.5)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{seen[-1]}") from None

    # Everything but tini (the init, which only forwards signals) runs as PUID/PGID, never as root.
    procs = c.processes()
    others = [p for p in procs if p[2] != "tini"]
    assert {"java", "Xvfb", "x11vnc", "socat"} <= {p[2] for p in others}, procs
    assert all((p[0], p[1]) == (str(PUID), str(PGID)) for p in others), procs
    settings = tmp_path / "state" / "settings"
    assert (settings / "jts.ini").is_file()
    assert {(f.stat().st_uid, f.stat().st_gid) for f in settings.iterdir()} == {(PUID, PGID)}

    code, stop_s = c.stop()
    logs = c.logs()
    print(f"stop (SIGTERM, clean logout): {stop_s:.1f} s")
    assert code == 0, f"exit code {code} (137 = killed after the grace period)\n{logs}"
    assert "ibpilot run: exit 0" in logs, logs
    assert TWS_PASSWORD not in logs


def test_settings_volume_survives_a_restart_without_a_new_second_factor(
        engine: Engine, containers: list[Container], tmp_path: Path) -> None:
    first = _new(containers, engine, tmp_path).start({})
    first.wait_healthy()
    code, _ = first.stop()
    assert code == 0, first.logs()
    settings = tmp_path / "state" / "settings"
    saved = json.loads((settings / "ibpilot-sim-settings.json").read_text())
    assert saved["port"] == first.ports["api"], saved  # the API port the controller configured, kept

    # An auto restart left the Gateway's token in the settings directory (as IB's Gateway writes it) just
    # before the container went down. The next container must find it on the volume and restart with it:
    # this scenario's push is never approved, so only the token can log it in.
    token = settings / "ibpilotrestartsubdir" / "autorestart"
    token.parent.mkdir()
    token.write_text(json.dumps({"user": "tester", "mode": "paper", "created": time.time()}) + "\n")
    os.chown(token.parent, PUID, PGID)
    os.chown(token, PUID, PGID)

    second = _new(containers, engine, tmp_path).start({"second_factor": "push", "push_approve_after_s": -1})
    healthy_s = second.wait_healthy()
    print(f"\nrestart with the token to healthy: {healthy_s:.1f} s")
    assert not token.exists(), "the token was not consumed"
    events = [json.loads(ln) for ln in (tmp_path / "state" / "sim-events.jsonl").read_text().splitlines()]
    consumed = [e for e in events if e.get("event") == "restart_token"]
    assert consumed and consumed[-1].get("consumed") is True, consumed
    assert not [e for e in events[events.index(consumed[-1]):] if e.get("event") == "second_factor"], events
    code, _ = second.stop()
    assert code == 0, second.logs()


def test_image_runs_as_its_user_from_the_start_as_kubernetes_does(
        engine: Engine, containers: list[Container], tmp_path: Path) -> None:
    """deploy/kubernetes runs the pod as 1000:1000 (runAsUser, fsGroup): no root step, PUID/PGID unused."""
    (tmp_path / "state").mkdir()
    os.chown(tmp_path / "state", 1000, 1000)  # what fsGroup does to the volume
    c = _new(containers, engine, tmp_path).start({}, as_user="1000:1000")
    c.wait_healthy()
    procs = c.processes()
    assert {"tini", "java", "Xvfb"} <= {p[2] for p in procs}, procs
    assert all((p[0], p[1]) == ("1000", "1000") for p in procs), procs
    code, _ = c.stop()
    assert code == 0, c.logs()
