"""The only place the environment is read.

Every setting is declared exactly once, as a field of `Settings` built with `var(...)`: its canonical
environment name, its aliases (IBC's config.ini keys, the gnzsnz/ib-gateway-docker, DankLab and
ibg-controller names), its type, default, group and help text. `check-config`, docs/configuration.md
and docker/.env.example are generated from these declarations (see `ibpilot.config_cli`).

Rules:
- An empty value counts as unset (compose files pass `NAME=` for unset variables).
- Any name of a secret (and of the user IDs) is also accepted as `NAME_FILE`: the file is read and one
  trailing newline is stripped. `NAME` and `NAME_FILE` both set is an error.
- Aliases: when several names of one setting are set they must agree, otherwise it is an error that
  names them all. The canonical name is reported as the source when they agree.
- IBC keys (`ReadOnlyApi`, ...) are accepted as they are and also with extrange's `IBC_` prefix.
- `Settings.from_env(env)` reports every problem at once (`SettingsError.errors`); it never prints
  a secret's value, and secrets are `Secret` objects that need an explicit `.reveal()`.

Modules, each importing only those above it:
- `values`   small value types: Secret, DialogRule, WeeklyTime, Credentials, SettingsError
- `kinds`    parsers of raw strings (`Kind`: STR, BOOL, PORT, TIME, ...)
- `declare`  `Var` / `var(...)`: how one environment variable is declared; the doc groups
- `show`     values as people and JSON read them (check-config's table)
- `load`     reading the environment: aliases, `*_FILE`, parsing, `.env` files
- `checks`   rules across settings
- `system`   what the settings need from this machine (the Gateway install): `system_errors`
- `schema`   the `Settings` dataclass: every declaration, per-mode helpers, `from_env`
This package re-exports the names the rest of ibpilot uses: import from `ibpilot.settings`.
"""

from ibpilot.settings.declare import GROUPS, Var, var
from ibpilot.settings.kinds import ARGS, BOOL, DURATION, HOST, INT, LIST, PATH, PORT, PORT0, SECRET, STR, TIME, Kind
from ibpilot.settings.load import parse_env_file, process_environ
from ibpilot.settings.schema import (
    DEFAULT_API_PORTS,
    DEFAULT_SOCAT_PORTS,
    VARS,
    VARS_BY_ATTR,
    VARS_BY_NAME,
    Settings,
    TradingMode,
    all_env_names,
)
from ibpilot.settings.show import echo, format_value, ibc_time, secrets_of, shorten
from ibpilot.settings.system import system_errors
from ibpilot.settings.values import Credentials, DialogRule, Secret, SettingsError, WeeklyTime

__all__ = [
    "ARGS",
    "BOOL",
    "DEFAULT_API_PORTS",
    "DEFAULT_SOCAT_PORTS",
    "DURATION",
    "GROUPS",
    "HOST",
    "INT",
    "LIST",
    "PATH",
    "PORT",
    "PORT0",
    "SECRET",
    "STR",
    "TIME",
    "VARS",
    "VARS_BY_ATTR",
    "VARS_BY_NAME",
    "Credentials",
    "DialogRule",
    "Kind",
    "Secret",
    "Settings",
    "SettingsError",
    "TradingMode",
    "Var",
    "WeeklyTime",
    "all_env_names",
    "echo",
    "format_value",
    "ibc_time",
    "parse_env_file",
    "process_environ",
    "secrets_of",
    "shorten",
    "system_errors",
    "var",
]
