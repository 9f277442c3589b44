"""supervisord.conf from hostile settings: whatever `Settings.from_env` accepts renders to a file that
supervisord's own reader (`supervisor.options.ServerOptions.read_config`) reads back into exactly the
planned programs, argv, environment, users and paths: no injected section, option or argument."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from oracles import check_conf_env

TOKENS = [" ;", " #", ";", "#", "%", "%%", "%(here)s", "%(ENV_HOME)s", "'", '"', "\\", "\n", "\r", "\t",
          "[program:evil]", "\ncommand=evil", "=", ",", "$HOME", "`id`", " ", "a", "b", "é", "中", "\u2028",
          "\x0b", "\x0c", "\x85", "~", "..", "x" * 30]  # fmt: skip
hostile = st.lists(st.sampled_from(TOKENS) | st.text(max_size=3), max_size=8).map("".join)
path_part = hostile.map(lambda t: t.replace("/", "_").replace("\x00", "")).filter(lambda t: 0 < len(t.encode()) < 200)
optional = st.none() | hostile
dests = st.lists(st.sampled_from(["u@h", "user.x@host.example:2222", "a@[::1]", "b_c@10.0.0.1:22"]), min_size=1,
                 max_size=2).map(",".join)
rules = st.lists(st.fixed_dictionaries({"button": hostile.filter(str.strip)},
                                       optional={"title": hostile, "text": hostile}), max_size=2).map(json.dumps)


@st.composite
def environments(draw: st.DrawFn) -> dict[str, str]:
    env: dict[str, str] = {"RUN_DIR": draw(path_part), "TRADING_MODE": draw(st.sampled_from(["live", "paper", "both"])),
                           "DISPLAY_NUMBER": str(draw(st.integers(0, 999))),
                           "LOG_LEVEL": draw(st.sampled_from(["debug", "info"]))}
    for name in ("START_SCRIPTS", "X_SCRIPTS", "IBC_SCRIPTS", "NOVNC_WEB", "SSH_KNOWN_HOSTS", "SSH_IDENTITY_FILE",
                 "JAVA_OPTS", "SSH_OPTIONS", "TWOFA_DEVICE", "BYPASS_WARNING"):
        value = draw(optional)
        if value is not None:
            env[name] = value
    if draw(st.booleans()):
        env["DIALOG_RULES"] = draw(rules)
    if draw(st.booleans()):
        env["TWS_USERID"], env["TWS_PASSWORD"] = draw(hostile.filter(str.strip)), draw(hostile.filter(str.strip))
    puid = draw(st.sampled_from([None, "0", "65534", "54321"]))
    if puid is not None:
        env["PUID"] = puid
    if draw(st.booleans()):
        env["SUPERVISORD_UI_PORT"] = "9001"
        env["SUPERVISORD_UI_USER"] = draw(hostile.filter(str.strip))
        env["SUPERVISORD_UI_PASS"] = draw(hostile.filter(str.strip))
    if draw(st.booleans()):
        env["VNC_SERVER_PASSWORD"] = draw(hostile.filter(str.strip))
        if draw(st.booleans()):
            env["NOVNC_PORT"] = "6080"
    tunnel = draw(st.sampled_from(["no", "yes", "both"]))
    if tunnel != "no":
        env["SSH_TUNNEL"], env["SSH_USER_TUNNEL"] = tunnel, draw(dests)
        if draw(st.booleans()):
            env["SSH_PASSPHRASE"] = draw(hostile.filter(str.strip))
    return env


@given(environments(), st.booleans())
def test_rendered_conf_reads_back_as_planned(env: dict[str, str], as_root: bool) -> None:
    check_conf_env(env, as_root=as_root)


def test_found_run_dirs() -> None:
    """Found by the property above. `RUN_DIR=/x ;y` was cut to `/x` by supervisord's reader (` ;` and ` #`
    start an inline comment), moving its socket, log and pid file out of RUN_DIR: now refused by the
    settings. `RUN_DIR=/x%y`: supervisord expands stdout_logfile twice, so one `%%` was not enough and
    supervisord refused the file."""
    for rd in ("run ;x", "run #x", "run\t;x", "a\nb", "%", "%%", "%(here)s"):
        check_conf_env({"RUN_DIR": rd})
