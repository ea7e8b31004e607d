"""README's comparison with the native resource, measured: what cfn-lint catches on an L1 template
with one bad value, and that ShadowTestExperiment refuses every one of them at synth, naming the prop."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from aws_cdk import App, Stack

from benchmarks.l1_cfn_lint import CASES, Case, baseline_is_clean, lint_rules
from constructs_pkg import ModelVariant, Schedule, ShadowTestExperiment, ValidationError

#: What README.md states, per case: the cfn-lint rules that report it ([] = not caught).
README_TABLE = {
    "name not matching the pattern": ["E3031"],
    "51 tags": ["E3032"],
    "description of 1,025 characters": ["E3033"],
    "sampling 101%": ["E3034"],
    "unknown instance type": ["E3642"],
    "sampling 0%": [],
    "instance count 0": [],
    "59-day schedule": [],
}
_START = datetime(2030, 1, 1, tzinfo=timezone.utc)
CONSTRUCT_PROPS: dict[str, dict[str, Any]] = {
    "name not matching the pattern": {"experiment_name": "churn_shadow!"},
    "51 tags": {"tags": {f"k{i}": "v" for i in range(51)}},
    "description of 1,025 characters": {"description": "d" * 1025},
    "sampling 101%": {"sampling_percentage": 101},
    "unknown instance type": {
        "shadow_variant": ModelVariant(variant_name="shadow", model_name="b", instance_type="ml.m5.huge")
    },
    "sampling 0%": {"sampling_percentage": 0},
    "instance count 0": {
        "shadow_variant": ModelVariant(
            variant_name="shadow", model_name="b", instance_type="ml.m5.large", instance_count=0
        )
    },
    "59-day schedule": {"schedule": Schedule(start_time=_START, end_time=_START + timedelta(days=59))},
}


@pytest.mark.slow
def test_the_valid_l1_template_lints_clean() -> None:
    assert baseline_is_clean()


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.what)
def test_cfn_lint_catches_on_the_l1_exactly_what_readme_says(case: Case) -> None:
    assert lint_rules(case) == README_TABLE[case.what]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.what)
def test_the_construct_refuses_each_bad_value_at_synth_naming_the_prop(case: Case) -> None:
    props: dict[str, Any] = {
        "endpoint_name": "churn-endpoint",
        "production_variant": ModelVariant(variant_name="prod", model_name="a", instance_type="ml.m5.large"),
        "shadow_variant": ModelVariant(variant_name="shadow", model_name="b", instance_type="ml.m5.large"),
        **CONSTRUCT_PROPS[case.what],
    }
    stack = Stack(App(analytics_reporting=False), "Comparison")
    with pytest.raises(ValidationError) as raised:
        ShadowTestExperiment(stack, "Shadow", **props)
    assert f"{case.prop}" in str(raised.value)


def test_readme_table_matches_the_measurement(root) -> None:
    readme = (root / "README.md").read_text()
    for case in CASES:
        rules = ", ".join(README_TABLE[case.what]) or "not caught"
        assert f"| {case.what} | {rules} |" in readme, case.what
