"""Seeded simulation: the paired verdict against a Kayenta-style unpaired judge.

``python -m benchmarks.verdict_simulation`` prints the comparison and writes it into its section of
BENCHMARKS.md (``--output``; ``--no-write`` to only print). Options: ``--runs`` per scenario [100],
``--seed`` [14], ``--workers`` [number of CPUs]. ``--looks`` runs the repeated-looks section instead
(``benchmarks/verdict_looks.py``: 7-day schedules judged every hour, sequential against uncorrected).

The traffic model (one run = a day of 5-minute periods):

- **shared by both variants in a period** (what a shadow test pairs away): the number of requests
  (diurnal load, Poisson), the request mix (each request's difficulty, lognormal, served by both
  since the shadow gets a copy of sampled requests) and a load/time-of-day factor on latency
  (diurnal swing plus a heavy-tailed Student-t shock, df 3);
- **independent per variant**: a per-period factor (its own instances: GC, noisy neighbours) with
  an occasional hiccup (2% of periods, +35% to +170%), per-request jitter, and 5XX errors;
- the shadow gets every request (the construct's default ``sampling_percentage=100``), or half of
  them in a second series; its latency is production's times the scenario's ratio.

Both judges see the same per-period numbers: the paired verdict (``shadow_test_core.verdict.judge``)
takes each period's p99 as a pair; the Kayenta-style judge takes the two p99 series and the two
5XX-rate series as unordered samples, the effect-size gate on latency set to the same 1.2 margin.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.kayenta_judge import KayentaMetric, kayenta_judge, shift_interval
from shadow_test_core.verdict.judge import Margins, Verdict, judge
from shadow_test_core.verdict.period_data import Period, PeriodData, VariantPeriod, write_period_data

PERIODS = 288  # a day of 5-minute periods
SCENARIOS = (1.0, 1.2, 1.3, 1.5)
CHECKPOINTS = (12, 18, 24, 30, 36, 42, 48, 60, 72, 96, 144, 192, 288)
REPORTED_AT = (24, 48, 96, 288)
DETECTION_GOAL = 0.8
#: The construct's default sampling_percentage (100: the shadow serves copies of every request),
#: then half: the shadow's p99 comes from other, fewer requests than production's.
SAMPLINGS = (1.0, 0.5)
BASE_LATENCY_MS = 20.0
ERROR_RATE = 0.003
MARGINS = Margins()
START = datetime(2026, 11, 28, tzinfo=timezone.utc)
SECTION_START = "<!-- verdict-simulation:start -->"
SECTION_END = "<!-- verdict-simulation:end -->"
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, kw_only=True)
class RunOutcome:
    """Each judge's verdict at every checkpoint of one simulated day."""

    paired: tuple[Verdict, ...]
    kayenta: tuple[str, ...]
    unpaired: tuple[str, ...]


def _percentile_per_period(
    latencies: np.ndarray, period_of: np.ndarray, percentile: float, periods: int = PERIODS
) -> np.ndarray:
    """Each period's percentile (numpy's default linear interpolation), vectorized; NaN without requests."""
    counts = np.bincount(period_of, minlength=periods)
    ordered = latencies[np.lexsort((latencies, period_of))]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    last = starts + np.maximum(counts - 1, 0)
    position = starts + percentile / 100 * np.maximum(counts - 1, 0)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, last)
    valid = counts > 0
    result = np.full(periods, np.nan)
    fraction = position[valid] - below[valid]
    result[valid] = ordered[below[valid]] * (1 - fraction) + ordered[above[valid]] * fraction
    return result


def _microseconds(value: float) -> float | None:
    return None if math.isnan(value) else float(value) * 1000


