"""The verdict's statistics (``shadow_test_core.stats``) against scipy.stats on random data.

scipy has no signed-rank confidence interval, so the interval is checked by what defines it: it
holds exactly the shifts the two-sided Wilcoxon test does not reject. Just outside each end
``scipy.stats.wilcoxon`` must reject at the level, just inside it must not.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from shadow_test_core.stats import (
    EXACT_LIMIT,
    hodges_lehmann,
    newcombe_difference,
    signed_rank_interval,
    walsh_average,
    wilson_interval,
)
from tests.hypothesis_budget import examples


def _walsh(sample: list[float]) -> list[float]:
    values = np.asarray(sample)
    upper = np.triu_indices(len(values))
    return sorted(((values[:, None] + values[None, :]) / 2)[upper].tolist())


def _pvalue(sample: list[float], shift: float, *, exact: bool) -> float:
    return float(
        stats.wilcoxon(np.asarray(sample) - shift, method="exact" if exact else "approx", correction=False).pvalue
    )


samples = st.integers(min_value=0, max_value=2**32 - 1).flatmap(
    lambda seed: st.integers(min_value=2, max_value=160).map(
        lambda size: list(np.random.default_rng(seed).standard_t(3, size) * 0.2 + 0.05)
    )
)


@settings(max_examples=examples(60), deadline=None)
@given(sample=samples, confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_signed_rank_interval_is_the_set_of_shifts_scipys_wilcoxon_does_not_reject(
    sample: list[float], confidence: float
) -> None:
    interval = signed_rank_interval(sample, confidence)
    walsh = _walsh(sample)
    assert interval.estimate == pytest.approx(float(np.median(walsh)), abs=1e-12)
    assert interval.exact == (len(sample) <= EXACT_LIMIT)
    alpha = 1 - confidence
    if math.isinf(interval.lower):
        # Even [min, max] of the Walsh averages covers less: the smallest exact p-value is above alpha.
        assert _pvalue(sample, walsh[0] - 1, exact=interval.exact) > alpha or not interval.exact
        return
    low, high = walsh.index(interval.lower), walsh.index(interval.upper)
    assert high == len(walsh) - 1 - low  # symmetric in rank
    below = walsh[low - 1] if low > 0 else walsh[0] - 1.0
    above = walsh[high + 1] if high + 1 < len(walsh) else walsh[-1] + 1.0
    for outside, inside in (
        ((below + walsh[low]) / 2, (walsh[low] + walsh[low + 1]) / 2),
        ((walsh[high] + above) / 2, (walsh[high - 1] + walsh[high]) / 2),
    ):
        assert _pvalue(sample, outside, exact=interval.exact) < alpha <= _pvalue(sample, inside, exact=interval.exact)


@settings(max_examples=examples(40), deadline=None)
@given(sample=samples, data=st.data())
def test_walsh_average_selects_the_ranked_pairwise_average(sample: list[float], data: st.DataObject) -> None:
    walsh = _walsh(sample)
    rank = data.draw(st.integers(min_value=1, max_value=len(walsh)))
    assert walsh_average(sorted(sample), rank) == pytest.approx(walsh[rank - 1], abs=1e-12)


def test_walsh_average_with_every_value_tied() -> None:
    assert walsh_average([0.25] * 300, 20_000) == 0.25
    assert hodges_lehmann([0.25] * 300) == 0.25


def test_signed_rank_interval_with_ties_uses_the_normal_approximation() -> None:
    sample = [0.1, 0.1, -0.1, 0.2, 0.2, 0.3, 0.0, 0.05, 0.1, 0.15, -0.05, 0.2]
    interval = signed_rank_interval(sample, 0.9)
    assert not interval.exact
    assert interval.lower < interval.estimate < interval.upper


@pytest.mark.parametrize(("size", "bounded"), [(5, False), (6, True)])
def test_too_few_values_give_an_unbounded_interval(size: int, bounded: bool) -> None:
    # 2 / 2**5 > 0.05 > 2 / 2**6: six values are the fewest an exact 95% interval can bound.
    interval = signed_rank_interval([0.1 * (index + 1) for index in range(size)], 0.95)
    assert math.isfinite(interval.lower) == bounded and math.isfinite(interval.upper) == bounded


def test_one_outlier_period_moves_the_interval_by_one_rank_not_by_its_size() -> None:
    rng = np.random.default_rng(7)
    sample = list(rng.normal(0.05, 0.05, 40))
    calm = signed_rank_interval(sample)
    wild = signed_rank_interval([*sample[:-1], 25.0])
    assert wild.upper - calm.upper < 0.02 and abs(wild.estimate - calm.estimate) < 0.01


def test_a_week_of_one_minute_periods_is_judged_without_building_the_walsh_averages() -> None:
    sample = list(np.random.default_rng(3).normal(0.0, 0.1, 7 * 1440))
    interval = signed_rank_interval(sample)
    assert interval.lower < 0.0 < interval.upper  # about 50 million averages, never materialized


@settings(max_examples=examples(200), deadline=None)
@given(
    trials=st.integers(min_value=1, max_value=100_000),
    share=st.floats(min_value=0, max_value=1),
    confidence=st.sampled_from([0.9, 0.95, 0.99]),
)
def test_wilson_interval_matches_scipy(trials: int, share: float, confidence: float) -> None:
    successes = round(share * trials)
    expected = stats.binomtest(successes, trials).proportion_ci(confidence, method="wilson")
    interval = wilson_interval(successes, trials, confidence)
    assert interval.lower == pytest.approx(expected.low, abs=1e-12)
    assert interval.upper == pytest.approx(expected.high, abs=1e-12)


@settings(max_examples=examples(200), deadline=None)
@given(
    trials_a=st.integers(min_value=1, max_value=50_000),
    trials_b=st.integers(min_value=1, max_value=50_000),
    share_a=st.floats(min_value=0, max_value=1),
    share_b=st.floats(min_value=0, max_value=1),
)
def test_newcombe_difference_combines_scipys_wilson_intervals(
    trials_a: int, trials_b: int, share_a: float, share_b: float
) -> None:
    errors_a, errors_b = round(share_a * trials_a), round(share_b * trials_b)
    a = stats.binomtest(errors_a, trials_a).proportion_ci(0.95, method="wilson")
    b = stats.binomtest(errors_b, trials_b).proportion_ci(0.95, method="wilson")
    p_a, p_b = errors_a / trials_a, errors_b / trials_b
    interval = newcombe_difference(errors_a, trials_a, errors_b, trials_b)
    assert interval.estimate == pytest.approx(p_a - p_b)
    assert interval.lower == pytest.approx(p_a - p_b - math.hypot(p_a - a.low, b.high - p_b), abs=1e-12)
    assert interval.upper == pytest.approx(p_a - p_b + math.hypot(a.high - p_a, p_b - b.low), abs=1e-12)
    assert -1 <= interval.lower <= interval.estimate <= interval.upper <= 1


def test_newcombe_difference_matches_newcombes_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873-890, table II, example (a): 56/70 - 48/80, method 10.
    interval = newcombe_difference(56, 70, 48, 80)
    assert (round(interval.lower, 4), round(interval.upper, 4)) == (0.0524, 0.3339)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: signed_rank_interval([]), "at least one"),
        (lambda: signed_rank_interval([0.1], 1.0), "confidence"),
        (lambda: wilson_interval(1, 0), "trials"),
        (lambda: wilson_interval(3, 2), "successes"),
        (lambda: walsh_average([1.0, 2.0], 4), "rank"),
    ],
)
def test_invalid_arguments_are_rejected(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_the_statistics_import_nothing_third_party(root: Path) -> None:
    probe = (
        "import sys; import shadow_test_core.verdict.judge, shadow_test_core.verdict.period_data;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'numpy', 'scipy', 'boto3', 'botocore', 'aws_cdk'}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
