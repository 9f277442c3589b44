"""The chaos suite: each fault of faults.FAULTS on a fresh whole stack (`ibpilot run`, IBPILOT_SIM=yes).

Rows marked `chaos_slow` (the clock jump under libfaketime) run in `make chaos`; `make test` deselects them;
the soak (random faults for a set time) is `scripts/chaos.py soak`, also run by `make chaos`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chaoslib import Fault, StackFactory, run_fault
from faults import FAULTS

pytestmark = [pytest.mark.system, pytest.mark.timeout(420)]


@pytest.fixture
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackFactory]:
    factory = StackFactory(tmp_path_factory)
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.mark.parametrize(
    "fault",
    [pytest.param(f, id=f.name, marks=[pytest.mark.chaos_slow] if f.slow else []) for f in FAULTS],
)
def test_fault(fault: Fault, stacks: StackFactory) -> None:
    result = run_fault(fault, stacks)
    assert result["nothing_lost"] and result["recover_s"] is not None, result
