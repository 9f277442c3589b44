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
    def __init__(self, root: Path, passphrase: str = "") -> None:
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "host_key")], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(root / "client_key")],
                       check=True)
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
    st = stacks(**tunnel_env(sshd, remote))
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


def tunnel_env(sshd: Sshd, remote: int) -> dict[str, str]:
    return {
        "SSH_TUNNEL": "yes",
        "SSH_USER_TUNNEL": f"{os.environ.get('USER', 'root')}@127.0.0.1:{sshd.port}",
        "SSH_IDENTITY_FILE": str(sshd.root / "client_key"),
        "SSH_KNOWN_HOSTS": str(sshd.root / "known_hosts"),
        "SSH_REMOTE_PORT": str(remote),
        "SSH_ALIVE_INTERVAL": "1",
        "SSH_ALIVE_COUNT": "2",
        "SSH_RESTART": "1",
    }


def test_key_with_a_passphrase_works_and_the_passphrase_stays_out_of_argv(stacks: StackFactory,
                                                                          tmp_path: Path) -> None:
    secret = "tunnel-passphrase-42"
    sshd = Sshd(tmp_path / "sshd-pp", passphrase=secret)
    sshd.start()
    try:
        remote = free_port()
        st = stacks(**tunnel_env(sshd, remote), SSH_PASSPHRASE=secret)
        st.wait_ready("paper")
        wait_until(lambda: accepts(remote), 30, "the tunnel's remote port (key unlocked through askpass)")
        assert api_through(remote) == ["DU1234567"]
        for _pid, cmd in st.leftovers():
            assert secret not in cmd
        assert secret not in (st.run_dir / "supervisord.conf").read_text()
        assert secret not in st.output()
    finally:
        sshd.stop()


def test_a_changed_host_key_is_refused_not_silently_accepted(stacks: StackFactory, tmp_path: Path) -> None:
    sshd = Sshd(tmp_path / "sshd-hk")
    sshd.start()
    try:
        remote = free_port()
        st = stacks(**tunnel_env(sshd, remote))
        st.wait_ready("paper")
        wait_until(lambda: accepts(remote), 30, "the tunnel's remote port")
        # the "server" now presents another host key (a man in the middle, as far as ssh can tell)
        sshd.stop()
        for f in ("host_key", "host_key.pub"):
            (sshd.root / f).unlink()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(sshd.root / "host_key")],
                       check=True)
        sshd.start()
        wait_until(lambda: "REMOTE HOST IDENTIFICATION HAS CHANGED" in st.output()
                   or "Host key verification failed" in st.output(), 30, "ssh refusing the new host key")
        assert not accepts(remote)  # no tunnel to the impostor
    finally:
        sshd.stop()
