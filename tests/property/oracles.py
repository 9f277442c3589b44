"""What hostile input must never do, one checker per parser (issue 11, "Hostile input").

Shared by the hypothesis properties in this directory and the atheris harnesses in `fuzz/`: each `check_*`
takes one input, runs the real code on it and raises AssertionError (or lets an unexpected exception
through) when a rule is broken. Nothing here is mocked: the settings loader, supervisor's own config
reader, the agent bridge on a real socket pair, the command server's connection reader on a real socket
pair, the simulator's scenario loader in a real JVM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shlex
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from supervisor.options import ServerOptions

from ibpilot.agent.bridge import AgentBridge, AgentBridgeError, AgentDisconnected, AgentError, _check_hello
from ibpilot.agent.model import Window, parse_event
from ibpilot.serve.commands import _Close, _Conn
from ibpilot.settings import VARS, Settings, SettingsError
from ibpilot.settings.kinds import Invalid
from ibpilot.stack.conf import command_line, render_conf
from ibpilot.stack.layout import layout
from ibpilot.stack.plan import plan

# --------------------------------------------------------------------------------------------------
# settings

SECRET_NAMES = frozenset(n for v in VARS if v.secret for n in v.all_names())
SECRET_FILE_NAMES = frozenset(f"{n}_FILE" for v in VARS if v.secret for n in v.file_names())


def check_kind(name: str, raw: str) -> None:
    """A setting's parser returns a value or raises `Invalid`; a secret's message never holds the value."""
    v = next(x for x in VARS if x.name == name)
    try:
        v.kind.parse(raw)
    except Invalid as e:
        assert str(e), f"{name}: empty error message"
        if v.secret and len(raw.strip()) >= 4:
            assert raw.strip() not in str(e), f"{name}: the error repeats the secret value"


def _reader(files: Mapping[str, str]) -> Callable[[str], str]:
    def read(path: str) -> str:
        if path not in files:
            raise FileNotFoundError(2, "No such file or directory", path)
        return files[path]

    return read


def secrets_given(env: Mapping[str, str], files: Mapping[str, str]) -> set[str]:
    out = {env[n] for n in SECRET_NAMES if env.get(n, "").strip()}
    out |= {files[p] for n in SECRET_FILE_NAMES if (p := env.get(n, "").strip()) in files}
    return {s for s in out if len(s.strip()) >= 6}


def check_env(env: Mapping[str, str], files: Mapping[str, str] | None = None) -> Settings | None:
    """`Settings.from_env` accepts (a Settings whose repr holds no secret) or raises `SettingsError` whose
    every error is one line and holds no secret. Nothing else may escape."""
    files = files or {}
    secrets = secrets_given(env, files)
    try:
        s = Settings.from_env(env, read_file=_reader(files))
    except SettingsError as e:
        assert e.errors, "SettingsError without an error"
        for line in e.errors:
            assert line and "\n" not in line and "\r" not in line, f"an error is not one line: {line!r}"
        text = str(e)
        for secret in secrets:
            assert secret not in text and secret.strip() not in text, "an error message shows a secret"
        return None
    shown = repr(s) + json.dumps(s.redacted(), default=str) + " ".join(s.warnings)
    plain = " ".join(v for n, v in env.items() if n not in SECRET_NAMES and n not in SECRET_FILE_NAMES)
    for secret in (x for x in secrets if x.strip() not in plain):  # also given as a plain value: not secret
        assert secret.strip() not in shown, "the settings' repr, redacted form or warnings show a secret"
    return s


# --------------------------------------------------------------------------------------------------
# supervisord.conf


def _uid_exists(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def check_conf(s: Settings, *, as_root: bool) -> None:
    """render_conf(plan(s)) read back by supervisord's own config reader gives exactly the planned
    programs, each with its argv (as supervisord splits it), environment, user and log file, and the
    supervisord/socket paths unchanged: no value can add, drop or alter a section, an option or an arg.

    Needs `s.run_dir` to exist (supervisord checks the log directories); `check_conf_in` arranges it."""
    programs = plan(s)
    lay = layout(s)
    text = render_conf(s, programs, lay, as_root=as_root)
    lay.log_dir.mkdir(parents=True, exist_ok=True)
    conf = lay.run_dir / "supervisord.conf.check"
    conf.write_text(text)
    opts = ServerOptions()
    opts.configfile = str(conf)
    opts.environ_expansions = {}  # the test's own environment must not leak into the expansion
    section = opts.read_config(str(conf))

    assert section.logfile == str(lay.logfile)
    assert section.pidfile == str(lay.pidfile)
    assert section.childlogdir == str(lay.log_dir)
    assert section.environment == {}
    servers = {c["section"]: c for c in section.server_configs}
    assert servers["unix_http_server"]["file"] == os.path.normpath(lay.socket)  # supervisord normalises it
    if s.supervisord_ui_port:
        inet = servers["inet_http_server"]
        assert inet["port"] == s.supervisord_ui_port
        assert inet.get("username") == (s.supervisord_ui_user if s.supervisord_ui_pass else None)
        assert set(servers) == {"unix_http_server", "inet_http_server"}
    else:
        assert set(servers) == {"unix_http_server"}

    groups = {g.name: g for g in section.process_group_configs}
    assert list(groups) == [p.name for p in programs] or sorted(groups) == sorted(p.name for p in programs)
    assert len(groups) == len(programs), f"programs {sorted(groups)} != planned {[p.name for p in programs]}"
    for p in programs:
        (pc,) = groups[p.name].process_configs
        env_file = lay.env_file(p.name) if p.secret_env else None
        assert shlex.split(pc.command) == command_line(p, env_file), f"{p.name}: command changed"
        plain_env = {k: v for k, v in p.env.items() if k not in p.secret_env}
        assert pc.environment == plain_env, f"{p.name}: environment changed"
        assert pc.stdout_logfile == str(lay.program_log(p.name))
        assert pc.directory == str(lay.run_dir)
        assert pc.uid == (int(p.user) if p.user is not None and as_root else None)
        assert pc.autostart == (not p.depends_on)


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ibpilot-prop-") as d:
        yield Path(d)


def check_conf_env(env: Mapping[str, str], *, as_root: bool = False) -> None:
    """`env` (RUN_DIR relative to a scratch HOME) through from_env, then `check_conf` when accepted."""
    with scratch_dir() as home:
        full = {**env, "HOME": str(home)}
        rd = full.get("RUN_DIR")
        if rd is not None:
            full["RUN_DIR"] = f"{home}/{rd.strip().lstrip('/~')}" if rd.strip() else ""
        s = check_env(full)
        if s is None:
            return
        if s.puid is not None and not _uid_exists(s.puid):
            as_root = False
        try:
            Path(s.run_dir).mkdir(parents=True, exist_ok=True)
        except OSError:  # a name this file system refuses (too long...): nothing to render
            return
        check_conf(s, as_root=as_root)  # render_conf may not refuse what from_env accepted


# --------------------------------------------------------------------------------------------------
# agent protocol

HELLO = {"event": "hello", "protocol": 1, "pid": 1, "java": "17"}
DOCUMENTED = (AgentBridgeError, TimeoutError)  # AgentError, AgentProtocolError, AgentDisconnected, timeouts


def check_hello(line: bytes) -> None:
    """The first line is a hello of protocol 1, or AgentProtocolError: nothing else escapes."""
    try:
        hello = _check_hello(line)
    except AgentBridgeError:
        return
    assert isinstance(hello, dict) and hello.get("event") == "hello" and hello.get("protocol") == 1


def check_decoders(obj: Any) -> None:
    """`parse_event` / `Window.from_json` on any JSON value: a typed value or the errors the bridge catches."""
    if isinstance(obj, dict):
        with contextlib.suppress(KeyError, TypeError, ValueError, AttributeError, RecursionError):
            parse_event(obj)
    with contextlib.suppress(KeyError, TypeError, ValueError, AttributeError, RecursionError):
        Window.from_json(obj)


async def _bridge_session(lines: Sequence[bytes], answers: Sequence[bytes]) -> None:
    a, b = socket.socketpair()
    reader, writer = await asyncio.open_unix_connection(sock=a, limit=1 << 20)
    peer_r, peer_w = await asyncio.open_unix_connection(sock=b)
    bridge = AgentBridge(reader, writer, dict(HELLO))
    events = bridge.subscribe()
    try:
        # 1. hostile lines: the bridge stays up and keeps reading.
        for line in lines:
            peer_w.write(line if line.endswith(b"\n") else line + b"\n")
        # 2. a request whose answer is hostile: a documented error or a result, never anything else.
        for answer in answers:
            task = asyncio.ensure_future(bridge.windows(timeout=0.2))  # unanswered: a timeout
            req = await asyncio.wait_for(peer_r.readline(), 5)
            rid = json.loads(req)["id"]
            try:
                doc = json.loads(answer)
            except (ValueError, RecursionError):
                doc = None
            if isinstance(doc, dict):
                doc["id"] = rid
                answer = json.dumps(doc).encode()
            peer_w.write(answer + b"\n")
            with contextlib.suppress(*DOCUMENTED):
                result = await asyncio.wait_for(task, 5)
                assert isinstance(result, list) and all(isinstance(w, Window) for w in result)
        # 3. still alive: a well-formed exchange works after all that.
        ping = asyncio.ensure_future(bridge.ping(timeout=5.0))
        req = json.loads(await asyncio.wait_for(peer_r.readline(), 5))
        peer_w.write(json.dumps({"id": req["id"], "ok": True, "result": "pong"}).encode() + b"\n")
        await asyncio.wait_for(ping, 5)
        assert not bridge.closed, f"the bridge closed itself: {bridge._close_reason}"
        # every event that came through is typed
        while not events.empty():
            ev = events.get_nowait()
            assert ev is not None, "event stream ended on hostile input"
    finally:
        peer_w.close()
        await bridge.close()
    try:
        await bridge.ping(timeout=1.0)
        raise AssertionError("ping on a closed bridge succeeded")
    except AgentDisconnected:
        pass


def check_bridge(lines: Sequence[bytes], answers: Sequence[bytes] = ()) -> None:
    """Hostile lines (events, answers to nobody, garbage) never close the bridge or escape as anything but
    a documented error, and never hang it: a later ping still works."""
    asyncio.run(_bridge_session(lines, answers))


def check_answer_error(error: str) -> None:
    e = AgentError.parse(error)
    assert isinstance(e.kind, str) and isinstance(e.message, str)


# --------------------------------------------------------------------------------------------------
# command server lines


def reference_lines(data: bytes) -> list[bytes]:
    """IBC's line splitting: `\\n`, `\\r\\n` and `\\r` each end a line; a last line without an end counts."""
    out: list[bytes] = []
    cur = bytearray()
    i = 0
    while i < len(data):
        c = data[i]
        if c in (0x0A, 0x0D):
            out.append(bytes(cur))
            cur.clear()
            if c == 0x0D and i + 1 < len(data) and data[i + 1] == 0x0A:
                i += 1
        else:
            cur.append(c)
        i += 1
    if cur:
        out.append(bytes(cur))
    return out


