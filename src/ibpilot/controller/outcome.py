"""How one JVM session ends, and the controller's exit codes (documented in `ibpilot control --help`)."""

from __future__ import annotations

import re

EXIT_STOPPED, EXIT_FATAL, EXIT_GAVE_UP, EXIT_TWOFA = 0, 1, 3, 4


class Outcome(Exception):
    """Ends the current JVM session: why, and what to do next."""

    def __init__(self, reason: str, restart: bool = True, code: int = EXIT_STOPPED) -> None:
        super().__init__(reason)
        self.reason, self.restart, self.code = reason, restart, code

    @property
    def cause(self) -> str:
        """A short, stable word for metrics (`restarts{cause=...}`): the reason without its details."""
        if self.reason.startswith("JVM exited"):
            return "jvm_exited"
        return re.sub(r"[^a-z0-9]+", "_", self.reason.split("(")[0].lower()).strip("_")[:40] or "other"
