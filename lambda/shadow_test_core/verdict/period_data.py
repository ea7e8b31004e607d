"""The saved per-period data of a shadow test: what a verdict is computed from, as JSON.

``shadow-test report NAME --json FILE`` writes it, ``shadow-test judge FILE`` reads it, so every
verdict can be re-derived and audited later. The format::

    {"experiment": "churn-shadow", "period_seconds": 300,
     "periods": [{"start": "2026-11-28T10:00:00+00:00",
                  "production": {"invocations": 612, "errors_5xx": 1, "latency_p99_us": 84210.5, ...},
                  "shadow": {"invocations": 305, "errors_5xx": 0, "latency_p99_us": 90113.0, ...}}]}

An optional ``"look": {"number": 3, "planned": 168}`` records that the data was judged as the 3rd
of 168 planned looks (:mod:`shadow_test_core.verdict.looks`), so ``judge FILE`` re-derives the
same sequential decision; a file without it is judged as a single look.

Each variant holds ``invocations``, ``errors_5xx`` and ``latency_p99_us`` (microseconds, as
SageMaker publishes ``ModelLatency``; null when there was no traffic), and optionally
``latency_p50_us``, ``latency_p90_us``, ``errors_4xx`` and ``model_errors``. Reading is strict: an
unknown key, a missing one or a wrong value is an error naming the period and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = [
    "COUNT_FIELDS",
    "LATENCY_FIELDS",
    "Look",
    "Period",
    "PeriodData",
    "PeriodDataError",
    "VariantPeriod",
    "load_period_data",
    "parse_period_data",
    "period_data_document",
    "write_period_data",
]

#: Whole, non-negative counts of a variant in a period; the first two are required.
COUNT_FIELDS = ("invocations", "errors_5xx", "errors_4xx", "model_errors")
#: Latency percentiles in microseconds, positive or null; the first is required.
LATENCY_FIELDS = ("latency_p99_us", "latency_p50_us", "latency_p90_us")
_REQUIRED = ("invocations", "errors_5xx", "latency_p99_us")
_ROLES = ("production", "shadow")


class PeriodDataError(ValueError):
    """The saved data is malformed; the message names the period and the field."""


@dataclass(frozen=True, kw_only=True)
class Look:
    """Which of the looks planned over a test's schedule a verdict is taken at.

    Defined with the saved data because the file records it; the sequential method that reads
    it is :mod:`shadow_test_core.verdict.looks`.

    :param number: this look, counted from 1.
    :param planned: looks planned over the whole schedule (e.g. 168 for a look every hour for
        7 days); at least ``number``.
    """

    number: int
    planned: int

    def __post_init__(self) -> None:
        for name in ("number", "planned"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"look {name} must be a whole number >= 1 (got {value!r})")
        if self.number > self.planned:
            raise ValueError(f"look number must be at most the looks planned ({self.number} > {self.planned})")

    @property
    def fraction(self) -> float:
        """The information fraction ``number / planned`` at which the look is taken."""
        return self.number / self.planned


@dataclass(frozen=True, kw_only=True)
class VariantPeriod:
    """One variant's numbers over one period."""

    invocations: int
    errors_5xx: int
    latency_p99_us: float | None
    latency_p50_us: float | None = None
    latency_p90_us: float | None = None
    errors_4xx: int | None = None
    model_errors: int | None = None

    @property
    def has_traffic(self) -> bool:
        """Whether the variant served at least one request in the period."""
        return self.invocations > 0


@dataclass(frozen=True, kw_only=True)
class Period:
    """Both variants over the same period, which starts at ``start`` (timezone-aware)."""

    start: datetime
    production: VariantPeriod
    shadow: VariantPeriod


@dataclass(frozen=True, kw_only=True)
class PeriodData:
    """The per-period data of one shadow test, oldest period first."""

    experiment: str
    period_seconds: int
    periods: tuple[Period, ...]
    look: Look | None = None
    """The look the data was judged at; ``None`` for a single look. Default: None."""


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(value: object, where: str) -> int:
    if not _is_number(value) or value < 0 or not float(value).is_integer():  # type: ignore[operator, arg-type]
        raise PeriodDataError(f"{where}: must be a whole number >= 0 (got {value!r})")
    return int(value)  # type: ignore[call-overload]


def _latency(value: object, where: str) -> float | None:
    if value is None:
        return None
    if not _is_number(value) or not 0 < value < float("inf"):  # type: ignore[operator]
        raise PeriodDataError(f"{where}: must be a positive number of microseconds or null (got {value!r})")
    return float(value)  # type: ignore[arg-type]


