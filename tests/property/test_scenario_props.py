"""The simulator's scenario loader (sim/src/ibpilot/sim/Scenario.java) on hostile scenario files.

One JVM (`ibpilot.sim.ScenarioCheck`) validates every example: a scenario is accepted or refused with
`bad <message>` (the launcher's exit 2), never a crash (a stack trace instead of the documented error).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracles import ScenarioChecker, check_scenario, sim_jar

KEYS = [
    "user", "password", "second_factor", "totp_secret", "push_approve_after_s", "devices", "paper_warning",
    "paper_warning_api", "existing_session", "self_login", "trading_mode", "api_port", "accounts",
    "step_delay_ms", "connect_delay_s", "lockout_attempts", "lockout_hang_s", "relogin_after_s",
    "kick_out_after_s", "auto_restart_in_s", "lock_and_exit", "lock_exit_time", "crash_at", "hang_at",
    "tip_of_the_day", "password_notice_days", "unknown_popup", "gateway_dialog", "connection_failed",
    "second_factor_timeout_s", "read_only_api", "trusted_ips", "localhost_only", "accept_incoming_buttons",
    "accept_incoming_title", "login_frame_delay_s", "tick_interval_ms", "comment",
]  # fmt: skip
WORDS = ["live", "paper", "totp", "push", "none", "restart", "logoff", "exit", "halt", "edt", "api", "silent",
         "closed", "logged_in", "login_frame", "JBSWY3DPEHPK3PXP", "11:45 PM", ""]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
    st.sampled_from(WORDS), st.text(max_size=12),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["state", "mode", "kind", "after_s",
                                                                                  "code", "live", "paper", "text",
                                                                                  "buttons", "x"]), inner, max_size=4),
    max_leaves=12,
)
scenarios = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), json_values, max_size=8)


def _mutate(text: str, cut: int, insert: str) -> str:
    cut = cut % (len(text) + 1)
    return text[:cut] + insert + text[cut:]


@pytest.fixture(scope="module")
def checker() -> Iterator[ScenarioChecker]:
    c = ScenarioChecker(sim_jar())
    try:
        yield c
    finally:
        c.close()


@given(scenarios)
def test_any_scenario_object_is_accepted_or_refused(checker: ScenarioChecker, doc: dict[str, Any]) -> None:
    check_scenario(checker, json.dumps(doc))


@given(scenarios, st.integers(0, 10_000), st.text(max_size=6))
def test_mangled_scenario_text_is_refused_cleanly(checker: ScenarioChecker, doc: dict[str, Any], cut: int,
                                                 insert: str) -> None:
    check_scenario(checker, _mutate(json.dumps(doc), cut, insert))


@given(st.text(max_size=200))
def test_arbitrary_text_as_a_scenario(checker: ScenarioChecker, text: str) -> None:
    check_scenario(checker, text)


@pytest.mark.parametrize("text", [
    "[" * 100_000,  # found by this suite: StackOverflowError escaped Scenario.load (stack trace, exit 1)
    '{"a":' * 50_000,
    '{"comment":' + "[" * 5000 + "]" * 5000 + "}",
])  # fmt: skip
def test_deep_nesting_is_a_bad_scenario_not_a_stack_overflow(checker: ScenarioChecker, text: str) -> None:
    verdict = check_scenario(checker, text)
    assert verdict.startswith("bad ") and "nested deeper than" in verdict


def test_the_checker_tells_good_from_bad(checker: ScenarioChecker) -> None:
    assert checker.verdict('{"trading_mode": "live", "second_factor": "push"}') == "ok"
    assert checker.verdict('{"trading_mode": "demo"}') == "bad trading_mode must be live or paper"
    assert checker.verdict('{"crash_at": {"state": 1}}') == "bad crash_at.state must be a string"
