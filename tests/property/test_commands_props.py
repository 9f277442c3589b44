"""The command server's line reader (IBC's line splitting) on any byte stream, however it is chunked."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from oracles import check_command_lines

pieces = st.sampled_from([b"\n", b"\r", b"\r\n", b"\n\r", b"STOP", b"status", b"AUTH x", b" ", b"\xff\xfe", b"\x00"])
chunks = st.lists(st.lists(pieces | st.binary(max_size=8), max_size=6).map(b"".join), max_size=8)


@given(chunks, st.sampled_from([4, 16, 1024]))
def test_lines_split_as_ibc_does_and_long_lines_close(cs: list[bytes], max_line: int) -> None:
    check_command_lines(cs, max_line)


def test_cr_then_lf_in_the_next_chunk_is_one_line_end() -> None:
    check_command_lines([b"STOP\r", b"\nEXIT"])
    check_command_lines([b"a" * 5000], max_line=1024)
