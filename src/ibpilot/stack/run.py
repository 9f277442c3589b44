"""`ibpilot run` (the container's main process), `ibpilot status` (its health check) and `ibpilot demo`."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import secrets
import shlex
import shutil
import signal
import socket
import sys
import threading
import time
import xmlrpc.client
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ibpilot.cli import add_command
from ibpilot.logs import register_secret, setup_logging
from ibpilot.settings import VARS, Secret, Settings, SettingsError, all_env_names, process_environ, system_errors
from ibpilot.stack.conf import render_conf
from ibpilot.stack.display import display_in_use, free_display
from ibpilot.stack.layout import Layout, layout
from ibpilot.stack.lifecycle import EXIT_CONFIG, Stack
from ibpilot.stack.listeners import ANY_ADDRESS, expected_listeners, port_free
from ibpilot.stack.plan import Program, plan
from ibpilot.stack.rpc import Supervisor

log = logging.getLogger("ibpilot.stack")

RUN_HELP = """\
Run the whole stack in the foreground under supervisord: the virtual display (Xvfb), VNC and noVNC when
VNC_SERVER_PASSWORD / NOVNC_PORT are set, one controller per trading mode (`ibpilot control`: the Gateway
JVM, login, 2FA, dialogs, API settings), socat forwarding SOCAT_PORT to the API port *only while that
mode's API is ready* (clients get "connection refused" otherwise), SSH reverse tunnels, and hook scripts.
This is the container's main process (under tini).

Everything comes from the environment (`ibpilot check-config` shows what it understood). Bad settings are
all reported at once and nothing is started (exit 2). Secrets given directly (TWS_PASSWORD=...) are moved
into 0600 files in RUN_DIR before anything starts, so no program's environment, argv or supervisord.conf
holds them.

Files in RUN_DIR: supervisord.conf, supervisor.sock (use `supervisorctl -c RUN_DIR/supervisord.conf`),
logs/<program>.log (also echoed here as `[program] line`), ready-<mode> while the API answers.

SIGTERM/SIGINT: stop socat, log the controllers out cleanly, then stop the rest; whatever is still running
after the grace period is killed. Give docker at least that long (`stop_grace_period: 120s`).

Exit codes: 0 stopped on request (or the controller finished by itself, e.g. CLOSEDOWN_AT), 1 supervisord
failed, 2 bad configuration (nothing started), 3 credentials refused (the controller gave up to avoid a
lockout), 4 second factor not completed and TWOFA_TIMEOUT_ACTION=exit, 5 a vital program failed for good
(Xvfb, or a controller that kept crashing), 6 the graceful stop took longer than the grace period.

  TWS_USERID=me TWS_PASSWORD_FILE=/run/secrets/ib TRADING_MODE=paper TWS_PATH=/opt/ibgateway ibpilot run
"""

STATUS_HELP = """\
Is every trading mode ready? For each mode: its ready file (written by the controller while a real TWS
API handshake succeeds) and what supervisord says about the programs. Exit 0 only when every mode is
ready, 1 otherwise, 2 on bad configuration: this is the Docker HEALTHCHECK.

  ibpilot status            # one line per mode, then supervisord's table
  ibpilot status --json     # {"ready": true, "modes": {...}, "programs": {...}}
"""

DEMO_HELP = """\
The whole stack on the simulated Gateway, with nothing to configure: installs the simulator into DIR,
logs in to a demo paper account, and prints how to connect (API through socat, with an ib_async snippet;
VNC and its generated password; noVNC in a browser; the supervisord web UI and its generated login).
Everything listens on 127.0.0.1 only (--bind to change). Ports already taken are replaced by free ones.
Runs until Ctrl-C, which logs out and stops everything cleanly.

  ibpilot demo                  # DIR ~/.ibpilot/demo; program logs in DIR/run/logs
  ibpilot demo --logs           # also stream every program's log here
