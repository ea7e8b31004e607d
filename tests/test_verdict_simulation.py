"""The verdict benchmark's plumbing: its Kayenta-style reference judge and its BENCHMARKS.md section."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks import verdict_looks
from benchmarks.kayenta_judge import KayentaMetric, classify_metric, kayenta_judge
from benchmarks.verdict_looks import JudgeOutcome, LooksResult, ScheduleOutcome, run_schedule
from benchmarks.verdict_simulation import SECTION_END, SECTION_START, keep_section, replace_section, simulate_day

SECTION = f"{SECTION_START}\n## 6. Verdict\nnew\n{SECTION_END}\n"


def test_kayenta_style_judge_fails_a_clearly_slower_canary_and_passes_an_equal_one() -> None:
    rng = np.random.default_rng(5)
    baseline = list(rng.lognormal(4.0, 0.1, 60))
    slower = KayentaMetric(name="p99", baseline=baseline, canary=[v * 1.5 for v in baseline], allowed_increase=1.2)
    same = KayentaMetric(name="p99", baseline=baseline, canary=list(rng.lognormal(4.0, 0.1, 60)))
    assert classify_metric(slower) == "High" and classify_metric(same) == "Pass"
    assert kayenta_judge([slower, same]) == "fail" and kayenta_judge([same, same]) == "pass"
    assert classify_metric(KayentaMetric(name="x", baseline=[np.nan], canary=[1.0])) == "Nodata"


def test_simulated_days_are_seeded_and_pair_every_period() -> None:
    first = simulate_day(1.3, np.random.default_rng(3), sampling=0.5, all_percentiles=True)
    assert first == simulate_day(1.3, np.random.default_rng(3), sampling=0.5, all_percentiles=True)
    assert len(first.periods) == 288
    assert all(p.production.invocations > p.shadow.invocations > 0 for p in first.periods)
    every = simulate_day(1.3, np.random.default_rng(3))
    assert all(p.production.invocations == p.shadow.invocations for p in every.periods)
    assert all(p.shadow.latency_p50_us < p.shadow.latency_p90_us < p.shadow.latency_p99_us for p in first.periods)


def test_the_section_is_appended_then_replaced_in_place() -> None:
    appended = replace_section("# Benchmarks\n\n## 5. Suite\n", SECTION)
    assert appended == f"# Benchmarks\n\n## 5. Suite\n\n{SECTION}"
    replaced = replace_section(appended + "## Later\n", SECTION.replace("new", "newer"))
    assert replaced.count(SECTION_START) == 1 and "newer" in replaced and replaced.endswith("## Later\n")


def test_rewriting_the_other_benchmarks_keeps_the_section(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(f"# Old\n\n{SECTION}")
    assert keep_section(path, "# Rewritten\n") == f"# Rewritten\n\n{SECTION}"
    assert keep_section(tmp_path / "missing.md", "# Rewritten\n") == "# Rewritten\n"


def test_rewriting_the_other_benchmarks_keeps_the_looks_section_too(tmp_path: Path) -> None:
    looks = f"{verdict_looks.SECTION_START}\n## 7. Looks\nkept\n{verdict_looks.SECTION_END}\n"
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(f"# Old\n\n{SECTION}\n{looks}")
    kept = keep_section(path, "# Rewritten\n")
    assert SECTION in kept and looks in kept and kept.startswith("# Rewritten\n")
    replaced = replace_section(
        kept, looks.replace("kept", "new"), (verdict_looks.SECTION_START, verdict_looks.SECTION_END)
    )
    assert "new" in replaced and "kept" not in replaced and SECTION in replaced


def test_a_simulated_schedule_spans_days_with_the_daily_load_cycle() -> None:
    week = simulate_day(1.0, np.random.default_rng(2), periods=3 * 288)
    assert len(week.periods) == 3 * 288 and (week.periods[-1].start - week.periods[0].start).days == 2
    assert week.periods[:288] != week.periods[288:576]
    day = simulate_day(1.0, np.random.default_rng(2))
    assert len(day.periods) == 288


def test_a_clear_regression_is_stopped_at_the_first_look_by_both_verdicts() -> None:
    outcome = run_schedule(2.0, 1.0, [1, 2, 3, 4])
    assert outcome.sequential.held_at == outcome.uncorrected.held_at == 1
    assert not outcome.sequential.promoted_ever and not outcome.uncorrected.promoted_last


def _result(ratio: float, sampling: float, held: list[int | None], promoted: list[bool]) -> LooksResult:
    outcomes = tuple(
        ScheduleOutcome(
            sequential=JudgeOutcome(held_at=look, promoted_ever=ever, promoted_last=ever),
            uncorrected=JudgeOutcome(held_at=1, promoted_ever=True, promoted_last=False),
        )
        for look, ever in zip(held, promoted, strict=True)
    )
    return LooksResult(ratio=ratio, sampling=sampling, outcomes=outcomes)


def test_hours_to_stop_is_the_look_by_which_eighty_percent_were_held() -> None:
    result = _result(1.3, 1.0, [1, 2, 3, 4, 5, 6, 7, 8, 9, None], [False] * 10)
    assert result.hours_to_stop("sequential") == 8 and result.stopped("sequential") == 0.9
    assert _result(1.3, 1.0, [1, None, None, None, None], [False] * 5).hours_to_stop("sequential") is None


def test_the_looks_section_says_which_goal_was_missed() -> None:
    results = [
        _result(ratio, sampling, [5] * 10 if ratio == 1.3 else [None] * 10, [ratio == 1.2 and sampling == 0.5] * 10)
        for sampling in verdict_looks.SAMPLINGS
        for ratio in verdict_looks.SCENARIOS
    ]
    section = verdict_looks.render(results, command="python -m x", runs=10, seed=3, minutes=2.0)
    assert section.startswith(verdict_looks.SECTION_START) and section.endswith(verdict_looks.SECTION_END + "\n")
    goals = [line for line in section.splitlines() if line.startswith("- Sampling")]
    assert "x1.3 80% stopped in 5 h (**missed**)" in goals[0] and "promoted 0.0% at any look (met)" in goals[0]
    assert "promoted 100.0% at any look (**missed**)" in goals[1] and "5 h (reported)" in goals[1]
