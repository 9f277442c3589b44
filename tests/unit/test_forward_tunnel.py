"""socat and ssh command lines."""

from __future__ import annotations

import pytest

from ibpilot.net.forward import socat_argv
from ibpilot.net.tunnel import Forward, askpass_env, askpass_script, parse_destination, ssh_argv


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((4003, 4001),
         ["socat", "TCP-LISTEN:4003,fork,reuseaddr,keepalive,nodelay,bind=0.0.0.0", "TCP:127.0.0.1:4001,nodelay"]),
        ((4004, 4002, "127.0.0.1"),
         ["socat", "TCP-LISTEN:4004,fork,reuseaddr,keepalive,nodelay,bind=127.0.0.1", "TCP:127.0.0.1:4002,nodelay"]),
        ((7499, 7497, "::"),
         ["socat", "TCP6-LISTEN:7499,fork,reuseaddr,keepalive,nodelay,bind=[::]", "TCP:127.0.0.1:7497,nodelay"]),
    ],
)
def test_socat_argv(args: tuple[int, int, str], expected: list[str]) -> None:
    assert socat_argv(*args) == expected


@pytest.mark.parametrize("args", [(0, 4001), (4003, 70000), (4003, 4001, "not-an-ip")])
def test_socat_argv_rejects(args: tuple[int, int, str]) -> None:
    with pytest.raises(ValueError):
        socat_argv(*args)


@pytest.mark.parametrize(
    ("dest", "expected"),
    [("u@h", ("u@h", None)), ("u@h.example.com:2222", ("u@h.example.com", 2222)), ("me@[::1]:22", ("me@[::1]", 22))],
)
def test_parse_destination(dest: str, expected: tuple[str, int | None]) -> None:
    assert parse_destination(dest) == expected


@pytest.mark.parametrize("dest", ["host", "-oProxyCommand=x@h", "-oFoo@h", "u@h:99999", "u@h;rm"])
def test_parse_destination_rejects(dest: str) -> None:
    with pytest.raises(ValueError):
        parse_destination(dest)


def _opts(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]


def test_ssh_argv_batch() -> None:
    argv = ssh_argv("me@bastion:2222", [Forward(4001, 4001), Forward(15900, 5900)], known_hosts="/data/kh",
                    alive_interval=20, alive_count=3)
    assert argv[:3] == ["ssh", "-N", "-T"]
    opts = _opts(argv)
    for o in ("ServerAliveInterval=20", "ServerAliveCountMax=3", "ExitOnForwardFailure=yes",
              "StrictHostKeyChecking=accept-new", "UserKnownHostsFile=/data/kh", "BatchMode=yes",
              "PasswordAuthentication=no"):
        assert o in opts
    assert argv[argv.index("-p") + 1] == "2222"
    rs = [argv[i + 1] for i, a in enumerate(argv) if a == "-R"]
    assert rs == ["127.0.0.1:4001:127.0.0.1:4001", "127.0.0.1:15900:127.0.0.1:5900"]
    assert argv[-1] == "me@bastion"


def test_ssh_argv_passphrase_mode() -> None:
    argv = ssh_argv("me@b", [Forward(4002, 4002)], known_hosts="/k", batch_mode=False, identity_file="/id",
                    extra_options=["-o", "ProxyJump=j"])
    assert "BatchMode=yes" not in _opts(argv)
    assert argv[argv.index("-i") + 1] == "/id" and "ProxyJump=j" in _opts(argv)
    assert askpass_env("/run/ask") == {"SSH_ASKPASS": "/run/ask", "SSH_ASKPASS_REQUIRE": "force"}
    assert askpass_script("/run/p w") == "#!/bin/sh\nexec cat -- '/run/p w'\n"


def test_ssh_needs_a_forward() -> None:
    with pytest.raises(ValueError):
        ssh_argv("a@b", [], known_hosts="/k")
