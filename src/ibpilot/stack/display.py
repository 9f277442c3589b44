"""X display numbers: which are taken (an X server's lock file or socket exists), and a free one."""

from __future__ import annotations

from pathlib import Path


def display_in_use(n: int) -> bool:
    return Path(f"/tmp/.X{n}-lock").exists() or Path(f"/tmp/.X11-unix/X{n}").exists()


def free_display(start: int = 10, stop: int = 1000) -> int:
    """The first display number from `start` that no X server holds."""
    for n in range(start, stop):
        if not display_in_use(n):
            return n
    raise RuntimeError(f"no free X display number in :{start}..:{stop - 1}")
