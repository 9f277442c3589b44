"""GATEWAY_WARM_STATE: a known-good settings directory copied in before each cold start.

It carries Gateway's own caches (jts.ini's `Peer=`/`SupportsSSL`, per-user folders) so that a new
container starts like a machine that has run Gateway before. Safeguards as in ibg-controller (prior art):
system directories are refused (settings.py), the copy is bounded in size, logs and program files skipped.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from pathlib import Path

MAX_BYTES = 500 * 1024 * 1024
SKIP = ("launcher*.log", "ibgateway", "*.lock")


class WarmStateError(RuntimeError):
    pass


def _files(src: Path) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = [d for d in dirnames if not any(fnmatch.fnmatch(d, p) for p in SKIP)]
        out.extend(Path(dirpath) / f for f in filenames if not any(fnmatch.fnmatch(f, p) for p in SKIP))
    return sorted(out)


def apply(src: Path, dst: Path, max_bytes: int = MAX_BYTES) -> int:
    """Copy `src` over `dst` (files replaced, others kept); returns the number of files copied."""
    if not src.is_dir():
        raise WarmStateError(f"GATEWAY_WARM_STATE={src} is not a directory")
    files = _files(src)
    total = sum(f.stat().st_size for f in files if not f.is_symlink())
    if total > max_bytes:
        raise WarmStateError(f"GATEWAY_WARM_STATE={src} holds {total // (1024 * 1024)} MB (limit "
                             f"{max_bytes // (1024 * 1024)} MB): is it really a Gateway settings directory?")
    for f in files:
        if f.is_symlink():
            continue  # never follow links out of the warm state
        target = dst / f.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, target)
    return len(files)
