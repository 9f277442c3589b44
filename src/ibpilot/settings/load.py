"""Reading the environment: each setting's value among its names (aliases, IBC keys, `*_FILE`), parsed
by its kind, then the adjustments that span settings (BYPASS_WARNING=yes, `~` in paths).

Nothing here knows a particular setting except `_post_process`; the cross-setting rules are in `checks`.
"""

from __future__ import annotations

import hmac
import os
import stat
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ibpilot.settings.declare import Var
from ibpilot.settings.kinds import FALSE_WORDS, PATH, TRUE_WORDS, Invalid
from ibpilot.settings.show import echo

MAX_FILE_BYTES = 4096  # a `*_FILE` holds one credential or token
_LIMIT = f"the limit of {MAX_FILE_BYTES} bytes (4 KiB, plenty for a credential or token)"


class FileTooLarge(Exception):
    """A `*_FILE` beyond MAX_FILE_BYTES; `size` in bytes, or None when it was not read to its end."""

    def __init__(self, size: int | None) -> None:
        super().__init__(size)
        self.size = size


@dataclass
class Loaded:
    """The parsed values of every declaration (defaults where unset or invalid) and what went wrong."""

    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)  # attributes whose value was refused


Found = tuple[str, str, str]  # (name used, raw value, source)


def read_values(decls: Sequence[Var], env: Mapping[str, str], read_file: Callable[[str], str] | None) -> Loaded:
    """Look up and parse every declared variable in `env`; errors are collected, never raised.

    First every value is found (so that every secret's value is known), then checked and parsed: no
    message repeats a value that equals or contains a secret.
    """
    reader = read_file or read_text
    errors: dict[str, list[str]] = {v.attr: [] for v in decls}
    found = {v.attr: _candidates(v, env, reader, errors[v.attr]) for v in decls}
    secrets = {raw for v in decls if v.secret for _, raw, _ in found[v.attr]}
    out = Loaded()
    for v in decls:
        first = _agreed(v, found[v.attr], errors[v.attr], secrets)
        if first is None:
            out.values[v.attr] = v.default
            out.sources[v.attr] = "default"
        else:
            used, raw, source = first
            out.sources[v.attr] = source
            try:
                out.values[v.attr] = v.kind.parse(raw)
            except Invalid as e:
                detail = f"{echo(e.item, secrets)} {e}" if e.item is not None else str(e)
                shown = "(hidden)" if v.secret else echo(raw.strip(), secrets)
                errors[v.attr].append(f"{display_name(v, used)}={shown}: {detail}; expected {v.kind.expected}")
                out.values[v.attr] = v.default
        if errors[v.attr]:
            out.failed.add(v.attr)
            out.errors.extend(errors[v.attr])
    _post_process(decls, out.values, out.sources, env.get("HOME", "").strip())
    return out


