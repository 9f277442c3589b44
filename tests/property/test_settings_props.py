"""Settings parsing on hostile values: every kind's parser, and `Settings.from_env` on random environments."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracles import SECRET_FILE_NAMES, check_env, check_kind

from ibpilot.settings import VARS, all_env_names
from ibpilot.settings.kinds import Invalid, p_display_size, p_ip_list, p_list, p_time

NASTY = "\n\r\t ;#%'\"\\$`=,:/~[]{}@*?!\x00\x0b\x85\u2028é中🙂"
nasty_text = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(NASTY), max_size=40)
# values near what each kind accepts, so that the parsers' inner branches are reached
near_valid = st.sampled_from([
    "yes", "No", "1", "0", "65535", "65536", "-1", "1_000", "٣", "11:45 PM", "23:59", "24:00", "12:00 a.m.",
    "Sun 23:45", "Funday 1:00", "5m", "1.5h", "90 seconds", "1e9", "both", "paper", "ibgateway", "1.2.3.4",
    "::1", "10.0.0.0/8", "host.example", "-bad-.x", "a@b", "1280x1024x24", "99x99", "1024x768x7", "JBSWY3DP",
    "123456", "https://x", "ftp://x", "@chan", "-100123", '[{"title":"x","button":"OK"}]', '{"button":""}',
    '[{"title":"(","button":"OK"}]', '[1]', "'unbalanced", "-o 'a b'", "Every 5 mins", "1045", "10.45", "x" * 5000,
])  # fmt: skip
raw_values = nasty_text | near_valid | st.builds(lambda a, b: a + b, near_valid, nasty_text)


# one setting per distinct parser (many settings share a kind)
ONE_PER_KIND = sorted({id(v.kind.parse): v.name for v in VARS}.values())


@pytest.mark.parametrize("name", ONE_PER_KIND)
@given(raw=raw_values)
def test_every_kind_parses_or_says_invalid(name: str, raw: str) -> None:
    check_kind(name, raw)


names = st.sampled_from(sorted(all_env_names()))
secret_values = st.builds(lambda t: "zQ" + t, st.text(min_size=6, max_size=20))
envs = st.dictionaries(names, raw_values | secret_values, max_size=12)


@given(envs, st.dictionaries(st.sampled_from(["/run/s/a", "/run/s/b"]), raw_values | secret_values, max_size=2))
def test_from_env_accepts_or_lists_errors_and_never_shows_a_secret(env: dict[str, str], files: dict[str, str]) -> None:
    for n in SECRET_FILE_NAMES:
        if n in env and env[n].strip() not in files:
            env[n] = "/run/s/a"
    check_env(env, files)


@given(st.lists(st.sampled_from(["1.2.3.4", "::1", " 10.0.0.1 ", "fe80::1"]), max_size=4))
def test_ip_list_output_parses_to_itself(items: list[str]) -> None:
    once = p_ip_list(",".join(items))
    assert p_ip_list(",".join(once)) == once


@given(st.integers(100, 99999), st.integers(100, 99999), st.sampled_from(["", "x8", "x16", "x24", "x32"]))
def test_display_size_is_normalised_and_stable(w: int, h: int, depth: str) -> None:
    try:
        once = p_display_size(f"{w}x{h}{depth}")
    except Invalid:
        return
    assert p_display_size(once) == once and once.count("x") == 2


@given(st.integers(0, 23), st.integers(0, 59))
def test_24h_and_12h_times_agree(h: int, m: int) -> None:
    twelve = f"{(h % 12) or 12}:{m:02d} {'PM' if h >= 12 else 'AM'}"
    assert p_time(f"{h:02d}:{m:02d}") == p_time(twelve)


@given(st.lists(nasty_text, max_size=5))
def test_list_items_are_trimmed_and_non_empty(items: list[str]) -> None:
    out = p_list(",".join(items))
    assert all(x and x == x.strip() and "," not in x for x in out)
