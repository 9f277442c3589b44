"""`ibpilot check-config` and `ibpilot config-docs`: the configuration, checked and documented.

Both are generated from the declarations in `ibpilot.settings` (one source for names).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import Any

from ibpilot import settings as st
from ibpilot.cli import add_command
from ibpilot.settings import GROUPS, VARS, Settings, SettingsError, Var
from ibpilot.settings.unknown import unknown_variables

REGENERATE = (
    "ibpilot config-docs -o docs/configuration.md && ibpilot config-docs --env-example -o docker/.env.example"
)

CHECK_HELP = """\
Read the configuration from the environment (or from --env-file), validate every variable, and print
the result grouped as in docs/configuration.md: each value and where it came from (default, env NAME,
alias NAME, or file NAME_FILE). Secrets print as ***, and so does any value that equals or contains a
secret; long values print as their start and length. Variables that are not ibpilot's but look like one
of its names (`TWS_USERNAME` for TWS_USERID) are named as warnings, never with their value.
Also checks this machine as `ibpilot run` does before it starts anything (the Gateway installation at
TWS_PATH, GATEWAY_WARM_STATE). On errors, prints all of them and exits 2. `ibpilot doctor` checks more
of the machine (Java, display, ports, clock).

examples:
  ibpilot check-config
  ibpilot check-config --config-only --env-file docker/.env   # a file for another machine
  docker run --rm --env-file .env IMAGE ibpilot check-config --json
"""

DOCS_HELP = f"""\
Print the configuration reference (Markdown) generated from the declarations in ibpilot/settings/schema.py,
or with --env-example a commented .env file listing every variable with its default.

regenerate the committed copies:
  {REGENERATE}
