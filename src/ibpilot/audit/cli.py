"""`ibpilot audit [--json]`: the security check of the running stack (see `ibpilot.audit`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import xmlrpc.client
from pathlib import Path
from typing import Any

from ibpilot.audit import files, probes
from ibpilot.audit.needles import Needle, find, needles_of
from ibpilot.audit.procs import Proc, descendants, env_names_with, listening_sockets, open_files, processes
from ibpilot.audit.report import Finding, Report
from ibpilot.cli import add_command
from ibpilot.settings import Settings, SettingsError
from ibpilot.stack.layout import layout
from ibpilot.stack.listeners import ANY_ADDRESS, expected_listeners
from ibpilot.stack.plan import plan
from ibpilot.stack.rpc import Supervisor

HELP = """\
Check the running stack for leaked secrets and open doors. The secrets are those of this configuration
(the same environment as `ibpilot run`): every secret setting, and the forms it takes (the VNC password
file's DES block, JSON and URL escapes, a webhook URL's token parts). None may appear in:
  - any process's argv, or the environment of supervisord and every process below it
    (`ibpilot run` itself, supervisord's parent, got them from you: noted, not a finding)
  - any file under RUN_DIR (logs, state, ready files) or a Gateway settings dir, or open in a stack
    process, except its own 0600 holder (RUN_DIR/secrets/<VAR>, vnc.passwd, ssh.passphrase, your *_FILE)
  - `ibpilot status --json`, /health, /ready, /metrics and the status page of each controller,
    the command server's STATUS reply
and: RUN_DIR and secrets/ are 0700, the agent and supervisord sockets 0600; every listener is the
documented one on its documented address (docs/network.md); VNC offers VNC authentication and never
"None"; the supervisord web UI answers 401 without credentials when bound beyond loopback.

One line per finding (a secret is named by its variable, never shown), then a summary.
Exit codes: 0 clean, 1 findings, 2 bad configuration or no running stack (nothing to audit).

  ibpilot audit
  ibpilot audit --json
"""


class NotRunning(Exception):
    pass


def _safe_name(p: Proc, needles: list[Needle]) -> str:
    """A process's executable name, unless it holds a secret itself."""
    first = p.argv.split(b"\0", 1)[0]
    if find(needles, first):
        return f"pid {p.pid}"
    return f"{os.path.basename(first.decode(errors='replace'))} (pid {p.pid})"


def stack_processes(settings: Settings) -> tuple[int, int, dict[int, Proc]]:
    """(supervisord's pid, its parent's pid, every process) of the running stack."""
    lay = layout(settings)
    try:
        sup = int(lay.pidfile.read_text().strip())
    except (OSError, ValueError):
        raise NotRunning(f"no supervisord pid file at {lay.pidfile}: is `ibpilot run` running with "
                         f"RUN_DIR={settings.run_dir}?") from None
    procs = processes()
    if sup not in procs or b"supervisord" not in procs[sup].argv:
        raise NotRunning(f"supervisord (pid {sup} in {lay.pidfile}) is not running")
    return sup, procs[sup].ppid, procs


def owners(settings: Settings, sup: int, procs: dict[int, Proc], report: Report) -> dict[int, str]:
    """pid -> the supervisord program whose process tree it is in (`supervisord` for itself)."""
    out = {sup: "supervisord"}
    try:
        infos = Supervisor(layout(settings).socket, timeout=5).processes()
    except (OSError, xmlrpc.client.Error) as exc:
        report.notes.append(f"supervisord's program list not available ({exc}): owners unknown")
        return out
    for name, info in infos.items():
        if pid := int(info.get("pid") or 0):
            for p in (pid, *descendants(procs, pid)):
                out[p] = name
    return out


def check_processes(needles: list[Needle], sup: int, launcher: int, procs: dict[int, Proc],
                    names: dict[int, str], report: Report) -> None:
    stack = {sup, *descendants(procs, sup)}
    me = os.getpid()
    hidden = [pid for pid in sorted(stack) if procs[pid].environ is None]
    if hidden:
        report.notes.append(f"the environment of {len(hidden)} stack process(es) is not readable here (pids "
                            f"{', '.join(map(str, hidden))}): run the audit as root or as the stack's user")
    for p in procs.values():
        if p.pid == me:
            continue
        report.count("argv")
        who = names.get(p.pid)
        label = f"{who} (pid {p.pid})" if who else _safe_name(p, needles)
        for n in find(needles, p.argv):
            report.add(Finding("argv", f"pid {p.pid}", f"{n.label} in the argv of {label}", n.var))
        if p.environ is None or (p.pid not in stack and p.pid != launcher):
            continue
        report.count("environments")
        for n in find(needles, p.environ):
            where = ", ".join(env_names_with(p.environ, n.value)) or "?"
            if p.pid == launcher:
                report.notes.append(f"{n.var} is in the environment of `ibpilot run` (pid {p.pid}, as {where}): "
                                    f"given directly by you; {n.var}_FILE keeps it out of every environment")
                continue
            report.add(Finding("environ", f"pid {p.pid}", f"{n.label} in the environment of {label} "
                               f"(as {where})", n.var))


def check_listeners(settings: Settings, sup: int, launcher: int, procs: dict[int, Proc], names: dict[int, str],
                    report: Report) -> None:
    expected = expected_listeners(settings, plan(settings))
    pids = {launcher, sup, *descendants(procs, sup)}
    sockets = listening_sockets(pids)
    report.count("listeners", len(sockets))
    for pid, addr, port in sockets:
        owner = names.get(pid, "ibpilot run" if pid == launcher else f"pid {pid}")
        ok = [x for x in expected if x.port == port and x.program == owner and x.bind in (ANY_ADDRESS, addr)]
        if not ok:
            promised = [f"{x.what} {x.bind}:{x.port} by {x.program}" for x in expected if x.port == port]
            report.add(Finding("listener", f"{addr}:{port}", f"{owner} (pid {pid}) listens on {addr}:{port}; "
                               f"documented: {'; '.join(promised) or 'nothing'}"))
    for x in expected:
        if not any(port == x.port and names.get(pid) == x.program for pid, _a, port in sockets):
            report.notes.append(f"{x.what} ({x.bind}:{x.port} by {x.program}) is not listening now")


def check_network(settings: Settings, needles: list[Needle], report: Report) -> None:
    from ibpilot.stack.run import collect_status

    s = settings
    status = json.dumps(collect_status(s), indent=2).encode()
    probes.scan_answer("`ibpilot status --json`", status, needles, report, "status")
    token = s.command_server_token.reveal() if s.command_server_token else None
    for m in s.modes():
        if hp := s.health_port_for(m):
            probes.scan_http(probes.connect_host(s.health_bind), hp, needles, report, token)
        if cp := s.command_server_port_for(m):
            probes.scan_command_server(probes.connect_host(s.command_server_bind), cp, needles, report, token)
    if s.vnc_enabled():
        probes.check_vnc(probes.connect_host(s.vnc_bind), s.vnc_port, report)
    if s.supervisord_ui_port:
        login = (s.supervisord_ui_user, s.supervisord_ui_pass.reveal()) if s.supervisord_ui_user and \
            s.supervisord_ui_pass else None
        probes.check_supervisord_ui(s.supervisord_ui_bind, s.supervisord_ui_port, report, needles, login)


def run_audit(settings: Settings) -> Report:
    """Every check on the stack of `settings` (raises NotRunning when there is no stack)."""
    report = Report()
    needles, notes = needles_of(settings)
    report.notes += notes
    if not needles:
        report.notes.append("no secret is configured: only modes, listeners, VNC and the web UI are checked")
    sup, launcher, procs = stack_processes(settings)
    names = owners(settings, sup, procs, report)
    check_processes(needles, sup, launcher, procs, names, report)
    check_listeners(settings, sup, launcher, procs, names, report)
    roots = [layout(settings).run_dir, *(Path(s).expanduser() for s in {settings.settings_path(m)
                                                                        for m in settings.modes()})]
    roots += sorted(open_files({launcher, sup, *descendants(procs, sup)}))
    files.scan_files(roots, needles, files.holders(settings), report)
    files.check_modes(settings, report)
    check_network(settings, needles, report)
    return report


def redact(text: str, needles: list[Needle]) -> str:
    """Defence in depth: the report never holds a value, but a path or URL could."""
    for n in needles:
        if n.form != "vnc-rfbauth":
            text = text.replace(n.value.decode(errors="replace"), "***")
    return text


def cmd_audit(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load()
    except SettingsError as exc:
        print(f"ibpilot audit: {exc}", file=sys.stderr)
        return 2
    try:
        report = run_audit(settings)
    except NotRunning as exc:
        print(f"ibpilot audit: nothing to audit: {exc}", file=sys.stderr)
        return 2
    needles, _ = needles_of(settings)
    print(redact(report.as_json() if args.json else report.text(), needles), flush=True)
    return 0 if report.ok else 1


def register(sub: Any) -> None:
    p = add_command(sub, "audit", "check the running stack for leaked secrets and open ports", HELP, cmd_audit)
    p.add_argument("--json", action="store_true", help="machine-readable output")
