"""Repeated looks (``shadow_test_core.verdict.looks``): the spending, its guarantee and ``judge_look``."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from shadow_test_core.verdict.judge import CheckStatus, Margins, Verdict, judge
from shadow_test_core.verdict.looks import Look, judge_look, look_alpha, look_confidence, spent_alpha
from shadow_test_core.verdict.period_data import (
    PeriodData,
    PeriodDataError,
    VariantPeriod,
    load_period_data,
    parse_period_data,
    period_data_document,
    write_period_data,
)
from tests.test_verdict import simulated

ALPHA = 0.025
WEEK = 168


def test_spending_starts_at_zero_and_ends_at_alpha() -> None:
    assert spent_alpha(0, ALPHA) == 0
    assert spent_alpha(1, ALPHA) == pytest.approx(ALPHA, rel=1e-15)
    fractions = [k / WEEK for k in range(WEEK + 1)]
    spent = [spent_alpha(t, ALPHA) for t in fractions]
    assert all(a < b for a, b in itertools.pairwise(spent))


def test_spending_is_the_pocock_type_lan_demets_function() -> None:
    # Lan & DeMets (1983): alpha * ln(1 + (e - 1) t); at t = 1/2, alpha * ln((1 + e) / 2).
    assert spent_alpha(0.5, 0.05) == pytest.approx(0.05 * math.log((1 + math.e) / 2), rel=1e-14)


@pytest.mark.parametrize("fraction", [-0.01, 1.01, math.nan])
def test_spending_rejects_fractions_outside_zero_to_one(fraction: float) -> None:
    with pytest.raises(ValueError, match="information fraction"):
        spent_alpha(fraction, ALPHA)


@pytest.mark.parametrize("planned", [1, 2, 24, 168, 2016])
def test_look_alphas_sum_to_alpha_over_the_schedule(planned: int) -> None:
    total = math.fsum(look_alpha(Look(number=k, planned=planned), ALPHA) for k in range(1, planned + 1))
    assert total == pytest.approx(ALPHA, rel=1e-12)


def test_each_hourly_look_of_a_week_judges_at_a_critical_value_of_about_three_and_a_half() -> None:
    # The per-look one-sided critical value, checked against scipy's normal quantile.
    criticals = [scipy_stats.norm.isf(look_alpha(Look(number=k, planned=WEEK), ALPHA)) for k in range(1, WEEK + 1)]
    assert 3.4 < criticals[0] < criticals[-1] < 3.75
    assert all(a < b for a, b in itertools.pairwise(criticals))  # slightly more spent early
    for k in (1, 4, 168):
        confidence = look_confidence(Look(number=k, planned=WEEK), 0.95)
        assert scipy_stats.norm.isf((1 - confidence) / 2) == pytest.approx(criticals[k - 1], rel=1e-9)


def test_brute_force_random_walks_at_the_margin_cross_a_boundary_at_most_alpha() -> None:
    """The union bound's promise on the statistic the intervals approximate: a random walk with no drift."""
    rng = np.random.default_rng(20)
    walks = np.cumsum(rng.standard_normal((20_000, WEEK)), axis=1)
    z = walks / np.sqrt(np.arange(1, WEEK + 1))
    boundary = np.array(
        [scipy_stats.norm.isf(look_alpha(Look(number=k, planned=WEEK), ALPHA)) for k in range(1, WEEK + 1)]
    )
    crossed = np.mean((z > boundary).any(axis=1))
    uncorrected = np.mean((z > scipy_stats.norm.isf(ALPHA)).any(axis=1))
    assert crossed <= ALPHA
    assert crossed > ALPHA / 10  # a bound, not a different test: close enough to use what it may
    assert uncorrected > 8 * ALPHA  # what the correction is for


def test_look_one_of_one_is_the_fixed_horizon_verdict() -> None:
    for data in (simulated(48, ratio=1.5), simulated(48, ratio=1.0), simulated(30, ratio=1.2), simulated(6)):
        single = judge(data)
        assert judge_look(data, Look(number=1, planned=1)) == dataclasses.replace(
            single, look=Look(number=1, planned=1)
        )
        assert single.look is None and single.confidence == 0.95


def test_later_looks_of_many_judge_with_wider_intervals() -> None:
    data = simulated(60, ratio=1.3)
    single = judge(data).checks[0]
    sequential = judge_look(data, Look(number=5, planned=WEEK))
    latency = sequential.checks[0]
    assert sequential.confidence > 0.999 and sequential.look == Look(number=5, planned=WEEK)
    assert latency.lower is not None and single.lower is not None and latency.upper is not None
    assert latency.lower < single.lower and latency.upper > single.upper  # type: ignore[operator]
    assert latency.estimate == single.estimate
    assert "99.9" in latency.message


def test_a_look_of_many_does_not_hold_on_what_one_fixed_horizon_look_would() -> None:
    # A shadow 30% slower, 18 periods: enough for one look, not for one of a week of hourly looks.
    data = simulated(18, ratio=1.3, noise=0.08)
    assert judge(data).verdict is Verdict.HOLD
    assert judge_look(data, Look(number=2, planned=WEEK)).verdict is Verdict.NOT_ENOUGH_DATA