"""


# --------------------------------------------------------------------------------------------------
# Checks before anything starts


def _ports_to_bind(settings: Settings, programs: list[Program]) -> list[tuple[str, str, int]]:
    """(what, bind address, port) for every port this stack will listen on (`*`: checked on 0.0.0.0)."""
    return [(x.what, x.bind, x.port) for x in expected_listeners(settings, programs)]


def preflight(settings: Settings, programs: list[Program]) -> list[str]:
    """Everything that would make the stack fail at once, as messages (empty: go)."""
    errors: list[str] = []
    for exe in sorted({p.argv[0] for p in programs if not os.path.isabs(p.argv[0])}):
        if shutil.which(exe) is None:
            users = ", ".join(p.name for p in programs if p.argv[0] == exe)
            errors.append(f"`{exe}` is not installed (needed by {users}; scripts/install-system-deps.sh)")
    errors += system_errors(settings)  # the same install checks as check-config: the two never disagree
    if settings.start_xvfb:
        n = settings.display_number
        if display_in_use(n):
            errors.append(f"DISPLAY_NUMBER={n}: display :{n} is already in use by another X server; "
                          "choose another number")
    for what, bind, port in _ports_to_bind(settings, programs):
        if not port_free("0.0.0.0" if bind == ANY_ADDRESS else bind, port):
            errors.append(f"{what}: {bind}:{port} is already in use")
    return errors


def _install_simulator_if_wanted(settings: Settings) -> None:
    """IBPILOT_SIM=yes and nothing installed at TWS_PATH: install the simulated Gateway there."""
    from ibpilot.gateway.install import installed_versions
    from ibpilot.sim.install import DEFAULT_VERSION, install

    tws_path = Path(settings.tws_path).expanduser()
    if settings.ibpilot_sim and not installed_versions(tws_path, settings.gateway_or_tws):
        prog = install(tws_path, settings.gateway_or_tws, settings.tws_major_vrsn or DEFAULT_VERSION)
        log.info("IBPILOT_SIM=yes: simulated %s installed in %s", settings.gateway_or_tws, prog)


def summary(settings: Settings, programs: list[Program], lay: Layout) -> str:
    width = max(len(p.name) for p in programs)
    lines = [f"ibpilot run: {len(programs)} programs under supervisord (RUN_DIR={lay.run_dir})"]
    for p in programs:
        after = f"   [after {', '.join(p.depends_on)}]" if p.depends_on else ""
        lines.append(f"  {p.name:<{width}}  {shlex.join(p.argv)}{after}")
    lines.append("listening ports:")
    for what, bind, port in _ports_to_bind(settings, programs):
        lines.append(f"  {port:>5}  {bind:<15} {what}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# The shared code path of `run` and `demo`


def run_stack(
    settings: Settings,
    env: Mapping[str, str],
    *,
    grace: float | None = None,
    forward_logs: bool = True,
    on_ready: Callable[[Stack], None] | None = None,
    out: Any = None,
) -> int:
    """Plan, check, render, start supervisord, keep the order, stop on SIGTERM/SIGINT: the exit code."""
    programs = plan(settings, exe=(sys.executable, "-m", "ibpilot"))
    errors = preflight(settings, programs)
    if errors:
        lines = "\n".join(f"  - {e}" for e in errors)
        print(f"ibpilot run: cannot start, {len(errors)} problem(s):\n{lines}", file=sys.stderr)
        return EXIT_CONFIG
    for w in settings.warnings:
        log.warning("configuration: %s", w)
    _install_simulator_if_wanted(settings)
    stack = Stack(settings, programs, env, out=out or sys.stdout, forward_logs=forward_logs, grace=grace,
                     on_ready=on_ready)
    print(summary(settings, programs, stack.lay), flush=True)

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("stack: %s received", signal.Signals(signum).name)
        stack.request_stop()

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = stack.run()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    log.info("ibpilot run: exit %d", code)
    return code


def _load(cmd: str) -> Settings | None:
    try:
        return Settings.load()
    except SettingsError as exc:
        print(f"ibpilot {cmd}: {exc}", file=sys.stderr)
        return None


def _register_secrets(settings: Settings) -> None:
    """Mask every secret's value in our own log lines (defence in depth)."""
    for v in VARS:
        value = settings.value_of(v)
        if v.secret and isinstance(value, Secret):
            register_secret(value.reveal())


def _cmd_run(args: argparse.Namespace) -> int:
    settings = _load("run")
    if settings is None:
        return EXIT_CONFIG
    if args.dry_run:
        programs = plan(settings, exe=(sys.executable, "-m", "ibpilot"))
        print(render_conf(settings, programs, layout(settings)))
        return 0
    setup_logging(settings.log_level)
    _register_secrets(settings)
    return run_stack(settings, process_environ(), grace=args.grace, forward_logs=not args.quiet)


# --------------------------------------------------------------------------------------------------
# status


