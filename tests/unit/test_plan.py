"""The process plan, table-tested against the networking table (host vs bridge, socat, SSH yes/both/none)."""

# Fake credentials throughout:
from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from ibpilot.settings import Settings
from ibpilot.stack.plan import FOREVER, Program, Ready, plan
from ibpilot.stack.vncpasswd import des_encrypt_block, vnc_rfbauth

SECRETS = {"TWS_PASSWORD": "pw-live-123", "TWS_PASSWORD_PAPER": "pw-paper-456", "VNC_SERVER_PASSWORD": "vncpw789",
           "SSH_PASSPHRASE": "ssh-pass-000", "COMMAND_SERVER_TOKEN": "tok-111", "TWOFACTOR_CODE": "JBSWY3DPEHPK3PXP",
           "SUPERVISORD_UI_PASS": "ui-222"}
BASE = {"HOME": "/home/ib", "TWS_USERID": "bob", "TWS_PASSWORD": SECRETS["TWS_PASSWORD"]}


def make(**env: str) -> list[Program]:
    return plan(Settings.from_env({**BASE, **env}))


def by_name(progs: list[Program]) -> dict[str, Program]:
    return {p.name: p for p in progs}


def socat_map(progs: list[Program]) -> dict[str, tuple[str, str]]:
    """socat-<mode> -> (listen spec, target spec)."""
    return {p.name: (p.argv[1], p.argv[2]) for p in progs if p.name.startswith("socat-")}


def ssh_forwards(p: Program) -> list[str]:
    return [p.argv[i + 1] for i, a in enumerate(p.argv) if a == "-R"]


L = "TCP-LISTEN:{},fork,reuseaddr,keepalive,nodelay,bind=127.0.0.1"
T = "TCP:127.0.0.1:{},nodelay"