def test_a_clear_regression_is_held_at_an_early_look_of_many() -> None:
    assert judge_look(simulated(36, ratio=1.6), Look(number=3, planned=WEEK)).verdict is Verdict.HOLD


def test_a_clearly_equal_shadow_is_promoted_at_a_later_look_of_many() -> None:
    assert judge_look(simulated(200, ratio=1.0), Look(number=17, planned=WEEK)).verdict is Verdict.PROMOTE


@pytest.mark.parametrize("number", [1, 84, 168])
@pytest.mark.parametrize("ratio", [1.0, 2.0])
def test_too_few_periods_never_decide_at_any_look(number: int, ratio: float) -> None:
    report = judge_look(simulated(11, ratio=ratio), Look(number=number, planned=WEEK))
    assert report.verdict is Verdict.NOT_ENOUGH_DATA
    assert {check.status for check in report.checks if check.decides} == {CheckStatus.NOT_ENOUGH_DATA}


@pytest.mark.parametrize("number", [1, 168])
def test_no_periods_never_decide_at_any_look(number: int) -> None:
    empty = PeriodData(experiment="x", period_seconds=300, periods=())
    report = judge_look(empty, Look(number=number, planned=WEEK))
    assert report.verdict is Verdict.NOT_ENOUGH_DATA and report.periods_total == 0


def test_periods_without_traffic_are_left_out_and_never_decide_at_any_look() -> None:
    data = simulated(60, ratio=2.0)
    silent = VariantPeriod(invocations=0, errors_5xx=0, latency_p99_us=None)
    quiet = tuple(dataclasses.replace(p, shadow=silent) if i >= 8 else p for i, p in enumerate(data.periods))
    report = judge_look(dataclasses.replace(data, periods=quiet), Look(number=168, planned=WEEK))
    assert report.verdict is Verdict.NOT_ENOUGH_DATA and report.periods_without_traffic == 52


def test_missing_latency_leaves_the_error_check_and_decides_nothing() -> None:
    data = simulated(60, ratio=1.0)
    no_p99 = tuple(
        dataclasses.replace(p, shadow=dataclasses.replace(p.shadow, latency_p99_us=None)) for p in data.periods
    )
    report = judge_look(dataclasses.replace(data, periods=no_p99), Look(number=10, planned=WEEK))
    assert report.checks[0].status is CheckStatus.NOT_ENOUGH_DATA and report.checks[0].periods == 0
    assert report.verdict is Verdict.NOT_ENOUGH_DATA


def test_the_error_check_is_corrected_too() -> None:
    # 5XX 0.2% vs 1.6%: beyond +1 pp at one look, not yet at one of a week.
    data = simulated(12, shadow_errors=0.016, invocations=500, seed=3)
    assert judge(data).checks[1].status is CheckStatus.FAIL
    errors = judge_look(data, Look(number=1, planned=WEEK)).checks[1]
    assert errors.status is CheckStatus.NOT_ENOUGH_DATA


def test_margins_other_than_the_defaults_are_spent_too() -> None:
    margins = Margins(confidence=0.9, latency_ratio=1.5)
    report = judge_look(simulated(48), Look(number=2, planned=10), margins)
    assert report.margins == margins
    assert report.confidence == pytest.approx(1 - 2 * look_alpha(Look(number=2, planned=10), 0.05))


@pytest.mark.parametrize(
    ("number", "planned", "message"),
    [
        (0, 1, "look number must be a whole number >= 1"),
        (1, 0, "look planned must be a whole number >= 1"),
        (3, 2, "look number must be at most the looks planned"),
        (True, 2, "look number must be a whole number"),
        (1.5, 2, "look number must be a whole number"),
    ],
)
def test_impossible_looks_are_rejected(number: int, planned: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Look(number=number, planned=planned)


def test_the_look_round_trips_through_the_saved_file(tmp_path: Path) -> None:
    data = dataclasses.replace(simulated(24), look=Look(number=7, planned=WEEK))
    path = tmp_path / "periods.json"
    write_period_data(data, path)
    assert json.loads(path.read_text())["look"] == {"number": 7, "planned": WEEK}
    assert load_period_data(path) == data
    assert judge_look(load_period_data(path), Look(number=7, planned=WEEK)) == judge_look(data, data.look)  # type: ignore[arg-type]


def test_a_file_without_a_look_reads_as_a_single_look() -> None:
    document = period_data_document(simulated(3))
    assert "look" not in document
    assert parse_period_data(document).look is None


@pytest.mark.parametrize(
    ("look", "message"),
    [
        ({"number": 2}, "look.planned: missing"),
        ({"number": 2, "planned": 3, "of": 1}, "look.of: unknown field"),
        ({"number": 4, "planned": 3}, "look: look number must be at most the looks planned"),
        ({"number": "1", "planned": 3}, "look: look number must be a whole number"),
        ([1, 3], "look: must be an object"),
    ],
)
def test_a_malformed_look_in_the_file_is_named(look: object, message: str) -> None:
    document = period_data_document(simulated(3)) | {"look": look}
    with pytest.raises(PeriodDataError, match=message):
        parse_period_data(document)
