"""The simulated Gateway starts the ways the real one is started: as IBC's ibcstart.sh launches it
(gateway-ui.md §1.2, §6), and through the install's own launcher script."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ibpilot.sim import install as sim_install
from ibpilot.testing import wait_until

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "ibclike" / "IbcLikeLauncher.java"

# What ibcstart.sh appends to the install's vmoptions (gateway-ui.md §1.2)
IBC_PROPS = [
    "-Dtwslaunch.autoupdate.serviceImpl=com.ib.tws.twslaunch.install4j.Install4jAutoUpdateService",
    "-Dchannel=latest",
    "-Dexe4j.isInstall4j=true",
    "-Dinstall4jType=standalone",
]


def events_of(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def shown_titles(log: str) -> list[str]:
    return [e["title"] for e in map(json.loads, log.splitlines()) if e.get("event") == "shown"]


def run_until_login_frame(cmd: list[str], env: dict[str, str], events: Path, cwd: Path) -> str:
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_until(lambda: '"shown"' in events_of(events) or proc.poll() is not None, 60, "the login frame")
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        return events_of(events)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@pytest.mark.parametrize(("product", "title"), [("gateway", "IBKR Gateway"), ("tws", "Login")])
def test_started_the_way_ibcstart_sh_starts_it(product: str, title: str, tmp_path: Path, display: str) -> None:
    prog = sim_install.install(tmp_path / "Jts", product)  # type: ignore[arg-type]
    # IBC's own jar stand-in: compiled against the install's jars, as IBC is against the real ones (§6)
    classes = tmp_path / "ibc-classes"
    jars = sorted((prog / "jars").glob("*.jar"))
    cp_jars = ":".join(map(str, jars))
    subprocess.run(["javac", "--release", "17", "-cp", cp_jars, "-d", str(classes), str(FIXTURE)], check=True)
    vmopts = [ln for ln in (prog / f"{'ibgateway' if product == 'gateway' else 'tws'}.vmoptions").read_text()
              .splitlines() if ln.strip() and not ln.startswith(("#", "-D"))]  # IBC drops -D lines
    settings = tmp_path / "settings"
    settings.mkdir()
    java_home = (prog / ".install4j" / "inst_jre.cfg").read_text().splitlines()[0]
    cmd = [f"{java_home}/bin/java", "--add-opens=java.desktop/javax.swing=ALL-UNNAMED", "-cp",
           f"{cp_jars}:{classes}", *vmopts, *IBC_PROPS, f"-DjtsConfigDir={settings}", "-Dibcsessionid=ABCDEFGH",
           "ibclike.IbcLikeLauncher", product, str(settings)]
    events = tmp_path / "events.jsonl"
    env = {**os.environ, "DISPLAY": display, "IBPILOT_SIM_EVENTS": str(events), "JAVA_TOOL_OPTIONS": ""}
    env.pop("IBPILOT_SIM_SCENARIO", None)
    log = run_until_login_frame(cmd, env, events, settings)  # ibcstart.sh pushd's into the settings dir
    assert shown_titles(log) == [title]
    assert str(settings) in log  # the settings dir came from args[0]


def test_started_by_the_installs_own_launcher(tmp_path: Path, display: str) -> None:
    prog = sim_install.install(tmp_path / "Jts", "gateway")
    settings = tmp_path / "settings"
    events = tmp_path / "events.jsonl"
    env = {**os.environ, "DISPLAY": display, "IBPILOT_SIM_EVENTS": str(events)}
    log = run_until_login_frame([str(prog / "ibgateway"), str(settings)], env, events, tmp_path)
    assert shown_titles(log) == ["IBKR Gateway"]


def test_cli_installs_a_tree_shaped_like_ibs(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "ibpilot", "sim", "install", str(tmp_path / "Jts"), "--product", "tws",
                        "--version", "1030"], capture_output=True, text=True, check=True)
    prog = tmp_path / "Jts" / "1030"
    assert str(prog) in r.stdout
    assert (prog / "tws.vmoptions").exists() and (prog / ".install4j" / "inst_jre.cfg").exists()
    assert list((prog / "jars").glob("*.jar")) and os.access(prog / "tws", os.X_OK)


def test_cli_refuses_a_version_that_is_not_one(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "ibpilot", "sim", "install", str(tmp_path / "Jts"), "--version", "10.37"],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 2 and "not a major version" in r.stderr
    assert not (tmp_path / "Jts").exists()
