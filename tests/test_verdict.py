"""The verdict (``shadow_test_core.verdict.judge``) and its saved data (``shadow_test_core.verdict.period_data``)."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shadow_test_core.verdict.judge import CheckStatus, Margins, Verdict, judge
from shadow_test_core.verdict.period_data import (
    Period,
    PeriodData,
    PeriodDataError,
    VariantPeriod,
    load_period_data,
    parse_period_data,
    period_data_document,
    write_period_data,
)

START = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)


def simulated(
    periods: int,
    *,
    ratio: float = 1.0,
    seed: int = 1,
    shadow_errors: float = 0.002,
    invocations: int = 600,
    noise: float = 0.05,
) -> PeriodData:
    """Shared per-period traffic noise (heavy-tailed) times independent noise per variant."""
    rng = np.random.default_rng(seed)
    result = []
    for index in range(periods):
        shared = 0.3 * rng.standard_t(3)
        production_p99 = 80_000 * np.exp(shared + rng.normal(0, noise))
        shadow_p99 = 80_000 * ratio * np.exp(shared + rng.normal(0, noise))
        result.append(
            Period(
                start=START + timedelta(minutes=5 * index),
                production=VariantPeriod(
                    invocations=invocations,
                    errors_5xx=int(rng.binomial(invocations, 0.002)),
                    latency_p99_us=float(production_p99),
                    latency_p50_us=float(production_p99 / 4),
                ),
                shadow=VariantPeriod(
                    invocations=invocations,
                    errors_5xx=int(rng.binomial(invocations, shadow_errors)),
                    latency_p99_us=float(shadow_p99),
                    latency_p50_us=float(shadow_p99 / 4),
                ),
            )
        )
    return PeriodData(experiment="churn-shadow", period_seconds=300, periods=tuple(result))


def statuses(data: PeriodData, margins: Margins | None = None) -> dict[str, str]:
    return {check.name: str(check.status) for check in judge(data, margins).checks}


# -- decisions --------------------------------------------------------------------------


def test_equal_models_with_enough_periods_are_promoted() -> None:
    report = judge(simulated(48))
    assert report.verdict is Verdict.PROMOTE and report.exit_code == 0
    assert statuses(simulated(48)) == {
        "latency-p99": "pass",
        "error-5xx": "pass",
        "latency-p90": "shown",
        "latency-p50": "shown",
    }
    p99 = report.checks[0]
    assert p99.lower is not None and p99.upper is not None
    assert p99.lower < 1.0 < p99.upper < 1.2 and p99.periods == 48


def test_a_shadow_30_percent_slower_is_held() -> None:
    report = judge(simulated(48, ratio=1.3))
    assert report.verdict is Verdict.HOLD and report.exit_code == 1
    assert report.checks[0].status is CheckStatus.FAIL
    assert report.checks[0].estimate == pytest.approx(1.3, rel=0.05)
    assert "beyond x1.2" in report.checks[0].message


def test_more_shadow_5xx_errors_are_held() -> None:
    report = judge(simulated(48, shadow_errors=0.03))
    assert report.verdict is Verdict.HOLD
    assert statuses(simulated(48, shadow_errors=0.03))["error-5xx"] == "fail"


def test_too_few_periods_never_decide_even_when_clear() -> None:
    report = judge(simulated(11, ratio=3.0))
    assert report.verdict is Verdict.NOT_ENOUGH_DATA and report.exit_code == 2
    assert "at least 12 needed" in report.checks[0].message
    assert judge(simulated(11, ratio=3.0), Margins(min_periods=8)).verdict is Verdict.HOLD


def test_an_interval_across_the_margin_is_not_enough_data() -> None:
    report = judge(simulated(16, ratio=1.2, seed=1, noise=0.15))
    assert report.checks[0].status is CheckStatus.NOT_ENOUGH_DATA
    assert "reaches across x1.2" in report.checks[0].message


def test_one_outlier_period_cannot_flip_the_verdict() -> None:
    data = simulated(48)
    first = data.periods[0]
    wild = Period(
        start=first.start,
        production=first.production,
        shadow=VariantPeriod(invocations=600, errors_5xx=1, latency_p99_us=first.production.latency_p99_us * 50),
    )
    spiked = PeriodData(experiment=data.experiment, period_seconds=300, periods=(wild, *data.periods[1:]))
    assert judge(spiked).verdict is judge(data).verdict is Verdict.PROMOTE


def test_periods_without_traffic_in_a_variant_are_left_out_and_counted() -> None:
    data = simulated(40)
    quiet = VariantPeriod(invocations=0, errors_5xx=0, latency_p99_us=None)
    periods = list(data.periods)
    periods[3] = Period(start=periods[3].start, production=periods[3].production, shadow=quiet)
    periods[7] = Period(start=periods[7].start, production=quiet, shadow=quiet)
    report = judge(PeriodData(experiment="x", period_seconds=300, periods=tuple(periods)))
    assert report.periods_total == 40 and report.periods_without_traffic == 2
    assert [check.periods for check in report.checks] == [38, 38, 0, 38]  # no p90 in this data


def test_no_periods_at_all_is_not_enough_data() -> None:
    report = judge(PeriodData(experiment="x", period_seconds=300, periods=()))
    assert report.verdict is Verdict.NOT_ENOUGH_DATA
    assert {str(check.status) for check in report.checks} == {"not enough data", "shown"}


def test_a_wider_margin_and_lower_confidence_decide_sooner() -> None:
    data = simulated(16, ratio=1.25, seed=2)
    assert judge(data).verdict is not Verdict.PROMOTE
    assert judge(data, Margins(latency_ratio=1.6, confidence=0.8)).verdict is Verdict.PROMOTE


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latency_ratio": 0.0}, "latency ratio"),
        ({"error_delta": -0.1}, "error delta"),
        ({"confidence": 1.0}, "confidence"),
        ({"min_periods": 0}, "minimum periods"),
    ],
)
def test_margins_are_validated(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Margins(**kwargs)


# -- the saved data ---------------------------------------------------------------------


def test_written_data_reads_back_unchanged(tmp_path: Path) -> None:
    data = simulated(5)
    write_period_data(data, tmp_path / "data.json")
    assert load_period_data(tmp_path / "data.json") == data
    document = json.loads((tmp_path / "data.json").read_text())
    assert set(document) == {"experiment", "period_seconds", "periods"}
    assert set(document["periods"][0]) == {"start", "production", "shadow"}
    assert document["periods"][0]["start"] == "2026-11-28T10:00:00+00:00"
    assert set(document["periods"][0]["shadow"]) == {"invocations", "errors_5xx", "latency_p99_us", "latency_p50_us"}


def test_a_trailing_z_and_whole_floats_are_accepted() -> None:
    document = period_data_document(simulated(2))
    document["periods"][0]["start"] = "2026-11-28T10:00:00Z"
    document["periods"][0]["shadow"]["invocations"] = 600.0
    data = parse_period_data(document)
    assert data.periods[0].start == START and data.periods[0].shadow.invocations == 600


def _broken(path: str, value: Any) -> dict[str, Any]:
    document = copy.deepcopy(period_data_document(simulated(3)))
    *parents, last = path.split(".")
    target: Any = document
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return document


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("periods.1.shadow.latency_p99_us", "fast", "periods[1].shadow.latency_p99_us: must be a positive number"),
        ("periods.1.shadow.latency_p99_us", -3, "periods[1].shadow.latency_p99_us"),
        ("periods.2.production.invocations", KeyError, "periods[2].production.invocations: missing"),
        ("periods.2.production.invocations", None, "periods[2].production.invocations: must be a whole number"),
        ("periods.0.production.errors_5xx", 2.5, "periods[0].production.errors_5xx: must be a whole number"),
        ("periods.0.production.errors_5xx", 601, "periods[0].production.errors_5xx: more errors than invocations"),
        ("periods.0.shadow.latency_p99_ms", 3, "periods[0].shadow.latency_p99_ms: unknown field"),
        ("periods.0.shadow", [], "periods[0].shadow: must be an object"),
        ("periods.1.start", "yesterday", "periods[1].start: not an ISO 8601"),
        ("periods.1.start", "2026-11-28T10:05:00", "periods[1].start: needs a UTC offset"),
        ("periods.2.start", "2026-11-28T10:00:00+00:00", "periods[2].start: must be later than periods[1].start"),
        ("period_seconds", "300", "period_seconds: must be a whole number"),
        ("period_seconds", True, "period_seconds"),
        ("experiment", "", "experiment: must be a non-empty string"),
        ("periods", {}, "periods: must be a list"),
        ("extra", 1, "file.extra: unknown field"),
    ],
)
def test_malformed_data_names_the_period_and_field(path: str, value: Any, message: str) -> None:
    with pytest.raises(PeriodDataError) as error:
        parse_period_data(_broken(path, value))
    assert message in str(error.value)


def test_latency_without_invocations_is_malformed() -> None:
    document = _broken("periods.1.shadow.invocations", 0)
    document["periods"][1]["shadow"]["errors_5xx"] = 0
    with pytest.raises(PeriodDataError, match=r"periods\[1\]\.shadow\.latency_p99_us: must be null"):
        parse_period_data(document)


@pytest.mark.parametrize(
    ("text", "message"), [("{not json", "not JSON: Expecting property name"), ("[]", "file: must be an object")]
)
def test_unreadable_files_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(PeriodDataError, match=message) as error:
        load_period_data(path)
    assert str(path) in str(error.value)
