"""Alert delivery to the operator's phone: generic webhook, Telegram, Discord, ntfy.

The controller keeps emitting its `ALERT_*` log line (`serve.alerts.emit`) and also calls
`Notifier.submit(...)`, which is synchronous, cheap and never raises. Delivery happens in the background:
one asyncio task and one bounded queue per channel (a slow or hanging channel never delays another), each
POST in a daemon thread with a per-request timeout, retries with exponential back-off on connection errors,
timeouts, 5xx and 429 (honouring `Retry-After`), no retry on other 4xx. A channel's failures are logged
once per failure streak; URLs and tokens never reach a log line (only the channel's name does).

Dedup: the same alert for the same mode, message and *relevant fields* (`DEDUP_FIELDS`) is sent once per
`dedup_window_s`. The 2FA follow-ups (`ALERT_2FA_APPROVED`, `ALERT_2FA_TIMEOUT`, `ALERT_2FA_FAILED`) are
never de-duplicated and re-arm `ALERT_2FA_PENDING` for their mode, so the next login's request goes out.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping

from ibpilot import __version__
from ibpilot.serve.notify_channels import (
    TWOFA_APPROVED,
    TWOFA_FAILED,
    TWOFA_PENDING,
    TWOFA_TIMEOUT,
    Channel,
    Event,
    Request,
    Result,
    post,
)
from ibpilot.serve.notify_config import TELEGRAM_API, NotifyConfig, NotifyConfigError

__all__ = ["DEDUP_FIELDS", "NEVER_DEDUP", "TELEGRAM_API", "TWOFA_APPROVED", "Notifier", "NotifyConfig",
           "NotifyConfigError"]

# Which fields make two alerts "different" for dedup (alert, mode and msg always do). Fields not listed are
# counters or timings (elapsed seconds, attempt numbers) that would defeat dedup.
DEDUP_FIELDS: Mapping[str, tuple[str, ...]] = {
    TWOFA_PENDING: ("user",),
    "ALERT_UNKNOWN_WINDOW": ("title", "kind"),
    "ALERT_SETTING_NOT_KEPT": ("setting",),
    "ALERT_SETTING_UNAVAILABLE": ("setting",),
    "ALERT_JVM_EXITED": ("code",),
    "ALERT_PASSWORD_EXPIRY": ("days_left",),
    "ALERT_EXISTING_SESSION": ("action",),
    "ALERT_LOGIN_FAILED": ("title",),
}
NEVER_DEDUP = frozenset({TWOFA_APPROVED, TWOFA_TIMEOUT, TWOFA_FAILED, "ALERT_GIVING_UP"})
REARMS: Mapping[str, str] = {TWOFA_APPROVED: TWOFA_PENDING, TWOFA_TIMEOUT: TWOFA_PENDING,
                             TWOFA_FAILED: TWOFA_PENDING}


class _Lane:
    """One channel's queue, worker and failure bookkeeping."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.name = channel.name
        self.queue: deque[Event] = deque()
        self.inflight: Event | None = None
        self.wake: asyncio.Event | None = None
        self.task: asyncio.Task[None] | None = None
        self.failing = False  # inside a failure streak (its first loss was logged)
        self.overflowing = False
        self.sent = 0
        self.lost = 0  # alerts given up on (all time)
        self.streak_lost = 0
        self.dropped = 0  # pushed out of a full queue (all time)