def simulate_day(
    ratio: float,
    rng: np.random.Generator,
    *,
    sampling: float = 1.0,
    all_percentiles: bool = False,
    periods: int = PERIODS,
) -> PeriodData:
    """One day (or ``periods`` 5-minute periods, the load cycling daily) for a shadow ``ratio`` times as slow.

    p50 and p90 only with ``all_percentiles``: the verdict shows them but decides on p99.
    """
    phase = 2 * np.pi * np.arange(periods) / PERIODS
    requests = rng.poisson(600 * np.exp(0.5 * np.sin(phase)))
    period_of = np.repeat(np.arange(periods), requests)
    difficulty = rng.lognormal(0.0, 0.6, period_of.size)
    shared = 0.15 * np.sin(phase + 1.0) + 0.12 * rng.standard_t(3, periods)
    sampled = rng.random(period_of.size) < sampling
    variants = []
    for share, factor in ((np.ones(period_of.size, dtype=bool), 1.0), (sampled, ratio)):
        hiccup = np.where(rng.random(periods) < 0.02, rng.uniform(0.3, 1.0, periods), 0.0)
        own = rng.normal(0.0, 0.04, periods) + hiccup
        served = period_of[share]
        jitter = rng.lognormal(0.0, 0.15, served.size)
        latencies = BASE_LATENCY_MS * factor * difficulty[share] * jitter * np.exp(shared + own)[served]
        counts = np.bincount(served, minlength=periods)
        errors = rng.binomial(counts, ERROR_RATE)
        wanted = (99, 50, 90) if all_percentiles else (99,)
        values = [_percentile_per_period(latencies, served, percentile, periods) for percentile in wanted]
        variants.append(
            [
                VariantPeriod(invocations=0, errors_5xx=0, latency_p99_us=None)
                if counts[index] == 0
                else VariantPeriod(
                    invocations=int(counts[index]),
                    errors_5xx=int(errors[index]),
                    latency_p99_us=_microseconds(values[0][index]),
                    latency_p50_us=_microseconds(values[1][index]) if all_percentiles else None,
                    latency_p90_us=_microseconds(values[2][index]) if all_percentiles else None,
                )
                for index in range(periods)
            ]
        )
    periods = tuple(
        Period(start=START + timedelta(minutes=5 * index), production=production, shadow=shadow)
        for index, (production, shadow) in enumerate(zip(*variants, strict=True))
    )
    return PeriodData(experiment="simulated", period_seconds=300, periods=periods)


def _kayenta(data: PeriodData) -> str:
    def series(role: str, value: str) -> list[float]:
        result = []
        for period in data.periods:
            variant: VariantPeriod = getattr(period, role)
            if not variant.invocations:
                result.append(math.nan)
            elif value == "latency":
                result.append(math.nan if variant.latency_p99_us is None else variant.latency_p99_us)
            else:
                result.append(variant.errors_5xx / variant.invocations)
        return result

    return kayenta_judge(
        [
            KayentaMetric(
                name="latency_p99",
                baseline=series("production", "latency"),
                canary=series("shadow", "latency"),
                allowed_increase=MARGINS.latency_ratio,
            ),
            KayentaMetric(
                name="error_rate_5xx", baseline=series("production", "errors"), canary=series("shadow", "errors")
            ),
        ]
    )


def _unpaired(data: PeriodData) -> str:
    """The paired verdict's latency rule without the pairing: a two-sample interval of log p99."""
    production = np.log([p.production.latency_p99_us for p in data.periods if p.production.latency_p99_us])
    shadow = np.log([p.shadow.latency_p99_us for p in data.periods if p.shadow.latency_p99_us])
    if min(production.size, shadow.size) < MARGINS.min_periods:
        return "not enough data"
    _estimate, lower, upper = shift_interval(shadow, production, MARGINS.confidence)
    margin = math.log(MARGINS.latency_ratio)
    return "hold" if lower > margin else "promote" if upper <= margin else "not enough data"


def run_once(ratio: float, sampling: float, seed: Sequence[int]) -> RunOutcome:
    """Simulate a day and judge its first n periods at every checkpoint, with every judge."""
    data = simulate_day(ratio, np.random.default_rng(list(seed)), sampling=sampling)
    paired, kayenta, unpaired = [], [], []
    for count in CHECKPOINTS:
        head = PeriodData(experiment=data.experiment, period_seconds=300, periods=data.periods[:count])
        paired.append(judge(head, MARGINS).verdict)
        kayenta.append(_kayenta(head))
        unpaired.append(_unpaired(head))
    return RunOutcome(paired=tuple(paired), kayenta=tuple(kayenta), unpaired=tuple(unpaired))


