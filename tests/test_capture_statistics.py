"""The agreement statistics (shadow_test_core.capture.agreement) against scipy, and the verdict rules."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from shadow_test_core.capture.agreement import (
    AgreementThresholds,
    Outcome,
    evaluate_agreement,
    mcnemar_exact_p,
    tango_interval,
    wilson_interval,
)
from shadow_test_core.capture.pairing import PairingSummary
from tests.hypothesis_budget import examples

Z95 = stats.norm.ppf(0.975)


def _scipy_wilson(successes: int, trials: int) -> tuple[float, float]:
    interval = stats.binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    return interval.low, interval.high


@pytest.mark.parametrize(("successes", "trials"), [(0, 1), (1, 1), (0, 10), (10, 10), (7, 10), (450, 500), (1, 1000)])
def test_wilson_interval_matches_scipy(successes: int, trials: int) -> None:
    interval = wilson_interval(successes, trials)
    assert interval is not None
    low, high = _scipy_wilson(successes, trials)
    assert interval.low == pytest.approx(low, abs=1e-12)
    assert interval.high == pytest.approx(high, abs=1e-12)


@settings(max_examples=examples(200), deadline=None)
@given(st.integers(min_value=1, max_value=5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_matches_scipy_for_any_counts(counts: tuple[int, int]) -> None:
    successes, trials = counts
    interval = wilson_interval(successes, trials)
    assert interval is not None
    low, high = _scipy_wilson(successes, trials)
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-9)


def test_wilson_interval_without_trials_is_none() -> None:
    assert wilson_interval(0, 0) is None


def _scipy_tango(b: int, c: int, n: int) -> tuple[float, float]:
    """Tango's interval computed independently: the constrained MLE by numerical maximisation, roots by brentq."""
    m = n - b - c

    def statistic(delta: float) -> float:
        # Maximise the multinomial likelihood over q (P(production only)) with P(shadow only) = q + delta.
        lower, upper = max(0.0, -delta), (1 - delta) / 2

        def negative_log_likelihood(q: float) -> float:
            cells = ((b, q), (c, q + delta), (m, 1 - 2 * q - delta))
            return -sum(count * math.log(max(p, 1e-300)) for count, p in cells if count)

        q = optimize.minimize_scalar(
            negative_log_likelihood, bounds=(lower, upper), method="bounded", options={"xatol": 1e-13}
        ).x
        variance = n * (2 * q + delta - delta**2)
        return (c - b - n * delta) / math.sqrt(variance)

    estimate = (c - b) / n
    eps = 1e-9
    low = optimize.brentq(lambda d: statistic(d) - Z95, -1 + eps, estimate) if statistic(-1 + eps) > Z95 else -1.0
    high = optimize.brentq(lambda d: statistic(d) + Z95, estimate, 1 - eps) if statistic(1 - eps) < -Z95 else 1.0
    return low, high


@pytest.mark.parametrize(
    ("b", "c", "n"),
    [(9, 15, 195), (5, 5, 100), (0, 4, 50), (4, 0, 50), (30, 10, 1000), (1, 2, 10), (20, 45, 300), (3, 0, 5)],
)
def test_tango_interval_matches_an_independent_scipy_computation(b: int, c: int, n: int) -> None:
    interval = tango_interval(b, c, n)
    assert interval is not None
    low, high = _scipy_tango(b, c, n)
    assert interval.low == pytest.approx(low, abs=2e-6)
    assert interval.high == pytest.approx(high, abs=2e-6)


@pytest.mark.parametrize(("b", "c"), [(9, 15), (20, 5), (12, 12), (1, 9)])
def test_tango_interval_excludes_zero_exactly_when_mcnemar_rejects(b: int, c: int) -> None:
    interval = tango_interval(b, c, 400)
    assert interval is not None
    mcnemar_z = abs(c - b) / math.sqrt(b + c)
    rejects = 2 * stats.norm.sf(mcnemar_z) < 0.05
    assert (interval.low > 0 or interval.high < 0) == rejects


def test_tango_interval_without_discordant_pairs_is_not_a_point() -> None:
    interval = tango_interval(0, 0, 100)
    assert interval is not None
    assert interval.low < 0 < interval.high
    assert interval.low == pytest.approx(-interval.high)


