"""jts.ini edits: the keys IBC ensures (gateway-ui.md §1.4), the server names and TrustedIPs.

Pure text transformation (`apply`) plus a small file wrapper (`ensure`), so that a user's own keys and
comments survive untouched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

# [section] -> key -> value, in the order IBC writes them when it creates the file.
BASE_KEYS: dict[str, dict[str, str]] = {
    "Logon": {"s3store": "true", "Locale": "en", "displayedproxymsg": "1", "UseSSL": "true"},
    "IBGateway": {"ApiOnly": "true"},
}
KEEP_EXISTING = {("Logon", "s3store")}  # IBC keeps a user's existing value for these

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


def valid_host(name: str) -> bool:
    return bool(_HOST_RE.match(name))


def wanted_keys(
    *, product: str, server: str | None = None, trusted_ips: Sequence[str] = (), time_zone: str | None = None
) -> dict[str, dict[str, str]]:
    keys = {s: dict(kv) for s, kv in BASE_KEYS.items()}
    if server:
        if not valid_host(server):
            raise ValueError(f"not a host name: {server!r}")
        # As ibg-controller does: pin the login server, with its SSL port cached (prior-art/controllers.md A).
        keys["Logon"]["Peer"] = f"{server}:4001"
    if time_zone:
        keys["Logon"]["TimeZone"] = time_zone
    if product == "gateway":
        keys["IBGateway"]["TrustedIPs"] = ",".join(["127.0.0.1", *[ip for ip in trusted_ips if ip != "127.0.0.1"]])
    return keys


def apply(text: str, keys: Mapping[str, Mapping[str, str]]) -> str:
    """Set every key in its section (inserting sections and keys as needed), keeping all else."""
    lines = text.splitlines()
    pending = {s: dict(kv) for s, kv in keys.items()}
    out: list[str] = []
    section: str | None = None

    def flush(sec: str | None) -> None:
        if sec is not None and sec in pending:
            out.extend(f"{k}={v}" for k, v in pending.pop(sec).items())

    for line in lines:
        m = re.match(r"^\s*\[([^\]]+)\]\s*$", line)
        if m:
            # insert what is still missing at the end of the previous section (before trailing blanks)
            trailing: list[str] = []
            while out and not out[-1].strip():
                trailing.append(out.pop())
            flush(section)
            out.extend(trailing)
            section = m.group(1)
            out.append(line)
            continue
        if section in pending and "=" in line and not line.lstrip().startswith(("#", ";")):
            key = line.split("=", 1)[0].strip()
            if key in pending[section]:
                value = pending[section].pop(key)
                out.append(line if (section, key) in KEEP_EXISTING else f"{key}={value}")
                continue
        out.append(line)
    flush(section)
    for sec, kv in pending.items():
        if kv:
            out.append(f"[{sec}]")
            out.extend(f"{k}={v}" for k, v in kv.items())
    return "\n".join(out) + "\n"


def ensure(path: Path, keys: Mapping[str, Mapping[str, str]]) -> bool:
    """Write the keys into `path` (created when missing). Returns True if the file changed."""
    if path.is_dir():
        raise IsADirectoryError(f"jts.ini path is a directory: {path}")
    old = path.read_text(errors="replace") if path.exists() else ""
    new = apply(old, keys)
    if new != old:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".ini.tmp")
        tmp.write_text(new)
        tmp.replace(path)
        return True
    return False
