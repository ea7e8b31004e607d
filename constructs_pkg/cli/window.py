"""Durations and the time windows a report queries CloudWatch for."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["QueryWindow", "parse_duration", "report_window", "series_window", "summary_window"]

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)

# GetMetricData only returns data for periods that are multiples of these
# granularities, depending on how old the start time is.
_GRANULARITIES = (
    (timedelta(days=15), 60),
    (timedelta(days=30), 300),
)
_OLDEST_GRANULARITY = 3600

# Enough points for a readable chart; far below GetMetricData's per-call limit.
_MAX_SERIES_POINTS = 500
_MIN_SERIES_PERIOD = 300


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


def summary_window(start: datetime, end: datetime, *, now: datetime) -> QueryWindow:
    """One period covering the whole window, so CloudWatch computes exact percentiles over it.

    Percentiles of sub-periods cannot be combined into the percentile of the
    window, hence a single period. Start and end are widened to the
    granularity CloudWatch requires for data of that age.
    """
    granularity = _granularity(start, now)
    aligned_start = _floor(start, granularity)
    aligned_end = max(_ceil(end, granularity), aligned_start + timedelta(seconds=granularity))
    period = int((aligned_end - aligned_start).total_seconds())
    return QueryWindow(start=aligned_start, end=aligned_end, period=period)


def series_window(start: datetime, end: datetime, *, now: datetime) -> QueryWindow:
    """Periods of at least 5 minutes, at most about 500 of them, for charts."""
    granularity = _granularity(start, now)
    step = max(_MIN_SERIES_PERIOD, granularity)
    span = (end - start).total_seconds()
    period = max(step, math.ceil(span / _MAX_SERIES_POINTS / step) * step)
    aligned_start = _floor(start, period)
    aligned_end = max(_ceil(end, period), aligned_start + timedelta(seconds=period))
    return QueryWindow(start=aligned_start, end=aligned_end, period=period)
