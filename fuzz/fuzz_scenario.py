"""Fuzz the simulator's scenario loader (Java) through one long-lived ScenarioCheck JVM. Coverage
guidance sees only the Python side here, so this is mostly a random (corpus-mutation) fuzzer."""

import atexit

from _harness import run, text
from oracles import ScenarioChecker, check_scenario, sim_jar

_checker = ScenarioChecker(sim_jar())
atexit.register(_checker.close)


def one_input(data: bytes) -> None:
    check_scenario(_checker, text(data))


if __name__ == "__main__":
    run(one_input)
