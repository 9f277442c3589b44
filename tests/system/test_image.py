"""The container image, built and run: `make image` (scripts/build-image.sh), then the image's entrypoint on the
simulated Gateway (GATEWAY=sim) under podman, looked at from outside as a user would.

Needs a builder that works on this machine (buildah or podman, or Docker); scripts/install-system-deps.sh
--image installs buildah and podman. When the machine cannot build or run images, the tests skip with the
step that was refused and its error (tests/unit/test_docker_files.py still checks the Dockerfile statically).

podman runs the container with runc and host networking: crun refuses this kernel's hybrid cgroups, and
podman's bridge networking needs netavark/iptables that a sandbox may lack. Ports are free ports on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ib_async import IB

from ibpilot.stack.display import free_display
from ibpilot.testing import free_port, wait_until

pytestmark = [pytest.mark.system, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]
IMAGE = "localhost/ibpilot:sim"
PUID, PGID = 4321, 4322
GRACE_S = 120  # compose's stop_grace_period: longer than the controllers' 90 s logout budget
HEALTHY_WITHIN_S = 180  # the image's HEALTHCHECK start period


def _skip_reason(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.startswith("image: refused:")]
    return lines[-1] if lines else text.strip()[-500:]


@dataclass
class Engine:
    exe: str
    run_opts: list[str]
    env: dict[str, str]

    def __call__(self, *args: str, timeout: float = 60, env: dict[str, str] | None = None,
                 check: bool = False) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([self.exe, *args], capture_output=True, text=True, timeout=timeout,
                           env={**self.env, **(env or {})}, check=False)
        if check and r.returncode != 0:
            raise AssertionError(f"{self.exe} {args[0]} exited {r.returncode}: {_quiet(r.stderr)}")
        return r


def _quiet(text: str) -> str:
    """podman's stderr without its systemd-timer noise (there is no systemd in the sandbox)."""
    return "\n".join(ln for ln in text.splitlines() if not ln.startswith("time=")).strip()


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
    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("image: refused: run the image: podman is not installed (scripts/install-system-deps.sh --image)")
    cache = Path(os.environ.get("IBPILOT_IMAGE_CACHE")
                 or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ibpilot-image")
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(cache / "containers.conf"))
    errors = []
    for opts in (["--runtime", "runc", "--network", "host"], ["--network", "host"]):
        eng = Engine(podman, opts, env)
        probe = eng("run", "--rm", *opts, "--no-healthcheck", "--entrypoint", "true", IMAGE, timeout=120)
        if probe.returncode == 0:
            size = int(eng("image", "inspect", IMAGE, "--format", "{{.Size}}", check=True).stdout)
            print(f"\nimage {IMAGE}: {size / 1e6:.0f} MB, make image took {build_s:.0f} s; podman run {' '.join(opts)}")
            return eng
        errors.append(f"podman run {' '.join(opts)}: {_quiet(probe.stderr)[-300:]}")
    pytest.skip("image: refused: " + "; ".join(errors))


