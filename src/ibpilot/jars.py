"""Where the Java parts are: packaged jars, built on demand in a source checkout."""

from __future__ import annotations

import fcntl
from pathlib import Path

from ibpilot import _build

_PKG = Path(__file__).resolve().parent


def _source_root() -> Path | None:
    root = _PKG.parents[1]
    return root if (root / "sim" / "src").is_dir() and (root / "pyproject.toml").exists() else None


def jar_path(name: str) -> Path:
    """Path of the `agent` or `sim` jar, (re)built first when running from a source checkout."""
    spec = _build.JARS[name]
    packaged = _PKG / "_jars" / spec.name
    root = _source_root()
    if root is not None and _build.is_stale(root, name):
        lock_path = root / _build.OUT_DIR / ".build.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test workers build once
            if _build.is_stale(root, name):
                return _build.build_jar(root, name)
        return root / _build.OUT_DIR / spec.name
    if not packaged.exists():
        raise FileNotFoundError(f"{spec.name} is missing from the installed package ({packaged})")
    return packaged
