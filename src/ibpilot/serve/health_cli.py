"""`ibpilot health`: ask the controller's health server whether this trading mode is healthy.

Kept light (no server, no Prometheus import): it runs every few seconds as a Docker HEALTHCHECK or a
Kubernetes exec probe.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ibpilot.cli import add_command
from ibpilot.settings import Settings

EXIT_HEALTHY, EXIT_UNHEALTHY, EXIT_CONFIG = 0, 1, 2

HELP = """\
GET /health from the controller's health server and print one line per trading mode: the state and
the reason. Healthy means the controller is READY and its last TWS API probe (a real handshake and a
current-time round trip) succeeded recently; anything else is unhealthy, with the reason.

The address comes from the configuration (HEALTH_PORT, HEALTH_BIND; with TRADING_MODE=both the paper
side listens on HEALTH_PORT + 1). A server bound to 0.0.0.0 or :: is asked on 127.0.0.1 or ::1.
Without --mode, the controller's own mode is checked (IBPILOT_INSTANCE, or TRADING_MODE); with
TRADING_MODE=both, both modes are checked and both must be healthy.

exit codes:
  0  healthy
  1  unhealthy, or the health server did not answer
  2  bad configuration (every problem is printed), or HEALTH_PORT=0 (the server is off)

examples:
  ibpilot health
  ibpilot health --mode paper
  ibpilot health --url http://127.0.0.1:8080
  Dockerfile:  HEALTHCHECK --interval=30s --timeout=5s --start-period=120s CMD ["ibpilot", "health"]
  Kubernetes:  livenessProbe: {exec: {command: [ibpilot, health]}, periodSeconds: 30, timeoutSeconds: 5}
               (or an httpGet probe on /ready)
"""


def register(subparsers: Any) -> None:
    p = add_command(subparsers, "health", "exit 0 when the Gateway is READY and its API answers (for HEALTHCHECK)",
                    HELP, cmd_health)
    p.add_argument("--mode", choices=["live", "paper"], help="which trading mode to check (default: see above)")
    p.add_argument("--url", metavar="URL",
                   help="the health server's base URL (e.g. http://127.0.0.1:8080) instead of the configuration")
    p.add_argument("--timeout", type=float, default=5.0, metavar="S", help="seconds to wait for an answer (5)")


def local_host(bind: str) -> str:
    """The address to ask a server bound to `bind` on: the wildcard addresses mean loopback."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(bind, bind)


def base_url(host: str, port: int) -> str:
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def targets(args: argparse.Namespace) -> list[tuple[str, str]]:
    """[(label, /health URL)]; raises ValueError (bad configuration) with every problem in its text."""
    if args.url:
        parts = urllib.parse.urlsplit(args.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"--url {args.url!r}: expected http://HOST:PORT")
        path = parts.path.rstrip("/")
        if not path.endswith("/health"):
            path += "/health"
        return [(args.mode or parts.netloc, urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", "")))]
    settings = Settings.load()
    if args.mode:
        if args.mode not in settings.modes():
            raise ValueError(f"--mode {args.mode}: TRADING_MODE={settings.trading_mode} runs no {args.mode} side")
        modes = [args.mode]
    elif settings.ibpilot_instance is not None:
        modes = [settings.ibpilot_instance]
    else:
        modes = list(settings.modes())
    host = local_host(settings.health_bind)
    out: list[tuple[str, str]] = []
    for mode in modes:
        port = settings.health_port_for(mode)
        if not port:
            raise ValueError("HEALTH_PORT=0: the health server is off")
        out.append((mode, base_url(host, port) + "/health"))
    return out


def check(url: str, timeout: float) -> tuple[bool, str]:
    """(healthy, one line) for one /health URL; never raises."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    try:
        with opener.open(url, timeout=timeout) as resp:
            code, raw = resp.status, resp.read(256 * 1024)
    except urllib.error.HTTPError as exc:
        code, raw = exc.code, exc.read(256 * 1024)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"no answer from {url}: {reason}"
    try:
        doc = json.loads(raw)
    except ValueError:
        return False, f"HTTP {code} from {url}, not a health document"
    if not isinstance(doc, dict):
        return False, f"HTTP {code} from {url}, not a health document"
    healthy = code == 200 and doc.get("healthy") is True
    return healthy, f"{doc.get('state', '?')}: {doc.get('reason', f'HTTP {code}')}"


def cmd_health(args: argparse.Namespace) -> int:
    try:
        found = targets(args)
    except ValueError as exc:  # SettingsError too: it lists every problem
        print(f"ibpilot health: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    code = EXIT_HEALTHY
    for label, url in found:
        healthy, line = check(url, args.timeout)
        print(f"{label}: {'healthy' if healthy else 'UNHEALTHY'} {line}")
        if not healthy:
            code = EXIT_UNHEALTHY
    return code