@pytest.mark.parametrize(("b", "c"), [(0, 0), (0, 5), (9, 15), (15, 9), (40, 60), (3000, 3100), (12, 12)])
def test_mcnemar_exact_p_matches_scipy_binomtest(b: int, c: int) -> None:
    expected = 1.0 if b + c == 0 else stats.binomtest(min(b, c), b + c, 0.5).pvalue
    assert mcnemar_exact_p(b, c) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def _summary(
    *, pairs: int = 0, agreements: int = 0, both: int = 0, b: int = 0, c: int = 0, none: int = 0
) -> PairingSummary:
    labelled = both + b + c + none
    return PairingSummary(
        production_records=pairs,
        shadow_records=pairs,
        pairs=pairs,
        paired_by_inference_id=pairs,
        paired_by_body=0,
        agreements=agreements,
        unpaired_production=0,
        unpaired_shadow=0,
        duplicate_inference_ids=0,
        missing_answers=0,
        labelled_pairs=labelled,
        both_right=both,
        production_only_right=b,
        shadow_only_right=c,
        both_wrong=none,
    )


def test_accuracy_figures_are_fractions_of_the_labelled_pairs() -> None:
    report = evaluate_agreement(_summary(pairs=200, agreements=180, both=150, b=10, c=20, none=20), ground_truth=True)
    assert report.labelled_pairs == 200
    assert report.production_accuracy == pytest.approx(160 / 200)
    assert report.shadow_accuracy == pytest.approx(170 / 200)
    assert report.accuracy_difference == pytest.approx(10 / 200)
    low, _high = _scipy_wilson(160, 200)
    assert report.production_accuracy_interval is not None
    assert report.production_accuracy_interval.low == pytest.approx(low)
    assert report.to_dict()["shadow_accuracy"] == pytest.approx(0.85)


def test_better_shadow_is_promoted() -> None:
    report = evaluate_agreement(_summary(pairs=1000, agreements=900, both=800, b=20, c=80, none=100), ground_truth=True)
    assert report.outcome is Outcome.PROMOTE
    assert report.outcome.exit_code == 0


def test_clearly_worse_shadow_is_held() -> None:
    report = evaluate_agreement(_summary(pairs=1000, agreements=900, both=800, b=90, c=10, none=100), ground_truth=True)
    assert report.outcome is Outcome.HOLD
    assert report.outcome.exit_code == 1


def test_interval_straddling_the_margin_is_not_enough_data() -> None:
    report = evaluate_agreement(_summary(pairs=200, agreements=180, both=170, b=8, c=6, none=16), ground_truth=True)
    assert report.outcome is Outcome.NOT_ENOUGH_DATA
    assert "straddles" in report.reason


def test_too_few_labelled_pairs_is_not_enough_data() -> None:
    report = evaluate_agreement(_summary(pairs=500, agreements=500, both=20), ground_truth=True)
    assert report.outcome is Outcome.NOT_ENOUGH_DATA
    assert "20 labelled pairs" in report.reason


def test_wider_margin_turns_a_hold_into_a_promote() -> None:
    # Shadow minus production: -6 points, interval about -8.0 to -4.1.
    summary = _summary(pairs=1000, agreements=900, both=800, b=80, c=20, none=100)
    assert evaluate_agreement(summary, ground_truth=True).outcome is Outcome.HOLD
    assert (
        evaluate_agreement(summary, AgreementThresholds(accuracy_margin=9), ground_truth=True).outcome
        is Outcome.PROMOTE
    )


def test_without_ground_truth_or_minimum_agreement_only_reports() -> None:
    report = evaluate_agreement(_summary(pairs=10, agreements=3))
    assert report.outcome is Outcome.REPORT
    assert report.outcome.exit_code == 0
    assert report.production_accuracy is None


@pytest.mark.parametrize(
    ("agreements", "outcome"),
    [(990, Outcome.PROMOTE), (900, Outcome.HOLD), (955, Outcome.NOT_ENOUGH_DATA)],
)
def test_minimum_agreement_gives_the_three_outcomes(agreements: int, outcome: Outcome) -> None:
    report = evaluate_agreement(_summary(pairs=1000, agreements=agreements), AgreementThresholds(min_agreement=95))
    assert report.outcome is outcome


def test_no_pairs_is_not_enough_data_against_a_minimum_agreement() -> None:
    report = evaluate_agreement(_summary(), AgreementThresholds(min_agreement=90))
    assert report.outcome is Outcome.NOT_ENOUGH_DATA
    assert report.agreement is None


@pytest.mark.parametrize("bad", [{"accuracy_margin": -1}, {"min_agreement": 101}, {"min_pairs": 0}])
def test_thresholds_out_of_range_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AgreementThresholds(**bad)  # type: ignore[arg-type]
