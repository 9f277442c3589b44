from datetime import datetime, time, timedelta

import pytest

from ibpilot.controller.schedule import SaveSchedule, next_daily, next_weekly

NOW = datetime(2026, 11, 22, 10, 30)  # a Sunday


def test_daily() -> None:
    assert next_daily(NOW, time(11, 0)) == datetime(2026, 11, 22, 11, 0)
    assert next_daily(NOW, time(10, 30)) == datetime(2026, 11, 23, 10, 30)  # strictly after now
    assert next_daily(NOW, time(7, 0)) == datetime(2026, 11, 23, 7, 0)


def test_weekly() -> None:
    assert NOW.weekday() == 6
    assert next_weekly(NOW, time(23, 0), "Sunday") == datetime(2026, 11, 22, 23, 0)
    assert next_weekly(NOW, time(9, 0), "Sunday") == datetime(2026, 11, 29, 9, 0)
    assert next_weekly(NOW, time(9, 0), "friday") == datetime(2026, 11, 27, 9, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("11:00 18:00", datetime(2026, 11, 22, 11, 0)),
        ("9:00 am 2:00 pm", datetime(2026, 11, 22, 14, 0)),
        ("Every 20 mins", datetime(2026, 11, 22, 10, 40)),
        ("Every 2 hours", datetime(2026, 11, 22, 12, 0)),
        ("Every 15 mins 09:00 10:35", datetime(2026, 11, 23, 9, 0)),  # 10:45 is past the end: tomorrow's start
        ("Every 15 mins 11:00", datetime(2026, 11, 22, 11, 0)),  # not started yet today
    ],
)
def test_save_schedule(text: str, expected: datetime) -> None:
    assert SaveSchedule.parse(text).next_after(NOW) == expected


def test_every_wraps_to_the_next_day() -> None:
    late = NOW.replace(hour=23, minute=50)
    assert SaveSchedule.parse("Every 30 mins").next_after(late) == datetime(2026, 11, 23, 0, 0)
    assert SaveSchedule(every=timedelta(hours=5)).next_after(late) == datetime(2026, 11, 23, 0, 0)
