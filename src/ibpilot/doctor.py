"""`ibpilot doctor`: is this machine ready to run the configuration? Each problem with its fix."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from ibpilot import settings as st
from ibpilot.cli import add_command
from ibpilot.doctor_checks import Check, run_checks
from ibpilot.settings import Settings, SettingsError
from ibpilot.settings.unknown import unknown_variables

HELP = """\
Check this machine and the configuration before `ibpilot run`, and say how to fix each problem:

  install        the Gateway/TWS installation at TWS_PATH (and its version)
  java           the Java that would run it, and its version (`java -version`)
  display        Xvfb installed (START_XVFB=yes), or your X server answering (START_XVFB=no)
  ports          every port the stack will listen on is free; programs: every program it runs is installed
  credentials    a user name and password for each trading mode
  totp           TWOFACTOR_CODE is a usable base32 TOTP secret
  clock          the clock is synchronised (timedatectl or chronyc; only TOTP needs it). Nothing beyond
                 the OS's own time tools is asked; without them it says it cannot check, and why
  directories    the settings directory of each mode and RUN_DIR are writable
  known_hosts    with SSH_TUNNEL: each tunnel host's key is pinned in SSH_KNOWN_HOSTS; the key file exists
  variables      names that look like ibpilot's but are not (`TWS_USERNAME`)

Output: one line per check, `ok|warn|FAIL  <check>: <detail>`, with the fix under each one that is not ok.
Exit status: 0 all fine (warnings allowed), 1 a problem (a FAIL), 2 the configuration is invalid (every
error listed, as `ibpilot check-config`). Secrets are never printed.

examples:
  ibpilot doctor
  ibpilot doctor --env-file docker/.env
  docker compose run --rm ibpilot ibpilot doctor --json
"""


def register(subparsers: Any) -> None:
    p = add_command(subparsers, "doctor", "check this machine and the configuration, with a fix for each problem",
                    HELP, cmd_doctor)
    p.add_argument("--json", action="store_true", help="print JSON: {ok, exit, checks: [{check, status, detail, "
                   "fix}], errors}")
    p.add_argument("--env-file", metavar="FILE", help="read NAME=value lines from FILE instead of the process "
                   "environment (HOME and DISPLAY are still taken from the environment)")


def _environment(env_file: str | None) -> dict[str, str]:
    environ = st.process_environ()
    if env_file is None:
        return environ
    with open(env_file, encoding="utf-8") as f:
        env = st.parse_env_file(f.read())
    for name in ("HOME", "DISPLAY", "JAVA_HOME"):
        if name in environ and name not in env:
            env[name] = environ[name]
    return env


def render(checks: list[Check]) -> str:
    lines = []
    for c in checks:
        lines.append(f"{c.status:<5} {c.check}: {c.detail}")
        if c.status != "ok" and c.fix:
            lines.append(f"      fix: {c.fix}")
    fails = sum(c.status == "FAIL" for c in checks)
    warns = sum(c.status == "warn" for c in checks)
    lines.append("")
    lines.append(f"{len(checks)} checks: {fails} failed, {warns} warning(s)." if fails or warns
                 else f"{len(checks)} checks: all fine.")
    return "\n".join(lines)


def doctor(env: dict[str, str]) -> tuple[int, list[Check], list[str]]:
    """(exit status, checks, configuration errors)."""
    try:
        s = Settings.from_env(env)
    except SettingsError as e:
        return 2, [], list(e.errors)
    checks = run_checks(s, env)
    checks += [Check("variables", "warn", w, "rename it (see docs/configuration.md) or remove it")
               for w in unknown_variables(env)]
    checks += [Check("configuration", "warn", w) for w in s.warnings if not w.startswith("no user name")]
    return (1 if any(c.status == "FAIL" for c in checks) else 0), checks, []


def cmd_doctor(args: argparse.Namespace) -> int:
    try:
        env = _environment(args.env_file)
    except OSError as e:
        print(f"doctor: cannot read --env-file {args.env_file}: {e.strerror or e}", file=sys.stderr)
        return 2
    code, checks, errors = doctor(env)
    if args.json:
        print(json.dumps({"ok": code == 0, "exit": code, "checks": [asdict(c) for c in checks], "errors": errors},
                         indent=2))
    elif errors:
        print(str(SettingsError(errors)), file=sys.stderr)
        print("\nFix the configuration first (`ibpilot check-config` shows every value).", file=sys.stderr)
    else:
        print(render(checks))
    return code
