"""A Kayenta-style unpaired judge, reimplemented from the published description of NetflixACAJudge.

Spinnaker's Kayenta (``kayenta-judge``, ``NetflixACAJudge``) judges a canary against its baseline
metric by metric, each metric being the two variants' time series taken as two unordered samples:

1. remove NaN values; remove outliers with an IQR detector (factor 3);
2. no values left in either variant: ``Nodata``; identical samples: ``Pass``;
3. Mann-Whitney U test at 98% confidence: the Hodges-Lehmann shift (canary - baseline) and its
   confidence interval; the tolerance band is +-0.25 x |estimate|;
4. ``High`` when the whole interval lies above the band *and* the effect size (mean ratio
   canary/baseline) is at least ``allowedIncrease``; ``Low`` symmetrically (``direction: increase``
   metrics, as latency and errors are configured, only fail high); otherwise ``Pass``;
5. score: per group, passed / (passed + high + low) x 100, ``Nodata`` groups contributing nothing;
   groups without a weight share 100 equally; the summary score is the weighted sum;
6. summary: ``pass`` at or above the pass threshold (95), ``fail`` below the marginal one (75),
   ``marginal`` between.

This is a benchmark's reference, not the project's code: it uses numpy and scipy freely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["KayentaMetric", "classify_metric", "kayenta_judge", "shift_interval"]

CONFIDENCE = 0.98
TOLERANCE_FRACTION = 0.25
OUTLIER_FACTOR = 3.0
PASS_THRESHOLD = 95.0
MARGINAL_THRESHOLD = 75.0


@dataclass(frozen=True, kw_only=True)
class KayentaMetric:
    """One metric's two samples and its effect-size gate."""

    name: str
    baseline: Sequence[float]
    canary: Sequence[float]
    allowed_increase: float = 1.0


def _remove_outliers(values: np.ndarray) -> np.ndarray:
    if values.size < 4:
        return values
    first, third = np.percentile(values, [25, 75])
    spread = third - first
    if spread == 0:  # Kayenta's reduced sensitivity: no outliers when the IQR is degenerate
        return values
    keep = (values >= first - OUTLIER_FACTOR * spread) & (values <= third + OUTLIER_FACTOR * spread)
    return values[keep]


def shift_interval(
    canary: np.ndarray, baseline: np.ndarray, confidence: float = CONFIDENCE
) -> tuple[float, float, float]:
    """Two-sample Hodges-Lehmann shift and its Mann-Whitney interval (normal approximation)."""
    differences = np.subtract.outer(canary, baseline).ravel()
    m, n = canary.size, baseline.size
    z = stats.norm.ppf(0.5 + confidence / 2)
    rank = int(np.floor(m * n / 2 - z * np.sqrt(m * n * (m + n + 1) / 12)))
    estimate = float(np.median(differences))
    if rank < 1:
        return estimate, -np.inf, np.inf
    low, high = np.partition(differences, [rank - 1, m * n - rank])[[rank - 1, m * n - rank]]
    return estimate, float(low), float(high)


def classify_metric(metric: KayentaMetric) -> str:
    """``Pass``, ``High`` or ``Nodata`` for a ``direction: increase`` metric."""
    baseline = np.asarray(metric.baseline, dtype=float)
    canary = np.asarray(metric.canary, dtype=float)
    baseline = _remove_outliers(baseline[~np.isnan(baseline)])
    canary = _remove_outliers(canary[~np.isnan(canary)])
    if baseline.size == 0 or canary.size == 0:
        return "Nodata"
    if np.array_equal(np.sort(baseline), np.sort(canary)) or np.unique(np.concatenate([baseline, canary])).size == 1:
        return "Pass"
    estimate, lower, _upper = shift_interval(canary, baseline)
    band = TOLERANCE_FRACTION * abs(estimate)
    mean_ratio = canary.mean() / baseline.mean() if baseline.mean() else np.inf
    if lower > band and mean_ratio >= metric.allowed_increase:
        return "High"
    return "Pass"


def kayenta_judge(metrics: Sequence[KayentaMetric]) -> str:
    """``pass``, ``marginal`` or ``fail``: each metric in its own group, groups weighted equally."""
    classifications = [classify_metric(metric) for metric in metrics]
    weight = 100.0 / len(metrics)
    score = sum(weight * (label == "Pass") for label in classifications if label != "Nodata")
    if score >= PASS_THRESHOLD:
        return "pass"
    if score < MARGINAL_THRESHOLD:
        return "fail"
    return "marginal"
