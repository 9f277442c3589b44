"""Reaction latency: a dialog is shown -> the controller's click lands, over many dialogs.

The simulator opens a fresh modal JOptionPane dialog "Reset API order ID sequence" ("Are you sure you want to
reset API order ID sequence?", Yes / No) every time that button of the configuration dialog (Configure >
Settings, API > Settings) is clicked. The benchmark opens the configuration dialog and clicks that button
through its own agent connection while `ibpilot control` runs with
DIALOG_RULES = [{"title": "^Reset API order ID sequence$", "button": "No"}]: the controller sees a window no
screen knows, matches the rule and clicks "No" -- the path of any pop-up it dismisses by rule.
Latency = simulator event `clicked` t - simulator event `shown` t (both stamped by the JVM, same clock).
(Help > About IB Gateway would be simpler, but the controller's catch-all screen for dialogs titled
"...Gateway..." claims it before DIALOG_RULES are consulted, so the rule never fires for it.)

Floor, measured in the same run on a second simulator that logs itself in (no controller):
  * agent round trips from Python: `ping`, `windows` (snapshot of every window), `click` ("No" of the dialog);
  * "raw reaction": the benchmark itself clicks "No" as soon as the agent's window_opened event arrives
    (no recognition, no rules, no logging) -- the same shown -> clicked measure.
The controller's figures are printed as ratios to that floor.

    .venv/bin/python bench/reaction_latency.py [--dialogs 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Cleanup, Controller, kill_marked, median, ms, pct, time_bound

from ibpilot.agent.bridge import AgentBridge
from ibpilot.agent.model import AgentEvent, Window, WindowClosed, WindowOpened
from ibpilot.testing import SimGateway, Xvfb, free_port, wait_until

DIALOG = "Reset API order ID sequence"  # the confirmation's title and the button that opens it
BUTTON = "No"
MENU = ["Configure", "Settings"]
WARMUP = 5  # dialogs opened first and not counted (JIT, first-time class loading)
SCENARIO: dict[str, Any] = {"step_delay_ms": 100}


async def next_event(q: asyncio.Queue[AgentEvent | None], pred: Callable[[AgentEvent], bool],
                     timeout: float) -> AgentEvent:
    async with asyncio.timeout(timeout):
        while True:
            ev = await q.get()
            if ev is None:
                raise ConnectionError("agent connection closed")
            if pred(ev):
                return ev


def is_main(w: Window) -> bool:
    return w.kind == "frame" and w.has_menu(MENU)


def opened_dialog(ev: AgentEvent) -> bool:
    return isinstance(ev, WindowOpened) and ev.window.title == DIALOG


def is_config(w: Window) -> bool:
    return w.kind == "dialog" and w.title_contains("Configuration") and w.button(DIALOG) is not None


async def open_config(bridge: AgentBridge) -> tuple[Window, list[int]]:
    """Configure > Settings; the configuration dialog and the path of its "Reset API order ID sequence"."""
    main = await bridge.wait_for_window(is_main, timeout=30)
    for w in await bridge.windows():
        if is_config(w):
            break
    else:
        await bridge.menu(main.handle, MENU)
        w = await bridge.wait_for_window(is_config, timeout=10)
    b = w.button(DIALOG)
    assert b is not None
    return w, list(b.path)


def sim_latencies(events: list[dict[str, Any]]) -> list[float]:
    """shown -> clicked (seconds) for each confirmation dialog, in order; the dialogs are opened one at a time."""
    out: list[float] = []
    shown: float | None = None
    for ev in events:
        if ev.get("event") == "shown" and ev.get("title") == DIALOG:
            shown = float(ev["t"])
        elif ev.get("event") == "clicked" and ev.get("window") == DIALOG and shown is not None:
            out.append(float(ev["t"]) - shown)
            shown = None
    return out


class Side:
    """One JVM seen through the benchmark's own agent connection, with its configuration dialog open."""

    def __init__(self, bridge: AgentBridge, cfg: Window, reset: list[int]) -> None:
        self.bridge, self.cfg, self.reset = bridge, cfg, reset
        self.q = bridge.subscribe()
        self.seen: list[float] = []  # window_opened -> window_closed, as received here
        self.click: list[float] = []  # round trip of our own click (floor side only)

    @classmethod
    async def open(cls, sock: Path) -> Side:
        bridge = await AgentBridge.connect(sock, timeout=30)
        cfg, reset = await open_config(bridge)
        return cls(bridge, cfg, reset)

    async def cycle(self, we_click: bool, counted: bool) -> None:
        """Open one confirmation; click it ourselves (floor) or let the controller do it; wait until closed."""
        await self.bridge.click(self.cfg.handle, self.reset)
        ev = await next_event(self.q, opened_dialog, 10)
        t_opened = time.perf_counter()
        assert isinstance(ev, WindowOpened)
        handle = ev.window.handle
        if we_click:
            b = ev.window.button(BUTTON)
            assert b is not None, f"{DIALOG} dialog without {BUTTON}"
            t0 = time.perf_counter()
            await self.bridge.click(handle, b.path)
            if counted:
                self.click.append(time.perf_counter() - t0)
        await next_event(self.q, lambda e: isinstance(e, WindowClosed) and e.handle == handle, 10)
        if counted:
            self.seen.append(time.perf_counter() - t_opened)


