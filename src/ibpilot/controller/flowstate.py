"""What the flows remember during one JVM session, one small typed record per flow.

`Instance` holds a `SessionFlows` and replaces it with a fresh one at every JVM launch (`Instance.session`),
so nothing of a dead JVM's login can leak into the next one. A misspelt field fails in mypy, not silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LoginFlow:
    frame: str | None = None  # handle of the login frame
    busy: bool = False  # a submit is in progress (events can re-enter)
    submitted_at: float | None = None  # monotonic time of the last Log In click
    retry_at: float | None = None  # a refused login's retry is due then (the frame's flow must wait)
    fix_port_alerted: bool = False  # FIX: the FIX port was found held by another process (alerted once)


@dataclass
class SecondFactorFlow:
    started: float | None = None  # first second-factor dialog of this login
    pending: bool = False  # waiting for a phone approval
    device_chosen: str | None = None  # handle of the device chooser already answered
    no_secret_alerted: bool = False
    busy: bool = False  # a TOTP code is being typed
    last_code: str | None = None  # the last code sent (never sent twice)
    read_only: str | None = None  # handle of the window answered with "Enter Read Only" (READ_ONLY_LOGIN)
    read_only_alerted: bool = False


@dataclass
class ExistingSessionFlow:
    seen: int = 0  # times the dialog was shown in this session
    times: list[float] = field(default_factory=list)  # monotonic times in the last 10 minutes (bounded)


@dataclass
class SessionFlows:
    login: LoginFlow = field(default_factory=LoginFlow)
    tfa: SecondFactorFlow = field(default_factory=SecondFactorFlow)
    existing: ExistingSessionFlow = field(default_factory=ExistingSessionFlow)
    configured: bool = False  # API settings applied and read back
    main_window: str | None = None  # handle of Gateway's / TWS's main window
    restarting: bool = False  # Gateway announced its auto-restart ("Restart in progress"): it will exit
