"""Typed snapshots of the agent's windows and components (see docs/contracts.md, "Agent protocol").

These are plain, immutable values parsed from the agent's JSON, with the queries the controller's screen
recognisers need. Matching follows IBC's conventions: DFS pre-order over ``getComponents()``, "is a" by
the Swing superclass chain (``bases``), button/menu texts compared case-insensitively.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

Path: TypeAlias = tuple[int, ...]
WindowKind: TypeAlias = Literal["frame", "dialog", "window"]

_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def plain(text: str | None) -> str:
    """`text` without HTML markup (Swing labels often use ``<html>``), whitespace collapsed."""
    if not text:
        return ""
    if "<" in text and ">" in text:
        text = html.unescape(_TAG.sub(" ", re.sub(r"(?i)<br\s*/?>", "\n", text)))
    return _SPACE.sub(" ", text).strip()


def _same(a: str | None, b: str) -> bool:
    return a is not None and plain(a).casefold() == plain(b).casefold()


def _strs(v: Any) -> tuple[str, ...] | None:
    return None if v is None else tuple(str(x) for x in v)


@dataclass(frozen=True, slots=True)
class TreeNode:
    """One node of a JTree's model (its ``toString()``)."""

    text: str
    children: tuple[TreeNode, ...] = ()

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TreeNode:
        return cls(str(d.get("text", "")), tuple(cls.from_json(c) for c in d.get("children", ())))

    def child(self, text: str) -> TreeNode | None:
        return next((c for c in self.children if _same(c.text, text)), None)

    def has_path(self, nodes: Sequence[str]) -> bool:
        """Whether `nodes` (from below this node) exists, compared case-insensitively."""
        node: TreeNode | None = self
        for n in nodes:
            node = node.child(n) if node is not None else None
        return node is not None


@dataclass(frozen=True, slots=True)
class MenuNode:
    """A JMenu or JMenuItem of a JMenuBar."""

    text: str
    enabled: bool
    children: tuple[MenuNode, ...] = ()

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> MenuNode:
        return cls(
            str(d.get("text") or ""),
            bool(d.get("enabled", True)),
            tuple(cls.from_json(c) for c in d.get("children", ())),
        )

    def child(self, text: str) -> MenuNode | None:
        return next((c for c in self.children if _same(c.text, text)), None)


