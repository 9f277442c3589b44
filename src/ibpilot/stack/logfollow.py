"""Echo the programs' output: RUN_DIR/logs/<name>.log and supervisord's own output -> `[name] line`.

Every program's output goes to `RUN_DIR/logs/<name>.log` (rotated by supervisord) and is echoed by
`ibpilot run` to its own stdout as `[<name>] <line>`, so `docker logs` shows everything.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger("ibpilot.stack")


class LogForwarder:
    """Follows every program's log file (surviving rotation) and writes `[name] line` to `out`."""

    def __init__(self, files: Mapping[str, Path], out: TextIO, lock: threading.Lock) -> None:
        self._files = dict(files)
        self._out = out
        self._lock = lock
        self._handles: dict[str, Any] = {}
        self._partial: dict[str, bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="log-forwarder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._poll()  # the last lines
        for fh in self._handles.values():
            fh.close()

    def _emit(self, name: str, data: bytes) -> None:
        buf = self._partial.get(name, b"") + data
        *lines, rest = buf.split(b"\n")
        self._partial[name] = rest
        if lines:
            text = "".join(f"[{name}] {ln.decode(errors='replace').rstrip()}\n" for ln in lines)
            with self._lock:
                self._out.write(text)
                self._out.flush()

    def _poll(self) -> None:
        for name, path in self._files.items():
            fh = self._handles.get(name)
            if fh is None:
                try:
                    fh = open(path, "rb")
                except OSError:
                    continue
                self._handles[name] = fh
            data = fh.read()
            if data:
                self._emit(name, data)
            try:
                st = os.stat(path)
            except OSError:
                continue
            if st.st_ino != os.fstat(fh.fileno()).st_ino or st.st_size < fh.tell():
                rest = fh.read()  # rotated: finish the old file, then follow the new one
                if rest:
                    self._emit(name, rest)
                fh.close()
                del self._handles[name]

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self._poll()
            except Exception:  # the forwarder must never take the stack down
                log.exception("log forwarding failed")


def pump(stream: Any, name: str, out: TextIO | None, lock: threading.Lock,
         on_line: Callable[[str], object] | None = None) -> None:
    """Echo `stream`'s lines to `out` as `[name] line` (unless `out` is None), handing each to `on_line`."""
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip()
        if out is not None:
            with lock:
                out.write(f"[{name}] {line}\n")
                out.flush()
        if on_line is not None:
            try:
                on_line(line)
            except Exception:  # a watcher must never stop the echo
                log.exception("%s: handling an output line failed", name)
