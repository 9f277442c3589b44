"""How a setting is declared: `Var` (one environment variable) and `var(...)`, the field specifier of
`Settings` that attaches a `Var` to a dataclass field; the groups of the docs; the collection of all
declarations from the dataclass and the check that no name is declared twice."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ibpilot.settings.kinds import Kind

GROUPS: tuple[tuple[str, str], ...] = (
    ("credentials", "Credentials and trading mode"),
    ("gateway", "Gateway / TWS installation and JVM"),
    ("api", "API settings (applied in Configure > Settings > API)"),
    ("2fa", "Second factor (2FA)"),
    ("dialogs", "Dialogs and sessions"),
    ("restart", "Restart, log-off and shutdown"),
    ("display", "Display and VNC"),
    ("socat", "Networking: socat port forwarding"),
    ("ssh", "Networking: SSH reverse tunnel"),
    ("supervisord", "supervisord web UI"),
    ("operations", "Operations: command server, health, alerts, logs"),
    ("container", "Container, user and hook scripts"),
    ("internal", "Internal (set by ibpilot itself)"),
)


@dataclass(frozen=True)
class Var:
    """One environment variable's declaration."""

    name: str
    attr: str
    kind: Kind
    default: Any
    group: str
    help: str
    aliases: tuple[str, ...] = ()
    secret: bool = False
    file_ok: bool = False
    default_doc: str | None = None
    example: str | None = None  # uncommented in .env.example with this value
    transforms: Mapping[str, Callable[[str], str | None]] = field(default_factory=dict)

    def all_names(self) -> tuple[str, ...]:
        """Canonical name, aliases, and the `IBC_<Key>` spelling of each IBC key alias."""
        extra = tuple(f"IBC_{a}" for a in self.aliases if is_ibc_key(a))
        return (self.name, *self.aliases, *extra)

    def file_names(self) -> tuple[str, ...]:
        return tuple(n for n in (self.name, *self.aliases) if not is_ibc_key(n)) if self.file_ok else ()


def is_ibc_key(name: str) -> bool:
    return "_" not in name and any(c.islower() for c in name)


def var(
    name: str,
    kind: Kind,
    default: Any = None,
    *,
    group: str,
    help: str,
    aliases: Sequence[str] = (),
    secret: bool = False,
    file_ok: bool | None = None,
    default_doc: str | None = None,
    example: str | None = None,
    transforms: Mapping[str, Callable[[str], str | None]] | None = None,
) -> Any:
    """Declare a field of `Settings` bound to an environment variable."""
    decl = Var(
        name=name,
        attr="",
        kind=kind,
        default=default,
        group=group,
        help=help,
        aliases=tuple(aliases),
        secret=secret,
        file_ok=secret if file_ok is None else file_ok,
        default_doc=default_doc,
        example=example,
        transforms=dict(transforms or {}),
    )
    return field(default=default, metadata={"var": decl})



def collect_vars(cls: type) -> tuple[Var, ...]:
    """The `Var` of every field of the dataclass `cls` declared with `var(...)`, with its attribute name."""
    out = []
    for f in dataclasses.fields(cls):
        decl = f.metadata.get("var")
        if isinstance(decl, Var):
            out.append(dataclasses.replace(decl, attr=f.name))
    return tuple(out)


def check_declarations(decls: Sequence[Var]) -> None:
    """Every group is known and no environment name belongs to two settings (a programming error)."""
    names: dict[str, str] = {}
    for v in decls:
        assert v.group in dict(GROUPS), f"{v.name}: unknown group {v.group}"
        for n in (*v.all_names(), *(f"{x}_FILE" for x in v.file_names())):
            assert n not in names, f"{n} is declared by both {names[n]} and {v.name}"
            names[n] = v.name