async def measure(floor_sock: Path, ctl_sock: Path, dialogs: int) -> tuple[Side, Side, dict[str, list[float]]]:
    """Agent round trips on the floor JVM, then dialogs alternating floor / controller, so that load from
    anything else on the machine falls on both sides alike."""
    floor = await Side.open(floor_sock)
    ctl = await Side.open(ctl_sock)
    try:
        rt: dict[str, list[float]] = {"ping": [], "windows": []}
        for _ in range(20):
            await floor.bridge.ping()
        for _ in range(300):
            t0 = time.perf_counter()
            await floor.bridge.ping()
            rt["ping"].append(time.perf_counter() - t0)
        for _ in range(100):
            t0 = time.perf_counter()
            await floor.bridge.windows()
            rt["windows"].append(time.perf_counter() - t0)
        for i in range(WARMUP + dialogs):
            await floor.cycle(we_click=True, counted=i >= WARMUP)
            await ctl.cycle(we_click=False, counted=i >= WARMUP)
        return floor, ctl, rt
    finally:
        await floor.bridge.close()
        await ctl.bridge.close()


def line(name: str, xs: list[float]) -> str:
    return (f"  {name:<34} n={len(xs):<4} p50={ms(pct(xs, 50)):>7}  p90={ms(pct(xs, 90)):>7}  "
            f"p99={ms(pct(xs, 99)):>7}  max={ms(max(xs) if xs else float('nan')):>7}  ms")


def run(dialogs: int = 200, bound_s: int = 240) -> dict[str, Any]:
    with time_bound(bound_s, "reaction_latency"), \
            tempfile.TemporaryDirectory(prefix="ibpilot-bench-react-") as tmpdir, Cleanup() as cleanup:
        tmp = Path(tmpdir)
        cleanup.add(lambda: kill_marked(tmpdir))
        xvfb = Xvfb()
        display = xvfb.start()
        cleanup.add(xvfb.stop)

        # the floor: a self-logging simulator, the benchmark is its only agent client
        sim = SimGateway(tmp / "floor", display, "gateway",
                         {**SCENARIO, "self_login": True, "trading_mode": "paper", "api_port": free_port()})
        cleanup.add(sim.stop)
        sim.start()
        # the controller, with a rule for the confirmation dialog
        rules = json.dumps([{"title": f"^{DIALOG}$", "button": BUTTON}])
        c = Controller(tmp / "ctl", display, dict(SCENARIO), DIALOG_RULES=rules)
        c.start(cleanup)
        sim.wait_event("paper_warning_accepted", timeout=60)
        c.wait_log(r"READY mode=paper", timeout=90)

        floor, ctl_side, rt = asyncio.run(measure(sim.agent_socket, c.agent_socket, dialogs))
        wait_until(lambda: len(sim_latencies(c.events())) >= WARMUP + dialogs, 10, "the last clicked event")
        raw = sim_latencies(sim.events())[WARMUP:]
        ctl = sim_latencies(c.events())[WARMUP:]
        seen, fl = ctl_side.seen, {**rt, "click": floor.click, "seen": floor.seen}
        clicks_logged = c.log().count(f"click '{BUTTON}' in '{DIALOG}'")
        c.stop()
        sim.stop()

    print(f"reaction latency: dialog shown -> click landed (sim event times, 1 ms resolution), {dialogs} dialogs "
          f"each after {WARMUP} warm-up, controller and floor alternating")
    print(line("controller (ibpilot control)", ctl))
    print(line("floor: raw reaction (bench clicks)", raw))
    print("  agent window_opened -> window_closed as a (second) agent client sees them, perf_counter:")
    print(line("controller (ibpilot control)", seen))
    print(line("floor: raw reaction (bench clicks)", fl["seen"]))
    print(line("floor: agent ping round trip", fl["ping"]))
    print(line("floor: agent windows snapshot", fl["windows"]))
    print(line("floor: agent click round trip", fl["click"]))
    r50 = pct(ctl, 50) / pct(raw, 50)
    r99 = pct(ctl, 99) / pct(raw, 99)
    s50 = pct(seen, 50) / pct(fl["seen"], 50)
    s99 = pct(seen, 99) / pct(fl["seen"], 99)
    c50 = pct(seen, 50) / pct(fl["click"], 50)
    print(f"  ratios controller / raw reaction: shown->clicked p50 x{r50:.2f} p99 x{r99:.2f}; "
          f"opened->closed p50 x{s50:.2f} p99 x{s99:.2f}")
    print(f"  ratio controller opened->closed p50 / agent click round trip p50: x{c50:.2f}; "
          f"controller clicks logged: {clicks_logged} (incl. {WARMUP} warm-up)")
    return {
        "n": len(ctl), "p50_ms": pct(ctl, 50) * 1000, "p90_ms": pct(ctl, 90) * 1000,
        "p99_ms": pct(ctl, 99) * 1000, "max_ms": max(ctl) * 1000,
        "raw_p50_ms": pct(raw, 50) * 1000, "raw_p99_ms": pct(raw, 99) * 1000,
        "ping_p50_ms": median(fl["ping"]) * 1000, "click_p50_ms": pct(fl["click"], 50) * 1000,
        "ratio_p50": r50, "ratio_p99": r99, "seen_p50_ms": pct(seen, 50) * 1000,
        "seen_p99_ms": pct(seen, 99) * 1000, "seen_ratio_p50": s50, "seen_ratio_p99": s99,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dialogs", type=int, default=200, help="dialogs per side (default 200)")
    ap.add_argument("--bound", type=int, default=240, help="overall time bound in seconds (default 240)")
    a = ap.parse_args()
    run(a.dialogs, a.bound)
    return 0


if __name__ == "__main__":
    sys.exit(main())
