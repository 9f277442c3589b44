from ibpilot.controller.machine import TABLE, Event, State, format_transition, next_state


def test_happy_path_live_with_second_factor() -> None:
    path = [
        Event.JVM_STARTED,
        Event.LOGIN_FRAME,
        Event.LOGIN_SUBMITTED,
        Event.SECOND_FACTOR,
        Event.SECOND_FACTOR_DONE,
        Event.LOGIN_COMPLETE,
        Event.CONFIGURED,
        Event.API_READY,
    ]
    state = State.STARTING
    seen = []
    for ev in path:
        new = next_state(state, ev)
        assert new is not None, f"{ev} not accepted in {state}"
        state = new
        seen.append(state)
    assert seen[-1] is State.READY
    assert State.SECOND_FACTOR in seen


def test_unexpected_event_is_refused() -> None:
    assert next_state(State.STARTING, Event.CONFIGURED) is None
    assert next_state(State.READY, Event.SECOND_FACTOR_DONE) is None


def test_crash_from_anywhere_goes_to_recovering_but_not_when_stopping() -> None:
    for state in State:
        new = next_state(state, Event.JVM_EXITED)
        if state is State.STOPPING:
            assert new is State.STOPPED
        elif state is State.STOPPED:
            assert new is None
        else:
            assert new is State.RECOVERING, state


def test_stop_is_final() -> None:
    assert next_state(State.READY, Event.STOP) is State.STOPPING
    assert next_state(State.STOPPING, Event.RESTART) is None
    assert next_state(State.STOPPED, Event.JVM_STARTED) is None


def test_relogin_cycle_returns_to_ready() -> None:
    s = next_state(State.READY, Event.RELOGIN_REQUIRED)
    assert s is State.RELOGIN
    s = next_state(s, Event.LOGIN_SUBMITTED)
    assert s is State.AUTHENTICATING
    s = next_state(s, Event.LOGIN_COMPLETE)
    assert s is State.CONFIGURING


def test_every_state_is_reachable_from_starting() -> None:
    reachable = {State.STARTING}
    frontier = [State.STARTING]
    while frontier:
        st = frontier.pop()
        for ev in Event:
            new = next_state(st, ev)
            if new is not None and new not in reachable:
                reachable.add(new)
                frontier.append(new)
    assert reachable == set(State)
    assert all(isinstance(k[0], State) for k in TABLE)


def test_transition_format_is_stable() -> None:
    line = format_transition(State.LOGIN, State.AUTHENTICATING, Event.LOGIN_SUBMITTED, "paper")
    assert line == "STATE LOGIN -> AUTHENTICATING on login_submitted mode=paper"
