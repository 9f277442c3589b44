"""The agent protocol decoder on hostile lines: the bridge (on a real socket pair) neither dies, nor hangs,
nor raises anything but its documented errors; the decoders raise only what the bridge catches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from oracles import check_answer_error, check_bridge, check_decoders, check_hello

SNAPSHOTS = Path(__file__).resolve().parents[1] / "unit" / "snapshots"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["event", "window", "handle", "root", "children", "bounds", "kind", "path", "class",
                         "tree", "menus", "items", "text", "id", "ok", "result", "error"]) | st.text(max_size=4),
        inner, max_size=4),
    max_leaves=15,
)
events = st.fixed_dictionaries({"event": st.sampled_from(["window_opened", "window_changed", "window_closed", "x"])},
                               optional={"window": json_values, "handle": json_values, "title": json_values})
answers = st.fixed_dictionaries({"ok": json_values}, optional={"id": json_values, "result": json_values,
                                                              "error": json_values})
lines = st.one_of(
    events.map(json.dumps), answers.map(json.dumps), json_values.map(json.dumps),
    st.text(max_size=40), st.just("[" * 5000), st.just('{"event":"window_opened","window":' + "[" * 3000),
).map(lambda t: t.replace("\n", " ").encode())


@given(st.lists(lines, max_size=6), st.lists(lines, max_size=2))
def test_hostile_lines_never_break_the_bridge(ls: list[bytes], ans: list[bytes]) -> None:
    check_bridge(ls, ans)


@given(json_values)
def test_decoders_raise_only_what_the_bridge_catches(obj: Any) -> None:
    check_decoders(obj)


@given(st.binary(max_size=60) | lines)
def test_hello_is_checked_or_refused(line: bytes) -> None:
    check_hello(line)


@given(st.text(max_size=30))
def test_agent_error_text_always_parses(text: str) -> None:
    check_answer_error(text)


def test_recorded_windows_mutated_stay_decodable() -> None:
    """Every recorded snapshot, with each value in turn replaced by a wrong type, decodes or is refused."""
    docs = [json.loads(p.read_text()) for p in sorted(SNAPSHOTS.rglob("*.json"))]
    assert docs
    for doc in docs[:20]:
        check_decoders(doc)
        for key in list(doc)[:10]:
            for bad in (None, 1, "x", [], {}, [[1]]):
                check_decoders({**doc, key: bad})


def test_found_lines() -> None:
    """Lines that used to close the bridge (found by the property above)."""
    check_bridge([b'{"event":"window_opened","window":[]}', b'{"id":[1],"ok":true}', b"[" * 100_000])
