"""A short run of every atheris harness in fuzz/ (the long one is `make fuzz`): each starts from the
corpus kept in the repository and must finish its few seconds without a finding."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ["settings", "conf", "agent", "commands", "scenario"]


@pytest.mark.parametrize("target", TARGETS)
def test_short_fuzz_run_finds_nothing(target: str, tmp_path: Path) -> None:
    corpus = ROOT / "fuzz" / "corpus" / target
    assert any(corpus.iterdir()), f"no seed corpus for {target}"
    # new inputs go to tmp_path (libFuzzer writes to the first directory), the repository's corpus stays as is
    r = subprocess.run(
        [sys.executable, str(ROOT / "fuzz" / f"fuzz_{target}.py"), "-max_total_time=3", "-timeout=20",
         "-rss_limit_mb=4096", str(tmp_path), str(corpus)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, f"fuzz_{target} found something:\n{r.stderr[-4000:]}"
    assert "Done " in r.stderr, r.stderr[-2000:]
