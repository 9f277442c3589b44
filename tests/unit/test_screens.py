"""Screen recognition and the controller's queries, on window snapshots recorded from the simulated
Gateway (scripts/record-snapshots.py). Pure: no JVM, no display."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ibpilot.agent.model import Window
from ibpilot.controller import api_settings
from ibpilot.controller.config import PRECAUTIONS
from ibpilot.controller.flows.notices import lock_wait
from ibpilot.controller.second_factor import choose_device
from ibpilot.controller.table import SCREENS, recognise
from ibpilot.controller.ui import ancestor, checkbox, first_button, has_text, structure

SNAPS = Path(__file__).parent / "snapshots"
FILES = sorted(SNAPS.glob("*/*.json"))

BY_TITLE = {
    "Loading...": "main_window_gateway",
    "Connecting to server...": "progress",
    "Authenticating...": "progress",
    "Downloading settings from server": "progress",
    "Starting application...": "splash",
    "Second Factor Authentication": "second_factor",
    "Warning": "paper_warning",
    "Existing session detected": "existing_session",
    "Exit": "exit_confirm",
    "Gateway": "gateway_dialog",
    "Password Notice": "password_notice",
    "Tip of the Day": "tip_of_the_day",
    "Login failed": "login_failed",
    "Re-login is required": "relogin",
    "Login": "login_tws",
    "IBKR Trader Workstation": "main_window_tws",
}


def load(rel: str) -> Window:
    return Window.from_json(json.loads((SNAPS / rel).read_text()))


def expected(w: Window) -> str:
    title = w.title or ""
    if title.endswith("Trader Workstation Configuration"):
        return "config_dialog"
    if title == "IBKR Gateway":
        return "login_gateway" if first_button(w, ("Log In", "Paper Log In")) else "main_window_gateway"
    if title == "Login" and has_text(w, "Second Factor Authentication"):
        return "second_factor_in_frame"  # TWS 1016+ (gateway-ui.md §2.3)
    return BY_TITLE[title]


def test_snapshots_were_recorded() -> None:
    assert len(FILES) >= 40
    titles = {load(str(f.relative_to(SNAPS))).title for f in FILES}
    assert set(BY_TITLE) <= titles | {None}


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_recorded_window_is_recognised_as_what_it_is(path: Path) -> None:
    w = Window.from_json(json.loads(path.read_text()))
    screen = recognise(w)
    assert screen is not None, structure(w)
    assert screen.name == expected(w)


def test_screen_names_are_unique() -> None:
    names = [s.name for s in SCREENS]
    assert len(names) == len(set(names))


def test_login_frame_fields_in_ibc_order() -> None:
    w = load("gateway-paper/window_opened-IBKR-Gateway.json")
    fields = w.text_fields()
    assert fields[0].is_a("JTextField") and not fields[0].is_password
    assert fields[1].is_password and fields[1].text is None  # the agent never sends password text
    assert w.label_containing("Trading Mode") is not None
    assert w.toggle("Paper Trading") is not None and w.toggle("IB API") is not None


def test_fix_login_frame_has_the_fix_login_first_then_the_market_data_login() -> None:
    w = load("gateway-fix/window_changed-IBKR-Gateway.json")  # after "FIX CTCI" was clicked
    assert need_selected(w, "FIX CTCI") and not need_selected(w, "IB API")
    fields = w.text_fields()
    # IBC's setFields with FIX=yes: 0 FIX user, 1 FIX password, 2 API user, 3 API password (gateway-ui.md §2.3)
    assert [f.is_password for f in fields] == [False, True, False, True]
    assert recognise(w) is not None and recognise(w).name == "login_gateway"  # type: ignore[union-attr]
    before = load("gateway-fix/window_opened-IBKR-Gateway.json")  # IB API selected: no FIX rows at all
    assert [f.is_password for f in before.text_fields()] == [False, True]


def need_selected(w: Window, toggle: str) -> bool:
    t = w.toggle(toggle)
    assert t is not None, toggle
    return bool(t.selected)


def test_tws_1016_login_frame_morphs_into_the_second_factor() -> None:
    w = load("tws-live-2fa-in-frame/window_changed-Login~2.json")
    assert w.is_frame and w.title == "Login" and w.label_containing("SECOND FACTOR AUTHENTICATION") is not None
    assert recognise(w) is not None and recognise(w).name == "second_factor_in_frame"  # type: ignore[union-attr]
    assert first_button(w, ("Log In", "Paper Log In")) is None
    assert len(w.text_fields()) == 1 and first_button(w, ("OK",)) and first_button(w, ("Enter Read Only",))
    login = load("tws-live-2fa-in-frame/window_opened-Login.json")
    assert recognise(login).name == "login_tws"  # type: ignore[union-attr]
    assert login.label_containing("login") is not None  # IBC polls only a frame with such a label


def test_config_dialog_controls_are_found_as_ibc_finds_them() -> None:
    w = load("gateway-paper/window_opened-DU1234567-Trader-Workstation-Configurati.json")
    assert w.named("Socket port") is not None
    port = w.named("Socket port").of_type("JTextField")[0]  # type: ignore[union-attr]
    assert (port.text or "").isdigit()
    assert w.named("Master API client ID") is not None
    assert checkbox(w, "Read-Only API") is not None
    tree = w.of_type("JTree")[0]
    assert tree.tree is not None and tree.tree.has_path(["API", "Settings"]) and tree.tree.has_path(["Lock and Exit"])


def _section(rel_dir: str, has: str) -> Window:
    for f in sorted((SNAPS / rel_dir).glob("*Configurati*.json")):
        w = Window.from_json(json.loads(f.read_text()))
        if has_text(w, has) or checkbox(w, has) is not None:
            return w
    raise AssertionError(f"no recorded configuration panel with {has!r}")


def test_precautions_panel_has_all_nine_checkboxes() -> None:
    w = _section("gateway-paper", PRECAUTIONS["bypass_bond_warning"])
    missing = [t for t in PRECAUTIONS.values() if checkbox(w, t) is None]
    assert missing == []


def test_lock_and_exit_is_read_through_the_labels_grandparent() -> None:
    w = _section("gateway-paper", "Set Auto Restart Time (HH:MM)")
    label = w.label_containing("Set Auto Restart Time (HH:MM)")
    assert label is not None
    box = ancestor(w, label, 2)
    assert box is not None and box.of_type("JTextField")
    radios = {r.plain_text for r in box.of_type("JRadioButton")}
    assert {"AM", "PM", "Auto logoff", "Auto restart"} <= radios
    hhmm, ampm, action = api_settings._read_lock(w)
    assert hhmm.count(":") == 1 and ampm in ("AM", "PM") and action in ("Auto restart", "Auto logoff")


def test_device_chooser_offers_a_list_with_leading_spaces() -> None:
    w = load("gateway-live-2fa/window_opened-Second-Factor-Authentication.json")
    assert has_text(w, "Select second factor device")
    items = list(w.of_type("JList")[0].items or ())
    assert all(i.startswith(" ") for i in items)
    assert choose_device(items, "Mobile Authenticator app", True) is not None


@pytest.mark.parametrize(
    ("value", "want"),
    [("11:30 PM", ("11:30", "PM", "Auto restart")), ("23:45", ("11:45", "PM", "Auto restart")),
     ("00:05", ("12:05", "AM", "Auto restart")), ("7:00 am", ("07:00", "AM", "Auto restart"))],
)
def test_lock_and_exit_time_forms(value: str, want: tuple[str, str, str]) -> None:
    assert api_settings._lock_and_exit(value, None) == want
    assert api_settings._lock_and_exit(None, value) == (*want[:2], "Auto logoff")
    assert api_settings._lock_and_exit(value, "01:00") == want  # restart wins (as IBC)


# --- IBC's remaining handlers (gateway-ui.md §2.2), on windows built with the component types IBC looks for ----
_BASES = {
    "JFrame": ["JFrame", "Frame", "Window", "Container", "Component"],
    "JDialog": ["JDialog", "Dialog", "Window", "Container", "Component"],
    "JLabel": ["JLabel", "JComponent", "Container", "Component"],
    "JTextArea": ["JTextArea", "JTextComponent", "JComponent", "Container", "Component"],
    "JTextPane": ["JTextPane", "JEditorPane", "JTextComponent", "JComponent", "Container", "Component"],
    "JButton": ["JButton", "AbstractButton", "JComponent", "Container", "Component"],
    "JCheckBox": ["JCheckBox", "JToggleButton", "AbstractButton", "JComponent", "Container", "Component"],
}


def synth(kind: str, title: str, *parts: tuple[str, str]) -> Window:
    """A window whose content pane holds `parts` ((type, text), ...) in order, as the agent sends it."""
    children = [{"class": f"javax.swing.{t}", "bases": _BASES[t], "text": text, "path": [0, i]}
                for i, (t, text) in enumerate(parts)]
    root_cls = "JFrame" if kind == "frame" else "JDialog"
    return Window.from_json({"handle": "w1", "kind": kind, "title": title, "class": f"javax.swing.{root_cls}",
                             "root": {"class": f"javax.swing.{root_cls}", "bases": _BASES[root_cls],
                                      "children": [{"class": "javax.swing.JPanel", "bases": ["JPanel"],
                                                    "path": [0], "children": children}]}})


@pytest.mark.parametrize(
    ("window", "screen"),
    [
        (synth("dialog", "Order Preview - BUY", ("JTextPane", "this is blind trading"),
               ("JButton", "Override and Transmit")), "blind_trading"),
        (synth("dialog", "Warning", ("JLabel", "(blind trading)"),
               ("JLabel", "Are you sure you want to submit this order?"), ("JButton", "Yes")), "blind_trading_confirm"),
        (synth("dialog", "Newer Version", ("JLabel", "A Newer Version of IB Gateway is available"),
               ("JButton", "OK")), "newer_version"),
        (synth("frame", "Newer Version", ("JLabel", "A NEWER VERSION is available"), ("JButton", "OK")),
         "newer_version"),
        (synth("dialog", "Login", ("JLabel", "The system is not currently available."), ("JButton", "OK")),
         "not_currently_available"),
        (synth("frame", "NSE Compliance", ("JLabel", "NSE")), "nse_compliance"),
        (synth("frame", "Trades", ("JCheckBox", "Sun"), ("JCheckBox", "All")), "trades"),
        (synth("dialog", "Trader Workstation", ("JLabel", "Do you want to apply the new socket port setting?"),
               ("JButton", "Yes")), "api_port_change"),
        (synth("dialog", "Trading Login Handoff", ("JButton", "Disconnect Other Session")), "trading_handoff"),
        (synth("dialog", "Login", ("JTextArea", "Too many failed login attempts. Please wait 53 seconds before "
                                                "attempting to re-login again."), ("JButton", "OK")),
         "too_many_attempts"),
        (synth("dialog", "Shutdown progress", ("JLabel", "Shutting down")), "shutdown_progress"),
        (synth("dialog", "Bid, Ask and Last Size Display Update",
               ("JTextPane", "Bid, Ask and Last Size Display Update ..."),
               ("JCheckBox", "Don't display this message again."),
               ("JButton", "I understand - display market data")), "bid_ask_update"),
        (synth("dialog", "Login Error", ("JTextArea", "Login failed - Server disconnected, please try again"),
               ("JButton", "OK")), "login_error"),
        (synth("dialog", "Cryptocurrency order confirmation", ("JButton", "Transmit"), ("JButton", "Cancel")),
         "crypto_order"),
        (synth("dialog", "Reset API order ID sequence",
               ("JLabel", "Are you sure you want to reset API order ID sequence?"), ("JButton", "Yes")),
         "order_id_reset"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.title,
)
def test_ibc_handler_windows_are_recognised(window: Window, screen: str) -> None:
    got = recognise(window)
    assert got is not None and got.name == screen, structure(window)


def test_the_kind_of_window_matters_as_in_ibc() -> None:
    assert recognise(synth("dialog", "NSE Compliance", ("JLabel", "x"))) is None  # IBC: JFrame only
    assert recognise(synth("dialog", "Trades", ("JLabel", "x"))) is None  # IBC: JFrame only
    not_login = synth("dialog", "Notice", ("JLabel", "The system is not currently available."), ("JButton", "OK"))
    assert recognise(not_login) is None  # the title must contain "Login"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("Too many failed login attempts. Please wait 53 seconds before attempting to re-login again.", 53),
        ("Too many failed login attempts. Please wait 4 minutes & 47 seconds before attempting to re-login again.",
         287),
        ("Too many failed login attempts. Please wait 1 minute & 1 second before attempting to re-login again.", 61),
        ("Too many failed login attempts. Please wait 2 minutes before attempting to re-login again.", 120),
        ("too many failed login attempts. please WAIT 9 SECONDS", 9),
        ("Too many failed login attempts. Try again later.", None),
    ],
)
def test_lock_out_wait_is_read_from_the_text(text: str, seconds: int | None) -> None:
    assert lock_wait(text) == seconds