class Notifier:
    """Background alert delivery. `start()` in the running loop, `submit()` any time, `await close()`."""

    def __init__(self, config: NotifyConfig, log: logging.Logger | None = None) -> None:
        self.config = config
        self.log = log or logging.getLogger("ibpilot.notify")
        self._host = config.host or socket.gethostname()
        self._lanes = [_Lane(ch) for ch in config.channels()]
        self._seen: dict[tuple[object, ...], float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._closing = False
        self._errors_logged: set[str] = set()

    def __repr__(self) -> str:
        return f"Notifier(channels={[lane.name for lane in self._lanes]})"

    # ------------------------------------------------------------------------------------- API
    def start(self) -> None:
        """Start one delivery task per channel in the running loop (alerts submitted before are kept)."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        for lane in self._lanes:
            lane.wake = asyncio.Event()
            lane.task = self._loop.create_task(self._run(lane), name=f"notify-{lane.name}")
            if lane.queue:
                lane.wake.set()

    def submit(self, alert: str, mode: str, msg: str, fields: Mapping[str, object] | None = None) -> None:
        """Queue an alert for every channel. Synchronous, never blocks, never raises."""
        try:
            if not self._lanes or self._closing:
                return
            ev = Event(str(alert), str(mode), str(msg), dict(fields or {}), time.time(), self._host, __version__)
            if self._loop is not None and threading.get_ident() != self._thread:
                self._loop.call_soon_threadsafe(self._enqueue, ev)
            else:
                self._enqueue(ev)
        except Exception as exc:  # alerting must never break the controller
            self._error_once("submit", exc)

    async def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued within `timeout` seconds, then drop the rest (logged once)."""
        if self._closing:
            return
        if self._loop is None and any(lane.queue for lane in self._lanes):
            self.start()
        self._closing = True
        for lane in self._lanes:
            if lane.wake is not None:
                lane.wake.set()
        tasks = [lane.task for lane in self._lanes if lane.task is not None]
        pending: set[asyncio.Task[None]] = set()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(0.0, timeout))
        left = {lane.name: len(lane.queue) + (lane.inflight is not None) for lane in self._lanes}
        for lane in self._lanes:
            lane.queue.clear()
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if sum(left.values()):
            detail = ", ".join(f"{name}: {n}" for name, n in left.items() if n)
            self.log.warning("notify: %d alert deliveries dropped at shutdown after %.1fs (%s)",
                             sum(left.values()), timeout, detail)

    def stats(self) -> dict[str, dict[str, object]]:
        """Per channel: sent, lost (given up), dropped (queue full), queued, failing. For /health."""
        return {lane.name: {"sent": lane.sent, "lost": lane.lost, "dropped": lane.dropped,
                            "queued": len(lane.queue) + (lane.inflight is not None), "failing": lane.failing}
                for lane in self._lanes}

    # ------------------------------------------------------------------------------ internals
    def _error_once(self, where: str, exc: BaseException) -> None:
        if where not in self._errors_logged:
            self._errors_logged.add(where)
            self.log.error("notify: internal error in %s (%s); alerts may not be delivered", where,
                           type(exc).__name__)

    def _duplicate(self, ev: Event) -> bool:
        now = time.monotonic()
        window = self.config.dedup_window_s
        rearmed = REARMS.get(ev.alert)
        if rearmed is not None:
            for key in [k for k in self._seen if k[0] == rearmed and k[1] == ev.mode]:
                del self._seen[key]
        if ev.alert in NEVER_DEDUP or window <= 0:
            return False
        while self._seen:  # insertion order is time order: expire from the front
            first = next(iter(self._seen))
            if now - self._seen[first] < window:
                break
            del self._seen[first]
        names = DEDUP_FIELDS.get(ev.alert, ())
        key = (ev.alert, ev.mode, ev.msg, tuple((n, str(ev.fields.get(n))) for n in names))
        if key in self._seen:
            return True
        self._seen[key] = now
        return False

    def _enqueue(self, ev: Event) -> None:
        if self._closing:
            return
        if self._duplicate(ev):
            self.log.debug("notify: %s mode=%s not sent again within %.0fs", ev.alert, ev.mode,
                           self.config.dedup_window_s)
            return
        for lane in self._lanes:
            if len(lane.queue) >= self.config.queue_max:
                lane.queue.popleft()
                lane.dropped += 1
                if not lane.overflowing:
                    lane.overflowing = True
                    self.log.warning("notify %s: queue full (%d alerts); dropping the oldest until it drains",
                                     lane.name, self.config.queue_max)
            lane.queue.append(ev)
            if lane.wake is not None:
                lane.wake.set()

    async def _run(self, lane: _Lane) -> None:
        assert lane.wake is not None
        while True:
            while not lane.queue:
                lane.overflowing = False
                if self._closing:
                    return
                lane.wake.clear()
                await lane.wake.wait()
            ev = lane.inflight = lane.queue.popleft()
            try:
                await self._deliver(lane, ev)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._error_once(f"deliver:{lane.name}", exc)
            finally:
                lane.inflight = None

    def _delay(self, attempt: int, res: Result) -> float:
        cfg = self.config
        if res.retry_after is not None:
            return min(res.retry_after, cfg.retry_after_max_s)
        return float(min(cfg.backoff_s * 2 ** (attempt - 1), cfg.backoff_max_s))

    async def _deliver(self, lane: _Lane, ev: Event) -> None:
        cfg = self.config
        req = lane.channel.build(ev)
        res = Result(False)
        for attempt in range(1, cfg.max_attempts + 1):
            res = await self._post(req)
            if res.ok:
                lane.sent += 1
                if lane.failing:
                    self.log.info("notify %s: delivering again (%d alert(s) lost meanwhile)", lane.name,
                                  lane.streak_lost)
                    lane.failing, lane.streak_lost = False, 0
                self.log.debug("notify %s: %s mode=%s delivered (attempt %d)", lane.name, ev.alert, ev.mode, attempt)
                return
            last = not res.retry or attempt == cfg.max_attempts
            self.log.debug("notify %s: attempt %d for %s failed: %s", lane.name, attempt, ev.alert, res.detail)
            if last:
                break
            await asyncio.sleep(self._delay(attempt, res))
        lane.lost += 1
        lane.streak_lost += 1
        if not lane.failing:
            lane.failing = True
            self.log.warning("notify %s: %s mode=%s not delivered: %s after %d attempt(s); further failures of "
                             "this channel are not logged until a delivery succeeds", lane.name, ev.alert, ev.mode,
                             res.detail, attempt)

    async def _post(self, req: Request) -> Result:
        """POST in a daemon thread (never the default executor, which hanging receivers could exhaust)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Result] = loop.create_future()
        timeout = self.config.timeout_s

        def settle(res: Result) -> None:
            if not fut.done():
                fut.set_result(res)

        def work() -> None:
            try:
                res = post(req, timeout)
            except BaseException as exc:  # post() catches network errors; this is a last resort
                res = Result(False, retry=True, detail=type(exc).__name__)
            try:
                loop.call_soon_threadsafe(settle, res)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

        threading.Thread(target=work, name="ibpilot-notify", daemon=True).start()
        # urllib's timeout is per socket operation (and DNS has none): this caps the whole request. Not
        # wait_for: on 3.11 it can swallow a cancellation when the result arrives at the same moment.
        await asyncio.wait({fut}, timeout=2 * timeout + 1)
        if fut.done():
            return fut.result()
        fut.cancel()
        return Result(False, retry=True, detail="timed out")
