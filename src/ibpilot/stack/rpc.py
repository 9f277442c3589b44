"""A small typed client of supervisord's XML-RPC interface over its Unix socket."""

from __future__ import annotations

import http.client
import socket
import xmlrpc.client
from pathlib import Path
from typing import Any


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self._path)
        except OSError:
            s.close()
            raise
        self.sock = s


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__()
        self._path = path
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return _UnixHTTPConnection(self._path, self._timeout)


class Supervisor:
    """A small typed client of supervisord's XML-RPC interface (the `supervisor.*` namespace)."""

    def __init__(self, socket_path: Path, timeout: float = 10.0) -> None:
        self._proxy = xmlrpc.client.ServerProxy(
            "http://localhost/RPC2", transport=_UnixTransport(str(socket_path), timeout), allow_none=True
        )

    def _call(self, method: str, *args: Any) -> Any:
        return getattr(self._proxy.supervisor, method)(*args)

    def state(self) -> str:
        return str(self._call("getState")["statename"])

    def processes(self) -> dict[str, dict[str, Any]]:
        return {str(i["name"]): dict(i) for i in self._call("getAllProcessInfo")}

    def start(self, name: str) -> bool:
        """Start without waiting; False when it was already started."""
        try:
            self._call("startProcess", name, False)
            return True
        except xmlrpc.client.Fault as e:
            if "ALREADY_STARTED" in e.faultString:
                return False
            raise

    def stop(self, name: str) -> bool:
        """Ask it to stop without waiting; False when it was not running."""
        try:
            self._call("stopProcess", name, False)
            return True
        except xmlrpc.client.Fault as e:
            if "NOT_RUNNING" in e.faultString:
                return False
            raise

    def shutdown(self) -> None:
        self._call("shutdown")