def _controller_state(path: Path) -> dict[str, Any]:
    """What the controller published about itself (state, since when, its last alert), if anything."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    out: dict[str, Any] = {"state": doc.get("state"), "state_for_s": round(time.time() - float(doc.get("since", 0)))}
    if doc.get("last_alert"):
        out["last_alert"] = doc["last_alert"]
    return out


def collect_status(settings: Settings) -> dict[str, Any]:
    lay = layout(settings)
    programs: dict[str, dict[str, Any]] = {}
    supervisord = "not running (no socket)"
    reachable = False
    if lay.socket.exists():
        try:
            infos = Supervisor(lay.socket, timeout=5).processes()
            reachable = True
            supervisord = "running"
            programs = {n: {"state": i.get("statename"), "pid": i.get("pid") or None,
                            "description": i.get("description", "")} for n, i in sorted(infos.items())}
        except (OSError, xmlrpc.client.Error) as exc:
            supervisord = f"not answering ({exc})"
    modes: dict[str, Any] = {}
    for m in settings.modes():
        ready_file = Path(settings.ready_file(m)).expanduser()
        controller = programs.get(f"controller-{m}", {}).get("state")
        ready = ready_file.exists() and (controller in ("STARTING", "RUNNING") if lay.socket.exists() else True)
        if lay.socket.exists() and not reachable:
            ready = False
        info: dict[str, Any] = {"ready": ready, "ready_file": str(ready_file), "api_port": settings.api_port(m)}
        if settings.socat_enabled():
            info["socat_port"] = settings.socat_port(m)
        if controller:
            info["controller"] = controller
        info.update(_controller_state(Path(settings.run_dir).expanduser() / f"state-{m}.json"))
        modes[m] = info
    return {"ready": all(v["ready"] for v in modes.values()), "modes": modes, "supervisord": supervisord,
            "programs": programs}


def _cmd_status(args: argparse.Namespace) -> int:
    settings = _load("status")
    if settings is None:
        return 2
    st = collect_status(settings)
    if args.json:
        print(json.dumps(st, indent=2))
    else:
        for m, info in st["modes"].items():
            ports = f"API port {info['api_port']}" + (f", socat {info['socat_port']}" if "socat_port" in info else "")
            print(f"{m}: {'READY' if info['ready'] else 'not ready'} ({ports})")
            if info.get("state"):
                print(f"  controller state {info['state']} for {info['state_for_s']}s")
            if alert := info.get("last_alert"):
                print(f"  last alert {alert['alert']}: {alert['msg']}")
        print(f"supervisord: {st['supervisord']}")
        for name, p in st["programs"].items():
            print(f"  {name:<18} {p['state']:<9} {p['description']}")
    return 0 if st["ready"] else 1


# --------------------------------------------------------------------------------------------------
# demo


def _free_or(preferred: int, bind: str, taken: set[int]) -> int:
    if preferred not in taken and port_free(bind, preferred):
        taken.add(preferred)
        return preferred
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((bind, 0))
            port: int = s.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port


def demo_environment(directory: Path, base: Mapping[str, str], bind: str = "127.0.0.1") -> dict[str, str]:
    """The environment of the demo: the simulator, paper mode, VNC/noVNC/UI with generated secrets."""
    env = {k: v for k, v in base.items() if k not in set(all_env_names()) and not k.startswith("IBPILOT_SIM")}
    taken: set[int] = set()
    scenario = directory / "scenario.json"
    env.update(
        IBPILOT_SIM="yes",
        IBPILOT_SIM_SCENARIO=str(scenario),
        IBPILOT_SIM_EVENTS=str(directory / "sim-events.jsonl"),
        TWS_PATH=str(directory / "Jts"),
        RUN_DIR=str(directory / "run"),
        TRADING_MODE="paper",
        TWS_USERID="demo",
        TWS_PASSWORD="demo-" + secrets.token_hex(4),
        TWS_API_PORT=str(_free_or(4002, "127.0.0.1", taken)),
        SOCAT_PORT=str(_free_or(4004, bind, taken)),
        SOCAT_BIND=bind,
        DISPLAY_NUMBER=str(free_display()),
        DISPLAY_SIZE="1280x900x24",
        VNC_SERVER_PASSWORD=secrets.token_urlsafe(6)[:8],
        VNC_PORT=str(_free_or(5900, bind, taken)),
        VNC_BIND=bind,
        NOVNC_PORT=str(_free_or(6080, bind, taken)),
        NOVNC_BIND=bind,
        SUPERVISORD_UI_PORT=str(_free_or(9001, bind, taken)),
        SUPERVISORD_UI_BIND=bind,
        SUPERVISORD_UI_USER="demo",
        SUPERVISORD_UI_PASS=secrets.token_urlsafe(9),
        HEALTH_PORT=str(_free_or(8080, bind, taken)),
        HEALTH_BIND=bind,
        COMMAND_SERVER_PORT=str(_free_or(7462, "127.0.0.1", taken)),
        COMMAND_SERVER_BIND="127.0.0.1",
        COMMAND_SERVER_TOKEN=secrets.token_urlsafe(12),
    )
    return env


def connect_text(settings: Settings, env: Mapping[str, str]) -> str:
    s = settings
    host = "127.0.0.1" if s.socat_bind in ("0.0.0.0", "127.0.0.1") else s.socat_bind
    vhost = "127.0.0.1" if s.vnc_bind in ("0.0.0.0", "127.0.0.1") else s.vnc_bind
    port = s.socat_port("paper")
    vnc_pw = s.vnc_server_password.reveal() if s.vnc_server_password else ""
    ui_pw = s.supervisord_ui_pass.reveal() if s.supervisord_ui_pass else ""
    token = s.command_server_token.reveal() if s.command_server_token else ""
    hhost = "127.0.0.1" if s.health_bind in ("0.0.0.0", "127.0.0.1") else s.health_bind
    return f"""