@dataclass(frozen=True, slots=True)
class Component:
    """A Swing/AWT component in a window snapshot. `path` addresses it in requests."""

    path: Path
    cls: str
    bases: tuple[str, ...]
    name: str | None = None
    text: str | None = None
    enabled: bool = True
    visible: bool = True
    showing: bool = True
    selected: bool | None = None
    editable: bool | None = None
    length: int | None = None
    items: tuple[str, ...] | None = None
    selected_index: int | None = None
    tree: TreeNode | None = None
    selection: tuple[str, ...] | None = None
    menus: tuple[MenuNode, ...] | None = None
    border_title: str | None = None
    children: tuple[Component, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    _KNOWN = frozenset(
        "path class bases name text enabled visible showing selected editable length items selected_index "
        "tree selection menus border_title children".split()
    )

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Component:
        tree = d.get("tree")
        menus = d.get("menus")
        return cls(
            path=tuple(int(i) for i in d.get("path", ())),
            cls=str(d.get("class", "")),
            bases=tuple(str(b) for b in d.get("bases", ())),
            name=d.get("name"),
            text=d.get("text"),
            enabled=bool(d.get("enabled", True)),
            visible=bool(d.get("visible", True)),
            showing=bool(d.get("showing", True)),
            selected=d.get("selected"),
            editable=d.get("editable"),
            length=d.get("length"),
            items=_strs(d.get("items")),
            selected_index=d.get("selected_index"),
            tree=TreeNode.from_json(tree) if isinstance(tree, Mapping) else None,
            selection=_strs(d.get("selection")),
            menus=tuple(MenuNode.from_json(m) for m in menus) if isinstance(menus, list) else None,
            border_title=d.get("border_title"),
            children=tuple(cls.from_json(c) for c in d.get("children", ())),
            extra={k: v for k, v in d.items() if k not in cls._KNOWN},
        )

    # ---- what it is -------------------------------------------------------------------------------
    @property
    def simple_name(self) -> str:
        return self.cls.rsplit(".", 1)[-1].rsplit("$", 1)[-1]

    def is_a(self, swing_class: str) -> bool:
        """``instanceof`` by simple name of a javax.swing/java.awt class: a JPasswordField is a JTextField."""
        return swing_class in self.bases or swing_class == self.simple_name

    @property
    def is_password(self) -> bool:
        return self.is_a("JPasswordField")

    @property
    def plain_text(self) -> str:
        """The text without HTML markup ('' when there is none)."""
        return plain(self.text)

    # ---- walking ----------------------------------------------------------------------------------
    def walk(self) -> Iterator[Component]:
        """This component and its descendants, depth-first pre-order (IBC's ComponentIterator order)."""
        stack: list[Component] = [self]
        while stack:
            c = stack.pop()
            yield c
            stack.extend(reversed(c.children))

    def descendants(self) -> Iterator[Component]:
        it = self.walk()
        next(it)
        return it

    def find_all(self, predicate: Callable[[Component], bool]) -> list[Component]:
        return [c for c in self.descendants() if predicate(c)]

    def find(self, predicate: Callable[[Component], bool]) -> Component | None:
        return next((c for c in self.descendants() if predicate(c)), None)

    def of_type(self, swing_class: str) -> list[Component]:
        return self.find_all(lambda c: c.is_a(swing_class))

    def at(self, path: Sequence[int]) -> Component | None:
        """The descendant at `path` relative to this component."""
        node: Component = self
        for i in path:
            if not 0 <= i < len(node.children):
                return None
            node = node.children[i]
        return node

    # ---- IBC-style queries ------------------------------------------------------------------------
    def buttons(self) -> list[Component]:
        """JButtons (not toggles), e.g. also the 'OK'/'Yes' of a JOptionPane."""
        return self.of_type("JButton")

    def toggles(self) -> list[Component]:
        """JToggleButtons, hence also JCheckBoxes and JRadioButtons."""
        return self.of_type("JToggleButton")

    def labels(self) -> list[Component]:
        return self.of_type("JLabel")

    def text_fields(self) -> list[Component]:
        """JTextFields in DFS order: JPasswordField and JFormattedTextField count, as in IBC's findTextField."""
        return self.of_type("JTextField")

    def button(self, text: str) -> Component | None:
        """The first JButton whose text equals `text` (case-insensitive, HTML ignored)."""
        return next((c for c in self.buttons() if _same(c.text, text)), None)

    def toggle(self, text: str) -> Component | None:
        return next((c for c in self.toggles() if _same(c.text, text)), None)

    def label_containing(self, text: str) -> Component | None:
        """The first JLabel whose text contains `text` (case-insensitive, HTML ignored)."""
        t = plain(text).casefold()
        return next((c for c in self.labels() if t in c.plain_text.casefold()), None)

    def text_containing(self, text: str, swing_class: str = "JTextComponent") -> Component | None:
        """The first component of `swing_class` (JTextArea, JTextPane, ...) whose text contains `text`."""
        t = plain(text).casefold()
        return next((c for c in self.of_type(swing_class) if t in c.plain_text.casefold()), None)

    def text_field(self, index: int) -> Component | None:
        """The `index`-th JTextField (0-based, DFS order)."""
        fields = self.text_fields()
        return fields[index] if 0 <= index < len(fields) else None

    def named(self, name: str) -> Component | None:
        """The first component whose ``getName()`` equals `name` (case-insensitive)."""
        return self.find(lambda c: c.name is not None and c.name.casefold() == name.casefold())

    def texts(self) -> list[str]:
        """Every non-empty plain text below this component, in DFS order (for logs and recognisers)."""
        return [t for c in self.descendants() if (t := c.plain_text)]


@dataclass(frozen=True, slots=True)
class Window:
    """A showing window. `handle` is stable for the window object's lifetime."""

    handle: str
    cls: str
    kind: WindowKind
    title: str | None
    modal: bool
    focused: bool
    bounds: tuple[int, int, int, int]
    root: Component

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Window:
        kind = d.get("kind")
        b = [int(x) for x in d.get("bounds") or ()] + [0, 0, 0, 0]
        return cls(
            handle=str(d["handle"]),
            cls=str(d.get("class", "")),
            kind=kind if kind in ("frame", "dialog", "window") else "window",
            title=d.get("title"),
            modal=bool(d.get("modal", False)),
            focused=bool(d.get("focused", False)),
            bounds=(b[0], b[1], b[2], b[3]),
            root=Component.from_json(d.get("root") or {"class": d.get("class", "")}),
        )

    @property
    def is_frame(self) -> bool:
        """A JFrame (only JFrame/JDialog titles count in IBC's title matching)."""
        return self.root.is_a("JFrame")

    @property
    def is_dialog(self) -> bool:
        return self.root.is_a("JDialog")

    def title_contains(self, text: str) -> bool:
        return self.title is not None and text.casefold() in self.title.casefold()

    def title_equals(self, text: str) -> bool:
        return self.title is not None and self.title.casefold() == text.casefold()

    def walk(self) -> Iterator[Component]:
        """Every component of the window (not the window's own root node), DFS pre-order."""
        return self.root.descendants()

    def find(self, predicate: Callable[[Component], bool]) -> Component | None:
        return self.root.find(predicate)

    def find_all(self, predicate: Callable[[Component], bool]) -> list[Component]:
        return self.root.find_all(predicate)

    def of_type(self, swing_class: str) -> list[Component]:
        return self.root.of_type(swing_class)

    def at(self, path: Sequence[int]) -> Component | None:
        return self.root.at(path)

    def buttons(self) -> list[Component]:
        return self.root.buttons()

    def toggles(self) -> list[Component]:
        return self.root.toggles()

    def labels(self) -> list[Component]:
        return self.root.labels()

    def text_fields(self) -> list[Component]:
        return self.root.text_fields()

    def button(self, text: str) -> Component | None:
        return self.root.button(text)

    def toggle(self, text: str) -> Component | None:
        return self.root.toggle(text)

    def label_containing(self, text: str) -> Component | None:
        return self.root.label_containing(text)

    def text_containing(self, text: str, swing_class: str = "JTextComponent") -> Component | None:
        return self.root.text_containing(text, swing_class)

    def text_field(self, index: int) -> Component | None:
        return self.root.text_field(index)

    def named(self, name: str) -> Component | None:
        return self.root.named(name)

    def texts(self) -> list[str]:
        return self.root.texts()

    def menus(self) -> list[MenuNode]:
        """The top-level menus of every JMenuBar in the window."""
        return [m for bar in self.of_type("JMenuBar") for m in (bar.menus or ())]

    def menu_item(self, items: Sequence[str]) -> MenuNode | None:
        """The menu item at `items` (e.g. ``["Help", "About"]``), matched case-insensitively."""
        for top in self.menus():
            node: MenuNode | None = top if items and _same(top.text, items[0]) else None
            for name in items[1:]:
                node = node.child(name) if node is not None else None
            if node is not None:
                return node
        return None

    def has_menu(self, items: Sequence[str]) -> bool:
        return self.menu_item(items) is not None

    def describe(self) -> str:
        """A one-line summary for logs: kind, handle, title and its first texts."""
        texts = "; ".join(self.texts()[:6])
        return f"{self.kind} {self.handle} {self.title or '** no title **'!r}: {texts}"


@dataclass(frozen=True, slots=True)
class WindowOpened:
    window: Window


@dataclass(frozen=True, slots=True)
class WindowChanged:
    window: Window


@dataclass(frozen=True, slots=True)
class WindowClosed:
    handle: str
    title: str | None
    cls: str


AgentEvent: TypeAlias = WindowOpened | WindowChanged | WindowClosed


def parse_event(d: Mapping[str, Any]) -> AgentEvent | None:
    """An event line's object as a typed event; None for an event this version does not know."""
    name = d.get("event")
    if name == "window_opened":
        return WindowOpened(Window.from_json(d["window"]))
    if name == "window_changed":
        return WindowChanged(Window.from_json(d["window"]))
    if name == "window_closed":
        return WindowClosed(str(d["handle"]), d.get("title"), str(d.get("class", "")))
    return None