async def _read_lines(chunks: Sequence[bytes], max_line: int) -> tuple[list[bytes], bool]:
    a, b = socket.socketpair()
    reader, writer = await asyncio.open_unix_connection(sock=a)
    _, peer_w = await asyncio.open_unix_connection(sock=b)
    conn = _Conn(reader, writer, "test", max_line, 5.0, 5.0)
    got: list[bytes] = []
    closed = False

    async def feed() -> None:
        for ch in chunks:
            peer_w.write(ch)
            await peer_w.drain()
            await asyncio.sleep(0)  # let the reader see each chunk on its own
        peer_w.write_eof()

    feeder = asyncio.ensure_future(feed())
    try:
        while (line := await conn.readline()) is not None:
            got.append(line)
    except _Close:
        closed = True
    finally:
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await feeder
        writer.close()
        peer_w.close()
    return got, closed


def check_command_lines(chunks: Sequence[bytes], max_line: int = 1024) -> None:
    """The command server's reader splits any byte stream, however chunked, exactly as IBC does, and a
    line over `max_line` ends the connection (never a hang, never another exception)."""
    data = b"".join(chunks)
    expected = reference_lines(data)
    got, closed = asyncio.run(_read_lines(chunks, max_line))
    too_long = next((i for i, line in enumerate(expected) if len(line) > max_line), None)
    if too_long is None:
        assert not closed, "closed without a line too long"
        assert got == expected
    else:
        assert closed, "a line over max_line did not close the connection"
        assert got == expected[:too_long]


