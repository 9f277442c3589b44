"""Environment names that are not declared but look like ours (`TWS_USERNAME` for `TWS_USERID`).

Read-only: takes the environment as a mapping, returns warnings that name the variable and never its value
(it could be a secret). Unrelated variables (PATH, HOME, SSH_AUTH_SOCK, ...) are not reported: a name is
reported when it is close to a declared name or alias (case-insensitively), more loosely when it shares the
first word of one (`TWS_`, `IB_`, `IBC_`, `VNC_`, `SSH_`, `HEALTH_`, `COMMAND_`, ...).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from ibpilot.settings.schema import VARS, all_env_names

CLOSE = 0.85  # any name this close to one of ours is a likely typo
FAMILY_CLOSE = 0.6  # a name of one of our prefix families this close

# Set by the system, a shell, ssh, Java or ibpilot's own plumbing: never reported.
SYSTEM = frozenset({
    "DISPLAY", "HOME", "PATH", "USER", "LOGNAME", "SHELL", "TERM", "PWD", "OLDPWD", "HOSTNAME", "LANG",
    "SSH_AUTH_SOCK", "SSH_AGENT_PID", "SSH_CLIENT", "SSH_CONNECTION", "SSH_TTY", "SSH_ASKPASS",
    "SSH_ASKPASS_REQUIRE", "JAVA_HOME", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS",
    "IBPILOT_SIM_SCENARIO", "IBPILOT_SIM_EVENTS",
})


def _canonical() -> dict[str, str]:
    """Every accepted name (upper-cased) -> its canonical variable."""
    out: dict[str, str] = {}
    for v in VARS:
        for n in v.all_names():
            out[n.upper()] = v.name
        for n in v.file_names():
            out[f"{n}_FILE".upper()] = v.name
    return out


def _families(names: Iterable[str]) -> frozenset[str]:
    return frozenset(n.split("_", 1)[0] for n in names if "_" in n.strip("_"))


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """A warning for each name in `env` that is not ours but looks like one of ours."""
    known = set(all_env_names())
    canonical = _canonical()
    families = _families(canonical)
    upper = sorted(canonical)
    warnings = []
    for name in sorted(env):
        if name in known or name in SYSTEM or name.upper().startswith("LC_"):
            continue
        u = name.upper()
        if u.endswith("_FILE") and u[:-5] in canonical and u not in canonical:
            warnings.append(f"unknown variable {name}: {canonical[u[:-5]]} cannot be read from a file; set it "
                            "directly")
            continue
        if u in canonical:  # another spelling of a name we read (names are case-sensitive)
            warnings.append(f"unknown variable {name}: names are case-sensitive; did you mean {_named(u, canonical)}?")
            continue
        family = u.split("_", 1)[0] if "_" in u.strip("_") else None
        match: list[str] = []
        if family in families:  # first among the names of its own family, then among all
            same = [n for n in upper if n.split("_", 1)[0] == family]
            match = difflib.get_close_matches(u, same, n=1, cutoff=FAMILY_CLOSE)
        match = match or difflib.get_close_matches(u, upper, n=1, cutoff=CLOSE)
        if match:
            warnings.append(f"unknown variable {name}: did you mean {_named(match[0], canonical)}?")
    return warnings


def _named(upper_name: str, canonical: Mapping[str, str]) -> str:
    """The declared spelling of `upper_name`, with its canonical variable when it is an alias."""
    target = canonical[upper_name]
    spelled = next((n for v in VARS for n in v.all_names() if n.upper() == upper_name), None)
    if spelled is None:  # a NAME_FILE
        return f"{target}_FILE" if upper_name == f"{target}_FILE".upper() else upper_name
    return spelled if spelled == target else f"{spelled} (an alias of {target})"
