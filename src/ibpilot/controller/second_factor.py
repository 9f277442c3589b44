"""Second-factor authentication: device choice, TOTP codes, phone approval (gateway-ui.md §2.6, §5.1)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import time

# A code that expires within this many seconds is not typed: Gateway may check it after it expired.
FRESH_MARGIN_S = 4.0
STEP_S = 30


def _key(secret: str) -> bytes:
    s = secret.strip().replace(" ", "").upper()
    return base64.b32decode(s + "=" * (-len(s) % 8))


def totp_at(secret: str, when: float, digits: int = 6) -> str:
    """RFC 6238 TOTP (HMAC-SHA1, 30 s steps) — what IB's authenticator apps use.

    Written here rather than taken from pyotp, which refuses the 80-bit secrets some accounts have.
    """
    counter = struct.pack(">Q", int(when // STEP_S))
    mac = hmac.new(_key(secret), counter, hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def totp_code(secret: str, now: float | None = None) -> tuple[str, float]:
    """(code, seconds to wait first): waits for the next step when the current one is about to expire."""
    now = time.time() if now is None else now
    remaining = STEP_S - (now % STEP_S)
    wait = remaining + 0.05 if remaining < FRESH_MARGIN_S else 0.0
    return totp_at(secret, now + wait), wait


def valid_base32(secret: str) -> bool:
    try:
        return bool(secret.strip()) and len(_key(secret)) >= 5
    except (binascii.Error, ValueError):
        return False


def choose_device(items: list[str], wanted: str, has_totp: bool) -> int | None:
    """Index of the device to pick in the chooser's JList (entries carry leading spaces)."""
    trimmed = [i.strip() for i in items]
    if wanted:
        for n, t in enumerate(trimmed):
            if t.lower() == wanted.strip().lower():
                return n
        return None
    if has_totp:
        for n, t in enumerate(trimmed):
            if any(k in t.lower() for k in ("authenticator", "passcode", "one time")):
                return n
    for n, t in enumerate(trimmed):
        if "ib key" in t.lower():
            return n
    return 0 if len(items) == 1 else None
