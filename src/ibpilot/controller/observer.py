"""What the controller tells the operations surface (metrics, alert delivery) as things happen.

`Instance` calls an `Observer`; `controller.ops.Operations` is the real one, `NullObserver` the default
(tests, or no operations surface configured). Kept to one-way calls: an observer never changes the state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ibpilot.controller.watchdog import ProbeResult


class Observer(Protocol):
    def state(self, name: str) -> None: ...

    def alert(self, alert: str, msg: str, fields: Mapping[str, object]) -> None: ...

    def probe(self, res: ProbeResult) -> None: ...

    def login(self) -> None: ...

    def second_factor(self, kind: str) -> None:
        """A second factor was answered: "totp" or "push"."""
        ...

    def restart(self, cause: str) -> None: ...


class NullObserver:
    def state(self, name: str) -> None:
        pass

    def alert(self, alert: str, msg: str, fields: Mapping[str, object]) -> None:
        pass

    def probe(self, res: ProbeResult) -> None:
        pass

    def login(self) -> None:
        pass

    def second_factor(self, kind: str) -> None:
        pass

    def restart(self, cause: str) -> None:
        pass