def _seeds(seed: int, ratio: float, sampling: float, runs: int) -> list[list[int]]:
    # One independent stream per run, the same whatever the number of workers.
    children = np.random.SeedSequence([seed, int(ratio * 1000), int(sampling * 100)]).spawn(runs)
    return [child.generate_state(4).tolist() for child in children]


@dataclass(frozen=True, kw_only=True)
class ScenarioResult:
    ratio: float
    sampling: float
    outcomes: tuple[RunOutcome, ...]

    def rate(self, judge_name: str, verdict: str, count: int) -> float:
        column = CHECKPOINTS.index(count)
        values = [getattr(outcome, judge_name)[column] for outcome in self.outcomes]
        return sum(str(value) == verdict for value in values) / len(values)

    def periods_to(self, judge_name: str, verdict: str) -> int | None:
        """Fewest checkpoint periods at which at least DETECTION_GOAL of the runs give ``verdict``."""
        for count in CHECKPOINTS:
            if self.rate(judge_name, verdict, count) >= DETECTION_GOAL:
                return count
        return None

    def ever(self, judge_name: str, verdict: str) -> float:
        """Share of runs giving ``verdict`` at any checkpoint: a judge re-run every hour or so."""
        hits = [any(str(value) == verdict for value in getattr(outcome, judge_name)) for outcome in self.outcomes]
        return sum(hits) / len(hits)

    def median_first_decision(self) -> float | None:
        """Median periods until the paired verdict first promotes or holds (runs never deciding: inf)."""
        firsts = []
        for outcome in self.outcomes:
            decided = [count for count, verdict in zip(CHECKPOINTS, outcome.paired, strict=True)
                       if verdict is not Verdict.NOT_ENOUGH_DATA]  # fmt: skip
            firsts.append(decided[0] if decided else math.inf)
        median = float(np.median(firsts))
        return None if math.isinf(median) else median


