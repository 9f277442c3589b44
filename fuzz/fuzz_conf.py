"""Fuzz the supervisord.conf renderer: a .env file (RUN_DIR relative to a scratch HOME) -> from_env ->
plan -> render_conf -> supervisord's own reader must give back exactly the plan."""

from _harness import run, text
from oracles import check_conf_env

from ibpilot.settings import parse_env_file


def one_input(data: bytes) -> None:
    env = parse_env_file(text(data))
    env.setdefault("RUN_DIR", "run")
    check_conf_env(env)


if __name__ == "__main__":
    run(one_input)
