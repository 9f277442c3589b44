"""How one JVM session ends, and the controller's exit codes (documented in `ibpilot control --help`)."""

from __future__ import annotations

EXIT_STOPPED, EXIT_FATAL, EXIT_GAVE_UP, EXIT_TWOFA = 0, 1, 3, 4


class Outcome(Exception):
    """Ends the current JVM session: why, and what to do next."""

    def __init__(self, reason: str, restart: bool = True, code: int = EXIT_STOPPED) -> None:
        super().__init__(reason)
        self.reason, self.restart, self.code = reason, restart, code