def _object(value: object, where: str, *, required: tuple[str, ...], allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PeriodDataError(f"{where}: must be an object (got {type(value).__name__})")
    for key in required:
        if key not in value:
            raise PeriodDataError(f"{where}.{key}: missing")
    for key in value:
        if key not in allowed:
            raise PeriodDataError(f"{where}.{key}: unknown field (allowed: {', '.join(allowed)})")
    return value


def _variant(value: object, where: str) -> VariantPeriod:
    fields = _object(value, where, required=_REQUIRED, allowed=COUNT_FIELDS + LATENCY_FIELDS)
    counts = {
        key: _count(fields.get(key), f"{where}.{key}")
        for key in COUNT_FIELDS
        if key in _REQUIRED or fields.get(key) is not None
    }
    latencies = {key: _latency(fields.get(key), f"{where}.{key}") for key in LATENCY_FIELDS}
    for key in ("errors_5xx", "errors_4xx", "model_errors"):
        if counts.get(key, 0) > counts["invocations"]:
            raise PeriodDataError(
                f"{where}.{key}: more errors than invocations ({counts[key]} > {counts['invocations']})"
            )
    if counts["invocations"] == 0:
        for key, latency in latencies.items():
            if latency is not None:
                raise PeriodDataError(f"{where}.{key}: must be null without invocations (got {latency!r})")
    return VariantPeriod(
        invocations=counts["invocations"],
        errors_5xx=counts["errors_5xx"],
        errors_4xx=counts.get("errors_4xx"),
        model_errors=counts.get("model_errors"),
        latency_p99_us=latencies["latency_p99_us"],
        latency_p50_us=latencies["latency_p50_us"],
        latency_p90_us=latencies["latency_p90_us"],
    )


def _start(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise PeriodDataError(f"{where}: must be an ISO 8601 date and time string (got {value!r})")
    try:
        # Python 3.10's fromisoformat does not accept a trailing Z.
        moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        raise PeriodDataError(f"{where}: not an ISO 8601 date and time (got {value!r})") from None
    if moment.tzinfo is None:
        raise PeriodDataError(f"{where}: needs a UTC offset, e.g. {value}+00:00")
    return moment


def parse_period_data(document: object) -> PeriodData:
    """Check and read a decoded JSON document; :class:`PeriodDataError` names what is wrong."""
    top = _object(
        document,
        "file",
        required=("experiment", "period_seconds", "periods"),
        allowed=("experiment", "period_seconds", "periods", "look"),
    )
    if not isinstance(top["experiment"], str) or not top["experiment"]:
        raise PeriodDataError(f"experiment: must be a non-empty string (got {top['experiment']!r})")
    period_seconds = top["period_seconds"]
    if not isinstance(period_seconds, int) or isinstance(period_seconds, bool) or period_seconds <= 0:
        raise PeriodDataError(f"period_seconds: must be a whole number of seconds > 0 (got {period_seconds!r})")
    if not isinstance(top["periods"], list):
        raise PeriodDataError(f"periods: must be a list (got {type(top['periods']).__name__})")
    periods: list[Period] = []
    for index, entry in enumerate(top["periods"]):
        where = f"periods[{index}]"
        fields = _object(entry, where, required=("start", *_ROLES), allowed=("start", *_ROLES))
        start = _start(fields["start"], f"{where}.start")
        if periods and start <= periods[-1].start:
            raise PeriodDataError(f"{where}.start: must be later than periods[{index - 1}].start ({fields['start']})")
        periods.append(
            Period(
                start=start,
                production=_variant(fields["production"], f"{where}.production"),
                shadow=_variant(fields["shadow"], f"{where}.shadow"),
            )
        )
    look = _look(top["look"]) if "look" in top else None
    return PeriodData(experiment=top["experiment"], period_seconds=period_seconds, periods=tuple(periods), look=look)


def _look(value: object) -> Look:
    fields = _object(value, "look", required=("number", "planned"), allowed=("number", "planned"))
    try:
        return Look(number=fields["number"], planned=fields["planned"])
    except ValueError as error:
        raise PeriodDataError(f"look: {error}") from None


def load_period_data(path: str | Path) -> PeriodData:
    """Read and check a saved file; unreadable or malformed files raise :class:`PeriodDataError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PeriodDataError(f"{path}: cannot read: {error}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise PeriodDataError(f"{path}: not JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    try:
        return parse_period_data(document)
    except PeriodDataError as error:
        raise PeriodDataError(f"{path}: {error}") from None


def _variant_document(variant: VariantPeriod) -> dict[str, Any]:
    document: dict[str, Any] = {
        "invocations": variant.invocations,
        "errors_5xx": variant.errors_5xx,
        "latency_p99_us": variant.latency_p99_us,
    }
    for key in ("latency_p50_us", "latency_p90_us", "errors_4xx", "model_errors"):
        value = getattr(variant, key)
        if value is not None:
            document[key] = value
    return document


def period_data_document(data: PeriodData) -> dict[str, Any]:
    """The JSON-ready form of ``data``; :func:`parse_period_data` reads it back unchanged."""
    document: dict[str, Any] = {"experiment": data.experiment, "period_seconds": data.period_seconds}
    if data.look is not None:
        document["look"] = {"number": data.look.number, "planned": data.look.planned}
    return document | {
        "periods": [
            {
                "start": period.start.isoformat(),
                "production": _variant_document(period.production),
                "shadow": _variant_document(period.shadow),
            }
            for period in data.periods
        ],
    }


def write_period_data(data: PeriodData, path: str | Path) -> None:
    """Write ``data`` as indented JSON to ``path``."""
    Path(path).write_text(json.dumps(period_data_document(data), indent=2) + "\n", encoding="utf-8")