# The seed's networking table: host networking needs no socat; bridge networking needs socat
# (4003->4001 live, 4004->4002 paper; TWS 7498->7496, 7499->7497); SSH yes = tunnel only, both = tunnel+socat.
NETWORKING = [
    # (case, env, expected program names, socat listen->target, ssh -R forwards per tunnel)
    ("host networking, paper", {"ENABLE_SOCAT": "no"},
     ["xvfb", "controller-paper"], {}, {}),
    ("host networking, live", {"ENABLE_SOCAT": "no", "TRADING_MODE": "live"},
     ["xvfb", "controller-live"], {}, {}),
    ("bridge, paper (default)", {},
     ["xvfb", "controller-paper", "socat-paper"], {"socat-paper": (L.format(4004), T.format(4002))}, {}),
    ("bridge, live", {"TRADING_MODE": "live", "ENABLE_SOCAT": "yes"},
     ["xvfb", "controller-live", "socat-live"], {"socat-live": (L.format(4003), T.format(4001))}, {}),
    ("bridge, both", {"TRADING_MODE": "both"},
     ["xvfb", "controller-live", "controller-paper", "socat-live", "socat-paper"],
     {"socat-live": (L.format(4003), T.format(4001)), "socat-paper": (L.format(4004), T.format(4002))}, {}),
    ("bridge, TWS both", {"TRADING_MODE": "both", "GATEWAY_OR_TWS": "tws"},
     ["xvfb", "controller-live", "controller-paper", "socat-live", "socat-paper"],
     {"socat-live": (L.format(7498), T.format(7496)), "socat-paper": (L.format(7499), T.format(7497))}, {}),
    ("bridge, API port override", {"TWS_API_PORT": "4000", "SOCAT_PORT": "4010", "SOCAT_BIND": "127.0.0.1"},
     ["xvfb", "controller-paper", "socat-paper"],
     {"socat-paper": ("TCP-LISTEN:4010,fork,reuseaddr,keepalive,nodelay,bind=127.0.0.1", T.format(4000))}, {}),
    ("SSH only", {"SSH_TUNNEL": "yes", "SSH_USER_TUNNEL": "me@bastion"},
     ["xvfb", "controller-paper", "ssh-tunnel-1"], {}, {"ssh-tunnel-1": ["127.0.0.1:4002:127.0.0.1:4002"]}),
    ("SSH both", {"SSH_TUNNEL": "both", "SSH_USER_TUNNEL": "me@bastion", "TRADING_MODE": "live"},
     ["xvfb", "controller-live", "socat-live", "ssh-tunnel-1"],
     {"socat-live": (L.format(4003), T.format(4001))}, {"ssh-tunnel-1": ["127.0.0.1:4001:127.0.0.1:4001"]}),
    ("SSH empty = off", {"SSH_TUNNEL": "", "SSH_USER_TUNNEL": "me@bastion"},
     ["xvfb", "controller-paper", "socat-paper"], {"socat-paper": (L.format(4004), T.format(4002))}, {}),
    ("SSH yes + socat forced on, host net", {"SSH_TUNNEL": "yes", "SSH_USER_TUNNEL": "me@b", "ENABLE_SOCAT": "yes"},
     ["xvfb", "controller-paper", "socat-paper", "ssh-tunnel-1"],
     {"socat-paper": (L.format(4004), T.format(4002))}, {"ssh-tunnel-1": ["127.0.0.1:4002:127.0.0.1:4002"]}),
    ("SSH, dual, two bastions, remote ports",
     {"SSH_TUNNEL": "yes", "SSH_USER_TUNNEL": "a@h1,b@h2:2222", "TRADING_MODE": "both",
      "SSH_REMOTE_PORT": "14001", "SSH_REMOTE_PORT_PAPER": "14002"},
     ["xvfb", "controller-live", "controller-paper", "ssh-tunnel-1", "ssh-tunnel-2"], {},
     {"ssh-tunnel-1": ["127.0.0.1:14001:127.0.0.1:4001", "127.0.0.1:14002:127.0.0.1:4002"],
      "ssh-tunnel-2": ["127.0.0.1:14001:127.0.0.1:4001", "127.0.0.1:14002:127.0.0.1:4002"]}),
    ("SSH with VNC forward", {"SSH_TUNNEL": "yes", "SSH_USER_TUNNEL": "a@h", "VNC_PWD": "x", "SSH_VNC_PORT": "15900"},
     ["xvfb", "x11vnc", "controller-paper", "ssh-tunnel-1"], {},
     {"ssh-tunnel-1": ["127.0.0.1:4002:127.0.0.1:4002", "127.0.0.1:15900:127.0.0.1:5900"]}),
    ("VNC + noVNC", {"VNC_SERVER_PASSWORD": "x", "NOVNC_PORT": "6080", "ENABLE_SOCAT": "no"},
     ["xvfb", "x11vnc", "novnc", "controller-paper"], {}, {}),
    ("external X server", {"START_XVFB": "no", "ENABLE_SOCAT": "no"}, ["controller-paper"], {}, {}),
    ("hooks", {"START_SCRIPTS": "s", "X_SCRIPTS": "/x", "IBC_SCRIPTS": "/i", "ENABLE_SOCAT": "no"},
     ["start-scripts", "xvfb", "x-scripts", "controller-paper", "ibc-scripts"], {}, {}),
]


@pytest.mark.parametrize(("case", "env", "names", "socat", "ssh"), NETWORKING, ids=[c[0] for c in NETWORKING])
def test_networking_table(case: str, env: dict[str, str], names: list[str], socat: dict[str, tuple[str, str]],
                          ssh: dict[str, list[str]]) -> None:
    progs = make(**env)
    assert [p.name for p in progs] == names, case
    assert socat_map(progs) == socat
    assert {p.name: ssh_forwards(p) for p in progs if p.name.startswith("ssh-")} == ssh


def test_controller_program() -> None:
    progs = by_name(make(TRADING_MODE="both", PUID="1000"))
    live, paper = progs["controller-live"], progs["controller-paper"]
    assert live.argv == ("ibpilot", "control")
    assert live.env == {"IBPILOT_INSTANCE": "live", "DISPLAY": ":1"}
    assert paper.env["IBPILOT_INSTANCE"] == "paper"
    assert live.depends_on == ("xvfb",)
    assert paper.ready == Ready("file", "/home/ib/.ibpilot/run/ready-paper")
    assert live.user == "1000" and live.stopwaitsecs >= 60 and live.autorestart
    assert not live.fatal  # keep-other: one side failing does not stop the other
    assert by_name(make(TRADING_MODE="both", DUAL_MODE_POLICY="stop-all"))["controller-live"].fatal
    assert by_name(make())["controller-paper"].fatal  # single mode: give up -> container restarts


