"""Fuzz the agent protocol decoder: the input's lines are what the agent sends (the first half as
events/garbage, then one as the answer to a `windows` request)."""

from _harness import run
from oracles import check_bridge, check_hello


def one_input(data: bytes) -> None:
    lines = data.split(b"\n")[:20]
    check_hello(lines[0])
    check_bridge(lines[:-1], lines[-1:])


if __name__ == "__main__":
    run(one_input)
