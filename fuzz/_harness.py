"""Shared driver of the fuzz harnesses: `python fuzz/fuzz_<target>.py [libFuzzer args] [corpus dirs]`.

Each harness defines `one_input(data: bytes)`, which decodes the bytes into an input and runs the oracle
from tests/property/oracles.py on it (an AssertionError or unexpected exception is a finding). Driven by
atheris (coverage-guided) when it is installed; `--hypothesis N` drives the same function with N inputs
from hypothesis instead (`fuzz_one_input`), where atheris does not install.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "property"))


def run(one_input: Callable[[bytes], None]) -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "--hypothesis":
        from hypothesis import given, settings
        from hypothesis import strategies as st

        @settings(max_examples=int(sys.argv[2]), deadline=None, database=None)
        @given(st.binary(max_size=4096))
        def drive(data: bytes) -> None:
            one_input(data)

        drive.hypothesis.fuzz_one_input  # noqa: B018 - exists on every @given test (hypothesis' fuzzer entry)
        drive()
        return
    import atheris

    with atheris.instrument_imports():
        import ibpilot.agent.bridge
        import ibpilot.agent.model
        import ibpilot.serve.commands
        import ibpilot.settings
        import ibpilot.stack.conf  # noqa: F401
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


def text(data: bytes) -> str:
    return data.decode("utf-8", "replace")
