"""Prometheus metrics of one controller (one trading mode), on a registry of its own.

Every metric carries a ``mode`` label (``live``/``paper``), so the two sides of TRADING_MODE=both can be
scraped into one Prometheus without clashing. The controller calls the methods of `Metrics`; the health
server renders `Metrics.render()` at ``GET /metrics``.

=====================================  =========  =================  ==============================================
metric                                 type       labels             meaning (which `Metrics` call feeds it)
=====================================  =========  =================  ==============================================
``ibpilot_state``                      gauge      mode, state        1 for the current state, 0 for every other
                                                                     known one (`set_state`)
``ibpilot_state_since_seconds``        gauge      mode               Unix time of the last state change (`set_state`)
``ibpilot_logins_total``               counter    mode               completed logins (`login`)
``ibpilot_second_factor_total``        counter    mode, kind         second factors answered; kind = totp | push
                                                                     (`second_factor`)
``ibpilot_restarts_total``             counter    mode, cause        Gateway relaunches by cause (`restart`)
``ibpilot_api_probe_seconds``          histogram  mode               duration of every TWS API probe, ok or not
                                                                     (`probe`)
``ibpilot_api_probe_failures_total``   counter    mode               failed TWS API probes (`probe` with ok=False)
``ibpilot_api_probe_last_ok_seconds``  gauge      mode               Unix time of the last successful probe
                                                                     (`probe` with ok=True; 0 = never)
``ibpilot_alerts_total``               counter    mode, alert        ALERT_* lines emitted, by token (`alert`)
``ibpilot_uptime_seconds``             gauge      mode               seconds since this `Metrics` was made (the
                                                                     controller's start), computed at scrape
``ibpilot_info``                       gauge      mode, version      always 1; carries the ibpilot version
=====================================  =========  =================  ==============================================

Label values that come from the controller (``cause``, ``kind``) are normalised to ``[a-z0-9_]`` and
at most 40 characters, so a free-text reason can never blow up the number of series; pass short fixed
words (``jvm_exited``, ``api_hang``, ``ui_hang``, ``login_stalled``, ``command``, ``cold_restart``,
``auto_restart``, ...).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ibpilot import __version__
from ibpilot.serve.alerts import Alert

# seconds; a TWS API probe is a handshake plus one round trip: milliseconds when well, up to its timeout
PROBE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, float("inf"))
SECOND_FACTOR_KINDS = ("totp", "push")
CONTENT_TYPE = CONTENT_TYPE_LATEST

_LABEL = re.compile(r"[^a-z0-9_]+")


def _label(value: str) -> str:
    return _LABEL.sub("_", value.strip().lower()).strip("_")[:40] or "unknown"


class Metrics:
    """The metrics of one controller; `states` are the state names to export (all 0 but the current one)."""

    def __init__(
        self, mode: str, states: Iterable[str] = (), *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.mode = mode
        self.registry = CollectorRegistry(auto_describe=True)
        reg, m = self.registry, ("mode",)
        self._states: list[str] = list(dict.fromkeys(states))
        self._state = Gauge("ibpilot_state", "1 for the controller's current state, 0 for the others",
                            m + ("state",), registry=reg)
        self._since = Gauge("ibpilot_state_since_seconds", "Unix time of the last state change", m, registry=reg)
        self._logins = Counter("ibpilot_logins", "Completed logins", m, registry=reg)
        self._second = Counter("ibpilot_second_factor", "Second factors answered, by kind (totp, push)",
                               m + ("kind",), registry=reg)
        self._restarts = Counter("ibpilot_restarts", "Gateway relaunches, by cause", m + ("cause",), registry=reg)
        self._probe = Histogram("ibpilot_api_probe_seconds", "Duration of TWS API probes (ok or not)", m,
                                buckets=PROBE_BUCKETS, registry=reg)
        self._probe_failures = Counter("ibpilot_api_probe_failures", "Failed TWS API probes", m, registry=reg)
        self._probe_last_ok = Gauge("ibpilot_api_probe_last_ok_seconds",
                                    "Unix time of the last successful TWS API probe (0 = never)", m, registry=reg)
        self._alerts = Counter("ibpilot_alerts", "ALERT_* lines emitted, by token", m + ("alert",), registry=reg)
        uptime = Gauge("ibpilot_uptime_seconds", "Seconds since the controller started", m, registry=reg)
        info = Gauge("ibpilot_info", "ibpilot's version (always 1)", m + ("version",), registry=reg)

        started = clock()
        uptime.labels(mode).set_function(lambda: clock() - started)
        info.labels(mode, __version__).set(1)
        # every series exists from the start (at 0), so rate() and absent() work before the first event
        for s in self._states:
            self._state.labels(mode, s).set(0)
        for kind in SECOND_FACTOR_KINDS:
            self._second.labels(mode, kind)
        for a in Alert:
            self._alerts.labels(mode, a.value)
        self._logins.labels(mode)
        self._probe.labels(mode)
        self._probe_failures.labels(mode)
        self._probe_last_ok.labels(mode).set(0)

    def set_state(self, name: str) -> None:
        """The controller entered state `name` (call on every transition)."""
        if name not in self._states:
            self._states.append(name)
        for s in self._states:
            self._state.labels(self.mode, s).set(1 if s == name else 0)
        self._since.labels(self.mode).set(time.time())

    def login(self) -> None:
        """A login completed (Gateway's main window / API reachable after credentials)."""
        self._logins.labels(self.mode).inc()

    def second_factor(self, kind: str) -> None:
        """A second factor was answered: ``totp`` (code typed) or ``push`` (phone approval)."""
        self._second.labels(self.mode, _label(kind)).inc()

    def restart(self, cause: str) -> None:
        """Gateway is relaunched because of `cause` (a short fixed word, see the module doc)."""
        self._restarts.labels(self.mode, _label(cause)).inc()

    def probe(self, seconds: float, ok: bool) -> None:
        """One TWS API probe took `seconds` and succeeded or not."""
        self._probe.labels(self.mode).observe(max(0.0, seconds))
        if ok:
            self._probe_last_ok.labels(self.mode).set(time.time())
        else:
            self._probe_failures.labels(self.mode).inc()

    def alert(self, name: str) -> None:
        """An ALERT_* line was emitted (`name` is the token, e.g. ``Alert.HANG`` or ``"ALERT_HANG"``)."""
        self._alerts.labels(self.mode, str(name)).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry (not the process-global one)."""
        return generate_latest(self.registry)
