"""`ibpilot` command line: one sub-command per module, each registering its own parser."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

# Each module defines `register(subparsers)`, adding one or more sub-commands whose parser sets
# `func(args) -> int`. Imported lazily only to build the parser, so keep module import light.
COMMAND_MODULES = [
    "ibpilot.controller.cli",
    "ibpilot.config_cli",
    "ibpilot.serve.command_cli",
    "ibpilot.sim.cli",
    "ibpilot.stack.run",
    "ibpilot.serve.health_cli",
    "ibpilot.ibc_cli",
    "ibpilot.doctor",
    "ibpilot.audit.cli",
]

EPILOG = """\
ibpilot runs IB Gateway or TWS unattended: it launches the JVM, logs in (TOTP or phone approval),
clicks through every dialog, applies the API settings, and recovers from re-logins, crashes and hangs.
All configuration comes from the environment (IBC's and the common Docker images' names work too).

Try the whole stack without an IBKR account, on the simulated Gateway:  ibpilot demo
Check a configuration (every problem at once, secrets hidden):          ibpilot check-config
"""


def add_command(
    sub: Any, name: str, summary: str, description: str, func: Callable[[argparse.Namespace], int] | None = None
) -> argparse.ArgumentParser:
    """One sub-command: `summary` for `ibpilot --help`, `description` (kept as written) for its own --help."""
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=summary, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    if func is not None:
        p.set_defaults(func=func)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ibpilot",
        description="Run Interactive Brokers' IB Gateway / TWS unattended.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from ibpilot import __version__

    parser.add_argument("--version", action="version", version=f"ibpilot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    result: int = func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
