"""`ibpilot convert-ibc CONFIG.INI`: IBC's config.ini as an ibpilot .env file or compose `environment:` block."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any

from ibpilot.cli import add_command
from ibpilot.ibc_config import Conversion, Remark, convert
from ibpilot.ibc_ini import decode

HELP = """\
Convert IBC's config.ini into ibpilot's environment. Every key is either converted to the ibpilot variable
that takes it (the settings declarations list IBC's key names as aliases) or reported with the reason it is
not; keys that are not IBC's are reported too. Values are translated where IBC meant something else (a `0`
port, `Every 30` without a unit, the deprecated 2FA key, a value IBC itself ignored because of a trailing
blank, ...), then checked as `ibpilot check-config` checks them. On errors every one is listed, nothing is
written, and the exit status is 2.

The file is read as IBC reads it (Java properties: `#`/`!` comments, `=` or `:` with any spacing,
backslash escapes, case-sensitive keys, the last repeated key wins); Windows line endings and a UTF-8
byte-order mark are accepted (the latter with a warning: IBC misreads it).

Secrets (IbPassword) print as `NAME=<redacted: ...>` unless --show-secrets; in production give them as
NAME_FILE=/run/secrets/... instead.

examples:
  ibpilot convert-ibc ~/ibc/config.ini > ibpilot.env && ibpilot check-config --env-file ibpilot.env
  ibpilot convert-ibc config.ini --format compose --mode paper     # paste under your service
  ibpilot convert-ibc config.ini --show-secrets -o .env             # written 0600
"""


def register(subparsers: Any) -> None:
    p = add_command(subparsers, "convert-ibc", "convert IBC's config.ini to ibpilot's environment", HELP, cmd_convert)
    p.add_argument("config", metavar="CONFIG.INI", help="IBC's config.ini")
    p.add_argument("--format", choices=("env", "compose"), default="env",
                   help="env: NAME=value lines (default); compose: a docker compose `environment:` block")
    p.add_argument("--mode", choices=("live", "paper"),
                   help="trading mode, overriding TradingMode (as IBC's command-line argument does)")
    p.add_argument("--show-secrets", action="store_true", help="print secrets instead of redacting them")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (mode 0600) instead of standard output")


def redacted(name: str) -> str:
    return f"<redacted: pass with --show-secrets or use {name}_FILE>"


_PLAIN = re.compile(r"[A-Za-z0-9_./:@,+=%^*()\[\]{}~-]+(?: [A-Za-z0-9_./:@,+=%^*()\[\]{}~-]+)*")


def env_value(value: str) -> str:
    """`value` for a .env line, read back the same by `ibpilot check-config --env-file` and compose."""
    if _PLAIN.fullmatch(value):
        return value
    if "'" not in value and "\n" not in value:
        return f"'{value}'"  # literal for compose (no $ interpolation); ibpilot strips the quotes
    if not any(c in value for c in "\"\\$\n"):
        return f'"{value}"'
    raise ValueError("holds both a single quote and one of \" \\ $ or a newline")


def compose_value(value: str) -> str:
    """A YAML double-quoted scalar; `$` doubled so that compose does not interpolate it."""
    return json.dumps(value.replace("$", "$$"), ensure_ascii=False)


def _shown(conv: Conversion, name: str, show_secrets: bool) -> str:
    value = conv.env[name]
    return value if show_secrets or name not in conv.secrets else redacted(name)


def _remark_line(r: Remark) -> str:
    where = f" (line {r.line})" if r.line else ""
    level = "WARNING: " if r.level == "warning" else ""
    return f"{r.key or 'config.ini'}{where}: {level}{r.text}"


def render(conv: Conversion, source: str, fmt: str, show_secrets: bool) -> str:
    by_key: dict[str, list[Remark]] = {}
    for r in conv.remarks:
        by_key.setdefault(r.key, []).append(r)
    converted_keys = set(conv.origin.values())
    lines = [
        f"# ibpilot environment converted from IBC's {os.path.basename(source)} by `ibpilot convert-ibc`.",
        "# Check it with `ibpilot check-config --env-file FILE`; every variable: docs/configuration.md.",
    ]
    if conv.secrets and not show_secrets:
        lines.append("# Secrets are redacted: give them as NAME_FILE=/run/secrets/... (or run with --show-secrets).")
    if fmt == "env":
        lines.append("# Quoted values are for compose's .env and --env-file; `docker run --env-file` keeps quotes.")
    else:
        lines.append("# Paste under your service; `$$` is compose's escape for a literal `$`.")
        lines.append("environment:")
    indent = "  " if fmt == "compose" else ""
    problems: list[str] = []
    for name, key in conv.origin.items():
        lines.append("")
        line = conv.lines.get(key)
        lines.append(f"{indent}# from {key}" + (f" (line {line})" if line else " (not in the file)"))
        for r in by_key.get(key, []):
            lines.append(f"{indent}#   {'WARNING: ' if r.level == 'warning' else ''}{r.text}")
        value = _shown(conv, name, show_secrets)
        if fmt == "compose":
            lines.append(f"{indent}{name}: {compose_value(value)}")
            continue
        try:
            lines.append(f"{name}={value if value == redacted(name) else env_value(value)}")
        except ValueError as e:
            problems.append(f"{name} (from {key}): its value {e}; write it by hand or use {name}_FILE")
            lines.append(f"# {name}=<cannot be written safely: see the remark below>")
    rest = [r for r in conv.remarks if r.key not in converted_keys]
    if rest:
        lines += ["", f"{indent}# ---- IBC keys not converted, and remarks " + "-" * 40]
        lines += [f"{indent}# {_remark_line(r)}" for r in rest]
    if conv.warnings or problems:
        lines += ["", f"{indent}# ---- ibpilot's remarks on the result " + "-" * 43]
        lines += [f"{indent}# {w}" for w in [*problems, *conv.warnings]]
    return "\n".join(lines) + "\n"


def cmd_convert(args: argparse.Namespace) -> int:
    try:
        with open(args.config, "rb") as f:
            text, bom = decode(f.read())
    except OSError as e:
        print(f"convert-ibc: cannot read {args.config}: {e.strerror or e}", file=sys.stderr)
        return 2
    conv = convert(text, mode=args.mode, bom=bom)
    if conv.errors:
        print(f"convert-ibc: {len(conv.errors)} error(s) in {args.config}; nothing written:", file=sys.stderr)
        for err in conv.errors:
            print(f"  - {err}", file=sys.stderr)
        return 2
    out = render(conv, args.config, args.format, args.show_secrets)
    if args.output:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(out)
    else:
        sys.stdout.write(out)
    reported = {r.key for r in conv.remarks if r.key and r.key not in set(conv.origin.values())}
    warnings = sum(r.level == "warning" for r in conv.remarks)
    print(f"convert-ibc: {len(conv.env)} variable(s) written, {len(reported)} key(s) reported, "
          f"{warnings} warning(s)", file=sys.stderr)
    return 0