def test_socat_waits_for_its_controller() -> None:
    progs = by_name(make(TRADING_MODE="both"))
    assert progs["socat-paper"].depends_on == ("controller-paper",)
    assert progs["socat-live"].ready == Ready("tcp", "127.0.0.1:4003")
    assert progs["socat-live"].startretries == FOREVER


def test_xvfb() -> None:
    x = by_name(make(DISPLAY_NUMBER="7", VNC_SCREEN_DIMENSION="1600x1200x16"))["xvfb"]
    assert x.argv == ("Xvfb", ":7", "-screen", "0", "1600x1200x16", "-nolisten", "tcp", "-noreset")
    assert x.ready == Ready("unix", "/tmp/.X11-unix/X7")


def test_vnc_password_is_a_file_never_argv() -> None:
    progs = by_name(make(VNC_SERVER_PASSWORD="vncpw789", VNC_PORT="5901"))
    vnc = progs["x11vnc"]
    assert "vncpw789" not in " ".join(vnc.argv)
    i = vnc.argv.index("-rfbauth")
    (f,) = vnc.files
    assert vnc.argv[i + 1] == f.path == "/home/ib/.ibpilot/run/vnc.passwd"
    assert f.mode == 0o600 and f.secret and f.render() == vnc_rfbauth("vncpw789")
    assert vnc.argv[vnc.argv.index("-rfbport") + 1] == "5901"
    assert vnc.depends_on == ("xvfb",)


def test_no_vnc_without_password() -> None:
    assert "x11vnc" not in by_name(make(VNC_PORT="5900"))


def test_ssh_passphrase_via_askpass_file() -> None:
    progs = by_name(make(SSH_TUNNEL="yes", SSH_USER_TUNNEL="me@b", SSH_PASSPHRASE="ssh-pass-000"))
    t = progs["ssh-tunnel-1"]
    assert "BatchMode=yes" not in t.argv
    assert t.env == {"SSH_ASKPASS": "/home/ib/.ibpilot/run/ssh-askpass", "SSH_ASKPASS_REQUIRE": "force"}
    secret_file, script = t.files
    assert secret_file.render() == b"ssh-pass-000" and secret_file.mode == 0o600
    assert script.path == t.env["SSH_ASKPASS"] and script.mode == 0o700
    assert b"ssh-pass-000" not in script.render()
    no_pass = by_name(make(SSH_TUNNEL="yes", SSH_USER_TUNNEL="me@b"))["ssh-tunnel-1"]
    assert "BatchMode=yes" in no_pass.argv and no_pass.files == () and no_pass.env == {}


def test_ssh_options_and_restart() -> None:
    t = by_name(make(SSH_TUNNEL="yes", SSH_USER_TUNNEL="me@b", SSH_OPTIONS="-o ProxyJump=j",
                     SSH_ALIVE_INTERVAL="15", SSH_ALIVE_COUNT="4", SSH_RESTART="30",
                     SSH_KNOWN_HOSTS="/data/known_hosts"))["ssh-tunnel-1"]
    for opt in ("ServerAliveInterval=15", "ServerAliveCountMax=4", "ExitOnForwardFailure=yes",
                "StrictHostKeyChecking=accept-new", "UserKnownHostsFile=/data/known_hosts", "ProxyJump=j"):
        assert opt in t.argv
    assert t.argv[:2] == ("ssh", "-N") and t.argv[-1] == "me@b"
    assert t.restart_delay == 30.0 and t.startretries == FOREVER


