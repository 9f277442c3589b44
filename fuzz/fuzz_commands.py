"""Fuzz the command server's line reader: the input is the client's byte stream, cut into chunks at
every 0x01 byte (so the fuzzer also explores how the stream is split)."""

from _harness import run
from oracles import check_command_lines


def one_input(data: bytes) -> None:
    check_command_lines(data.split(b"\x01")[:50], max_line=64)


if __name__ == "__main__":
    run(one_input)
