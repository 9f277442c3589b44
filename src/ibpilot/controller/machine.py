"""The controller's state machine, as pure data: states, events and the transition table.

The driver (`controller.instance`) feeds events in; every accepted transition is logged in one stable
format by the caller: ``STATE <from> -> <to> on <event> mode=<mode>``. An event that is not expected in
a state leaves the state unchanged (the driver logs it at debug level).
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    STARTING = "STARTING"  # JVM launching, agent connecting
    LOGIN = "LOGIN"  # login frame on screen, credentials being entered
    AUTHENTICATING = "AUTHENTICATING"  # Log In clicked; connecting/authenticating frames
    SECOND_FACTOR = "SECOND_FACTOR"  # second-factor dialog on screen
    CONFIGURING = "CONFIGURING"  # login complete; applying API settings through the config dialog
    WAITING_API = "WAITING_API"  # settings applied; waiting for the API to answer a real handshake
    READY = "READY"  # the TWS API answers
    RELOGIN = "RELOGIN"  # Gateway asked to re-login / session lost; logging in again in place
    RECOVERING = "RECOVERING"  # JVM exited or hung; waiting to relaunch
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"


class Event(StrEnum):
    JVM_STARTED = "jvm_started"
    LOGIN_FRAME = "login_frame"
    LOGIN_SUBMITTED = "login_submitted"
    SECOND_FACTOR = "second_factor"
    SECOND_FACTOR_DONE = "second_factor_done"
    LOGIN_FAILED = "login_failed"
    LOGIN_COMPLETE = "login_complete"
    CONFIGURED = "configured"
    API_READY = "api_ready"
    API_LOST = "api_lost"
    RELOGIN_REQUIRED = "relogin_required"
    JVM_EXITED = "jvm_exited"
    HANG = "hang"
    RESTART = "restart"
    STOP = "stop"
    STOPPED = "stopped"


S, E = State, Event

# (state, event) -> next state. Events allowed "from anywhere" are listed in ANY.
TABLE: dict[tuple[State, Event], State] = {
    (S.STARTING, E.JVM_STARTED): S.STARTING,
    (S.STARTING, E.LOGIN_FRAME): S.LOGIN,
    (S.STARTING, E.LOGIN_COMPLETE): S.CONFIGURING,  # auto-restart: Gateway logs itself in
    (S.STARTING, E.LOGIN_SUBMITTED): S.AUTHENTICATING,
    (S.LOGIN, E.LOGIN_SUBMITTED): S.AUTHENTICATING,
    (S.LOGIN, E.LOGIN_COMPLETE): S.CONFIGURING,
    (S.AUTHENTICATING, E.SECOND_FACTOR): S.SECOND_FACTOR,
    (S.AUTHENTICATING, E.LOGIN_FAILED): S.LOGIN,
    (S.AUTHENTICATING, E.LOGIN_COMPLETE): S.CONFIGURING,
    (S.AUTHENTICATING, E.LOGIN_FRAME): S.LOGIN,
    (S.SECOND_FACTOR, E.SECOND_FACTOR_DONE): S.AUTHENTICATING,
    (S.SECOND_FACTOR, E.LOGIN_COMPLETE): S.CONFIGURING,
    (S.SECOND_FACTOR, E.LOGIN_FAILED): S.LOGIN,
    (S.CONFIGURING, E.CONFIGURED): S.WAITING_API,
    (S.CONFIGURING, E.API_READY): S.CONFIGURING,
    (S.WAITING_API, E.API_READY): S.READY,
    (S.READY, E.API_LOST): S.WAITING_API,
    (S.READY, E.RELOGIN_REQUIRED): S.RELOGIN,
    (S.WAITING_API, E.RELOGIN_REQUIRED): S.RELOGIN,
    (S.CONFIGURING, E.RELOGIN_REQUIRED): S.RELOGIN,
    (S.RELOGIN, E.LOGIN_SUBMITTED): S.AUTHENTICATING,
    (S.RELOGIN, E.SECOND_FACTOR): S.SECOND_FACTOR,
    (S.RELOGIN, E.LOGIN_COMPLETE): S.CONFIGURING,
    (S.RELOGIN, E.API_READY): S.READY,
    (S.RELOGIN, E.LOGIN_FRAME): S.LOGIN,
    (S.RECOVERING, E.JVM_STARTED): S.STARTING,
    (S.STOPPING, E.STOPPED): S.STOPPED,
    (S.STOPPING, E.JVM_EXITED): S.STOPPED,
}

ANY: dict[Event, State] = {
    E.JVM_EXITED: S.RECOVERING,
    E.HANG: S.RECOVERING,
    E.RESTART: S.RECOVERING,
    E.STOP: S.STOPPING,
}

FINAL = {S.STOPPED}
# While stopping, only the stop path moves the machine.
STICKY = {S.STOPPING, S.STOPPED}


def next_state(state: State, event: Event) -> State | None:
    """The state after `event`, or None when the event is not expected in `state`."""
    if state in FINAL:
        return None
    found = TABLE.get((state, event))
    if found is not None:
        return found
    if state in STICKY:
        return None
    return ANY.get(event)


def format_transition(old: State, new: State, event: Event, mode: str) -> str:
    return f"STATE {old.value} -> {new.value} on {event.value} mode={mode}"
