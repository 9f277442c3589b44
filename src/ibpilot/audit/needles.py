"""The secrets of a configuration as byte strings to search for, each named by its variable.

Forms searched (`Needle.form`):
- `plain`: the value itself; `json` / `url-quoted`: its JSON-escaped and percent-encoded spellings when
  they differ (a value in a JSON status document or a logged URL);
- `vnc-rfbauth`: VNC_SERVER_PASSWORD as the 8-byte DES block of a VNC password file (only RUN_DIR/vnc.passwd
  may hold it);
- `url-part`: for URL secrets (webhooks, ntfy): the userinfo password, every query value, and every path
  segment of 8+ characters that has a digit or is 20+ characters long (Slack/Discord tokens, ntfy topics):
  the URL without its scheme or host is still the secret;
- `token-part`: a Telegram bot token's part after the `:`.
Values shorter than MIN_LENGTH are not searched (they would match by chance); the audit notes them.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass

from ibpilot.settings import VARS, Secret, Settings
from ibpilot.stack.vncpasswd import vnc_rfbauth

MIN_LENGTH = 6


@dataclass(frozen=True)
class Needle:
    var: str  # the canonical variable name (what a finding names)
    form: str  # plain, json, url-quoted, vnc-rfbauth, url-part, token-part
    value: bytes

    def __repr__(self) -> str:  # never the value
        return f"Needle({self.var}, {self.form}, {len(self.value)} bytes)"

    @property
    def label(self) -> str:
        return self.var if self.form == "plain" else f"{self.var} ({self.form})"


def url_parts(url: str) -> list[str]:
    """The parts of a secret URL that are secret on their own (see the module doc)."""
    parts: list[str] = []
    u = urllib.parse.urlsplit(url)
    if u.password:
        parts.append(u.password)
    for _k, v in urllib.parse.parse_qsl(u.query, keep_blank_values=False):
        parts.append(v)
    for seg in u.path.split("/"):
        seg = urllib.parse.unquote(seg)
        if len(seg) >= 20 or (len(seg) >= 8 and re.search(r"\d", seg)):
            parts.append(seg)
    return parts


def forms(var: str, value: str) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = [("plain", value.encode())]
    js = json.dumps(value)[1:-1]
    if js != value:
        out.append(("json", js.encode()))
    quoted = urllib.parse.quote(value, safe="")
    if quoted != value:
        out.append(("url-quoted", quoted.encode()))
    if var == "VNC_SERVER_PASSWORD":
        out.append(("vnc-rfbauth", vnc_rfbauth(value)))
    if var in ("ALERT_WEBHOOK_URL", "DISCORD_WEBHOOK_URL", "NTFY_URL"):
        out += [("url-part", p.encode()) for p in url_parts(value)]
    if var == "TELEGRAM_BOT_TOKEN" and ":" in value:
        out.append(("token-part", value.split(":", 1)[1].encode()))
    return out


def needles_of(settings: Settings) -> tuple[list[Needle], list[str]]:
    """Every secret of `settings` in every form, and notes about the secrets too short to search."""
    needles: list[Needle] = []
    notes: list[str] = []
    for v in VARS:
        value = settings.value_of(v)
        if not v.secret or not isinstance(value, Secret) or not value:
            continue
        for form, data in forms(v.name, value.reveal()):
            if form != "vnc-rfbauth" and len(data) < MIN_LENGTH:
                notes.append(f"{v.name} ({form}) is shorter than {MIN_LENGTH} characters: not searched "
                             "(it would match by chance)")
                continue
            if all(n.value != data for n in needles):
                needles.append(Needle(v.name, form, data))
    return needles, notes


def find(needles: list[Needle], data: bytes) -> list[Needle]:
    """The needles found in `data` (one per variable: the plainest form found)."""
    seen: set[str] = set()
    out = []
    for n in needles:
        if n.var not in seen and n.value in data:
            seen.add(n.var)
            out.append(n)
    return out
