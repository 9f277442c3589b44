"""A log-line rate limiter: what a hostile client repeats is logged once a minute, with a count."""

from __future__ import annotations

import time


class Throttle:
    """At most one log line per key per `every_s` seconds, counting what it held back."""

    def __init__(self, every_s: float = 60.0, max_keys: int = 256) -> None:
        self.every_s, self.max_keys = every_s, max_keys
        self._seen: dict[str, tuple[float, int]] = {}

    def check(self, key: str) -> int | None:
        """None: stay quiet. Else the number of events held back since the last line for `key`."""
        now = time.monotonic()
        last = self._seen.get(key)
        if last is not None and now - last[0] < self.every_s:
            self._seen[key] = (last[0], last[1] + 1)
            return None
        if len(self._seen) >= self.max_keys:
            self._seen.clear()
        self._seen[key] = (now, 0)
        return last[1] if last is not None else 0
