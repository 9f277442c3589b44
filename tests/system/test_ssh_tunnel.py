"""SSH reverse tunnel into a real sshd on loopback: the API reached through it, and back after sshd restarts."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import StackFactory, accepts
from ib_async import IB

from ibpilot.testing import descendants, free_port, wait_until

pytestmark = [pytest.mark.system, pytest.mark.timeout(240)]


class Sshd:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "host_key")], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "client_key")], check=True)
        (root / "authorized_keys").write_text((root / "client_key.pub").read_text())
        (root / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1\nPort {self.port}\nHostKey {root / 'host_key'}\n"
            f"AuthorizedKeysFile {root / 'authorized_keys'}\nStrictModes no\nUsePAM no\n"
            f"PidFile {root / 'sshd.pid'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\nAllowTcpForwarding yes\nGatewayPorts no\n"
            "ClientAliveInterval 2\nClientAliveCountMax 2\nLogLevel VERBOSE\n"
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory

    def start(self) -> None:
        log = open(self.root / "sshd.log", "ab")
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(self.root / "sshd_config")],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_until(lambda: accepts(self.port), 10, "sshd listening")

    def stop(self) -> None:
        """Stop the listener and every session it forked (they outlive the listener otherwise)."""
        if self.proc is None:
            return
        for pid in [*descendants(self.proc.pid), self.proc.pid]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None



@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    d = Sshd(tmp_path / "sshd")
    d.start()
    try:
        yield d
    finally:
        d.stop()


def api_through(port: int) -> list[str]:
    ib = IB()
    ib.connect("127.0.0.1", port, clientId=11, timeout=10, readonly=True)
    try:
        ib.reqCurrentTime()
        return list(ib.managedAccounts())
    finally:
        ib.disconnect()


def test_reverse_tunnel_reaches_the_api_and_reconnects(stacks: StackFactory, sshd: Sshd) -> None:
    remote = free_port()
    st = stacks(
        SSH_TUNNEL="yes",
        SSH_USER_TUNNEL=f"{os.environ.get('USER', 'root')}@127.0.0.1:{sshd.port}",
        SSH_IDENTITY_FILE=str(sshd.root / "client_key"),
        SSH_KNOWN_HOSTS=str(sshd.root / "known_hosts"),
        SSH_REMOTE_PORT=str(remote),
        SSH_ALIVE_INTERVAL="1",
        SSH_ALIVE_COUNT="2",
        SSH_RESTART="1",
    )
    st.wait_ready("paper")
    assert "socat-paper" not in st.output()  # SSH_TUNNEL=yes: the tunnel instead of socat
    wait_until(lambda: accepts(remote), 30, "the tunnel's remote port on the sshd host")
    assert api_through(remote) == ["DU1234567"]
    assert (sshd.root / "known_hosts").exists()  # accepted once, remembered

    sshd.stop()
    wait_until(lambda: not accepts(remote), 10, "remote port gone with sshd")
    sshd.start()
    wait_until(lambda: accepts(remote), 60, "the tunnel back after sshd restarted", 0.2)

    def api_ok() -> bool:
        try:
            return api_through(remote) == ["DU1234567"]
        except (OSError, TimeoutError):
            return False

    assert wait_until(api_ok, 20, "API through the new tunnel", 0.5)
    out = st.output()
    assert out.count("spawned: 'ssh-tunnel-1'") >= 2, out[-3000:]
