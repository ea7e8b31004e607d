"""Durations and the time windows a report queries CloudWatch for."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["QueryWindow", "parse_duration", "period_window", "report_window"]

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)

# GetMetricData only returns data for periods that are multiples of these
# granularities, depending on how old the start time is.
_GRANULARITIES = (
    (timedelta(days=15), 60),
    (timedelta(days=63), 300),
)
_OLDEST_GRANULARITY = 3600


@dataclass(frozen=True, kw_only=True)
class QueryWindow:
    """Aligned ``StartTime``/``EndTime`` and ``Period`` (seconds) for GetMetricData."""

    start: datetime
    end: datetime
    period: int


def parse_duration(text: str) -> timedelta:
    """Parse ``"90"``, ``"90s"``, ``"30m"``, ``"24h"``, ``"7d"`` or ``"2w"``; a bare number is seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"invalid duration {text!r}: use a number with an optional unit s, m, h, d or w (e.g. 24h)")
    value, unit = match.groups()
    return timedelta(seconds=float(value) * _UNITS[unit.lower()])


def report_window(
    *,
    now: datetime,
    since: timedelta,
    schedule_start: datetime | None = None,
    schedule_end: datetime | None = None,
) -> tuple[datetime, datetime] | None:
    """The part of the last ``since`` during which the experiment was scheduled.

    ``None`` if that part is empty (the experiment had not started yet, or had
    ended before the window began).
    """
    start = now - since
    end = now
    if schedule_start is not None:
        start = max(start, schedule_start)
    if schedule_end is not None:
        end = min(end, schedule_end)
    return (start, end) if start < end else None


def _granularity(start: datetime, now: datetime) -> int:
    age = now - start
    for limit, seconds in _GRANULARITIES:
        if age <= limit:
            return seconds
    return _OLDEST_GRANULARITY


def _floor(moment: datetime, seconds: int) -> datetime:
    return datetime.fromtimestamp(math.floor(moment.timestamp() / seconds) * seconds, tz=moment.tzinfo)


def _ceil(moment: datetime, seconds: int) -> datetime:
    return datetime.fromtimestamp(math.ceil(moment.timestamp() / seconds) * seconds, tz=moment.tzinfo)


def period_window(start: datetime, end: datetime, *, period: int, now: datetime) -> QueryWindow:
    """Whole periods of ``period`` seconds inside ``start``..``end``, for per-period GetMetricData.

    The period is rounded up to a multiple of the granularity CloudWatch keeps for data as old as
    ``start`` (1 minute up to 15 days, 5 minutes up to 63 days, then 1 hour). The start is
    floored to a period boundary; a period still running at ``end`` is left out, since its numbers
    are still arriving.
    """
    granularity = _granularity(start, now)
    period = math.ceil(period / granularity) * granularity
    aligned_start = _floor(start, period)
    aligned_end = max(_floor(end, period), aligned_start)
    return QueryWindow(start=aligned_start, end=aligned_end, period=period)