@dataclass
class Container:
    engine: Engine
    root: Path  # state/ is the settings volume, scenario/ the simulator's scenario
    name: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    started: float = 0.0

    def start(self, scenario: dict[str, object], *extra: str) -> Container:
        (self.root / "state").mkdir(exist_ok=True)
        (self.root / "scenario").mkdir(exist_ok=True)
        (self.root / "scenario" / "scenario.json").write_text(json.dumps(scenario))
        self.ports = {k: free_port() for k in ("api", "socat", "vnc", "health")}
        self.name = f"ibpilot-test-{os.getpid()}-{int(time.time() * 1000) % 10**8}"
        settings = {
            "TRADING_MODE": "paper", "TWS_USERID": "tester",
            "TWS_API_PORT": self.ports["api"], "SOCAT_PORT": self.ports["socat"], "SOCAT_BIND": "127.0.0.1",
            "VNC_PORT": self.ports["vnc"], "VNC_BIND": "127.0.0.1", "HEALTH_PORT": self.ports["health"],
            "DISPLAY_NUMBER": free_display(600 + os.getpid() % 300),
            "PUID": PUID, "PGID": PGID,
            "IBPILOT_SIM_SCENARIO": "/scenario/scenario.json",
            "IBPILOT_SIM_EVENTS": "/home/ibpilot/state/sim-events.jsonl",
        }
        args = ["run", "-d", "--name", self.name, *self.engine.run_opts, *extra, "--stop-timeout", str(GRACE_S),
                "-v", f"{self.root / 'state'}:/home/ibpilot/state", "-v", f"{self.root / 'scenario'}:/scenario:ro"]
        for k, v in settings.items():
            args += ["-e", f"{k}={v}"]
        args += ["-e", "TWS_PASSWORD", "-e", "VNC_SERVER_PASSWORD"]  # values from the environment, not argv
        self.started = time.monotonic()
        self.engine(*args, IMAGE, env={"TWS_PASSWORD": "Tw5-P4ssw0rd-xyzzy", "VNC_SERVER_PASSWORD": "Vnc7pw42"},
                    check=True)
        return self

    def running(self) -> bool:
        r = self.engine("inspect", self.name, "--format", "{{.State.Running}}")
        return r.stdout.strip() == "true"

    def logs(self) -> str:
        r = self.engine("logs", self.name)
        return (r.stdout + r.stderr)[-8000:]

    def exec(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        return self.engine("exec", self.name, *cmd, timeout=60)

    def wait_healthy(self) -> float:
        """Run the image's HEALTHCHECK command (podman healthcheck run) until it passes; seconds from start."""
        def healthy() -> bool:
            if not self.running():
                raise AssertionError(f"the container exited before it was healthy\n{self.logs()}")
            return self.engine("healthcheck", "run", self.name).returncode == 0

        try:
            wait_until(healthy, HEALTHY_WITHIN_S, "the image's HEALTHCHECK to pass", 1.0)
        except TimeoutError as exc:
            hc = self.exec("ibpilot", "health")
            raise AssertionError(f"{exc}\nibpilot health: {hc.stdout}{hc.stderr}\n{self.logs()}") from None
        return time.monotonic() - self.started

    def stop(self) -> tuple[int, float]:
        """SIGTERM (the image's STOPSIGNAL), SIGKILL only after the grace period: (exit code, seconds)."""
        t0 = time.monotonic()
        self.engine("stop", "-t", str(GRACE_S), self.name, timeout=GRACE_S + 60, check=True)
        code = int(self.engine("inspect", self.name, "--format", "{{.State.ExitCode}}", check=True).stdout)
        return code, time.monotonic() - t0

    def remove(self) -> None:
        if self.name:
            self.engine("rm", "-f", "-t", "5", self.name, timeout=120)


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
    meta = json.loads(engine("image", "inspect", IMAGE, check=True).stdout)[0]
    assert meta["Healthcheck"]["Test"] == ["CMD", "ibpilot", "health"], meta.get("Healthcheck")
    assert meta["Config"]["StopSignal"] == "SIGTERM"
    assert meta["Config"]["Entrypoint"][0] == "/usr/bin/tini"

    c = _new(containers, engine, tmp_path).start({})
    healthy_s = c.wait_healthy()
    print(f"\nstart to healthy: {healthy_s:.1f} s")

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

    sv = c.exec("supervisorctl", "status")
    assert sv.returncode == 0, sv.stdout + sv.stderr
    states = dict(ln.split()[:2] for ln in sv.stdout.splitlines() if ln.strip())
    assert states == {"controller-paper": "RUNNING", "socat-paper": "RUNNING", "x11vnc": "RUNNING",
                      "xvfb": "RUNNING"}, sv.stdout

    # Everything but tini (pid 1, which only forwards signals) runs as PUID/PGID, never as root.
    ps = c.exec("ps", "-eo", "pid=,uid=,gid=,comm=")
    procs = [ln.split(None, 3) for ln in ps.stdout.splitlines() if ln.strip()]
    others = [p for p in procs if p[0] != "1" and p[3] != "ps"]
    assert {"java", "Xvfb", "x11vnc", "socat"} <= {p[3] for p in others}, ps.stdout
    assert all((p[1], p[2]) == (str(PUID), str(PGID)) for p in others), ps.stdout
    settings = tmp_path / "state" / "settings"
    assert (settings / "jts.ini").is_file()
    assert {(f.stat().st_uid, f.stat().st_gid) for f in settings.iterdir()} == {(PUID, PGID)}

    code, stop_s = c.stop()
    logs = c.logs()
    print(f"stop (SIGTERM, clean logout): {stop_s:.1f} s")
    assert code == 0, f"exit code {code} (137 = killed after the grace period)\n{logs}"
    assert "ibpilot run: exit 0" in logs, logs
    assert "Tw5-P4ssw0rd-xyzzy" not in logs


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
    c = _new(containers, engine, tmp_path).start({}, "--user", "1000:1000", "--cap-drop", "ALL",
                                                 "--security-opt", "no-new-privileges")
    c.wait_healthy()
    ps = c.exec("ps", "-eo", "pid=,uid=,gid=,comm=")
    procs = [ln.split(None, 3) for ln in ps.stdout.splitlines() if ln.strip()]
    assert {"tini", "java", "Xvfb"} <= {p[3] for p in procs}, ps.stdout
    assert all((p[1], p[2]) == ("1000", "1000") for p in procs if p[3] != "ps"), ps.stdout
    code, _ = c.stop()
    assert code == 0, c.logs()
