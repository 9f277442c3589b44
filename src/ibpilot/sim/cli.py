"""`ibpilot sim ...`: the simulated Gateway / TWS."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ibpilot.cli import add_command
from ibpilot.gateway.install import MAIN_CLASS
from ibpilot.sim import install as sim_install

HELP = """\
The simulated IB Gateway / TWS is a real Java Swing program plus a TWS API server, started exactly like
the real product, so a whole deployment can be tried (and tested) without an IBKR account.

  ibpilot sim install ~/Jts                     # writes ~/Jts/ibgateway/1037/... like IB's installer
  ibpilot sim install ~/Jts --product tws       # writes ~/Jts/1037/... (TWS)

Then point ibpilot (TWS_PATH=~/Jts) or IBC at it. What the simulator does (credentials accepted,
second factor, dialogs, crashes...) is decided by a scenario file: see sim/README.md.
"""


def _version(text: str) -> str:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a major version like 1037 (digits only, as IB's dirs)")
    return text


def _cmd_install(args: argparse.Namespace) -> int:
    try:
        prog = sim_install.install(Path(args.dir).expanduser(), args.product, args.version)
    except (OSError, RuntimeError) as exc:
        print(f"ibpilot sim install: {exc}", file=sys.stderr)
        return 1
    print(f"simulated {args.product} {args.version} installed in {prog}")
    print(f"main class: {MAIN_CLASS[args.product]}")
    return 0


def register(sub: Any) -> None:
    p = add_command(sub, "sim", "the simulated IB Gateway / TWS (install it, try it)", HELP)
    ssub = p.add_subparsers(dest="sim_command", metavar="SIM_COMMAND")
    i = ssub.add_parser(
        "install",
        help="write an install tree shaped like the real one",
        description="Write DIR/ibgateway/<ver>/ (Gateway) or DIR/<ver>/ (TWS): jars, .vmoptions, "
        ".install4j/inst_jre.cfg and a launcher, running the simulator.",
    )
    i.add_argument("dir", help="the Jts directory (TWS_PATH), e.g. ~/Jts")
    i.add_argument("--product", choices=["gateway", "tws"], default="gateway")
    i.add_argument("--version", type=_version, default=sim_install.DEFAULT_VERSION,
                   help="major version dir (default %(default)s)")
    i.set_defaults(func=_cmd_install)

    def usage(_args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=usage)
