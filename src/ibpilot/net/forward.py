"""socat command lines that expose the API port (bridge networking).

Inside a container the Gateway accepts API clients on 127.0.0.1 only (TrustedIPs); socat listens on a
published port and forwards each connection to the API port. `reuseaddr` lets it rebind at once after a
restart (gnzsnz#173); `keepalive` lets dead client connections go away (gnzsnz#336).
"""

from __future__ import annotations

import ipaddress


def _check_port(what: str, port: int) -> None:
    if not 1 <= port <= 65535:
        raise ValueError(f"{what} {port} is not a TCP port (1-65535)")


def socat_argv(listen_port: int, target_port: int, bind: str = "0.0.0.0", target_host: str = "127.0.0.1") -> list[str]:
    """`socat TCP-LISTEN:<listen>,fork,reuseaddr,bind=<bind> TCP:<target_host>:<target>`."""
    _check_port("listen port", listen_port)
    _check_port("target port", target_port)
    addr = ipaddress.ip_address(bind)  # ValueError for anything but an IP address
    # nodelay on both legs: the TWS API is small request/response messages, and Nagle's algorithm against
    # the peer's delayed ACK stalls each exchange by ~40 ms (bench/api_throughput.py measures it).
    if addr.version == 6:
        listen = f"TCP6-LISTEN:{listen_port},fork,reuseaddr,keepalive,nodelay,bind=[{addr}]"
    else:
        listen = f"TCP-LISTEN:{listen_port},fork,reuseaddr,keepalive,nodelay,bind={addr}"
    target_ip = ipaddress.ip_address(target_host)
    target = (f"TCP6:[{target_ip}]:{target_port},nodelay" if target_ip.version == 6
              else f"TCP:{target_ip}:{target_port},nodelay")
    return ["socat", listen, target]
