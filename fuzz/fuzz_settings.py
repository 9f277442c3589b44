"""Fuzz settings parsing: the input is a Docker-style .env file (NAME=value lines) given to from_env."""

from _harness import run, text
from oracles import check_env

from ibpilot.settings import parse_env_file


def one_input(data: bytes) -> None:
    check_env(parse_env_file(text(data)))


if __name__ == "__main__":
    run(one_input)
