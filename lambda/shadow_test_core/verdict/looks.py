"""Repeated looks that stay honest: the verdict taken many times over a test's schedule.

A fixed-horizon verdict (:func:`~shadow_test_core.verdict.judge.judge`) keeps its promise, a
shadow exactly at the margin is held in at most 2.5% of tests, only when it is looked at once.
Judged every hour for 7 days (168 looks), it gets 168 chances to see a chance excursion beyond the
margin, and holds such a shadow far more often. :func:`judge_look` spends the error instead.

The method: **alpha spending with a union bound** (Lan & DeMets' spending functions, with each
look's critical value taken from the alpha spent at that look alone). Each side (hold: proven worse
than the margin; promote: proven within it) is a one-sided test at ``alpha = (1 - confidence) / 2``
(0.025 by default). A spending function ``A(t)``, rising from 0 at ``t = 0`` to ``alpha`` at
``t = 1``, says how much of it may be used by the information fraction ``t = number / planned``;
look ``k`` of ``K`` gets the increment ``A(k / K) - A((k - 1) / K)`` and judges with two-sided
intervals at ``1 - 2 * increment``. The increments sum to ``alpha``, so by the union bound the
chance that a shadow at the margin is ever held over all the looks is at most ``alpha``, and so
is the chance that it is ever promoted.

Why the union bound, not exact group-sequential boundaries: the exact recursion assumes the
statistic follows a Brownian motion in the information (normal, independent increments, known
information). Neither check quite does: the latency check is a signed-rank interval whose
periods are only roughly independent, the error check a Newcombe interval of pooled counts, and
a look's information is the number of periods that had traffic, not the calendar. The union bound
needs none of that: it holds for any statistic whose every look is a valid test, at any
dependence between looks, so both checks keep their own intervals unchanged. What it costs is
conservatism (the looks are strongly correlated, so the true error is well below ``alpha``),
paid as a few hours more before a clear regression is stopped.

The spending function, **Pocock-type** (Lan & DeMets 1983): ``A(t) = alpha * ln(1 + (e - 1) t)``.
It spends almost evenly over the looks (slightly more early), so a clear regression is stopped
within hours; an O'Brien-Fleming-type function would spend almost nothing before the last days of
a week-long schedule (``A(4/168)`` is about ``1e-47``) and could not stop it early.
``benchmarks/verdict_simulation.py --looks`` measures both promises and the time to stop
(BENCHMARKS.md section 7): at 100% sampling a shadow at x1.2 was neither held nor promoted, equal
models never held, and x1.3 was held in 80% of schedules within 4 hours (6 at 50% sampling). At
50% sampling the shadow's p99 reads low, so a shadow at the margin is promoted: a bias of the
metric that no correction for looks can remove (tighten the margin when sampling).

Missing data never counts: a look with too few usable periods, or none, is "not enough data" (the
checks' own rule), spends its increment and decides nothing, so no look can pass or fail on an
absence. Look 1 of 1 is exactly :func:`~shadow_test_core.verdict.judge.judge`.

The interface: :class:`Look` is defined with the saved data (``period_data``, which records it
in the ``judge FILE`` JSON) and re-exported here, because this module builds on ``judge`` which
builds on ``period_data``. :class:`~shadow_test_core.verdict.judge.Report` records ``look`` and the
``confidence`` its intervals were taken at; ``Report.margins`` keeps the confidence asked for.
"""

from __future__ import annotations

import math

from shadow_test_core.verdict.judge import Margins, Report, judge_at
from shadow_test_core.verdict.period_data import Look, PeriodData

__all__ = ["Look", "judge_look", "look_alpha", "look_confidence", "spent_alpha"]


def spent_alpha(fraction: float, alpha: float) -> float:
    """The one-sided error spent by information fraction ``fraction`` (Pocock-type spending)."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"information fraction must lie in 0..1, got {fraction}")
    return alpha * math.log1p((math.e - 1) * fraction)


def look_alpha(look: Look, alpha: float) -> float:
    """The one-sided error spent at ``look`` alone: the spending function's increment."""
    return spent_alpha(look.number / look.planned, alpha) - spent_alpha((look.number - 1) / look.planned, alpha)


def look_confidence(look: Look, confidence: float) -> float:
    """Two-sided confidence of the intervals judged at ``look``; ``confidence`` at look 1 of 1."""
    if look.number == look.planned == 1:
        return confidence  # the whole alpha, without rounding: exactly the fixed-horizon judge
    return 1 - 2 * look_alpha(look, (1 - confidence) / 2)


def judge_look(data: PeriodData, look: Look, margins: Margins | None = None) -> Report:
    """The sequential verdict at ``look``: every check at the look's confidence, against the margins.

    ``Report.confidence`` holds the intervals' confidence and ``Report.look`` the look.
    """
    margins = margins or Margins()
    return judge_at(data, margins, confidence=look_confidence(look, margins.confidence), look=look)