def read_text(path: str) -> str:
    """The text of a `*_FILE`, read no further than the limit allows (`FileTooLarge` beyond it)."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        if stat.S_ISREG(st.st_mode) and st.st_size > MAX_FILE_BYTES + 2:  # + 2: a trailing CR LF
            raise FileTooLarge(st.st_size)
        data = f.read(MAX_FILE_BYTES + 3)
    if len(data) > MAX_FILE_BYTES + 2:
        raise FileTooLarge(None)
    return data.decode("utf-8")


def _strip_newline(s: str) -> str:
    if s.endswith("\r\n"):
        return s[:-2]
    if s.endswith("\n"):
        return s[:-1]
    return s


def display_name(v: Var, used: str) -> str:
    """`NAME`, or `NAME (given as ALIAS)` when the value came from another of its names."""
    return v.name if used == v.name else f"{v.name} (given as {used})"


def _read_file(name: str, fpath: str, read_file: Callable[[str], str], errors: list[str]) -> str | None:
    """The content of `name`=`fpath` (one trailing newline stripped), or None with the error added."""
    where = f"{name}={echo(fpath)}"
    try:
        content = _strip_newline(read_file(fpath))
        size = len(content.encode())
        if size > MAX_FILE_BYTES:
            raise FileTooLarge(size)
    except OSError as e:
        errors.append(f"{where}: cannot read the file ({e.strerror or e})")
        return None
    except UnicodeDecodeError:
        errors.append(f"{where}: the file is not UTF-8 text")
        return None
    except FileTooLarge as e:
        held = f"{e.size} bytes, more than" if e.size is not None else "more than"
        errors.append(f"{where}: the file holds {held} {_LIMIT}")
        return None
    if content.strip() == "":
        errors.append(f"{where}: the file is empty")
        return None
    return content


def _candidates(v: Var, env: Mapping[str, str], read_file: Callable[[str], str], errors: list[str]) -> list[Found]:
    """Every value given for `v` among its names and `*_FILE`s, in the order of its names."""
    found: list[Found] = []
    file_names = set(v.file_names())
    for n in v.all_names():
        raw = env.get(n)
        has = raw is not None and raw.strip() != ""
        if has and raw is not None:
            t = v.transforms.get(n)
            value: str | None = t(raw) if t else raw
            if value is not None and v.file_ok and len(value.encode()) > MAX_FILE_BYTES:
                # the same bound as its *_FILE (`run` hands it to the programs in a file); a secret's length: never
                size = "more than" if v.secret else f"{len(value.encode())} bytes, more than"
                errors.append(f"{n}={'(hidden)' if v.secret else echo(value)}: {size} {_LIMIT}")
            elif value is not None:
                found.append((n, value, f"env {n}" if n == v.name else f"alias {n}"))
        if n in file_names:
            fpath = env.get(f"{n}_FILE", "").strip()
            if fpath:
                if has:
                    errors.append(f"{n} and {n}_FILE are both set; set only one")
                    continue
                content = _read_file(f"{n}_FILE", fpath, read_file, errors)
                if content is not None:
                    found.append((f"{n}_FILE", content, f"file {n}_FILE ({fpath})"))
    return found


def _agreed(v: Var, found: list[Found], errors: list[str], secrets: Collection[str]) -> Found | None:
    """The first value found, when all agree (otherwise an error naming them is added)."""
    if not found:
        return None
    first = found[0]

    def norm(s: str) -> bytes:
        return (s if v.secret else s.strip()).encode()

    differing = [f for f in found[1:] if not hmac.compare_digest(norm(f[1]), norm(first[1]))]
    if differing:
        names = ", ".join(n for n, _, _ in [first, *differing])
        if v.secret:
            errors.append(f"{v.name}: {names} are all set, to different values; set only one")
        else:
            vals = ", ".join(f"{n}={echo(val.strip(), secrets)}" for n, val, _ in [first, *differing])
            errors.append(f"{v.name}: {vals} disagree; set only one")
    return first


def _post_process(decls: Sequence[Var], values: dict[str, Any], sources: dict[str, str], home: str) -> None:
    # gnzsnz's BYPASS_WARNING=yes|no sets all nine precautions.
    labels: tuple[str, ...] = values["bypass_warning"]
    if len(labels) == 1 and labels[0].lower() in TRUE_WORDS | FALSE_WORDS:
        flag = labels[0].lower() in TRUE_WORDS
        values["bypass_warning"] = ()
        for v in decls:
            if v.attr.startswith("bypass_") and v.attr != "bypass_warning" and values[v.attr] is None:
                values[v.attr] = flag
                sources[v.attr] = sources["bypass_warning"]
    # Paths: `~` is $HOME; hook dirs are relative to $HOME (as gnzsnz).
    for v in decls:
        if v.kind is PATH and isinstance(values[v.attr], str):
            p: str = values[v.attr]
            if home and (p == "~" or p.startswith("~/")):
                p = home.rstrip("/") + p[1:]
            if v.attr in {"start_scripts", "x_scripts", "ibc_scripts"} and home and not p.startswith(("/", "~")):
                p = f"{home.rstrip('/')}/{p}"
            values[v.attr] = p


def process_environ() -> dict[str, str]:
    """A copy of the process environment."""
    return dict(os.environ)


def parse_env_file(text: str) -> dict[str, str]:
    """Parse a Docker-style `.env` file: `NAME=value`, `#` comments, optional `export ` and quotes."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("export "):
            s = s[7:].lstrip()
        name, sep, value = s.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[name.strip()] = value
    return out


