"""The verdict benchmark's plumbing: its Kayenta-style reference judge and its BENCHMARKS.md section."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.kayenta_judge import KayentaMetric, classify_metric, kayenta_judge
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
