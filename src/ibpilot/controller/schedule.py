"""When the timed actions are due: cold restart (Sundays), closedown, File > Save Settings.

Pure functions of "now" (local time, the container's TZ), so they are unit-tested without waiting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def next_daily(now: datetime, at: time) -> datetime:
    candidate = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    return candidate if candidate > now else candidate + timedelta(days=1)


def next_weekly(now: datetime, at: time, day: str) -> datetime:
    """The next `day` (e.g. "Sunday") at `at`, strictly after `now`."""
    target = DAYS.index(day.lower())
    candidate = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    candidate += timedelta(days=(target - now.weekday()) % 7)
    return candidate if candidate > now else candidate + timedelta(days=7)


def _parse_time(text: str) -> time:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})(?:\s*([AaPp][Mm]))?", text.strip())
    if not m:
        raise ValueError(f"bad time {text!r}")
    h, mi, ampm = int(m.group(1)), int(m.group(2)), (m.group(3) or "").upper()
    if ampm:
        h = h % 12 + (12 if ampm == "PM" else 0)
    return time(h, mi)


@dataclass(frozen=True)
class SaveSchedule:
    """IBC's SaveTwsSettingsAt: a list of times, or `Every n mins|hours [start [end]]`."""

    times: tuple[time, ...] = ()
    every: timedelta | None = None
    start: time | None = None
    end: time | None = None

    @classmethod
    def parse(cls, text: str) -> SaveSchedule:
        m = re.fullmatch(r"(?i)every\s+(\d+)\s*(mins?|minutes?|hours?|hrs?)(?:\s+(\S+))?(?:\s+(\S+))?", text.strip())
        if m:
            n = int(m.group(1))
            step = timedelta(hours=n) if m.group(2).lower().startswith("h") else timedelta(minutes=n)
            return cls(every=step, start=_parse_time(m.group(3)) if m.group(3) else None,
                       end=_parse_time(m.group(4)) if m.group(4) else None)
        words = text.split()
        times: list[time] = []
        i = 0
        while i < len(words):
            if i + 1 < len(words) and words[i + 1].lower() in ("am", "pm"):
                times.append(_parse_time(words[i] + " " + words[i + 1]))
                i += 2
            else:
                times.append(_parse_time(words[i]))
                i += 1
        return cls(times=tuple(times))

    def next_after(self, now: datetime) -> datetime:
        if self.every is None:
            return min(next_daily(now, t) for t in self.times)
        start = self.start or time(0, 0)
        day_start = now.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
        if day_start > now:
            return day_start
        steps = (now - day_start) // self.every + 1
        candidate = day_start + steps * self.every
        end = self.end
        if end is not None:
            day_end = now.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
            if candidate > day_end:
                return day_start + timedelta(days=1)
        if candidate.date() != day_start.date():
            return day_start + timedelta(days=1)
        return candidate
