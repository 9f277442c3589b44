"""Hypothesis profiles for the property suite (issue 11, "Hostile input").

- `ci` (chosen when CI is set): a bounded number of examples, no deadline (the machine is shared), so the
  whole directory stays well under a minute.
- `dev` (default elsewhere): a few more examples.
- `fuzz`: many examples, for a long local run (`HYPOTHESIS_PROFILE=fuzz pytest tests/property`).
`HYPOTHESIS_PROFILE` overrides the choice.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# The oracles are shared with the atheris harnesses in fuzz/ (which import them from here).
sys.path.insert(0, str(Path(__file__).resolve().parent))

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much]}
settings.register_profile("ci", max_examples=60, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("dev", max_examples=150, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("fuzz", max_examples=5000, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