================================================================================
 ibpilot demo: the simulated IB Gateway is logged in (paper account), API ready
================================================================================
 TWS API (through socat)   {host}:{port}
     from ib_async import IB
     ib = IB(); ib.connect("{host}", {port}, clientId=1, readonly=True)  # Read-Only API is on
     print(ib.managedAccounts(), ib.reqCurrentTime())

 VNC                       {vhost}:{s.vnc_port}   (vncviewer {vhost}::{s.vnc_port})
 VNC password              {vnc_pw}
 noVNC (browser)           http://{vhost}:{s.novnc_port}/vnc.html?autoconnect=1&password={vnc_pw}
 supervisord web UI        http://{vhost}:{s.supervisord_ui_port}/   user {s.supervisord_ui_user}  password {ui_pw}
 status page               http://{hhost}:{s.health_port}/   (Restart/Stop with the command token below)
 health / metrics          http://{hhost}:{s.health_port}/health   http://{hhost}:{s.health_port}/metrics
 command server (IBC)      {s.command_server_bind}:{s.command_server_port}   token {token}
     printf 'AUTH {token}\\nSTATUS\\n' | nc {s.command_server_bind} {s.command_server_port}
 status                    RUN_DIR={s.run_dir} ibpilot status
 logs                      {s.run_dir}/logs/
 simulator event log       {env.get("IBPILOT_SIM_EVENTS", "")}

 Stop: Ctrl-C (logs out, stops everything)
================================================================================
"""


def _cmd_demo(args: argparse.Namespace) -> int:
    from ibpilot.sim import install as sim_install

    directory = Path(args.dir).expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    sim_install.install(directory / "Jts", "gateway")
    (directory / "scenario.json").write_text(json.dumps(args.scenario_json or {}))
    env = demo_environment(directory, process_environ(), args.bind)
    try:
        settings = Settings.from_env(env)
    except SettingsError as exc:
        print(f"ibpilot demo: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    _register_secrets(settings)
    done = threading.Event()

    def on_ready(stack: Stack) -> None:
        text = connect_text(settings, env)
        with stack._lock:
            print(text, flush=True)
        done.set()

    print(f"ibpilot demo: simulated Gateway in {directory / 'Jts'}; starting (this takes a few seconds)...",
          flush=True)
    return run_stack(settings, env, grace=args.grace, forward_logs=args.logs, on_ready=on_ready)


def _scenario(text: str) -> dict[str, Any]:
    path = Path(text).expanduser()
    with contextlib.suppress(OSError):
        text = path.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON and not a JSON file: {exc}") from None
    if not isinstance(data, dict):
        raise argparse.ArgumentTypeError("a scenario is a JSON object")
    return data


def register(sub: Any) -> None:
    p = add_command(sub, "run", "run the whole stack under supervisord (the container's main process)", RUN_HELP,
                    _cmd_run)
    p.add_argument("--grace", type=float, default=None, metavar="SECONDS",
                   help="time for a graceful stop before what is left is killed "
                   "(default: the longest program stop time + 15 s, i.e. 105 s with controllers)")
    p.add_argument("--quiet", action="store_true", help="do not echo the programs' logs (they stay in RUN_DIR/logs)")
    p.add_argument("--dry-run", action="store_true", help="print the supervisord.conf that would be used, and exit")

    s = add_command(sub, "status", "is every trading mode ready? (the Docker HEALTHCHECK)", STATUS_HELP,
                    _cmd_status)
    s.add_argument("--json", action="store_true", help="machine-readable output")

    d = add_command(sub, "demo", "the whole stack on the simulated Gateway; prints how to connect", DEMO_HELP,
                    _cmd_demo)
    d.add_argument("--dir", default="~/.ibpilot/demo", help="where the simulator and RUN_DIR go (default %(default)s)")
    d.add_argument("--bind", default="127.0.0.1", help="address for socat, VNC, noVNC, the UI (default %(default)s)")
    d.add_argument("--logs", action="store_true", help="stream every program's log to this terminal")
    d.add_argument("--scenario", dest="scenario_json", type=_scenario, default=None, metavar="JSON|FILE",
                   help="simulator scenario (see sim/README.md), e.g. '{\"second_factor\": \"push\"}'")
    d.add_argument("--grace", type=float, default=None, metavar="SECONDS", help="graceful stop time")
