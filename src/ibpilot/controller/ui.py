"""IBC's matching rules (gateway-ui.md §2.1) on top of the agent's snapshot model.

Components are searched depth-first, pre-order, from the window's children, whether visible or not;
texts compare case-insensitively (equality for buttons and toggles, substring for labels and text areas);
type tests follow `instanceof` through the snapshot's `bases` (a JPasswordField is a JTextField).
"""

from __future__ import annotations

from collections.abc import Sequence

from ibpilot.agent.model import Component, Window, plain


def first_button(win: Window, texts: Sequence[str]) -> Component | None:
    """The first of `texts` (in that order of preference) that names a JButton of the window."""
    for t in texts:
        b = win.button(t)
        if b is not None:
            return b
    return None


def has_text(win: Window, text: str) -> bool:
    """A label or a text area / pane containing `text` (the places IB puts a dialog's message)."""
    return (
        win.label_containing(text) is not None
        or win.text_containing(text, "JTextArea") is not None
        or win.text_containing(text, "JTextPane") is not None
    )


def checkbox(win: Window, text: str) -> Component | None:
    t = plain(text).casefold()
    return next((c for c in win.of_type("JCheckBox") if c.plain_text.casefold() == t), None)


def ancestor(win: Window, comp: Component, levels: int) -> Component | None:
    """The ancestor `levels` up from `comp` (IBC's "the label's parent's parent")."""
    if levels > len(comp.path):
        return None
    return win.at(comp.path[: len(comp.path) - levels]) if levels < len(comp.path) else win.root


def structure(win: Window) -> str:
    """An indented dump of the whole component tree (logged once for a window no rule knows)."""
    lines = [f"{win.kind} {win.title or '** no title **'!r} ({win.cls})"]

    def rec(c: Component, depth: int) -> None:
        extra = [f"text={c.text!r}"] if c.text and not c.is_password else []
        if c.name:
            extra.append(f"name={c.name!r}")
        if c.items:
            extra.append(f"items={list(c.items)!r}")
        if not c.enabled:
            extra.append("disabled")
        lines.append("  " * depth + f"{c.simple_name} {list(c.path)} " + " ".join(extra))
        for ch in c.children:
            rec(ch, depth + 1)

    for ch in win.root.children:
        rec(ch, 1)
    return "\n".join(lines)
