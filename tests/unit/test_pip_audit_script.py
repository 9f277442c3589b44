"""scripts/pip-audit.sh decides from pip-audit's JSON report: vulnerabilities fail, a database that answered
for no package (or no report at all) is a clear skip, a real audit is ok. A stand-in pip-audit writes the
report (the real one needs its vulnerability service)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, reports: dict[str, Any | None], code: int = 0) -> subprocess.CompletedProcess[str]:
    """Run the script with a fake pip-audit whose report per service is `reports[service]` (None: none)."""
    (tmp_path / "reports.json").write_text(json.dumps(reports))
    fake = tmp_path / "pip-audit"
    fake.write_text(f"""#!{sys.executable}
import json, sys
args = sys.argv[1:]
service, out = args[args.index("-s") + 1], args[args.index("-o") + 1]
assert args[args.index("-r") + 1] == "constraints.txt" and "--no-deps" in args
report = json.load(open({str(tmp_path / "reports.json")!r}))[service]
if report is None:
    print("ConnectionError: cannot reach the service", file=sys.stderr)
    sys.exit(1)
json.dump(report, open(out, "w"))
sys.exit({code})
""")
    fake.chmod(0o755)
    env = {**os.environ, "PIP_AUDIT": str(fake), "PIP_AUDIT_SERVICES": "pypi osv"}
    return subprocess.run(["bash", str(REPO / "scripts" / "pip-audit.sh")], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def dep(name: str, vulns: list[dict[str, Any]] | None = None, skip: str | None = None) -> dict[str, Any]:
    if skip:
        return {"name": name, "skip_reason": skip}
    return {"name": name, "version": "1.0", "vulns": vulns or []}


VULN = {"id": "PYSEC-2099-1", "aliases": ["CVE-2099-0001"], "fix_versions": ["1.1"], "description": "bad"}


def test_a_vulnerability_fails(tmp_path: Path) -> None:
    r = run(tmp_path, {"pypi": {"dependencies": [dep("a"), dep("b", [VULN])]}, "osv": None}, code=1)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "pip-audit: FAILED" in r.stdout
    assert "b==1.0: PYSEC-2099-1, CVE-2099-0001 (fixed in: 1.1)" in r.stdout


def test_a_real_audit_is_ok(tmp_path: Path) -> None:
    r = run(tmp_path, {"pypi": {"dependencies": [dep("a"), dep("b"), dep("c", skip="not found")]}, "osv": None})
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "pip-audit: ok: pypi: 2 pinned packages, no known vulnerability (1 could not be audited)"


@pytest.mark.parametrize("pypi", [None, {"dependencies": [dep("a", skip="Dependency not found"), dep("b", skip="x")]}])
def test_no_database_is_a_clear_skip_never_clean(tmp_path: Path, pypi: dict[str, Any] | None) -> None:
    r = run(tmp_path, {"pypi": pypi, "osv": None})
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("pip-audit: skipped: no vulnerability database reachable (pypi: ")
    assert "osv: no report (exit 1): ConnectionError: cannot reach the service" in r.stdout
    assert "ok" not in r.stdout.split("(")[0]


def test_the_second_service_is_tried(tmp_path: Path) -> None:
    r = run(tmp_path, {"pypi": None, "osv": {"dependencies": [dep("a", [VULN])]}}, code=1)
    assert r.returncode == 1 and "service osv" in r.stdout, r.stdout