"""


def register(subparsers: Any) -> None:
    p = add_command(subparsers, "check-config", "validate the configuration and show every value and its source",
                    CHECK_HELP, cmd_check_config)
    p.add_argument("--json", action="store_true", help="print JSON (values, sources, warnings, errors)")
    p.add_argument(
        "--env-file",
        metavar="FILE",
        help="read NAME=value lines from FILE instead of the process environment (HOME is still taken "
        "from the environment); *_FILE paths are read as usual",
    )
    p.add_argument("--config-only", action="store_true",
                   help="check the configuration only, not this machine (no Gateway installation looked for)")

    d = add_command(subparsers, "config-docs", "print the configuration reference (Markdown) or an .env example",
                    DOCS_HELP, cmd_config_docs)
    d.add_argument("--env-example", action="store_true", help="print the .env example instead of Markdown")
    d.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")


# --------------------------------------------------------------------------------------------------
# check-config


def _environment(env_file: str | None) -> dict[str, str]:
    environ = st.process_environ()
    if env_file is None:
        return environ
    with open(env_file, encoding="utf-8") as f:
        env = st.parse_env_file(f.read())
    if "HOME" in environ and "HOME" not in env:
        env["HOME"] = environ["HOME"]
    return env


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        env = _environment(args.env_file)
    except OSError as e:
        print(f"check-config: cannot read --env-file {args.env_file}: {e.strerror or e}", file=sys.stderr)
        return 2
    unknown = unknown_variables(env)
    try:
        s = Settings.from_env(env, system=not args.config_only)
    except SettingsError as e:
        if args.json:
            print(json.dumps({"ok": False, "errors": list(e.errors), "warnings": unknown}, indent=2))
        else:
            print(str(e), file=sys.stderr)
            if unknown:
                print("\nWarnings:\n" + "\n".join(f"  - {w}" for w in unknown), file=sys.stderr)
            print("\nSee docs/configuration.md (or `ibpilot config-docs`) for every variable.", file=sys.stderr)
        return 2
    if args.json:
        report = check_report(s)
        report["warnings"] = [*report["warnings"], *unknown]
        print(json.dumps(report, indent=2))
    else:
        print(render_check(s, unknown))
    return 0


def derived(s: Settings) -> dict[str, dict[str, Any]]:
    """Per-mode values computed from several variables (text cut and secrets hidden as in `shown`)."""
    secrets = st.secrets_of(s)
    out: dict[str, dict[str, Any]] = {}
    for m in s.modes():
        creds = s.credentials(m)
        values: dict[str, Any] = {
            "user": creds.userid,
            "api_port": s.api_port(m),
            "socat_port": s.socat_port(m) if s.socat_enabled() else None,
            "ssh_remote_port": s.ssh_remote_port_for(m) if s.ssh_tunnel != "no" else None,
            "settings_path": s.settings_path(m),
            "server": s.server(m),
            "health_port": s.health_port_for(m),
            "command_server_port": s.command_server_port_for(m),
            "ready_file": s.ready_file(m),
        }
        out[m] = {k: st.shorten(x, secrets) if isinstance(x, str) else x for k, x in values.items()}
    return out


def shown(s: Settings, v: Var, secrets: frozenset[str]) -> str:
    """A value for the table: `format_value`, cut when long, hidden when it equals or holds a secret."""
    text = st.format_value(v, s.value_of(v))
    if v.secret or s.sources.get(v.attr, "default") == "default":
        return text
    return st.shorten(text, secrets)


def _json_safe(value: Any, secrets: frozenset[str]) -> Any:
    if isinstance(value, str) and value != "***":
        return st.shorten(value, secrets)
    if isinstance(value, list):
        return [_json_safe(x, secrets) for x in value]
    if isinstance(value, dict):
        return {k: _json_safe(x, secrets) for k, x in value.items()}
    return value


def check_report(s: Settings) -> dict[str, Any]:
    secrets = st.secrets_of(s)
    return {
        "ok": True,
        "settings": _json_safe(s.redacted(), secrets),
        "sources": {v.name: _json_safe(s.sources.get(v.attr, "default"), secrets) for v in VARS},
        "modes": derived(s),
        "warnings": list(s.warnings),
        "errors": [],
    }


def render_check(s: Settings, extra_warnings: list[str] | None = None) -> str:
    lines = [f"ibpilot configuration: TRADING_MODE={s.trading_mode} -> {', '.join(s.modes())}"]
    width = max(len(v.name) for v in VARS)
    secrets = st.secrets_of(s)
    for key, title in GROUPS:
        group = [v for v in VARS if v.group == key]
        if not group:
            continue
        lines += ["", f"{title}:"]
        for v in group:
            value = shown(s, v, secrets)
            source = st.shorten(s.sources.get(v.attr, "default"), secrets)
            lines.append(f"  {v.name:<{width}}  {value:<24}  [{source}]")
    lines += ["", "Per trading mode:"]
    for mode, vals in derived(s).items():
        joined = ", ".join(f"{k}={val}" for k, val in vals.items() if val is not None)
        lines.append(f"  {mode}: {joined}")
    warnings = [*s.warnings, *(extra_warnings or [])]
    if warnings:
        lines += ["", "Warnings:"] + [f"  - {w}" for w in warnings]
    lines += ["", "OK: no errors."]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# config-docs


def _default_text(v: Var) -> str:
    if v.default_doc is not None:
        return v.default_doc
    if v.default is None:
        return ""
    if v.default == ():
        return ""
    return st.format_value(v, v.default)


def _names_also(v: Var) -> list[str]:
    names = list(v.aliases)
    names += [f"{n}_FILE" for n in v.file_names()]
    return names


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown() -> str:
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated from src/ibpilot/settings/schema.py by `ibpilot config-docs`; do not edit by hand. -->",
        "",
        "ibpilot reads all of its configuration from environment variables. Check yours with",
        "`ibpilot check-config` (it prints every value and where it came from, and every error at once).",
        "",
        "- An empty value counts as unset.",
        "- Secrets (marked 🔒) and the user names are also read from a file: `NAME_FILE=/run/secrets/x`",
        "  (one trailing newline is stripped). Setting both `NAME` and `NAME_FILE` is an error.",
        "- *Also accepted as* lists other names for the same setting: IBC's `config.ini` keys (also with",
        "  the `IBC_` prefix, as in extrange/ibkr-docker), and the names used by gnzsnz/ib-gateway-docker,",
        "  DankLab ib-docker and ibg-controller. If several are set they must agree.",
        "- yes/no values also accept true/false, on/off and 1/0. Times accept `hh:mm AM/PM` (as IBC) and",
        "  24-hour `HH:MM`. Durations are seconds, or `90s`, `5m`, `1h`.",
        "",
        "## Default ports",
        "",
        "| Product | Mode | API port (inside) | socat port (published) |",
        "|---|---|---|---|",
    ]
    for product in ("gateway", "tws"):
        for mode in ("live", "paper"):
            out.append(
                f"| {product} | {mode} | {st.DEFAULT_API_PORTS[product][mode]} | "
                f"{st.DEFAULT_SOCAT_PORTS[product][mode]} |"
            )
    out += [
        "",
        "With host networking set `ENABLE_SOCAT=no` and connect to the API port; with bridge networking",
        "publish the socat port (e.g. `127.0.0.1:4001:4003`). `SSH_TUNNEL=yes` reaches the API only",
        "through the tunnel (no socat); `both` runs both.",
    ]
    for key, title in GROUPS:
        group = [v for v in VARS if v.group == key]
        if not group:
            continue
        out += ["", f"## {title}", "", "| Variable | Default | Values | Also accepted as | Description |",
                "|---|---|---|---|---|"]
        for v in group:
            name = f"`{v.name}`" + (" 🔒" if v.secret else "")
            default = _default_text(v)
            default_cell = f"`{default}`" if default and v.default_doc is None else default
            also = ", ".join(f"`{n}`" for n in _names_also(v))
            out.append(
                f"| {name} | {_md_escape(default_cell)} | {_md_escape(v.kind.expected)} | {also} | "
                f"{_md_escape(v.help)} |"
            )
    return "\n".join(out) + "\n"


def render_env_example() -> str:
    out = [
        "# ibpilot environment: every variable with its default (commented out). Empty means unset.",
        "# Generated by `ibpilot config-docs --env-example`; reference: docs/configuration.md.",
        "# Check a file with: ibpilot check-config --env-file .env",
        "# Secrets: prefer NAME_FILE=/run/secrets/... over NAME=... .",
    ]
    for key, title in GROUPS:
        group = [v for v in VARS if v.group == key and v.group != "internal"]
        if not group:
            continue
        out += ["", f"# ---- {title} " + "-" * max(4, 90 - len(title))]
        for v in group:
            out.append("")
            for line in textwrap.wrap(v.help, 98):
                out.append(f"# {line}")
            if v.aliases:
                out.append(f"# Also: {', '.join(v.aliases)}")
            default = "" if v.default is None or v.default == () else st.format_value(v, v.default)
            if v.example is not None:
                out.append(f"{v.name}={v.example}")
            else:
                out.append(f"#{v.name}={default}")
            for n in v.file_names()[:1]:
                out.append(f"#{n}_FILE=")
    return "\n".join(out) + "\n"


def cmd_config_docs(args: argparse.Namespace) -> int:
    text = render_env_example() if args.env_example else render_markdown()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0
