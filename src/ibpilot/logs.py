"""Logging set-up: one line per record, UTC timestamps, and a filter that masks registered secrets."""

from __future__ import annotations

import logging
import sys
import time

_SECRETS: set[str] = set()


def register_secret(value: str) -> None:
    """Mask `value` in every log line from now on (defence in depth: code never logs secrets on purpose)."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


class _Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            msg = record.getMessage()
            if any(s in msg for s in _SECRETS):
                for s in _SECRETS:
                    msg = msg.replace(s, "***")
                record.msg, record.args = msg, None
        return True


def setup_logging(level: str = "info", prefix: str = "") -> None:
    fmt = logging.Formatter(f"%(asctime)s.%(msecs)03dZ %(levelname)s {prefix}%(name)s: %(message)s",
                            "%Y-%m-%dT%H:%M:%S")
    fmt.converter = time.gmtime
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(fmt)
    handler.addFilter(_Redact())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