def _all_combinations() -> list[dict[str, str]]:
    axes = [
        [{}, {"TRADING_MODE": "both", "TWS_USERID_PAPER": "p", "TWS_PASSWORD_PAPER": SECRETS["TWS_PASSWORD_PAPER"]}],
        [{}, {"VNC_SERVER_PASSWORD": SECRETS["VNC_SERVER_PASSWORD"], "NOVNC_PORT": "6080"}],
        [{}, {"SSH_TUNNEL": "both", "SSH_USER_TUNNEL": "a@b", "SSH_PASSPHRASE": SECRETS["SSH_PASSPHRASE"]}],
        [{}, {"COMMAND_SERVER_PORT": "7462", "COMMAND_SERVER_TOKEN": SECRETS["COMMAND_SERVER_TOKEN"],
              "TWOFACTOR_CODE": SECRETS["TWOFACTOR_CODE"]}],
        [{}, {"SUPERVISORD_UI_PORT": "9001", "SUPERVISORD_UI_USER": "u",
              "SUPERVISORD_UI_PASS": SECRETS["SUPERVISORD_UI_PASS"]}],
    ]
    out = []
    for combo in itertools.product(*axes):
        env: dict[str, str] = {}
        for part in combo:
            env.update(part)
        out.append(env)
    return out


@pytest.mark.parametrize("env", _all_combinations())
def test_no_secret_in_argv_or_plain_env(env: dict[str, str]) -> None:
    for p in make(**env):
        text = " ".join(p.argv) + " " + " ".join(f"{k}={v}" for k, v in p.env.items() if k not in p.secret_env)
        for value in SECRETS.values():
            assert value not in text, (p.name, value)
        for f in p.files:
            if not f.secret:
                assert all(v.encode() not in f.render() for v in SECRETS.values())
            assert f.path.startswith("/home/ib/.ibpilot/run/")


def test_dependencies_exist_and_come_first() -> None:
    env = {"START_SCRIPTS": "/s", "X_SCRIPTS": "/x", "IBC_SCRIPTS": "/i", "VNC_PWD": "x", "NOVNC_PORT": "6080",
           "TRADING_MODE": "both", "SSH_TUNNEL": "both", "SSH_USER_TUNNEL": "a@b"}
    progs = make(**env)
    seen: set[str] = set()
    for p in progs:
        assert set(p.depends_on) <= seen, p.name
        seen.add(p.name)
    hooks = by_name(progs)["ibc-scripts"]
    assert hooks.oneshot and hooks.depends_on == ("controller-live", "controller-paper")
    assert hooks.argv[-1] == "/i"


def test_hook_runner_runs_scripts_in_order(tmp_path: Path) -> None:
    import subprocess

    (tmp_path / "b.sh").write_text("echo two >> out\n")
    (tmp_path / "a.sh").write_text("echo one >> out\n")
    (tmp_path / "c.txt").write_text("echo never >> out\n")
    hook = by_name(make(START_SCRIPTS=str(tmp_path)))["start-scripts"]
    subprocess.run(hook.argv, cwd=tmp_path, check=True, capture_output=True)
    assert (tmp_path / "out").read_text() == "one\ntwo\n"


@pytest.mark.parametrize(
    ("key", "block", "expected"),
    [("133457799BBCDFF1", "0123456789ABCDEF", "85e813540f0ab405"),  # the classic worked example
     ("0000000000000000", "0000000000000000", "8ca64de9c1b123a7")],
)
def test_des_known_answers(key: str, block: str, expected: str) -> None:
    assert des_encrypt_block(bytes.fromhex(key), bytes.fromhex(block)).hex() == expected


@pytest.mark.parametrize(
    ("password", "expected"),
    # as written by `x11vnc -storepasswd <pw> <file>`
    [("password", "dbd83cfd727a1458"), ("secret12", "24b5ae4ce15503c6"), ("secret123", "24b5ae4ce15503c6")],
)
def test_vnc_password_file(password: str, expected: str) -> None:
    assert vnc_rfbauth(password).hex() == expected


def test_vnc_listens_on_vnc_bind_only_not_on_every_ipv6_address() -> None:
    vnc = by_name(make(VNC_SERVER_PASSWORD="vncpw789", VNC_PORT="5901", VNC_BIND="127.0.0.1"))["x11vnc"]
    assert vnc.argv[vnc.argv.index("-listen") + 1] == "127.0.0.1"
    # x11vnc 0.9.16 opens [::]:5900 despite -listen and -noipv6 unless its IPv6 port is switched off
    assert "-noipv6" in vnc.argv
    assert vnc.argv[vnc.argv.index("-rfbportv6") + 1] == "-1"