def run_scenarios(
    run: Callable[[float, float, Sequence[int]], Any], scenarios: Sequence[float], *, runs: int, seed: int, workers: int
) -> Iterator[tuple[float, float, tuple[Any, ...]]]:
    """``(ratio, sampling, outcomes)`` of ``runs`` seeded calls of ``run`` for every sampling and scenario."""
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for sampling in SAMPLINGS:
            for ratio in scenarios:
                seeds = _seeds(seed, ratio, sampling, runs)
                chunk = max(1, runs // (4 * workers))
                outcomes = tuple(pool.map(run, [ratio] * runs, [sampling] * runs, seeds, chunksize=chunk))
                print(f"  sampling {sampling:.0%}, shadow x{ratio:g}: {runs} runs done", file=sys.stderr)
                yield ratio, sampling, outcomes


def simulate(runs: int, seed: int, workers: int) -> list[ScenarioResult]:
    """Every sampling and scenario, ``runs`` days each."""
    return [
        ScenarioResult(ratio=ratio, sampling=sampling, outcomes=outcomes)
        for ratio, sampling, outcomes in run_scenarios(run_once, SCENARIOS, runs=runs, seed=seed, workers=workers)
    ]


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _periods(value: float | None) -> str:
    return "not within a day" if value is None else f"{value:g} ({value * 5 / 60:g} h)"


def _table(results: list[ScenarioResult]) -> list[str]:
    lines = [
        "| Shadow p99 vs production | Judge | " + " | ".join(f"hold at {n} periods" for n in REPORTED_AT) + " | "
        f"promote at {PERIODS} | periods to hold in {DETECTION_GOAL:.0%} of days |",
        "|---|---|" + "---|" * (len(REPORTED_AT) + 2),
    ]
    for result in results:
        for name, label, hold, promote in (
            ("paired", "paired (this project)", "hold", "promote"),
            ("kayenta", "Kayenta-style", "fail", "pass"),
            ("unpaired", "same rule, unpaired", "hold", "promote"),
        ):
            cells = [_percent(result.rate(name, hold, n)) for n in REPORTED_AT]
            need = "-" if result.ratio == 1.0 else _periods(result.periods_to(name, hold))
            promoted = _percent(result.rate(name, promote, PERIODS))
            lines.append(f"| x{result.ratio:g} | {label} | " + " | ".join(cells) + f" | {promoted} | {need} |")
    return lines


def _summary(results: list[ScenarioResult]) -> list[str]:
    by_ratio = {result.ratio: result for result in results}
    equal, target = by_ratio[1.0], by_ratio[1.3]
    paired_need, kayenta_need = target.periods_to("paired", "hold"), target.periods_to("kayenta", "fail")
    ratio_text = (
        "n/a (one never reaches it within a day)"
        if paired_need is None or kayenta_need is None
        else f"**{paired_need / kayenta_need:.2f}** (paired {paired_need} / Kayenta-style {kayenta_need})"
    )
    worst = {name: max(equal.rate(name, verdict, n) for n in CHECKPOINTS) for name, verdict in
             (("paired", "hold"), ("kayenta", "fail"))}  # fmt: skip
    met = worst["paired"] <= 0.05 and paired_need is not None and kayenta_need is not None
    met = met and paired_need <= 0.5 * kayenta_need
    return [
        f"- Goal (false holds at most 5%, a 30% regression held in at most half the Kayenta-style periods): "
        f"**{'met' if met else 'not met'}**.",
        f"- False holds on equal models: paired {_percent(worst['paired'])} at worst over the checkpoints "
        f"({_percent(equal.ever('paired', 'hold'))} of days held at some checkpoint, as when re-run every hour "
        f"or so); Kayenta-style {_percent(worst['kayenta'])} ({_percent(equal.ever('kayenta', 'fail'))}).",
        f"- Periods to hold a 30% slower shadow in {DETECTION_GOAL:.0%} of days, paired / Kayenta-style: "
        f"{ratio_text}; goal at most 0.5.",
        "- Equal models, periods until the paired verdict first decides (median): "
        f"{_periods(equal.median_first_decision())}; the Kayenta-style judge always answers.",
    ]


def render(results: list[ScenarioResult], *, command: str, runs: int, seed: int) -> str:
    """The BENCHMARKS.md section, between its markers."""
    lines = [
        SECTION_START,
        "## 6. Verdict: paired intervals against a Kayenta-style unpaired judge (simulation)",
        "",
        f"Regenerate with `{command}` ({runs} simulated days per scenario; about 15 minutes on 2 shared "
        "CPUs). The model is in `benchmarks/verdict_simulation.py`'s docstring: a day of 5-minute periods in "
        "which both variants share each period's load, request mix and a heavy-tailed latency shock, plus "
        "independent per-variant noise, occasional hiccups and per-request jitter. Paired: "
        "`shadow_test_core.verdict.judge.judge` with the defaults "
        f"(p99 ratio margin x{MARGINS.latency_ratio:g}, 5XX +{MARGINS.error_delta:g} pp, "
        f"{MARGINS.confidence:.0%} intervals, at least {MARGINS.min_periods} periods). Kayenta-style: "
        "`benchmarks/kayenta_judge.py`, NetflixACAJudge as published (NaN and IQR outlier removal, "
        "Mann-Whitney at 98% with the 0.25 x |estimate| tolerance band, effect-size gate "
        f"`allowedIncrease` x{MARGINS.latency_ratio:g} on latency and 1.0 on the 5XX rate, weighted "
        "score, pass 95 / marginal 75) on the two p99 series and the two 5XX-rate series. "
        "Same rule, unpaired: the paired verdict's latency rule (95% interval against x1.2) on the same "
        "data taken as two samples (two-sample Hodges-Lehmann interval of log p99), to isolate what pairing "
        "buys. Every judge sees the first n periods of the same simulated days; checkpoints "
        f"{', '.join(str(n) for n in CHECKPOINTS)}.",
    ]
    for sampling in SAMPLINGS:
        subset = [result for result in results if result.sampling == sampling]
        title = (
            "the construct's default: the shadow serves a copy of every request"
            if sampling == 1.0
            else "the shadow serves a random half of the requests, so its p99 rests on other, fewer requests"
        )
        lines += ["", f"**Sampling {sampling:.0%}** ({title}):", "", *_table(subset), "", *_summary(subset)]
    lines += [
        "",
        "Reading it: pairing works as intended. With the same rule, the paired judge needs a quarter or so "
        "of the periods the unpaired one needs ('same rule, unpaired' rows), because the shared load, mix and "
        "shocks cancel in each period's ratio. The Kayenta-style judge keeps up with it for another reason: "
        "it answers a weaker question. It holds when the shift is significantly above zero and the point "
        "estimate of the mean ratio reaches x1.2, so it also holds a shadow that is exactly at the margin "
        "(the x1.2 rows) in a large share of days, and it never says it does not know yet. The paired "
        "verdict holds only when its whole interval lies beyond x1.2, so a shadow at the margin is held in "
        "at most about 2.5% of days, and at x1.3 it must resolve a gap of x1.3 / x1.2 = 8%, not 30%. With a "
        "50% sample the shadow's p99 comes from half the requests and reads a few percent low, which "
        "narrows that gap further. Reaching half of Kayenta's periods would need a weaker rule (a "
        "point-estimate gate, or a test against no difference), which would bring back its holds at the "
        "margin; the project keeps the interval rule.",
        SECTION_END,
    ]
    return "\n".join(lines) + "\n"


def replace_section(document: str, section: str, markers: tuple[str, str] = (SECTION_START, SECTION_END)) -> str:
    """``document`` with the section between ``markers`` (the daily one by default) replaced by ``section``, or appended."""
    start, end = markers
    if start in document and end in document:
        before, rest = document.split(start, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        return before + section + ("\n" + after if after else "")
    return document.rstrip("\n") + "\n\n" + section


def keep_section(path: Path, rewritten: str) -> str:
    """``rewritten`` (the other benchmarks' report) with the sections ``path`` already holds kept (daily, looks)."""
    if not path.exists():
        return rewritten
    from benchmarks import verdict_looks  # it builds on this module

    old = path.read_text(encoding="utf-8")
    for start, end in ((SECTION_START, SECTION_END), (verdict_looks.SECTION_START, verdict_looks.SECTION_END)):
        if start in old and end in old:
            section = start + old.split(start, 1)[1].split(end, 1)[0] + end + "\n"
            rewritten = replace_section(rewritten, section, (start, end))
    return rewritten


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.verdict_simulation", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--runs", type=int, default=100, help="simulated days per scenario")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print the section only")
    parser.add_argument(
        "--looks",
        action="store_true",
        help="run the repeated-looks section instead: 7-day schedules judged every hour, sequential vs uncorrected",
    )
    parser.add_argument(
        "--example",
        type=Path,
        metavar="FILE",
        help="only write the README's example instead: 8 hours of a shadow 8%% slower, as 'report --json' would",
    )
    arguments = parser.parse_args(argv)
    if arguments.example is not None:
        day = simulate_day(1.08, np.random.default_rng(arguments.seed), sampling=0.5, all_percentiles=True)
        write_period_data(
            PeriodData(experiment="churn-shadow", period_seconds=300, periods=day.periods[96:192]), arguments.example
        )
        return 0
    command = f"python -m benchmarks.verdict_simulation --runs {arguments.runs} --seed {arguments.seed}"
    if arguments.looks:
        from benchmarks import verdict_looks  # it builds on this module

        started = time.monotonic()
        looked = verdict_looks.simulate_looks(arguments.runs, arguments.seed, arguments.workers)
        minutes = (time.monotonic() - started) / 60
        section = verdict_looks.render(
            looked, command=f"{command} --looks", runs=arguments.runs, seed=arguments.seed, minutes=minutes
        )
        markers = (verdict_looks.SECTION_START, verdict_looks.SECTION_END)
    else:
        results = simulate(arguments.runs, arguments.seed, arguments.workers)
        section = render(results, command=command, runs=arguments.runs, seed=arguments.seed)
        markers = (SECTION_START, SECTION_END)
    print(section)
    if not arguments.no_write:
        existing = arguments.output.read_text(encoding="utf-8") if arguments.output.exists() else ""
        arguments.output.write_text(replace_section(existing, section, markers), encoding="utf-8")
        print(f"wrote {arguments.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