# --------------------------------------------------------------------------------------------------
# simulator scenarios (a long-lived JVM running ibpilot.sim.ScenarioCheck)


class ScenarioChecker:
    """One JVM validating scenario texts: a JSON string per line in, `ok` / `bad <message>` /
    `crash <exception>` per line out."""

    def __init__(self, jar: Path) -> None:
        self.proc = subprocess.Popen(
            ["java", "-Xss512k", "-cp", str(jar), "ibpilot.sim.ScenarioCheck"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def verdict(self, text: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(text).encode() + b"\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().decode()
        assert line.endswith("\n"), f"the scenario checker died (exit {self.proc.poll()})"
        return line.rstrip("\n")

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_TYPED = {
    str: ("user", "password", "totp_secret", "trading_mode", "lock_and_exit", "lock_exit_time", "paper_warning_api",
          "accept_incoming_title"),
    bool: ("paper_warning", "existing_session", "self_login", "tip_of_the_day", "connection_failed", "read_only_api",
           "localhost_only"),
    list: ("devices", "trusted_ips", "accept_incoming_buttons"),
    dict: ("crash_at", "hang_at", "unknown_popup"),
}


def scenario_must_fail(doc: Any) -> str | None:
    """Why a decoded scenario must be refused (a documented rule it breaks), or None when not sure."""
    if not isinstance(doc, dict):
        return "not a JSON object"
    for typ, keys in _TYPED.items():
        for k in keys:
            v = doc.get(k)
            if v is not None and not (isinstance(v, typ) and not (typ is not bool and isinstance(v, bool))):
                return f"{k} has the wrong type"
    if doc.get("trading_mode") not in (None, "live", "paper"):
        return "trading_mode"
    return None


def check_scenario(checker: ScenarioChecker, text: str) -> str:
    """Any text as a scenario file: accepted or `bad` with a message, never a crash; and a scenario that
    breaks a documented rule is refused."""
    verdict = checker.verdict(text)
    assert verdict == "ok" or verdict.startswith("bad "), f"scenario loader crashed: {verdict}"
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return verdict
    why = scenario_must_fail(doc)
    if why is not None:
        assert verdict.startswith("bad "), f"accepted a scenario where {why}: {text[:200]!r}"
    return verdict


def sim_jar() -> Path:
    from ibpilot.jars import jar_path

    return Path(jar_path("sim"))


def env_or(name: str, default: str) -> str:
    return os.environ.get(name, default)
